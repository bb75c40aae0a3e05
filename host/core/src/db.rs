//! The telemetry store behind the `db` capability, in plain Rust types:
//! the search/count/aggregate/index trait every store implements, and the
//! separate bulk-load trait `sc-host ingest` uses.

use serde::Serialize;
use serde_json::Value;

use crate::error::CapabilityError;

/// An index with its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexInfo {
    /// Index name.
    pub name: String,
    /// Documents in it.
    pub documents: u64,
}

/// What a bulk request did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BulkOutcome {
    /// Documents stored.
    pub indexed: u32,
    /// Documents refused.
    pub failed: u32,
    /// The first few refusals.
    pub errors: Vec<String>,
}

/// Documents to index: (optional id, JSON body) pairs.
pub type Documents = Vec<(Option<String>, Value)>;

/// A telemetry store speaking OpenSearch query DSL. Arguments arrive checked
/// against the skill's grants and parsed.
#[async_trait::async_trait]
pub trait DbBackend: Send + Sync {
    /// Runs a search body; answers the OpenSearch response body.
    async fn search(&self, index_pattern: &str, body: Value) -> Result<Value, CapabilityError>;
    /// Counts documents matching a query clause (all when none).
    async fn count(
        &self,
        index_pattern: &str,
        query: Option<Value>,
    ) -> Result<u64, CapabilityError>;
    /// Indexes documents into one index, durably and searchably.
    async fn bulk_index(
        &self,
        index: &str,
        documents: Documents,
    ) -> Result<BulkOutcome, CapabilityError>;
    /// Lists indices matching a pattern.
    async fn list_indices(&self, index_pattern: &str) -> Result<Vec<IndexInfo>, CapabilityError>;
    /// The `_mapping` response for a pattern.
    async fn field_mappings(&self, index_pattern: &str) -> Result<Value, CapabilityError>;
    /// Whether the store answers at all (a listing within its own time
    /// limits); the health line of `/api/status` and `/readyz`.
    async fn ping(&self) -> Result<(), CapabilityError> {
        self.list_indices("*").await.map(|_| ())
    }
}

/// Loading a large volume of events (`sc-host ingest`), apart from what
/// skills do: the embedded store stages batches uncommitted (each commit
/// costs merges later) and commits every so often; a cluster indexes each
/// batch as [`DbBackend::bulk_index`] does.
#[async_trait::async_trait]
pub trait BulkLoad: Send + Sync {
    /// Indexes documents for a bulk load; unseen by searches, and lost if
    /// the process dies, until [`BulkLoad::commit`].
    async fn stage(
        &self,
        index: &str,
        documents: Documents,
    ) -> Result<BulkOutcome, CapabilityError>;
    /// Makes what [`BulkLoad::stage`] wrote durable and searchable.
    async fn commit(&self) -> Result<(), CapabilityError>;
    /// Commits what is staged and finishes what the load left running (the
    /// embedded store's segment merges), so the process can exit leaving
    /// the store compact.
    async fn finish(&self) -> Result<(), CapabilityError>;
}
