//! `beacon_detector`: RITA-style beacon scoring of source → destination
//! pairs over a window, written as AD-shaped anomaly results.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use sc_detection::beacon::{self, BeaconScore, Connection};
use sc_detection::net::Cidr;
use sc_detection::records::{AnomalyResult, EntityField, RESULTS_INDEX, ResultDetail};
use sc_detection::{DataKind, Role, Settings, SourceCatalog, discover, observe, step};
use securityclaw_sdk::{
    CapabilityError, Invocation, Outcome, Skill, SkillError, Timestamp, db, export_skill,
};

mod hits;

use hits::Scalar;

struct BeaconDetector;

#[derive(Deserialize)]
struct Params {
    window_hours: u64,
    max_pairs: usize,
}

const DETECTOR: &str = "securityclaw-beacon";

/// The pairs with enough answered connections, busiest first.
fn candidates(
    source: &SourceCatalog,
    query: &Value,
    allow: &[Cidr],
) -> Result<Vec<(String, String, u64)>, SkillError> {
    let (Some(src), Some(dst)) = (
        source.field(Role::SourceIp),
        source.field(Role::DestinationIp),
    ) else {
        return Ok(Vec::new());
    };
    let aggs = json!({"by_source": {"terms": {"field": src, "size": observe::MAX_ENTITIES},
        "aggs": {"by_destination": {"terms": {"field": dst, "size": 50, "min_doc_count": beacon::MIN_CONNECTIONS}}}}});
    let body = json!({"size": 0, "query": query, "aggs": aggs});
    let text = step(
        "finding busy pairs",
        db::search_raw(&source.pattern(), &body),
    )?;
    // Typed, not a JSON tree: the answer holds tens of thousands of buckets.
    let answer: PairsAnswer<'_> = serde_json::from_str(&text).map_err(|e| {
        CapabilityError::Backend(format!(
            "the busy pairs aggregation answer does not have the expected shape: {e}"
        ))
    })?;
    let mut pairs = Vec::new();
    for s in answer.aggregations.by_source.buckets {
        let Some(src) = s.key.text() else {
            continue;
        };
        for d in s.by_destination.map(|d| d.buckets).unwrap_or_default() {
            let Some(dst) = d.key.text() else {
                continue;
            };
            let allowed = dst
                .parse()
                .is_ok_and(|ip| allow.iter().any(|net| net.contains(ip)));
            if d.doc_count >= beacon::MIN_CONNECTIONS as u64 && !allowed {
                pairs.push((src.to_owned(), dst.to_owned(), d.doc_count));
            }
        }
    }
    pairs.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    Ok(pairs)
}

/// The busy pairs aggregation's answer.
#[derive(Deserialize)]
struct PairsAnswer<'a> {
    #[serde(borrow)]
    aggregations: PairsAggs<'a>,
}

#[derive(Deserialize)]
struct PairsAggs<'a> {
    #[serde(borrow)]
    by_source: Buckets<'a>,
}

#[derive(Deserialize)]
struct Buckets<'a> {
    #[serde(borrow)]
    buckets: Vec<Bucket<'a>>,
}

/// A bucket of either level; only source buckets hold destinations.
#[derive(Deserialize)]
struct Bucket<'a> {
    #[serde(borrow)]
    key: Scalar<'a>,
    doc_count: u64,
    #[serde(borrow, default)]
    by_destination: Option<Buckets<'a>>,
}

/// Hits one search may return.
const PAGE: u64 = 10_000;

/// Consecutive runs of pairs whose connection counts fit in one page (a
/// pair busier than a page alone), so one search reads each run.
fn batches(pairs: &[(String, String, u64)]) -> Vec<&[(String, String, u64)]> {
    let mut out = Vec::new();
    let mut rest = pairs;
    while !rest.is_empty() {
        let mut take = 1;
        let mut hits = rest[0].2;
        while take < rest.len() && hits + rest[take].2 <= PAGE {
            hits += rest[take].2;
            take += 1;
        }
        let (batch, after) = rest.split_at(take);
        out.push(batch);
        rest = after;
    }
    out
}

