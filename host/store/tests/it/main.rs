//! The embedded store end to end: index, search, aggregate, reopen.

use sc_store::Store;
use serde_json::{Value, json};

mod columns;

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
            "ssh login failed for root",
        ),
        (
            "b",
            "2024-01-01T00:20:00.000Z",
            "10.0.0.1",
            22,
            "tcp",
            200,
            "failure",
            "ssh login failed for admin",
        ),
        (
            "c",
            "2024-01-01T01:05:00.000Z",
            "10.0.0.2",
            443,
            "tcp",
            5000,
            "success",
            "tls session to example.com",
        ),
        (
            "d",
            "2024-01-01T01:30:00.000Z",
            "10.0.0.3",
            53,
            "udp",
            80,
            "success",
            "dns query example.com",
        ),
        (
            "e",
            "2024-01-01T02:45:00.000Z",
            "10.0.0.1",
            443,
            "tcp",
            7000,
            "success",
            "tls session to evil.test",
        ),
    ];
    rows.iter()
        .map(|(id, ts, ip, port, proto, bytes, outcome, message)| {
            (Some((*id).to_owned()), json!({
                "@timestamp": ts, "source": {"ip": ip}, "destination": {"port": port},
                "network": {"transport": proto, "bytes": bytes}, "event": {"outcome": outcome}, "message": message
            }))
        })
        .collect()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let outcome = store.bulk("logs-test", flows()).unwrap();
    assert_eq!(outcome.indexed, 5);
    (dir, store)
}

