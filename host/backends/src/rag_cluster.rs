//! The `rag` capability on a cluster: documents in one index with a vector
//! field searched by the cluster's own approximate k-NN (HNSW, cosine) —
//! OpenSearch `knn_vector` with the Lucene engine, or Elasticsearch
//! `dense_vector` — and by BM25 on the text when no model embeds.
//!
//! A vector field has one size for the life of an index. When the embedding
//! model changes size, documents go to a new version of the index
//! (`NAME-v2`, `NAME-v3`, …) and the old version is kept, never deleted.

use std::collections::HashMap;
use std::sync::Arc;

use opensearch::http::Method;
use serde_json::{Value, json};

use crate::store_cluster::{Body, ClusterDb};
use sc_core::CapabilityError;
use sc_core::db::DbBackend as _;
use sc_core::llm::LlmBackend;
use sc_core::rag::{
    Document, RagBackend, Retrieval, check_documents, document_id, embed_or_none, now_utc,
    valid_until_utc,
};
use sc_core::rag::{Hit, RetrievalPath};

/// Which cluster's vector API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFlavor {
    /// OpenSearch k-NN plugin: `knn_vector`, `query.knn`.
    OpenSearch,
    /// Elasticsearch 8: `dense_vector`, top-level `knn`.
    Elasticsearch,
}

/// The field holding a document's vector.
const VECTOR_FIELD: &str = "embedding";

/// One version of the retrieval index on the cluster.
#[derive(Debug)]
struct IndexVersion {
    name: String,
    version: u32,
    dims: Option<usize>,
}

/// Retrieval on an OpenSearch or Elasticsearch cluster.
pub struct ClusterRag {
    cluster: ClusterDb,
    flavor: VectorFlavor,
    base: String,
    embedder: Option<Arc<dyn LlmBackend>>,
    threshold: f32,
    /// The index's versions, oldest first: listed from the cluster once
    /// (again while there are none) and kept current as this process
    /// creates or extends them.
    known: tokio::sync::Mutex<Vec<IndexVersion>>,
}