/// The connections of a batch of pairs in the window, by pair, in one
/// search (a search per pair was most of a run's time), reading only the
/// scored fields' doc values: no stored document is opened, and the pair is
/// named as the aggregation named it (a cluster's `ip` text).
fn connections(
    source: &SourceCatalog,
    query: &Value,
    pairs: &[(String, String, u64)],
) -> Result<BTreeMap<(String, String), Vec<Connection>>, SkillError> {
    let ts = source.field(Role::Timestamp).unwrap_or("@timestamp");
    let bytes = source.field(Role::Bytes);
    let (out_bytes, in_bytes) = (
        source.field(Role::SourceBytes),
        source.field(Role::DestinationBytes),
    );
    let duration = source.field(Role::Duration);
    let mut by_pair: BTreeMap<(String, String), Vec<Connection>> = BTreeMap::new();
    let (Some(src_field), Some(dst_field)) = (
        source.field(Role::SourceIp),
        source.field(Role::DestinationIp),
    ) else {
        return Ok(by_pair);
    };
    // The sent and received bytes only stand in for a missing total.
    let (out_bytes, in_bytes) = if bytes.is_some() {
        (None, None)
    } else {
        (out_bytes, in_bytes)
    };
    let fields: Vec<&str> = [
        Some(ts),
        bytes,
        out_bytes,
        in_bytes,
        duration,
        Some(src_field),
        Some(dst_field),
    ]
    .into_iter()
    .flatten()
    .collect();
    let should: Vec<Value> = pairs
        .iter()
        .map(|(src, dst, _)| {
            json!({"bool": {"filter": [{"term": {src_field: src}}, {"term": {dst_field: dst}}]}})
        })
        .collect();
    let body = json!({
        "size": PAGE,
        "query": {"bool": {"filter": [query, {"bool": {"should": should, "minimum_should_match": 1}}]}},
        // Index order, the cheapest: the scoring sorts each pair's times.
        "sort": ["_doc"],
        // Doc values only: no `_source`, no `_id`; times as digits of
        // milliseconds, the cheapest to read back.
        "stored_fields": "_none_",
        "docvalue_fields": fields.iter().map(|f| if *f == ts {
            json!({"field": f, "format": "epoch_millis"})
        } else {
            json!(f)
        }).collect::<Vec<_>>(),
    });
    let text = step(
        "reading the pairs' connections",
        db::search_raw(&source.pattern(), &body),
    )?;
    // A wrong shape is the backend's problem, as the SDK reports it.
    let rows = hits::rows(&text, &fields).map_err(|e| {
        CapabilityError::Backend(format!(
            "the connections search answer does not have the expected shape: {e}"
        ))
    })?;
    let slot = |field: Option<&str>| field.and_then(|f| fields.iter().position(|x| *x == f));
    let (ts_at, src_at, dst_at) = (slot(Some(ts)), slot(Some(src_field)), slot(Some(dst_field)));
    let (bytes_at, out_at, in_at, duration_at) =
        (slot(bytes), slot(out_bytes), slot(in_bytes), slot(duration));
    // Grouped by the borrowed names first: one owned key per pair, not per hit.
    let mut grouped: HashMap<(&str, &str), Vec<Connection>> = HashMap::new();
    for row in &rows {
        let value = |at: Option<usize>| at.and_then(|i| row[i].as_ref());
        let (Some(src), Some(dst)) = (
            value(src_at).and_then(Scalar::text),
            value(dst_at).and_then(Scalar::text),
        ) else {
            continue;
        };
        let Some(start_ms) = value(ts_at).and_then(Scalar::millis) else {
            continue;
        };
        let num = |at: Option<usize>| value(at).and_then(Scalar::number);
        let bytes =
            num(bytes_at).unwrap_or_else(|| num(out_at).unwrap_or(0.0) + num(in_at).unwrap_or(0.0));
        // ECS `event.duration` is nanoseconds; Zeek's own is seconds.
        let duration_s = match (duration, num(duration_at)) {
            (Some("event.duration"), Some(ns)) => ns / 1e9,
            (_, Some(s)) => s,
            _ => 0.0,
        };
        grouped.entry((src, dst)).or_default().push(Connection {
            start_ms,
            bytes,
            duration_s,
        });
    }
    for ((src, dst), conns) in grouped {
        by_pair.insert((src.to_owned(), dst.to_owned()), conns);
    }
    Ok(by_pair)
}

fn result(
    src: &str,
    dst: &str,
    score: &BeaconScore,
    start: Timestamp,
    end: Timestamp,
    run_id: &str,
) -> AnomalyResult {
    AnomalyResult {
        detector_id: DETECTOR.to_owned(),
        result_id: String::new(),
        entity: vec![
            EntityField {
                name: "source.ip".to_owned(),
                value: src.to_owned(),
            },
            EntityField {
                name: "destination.ip".to_owned(),
                value: dst.to_owned(),
            },
        ],
        anomaly_grade: score.score,
        anomaly_score: score.score,
        confidence: (score.connections as f64 / 50.0).min(1.0),
        feature_data: Vec::new(),
        relevant_attribution: Vec::new(),
        data_start_time: start.epoch_millis(),
        data_end_time: end.epoch_millis(),
        execution_start_time: end.epoch_millis(),
        execution_end_time: end.epoch_millis(),
        securityclaw: Some(ResultDetail {
            kind: sc_detection::behaviour::Kind::Beacon,
            actor: src.to_owned(),
            targets: vec![dst.to_owned()],
            inbound: false,
            reason: format!(
                "{} connections about every {:.0} s of about {:.0} bytes (beacon score {:.2})",
                score.connections, score.median_interval_s, score.median_bytes, score.score
            ),
            evidence: serde_json::to_value(score).unwrap_or(Value::Null),
            run_id: run_id.to_owned(),
        }),
    }
}