fn ids(response: &Value) -> Vec<String> {
    response["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_owned())
        .collect()
}

fn search(store: &Store, body: Value) -> Value {
    store
        .search("logs-*", &body)
        .unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn sorted_ids(store: &Store, query: Value) -> Vec<String> {
    ids(&search(
        store,
        json!({"query": query, "sort": [{"_id": "asc"}]}),
    ))
}

#[test]
fn every_supported_clause_selects_the_right_documents() {
    let (_dir, store) = store();
    let cases = [
        (json!({"match_all": {}}), vec!["a", "b", "c", "d", "e"]),
        (
            json!({"term": {"source.ip": "10.0.0.1"}}),
            vec!["a", "b", "e"],
        ),
        (json!({"term": {"destination.port": 443}}), vec!["c", "e"]),
        (json!({"term": {"destination.port": "443"}}), vec!["c", "e"]),
        (
            json!({"terms": {"destination.port": [22, 53]}}),
            vec!["a", "b", "d"],
        ),
        (
            json!({"range": {"network.bytes": {"gte": 200, "lt": 7000}}}),
            vec!["b", "c"],
        ),
        (
            json!({"range": {"@timestamp": {"gte": "2024-01-01T01:00:00Z", "lte": "2024-01-01T02:00:00Z"}}}),
            vec!["c", "d"],
        ),
        (
            json!({"range": {"@timestamp": {"gte": "2024-01-01||+1h"}}}),
            vec!["c", "d", "e"],
        ),
        (json!({"match": {"message": "login root"}}), vec!["a", "b"]),
        (
            json!({"match": {"message": {"query": "login root", "operator": "and"}}}),
            vec!["a"],
        ),
        (
            json!({"match_phrase": {"message": "session to evil"}}),
            vec!["e"],
        ),
        (
            json!({"match": {"event.outcome": "failure"}}),
            vec!["a", "b"],
        ),
        (
            json!({"multi_match": {"query": "udp", "fields": ["network.transport", "message"]}}),
            vec!["d"],
        ),
        (
            json!({"exists": {"field": "destination.port"}}),
            vec!["a", "b", "c", "d", "e"],
        ),
        (json!({"exists": {"field": "user.name"}}), vec![]),
        (json!({"ids": {"values": ["b", "d", "zz"]}}), vec!["b", "d"]),
        (
            json!({"query_string": {"query": "event.outcome:success AND NOT network.transport:udp"}}),
            vec!["c", "e"],
        ),
        (
            json!({"query_string": {"query": "destination.port:[400 TO 500]"}}),
            vec!["c", "e"],
        ),
        (
            json!({"bool": {"must": [{"term": {"network.transport": "tcp"}}], "must_not": [{"term": {"destination.port": 22}}]}}),
            vec!["c", "e"],
        ),
        (
            json!({"bool": {"should": [{"term": {"destination.port": 22}}, {"term": {"source.ip": "10.0.0.1"}}], "minimum_should_match": 2}}),
            vec!["a", "b"],
        ),
        (
            json!({"bool": {"should": [{"term": {"destination.port": 53}}, {"term": {"destination.port": 22}}]}}),
            vec!["a", "b", "d"],
        ),
        (
            json!({"bool": {"filter": {"term": {"network.transport": "tcp"}}, "should": [{"term": {"destination.port": 53}}]}}),
            vec!["a", "b", "c", "e"],
        ),
        (
            json!({"bool": {"must_not": {"term": {"network.transport": "tcp"}}}}),
            vec!["d"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(sorted_ids(&store, query.clone()), expected, "{query}");
    }
}

#[test]
fn unsupported_clauses_are_named_not_guessed() {
    let (_dir, store) = store();
    for (body, named) in [
        (json!({"query": {"fuzzy": {"message": "x"}}}), "fuzzy"),
        (
            json!({"query": {"bool": {"must": [{"regexp": {"a": "b"}}]}}}),
            "regexp",
        ),
        (
            json!({"aggs": {"x": {"significant_terms": {"field": "a"}}}}),
            "significant_terms",
        ),
        (
            json!({"aggs": {"x": {"terms": {"field": "a", "include": "b.*"}}}}),
            "include",
        ),
        (json!({"highlight": {}}), "highlight"),
        (
            json!({"aggs": {"x": {"terms": {"field": "message"}}}}),
            "text field",
        ),
    ] {
        let err = store.search("logs-*", &body).unwrap_err().to_string();
        assert!(err.contains(named), "{body}: {err}");
    }
}

#[test]
fn sorting_paging_and_source_filtering() {
    let (_dir, store) = store();
    let page1 = search(
        &store,
        json!({"size": 2, "sort": [{"network.bytes": "desc"}], "_source": ["network.bytes"]}),
    );
    assert_eq!(ids(&page1), ["e", "c"]);
    assert_eq!(
        page1["hits"]["hits"][0]["_source"],
        json!({"network": {"bytes": 7000}})
    );
    assert_eq!(page1["hits"]["hits"][1]["sort"], json!([5000]));
    assert_eq!(
        page1["hits"]["total"],
        json!({"value": 5, "relation": "eq"})
    );
    let after = page1["hits"]["hits"][1]["sort"].clone();
    let page2 = search(
        &store,
        json!({"size": 2, "sort": [{"network.bytes": "desc"}], "search_after": after}),
    );
    assert_eq!(ids(&page2), ["b", "a"]);
    let by_time = search(&store, json!({"size": 1, "sort": [{"@timestamp": "asc"}]}));
    assert_eq!(
        by_time["hits"]["hits"][0]["sort"],
        json!([1_704_067_800_000_i64])
    );
    let from = search(&store, json!({"from": 4, "size": 5, "sort": ["_id"]}));
    assert_eq!(ids(&from), ["e"]);
}

#[test]
fn aggregations_answer_in_the_opensearch_shape() {
    let (_dir, store) = store();
    let response = search(
        &store,
        json!({"size": 0, "aggs": {
            "ports": {"terms": {"field": "destination.port", "size": 2}, "aggs": {"bytes": {"sum": {"field": "network.bytes"}}}},
            "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}, "aggs": {"sources": {"cardinality": {"field": "source.ip"}}}},
            "sizes": {"range": {"field": "network.bytes", "ranges": [{"to": 1000}, {"from": 1000}]}},
            "bytes": {"stats": {"field": "network.bytes"}},
            "failures": {"filter": {"term": {"event.outcome": "failure"}}, "aggs": {"who": {"terms": {"field": "source.ip"}}}},
            "latest": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}], "_source": ["message"]}},
            "p": {"percentiles": {"field": "network.bytes", "percents": [50]}},
            "n": {"value_count": {"field": "source.ip"}}
        }}),
    );
    let aggs = &response["aggregations"];
    assert_eq!(response["hits"]["hits"], json!([]));
    let ports = &aggs["ports"]["buckets"];
    assert_eq!(ports[0]["key"], json!(22));
    assert_eq!(ports[0]["doc_count"], json!(2));
    assert_eq!(ports[0]["bytes"]["value"], json!(300.0));
    assert_eq!(ports[1]["key"], json!(443));
    assert_eq!(aggs["ports"]["sum_other_doc_count"], json!(1));
    let hourly = aggs["hourly"]["buckets"].as_array().unwrap();
    let counts: Vec<_> = hourly
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
        counts,
        [
            ("2024-01-01T00:00:00.000Z".to_owned(), 2, 1),
            ("2024-01-01T01:00:00.000Z".to_owned(), 2, 2),
            ("2024-01-01T02:00:00.000Z".to_owned(), 1, 1)
        ]
    );
    assert_eq!(hourly[0]["key"], json!(1_704_067_200_000_i64));
    assert_eq!(aggs["sizes"]["buckets"][0]["doc_count"], json!(3));
    assert_eq!(aggs["sizes"]["buckets"][1]["doc_count"], json!(2));
    assert_eq!(aggs["bytes"]["max"], json!(7000.0));
    assert_eq!(aggs["bytes"]["count"], json!(5));
    assert_eq!(aggs["failures"]["doc_count"], json!(2));
    assert_eq!(
        aggs["failures"]["who"]["buckets"][0]["key"],
        json!("10.0.0.1")
    );
    let latest = &aggs["latest"]["hits"]["hits"][0];
    assert_eq!(latest["_id"], json!("e"));
    assert_eq!(
        latest["_source"],
        json!({"message": "tls session to evil.test"})
    );
    assert_eq!(aggs["n"]["value"], json!(5));
    assert!(
        aggs["p"]["values"]["50.0"].as_f64().is_some(),
        "{}",
        aggs["p"]
    );
}

