//! `anomaly_detector`: per entity and interval, a feature vector scored
//! with Random Cut Forest, and the behaviour patterns of
//! `sc_detection::behaviour`; what stands out is written to
//! `securityclaw-anomaly-results` in the OpenSearch AD result shape.

mod forest;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use sc_detection::behaviour::{self, FEATURES, FlowFeatures, Kind, Verdict};
use sc_detection::records::{
    AnomalyResult, Attribution, EntityField, FeatureData, RESULTS_INDEX, ResultDetail,
};
use sc_detection::{DataKind, Settings, discover, observe, step};
use securityclaw_sdk::{Invocation, Outcome, Skill, SkillError, Timestamp, db, export_skill};

use forest::Model;

struct AnomalyDetector;

#[derive(Deserialize)]
struct Params {
    interval_minutes: u64,
    slow_window_minutes: u64,
    long_window_hours: u64,
}

/// The detector ids results carry.
const RCF_DETECTOR: &str = "securityclaw-rcf";
const BEHAVIOUR_DETECTOR: &str = "securityclaw-behaviour";

/// Sums the features of an entity seen in several groups of indices.
fn merge(all: Vec<FlowFeatures>) -> Vec<FlowFeatures> {
    let mut by_entity: BTreeMap<String, FlowFeatures> = BTreeMap::new();
    for f in all {
        match by_entity.get_mut(&f.entity) {
            None => {
                by_entity.insert(f.entity.clone(), f);
            }
            Some(seen) => {
                seen.home |= f.home;
                seen.connections += f.connections;
                seen.destinations = seen.destinations.max(f.destinations);
                seen.ports = seen.ports.max(f.ports);
                seen.failed += f.failed;
                seen.icmp_destinations = seen.icmp_destinations.max(f.icmp_destinations);
                seen.failed_destinations = seen.failed_destinations.max(f.failed_destinations);
                seen.bytes_out += f.bytes_out;
                seen.inbound += f.inbound;
                seen.inbound_failed += f.inbound_failed;
                seen.dns_entropy = seen.dns_entropy.max(f.dns_entropy);
                seen.top_destinations.extend(f.top_destinations);
            }
        }
    }
    by_entity.into_values().collect()
}

struct Interval {
    start: Timestamp,
    end: Timestamp,
    run_id: String,
}

