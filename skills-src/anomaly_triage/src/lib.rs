//! `anomaly_triage`: new anomaly results and IDS alerts become durable
//! findings, findings become incidents, HIGH and CRITICAL incidents are
//! escalated. Safe to rerun: ids are stable and counts are recomputed.

mod intake;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use sc_detection::behaviour::Kind;
use sc_detection::records::{Finding, RESULTS_INDEX, Severity, ids_severity, stable_id};
use sc_detection::{DataKind, Settings, discover, step};
use securityclaw_sdk::{Invocation, Outcome, Skill, SkillError, Timestamp, export_skill, memory};

use intake::{CURSOR_KEY, Cursor};
use sc_detection::incidents::{self, IncidentKey};

struct AnomalyTriage;

#[derive(Deserialize)]
struct Params {
    max_records: usize,
    lag_seconds: u64,
}

/// IDS alerts of one actor and rule within this many milliseconds are one finding.
const ALERT_BUCKET_MS: i64 = 5 * 60 * 1000;

/// Zeek notices that report an attack, by the names Zeek's own scripts
/// give them; other notices (`ProtocolDetector::Protocol_Found`,
/// `SSL::Invalid_Server_Cert`, `CaptureLoss::…`) are information.
const ZEEK_ATTACK_NOTICES: [&str; 9] = [
    "Scan::",
    "SSH::Password_Guessing",
    "SSH::Login_By_Password_Guesser",
    "FTP::Bruteforcing",
    "HTTP::SQL_Injection",
    "Intel::Notice",
    "Signatures::Sensitive_Signature",
    "Signatures::Multiple_Signatures",
    "Heartbleed::",
];

/// An alert as a grade: an IDS severity 1 (worst) 0.95, 2 0.85, 3 or more
/// 0.75; an alert without one (a Zeek notice) 0.8 when it reports an
/// attack, else 0.5, under any sensible threshold.
fn alert_grade(rule: &str, severity: Option<i64>) -> f64 {
    match severity {
        Some(1) => 0.95,
        Some(2) => 0.85,
        Some(_) => 0.75,
        None if ZEEK_ATTACK_NOTICES.iter().any(|n| rule.starts_with(n)) => 0.8,
        None => 0.5,
    }
}

impl Skill for AnomalyTriage {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let settings = Settings::load()?;
        let home = settings.home()?;
        let now = invocation.now;
        let window_ms = i64::from(settings.incident_window_hours) * 3_600_000;
        let mut cursor: Cursor =
            step("reading the cursor", memory::get(CURSOR_KEY))?.unwrap_or_default();
        let suppressions = incidents::suppressions(now)?;

        let mut pattern = format!("{RESULTS_INDEX}*");
        if settings.opensearch_ad_results {
            pattern.push(',');
            pattern.push_str(sc_detection::records::AD_PLUGIN_RESULTS);
        }
        // Read only what is older than the lag: a detector stamps results
        // with its run's start, and a long run writes them later, so a
        // cursor right at `now` would pass results not yet visible.
        let until = now.minus(std::time::Duration::from_secs(params.lag_seconds));
        let results = intake::results(&pattern, &mut cursor.results, until, params.max_records)?;
        let read_results = results.len();
        let mut below = 0usize;
        let mut findings: Vec<(IncidentKey, Finding, Option<Severity>)> = Vec::new();
        for (id, result) in results {
            let Some(detail) = result.securityclaw.clone() else {
                continue;
            };
            if result.anomaly_grade < settings.severity_threshold {
                below += 1;
                continue;
            }
            let key =
                incidents::key_of(detail.kind, &detail.actor, &detail.targets, detail.inbound);
            let top_features = {
                let mut shares = result.relevant_attribution.clone();
                shares.sort_by(|a, b| b.data.total_cmp(&a.data));
                shares.into_iter().take(3).map(|a| a.feature_id).collect()
            };
            findings.push((
                key,
                Finding {
                    timestamp: Timestamp::from_epoch_millis(result.data_end_time).to_rfc3339(),
                    finding_id: stable_id(&[
                        "finding",
                        &result.result_id,
                        &result.detector_id,
                        &detail.actor,
                        detail.kind.as_str(),
                        &result.data_start_time.to_string(),
                        &result.data_end_time.to_string(),
                    ]),
                    kind: detail.kind,
                    grade: result.anomaly_grade,
                    actor: detail.actor,
                    targets: detail.targets,
                    inbound: detail.inbound,
                    incident_id: String::new(),
                    detector_id: result.detector_id,
                    window_start: result.data_start_time,
                    window_end: result.data_end_time,
                    top_features,
                    reason: detail.reason,
                    suppressed: false,
                    source_id: id,
                    run_id: invocation.run_id.clone(),
                    sigma: None,
                },
                None,
            ));
        }

