//! Search, count, aggregate and index telemetry with OpenSearch query DSL.
//! The same calls work on OpenSearch, Elasticsearch and the embedded store.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Result, host, json_text, parse_json};

pub use crate::__bindings::securityclaw::skill::db::{BulkResult, Document, IndexInfo};

/// One search hit.
#[derive(Debug, Clone, Deserialize)]
pub struct Hit<T> {
    /// Document id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Index it lives in.
    #[serde(rename = "_index")]
    pub index: String,
    /// Relevance score, when the query computes one.
    #[serde(rename = "_score", default)]
    pub score: Option<f64>,
    /// The document.
    #[serde(rename = "_source")]
    pub source: T,
    /// Sort values, for `search_after` paging.
    #[serde(default)]
    pub sort: Option<Vec<Value>>,
}

/// A search answer with typed hits.
#[derive(Debug, Clone)]
pub struct SearchResponse<T> {
    /// Matching documents (may exceed `hits.len()`).
    pub total: u64,
    /// The returned hits.
    pub hits: Vec<Hit<T>>,
    /// Aggregation results, when asked for.
    pub aggregations: Option<Value>,
}

#[derive(Deserialize)]
struct RawResponse<T> {
    hits: RawHits<T>,
    #[serde(default)]
    aggregations: Option<Value>,
}

#[derive(Deserialize)]
struct RawHits<T> {
    #[serde(default)]
    total: Option<Value>,
    hits: Vec<Hit<T>>,
}

/// Runs a search body (`query`, `size`, `sort`, `aggs`…) and deserializes
/// each hit's `_source` as `T` (use `serde_json::Value` for anything).
pub fn search<T: DeserializeOwned>(index_pattern: &str, body: &Value) -> Result<SearchResponse<T>> {
    let raw: RawResponse<T> = parse_json("the search response", &search_raw(index_pattern, body)?)?;
    let total = match raw.hits.total {
        Some(Value::Object(total)) => total.get("value").and_then(Value::as_u64).unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => raw.hits.hits.len() as u64,
    };
    Ok(SearchResponse {
        total,
        hits: raw.hits.hits,
        aggregations: raw.aggregations,
    })
}

/// Runs a search body and returns the raw OpenSearch response as JSON text.
pub fn search_raw(index_pattern: &str, body: &Value) -> Result<String> {
    let body = json_text(body)?;
    host::with(|h| h.db_search(index_pattern, &body))
}

/// Counts documents matching `query` (all when `None`).
pub fn count(index_pattern: &str, query: Option<&Value>) -> Result<u64> {
    let query = query.map(json_text).transpose()?;
    host::with(|h| h.db_count(index_pattern, query.as_deref()))
}

/// Runs aggregations and returns the `aggregations` object.
pub fn aggregate(
    index_pattern: &str,
    query: Option<&Value>,
    aggregations: &Value,
) -> Result<Value> {
    let query = query.map(json_text).transpose()?;
    let aggregations = json_text(aggregations)?;
    let text = host::with(|h| h.db_aggregate(index_pattern, query.as_deref(), &aggregations))?;
    parse_json("the aggregation response", &text)
}

/// Indexes documents as (optional id, body) pairs into one index.
pub fn bulk_index<T: Serialize>(
    index: &str,
    documents: &[(Option<String>, T)],
) -> Result<BulkResult> {
    let documents = documents
        .iter()
        .map(|(id, body)| {
            Ok(Document {
                id: id.clone(),
                source: json_text(body)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    host::with(|h| h.db_bulk_index(index, &documents))
}

/// Indices matching a pattern (every index the skill may read when `None`).
pub fn list_indices(pattern: Option<&str>) -> Result<Vec<IndexInfo>> {
    host::with(|h| h.db_list_indices(pattern))
}

/// The `_mapping` response for a pattern.
pub fn field_mappings(index_pattern: &str) -> Result<Value> {
    let text = host::with(|h| h.db_field_mappings(index_pattern))?;
    parse_json("the mapping response", &text)
}