#[test]
fn top_hits_inside_buckets_are_the_buckets_own() {
    let (_dir, store) = store();
    let response = search(
        &store,
        json!({"size": 0, "aggs": {"by_ip": {"terms": {"field": "source.ip", "order": {"_key": "asc"}},
        "aggs": {"first": {"top_hits": {"size": 1, "sort": [{"@timestamp": "asc"}]}}}}}}),
    );
    let buckets = response["aggregations"]["by_ip"]["buckets"]
        .as_array()
        .unwrap();
    let firsts: Vec<_> = buckets
        .iter()
        .map(|b| b["first"]["hits"]["hits"][0]["_id"].as_str().unwrap())
        .collect();
    assert_eq!(firsts, ["a", "c", "d"]);
}

#[test]
fn reindexing_the_same_ids_keeps_one_copy_and_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&dir.path().join("store")).unwrap();
        store.bulk("logs-test", flows()).unwrap();
        store.bulk("logs-test", flows()).unwrap();
        assert_eq!(store.count("logs-test", None).unwrap(), 5);
        store.bulk("other", vec![(None, json!({"x": 1}))]).unwrap();
    }
    let store = Store::open(&dir.path().join("store")).unwrap();
    assert_eq!(store.count("logs-test", None).unwrap(), 5);
    assert_eq!(store.count("*", None).unwrap(), 6);
    assert_eq!(
        store.indices("*").unwrap(),
        [("logs-test".to_owned(), 5), ("other".to_owned(), 1)]
    );
    let mapping = store.mappings("logs-test").unwrap();
    let props = &mapping["logs-test"]["mappings"]["properties"];
    assert_eq!(props["source"]["properties"]["ip"]["type"], json!("ip"));
    assert_eq!(props["@timestamp"]["type"], json!("date"));
    assert_eq!(props["message"]["type"], json!("text"));
}

#[test]
fn index_names_and_patterns_behave_like_a_cluster() {
    let (_dir, store) = store();
    assert!(
        store
            .bulk("Bad Name", vec![])
            .unwrap_err()
            .to_string()
            .contains("lowercase")
    );
    assert!(
        store
            .search("missing", &json!({}))
            .unwrap_err()
            .to_string()
            .contains("no index named `missing`")
    );
    let empty = store.search("nothing-*", &json!({})).unwrap();
    assert_eq!(empty["hits"]["total"]["value"], json!(0));
    let refused = store
        .bulk("logs-test", vec![(Some("x".into()), json!([1]))])
        .unwrap();
    assert_eq!((refused.indexed, refused.failed), (0, 1));
}

