//! The `db` capability: search, count, aggregate and index telemetry on the
//! configured store, limited to the index patterns in `grants.db`.

use std::sync::Arc;

use serde_json::Value;

use super::{CallContext, CapabilityError};
use crate::runtime::bindings::securityclaw::skill::db as wit;

/// An index with its size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexInfo {
    /// Index name.
    pub name: String,
    /// Documents in it.
    pub documents: u64,
}

/// What a bulk request did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BulkOutcome {
    /// Documents stored.
    pub indexed: u32,
    /// Documents refused.
    pub failed: u32,
    /// The first few refusals.
    pub errors: Vec<String>,
}

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
    /// Indexes documents as (id, body) pairs.
    async fn bulk_index(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, CapabilityError>;
    /// Indexes documents for a bulk load. The embedded store stages them
    /// uncommitted (unseen by searches, lost if the process dies) until
    /// [`DbBackend::commit_writes`], since each commit costs merges later;
    /// a cluster indexes them as [`DbBackend::bulk_index`] does.
    async fn bulk_load(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, CapabilityError> {
        self.bulk_index(index, documents).await
    }
    /// Makes what [`DbBackend::bulk_load`] wrote durable and searchable.
    async fn commit_writes(&self) -> Result<(), CapabilityError> {
        Ok(())
    }
    /// Commits what is staged and finishes what earlier writes left running
    /// (the embedded store's segment merges), so a process that wrote a lot
    /// can exit leaving the store compact. Clusters do this themselves.
    async fn finish_writes(&self) -> Result<(), CapabilityError> {
        Ok(())
    }
    /// Lists indices matching a pattern.
    async fn list_indices(&self, index_pattern: &str) -> Result<Vec<IndexInfo>, CapabilityError>;
    /// The `_mapping` response for a pattern.
    async fn field_mappings(&self, index_pattern: &str) -> Result<Value, CapabilityError>;
}

/// Per-call state of `db`.
pub struct DbState {
    call: Arc<CallContext>,
    backend: Arc<dyn DbBackend>,
}

impl DbState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, backend: Arc<dyn DbBackend>) -> Self {
        Self { call, backend }
    }

    fn read(&self, pattern: &str) -> Result<(), CapabilityError> {
        self.call.charge()?;
        self.call.grants.db_read(pattern)?;
        Ok(())
    }
}

fn parse_json(what: &str, text: &str) -> Result<Value, CapabilityError> {
    serde_json::from_str(text)
        .map_err(|err| CapabilityError::InvalidInput(format!("{what} is not valid JSON: {err}")))
}

/// Clauses that fetch documents from another index than the one searched
/// (terms lookup, more_like_this, percolate, indexed shapes). The grant
/// check covers only the searched pattern, so these are refused.
const CROSS_INDEX_CLAUSES: [&str; 5] =
    ["terms", "more_like_this", "percolate", "geo_shape", "shape"];

fn refuse_cross_index(value: &Value, inside: Option<&str>) -> Result<(), CapabilityError> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if let Some(clause) = inside
                    && matches!(key.as_str(), "index" | "_index" | "indexed_shape")
                {
                    return Err(CapabilityError::InvalidInput(format!(
                        "`{clause}` may not read from another index (`{key}`); search that index directly so its grant is checked"
                    )));
                }
                let clause =
                    inside.or_else(|| CROSS_INDEX_CLAUSES.iter().copied().find(|c| c == key));
                refuse_cross_index(child, clause)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| refuse_cross_index(item, inside)),
        _ => Ok(()),
    }
}

fn parse_object(what: &str, text: &str) -> Result<Value, CapabilityError> {
    let value = parse_json(what, text)?;
    refuse_cross_index(&value, None)?;
    if !value.is_object() {
        return Err(CapabilityError::InvalidInput(format!(
            "{what} must be a JSON object"
        )));
    }
    Ok(value)
}