        let catalog = discover::load_or_discover(
            &settings.index_pattern(),
            &invocation.run_id,
            &now.to_rfc3339(),
        )?;
        let mut read_alerts = 0usize;
        let mut alert_findings: BTreeMap<String, (IncidentKey, Finding, Option<Severity>)> =
            BTreeMap::new();
        for source in catalog.of(DataKind::Alert) {
            let position = cursor.alerts.entry(source.pattern()).or_default();
            for alert in intake::alerts(source, position, now, params.max_records)? {
                read_alerts += 1;
                let grade = alert_grade(&alert.rule, alert.severity);
                if grade < settings.severity_threshold {
                    below += 1;
                    continue;
                }
                let bucket = alert.at_ms - alert.at_ms.rem_euclid(ALERT_BUCKET_MS);
                let targets: Vec<String> = alert.target.clone().into_iter().collect();
                let inbound =
                    !home.contains(&alert.actor) && targets.iter().any(|t| home.contains(t));
                let id = stable_id(&[
                    "finding",
                    "ids",
                    &alert.actor,
                    &alert.rule,
                    &bucket.to_string(),
                ]);
                let entry = alert_findings.entry(id.clone()).or_insert_with(|| {
                    (
                        incidents::key_of(Kind::IdsAlert, &alert.actor, &targets, inbound),
                        Finding {
                            timestamp: Timestamp::from_epoch_millis(alert.at_ms).to_rfc3339(),
                            finding_id: id,
                            kind: Kind::IdsAlert,
                            grade,
                            actor: alert.actor.clone(),
                            targets: targets.clone(),
                            inbound,
                            incident_id: String::new(),
                            detector_id: "ids".to_owned(),
                            window_start: alert.at_ms,
                            window_end: alert.at_ms,
                            top_features: Vec::new(),
                            reason: format!("IDS rule: {}", alert.rule),
                            suppressed: false,
                            source_id: alert.id.clone(),
                            run_id: invocation.run_id.clone(),
                            sigma: None,
                        },
                        Some(ids_severity(alert.severity)),
                    )
                });
                entry.1.window_end = entry.1.window_end.max(alert.at_ms);
                entry.1.grade = entry.1.grade.max(grade);
                entry.2 = entry.2.max(Some(ids_severity(alert.severity)));
            }
        }
        findings.extend(alert_findings.into_values());

        if findings.is_empty() {
            step("saving the cursor", memory::set(CURSOR_KEY, &cursor))?;
            return Ok(Outcome::no_data(format!(
                "nothing new to triage ({read_results} results read, {below} under {}; {read_alerts} alerts)",
                settings.severity_threshold
            )));
        }

        let recorded = incidents::record(findings, &suppressions, now, window_ms)?;
        let (all, touched) = (&recorded.findings, &recorded.incidents);
        let (opened, escalated) = (recorded.opened, recorded.escalated);
        step("saving the cursor", memory::set(CURSOR_KEY, &cursor))?;
        let suppressed = all.iter().filter(|f| f.suppressed).count();
        Ok(Outcome::ok(
            format!(
                "{} findings from {read_results} results and {read_alerts} alerts ({below} under {}); {} incidents ({opened} new, {escalated} escalated)",
                all.len(),
                settings.severity_threshold,
                touched.len()
            ),
            json!({
                "results_read": read_results,
                "alerts_read": read_alerts,
                "below_threshold": below,
                "findings": all.len(),
                "suppressed": suppressed,
                "incidents": touched.values().map(|i| json!({"incident_id": i.incident_id, "kind": i.kind, "entity": i.entity, "severity": i.severity, "status": i.status, "findings": i.finding_count})).collect::<Vec<_>>(),
                "opened": opened,
                "escalated": escalated,
            }),
        ))
    }
}

