//! The `db` capability on an OpenSearch or Elasticsearch cluster, over the
//! official `opensearch` client's transport. Both speak the same REST API
//! for everything skills do (`_search`, `_count`, `_bulk`, `_cat/indices`,
//! `_mapping`), so one client serves both; the query DSL passes through
//! untouched, and the answers are the cluster's own.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use opensearch::OpenSearch;
use opensearch::auth::Credentials;
use opensearch::cert::CertificateValidation;
use opensearch::http::headers::HeaderMap;
use opensearch::http::request::{JsonBody, NdBody};
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::{Method, StatusCode, Url};
use serde_json::{Value, json};

use sc_core::CapabilityError;
use sc_core::config::ClusterConfig;
use sc_core::db::{BulkLoad, BulkOutcome, DbBackend, Documents, IndexInfo};

/// The mapping of an index this host creates: strings are keywords (exact
/// match, aggregatable) except the full-text fields, `*.ip` are IPs,
/// floating-point numbers are doubles. The embedded store maps the same way.
pub fn index_mapping() -> Value {
    json!({
        "mappings": {
            "dynamic_templates": [
                {"ip_fields": {"match": "ip", "match_mapping_type": "string",
                    "mapping": {"type": "ip", "ignore_malformed": true}}},
                {"doubles": {"match_mapping_type": "double", "mapping": {"type": "double"}}},
                {"strings": {"match_mapping_type": "string",
                    "mapping": {"type": "keyword", "ignore_above": sc_store::schema::KEYWORD_MAX_CHARS}}}
            ],
            "properties": {
                "@timestamp": {"type": "date"},
                "message": {"type": "text"},
                "event": {"properties": {"original": {"type": "text"}}},
                "error": {"properties": {"message": {"type": "text"}}}
            }
        }
    })
}

/// A cluster behind `db`.
pub struct ClusterDb {
    client: OpenSearch,
    url: String,
    key: &'static str,
    retries: u32,
    timeout: Duration,
    /// Indices known to exist, so a bulk request creates each at most once.
    created: Mutex<HashSet<String>>,
    /// Indices a bulk load wrote to since its last commit (refreshed then).
    staged: Mutex<HashSet<String>>,
}

/// Documents per `_bulk` request: a batch of a large ingest is split so no
/// one request runs into the client's time limit (clusters take bulks of a
/// few megabytes best).
const BULK_CHUNK: usize = 2_000;

