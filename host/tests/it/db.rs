//! The `db` capability on all three backends with the same assertions:
//! the embedded store, OpenSearch (osmem-server, or a real cluster at
//! `SC_TEST_OPENSEARCH_URL`) and Elasticsearch (noida-db, or a real cluster
//! at `SC_TEST_ELASTICSEARCH_URL`). `just test` starts the servers; a run
//! without them fails and says so, unless `SC_TEST_SKIP_CLUSTERS=1`.
//!
//! Real data: Stratosphere Lab (CTU Prague) Zeek logs and the Slips
//! Suricata capture from `../shared/datasets`, with expected values
//! computed independently by `scripts/expected_values.py`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use sc_host::backends::open_db;
use sc_host::capabilities::CapabilityError;
use sc_host::capabilities::db::DbBackend;
use sc_host::config::{ClusterConfig, Config, DbProvider};

use crate::support::{cluster_config, cluster_url};

use super::support::repo_root;

/// One backend under test.
struct Backend {
    name: &'static str,
    provider: DbProvider,
    url: Option<String>,
    data_dir: PathBuf,
}

impl Backend {
    fn config(&self) -> Config {
        let mut config = Config {
            data_dir: self.data_dir.clone(),
            ..Config::default()
        };
        config.db.provider = self.provider;
        if let Some(url) = &self.url {
            let cluster = cluster_config(url);
            config.db.opensearch = cluster.clone();
            config.db.elasticsearch = cluster;
        }
        config
    }

    fn db(&self) -> Arc<dyn DbBackend> {
        open_db(&self.config()).unwrap_or_else(|e| panic!("{}: {e:#}", self.name))
    }

    /// `sc-host` environment that selects this backend.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "SC_DATA_DIR".to_owned(),
                self.data_dir.display().to_string(),
            ),
            (
                "SC_DB_PROVIDER".to_owned(),
                format!("{:?}", self.provider).to_lowercase(),
            ),
        ];
        if let Some(url) = &self.url {
            let cluster = cluster_config(url);
            for key in ["OPENSEARCH", "ELASTICSEARCH"] {
                env.push((format!("SC_DB_{key}_HOST"), cluster.host.clone()));
                env.push((format!("SC_DB_{key}_PORT"), cluster.port.to_string()));
                env.push((format!("SC_DB_{key}_TLS"), cluster.tls.to_string()));
            }
        }
        env
    }
}

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
}

/// Every backend available to this run; each test gets its own data dir.
fn backends(test: &str) -> Vec<Backend> {
    let dir = scratch().path().join(test);
    let mut out = vec![Backend {
        name: "embedded",
        provider: DbProvider::Embedded,
        url: None,
        data_dir: dir.join("embedded"),
    }];
    if let Some(url) = cluster_url("SC_TEST_OPENSEARCH_URL") {
        out.push(Backend {
            name: "opensearch",
            provider: DbProvider::Opensearch,
            url: Some(url),
            data_dir: dir.join("os"),
        });
    }
    if let Some(url) = cluster_url("SC_TEST_ELASTICSEARCH_URL") {
        out.push(Backend {
            name: "elasticsearch",
            provider: DbProvider::Elasticsearch,
            url: Some(url),
            data_dir: dir.join("es"),
        });
    }
    out
}

/// Index names unique to this process, so runs against one server never collide.
fn index_name(name: &str) -> String {
    format!("sct{}-{name}", std::process::id())
}

