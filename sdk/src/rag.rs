//! Store and retrieve documents (baselines, notes, verdicts) by category.

use crate::__bindings::securityclaw::skill::rag as wit;
use crate::Result;

pub use wit::{Document, Hit, Retrieval, RetrievalPath};

/// Stores documents; returns their ids.
pub fn store(documents: &[Document]) -> Result<Vec<String>> {
    wit::store(documents)
}

/// The `k` documents most similar to `query`, optionally in one category.
pub fn retrieve(query: &str, k: u32, category: Option<&str>) -> Result<Retrieval> {
    wit::retrieve(query, k, category)
}
