//! Retrieval behind the `rag` capability, in plain Rust types: documents
//! with provenance, hits, the store trait, and the rules every store shares
//! (stable ids, document checks, expiry times).

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::CapabilityError;
use crate::llm::LlmBackend;

/// A document to store. Its id is derived from (category, entity, window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// Category it belongs to, e.g. `network_baseline`.
    pub category: String,
    /// What it is about: a host, a user, a subnet…
    pub entity: String,
    /// The time window it covers; none for timeless documents.
    pub window: Option<String>,
    /// The text that is embedded and returned.
    pub text: String,
    /// Where it came from (index, query, feed).
    pub source: String,
    /// Extra provenance as a JSON object (text).
    pub metadata: String,
    /// When it stops being valid (RFC 3339); none for never.
    pub valid_until: Option<String>,
}

/// Which method answered a retrieval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetrievalPath {
    /// Embedding similarity.
    Vector,
    /// Lexical (BM25) search, used when no embedding model is available.
    Lexical,
}

/// One retrieved document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The stored id.
    pub id: String,
    /// Its category.
    pub category: String,
    /// Its entity.
    pub entity: String,
    /// Its text.
    pub text: String,
    /// Where it came from.
    pub source: String,
    /// Its provenance metadata as a JSON object (text).
    pub metadata: String,
    /// Similarity (cosine for vectors, BM25 for lexical).
    pub score: f32,
}

/// The answer to a retrieval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retrieval {
    /// Which method answered.
    pub path: RetrievalPath,
    /// Best first.
    pub hits: Vec<Hit>,
}

/// The most documents one retrieval returns (`k`).
pub const MAX_K: u32 = 100;

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
    /// empty: the requested category, or every category the skill may use)
    /// that are still valid now.
    async fn retrieve(
        &self,
        query: &str,
        k: u32,
        categories: &[String],
    ) -> Result<Retrieval, CapabilityError> {
        self.retrieve_as_of(query, k, categories, &now_utc()).await
    }
    /// [`RagBackend::retrieve`] as of `as_of` (the form of [`now_utc`]): a
    /// run replaying past telemetry sees the documents valid at its `now`,
    /// such as the baselines computed for that time.
    async fn retrieve_as_of(
        &self,
        query: &str,
        k: u32,
        categories: &[String],
        as_of: &str,
    ) -> Result<Retrieval, CapabilityError>;
}

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
    embedder: Option<&Arc<dyn LlmBackend>>,
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