impl ClusterDb {
    /// A client for the cluster configured at `key` (`db.opensearch` or
    /// `db.elasticsearch`).
    pub fn new(key: &'static str, config: &ClusterConfig) -> anyhow::Result<Self> {
        let url = config.url();
        let parsed = Url::parse(&url)
            .map_err(|err| anyhow::anyhow!("`{key}`: `{url}` is not a URL: {err}"))?;
        let mut transport = TransportBuilder::new(SingleNodeConnectionPool::new(parsed))
            .timeout(Duration::from_millis(config.timeout_ms))
            .disable_proxy();
        if let Some(user) = &config.username {
            let password = match &config.password_env {
                Some(var) => std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("`{key}.password_env` names `{var}`, which is not set; export it with the cluster password")
                })?,
                None => String::new(),
            };
            transport = transport.auth(Credentials::Basic(user.clone(), password));
        }
        if !config.verify_certs {
            transport = transport.cert_validation(CertificateValidation::None);
        }
        let transport = transport
            .build()
            .map_err(|err| anyhow::anyhow!("`{key}`: {err}"))?;
        Ok(Self {
            client: OpenSearch::new(transport),
            url,
            key,
            retries: config.retries,
            timeout: Duration::from_millis(config.timeout_ms),
            created: Mutex::new(HashSet::new()),
            staged: Mutex::new(HashSet::new()),
        })
    }

    /// Sends one request with retries on 429, 5xx and connection errors;
    /// answers the status and the JSON body.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<(StatusCode, Value), CapabilityError> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = match &body {
                None => {
                    self.client
                        .send::<(), ()>(
                            method,
                            path,
                            HeaderMap::new(),
                            None,
                            None,
                            Some(self.timeout),
                        )
                        .await
                }
                Some(Body::Json(value)) => {
                    self.client
                        .send::<JsonBody<Value>, ()>(
                            method,
                            path,
                            HeaderMap::new(),
                            None,
                            Some(JsonBody::new(value.clone())),
                            Some(self.timeout),
                        )
                        .await
                }
                Some(Body::Lines(lines)) => {
                    self.client
                        .send::<NdBody<JsonBody<Value>>, ()>(
                            method,
                            path,
                            HeaderMap::new(),
                            None,
                            Some(NdBody::new(
                                lines.iter().cloned().map(JsonBody::new).collect(),
                            )),
                            Some(self.timeout),
                        )
                        .await
                }
            };
            let retryable = match sent {
                Ok(response) => {
                    let status = response.status_code();
                    if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                        && attempt <= self.retries
                    {
                        true
                    } else {
                        let text = response
                            .text()
                            .await
                            .map_err(|err| self.unreachable(&err))?;
                        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                        return Ok((status, value));
                    }
                }
                Err(err) if err.is_timeout() && attempt > self.retries => {
                    return Err(CapabilityError::Timeout);
                }
                Err(err) if attempt > self.retries => return Err(self.unreachable(&err)),
                Err(_) => true,
            };
            if retryable {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }

    fn unreachable(&self, err: &dyn std::fmt::Display) -> CapabilityError {
        CapabilityError::Backend(format!(
            "cannot reach the cluster at {} ({err}); check `{}.host`, `.port` and `.tls`",
            self.url, self.key
        ))
    }

    /// Turns a non-2xx answer into an error naming the cluster's reason.
    fn check(&self, status: StatusCode, body: Value) -> Result<Value, CapabilityError> {
        if status.is_success() {
            return Ok(body);
        }
        let reason = body["error"]["root_cause"][0]["reason"]
            .as_str()
            .or_else(|| body["error"]["reason"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string().chars().take(300).collect());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CapabilityError::Backend(format!(
                "the cluster refused the request ({status}): {reason}; check `{}.username` and `.password_env`",
                self.key
            )),
            StatusCode::NOT_FOUND if body["error"]["type"] == "index_not_found_exception" => {
                CapabilityError::InvalidInput(format!(
                    "{reason}; `sc-host db indices` lists the indices, or use a pattern such as `name*`"
                ))
            }
            status if status.is_client_error() => {
                CapabilityError::InvalidInput(format!("the cluster refused the request: {reason}"))
            }
            status => CapabilityError::Backend(format!("the cluster failed ({status}): {reason}")),
        })
    }

    /// Sends one request (with retries) and answers its JSON body, or the
    /// error the cluster's refusal names.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Value, CapabilityError> {
        let (status, answer) = self.request(method, path, body).await?;
        self.check(status, answer)
    }

    /// Creates index `name` from `body` (settings and mappings). One that
    /// exists already is fine: another writer may have made it meanwhile.
    pub(crate) async fn create_index(
        &self,
        name: &str,
        body: Value,
    ) -> Result<(), CapabilityError> {
        let (status, answer) = self
            .request(Method::Put, &format!("/{name}"), Some(Body::Json(body)))
            .await?;
        if !(status.is_success() || answer["error"]["type"] == "resource_already_exists_exception")
        {
            self.check(status, answer)?;
        }
        self.exists(name);
        Ok(())
    }

    /// Records that index `name` exists, so bulk requests skip the check.
    pub(crate) fn exists(&self, name: &str) {
        self.created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned());
    }

    async fn ensure_index(&self, index: &str) -> Result<(), CapabilityError> {
        if self
            .created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(index)
        {
            return Ok(());
        }
        let (status, _) = self
            .request(Method::Head, &format!("/{index}"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return self.create_index(index, index_mapping()).await;
        }
        self.exists(index);
        Ok(())
    }
}

/// A request body: one JSON value, or NDJSON lines (`_bulk`).
pub(crate) enum Body {
    /// `application/json`.
    Json(Value),
    /// `application/x-ndjson`, one value per line.
    Lines(Vec<Value>),
}

/// Keeps a path segment from carrying a query string or another path.
fn segment(pattern: &str) -> Result<&str, CapabilityError> {
    if pattern.is_empty() || pattern.contains(['/', '?', '#', ' ']) {
        return Err(CapabilityError::InvalidInput(format!(
            "`{pattern}` is not an index name or pattern"
        )));
    }
    Ok(pattern)
}

