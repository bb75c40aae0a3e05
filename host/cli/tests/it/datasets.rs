//! Real data through the real binary: `sc-host ingest` loads the
//! Stratosphere Lab (CTU Prague) Zeek conn log and the Slips Suricata
//! capture from the shared datasets into each store, and queries give the
//! answers `tests/fixtures/expected/expected_values.py` computed
//! independently.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use sc_testkit::stores::{Backend, backends, hit_ids, index_name, scratch};
use sc_testkit::{datasets_dir, repo_root};

fn expected() -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/expected/datasets.json"))
        .expect("expected values");
    serde_json::from_str(&text).expect("expected values JSON")
}

/// Runs `sc-host ingest` for one backend.
fn ingest(backend: &Backend, file: &str, index: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("ingest")
        .arg(datasets_dir().join(file))
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