#[test]
fn dates_answer_in_milliseconds_and_calendar_months_have_their_own_lengths() {
    let (_dir, store) = store();
    // One flow exactly on an hour, two in later months: 2024-02-29 (leap
    // day) and 2024-04-30.
    let later = |id: &str, ts: &str| {
        (
            Some(id.to_owned()),
            json!({"@timestamp": ts, "source": {"ip": "10.0.0.9"}, "network": {"bytes": 1}}),
        )
    };
    store
        .bulk(
            "logs-test",
            vec![
                later("h", "2024-01-01T01:00:00.000Z"),
                later("f", "2024-02-29T23:59:59.999Z"),
                later("g", "2024-04-30T12:00:00.000Z"),
            ],
        )
        .unwrap();
    let response = search(
        &store,
        json!({"size": 0, "aggs": {
            "first": {"min": {"field": "@timestamp"}},
            "span": {"stats": {"field": "@timestamp"}},
            "halves": {"range": {"field": "@timestamp", "ranges": [
                {"to": 1_704_070_800_000_i64},
                {"from": 1_704_070_800_000_i64, "to": "2024-03-01T00:00:00Z", "key": "early"},
                {"from": "2024-03-01T00:00:00Z"}
            ]}},
            "monthly": {"date_histogram": {"field": "@timestamp", "calendar_interval": "month"},
                        "aggs": {"sources": {"cardinality": {"field": "source.ip"}},
                                 "last": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}}}},
            "busy_months": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1M", "min_doc_count": 1}},
            "quarterly": {"date_histogram": {"field": "@timestamp", "calendar_interval": "quarter"}},
            "yearly": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1y"}}
        }}),
    );
    let aggs = &response["aggregations"];
    assert_eq!(aggs["first"]["value"], json!(1_704_067_800_000.0_f64));
    assert_eq!(aggs["first"]["value_as_string"], "2024-01-01T00:10:00.000Z");
    assert_eq!(aggs["span"]["max_as_string"], "2024-04-30T12:00:00.000Z");
    assert_eq!(aggs["span"]["count"], json!(8));

    let halves = aggs["halves"]["buckets"].as_array().unwrap();
    let shape: Vec<(&str, u64)> = halves
        .iter()
        .map(|b| (b["key"].as_str().unwrap(), b["doc_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        shape,
        [
            ("*-2024-01-01T01:00:00.000Z", 2),
            ("early", 5),
            ("2024-03-01T00:00:00.000Z-*", 1)
        ],
        "the flow at 01:00 sharp is above the bound, the leap-day flow below March"
    );
    assert_eq!(halves[1]["from"], json!(1_704_070_800_000.0_f64));
    assert_eq!(halves[1]["to_as_string"], "2024-03-01T00:00:00.000Z");

    // (key_as_string, doc_count) of each bucket of a calendar aggregation.
    let periods = |name: &str| -> Vec<(String, u64)> {
        aggs[name]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["key_as_string"].as_str().unwrap().to_owned(),
                    b["doc_count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let monthly = periods("monthly");
    assert_eq!(
        monthly,
        [
            ("2024-01-01T00:00:00.000Z".to_owned(), 6),
            ("2024-02-01T00:00:00.000Z".to_owned(), 1),
            ("2024-03-01T00:00:00.000Z".to_owned(), 0),
            ("2024-04-01T00:00:00.000Z".to_owned(), 1)
        ],
        "an empty month between busy ones stays, as on a cluster"
    );
    let january = &aggs["monthly"]["buckets"][0];
    assert_eq!(january["key"], json!(1_704_067_200_000_i64));
    assert_eq!(january["sources"]["value"], json!(4));
    assert_eq!(
        january["last"]["hits"]["hits"][0]["_id"], "e",
        "top_hits sees only its month"
    );
    assert_eq!(
        aggs["monthly"]["buckets"][1]["last"]["hits"]["hits"][0]["_id"],
        "f"
    );
    let busy = periods("busy_months");
    assert_eq!(busy.len(), 3, "{busy:?}");
    let quarterly = periods("quarterly");
    assert_eq!(
        quarterly,
        [
            ("2024-01-01T00:00:00.000Z".to_owned(), 7),
            ("2024-04-01T00:00:00.000Z".to_owned(), 1)
        ]
    );
    assert_eq!(aggs["yearly"]["buckets"][0]["doc_count"], json!(8));
    assert_eq!(aggs["yearly"]["buckets"].as_array().unwrap().len(), 1);

    // No documents: no buckets.
    let none = search(
        &store,
        json!({"size": 0, "query": {"term": {"source.ip": "192.0.2.1"}},
               "aggs": {"monthly": {"date_histogram": {"field": "@timestamp", "calendar_interval": "month"}}}}),
    );
    assert_eq!(none["aggregations"]["monthly"]["buckets"], json!([]));
}

#[test]
fn two_processes_on_one_store_take_turns_writing() {
    // Two `Store`s on one directory hold the index's lock file as two
    // processes would (a running service and an `sc-host ingest`).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let service = Store::open(&path).unwrap();
    let ingest = Store::open(&path).unwrap();
    service
        .bulk("logs-baseline", flows()[..2].to_vec())
        .unwrap();
    let many: Vec<(Option<String>, Value)> = (0..20_000)
        .map(|i| {
            (
                Some(format!("n{i}")),
                json!({"@timestamp": "2024-01-02T00:00:00Z", "n": i}),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        let loading = scope.spawn(|| ingest.bulk("logs-bulk", many).unwrap());
        // Written while the other load may hold the lock: it waits its turn.
        let written = service
            .bulk("logs-baseline", flows()[2..].to_vec())
            .unwrap();
        assert_eq!(written.indexed, 3);
        assert_eq!(loading.join().unwrap().indexed, 20_000);
    });
    // Re-indexing through the other store still replaces, never duplicates.
    ingest.bulk("logs-baseline", flows()).unwrap();
    let reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.count("logs-baseline", None).unwrap(), 5);
    assert_eq!(reopened.count("logs-bulk", None).unwrap(), 20_000);
    let names: Vec<String> = reopened
        .indices("logs-*")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["logs-baseline", "logs-bulk"],
        "both catalogs survive"
    );
}

#[test]
fn a_staged_load_is_seen_at_its_commit_and_keeps_one_copy_per_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::open(&path).unwrap();
    store.stage("logs-load", flows()[..3].to_vec()).unwrap();
    // The same ids again before any commit, and a second index.
    store.stage("logs-load", flows()).unwrap();
    store
        .stage("logs-other", vec![(Some("x".into()), json!({"n": 1}))])
        .unwrap();
    assert_eq!(
        store.count("*", None).unwrap(),
        0,
        "nothing before the commit"
    );
    store.commit().unwrap();
    assert_eq!(store.count("logs-load", None).unwrap(), 5);
    assert_eq!(store.count("logs-other", None).unwrap(), 1);
    let mapping = store.mappings("logs-load").unwrap();
    assert_eq!(
        mapping["logs-load"]["mappings"]["properties"]["source"]["properties"]["ip"]["type"],
        json!("ip"),
        "the catalog came with the commit"
    );

    // Staged again: closing the writer commits, as an ingest's end does.
    store.stage("logs-load", flows()).unwrap();
    store
        .stage("logs-late", vec![(Some("y".into()), json!({"n": 2}))])
        .unwrap();
    store.close_writer().unwrap();
    let reopened = Store::open(&path).unwrap();
    assert_eq!(reopened.count("logs-load", None).unwrap(), 5);
    assert_eq!(reopened.count("logs-late", None).unwrap(), 1);

    // Left staged and idle, the writer commits before it lets the lock go.
    store
        .stage("logs-idle", vec![(Some("z".into()), json!({"n": 3}))])
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while Store::open(&path)
        .unwrap()
        .count("logs-idle*", None)
        .unwrap()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle writer never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
