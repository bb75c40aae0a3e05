//! The `llm` capability: chat and embeddings on the configured model, for
//! skills granted `llm: true`.

use std::sync::Arc;

use super::{CallContext, CapabilityError};
use crate::runtime::bindings::securityclaw::skill::llm as wit;

pub use wit::{ChatOptions, ChatResponse, Message, Role};

/// A model provider.
#[async_trait::async_trait]
pub trait LlmBackend: Send + Sync {
    /// Answers a conversation.
    async fn chat(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError>;
    /// Embeds texts, one vector each.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError>;
}

/// Per-call state of `llm`.
pub struct LlmState {
    call: Arc<CallContext>,
    backend: Arc<dyn LlmBackend>,
}

impl LlmState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, backend: Arc<dyn LlmBackend>) -> Self {
        Self { call, backend }
    }
}

impl wit::Host for LlmState {
    async fn chat(
        &mut self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError> {
        self.call.charge()?;
        self.call.grants.llm()?;
        if messages.is_empty() {
            return Err(CapabilityError::InvalidInput(
                "a chat needs at least one message".to_owned(),
            ));
        }
        self.backend.chat(messages, options).await
    }

    async fn embed(&mut self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        self.call.charge()?;
        self.call.grants.llm()?;
        self.backend.embed(texts).await
    }
}
