//! The `db` capability on all three backends with the same assertions:
//! the embedded store, OpenSearch (osmem-server, or a real cluster at
//! `SC_TEST_OPENSEARCH_URL`) and Elasticsearch (noida-db, or a real cluster
//! at `SC_TEST_ELASTICSEARCH_URL`). `just test` starts the servers; a run
//! without them fails and says so, unless `SC_TEST_SKIP_CLUSTERS=1`.

use std::sync::Arc;

use serde_json::{Value, json};

use sc_backends::open_db;
use sc_core::CapabilityError;
use sc_core::config::{ClusterConfig, Config, DbProvider};
use sc_core::db::DbBackend;
use sc_testkit::cluster_config;
use sc_testkit::stores::{backends, hit_ids, index_name};

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
    let url = sc_testkit::serve(app).await;
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
