//! `beacon_detector`: RITA-style beacon scoring of source → destination
//! pairs over a window, written as AD-shaped anomaly results.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use sc_detection::beacon::{self, BeaconScore, Connection};
use sc_detection::catalog::value_at;
use sc_detection::net::Cidr;
use sc_detection::records::{AnomalyResult, EntityField, RESULTS_INDEX, ResultDetail};
use sc_detection::{DataKind, Role, Settings, SourceCatalog, discover, observe, step};
use securityclaw_sdk::{Invocation, Outcome, Skill, SkillError, Timestamp, db, export_skill};

struct BeaconDetector;

#[derive(Deserialize)]
struct Params {
    window_hours: u64,
    max_pairs: usize,
}

const DETECTOR: &str = "securityclaw-beacon";

/// A time field's value as epoch milliseconds: RFC 3339 text, or a number
/// of seconds (Zeek's `ts`) or milliseconds.
fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => Timestamp::parse_rfc3339(s).map(Timestamp::epoch_millis),
        Value::Number(n) => {
            let x = n.as_f64()?;
            Some(if x < 1e11 {
                (x * 1000.0) as i64
            } else {
                x as i64
            })
        }
        _ => None,
    }
}

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
    let answer = step(
        "finding busy pairs",
        db::aggregate(&source.pattern(), Some(query), &aggs),
    )?;
    let mut pairs = Vec::new();
    for s in answer
        .pointer("/by_source/buckets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(src) = s.get("key").and_then(Value::as_str) else {
            continue;
        };
        for d in s
            .pointer("/by_destination/buckets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(dst), Some(count)) = (
                d.get("key").and_then(Value::as_str),
                d.get("doc_count").and_then(Value::as_u64),
            ) else {
                continue;
            };
            let allowed = dst
                .parse()
                .is_ok_and(|ip| allow.iter().any(|net| net.contains(ip)));
            if count >= beacon::MIN_CONNECTIONS as u64 && !allowed {
                pairs.push((src.to_owned(), dst.to_owned(), count));
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
/// fields scored.
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
        "sort": [{ts: "asc"}],
        "_source": fields,
    });
    let hits = step(
        "reading the pairs' connections",
        db::search::<Value>(&source.pattern(), &body),
    )?
    .hits;
    for hit in &hits {
        let doc = &hit.source;
        let text = |f: &str| value_at(doc, f).and_then(Value::as_str).map(str::to_owned);
        let (Some(src), Some(dst)) = (text(src_field), text(dst_field)) else {
            continue;
        };
        let Some(start_ms) = value_at(doc, ts).and_then(millis) else {
            continue;
        };
        let num =
            |field: Option<&str>| field.and_then(|f| value_at(doc, f)).and_then(Value::as_f64);
        let bytes = num(bytes)
            .unwrap_or_else(|| num(out_bytes).unwrap_or(0.0) + num(in_bytes).unwrap_or(0.0));
        // ECS `event.duration` is nanoseconds; Zeek's own is seconds.
        let duration_s = match (duration, num(duration)) {
            (Some("event.duration"), Some(ns)) => ns / 1e9,
            (_, Some(s)) => s,
            _ => 0.0,
        };
        by_pair.entry((src, dst)).or_default().push(Connection {
            start_ms,
            bytes,
            duration_s,
        });
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
    use super::*;

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
