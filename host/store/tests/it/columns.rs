//! Answers read from the fast columns: `docvalue_fields`, and two-level
//! keyword `terms` counted in one pass, which must answer exactly as
//! tantivy's engine does.

use serde_json::{Value, json};

use super::{ids, search, store};

#[test]
fn docvalue_fields_answer_as_a_cluster_without_the_source() {
    let (_dir, store) = store();
    let answer = search(
        &store,
        json!({"size": 2, "sort": [{"@timestamp": "asc"}], "_source": false,
            "docvalue_fields": ["source.ip", "network.bytes", {"field": "@timestamp", "format": "epoch_millis"}, "no.such.field"]}),
    );
    let hits = answer["hits"]["hits"].as_array().unwrap();
    assert_eq!(ids(&answer), ["a", "b"]);
    assert_eq!(hits[0]["_index"], "logs-test");
    assert!(hits[0].get("_source").is_none(), "{}", hits[0]);
    // A field no document has is left out, as on a cluster.
    assert_eq!(
        hits[1]["fields"],
        json!({"source.ip": ["10.0.0.1"], "network.bytes": [200], "@timestamp": ["1704068400000"]})
    );
    let iso = search(
        &store,
        json!({"size": 1, "sort": [{"@timestamp": "desc"}], "docvalue_fields": ["@timestamp"]}),
    );
    let hit = &iso["hits"]["hits"][0];
    assert_eq!(
        hit["fields"]["@timestamp"],
        json!(["2024-01-01T02:45:00.000Z"])
    );
    assert_eq!(
        hit["_source"]["source"]["ip"], "10.0.0.1",
        "the source still comes by default"
    );
    // `stored_fields: _none_` leaves out `_id` as well, as a cluster does.
    let bare = search(
        &store,
        json!({"size": 1, "sort": ["_doc"], "stored_fields": "_none_", "docvalue_fields": ["destination.port"]}),
    );
    assert_eq!(
        bare["hits"]["hits"][0],
        json!({"_index": "logs-test", "_score": null, "fields": {"destination.port": [22]}, "sort": [0]})
    );
    let err = store
        .search("logs-*", &json!({"stored_fields": ["message"]}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("_none_"), "{err}");
    for (spec, named) in [
        (json!(["message"]), "text field"),
        (
            json!([{"field": "@timestamp", "format": "yyyy"}]),
            "epoch_millis",
        ),
        (json!("source.ip"), "must be a list"),
    ] {
        let err = store
            .search("logs-*", &json!({"docvalue_fields": spec}))
            .unwrap_err()
            .to_string();
        assert!(err.contains(named), "{spec}: {err}");
    }
}

/// Documents of skewed (source, destination, port) pairs, as a network has.
fn pairs(n: usize) -> Vec<(Option<String>, Value)> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let source = (state % 7) * (state % 5);
            let destination = (state >> 20) % (3 + source);
            let mut doc = json!({"@timestamp": "2024-01-01T00:00:00.000Z",
                "source": {"ip": format!("10.0.0.{source}")}, "destination": {"ip": format!("192.0.2.{destination}")}});
            if i % 10 == 0 {
                // Some documents lack the inner field.
                doc["destination"] = json!({});
            }
            (Some(format!("p{i}")), doc)
        })
        .collect()
}

#[test]
fn two_level_keyword_terms_answer_as_the_aggregation_engine_does() {
    let dir = tempfile::tempdir().unwrap();
    let pairs_store = sc_store::Store::open(&dir.path().join("store")).unwrap();
    // Two commits: two segments, whose term ordinals differ.
    let docs = pairs(3_000);
    pairs_store
        .bulk("logs-pairs", docs[..1_700].to_vec())
        .unwrap();
    pairs_store
        .bulk("logs-pairs", docs[1_700..].to_vec())
        .unwrap();
    let request = |order: Option<Value>, outer: u64, inner: u64, min: u64| {
        let mut outer_terms = json!({"field": "source.ip", "size": outer});
        let mut inner_terms =
            json!({"field": "destination.ip", "size": inner, "min_doc_count": min});
        if let Some(order) = order {
            // The default order, spelled out: the engine answers it.
            outer_terms["order"] = order.clone();
            inner_terms["order"] = order;
        }
        json!({"size": 0, "query": {"range": {"@timestamp": {"gte": "2023-12-31T00:00:00Z"}}},
            "aggs": {"by_source": {"terms": outer_terms, "aggs": {"by_destination": {"terms": inner_terms}}},
                "n": {"value_count": {"field": "source.ip"}}}})
    };
    for (outer, inner, min) in [(10, 5, 1), (3, 2, 40), (50, 50, 1), (1, 1, 1_000)] {
        let counted = search(&pairs_store, request(None, outer, inner, min));
        let mut engine = search(
            &pairs_store,
            request(Some(json!({"_count": "desc"})), outer, inner, min),
        );
        // Every inner bucket a document falls in counts: shown, or in
        // `sum_other_doc_count`, those under `min_doc_count` too, as a
        // cluster counts them (tantivy leaves those out).
        for bucket in counted["aggregations"]["by_source"]["buckets"]
            .as_array()
            .unwrap()
        {
            let inner = &bucket["by_destination"];
            let shown: u64 = inner["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["doc_count"].as_u64().unwrap())
                .sum();
            let with_destination = pairs_store
                .count("logs-pairs", Some(&json!({"bool": {"filter": [
                    {"term": {"source.ip": bucket["key"]}}, {"exists": {"field": "destination.ip"}}]}})))
                .unwrap();
            assert_eq!(
                shown + inner["sum_other_doc_count"].as_u64().unwrap(),
                with_destination,
                "{bucket}"
            );
        }
        if min > 1 {
            let ours = &counted["aggregations"]["by_source"]["buckets"];
            for (i, bucket) in engine["aggregations"]["by_source"]["buckets"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .enumerate()
            {
                bucket["by_destination"]["sum_other_doc_count"] =
                    ours[i]["by_destination"]["sum_other_doc_count"].clone();
            }
        }
        assert_eq!(
            counted["aggregations"], engine["aggregations"],
            "size {outer}/{inner}, min_doc_count {min}"
        );
        assert!(counted["aggregations"]["n"]["value"].as_u64() > Some(0));
    }
    // By hand on the five flows: 10.0.0.1 has three, all tcp; the two of
    // the other sources are left out.
    let (_dir, store) = store();
    let answer = search(
        &store,
        json!({"size": 0, "aggs": {"s": {"terms": {"field": "source.ip", "size": 1},
            "aggs": {"t": {"terms": {"field": "network.transport", "size": 1}}}}}}),
    );
    assert_eq!(
        answer["aggregations"]["s"],
        json!({"doc_count_error_upper_bound": 0, "sum_other_doc_count": 2, "buckets": [
            {"key": "10.0.0.1", "doc_count": 3, "t": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                "buckets": [{"key": "tcp", "doc_count": 3}]}}]})
    );
}
