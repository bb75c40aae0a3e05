//! The `rag` capability: store and retrieve documents by category, limited
//! to the categories in `grants.rag.categories`.

use std::sync::Arc;

use super::{CallContext, CapabilityError};
use crate::runtime::bindings::securityclaw::skill::rag as wit;

pub use wit::{Document, Retrieval};

/// A retrieval store.
#[async_trait::async_trait]
pub trait RagBackend: Send + Sync {
    /// Stores documents written by `skill_id`; returns their ids.
    async fn store(
        &self,
        skill_id: &str,
        documents: Vec<Document>,
    ) -> Result<Vec<String>, CapabilityError>;
    /// The categories that hold documents.
    async fn categories(&self) -> Result<Vec<String>, CapabilityError>;
    /// Retrieves the `k` best matches among documents in `categories` (never
    /// empty: the requested category, or every category the skill may use).
    async fn retrieve(
        &self,
        query: &str,
        k: u32,
        categories: &[String],
    ) -> Result<Retrieval, CapabilityError>;
}

/// Per-call state of `rag`.
pub struct RagState {
    call: Arc<CallContext>,
    backend: Arc<dyn RagBackend>,
}

impl RagState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, backend: Arc<dyn RagBackend>) -> Self {
        Self { call, backend }
    }
}

impl wit::Host for RagState {
    async fn store(&mut self, documents: Vec<Document>) -> Result<Vec<String>, CapabilityError> {
        self.call.charge()?;
        for doc in &documents {
            self.call.grants.rag_category(&doc.category)?;
        }
        self.backend.store(&self.call.skill_id, documents).await
    }

    async fn retrieve(
        &mut self,
        query: String,
        k: u32,
        category: Option<String>,
    ) -> Result<Retrieval, CapabilityError> {
        self.call.charge()?;
        let categories = match category {
            Some(category) => {
                self.call.grants.rag_category(&category)?;
                vec![category]
            }
            None => {
                let granted = self.call.grants.grants().rag.categories.clone();
                if granted.is_empty() {
                    // Retrieval across categories still needs a grant; this
                    // produces the refusal that says how to add one.
                    self.call.grants.rag_category("<category>")?;
                }
                granted
            }
        };
        if k == 0 || k > 100 {
            return Err(CapabilityError::InvalidInput(
                "k must be 1..=100".to_owned(),
            ));
        }
        self.backend.retrieve(&query, k, &categories).await
    }
}
