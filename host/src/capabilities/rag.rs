//! The `rag` capability: store and retrieve documents by category, limited
//! to the categories in `grants.rag.categories`.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{CallContext, CapabilityError};
use crate::runtime::bindings::securityclaw::skill::rag as wit;

pub use wit::{Document, Retrieval};

/// The stable id of a document: the same (category, entity, window) always
/// gets the same id, so a refreshed baseline replaces the old one.
pub fn document_id(category: &str, entity: &str, window: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    for part in [category, entity, window.unwrap_or("")] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Refuses documents every store would refuse: no entity, no text, or
/// metadata that is not a JSON object.
pub fn check_documents(documents: &[Document]) -> Result<(), CapabilityError> {
    for doc in documents {
        if doc.text.trim().is_empty() || doc.entity.trim().is_empty() {
            return Err(CapabilityError::InvalidInput(
                "a document needs an entity and some text".to_owned(),
            ));
        }
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&doc.metadata)
            .is_err()
        {
            return Err(CapabilityError::InvalidInput(
                "metadata must be a JSON object".to_owned(),
            ));
        }
        if let Some(t) = &doc.valid_until
            && chrono::DateTime::parse_from_rfc3339(t).is_err()
        {
            return Err(CapabilityError::InvalidInput(format!(
                "valid_until `{t}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
            )));
        }
    }
    Ok(())
}

/// `valid_until` in one form (UTC, whole seconds, RFC 3339), so stores can
/// compare it as text; none when absent or unreadable.
pub fn valid_until_utc(valid_until: Option<&str>) -> Option<String> {
    valid_until
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
}

/// The time now in the form of [`valid_until_utc`], for `stored_at` and
/// expiry checks.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Embeds texts with `embedder`, or answers `None` when no embedding model
/// is available (retrieval then takes the lexical path).
pub async fn embed_or_none(
    embedder: Option<&Arc<dyn super::llm::LlmBackend>>,
    texts: Vec<String>,
) -> Result<Option<Vec<Vec<f32>>>, CapabilityError> {
    let Some(embedder) = embedder else {
        return Ok(None);
    };
    match embedder.embed(texts).await {
        Ok(vectors) => Ok(Some(vectors)),
        Err(CapabilityError::NotConfigured(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

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
