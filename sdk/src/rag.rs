//! Store and retrieve documents (baselines, notes, verdicts) by category.

use crate::{Result, host};

pub use crate::__bindings::securityclaw::skill::rag::{Document, Hit, Retrieval, RetrievalPath};

/// Stores documents; returns their ids.
pub fn store(documents: &[Document]) -> Result<Vec<String>> {
    host::with(|h| h.rag_store(documents))
}

/// The `k` documents (1 to 100) most similar to `query`, optionally in one
/// category.
pub fn retrieve(query: &str, k: u32, category: Option<&str>) -> Result<Retrieval> {
    host::with(|h| h.rag_retrieve(query, k, category))
}