export_skill!(AnomalyTriage);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use securityclaw_sdk::db::BulkResult;
    use securityclaw_sdk::memory::EntryList;
    use securityclaw_sdk::testing::MockHost;
    use securityclaw_sdk::{Invocation, Status, Timestamp, Trigger};
    use serde_json::{Value, json};

    use super::AnomalyTriage;

    const END: i64 = 1_655_074_800_000;

    fn result(actor: &str, grade: f64, kind: &str, inbound: bool) -> Value {
        json!({"detector_id": "securityclaw-behaviour", "entity": [{"name": "source.ip", "value": actor}],
            "anomaly_grade": grade, "anomaly_score": grade, "confidence": 1.0, "feature_data": [],
            "data_start_time": END - 300_000, "data_end_time": END, "execution_start_time": END, "execution_end_time": END,
            "securityclaw": {"kind": kind, "actor": actor, "targets": ["147.32.83.165"], "inbound": inbound, "reason": "probe", "evidence": {}, "run_id": "r"}})
    }

    /// A store with three results (two scanners of one host, one under the
    /// threshold), recording what triage writes.
    fn store(written: Rc<RefCell<Vec<(String, Value)>>>) -> MockHost {
        let writes = written.clone();
        MockHost::new()
            .db_indices(Vec::new())
            .on_db_search(|pattern, body| {
                // Pages like a store: sorted by result_id, after `search_after`.
                let after = body.pointer("/search_after/1").and_then(Value::as_str).map(str::to_owned);
                let hits: Vec<Value> = if pattern.starts_with("securityclaw-anomaly-results") {
                    vec![
                        result("1.2.3.4", 0.75, "scan", true),
                        result("5.6.7.8", 0.9, "scan", true),
                        result("9.9.9.9", 0.5, "scan", true),
                    ]
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut r)| {
                        r["result_id"] = json!(format!("r{i}"));
                        json!({"_id": format!("r{i}"), "_index": "securityclaw-anomaly-results", "_source": r})
                    })
                    .filter(|h| after.as_deref().is_none_or(|a| h["_id"].as_str() > Some(a)))
                    .collect()
                } else {
                    Vec::new()
                };
                Ok(json!({"hits": {"total": {"value": hits.len()}, "hits": hits}}))
            })
            .on_db_aggregate(|_, _, _| {
                Ok(json!({"actors": {"value": 2}, "top_actors": {"buckets": [{"key": "1.2.3.4"}, {"key": "5.6.7.8"}]},
                    "top_targets": {"buckets": [{"key": "147.32.83.165"}]}, "max_grade": {"value": 0.9},
                    "first": {"value": END - 300_000}, "last": {"value": END}, "inbound": {"doc_count": 2}}))
            })
            .on_db_count(|_, _| Ok(2))
            .on_db_bulk_index(move |index, docs| {
                writes.borrow_mut().extend(docs.iter().map(|(_, d)| (index.to_owned(), d.clone())));
                Ok(BulkResult { indexed: docs.len() as u32, failed: 0, errors: Vec::new() })
            })
    }

    fn invocation() -> Invocation {
        Invocation::new(
            Trigger::Schedule,
            json!({"max_records": 10000, "lag_seconds": 0}),
        )
        .at(Timestamp::from_epoch_millis(END))
    }

    #[test]
    fn scanners_of_one_host_are_one_incident_and_the_weak_result_is_dropped() {
        let written = Rc::new(RefCell::new(Vec::new()));
        let host = store(written.clone());
        let run = host.run::<AnomalyTriage>(invocation()).expect("runs");
        assert_eq!(run.status, Status::Ok, "{}", run.summary);
        assert_eq!(run.result["below_threshold"], 1);
        let written = written.borrow();
        let findings: Vec<&Value> = written
            .iter()
            .filter(|(i, _)| i == "securityclaw-findings")
            .map(|(_, d)| d)
            .collect();
        let incidents: Vec<&Value> = written
            .iter()
            .filter(|(i, _)| i == "securityclaw-incidents")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(findings.len(), 2);
        assert_eq!(incidents.len(), 1);
        assert_eq!(findings[0]["incident_id"], incidents[0]["incident_id"]);
        assert_eq!(incidents[0]["entity"], "147.32.83.165");
        assert_eq!(incidents[0]["entity_is_actor"], false);
        assert_eq!(incidents[0]["severity"], "MEDIUM");
        assert_eq!(incidents[0]["status"], "open");
        // Internet noise is recorded, never put in the analyst's queue.
        assert!(host.entries(&EntryList::Escalations).is_empty());
        assert_eq!(host.entries(&EntryList::Findings).len(), 1);
    }

    #[test]
    fn a_second_run_reads_nothing_twice() {
        let written = Rc::new(RefCell::new(Vec::new()));
        let host = store(written.clone());
        host.run::<AnomalyTriage>(invocation()).expect("first run");
        let before = written.borrow().len();
        let run = host.run::<AnomalyTriage>(invocation()).expect("second run");
        assert_eq!(run.status, Status::NoData, "{}", run.summary);
        assert_eq!(written.borrow().len(), before);
        let cursor = host.memory_value("anomaly_triage.cursor").expect("cursor");
        assert_eq!(cursor["results"]["at_ms"], END);
        assert_eq!(cursor["results"]["after_id"], "r2");
    }
}