impl Interval {
    fn result(
        &self,
        detector: &str,
        verdict: &Verdict,
        score: f64,
        confidence: f64,
        features: Option<&FlowFeatures>,
        attribution: Vec<Attribution>,
    ) -> AnomalyResult {
        AnomalyResult {
            detector_id: detector.to_owned(),
            result_id: String::new(),
            entity: vec![EntityField {
                name: "source.ip".to_owned(),
                value: verdict.actor.clone(),
            }],
            anomaly_grade: verdict.grade,
            anomaly_score: score,
            confidence,
            feature_data: features
                .map(|f| {
                    FEATURES
                        .iter()
                        .zip(f.values())
                        .map(|(name, data)| FeatureData {
                            feature_id: (*name).to_owned(),
                            feature_name: (*name).to_owned(),
                            data,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            relevant_attribution: attribution,
            data_start_time: self.start.epoch_millis(),
            data_end_time: self.end.epoch_millis(),
            execution_start_time: self.end.epoch_millis(),
            execution_end_time: self.end.epoch_millis(),
            securityclaw: Some(ResultDetail {
                kind: verdict.kind,
                actor: verdict.actor.clone(),
                targets: verdict.targets.iter().take(20).cloned().collect(),
                inbound: verdict.inbound,
                reason: verdict.reason.clone(),
                evidence: verdict.evidence.clone(),
                run_id: self.run_id.clone(),
            }),
        }
    }
}

/// Shares of the anomaly per feature, from the forest's attribution, and
/// whether the feature that weighs most is above its normal (a rise; a
/// drop in activity is not a threat).
fn shares(model: &Model, point: &[f32]) -> (Vec<Attribution>, bool) {
    let Ok(parts) = model.forest.attribution(point) else {
        return (Vec::new(), false);
    };
    let total: f64 = parts.iter().map(|a| a.total()).sum();
    if total <= 0.0 {
        return (Vec::new(), false);
    }
    let rising = parts
        .iter()
        .max_by(|a, b| a.total().total_cmp(&b.total()))
        .is_some_and(|top| top.above >= top.below);
    let shares = FEATURES
        .iter()
        .zip(parts)
        .map(|(name, a)| Attribution {
            feature_id: (*name).to_owned(),
            data: a.total() / total,
        })
        .collect();
    (shares, rising)
}

/// Bytes out in one interval below which a rise is not called exfiltration.
const EXFILTRATION_FLOOR: f64 = 1024.0 * 1024.0;

impl Skill for AnomalyDetector {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let settings = Settings::load()?;
        let home = settings.home()?;
        // Intervals are aligned (12:05, 12:10…), so a retried or late run
        // scores the same interval and writes the same result ids.
        let interval_ms = (params.interval_minutes * 60_000) as i64;
        let now_ms = invocation.now.epoch_millis();
        let end = Timestamp::from_epoch_millis(now_ms - now_ms.rem_euclid(interval_ms));
        let start = end.minus(Duration::from_secs(params.interval_minutes * 60));
        let interval = Interval {
            start,
            end,
            run_id: invocation.run_id.clone(),
        };
        let catalog = discover::load_or_discover(
            &settings.index_pattern(),
            &invocation.run_id,
            &end.to_rfc3339(),
        )?;
        if catalog.sources.is_empty() {
            return Ok(Outcome::no_data(format!(
                "no telemetry with usable fields in `{}`: ingest logs or run fields_baseliner",
                settings.index_pattern()
            )));
        }
        let mut flows = Vec::new();
        for source in catalog.of(DataKind::Flow) {
            flows.extend(observe::flows(source, &home, start, end)?);
        }
        let mut flows = merge(flows);
        // Lookups and logins are counted over a longer window (fail2ban's
        // findtime idea): a slow guesser or a patient DGA stays under any
        // five-minute bar.
        let slow = Interval {
            start: end.minus(Duration::from_secs(
                params.slow_window_minutes.max(params.interval_minutes) * 60,
            )),
            end,
            run_id: invocation.run_id.clone(),
        };
        // A slow-window verdict is reported for the intervals its actor was
        // active in, not again every five minutes after it stopped.
        let mut active = std::collections::BTreeSet::new();
        let mut dns = Vec::new();
        for source in catalog.of(DataKind::Dns) {
            active.extend(
                observe::dns(source, start, end)?
                    .into_iter()
                    .filter(|d| d.missing_domains > 0.0)
                    .map(|d| d.actor),
            );
            dns.extend(observe::dns(source, slow.start, end)?);
        }
        observe::join_dns(&mut flows, &dns, &home);
        // New peers: busiest destinations missing from the entity's baseline.
        let usual: BTreeMap<String, Vec<String>> = step(
            "reading the usual peers",
            securityclaw_sdk::memory::get("detection.baseline_peers"),
        )?
        .unwrap_or_default();
        for f in &mut flows {
            if let Some(known) = usual.get(&f.entity) {
                f.new_peers = f
                    .top_destinations
                    .iter()
                    .filter(|(peer, _, _)| !known.contains(peer))
                    .count() as f64;
            }
        }
        let mut auth = Vec::new();
        for source in catalog.of(DataKind::Auth) {
            active.extend(
                observe::auth(source, start, end)?
                    .into_iter()
                    .filter(|a| a.failures > 0.0)
                    .map(|a| a.actor),
            );
            auth.extend(observe::auth(source, slow.start, end)?);
        }
        dns.retain(|d| active.contains(&d.actor));
        auth.retain(|a| active.contains(&a.actor));
        for a in &mut auth {
            a.inbound = !home.contains(&a.actor)
                && (home.contains(&a.target)
                    || flows.iter().any(|f| f.entity == a.target && f.home));
        }
        if flows.is_empty() && auth.is_empty() {
            return Ok(Outcome::no_data(format!(
                "no events from {} to {}",
                start.to_rfc3339(),
                end.to_rfc3339()
            )));
        }

        // One forest per peer group: home hosts are compared with home
        // hosts (and so, in a small network, with their own past), outside
        // sources with outside sources.
        let mut home_model = Model::load("home", FEATURES.len())?;
        let mut external_model = Model::load("external", FEATURES.len())?;
        let mut results = Vec::new();
        for f in flows.iter().filter(|f| f.connections > 0.0) {
            let model = if f.home {
                &mut home_model
            } else {
                &mut external_model
            };
            let point = f.point();
            let ready = model.forest.is_ready();
            let score = if ready {
                model
                    .forest
                    .score(&point)
                    .map_err(|e| SkillError::Failed(format!("scoring: {e}")))?
            } else {
                0.0
            };
            let grade = model.threshold.grade(score);
            if ready {
                model.threshold.observe(score);
            }
            let (attribution, rising) = if grade > 0.0 || f.failed > 0.0 {
                shares(model, &point)
            } else {
                (Vec::new(), false)
            };
            if let Some(verdict) = behaviour::scan(f) {
                results.push(interval.result(
                    BEHAVIOUR_DETECTOR,
                    &verdict,
                    score,
                    1.0,
                    Some(f),
                    attribution,
                ));
            } else if grade > 0.0 && rising && model.threshold.confidence() >= 0.5 {
                let top = attribution
                    .iter()
                    .max_by(|a, b| a.data.total_cmp(&b.data))
                    .map(|a| a.feature_id.clone())
                    .unwrap_or_default();
                let kind = if top == "bytes_out" && f.home && f.bytes_out >= EXFILTRATION_FLOOR {
                    Kind::Exfiltration
                } else {
                    Kind::UnusualVolume
                };
                let verdict = Verdict {
                    kind,
                    grade,
                    actor: f.entity.clone(),
                    targets: f
                        .top_destinations
                        .iter()
                        .map(|(ip, _, _)| ip.clone())
                        .collect(),
                    inbound: !f.home && f.inbound > 0.0,
                    reason: format!(
                        "{top} above this peer group's learned normal (RCF score {score:.2})"
                    ),
                    evidence: json!({"rcf_score": score, "threshold_mean": model.threshold.mean, "peer_group": if f.home { "home" } else { "external" }}),
                };
                let confidence = model.threshold.confidence();
                results.push(interval.result(
                    RCF_DETECTOR,
                    &verdict,
                    score,
                    confidence,
                    Some(f),
                    attribution,
                ));
            }
            model
                .forest
                .update(&point)
                .map_err(|e| SkillError::Failed(format!("updating the forest: {e}")))?;
        }
        for d in &dns {
            if let Some(verdict) = behaviour::dga(d) {
                results.push(slow.result(
                    BEHAVIOUR_DETECTOR,
                    &verdict,
                    verdict.grade,
                    1.0,
                    None,
                    Vec::new(),
                ));
            }
        }
        let mut guessed = std::collections::BTreeSet::new();
        for a in &auth {
            if let Some(verdict) = behaviour::brute_force(a) {
                guessed.insert((a.actor.clone(), a.target.clone()));
                results.push(slow.result(
                    BEHAVIOUR_DETECTOR,
                    &verdict,
                    verdict.grade,
                    1.0,
                    None,
                    Vec::new(),
                ));
            }
        }
        // A guesser that waits an hour between tries still adds up over a
        // day (fail2ban's recidive jail): the same bar over the long window.
        if params.long_window_hours > 0 && !auth.is_empty() {
            let long = Interval {
                start: end.minus(Duration::from_secs(params.long_window_hours * 3600)),
                end,
                run_id: invocation.run_id.clone(),
            };
            for source in catalog.of(DataKind::Auth) {
                for mut a in observe::auth(source, long.start, end)? {
                    if !active.contains(&a.actor)
                        || guessed.contains(&(a.actor.clone(), a.target.clone()))
                    {
                        continue;
                    }
                    a.inbound = !home.contains(&a.actor)
                        && (home.contains(&a.target)
                            || flows.iter().any(|f| f.entity == a.target && f.home));
                    if let Some(mut verdict) = behaviour::brute_force(&a) {
                        verdict.reason =
                            format!("{} over {} h", verdict.reason, params.long_window_hours);
                        results.push(long.result(
                            BEHAVIOUR_DETECTOR,
                            &verdict,
                            verdict.grade,
                            1.0,
                            None,
                            Vec::new(),
                        ));
                    }
                }
            }
        }
        if !results.is_empty() {
            let docs: Vec<(Option<String>, &AnomalyResult)> =
                results.iter_mut().map(|r| (Some(r.seal()), &*r)).collect();
            let written = step(
                "writing anomaly results",
                db::bulk_index(RESULTS_INDEX, &docs),
            )?;
            if written.failed > 0 {
                return Err(SkillError::Failed(format!(
                    "{} anomaly results refused by the store: {}",
                    written.failed,
                    written.errors.join("; ")
                )));
            }
        }
        let state_bytes = home_model.save()? + external_model.save()?;
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &results {
            if let Some(detail) = &r.securityclaw {
                *kinds.entry(detail.kind.as_str()).or_default() += 1;
            }
        }
        let entities = flows.len() + auth.len();
        Ok(Outcome::ok(
            format!(
                "{entities} entities from {} to {}: {} anomalies {kinds:?}",
                start.to_rfc3339(),
                end.to_rfc3339(),
                results.len()
            ),
            json!({
                "window": {"start": start.to_rfc3339(), "end": end.to_rfc3339()},
                "entities": entities,
                "anomalies": results.len(),
                "by_kind": kinds,
                "model": {
                    "home_points_seen": home_model.forest.entries_seen(),
                    "external_points_seen": external_model.forest.entries_seen(),
                    "state_bytes": state_bytes,
                },
                "results_index": RESULTS_INDEX,
            }),
        ))
    }
}

export_skill!(AnomalyDetector);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use securityclaw_sdk::db::BulkResult;
    use securityclaw_sdk::testing::MockHost;
    use securityclaw_sdk::{Invocation, Status, Timestamp, Trigger};
    use serde_json::{Value, json};

    use super::AnomalyDetector;

    fn catalog() -> Value {
        json!({"generated_at": "x", "run_id": "y", "sources": [{"indices": ["logs-zeek-conn"], "kind": "flow", "documents": 10,
            "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "destination_ip": "destination.ip",
                "destination_port": "destination.port", "connection_state": "zeek.conn.conn_state", "direction": "network.direction"}}]})
    }

    /// One outside source probing one port of a home host, and a quiet
    /// home host.
    fn host(written: Rc<RefCell<Vec<Value>>>) -> MockHost {
        MockHost::new()
            .memory("detection.catalog", catalog())
            .on_db_aggregate(|_, _, _| {
                Ok(json!({"by_source": {"buckets": [
                    {"key": "203.0.113.5", "doc_count": 3, "destinations": {"value": 1}, "ports": {"value": 3},
                     "failed": {"doc_count": 3, "destinations": {"value": 1}}, "inbound": {"doc_count": 3, "failed": {"doc_count": 3}},
                     "local": {"doc_count": 0}, "peers": {"buckets": [{"key": "10.0.0.2", "doc_count": 3, "failed": {"doc_count": 3}}]}},
                    {"key": "10.0.0.2", "doc_count": 12, "destinations": {"value": 3}, "ports": {"value": 1},
                     "failed": {"doc_count": 0, "destinations": {"value": 0}}, "inbound": {"doc_count": 0, "failed": {"doc_count": 0}},
                     "local": {"doc_count": 12}, "peers": {"buckets": [{"key": "192.0.2.7", "doc_count": 12, "failed": {"doc_count": 0}}]}}
                ]}}))
            })
            .on_db_bulk_index(move |_, docs| {
                written.borrow_mut().extend(docs.iter().map(|(_, d)| d.clone()));
                Ok(BulkResult { indexed: docs.len() as u32, failed: 0, errors: Vec::new() })
            })
    }

    fn at(ms: i64) -> Invocation {
        Invocation::new(
            Trigger::Schedule,
            json!({"interval_minutes": 5, "slow_window_minutes": 60, "long_window_hours": 24}),
        )
        .at(Timestamp::from_epoch_millis(ms))
    }

    #[test]
    fn an_outside_prober_is_an_ad_shaped_result_and_the_home_host_is_not() {
        let written = Rc::new(RefCell::new(Vec::new()));
        let mock = host(written.clone());
        let run = mock
            .run::<AnomalyDetector>(at(1_655_074_800_000))
            .expect("runs");
        assert_eq!(run.status, Status::Ok, "{}", run.summary);
        let results = written.borrow();
        assert_eq!(results.len(), 1, "{results:?}");
        let r = &results[0];
        assert_eq!(r["detector_id"], "securityclaw-behaviour");
        assert_eq!(
            r["entity"][0],
            json!({"name": "source.ip", "value": "203.0.113.5"})
        );
        assert!(r["anomaly_grade"].as_f64().expect("grade") >= 0.7);
        assert_eq!(r["data_end_time"], 1_655_074_800_000_i64);
        assert_eq!(r["data_start_time"], 1_655_074_500_000_i64);
        assert_eq!(r["securityclaw"]["kind"], "scan");
        assert_eq!(r["securityclaw"]["inbound"], true);
        assert_eq!(r["feature_data"][5]["feature_id"], "inbound_unanswered");
        assert_eq!(r["feature_data"][5]["data"], 3.0);
    }

    #[test]
    fn the_forest_is_kept_between_runs_and_keeps_learning() {
        let mock = host(Rc::new(RefCell::new(Vec::new())));
        mock.run::<AnomalyDetector>(at(1_655_074_800_000))
            .expect("first");
        let run = mock
            .run::<AnomalyDetector>(at(1_655_075_100_000))
            .expect("second");
        assert_eq!(run.result["model"]["home_points_seen"], 2);
        assert_eq!(run.result["model"]["external_points_seen"], 2);
        let head = mock
            .memory_value("anomaly_detector.forest.home")
            .expect("head");
        assert_eq!(head["generation"], 2);
        // The first generation's chunks are gone, the second's are there.
        assert!(
            mock.memory_value("anomaly_detector.forest.home.1.0")
                .is_none()
        );
        assert!(
            mock.memory_value("anomaly_detector.forest.home.2.0")
                .is_some()
        );
    }
}
