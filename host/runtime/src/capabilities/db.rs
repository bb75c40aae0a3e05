//! The `db` capability: search, count, aggregate and index telemetry on the
//! configured store, limited to the index patterns in `grants.db`.

use std::sync::Arc;

use sc_core::CapabilityError;
use sc_core::db::DbBackend;
use serde_json::Value;

use super::CallContext;
use crate::bindings::securityclaw::skill::db as wit;
use crate::error::CallError;

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

    fn read(&self, pattern: &str) -> Result<(), CallError> {
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
    async fn search(&mut self, index_pattern: String, query: String) -> Result<String, CallError> {
        self.read(&index_pattern)?;
        let body = parse_object("the search body", &query)?;
        let response = self.backend.search(&index_pattern, body).await?;
        Ok(response.to_string())
    }

    async fn count(
        &mut self,
        index_pattern: String,
        query: Option<String>,
    ) -> Result<u64, CallError> {
        self.read(&index_pattern)?;
        let query = query.map(|q| parse_object("the query", &q)).transpose()?;
        Ok(self.backend.count(&index_pattern, query).await?)
    }

    async fn aggregate(
        &mut self,
        index_pattern: String,
        query: Option<String>,
        aggregations: String,
    ) -> Result<String, CallError> {
        self.read(&index_pattern)?;
        let aggs = parse_object("the aggregations", &aggregations)?;
        let mut body = serde_json::json!({ "size": 0, "aggs": aggs });
        if let Some(query) = query {
            body["query"] = parse_object("the query", &query)?;
        }
        let mut response = self.backend.search(&index_pattern, body).await?;
        Ok(response
            .get_mut("aggregations")
            .map(Value::take)
            .unwrap_or_else(|| Value::Object(Default::default()))
            .to_string())
    }

    async fn bulk_index(
        &mut self,
        index: String,
        documents: Vec<wit::Document>,
    ) -> Result<wit::BulkResult, CallError> {
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
    ) -> Result<Vec<wit::IndexInfo>, CallError> {
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

    async fn field_mappings(&mut self, index_pattern: String) -> Result<String, CallError> {
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
