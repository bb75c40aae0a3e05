//! The model behind the `llm` capability, in plain Rust types: messages,
//! options, answers, the backend trait every provider implements, and
//! which provider was chosen and why.

use serde::Serialize;

use crate::error::CapabilityError;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions from the skill.
    System,
    /// The question and the data.
    User,
    /// An earlier answer of the model.
    Assistant,
}

impl Role {
    /// The name model servers use: `system`, `user`, `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// How to answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatOptions {
    /// Sampling temperature; the model's default when absent.
    pub temperature: Option<f32>,
    /// Upper bound on the answer's length in tokens.
    pub max_tokens: Option<u32>,
    /// Ask for a single JSON value as the answer.
    pub json_mode: bool,
    /// In JSON mode, a JSON Schema (as text) the answer must match.
    pub json_schema: Option<String>,
}

/// A model's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatResponse {
    /// The answer (in JSON mode: one JSON value as text).
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens in the answer.
    pub completion_tokens: u32,
    /// Wall time of the call in milliseconds.
    pub latency_ms: u32,
}

/// A model provider.
#[async_trait::async_trait]
pub trait LlmBackend: Send + Sync {
    /// Answers a conversation.
    async fn chat(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError>;
    /// Answers a conversation like [`chat`](Self::chat), sending each piece
    /// of the answer to `tokens` as the model produces it (the chat UI
    /// listens). A backend that cannot stream sends the whole answer once.
    async fn chat_stream(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
        tokens: tokio::sync::mpsc::Sender<String>,
    ) -> Result<ChatResponse, CapabilityError> {
        let answer = self.chat(messages, options).await?;
        // A listener that left does not make the answer wrong.
        let _ = tokens.send(answer.content.clone()).await;
        Ok(answer)
    }
    /// Embeds texts, one vector each.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError>;
}

/// Which provider serves `llm`, once `auto` is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedLlm {
    /// Ollama's native API.
    Ollama,
    /// An OpenAI-compatible server.
    Openai,
    /// The in-process models.
    Embedded,
    /// No model: calls answer `not-configured`.
    None,
}

impl ResolvedLlm {
    /// The name shown: `ollama`, `openai`, `embedded`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ollama => "ollama",
            Self::Openai => "openai",
            Self::Embedded => "embedded",
            Self::None => "none",
        }
    }

    /// Is there a model at all?
    pub fn is_configured(self) -> bool {
        self != Self::None
    }
}

/// Which model serves `llm`, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmChoice {
    /// The provider.
    pub provider: ResolvedLlm,
    /// The chat model, when there is one.
    pub model: Option<String>,
    /// Why this provider.
    pub reason: String,
}
