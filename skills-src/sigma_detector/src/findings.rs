//! Rule matches into findings. A detection rule's matches of one actor on
//! one host within five minutes are one finding (with every event id, up to
//! 50); a correlation's firing is one finding with the events it counted.
//! Each carries the rule's title, id, level, author, licence and ATT&CK
//! tags, and the fields that matched.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use rsigma_eval::{EvaluationResult, ResultBody};
use serde_json::Value;

use sc_detection::behaviour::Kind;
use sc_detection::catalog::value_at;
use sc_detection::incidents::{IncidentKey, key_of};
use sc_detection::net::HomeNetworks;
use sc_detection::records::{Finding, MatchedField, Severity, SigmaMatch, stable_id};
use securityclaw_sdk::Timestamp;

use crate::attack;
use crate::read::StoredEvent;
use crate::routing::Route;
use crate::ruleset::{RuleInfo, key_of as rule_key};

/// Matches of one rule, actor and host within this many milliseconds are one finding.
const BUCKET_MS: i64 = 5 * 60 * 1000;
/// Event ids kept per finding.
const MAX_IDS: usize = 50;

/// Who and where, from one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// When.
    pub at_ms: i64,
    /// Its index.
    pub index: String,
    /// The remote address, else the account, else the host.
    pub actor: String,
    /// The host the log came from (Windows) or the destination (network).
    pub target: Option<String>,
}