impl ClusterRag {
    /// Retrieval in index `base` (and its versions) on `cluster`; `embedder`
    /// embeds documents and queries (none: lexical only); vector hits below
    /// `threshold` cosine are dropped.
    pub fn new(
        cluster: ClusterDb,
        flavor: VectorFlavor,
        base: &str,
        embedder: Option<Arc<dyn LlmBackend>>,
        threshold: f32,
    ) -> Self {
        Self {
            cluster,
            flavor,
            base: base.to_owned(),
            embedder,
            threshold,
            known: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// The known versions, listed from the cluster while none are known.
    async fn known_versions(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Vec<IndexVersion>>, CapabilityError> {
        let mut known = self.known.lock().await;
        if known.is_empty() {
            *known = self.versions().await?;
            for version in known.iter() {
                self.cluster.exists(&version.name);
            }
        }
        Ok(known)
    }

    /// The names of every version of the index, oldest first.
    async fn all_versions(&self) -> Result<Vec<String>, CapabilityError> {
        Ok(self
            .known_versions()
            .await?
            .iter()
            .map(|v| v.name.clone())
            .collect())
    }

    /// The version number of index `name`: 1 for the base name, N for
    /// `base-vN`; none for unrelated indices the pattern also matched.
    fn version_of(&self, name: &str) -> Option<u32> {
        let rest = name.strip_prefix(self.base.as_str())?;
        if rest.is_empty() {
            return Some(1);
        }
        rest.strip_prefix("-v")?.parse().ok().filter(|n| *n >= 2)
    }

    /// The versions of the index on the cluster, oldest first, with the
    /// vector size each holds.
    async fn versions(&self) -> Result<Vec<IndexVersion>, CapabilityError> {
        let body = self
            .cluster
            .call(Method::Get, &format!("/{}*/_mapping", self.base), None)
            .await?;
        let mut versions: Vec<IndexVersion> = body
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, mapping)| {
                let field = &mapping["mappings"]["properties"][VECTOR_FIELD];
                Some(IndexVersion {
                    name: name.clone(),
                    version: self.version_of(name)?,
                    dims: field["dimension"]
                        .as_u64()
                        .or_else(|| field["dims"].as_u64())
                        .and_then(|d| usize::try_from(d).ok()),
                })
            })
            .collect();
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    fn vector_mapping(&self, dims: usize) -> Value {
        match self.flavor {
            VectorFlavor::OpenSearch => json!({
                "type": "knn_vector", "dimension": dims,
                "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene",
                           "parameters": {"m": 16, "ef_construction": 128}}
            }),
            VectorFlavor::Elasticsearch => json!({
                "type": "dense_vector", "dims": dims, "index": true, "similarity": "cosine"
            }),
        }
    }

    async fn create(&self, name: &str, dims: Option<usize>) -> Result<(), CapabilityError> {
        let mut properties = json!({
            "category": {"type": "keyword"},
            "entity": {"type": "keyword"},
            "window": {"type": "keyword"},
            "text": {"type": "text"},
            "source": {"type": "keyword"},
            "metadata": {"type": "text", "index": false},
            "skill_id": {"type": "keyword"},
            "stored_at": {"type": "date"},
            "valid_until": {"type": "date"}
        });
        if let Some(dims) = dims {
            properties[VECTOR_FIELD] = self.vector_mapping(dims);
        }
        let mut body = json!({"mappings": {"dynamic": false, "properties": properties}});
        if self.flavor == VectorFlavor::OpenSearch && dims.is_some() {
            // Only with vectors: a cluster without the k-NN plugin refuses
            // the setting, and text-only retrieval needs no plugin.
            body["settings"] = json!({"index": {"knn": true}});
        }
        self.cluster.create_index(name, body).await
    }

    /// The index for documents with vectors of `dims` (none: without
    /// vectors). With `create`, one is made when none fits; without, none
    /// is answered (nothing stored yet, nothing to find).
    async fn resolve(
        &self,
        dims: Option<usize>,
        create: bool,
    ) -> Result<Option<String>, CapabilityError> {
        let mut versions = self.known_versions().await?;
        let Some(dims) = dims else {
            // Documents without vectors go to the newest version.
            if let Some(newest) = versions.last() {
                return Ok(Some(newest.name.clone()));
            }
            if !create {
                return Ok(None);
            }
            self.create(&self.base, None).await?;
            versions.push(IndexVersion {
                name: self.base.clone(),
                version: 1,
                dims: None,
            });
            return Ok(Some(self.base.clone()));
        };
        if let Some(v) = versions.iter().rev().find(|v| v.dims == Some(dims)) {
            return Ok(Some(v.name.clone()));
        }
        if !create {
            return Ok(None);
        }
        if let Some(newest) = versions.last_mut().filter(|v| v.dims.is_none())
            && self.add_vector_field(&newest.name, dims).await.is_ok()
        {
            // Text-only so far: it gained the vector field.
            newest.dims = Some(dims);
            return Ok(Some(newest.name.clone()));
        }
        let newest = versions.last();
        let version = newest.map_or(1, |v| v.version + 1);
        let name = if version == 1 {
            self.base.clone()
        } else {
            format!("{}-v{version}", self.base)
        };
        if let Some(old) = newest {
            tracing::warn!(
                old = %old.name, old_dims = ?old.dims, new = %name, dims,
                "the embedding model's vector size changed (or the old index cannot hold vectors): new documents go to a new index version; the old index is kept"
            );
        }
        self.create(&name, Some(dims)).await?;
        versions.push(IndexVersion {
            name: name.clone(),
            version,
            dims: Some(dims),
        });
        Ok(Some(name))
    }

    /// The newest version holding each of `ids`.
    async fn latest_versions(
        &self,
        names: &[String],
        ids: &[&str],
    ) -> Result<HashMap<String, u32>, CapabilityError> {
        let mut latest = HashMap::new();
        if ids.is_empty() {
            return Ok(latest);
        }
        let body = json!({
            "size": ids.len() * names.len(),
            "_source": false,
            "query": {"ids": {"values": ids}}
        });
        for hit in self.search(&names.join(","), body).await? {
            if let (Some(id), Some(version)) = (
                hit["_id"].as_str(),
                hit["_index"].as_str().and_then(|n| self.version_of(n)),
            ) {
                let entry = latest.entry(id.to_owned()).or_insert(version);
                *entry = (*entry).max(version);
            }
        }
        Ok(latest)
    }

    /// Adds the vector field to an index that has none yet.
    async fn add_vector_field(&self, index: &str, dims: usize) -> Result<(), CapabilityError> {
        let body = json!({"properties": {VECTOR_FIELD: self.vector_mapping(dims)}});
        self.cluster
            .call(
                Method::Put,
                &format!("/{index}/_mapping"),
                Some(Body::Json(body)),
            )
            .await
            .map(drop)
    }

    async fn search(&self, index: &str, body: Value) -> Result<Vec<Value>, CapabilityError> {
        let mut answer = self
            .cluster
            .call(
                Method::Post,
                &format!("/{index}/_search"),
                Some(Body::Json(body)),
            )
            .await?;
        Ok(match answer["hits"]["hits"].take() {
            Value::Array(hits) => hits,
            _ => Vec::new(),
        })
    }

    /// The request for the `k` nearest vectors among `filter`.
    fn knn_request(&self, vector: &[f32], k: u32, filter: &Value) -> Value {
        match self.flavor {
            VectorFlavor::OpenSearch => json!({
                "size": k,
                "_source": {"excludes": [VECTOR_FIELD]},
                "query": {"knn": {VECTOR_FIELD: {"vector": vector, "k": k, "filter": filter}}}
            }),
            VectorFlavor::Elasticsearch => json!({
                "size": k,
                "_source": {"excludes": [VECTOR_FIELD]},
                "knn": {"field": VECTOR_FIELD, "query_vector": vector, "k": k,
                        "num_candidates": (k * 10).max(100), "filter": filter}
            }),
        }
    }
}

/// Documents of `categories` that have not expired by `as_of`.
fn retrievable(categories: &[String], as_of: &str) -> Value {
    json!({"bool": {"filter": [
        {"terms": {"category": categories}},
        {"bool": {"minimum_should_match": 1, "should": [
            {"bool": {"must_not": {"exists": {"field": "valid_until"}}}},
            {"range": {"valid_until": {"gt": as_of}}}
        ]}}
    ]}})
}

fn read_hit(hit: &Value, score: f32) -> Hit {
    let source = &hit["_source"];
    let text = |key: &str| source[key].as_str().unwrap_or_default().to_owned();
    Hit {
        id: hit["_id"].as_str().unwrap_or_default().to_owned(),
        category: text("category"),
        entity: text("entity"),
        text: text("text"),
        source: text("source"),
        metadata: source["metadata"].as_str().unwrap_or("{}").to_owned(),
        score,
    }
}

#[async_trait::async_trait]
impl RagBackend for ClusterRag {
    async fn store(
        &self,
        skill_id: &str,
        documents: Vec<Document>,
    ) -> Result<Vec<String>, CapabilityError> {
        check_documents(&documents)?;
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = embed_or_none(
            self.embedder.as_ref(),
            documents.iter().map(|d| d.text.clone()).collect(),
        )
        .await?;
        let dims = vectors.as_ref().and_then(|v| v.first()).map(Vec::len);
        if let (Some(vectors), Some(dims)) = (&vectors, dims)
            && (vectors.len() != documents.len() || vectors.iter().any(|v| v.len() != dims))
        {
            return Err(CapabilityError::Backend(
                "the embedding model answered vectors of mixed sizes or the wrong count".to_owned(),
            ));
        }
        let Some(index) = self.resolve(dims, true).await? else {
            return Err(CapabilityError::Backend(
                "no retrieval index could be created".to_owned(),
            ));
        };
        let stored_at = now_utc();
        let mut ids = Vec::with_capacity(documents.len());
        let mut bodies = Vec::with_capacity(documents.len());
        for (i, doc) in documents.into_iter().enumerate() {
            let id = document_id(&doc.category, &doc.entity, doc.window.as_deref());
            let mut source = json!({
                "category": doc.category, "entity": doc.entity, "window": doc.window,
                "text": doc.text, "source": doc.source, "metadata": doc.metadata,
                "skill_id": skill_id, "stored_at": stored_at,
                "valid_until": valid_until_utc(doc.valid_until.as_deref()),
            });
            if let Some(vector) = vectors.as_ref().and_then(|v| v.get(i)) {
                source[VECTOR_FIELD] = json!(vector);
            }
            bodies.push((Some(id.clone()), source));
            ids.push(id);
        }
        let outcome = self.cluster.bulk_index(&index, bodies).await?;
        if outcome.failed > 0 {
            return Err(CapabilityError::Backend(format!(
                "the cluster refused {} of {} documents in `{index}`: {}",
                outcome.failed,
                ids.len(),
                outcome
                    .errors
                    .first()
                    .map_or("no reason given", String::as_str)
            )));
        }
        Ok(ids)
    }

