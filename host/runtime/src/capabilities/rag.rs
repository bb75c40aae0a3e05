//! The `rag` capability: store and retrieve documents by category, limited
//! to the categories in `grants.rag.categories`.

use std::sync::Arc;

use sc_core::CapabilityError;
use sc_core::rag::{Document, MAX_K, RagBackend, RetrievalPath};

use super::CallContext;
use crate::bindings::securityclaw::skill::rag as wit;
use crate::error::CallError;

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
    async fn store(&mut self, documents: Vec<wit::Document>) -> Result<Vec<String>, CallError> {
        self.call.charge()?;
        for doc in &documents {
            self.call.grants.rag_category(&doc.category)?;
        }
        let documents = documents
            .into_iter()
            .map(|d| Document {
                category: d.category,
                entity: d.entity,
                window: d.window,
                text: d.text,
                source: d.source,
                metadata: d.metadata,
                valid_until: d.valid_until,
            })
            .collect();
        Ok(self.backend.store(&self.call.skill_id, documents).await?)
    }

    async fn retrieve(
        &mut self,
        query: String,
        k: u32,
        category: Option<String>,
    ) -> Result<wit::Retrieval, CallError> {
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
        if k == 0 || k > MAX_K {
            return Err(
                CapabilityError::InvalidInput(format!("k must be 1..={MAX_K}, not {k}")).into(),
            );
        }
        let found = self
            .backend
            .retrieve_as_of(&query, k, &categories, &self.call.now)
            .await?;
        Ok(wit::Retrieval {
            path: match found.path {
                RetrievalPath::Vector => wit::RetrievalPath::Vector,
                RetrievalPath::Lexical => wit::RetrievalPath::Lexical,
            },
            hits: found
                .hits
                .into_iter()
                .map(|h| wit::Hit {
                    id: h.id,
                    category: h.category,
                    entity: h.entity,
                    text: h.text,
                    source: h.source,
                    metadata: h.metadata,
                    score: h.score,
                })
                .collect(),
        })
    }
}