impl ClusterDb {
    /// Indexes documents in requests of [`BULK_CHUNK`]; with `refresh`,
    /// each waits until its documents are searchable (what a skill's write
    /// promises), else they become searchable at the next refresh (a bulk
    /// load commits once at the end).
    async fn bulk(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
        refresh: bool,
    ) -> Result<BulkOutcome, CapabilityError> {
        let mut outcome = BulkOutcome::default();
        if documents.is_empty() {
            return Ok(outcome);
        }
        self.ensure_index(segment(index)?).await?;
        let path = if refresh {
            "/_bulk?refresh=wait_for"
        } else {
            "/_bulk"
        };
        let mut documents = documents.into_iter().peekable();
        while documents.peek().is_some() {
            let mut lines = Vec::with_capacity(BULK_CHUNK * 2);
            for (id, source) in documents.by_ref().take(BULK_CHUNK) {
                lines.push(match id {
                    Some(id) => json!({"index": {"_index": index, "_id": id}}),
                    None => json!({"index": {"_index": index}}),
                });
                lines.push(source);
            }
            let body = self
                .call(Method::Post, path, Some(Body::Lines(lines)))
                .await?;
            for item in body["items"].as_array().into_iter().flatten() {
                let result = item
                    .get("index")
                    .or_else(|| item.get("create"))
                    .unwrap_or(item);
                if result.get("error").is_some_and(|e| !e.is_null()) {
                    outcome.failed += 1;
                    if outcome.errors.len() < 10 {
                        let reason = result["error"]["reason"].as_str().unwrap_or("refused");
                        outcome.errors.push(format!(
                            "document {}: {reason}",
                            result["_id"].as_str().unwrap_or("?")
                        ));
                    }
                } else {
                    outcome.indexed += 1;
                }
            }
        }
        Ok(outcome)
    }
}

#[async_trait::async_trait]
impl DbBackend for ClusterDb {
    async fn search(&self, index_pattern: &str, body: Value) -> Result<Value, CapabilityError> {
        let path = format!(
            "/{}/_search?allow_no_indices=true&ignore_unavailable=false",
            segment(index_pattern)?
        );
        self.call(Method::Post, &path, Some(Body::Json(body))).await
    }

    async fn count(
        &self,
        index_pattern: &str,
        query: Option<Value>,
    ) -> Result<u64, CapabilityError> {
        let path = format!("/{}/_count", segment(index_pattern)?);
        let body = query.map(|q| match q.get("query") {
            Some(_) => q,
            None => json!({"query": q}),
        });
        let body = self.call(Method::Post, &path, body.map(Body::Json)).await?;
        body["count"].as_u64().ok_or_else(|| {
            CapabilityError::Backend("the cluster's _count answer has no count".to_owned())
        })
    }

    async fn bulk_index(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, CapabilityError> {
        self.bulk(index, documents, true).await
    }

    async fn list_indices(&self, index_pattern: &str) -> Result<Vec<IndexInfo>, CapabilityError> {
        let path = format!(
            "/_cat/indices/{}?format=json&h=index,docs.count&expand_wildcards=open",
            segment(index_pattern)?
        );
        let (status, body) = self.request(Method::Get, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let body = self.check(status, body)?;
        let mut indices: Vec<IndexInfo> = body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| {
                let name = row["index"].as_str()?;
                // System indices are not telemetry.
                (!name.starts_with('.')).then(|| IndexInfo {
                    name: name.to_owned(),
                    documents: row["docs.count"]
                        .as_str()
                        .and_then(|n| n.parse().ok())
                        .or_else(|| row["docs.count"].as_u64())
                        .unwrap_or(0),
                })
            })
            .collect();
        indices.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(indices)
    }

    async fn field_mappings(&self, index_pattern: &str) -> Result<Value, CapabilityError> {
        let path = format!("/{}/_mapping", segment(index_pattern)?);
        self.call(Method::Get, &path, None).await
    }
}

/// A cluster takes each batch as it comes (a bulk request is durable once
/// answered) without waiting for a refresh per batch; a commit refreshes
/// the indices written to, so the load is searchable from then on.
#[async_trait::async_trait]
impl BulkLoad for ClusterDb {
    async fn stage(
        &self,
        index: &str,
        documents: Documents,
    ) -> Result<BulkOutcome, CapabilityError> {
        let outcome = self.bulk(index, documents, false).await?;
        self.staged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(index.to_owned());
        Ok(outcome)
    }

    async fn commit(&self) -> Result<(), CapabilityError> {
        let indices: Vec<String> = self
            .staged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .collect();
        if indices.is_empty() {
            return Ok(());
        }
        let names = indices
            .iter()
            .map(|i| segment(i))
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        self.call(Method::Post, &format!("/{names}/_refresh"), None)
            .await
            .map(|_| ())
    }

    async fn finish(&self) -> Result<(), CapabilityError> {
        self.commit().await
    }
}