impl wit::Host for DbState {
    async fn search(
        &mut self,
        index_pattern: String,
        query: String,
    ) -> Result<String, CapabilityError> {
        self.read(&index_pattern)?;
        let body = parse_object("the search body", &query)?;
        let response = self.backend.search(&index_pattern, body).await?;
        Ok(response.to_string())
    }

    async fn count(
        &mut self,
        index_pattern: String,
        query: Option<String>,
    ) -> Result<u64, CapabilityError> {
        self.read(&index_pattern)?;
        let query = query.map(|q| parse_object("the query", &q)).transpose()?;
        self.backend.count(&index_pattern, query).await
    }

    async fn aggregate(
        &mut self,
        index_pattern: String,
        query: Option<String>,
        aggregations: String,
    ) -> Result<String, CapabilityError> {
        self.read(&index_pattern)?;
        let aggs = parse_object("the aggregations", &aggregations)?;
        let mut body = serde_json::json!({ "size": 0, "aggs": aggs });
        if let Some(query) = query {
            body["query"] = parse_object("the query", &query)?;
        }
        let response = self.backend.search(&index_pattern, body).await?;
        Ok(response
            .get("aggregations")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
            .to_string())
    }

    async fn bulk_index(
        &mut self,
        index: String,
        documents: Vec<wit::Document>,
    ) -> Result<wit::BulkResult, CapabilityError> {
        self.call.charge()?;
        self.call.grants.db_write(&index)?;
        let documents = documents
            .into_iter()
            .enumerate()
            .map(|(i, doc)| Ok((doc.id, parse_object(&format!("document {i}"), &doc.source)?)))
            .collect::<Result<Vec<_>, CapabilityError>>()?;
        let outcome = self.backend.bulk_index(&index, documents).await?;
        Ok(wit::BulkResult {
            indexed: outcome.indexed,
            failed: outcome.failed,
            errors: outcome.errors,
        })
    }

    async fn list_indices(
        &mut self,
        pattern: Option<String>,
    ) -> Result<Vec<wit::IndexInfo>, CapabilityError> {
        let pattern = match pattern {
            Some(pattern) => pattern,
            None => {
                let granted = &self.call.grants.grants().db.read;
                if granted.is_empty() {
                    // Fall through to the grant check for its message.
                    "*".to_owned()
                } else {
                    granted.join(",")
                }
            }
        };
        self.read(&pattern)?;
        let indices = self.backend.list_indices(&pattern).await?;
        Ok(indices
            .into_iter()
            .map(|i| wit::IndexInfo {
                name: i.name,
                documents: i.documents,
            })
            .collect())
    }

    async fn field_mappings(&mut self, index_pattern: String) -> Result<String, CapabilityError> {
        self.read(&index_pattern)?;
        Ok(self
            .backend
            .field_mappings(&index_pattern)
            .await?
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::refuse_cross_index;

    #[test]
    fn clauses_that_read_other_indices_are_refused() {
        let lookups = [
            json!({"query": {"terms": {"user.name": {"index": "secrets", "id": "1", "path": "names"}}}}),
            json!({"query": {"more_like_this": {"like": [{"_index": "secrets", "_id": "1"}]}}}),
            json!({"query": {"bool": {"filter": [{"geo_shape": {"loc": {"indexed_shape": {"index": "x", "id": "1"}}}}]}}}),
            json!({"query": {"percolate": {"field": "q", "index": "other", "id": "1"}}}),
        ];
        for body in lookups {
            assert!(refuse_cross_index(&body, None).is_err(), "{body}");
        }
    }

    #[test]
    fn ordinary_queries_pass() {
        let body = json!({
            "query": {"bool": {"filter": [{"terms": {"destination.port": [22, 443]}}, {"term": {"index": "x"}}]}},
            "aggs": {"ports": {"terms": {"field": "destination.port", "size": 10}}}
        });
        assert!(refuse_cross_index(&body, None).is_ok());
    }
}