impl Skill for BeaconDetector {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let settings = Settings::load()?;
        let allow = settings
            .beacon_allowlist
            .iter()
            .map(|e| {
                Cidr::parse(e).ok_or_else(|| {
                    SkillError::InvalidInput(format!(
                        "detection.beacon_allowlist: `{e}` is not an IP or CIDR"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Aligned to the hour, so a retried run writes the same result ids.
        let now_ms = invocation.now.epoch_millis();
        let end = Timestamp::from_epoch_millis(now_ms - now_ms.rem_euclid(3_600_000));
        let start = end.minus(Duration::from_secs(params.window_hours * 3600));
        let window_s = (params.window_hours * 3600) as f64;
        let catalog = discover::load_or_discover(
            &settings.index_pattern(),
            &invocation.run_id,
            &end.to_rfc3339(),
        )?;
        let mut scored = 0usize;
        let mut results = Vec::new();
        for source in catalog.of(DataKind::Flow) {
            let mut must_not = vec![observe::unanswered(source)];
            if let (Some(port), false) = (
                source.field(Role::DestinationPort),
                settings.beacon_allow_ports.is_empty(),
            ) {
                must_not.push(json!({"terms": {port: settings.beacon_allow_ports}}));
            }
            let query = json!({"bool": {"filter": [observe::window(source, start, end)], "must_not": must_not}});
            let pairs: Vec<_> = candidates(source, &query, &allow)?
                .into_iter()
                .take(params.max_pairs)
                .collect();
            // A run near its time limit stops between batches.
            for batch in batches(&pairs) {
                if invocation.remaining() < Duration::from_secs(2) {
                    break;
                }
                for ((src, dst), conns) in connections(source, &query, batch)? {
                    if let Some(score) = beacon::score(&conns, window_s) {
                        scored += 1;
                        if score.score >= settings.beacon_threshold {
                            results.push(result(
                                &src,
                                &dst,
                                &score,
                                start,
                                end,
                                &invocation.run_id,
                            ));
                        }
                    }
                }
            }
        }
        if scored == 0 {
            return Ok(Outcome::no_data(format!(
                "no pair had {} answered connections from {} to {}",
                beacon::MIN_CONNECTIONS,
                start.to_rfc3339(),
                end.to_rfc3339()
            )));
        }
        results.sort_by(|a, b| b.anomaly_grade.total_cmp(&a.anomaly_grade));
        if !results.is_empty() {
            let docs: Vec<(Option<String>, &AnomalyResult)> =
                results.iter_mut().map(|r| (Some(r.seal()), &*r)).collect();
            step(
                "writing beacon results",
                db::bulk_index(RESULTS_INDEX, &docs),
            )?;
        }
        let top: Vec<Value> = results
            .iter()
            .take(10)
            .map(|r| json!({"source": r.entity[0].value, "destination": r.entity[1].value, "score": r.anomaly_grade}))
            .collect();
        Ok(Outcome::ok(
            format!(
                "{scored} pairs scored, {} beacons at or above {}",
                results.len(),
                settings.beacon_threshold
            ),
            json!({"window": {"start": start.to_rfc3339(), "end": end.to_rfc3339()}, "pairs_scored": scored, "beacons": results.len(), "top": top}),
        ))
    }
}

export_skill!(BeaconDetector);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use securityclaw_sdk::db::BulkResult;
    use securityclaw_sdk::testing::MockHost;
    use securityclaw_sdk::{Status, Trigger};

    use super::*;

    const END_MS: i64 = 1_655_078_400_000;

    fn catalog() -> Value {
        json!({"generated_at": "x", "run_id": "y", "sources": [{"indices": ["logs-zeek-conn"], "kind": "flow", "documents": 60,
            "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "destination_ip": "destination.ip",
                "destination_port": "destination.port", "bytes": "network.bytes", "connection_state": "zeek.conn.conn_state"}}]})
    }

    /// Doc-value hits of one pair: `n` connections from `first_ms`, the
    /// gaps and sizes given by `gap` and `size` of the connection's number.
    fn hits(
        src: &str,
        dst: &str,
        n: usize,
        gap: impl Fn(usize) -> i64,
        size: impl Fn(usize) -> u64,
    ) -> Vec<Value> {
        let mut at = END_MS - 20 * 3_600_000;
        (0..n)
            .map(|i| {
                at += gap(i);
                json!({"_index": "logs-zeek-conn", "_id": format!("{dst}-{i}"), "_score": null,
                    "fields": {"@timestamp": [at.to_string()], "network.bytes": [size(i)],
                        "source.ip": [src], "destination.ip": [dst]}})
            })
            .collect()
    }

    #[test]
    fn a_timer_is_a_beacon_and_irregular_traffic_is_not() {
        let written = Rc::new(RefCell::new(Vec::new()));
        let searches = Rc::new(RefCell::new(Vec::new()));
        let (w, seen) = (written.clone(), searches.clone());
        let mock = MockHost::new()
            .memory("detection.catalog", catalog())
            .on_db_search(move |_, body| {
                if body.get("aggs").is_some() {
                    return Ok(json!({"hits": {"total": {"value": 70, "relation": "eq"}, "hits": []},
                        "aggregations": {"by_source": {"buckets": [{"key": "10.0.0.5", "doc_count": 70, "by_destination": {"buckets": [
                        {"key": "203.0.113.9", "doc_count": 40}, {"key": "198.51.100.3", "doc_count": 30}]}}]}}}));
                }
                seen.borrow_mut().push(body.clone());
                let mut all = hits("10.0.0.5", "203.0.113.9", 40, |_| 300_000, |_| 512);
                // Gaps from seconds to an hour, sizes from tens of bytes to megabytes.
                all.extend(hits(
                    "10.0.0.5",
                    "198.51.100.3",
                    30,
                    |i| [4_000, 3_500_000, 61_000, 900_000, 12_000][i % 5] + i as i64 * 7_000,
                    |i| [40, 90_000, 1_200, 3_000_000, 700][i % 5] * (i as u64 + 1),
                ));
                Ok(json!({"hits": {"total": {"value": all.len(), "relation": "eq"}, "hits": all}}))
            })
            .on_db_bulk_index(move |_, docs| {
                w.borrow_mut()
                    .extend(docs.iter().map(|(_, d)| d.clone()));
                Ok(BulkResult {
                    indexed: docs.len() as u32,
                    failed: 0,
                    errors: Vec::new(),
                })
            });
        let run = mock
            .run::<BeaconDetector>(
                Invocation::new(
                    Trigger::Schedule,
                    json!({"window_hours": 24, "max_pairs": 300}),
                )
                .at(Timestamp::from_epoch_millis(END_MS)),
            )
            .expect("runs");
        assert_eq!(run.status, Status::Ok, "{}", run.summary);
        assert_eq!(run.result["pairs_scored"], 2);
        let results = written.borrow();
        assert_eq!(results.len(), 1, "{results:?}");
        let beacon = &results[0];
        assert_eq!(beacon["detector_id"], DETECTOR);
        assert_eq!(beacon["entity"][1]["value"], "203.0.113.9");
        assert_eq!(beacon["securityclaw"]["kind"], "beacon");
        assert!(beacon["anomaly_grade"].as_f64() >= Some(0.8), "{beacon}");
        assert_eq!(beacon["securityclaw"]["evidence"]["connections"], 40);
        // Both pairs were read in one search of doc values only.
        let searches = searches.borrow();
        assert_eq!(searches.len(), 1);
        assert_eq!(searches[0]["stored_fields"], "_none_");
        assert!(
            searches[0]["docvalue_fields"].as_array().is_some_and(|f| f
                .contains(&json!({"field": "@timestamp", "format": "epoch_millis"}))
                && f.contains(&json!("network.bytes"))),
            "{}",
            searches[0]
        );
    }

    fn pair(n: u64) -> (String, String, u64) {
        ("10.0.0.1".to_owned(), format!("198.51.100.{n}"), n)
    }

    #[test]
    fn batches_fill_a_page_and_a_busy_pair_goes_alone() {
        let pairs = vec![
            pair(20_000),
            pair(6_000),
            pair(4_000),
            pair(3_000),
            pair(10),
        ];
        let sizes: Vec<Vec<u64>> = batches(&pairs)
            .iter()
            .map(|b| b.iter().map(|p| p.2).collect())
            .collect();
        assert_eq!(
            sizes,
            vec![vec![20_000], vec![6_000, 4_000], vec![3_000, 10]]
        );
        assert!(batches(&[]).is_empty());
    }
}