fn flows() -> Vec<(Option<String>, Value)> {
    let rows = [
        (
            "a",
            "2024-01-01T00:10:00.000Z",
            "10.0.0.1",
            22,
            "tcp",
            100,
            "failure",
        ),
        (
            "b",
            "2024-01-01T00:20:00.000Z",
            "10.0.0.1",
            22,
            "tcp",
            200,
            "failure",
        ),
        (
            "c",
            "2024-01-01T01:05:00.000Z",
            "10.0.0.2",
            443,
            "tcp",
            5000,
            "success",
        ),
        (
            "d",
            "2024-01-01T01:30:00.000Z",
            "10.0.0.3",
            53,
            "udp",
            80,
            "success",
        ),
        (
            "e",
            "2024-01-01T02:45:00.000Z",
            "10.0.0.1",
            443,
            "tcp",
            7000,
            "success",
        ),
    ];
    rows.iter()
        .map(|(id, ts, ip, port, proto, bytes, outcome)| {
            (
                Some((*id).to_owned()),
                json!({
                    "@timestamp": ts, "source": {"ip": ip}, "destination": {"port": port},
                    "network": {"transport": proto, "bytes": bytes}, "event": {"outcome": outcome}
                }),
            )
        })
        .collect()
}

fn hit_ids(response: &Value) -> Vec<String> {
    response["hits"]["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| h["_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_db_operation_answers_the_same_on_every_backend() {
    for backend in backends("operations") {
        let name = backend.name;
        let db = backend.db();
        let index = index_name("flows");
        let outcome = db
            .bulk_index(&index, flows())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((outcome.indexed, outcome.failed), (5, 0), "{name}");
        // Idempotent ids: a retried bulk stores nothing twice.
        db.bulk_index(&index, flows()).await.unwrap();
        assert_eq!(db.count(&index, None).await.unwrap(), 5, "{name}");
        let failures = db
            .count(&index, Some(json!({"term": {"event.outcome": "failure"}})))
            .await
            .unwrap();
        assert_eq!(failures, 2, "{name}");

        let search = |body: Value| {
            let db = db.clone();
            let index = index.clone();
            async move {
                db.search(&index, body.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{name} {body}: {e}"))
            }
        };
        let sorted = json!([{"network.bytes": "asc"}]);
        let cases = [
            (
                json!({"term": {"source.ip": "10.0.0.1"}}),
                vec!["a", "b", "e"],
            ),
            (
                json!({"terms": {"destination.port": [22, 53]}}),
                vec!["d", "a", "b"],
            ),
            (
                json!({"range": {"network.bytes": {"gte": 200, "lt": 7000}}}),
                vec!["b", "c"],
            ),
            (
                json!({"range": {"@timestamp": {"gte": "2024-01-01T01:00:00Z", "lt": "2024-01-01T02:00:00Z"}}}),
                vec!["d", "c"],
            ),
            (
                json!({"bool": {"filter": [{"term": {"network.transport": "tcp"}}], "must_not": [{"term": {"destination.port": 22}}]}}),
                vec!["c", "e"],
            ),
            (
                json!({"bool": {"should": [{"term": {"destination.port": 53}}, {"term": {"destination.port": 443}}], "minimum_should_match": 1}}),
                vec!["d", "c", "e"],
            ),
            (
                json!({"match": {"event.outcome": "success"}}),
                vec!["d", "c", "e"],
            ),
            (
                json!({"exists": {"field": "destination.port"}}),
                vec!["d", "a", "b", "c", "e"],
            ),
            (json!({"ids": {"values": ["b", "e"]}}), vec!["b", "e"]),
        ];
        for (query, expected) in cases {
            let answer = search(json!({"query": query, "sort": sorted})).await;
            assert_eq!(hit_ids(&answer), expected, "{name}: {query}");
            assert_eq!(
                answer["hits"]["total"]["value"],
                json!(expected.len()),
                "{name}: {query}"
            );
        }
        let page = search(
            json!({"size": 2, "sort": [{"network.bytes": "desc"}], "_source": ["network.bytes"]}),
        )
        .await;
        assert_eq!(hit_ids(&page), ["e", "c"], "{name}");
        assert_eq!(
            page["hits"]["hits"][0]["_source"],
            json!({"network": {"bytes": 7000}}),
            "{name}"
        );
        let after = page["hits"]["hits"][1]["sort"].clone();
        let next =
            search(json!({"size": 2, "sort": [{"network.bytes": "desc"}], "search_after": after}))
                .await;
        assert_eq!(hit_ids(&next), ["b", "a"], "{name}");

        let aggs = db
            .search(
                &index,
                json!({"size": 0, "aggs": {
                    "ports": {"terms": {"field": "destination.port", "size": 2}},
                    "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
                        "aggs": {"sources": {"cardinality": {"field": "source.ip"}}}},
                    "bytes": {"sum": {"field": "network.bytes"}}
                }}),
            )
            .await
            .unwrap();
        let aggs = &aggs["aggregations"];
        let ports: Vec<(i64, u64)> = aggs["ports"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
            .collect();
        assert_eq!(ports, [(22, 2), (443, 2)], "{name}");
        let hourly: Vec<(String, u64, u64)> = aggs["hourly"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["key_as_string"].as_str().unwrap().to_owned(),
                    b["doc_count"].as_u64().unwrap(),
                    b["sources"]["value"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            hourly,
            [
                ("2024-01-01T00:00:00.000Z".to_owned(), 2, 1),
                ("2024-01-01T01:00:00.000Z".to_owned(), 2, 2),
                ("2024-01-01T02:00:00.000Z".to_owned(), 1, 1),
            ],
            "{name}"
        );
        assert_eq!(aggs["bytes"]["value"].as_f64(), Some(12380.0), "{name}");

        let indices = db.list_indices(&format!("{index}*")).await.unwrap();
        assert_eq!(indices.len(), 1, "{name}: {indices:?}");
        assert_eq!(
            (indices[0].name.as_str(), indices[0].documents),
            (index.as_str(), 5),
            "{name}"
        );
        let mappings = db.field_mappings(&index).await.unwrap();
        let props = &mappings[&index]["mappings"]["properties"];
        assert_eq!(
            props["source"]["properties"]["ip"]["type"],
            json!("ip"),
            "{name}: {mappings}"
        );
        assert_eq!(props["@timestamp"]["type"], json!("date"), "{name}");
        assert_eq!(
            props["event"]["properties"]["outcome"]["type"],
            json!("keyword"),
            "{name}"
        );

        let missing = db
            .search(&index_name("no-such-index"), json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(missing, CapabilityError::InvalidInput(_)),
            "{name}: {missing}"
        );
        let empty = db
            .search(&index_name("nothing-*"), json!({}))
            .await
            .unwrap();
        assert_eq!(hit_ids(&empty), Vec::<String>::new(), "{name}");
    }
}

fn datasets() -> PathBuf {
    // `SC_DATASETS_DIR` when the checkout is not beside `shared/`.
    std::env::var_os("SC_DATASETS_DIR")
        .map_or_else(|| repo_root().join("../shared/datasets"), PathBuf::from)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/expected/datasets.json"))
        .expect("expected values");
    serde_json::from_str(&text).expect("expected values JSON")
}

/// Runs `sc-host ingest` for one backend.
fn ingest(backend: &Backend, file: &str, index: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("ingest")
        .arg(datasets().join(file))
        .args(["--index", index])
        .envs(backend.env())
        .current_dir(scratch().path())
        .output()
        .expect("run sc-host ingest");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}: ingest {file}: {stdout}\n{}",
        backend.name,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The Stratosphere 011 conn log and the Slips Suricata capture, ingested
/// once per backend and shared by the dataset tests.
fn ingested() -> &'static Vec<Backend> {
    static INGESTED: OnceLock<Vec<Backend>> = OnceLock::new();
    INGESTED.get_or_init(|| {
        let backends = backends("datasets");
        for backend in &backends {
            let summary = ingest(
                backend,
                "stratosphere/011-zeek-mixed/data/conn.log.labeled",
                &index_name("conn"),
            );
            assert!(
                summary.contains("read 9048, indexed 9048, skipped 0"),
                "{}: {summary}",
                backend.name
            );
            let summary = ingest(
                backend,
                "slips/test6-malicious.suricata.json",
                &index_name("suricata"),
            );
            assert!(
                summary.contains("indexed 5000"),
                "{}: {summary}",
                backend.name
            );
        }
        backends
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_datasets_give_the_independently_computed_answers() {
    let expected = expected();
    let conn = &expected["stratosphere_011_zeek_mixed"]["conn"];
    for backend in ingested() {
        let name = backend.name;
        let db = backend.db();
        let index = index_name("conn");
        assert_eq!(
            db.count(&index, None).await.unwrap(),
            conn["total"].as_u64().unwrap(),
            "{name}"
        );
        let answer = db
            .search(
                &index,
                json!({"size": 0, "aggs": {
                    "ports": {"terms": {"field": "destination.port", "size": 10}},
                    "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
                        "aggs": {"sources": {"cardinality": {"field": "source.ip"}}}},
                    "labels": {"terms": {"field": "labels.ground_truth"}}
                }}),
            )
            .await
            .unwrap();
        let aggs = &answer["aggregations"];
        let ports: Vec<Value> = aggs["ports"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| json!([b["key"], b["doc_count"]]))
            .collect();
        let want_ports: Vec<Value> = conn["top10_dest_port"]["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| json!([p["port"], p["count"]]))
            .collect();
        assert_eq!(ports, want_ports, "{name}: top destination ports");
        let hourly: Vec<Value> = aggs["hourly"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                json!([
                    b["key_as_string"].as_str().unwrap().replace(".000Z", "Z"),
                    b["sources"]["value"]
                ])
            })
            .collect();
        let want_hourly: Vec<Value> = conn["distinct_orig_h_per_utc_hour"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(hour, n)| json!([hour, n]))
            .collect();
        assert_eq!(hourly, want_hourly, "{name}: distinct sources per hour");
        // Ground-truth labels are dropped unless --keep-labels.
        assert_eq!(aggs["labels"]["buckets"], json!([]), "{name}");
        let rejected = db
            .count(
                &index,
                Some(json!({"terms": {"zeek.conn.conn_state": ["S0", "REJ"]}})),
            )
            .await
            .unwrap();
        assert_eq!(
            rejected,
            conn["count_conn_state_S0_or_REJ"].as_u64().unwrap(),
            "{name}"
        );

        let suricata = &expected["slips_test6_suricata"];
        let kinds = db
            .search(
                &index_name("suricata"),
                json!({"size": 0, "aggs": {
                    "kinds": {"terms": {"field": "event.dataset", "size": 20}},
                    "signatures": {"terms": {"field": "rule.name", "size": 5}}
                }}),
            )
            .await
            .unwrap();
        for bucket in kinds["aggregations"]["kinds"]["buckets"]
            .as_array()
            .unwrap()
        {
            let kind = bucket["key"]
                .as_str()
                .unwrap()
                .trim_start_matches("suricata.");
            assert_eq!(
                bucket["doc_count"], suricata["count_per_event_type"][kind],
                "{name}: {kind}"
            );
        }
        let top = &kinds["aggregations"]["signatures"]["buckets"][0];
        assert_eq!(
            top["key"], suricata["top5_alert_signature"]["top"][0]["signature"],
            "{name}"
        );
        assert_eq!(
            top["doc_count"], suricata["top5_alert_signature"]["top"][0]["count"],
            "{name}"
        );
    }
}

/// The same queries over the same ingested data give the same hits and
/// buckets on the embedded store and on OpenSearch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_and_opensearch_agree_on_every_supported_clause() {
    let all = ingested();
    let (Some(embedded), Some(opensearch)) = (
        all.iter().find(|b| b.name == "embedded"),
        all.iter().find(|b| b.name == "opensearch"),
    ) else {
        return;
    };
    let (left, right) = (embedded.db(), opensearch.db());
    let index = index_name("conn");
    let sort = json!([{"@timestamp": "asc"}, {"zeek.conn.uid": "asc"}]);
    let queries = [
        json!({"match_all": {}}),
        json!({"term": {"destination.port": 22}}),
        json!({"term": {"source.ip": "45.125.65.126"}}),
        json!({"terms": {"network.transport": ["udp", "icmp"]}}),
        json!({"range": {"network.bytes": {"gt": 1000, "lte": 50000}}}),
        json!({"range": {"@timestamp": {"gte": "2022-06-13T00:00:00Z", "lt": "2022-06-13T06:00:00Z"}}}),
        json!({"range": {"@timestamp": {"gte": "2022-06-13||+2h/h", "lt": "2022-06-13||+3h"}}}),
        json!({"match": {"network.protocol": "ssl"}}),
        json!({"match_phrase": {"zeek.conn.history": "ShADadfF"}}),
        json!({"multi_match": {"query": "REJ", "fields": ["zeek.conn.conn_state", "zeek.conn.history"]}}),
        json!({"exists": {"field": "network.protocol"}}),
        json!({"query_string": {"query": "network.transport:udp AND NOT destination.port:53"}}),
        json!({"ids": {"values": []}}),
        json!({"bool": {"must": [{"term": {"network.transport": "tcp"}}],
            "should": [{"term": {"destination.port": 23}}, {"term": {"destination.port": 445}}],
            "minimum_should_match": 1, "must_not": [{"term": {"event.outcome": "success"}}]}}),
        json!({"bool": {"filter": [{"range": {"destination.port": {"lt": 1024}}}],
            "must_not": [{"terms": {"destination.port": [443, 23]}}]}}),
    ];
    for query in queries {
        let body = json!({"query": query, "size": 25, "sort": sort, "track_total_hits": true});
        let a = left
            .search(&index, body.clone())
            .await
            .unwrap_or_else(|e| panic!("embedded {query}: {e}"));
        let b = right
            .search(&index, body)
            .await
            .unwrap_or_else(|e| panic!("opensearch {query}: {e}"));
        assert_eq!(a["hits"]["total"], b["hits"]["total"], "{query}");
        assert_eq!(hit_ids(&a), hit_ids(&b), "{query}");
        assert_eq!(
            a["hits"]["hits"][0]["sort"], b["hits"]["hits"][0]["sort"],
            "{query}"
        );
    }
    let aggregations = [
        json!({"terms": {"field": "destination.port", "size": 15}, "aggs": {"bytes": {"sum": {"field": "network.bytes"}}}}),
        json!({"terms": {"field": "network.transport", "order": {"_key": "asc"}}, "aggs": {"max": {"max": {"field": "network.bytes"}}}}),
        json!({"date_histogram": {"field": "@timestamp", "fixed_interval": "3h"}}),
        json!({"date_histogram": {"field": "@timestamp", "calendar_interval": "day"}, "aggs": {"sources": {"cardinality": {"field": "source.ip"}}}}),
        json!({"histogram": {"field": "destination.port", "interval": 10000}}),
        json!({"range": {"field": "network.bytes", "ranges": [{"to": 100}, {"from": 100, "to": 10000}, {"from": 10000}]}}),
        json!({"cardinality": {"field": "source.ip"}}),
        json!({"stats": {"field": "network.bytes"}}),
        json!({"value_count": {"field": "network.protocol"}}),
        json!({"avg": {"field": "destination.port"}}),
        json!({"min": {"field": "source.port"}}),
        json!({"filter": {"term": {"network.transport": "udp"}}, "aggs": {"ports": {"terms": {"field": "destination.port", "size": 3}}}}),
        json!({"min": {"field": "@timestamp"}}),
        json!({"max": {"field": "@timestamp"}}),
        json!({"range": {"field": "@timestamp", "ranges": [{"to": 1_655_078_400_000_i64}, {"from": 1_655_078_400_000_i64, "key": "late"}]}}),
        json!({"date_histogram": {"field": "@timestamp", "calendar_interval": "month"}, "aggs": {"sources": {"cardinality": {"field": "source.ip"}}}}),
        json!({"terms": {"field": "network.transport"}, "aggs": {"years": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1y", "min_doc_count": 1}}}}),
        json!({"terms": {"field": "network.transport", "order": {"_key": "asc"}}, "aggs": {"first": {"top_hits": {"size": 2, "sort": sort, "_source": ["source.ip"]}}}}),
    ];
    for agg in aggregations {
        let body = json!({"size": 0, "aggs": {"x": agg}});
        let a = left
            .search(&index, body.clone())
            .await
            .unwrap_or_else(|e| panic!("embedded {agg}: {e}"));
        let b = right
            .search(&index, body)
            .await
            .unwrap_or_else(|e| panic!("opensearch {agg}: {e}"));
        assert_eq!(
            normalize(&a["aggregations"]["x"]),
            normalize(&b["aggregations"]["x"]),
            "{agg}"
        );
    }
    // Percentiles are sketches on both sides (DDSketch here, t-digest on a
    // cluster; osmem's estimate is off by a third): check the embedded answer
    // against the exact rank statistic, read by sorting on OpenSearch.
    let with_bytes = json!({"exists": {"field": "network.bytes"}});
    let n = right.count(&index, Some(with_bytes.clone())).await.unwrap();
    let percentiles = json!({"size": 0, "aggs": {"p": {"percentiles": {"field": "network.bytes", "percents": [50, 95]}}}});
    let estimated = left.search(&index, percentiles).await.unwrap();
    for (percent, key) in [(0.50, "50.0"), (0.95, "95.0")] {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank"
        )]
        let rank = (n as f64 * percent) as u64;
        let at_rank = right
            .search(&index, json!({"query": with_bytes, "sort": [{"network.bytes": "asc"}], "from": rank, "size": 1}))
            .await
            .unwrap();
        let exact = at_rank["hits"]["hits"][0]["_source"]["network"]["bytes"]
            .as_f64()
            .unwrap();
        let estimate = estimated["aggregations"]["p"]["values"][key]
            .as_f64()
            .unwrap();
        assert!(
            (estimate - exact).abs() <= 0.02 * exact.max(1.0),
            "p{key}: embedded {estimate}, exact {exact}"
        );
    }
}

/// Numbers compared as numbers (1 and 1.0 alike); `_score` left out.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(value.clone(), |f| json!(f)),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "_score" | "max_score" | "sort"))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A cluster stand-in that answers each request with the next canned status.
async fn canned_cluster(statuses: Vec<u16>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::StatusCode;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let calls = seen.clone();
        let statuses = statuses.clone();
        async move {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
            let body = if status == 200 {
                json!({"count": 7})
            } else {
                json!({"error": {"type": "x", "reason": format!("canned {status}")}, "status": status})
            };
            (StatusCode::from_u16(status).unwrap(), axum::Json(body))
        }
    });
    let url = crate::support::serve(app).await;
    (url, calls)
}

fn cluster_db(url: &str, retries: u32) -> Arc<dyn DbBackend> {
    let mut config = Config::default();
    config.db.provider = DbProvider::Opensearch;
    config.db.opensearch = ClusterConfig {
        retries,
        ..cluster_config(url)
    };
    open_db(&config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_requests_retry_on_429_and_5xx_and_name_the_fix_on_refusal() {
    let (url, calls) = canned_cluster(vec![429, 503, 200]).await;
    assert_eq!(cluster_db(&url, 3).count("logs-*", None).await.unwrap(), 7);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);

    let (url, calls) = canned_cluster(vec![503]).await;
    let err = cluster_db(&url, 1).count("logs-*", None).await.unwrap_err();
    assert!(
        matches!(err, CapabilityError::Backend(ref m) if m.contains("canned 503")),
        "{err}"
    );
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one try and one retry"
    );

    let (url, _) = canned_cluster(vec![401]).await;
    let err = cluster_db(&url, 3).count("logs-*", None).await.unwrap_err();
    assert!(err.to_string().contains("db.opensearch.username"), "{err}");

    let err = cluster_db("http://127.0.0.1:9", 0)
        .count("logs-*", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("db.opensearch.host"), "{err}");
}