    async fn categories(&self) -> Result<Vec<String>, CapabilityError> {
        let names = self.all_versions().await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({"size": 0, "aggs": {"categories": {"terms": {"field": "category", "size": 10_000, "order": {"_key": "asc"}}}}});
        let answer = self
            .cluster
            .call(
                Method::Post,
                &format!("/{}/_search", names.join(",")),
                Some(Body::Json(body)),
            )
            .await?;
        Ok(answer["aggregations"]["categories"]["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["key"].as_str().map(str::to_owned))
            .collect())
    }

    async fn retrieve_as_of(
        &self,
        query: &str,
        k: u32,
        categories: &[String],
        as_of: &str,
    ) -> Result<Retrieval, CapabilityError> {
        let filter = retrievable(categories, as_of);
        if let Some(mut vectors) =
            embed_or_none(self.embedder.as_ref(), vec![query.to_owned()]).await?
            && !vectors.is_empty()
        {
            let vector = vectors.swap_remove(0);
            let Some(index) = self.resolve(Some(vector.len()), false).await? else {
                return Ok(Retrieval {
                    path: RetrievalPath::Vector,
                    hits: Vec::new(),
                });
            };
            let hits = self
                .search(&index, self.knn_request(&vector, k, &filter))
                .await?
                .iter()
                .map(|hit| {
                    // Both clusters score cosine as (1 + cos) / 2.
                    let score = hit["_score"].as_f64().unwrap_or(0.0) as f32;
                    read_hit(hit, 2.0 * score - 1.0)
                })
                .filter(|hit| hit.score >= self.threshold)
                .take(k as usize)
                .collect();
            return Ok(Retrieval {
                path: RetrievalPath::Vector,
                hits,
            });
        }
        // Every version: documents stored before a change of embedding
        // model are still found by their words.
        let names = self.all_versions().await?;
        if names.is_empty() {
            return Ok(Retrieval {
                path: RetrievalPath::Lexical,
                hits: Vec::new(),
            });
        }
        let fetched = k as usize * names.len();
        let body = json!({
            "size": fetched,
            "_source": {"excludes": [VECTOR_FIELD]},
            "query": {"bool": {"must": [{"match": {"text": query}}], "filter": [filter]}}
        });
        // A document stored under two versions counts once, as its newest
        // copy, even when only an older copy matched the words.
        let newest_version = names
            .iter()
            .filter_map(|n| self.version_of(n))
            .max()
            .unwrap_or(1);
        let mut found: Vec<(u32, Hit)> = self
            .search(&names.join(","), body)
            .await?
            .iter()
            .map(|hit| {
                let version = hit["_index"]
                    .as_str()
                    .and_then(|name| self.version_of(name))
                    .unwrap_or(0);
                (
                    version,
                    read_hit(hit, hit["_score"].as_f64().unwrap_or(0.0) as f32),
                )
            })
            .collect();
        let older: Vec<&str> = found
            .iter()
            .filter(|(version, _)| *version < newest_version)
            .map(|(_, hit)| hit.id.as_str())
            .collect();
        let latest = self.latest_versions(&names, &older).await?;
        found.retain(|(version, hit)| latest.get(&hit.id).is_none_or(|v| v <= version));
        let mut newest: HashMap<String, (u32, Hit)> = HashMap::new();
        for (version, hit) in found {
            if newest.get(&hit.id).is_none_or(|(seen, _)| *seen < version) {
                newest.insert(hit.id.clone(), (version, hit));
            }
        }
        let mut hits: Vec<Hit> = newest.into_values().map(|(_, hit)| hit).collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k as usize);
        Ok(Retrieval {
            path: RetrievalPath::Lexical,
            hits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_core::config::ClusterConfig;

    fn rag(flavor: VectorFlavor) -> ClusterRag {
        let cluster = ClusterDb::new("db.opensearch", &ClusterConfig::default()).expect("client");
        ClusterRag::new(cluster, flavor, "securityclaw-rag", None, 0.3)
    }

    #[test]
    fn versions_are_told_apart_from_other_indices_with_the_same_prefix() {
        let rag = rag(VectorFlavor::OpenSearch);
        assert_eq!(rag.version_of("securityclaw-rag"), Some(1));
        assert_eq!(rag.version_of("securityclaw-rag-v2"), Some(2));
        assert_eq!(rag.version_of("securityclaw-rag-v12"), Some(12));
        assert_eq!(rag.version_of("securityclaw-rag-v1"), None);
        assert_eq!(rag.version_of("securityclaw-rag-old"), None);
        assert_eq!(rag.version_of("securityclaw-ragged"), None);
    }

    #[test]
    fn each_cluster_gets_its_own_knn_request() {
        let filter = retrievable(&["baseline".to_owned()], "2026-01-01T00:00:00Z");
        let os = rag(VectorFlavor::OpenSearch).knn_request(&[0.5, 0.5], 3, &filter);
        assert_eq!(os["query"]["knn"]["embedding"]["k"], 3);
        assert_eq!(os["query"]["knn"]["embedding"]["filter"], filter);
        let es = rag(VectorFlavor::Elasticsearch).knn_request(&[0.5, 0.5], 3, &filter);
        assert_eq!(es["knn"]["field"], "embedding");
        assert_eq!(es["knn"]["num_candidates"], 100);
        assert!(es.get("query").is_none());
    }
}