fn text(doc: &Value, field: &str) -> Option<String> {
    match value_at(doc, field)? {
        Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A remote address: not loopback, not unspecified.
fn remote(ip: &str) -> bool {
    ip.parse::<IpAddr>()
        .is_ok_and(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

impl Facts {
    /// The facts of a stored event read for `route`.
    pub fn of(event: &StoredEvent, route: Route) -> Facts {
        let doc = &event.doc;
        let source = text(doc, "source.ip").filter(|ip| remote(ip));
        let (actor, target) = match route {
            Route::Windows => (
                source
                    .or_else(|| text(doc, "user.name"))
                    .or_else(|| text(doc, "host.name")),
                text(doc, "host.name"),
            ),
            _ => (source, text(doc, "destination.ip")),
        };
        Facts {
            at_ms: event.at_ms,
            index: event.index.clone(),
            actor: actor.unwrap_or_else(|| "unknown".to_owned()),
            target,
        }
    }
}

/// Findings being assembled in one run.
pub struct Collector<'a> {
    home: &'a HomeNetworks,
    run_id: &'a str,
    /// By finding id: its incident key, the finding, the rule's severity.
    pub findings: BTreeMap<String, (IncidentKey, Finding, Severity)>,
}

impl<'a> Collector<'a> {
    /// An empty collector.
    pub fn new(home: &'a HomeNetworks, run_id: &'a str) -> Self {
        Self {
            home,
            run_id,
            findings: BTreeMap::new(),
        }
    }

    /// Adds the results of one event by rules of `info` (`facts` of events
    /// read this run, by id, for the events a correlation counted).
    pub fn add(
        &mut self,
        info: &HashMap<String, RuleInfo>,
        route: Route,
        event: &StoredEvent,
        results: Vec<EvaluationResult>,
        facts: &HashMap<String, Facts>,
    ) {
        for result in results {
            let key = rule_key(result.header.rule_id.as_deref(), &result.header.rule_title);
            let Some(rule) = info.get(&key) else {
                continue;
            };
            match result.body {
                ResultBody::Detection(_) if rule.correlation_only => {}
                ResultBody::Detection(detection) => {
                    let own = Facts::of(event, route);
                    let bucket = event.at_ms - event.at_ms.rem_euclid(BUCKET_MS);
                    let id = stable_id(&[
                        "finding",
                        "sigma",
                        &rule.rule_id,
                        &own.actor,
                        own.target.as_deref().unwrap_or(""),
                        &bucket.to_string(),
                    ]);
                    let fields = detection
                        .matched_fields
                        .into_iter()
                        .map(|m| MatchedField {
                            field: m.field,
                            value: m.value,
                        })
                        .collect();
                    let reason = format!("Sigma rule \"{}\" ({}) matched", rule.title, rule.level);
                    self.merge(
                        id,
                        route,
                        rule,
                        &own,
                        std::slice::from_ref(&event.id),
                        fields,
                        Vec::new(),
                        reason,
                    );
                }
                ResultBody::Correlation(correlation) => {
                    let ids: Vec<String> = correlation
                        .event_refs
                        .iter()
                        .flatten()
                        .filter_map(|r| r.id.clone())
                        .collect();
                    // The counted events' facts: the first one read this run
                    // (an event of an earlier run is named by id only).
                    let first = ids
                        .iter()
                        .find_map(|id| facts.get(id))
                        .cloned()
                        .unwrap_or_else(|| Facts::of(event, route));
                    let group: Vec<MatchedField> = correlation
                        .group_key
                        .iter()
                        .map(|(field, value)| MatchedField {
                            field: field.clone(),
                            value: Value::String(value.clone()),
                        })
                        .collect();
                    let group_text = correlation
                        .group_key
                        .iter()
                        .map(|(f, v)| format!("{f}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let id = stable_id(&[
                        "finding",
                        "sigma",
                        &rule.rule_id,
                        &group_text,
                        &first.at_ms.to_string(),
                    ]);
                    let reason = format!(
                        "Sigma correlation \"{}\" ({}, {}): {} within {} s for {}",
                        rule.title,
                        rule.level,
                        correlation.correlation_type.as_str(),
                        correlation.aggregated_value,
                        correlation.timespan_secs,
                        if group_text.is_empty() {
                            "all events"
                        } else {
                            &group_text
                        }
                    );
                    let ids = if ids.is_empty() {
                        vec![event.id.clone()]
                    } else {
                        ids
                    };
                    self.merge(
                        id.clone(),
                        route,
                        rule,
                        &first,
                        &ids,
                        group.clone(),
                        group,
                        reason,
                    );
                    // The window runs from the first counted event to the one that fired it.
                    if let Some((_, finding, _)) = self.findings.get_mut(&id) {
                        finding.window_end = finding.window_end.max(event.at_ms);
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn merge(
        &mut self,
        id: String,
        route: Route,
        rule: &RuleInfo,
        facts: &Facts,
        event_ids: &[String],
        fields: Vec<MatchedField>,
        group: Vec<MatchedField>,
        reason: String,
    ) {
        let targets: Vec<String> = facts.target.iter().cloned().collect();
        let inbound = route != Route::Windows
            && !self.home.contains(&facts.actor)
            && targets.iter().any(|t| self.home.contains(t));
        let key = match (route, &facts.target) {
            // A Windows rule is about the host whose log it is.
            (Route::Windows, Some(host)) => IncidentKey {
                kind: Kind::SigmaRule,
                entity: host.clone(),
                entity_is_actor: false,
            },
            _ => key_of(Kind::SigmaRule, &facts.actor, &targets, inbound),
        };
        let severity = Severity::from_sigma_level(&rule.level);
        let run_id = self.run_id;
        let entry = self.findings.entry(id.clone()).or_insert_with(|| {
            let (tactics, techniques) = attack::of_tags(&rule.tags);
            (
                key,
                Finding {
                    timestamp: Timestamp::from_epoch_millis(facts.at_ms).to_rfc3339(),
                    finding_id: id,
                    kind: Kind::SigmaRule,
                    grade: attack::grade(&rule.level),
                    actor: facts.actor.clone(),
                    targets,
                    inbound,
                    incident_id: String::new(),
                    detector_id: "sigma_detector".to_owned(),
                    window_start: facts.at_ms,
                    window_end: facts.at_ms,
                    top_features: Vec::new(),
                    reason,
                    suppressed: false,
                    source_id: event_ids.first().cloned().unwrap_or_default(),
                    run_id: run_id.to_owned(),
                    sigma: Some(SigmaMatch {
                        title: rule.title.clone(),
                        rule_id: rule.rule_id.clone(),
                        level: rule.level.clone(),
                        author: rule.author.clone(),
                        license: rule.license.clone(),
                        source: rule.source.clone(),
                        tags: rule.tags.clone(),
                        tactics,
                        techniques,
                        rule_type: rule.rule_type.clone(),
                        group,
                        event_ids: Vec::new(),
                        event_count: 0,
                        indices: Vec::new(),
                        matched_fields: fields,
                    }),
                },
                severity,
            )
        });
        let finding = &mut entry.1;
        finding.window_start = finding.window_start.min(facts.at_ms);
        finding.window_end = finding.window_end.max(facts.at_ms);
        if let Some(sigma) = &mut finding.sigma {
            sigma.event_count += event_ids.len() as u64;
            for id in event_ids {
                if sigma.event_ids.len() < MAX_IDS && !sigma.event_ids.contains(id) {
                    sigma.event_ids.push(id.clone());
                }
            }
            if !sigma.indices.contains(&facts.index) {
                sigma.indices.push(facts.index.clone());
            }
        }
    }
}
