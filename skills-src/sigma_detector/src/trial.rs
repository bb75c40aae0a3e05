//! One rule file tried over stored events, for rule authors (`sc-host
//! sigma test`): every match with why it matched (the engine's trace of
//! each selection and field), correlations with what they counted. Nothing
//! is written and no cursor moves.

use std::collections::HashMap;

use rsigma_eval::{ResultBody, apply_pipelines, compile_rule, explain_rule};
use rsigma_parser::parse_sigma_yaml;
use serde_json::{Value, json};

use securityclaw_sdk::{Outcome, SkillError, Timestamp};

use crate::event::IndexedEvent;
use crate::read::{self, Position};
use crate::routing::Route;
use crate::ruleset::{self, RuleFile, key_of};

/// What to try and over what.
pub struct Trial<'a> {
    /// The rule file's YAML.
    pub text: &'a str,
    /// Indices to read instead of the rule's own.
    pub index: Option<&'a str>,
    /// From (epoch ms).
    pub from_ms: i64,
    /// To (epoch ms).
    pub to_ms: i64,
    /// Events read at most.
    pub max_events: usize,
    /// Matches shown at most.
    pub max_matches: usize,
}

/// Runs the trial.
pub fn run(trial: &Trial<'_>) -> Result<Outcome, SkillError> {
    let file = RuleFile {
        source: "rule under test".to_owned(),
        text: trial.text.to_owned(),
    };
    let mut set = ruleset::build_for_trial(std::slice::from_ref(&file));
    if set.rule_count() == 0 {
        let reasons: Vec<String> = set
            .problems
            .iter()
            .map(|p| match &p.rule {
                Some(rule) => format!("\"{rule}\": {}", p.reason),
                None => p.reason.clone(),
            })
            .collect();
        return Err(SkillError::InvalidInput(format!(
            "the file holds no usable rule: {}",
            if reasons.is_empty() {
                "it has no rules".to_owned()
            } else {
                reasons.join("; ")
            }
        )));
    }
    // The detection rules again, compiled on their own for the trace.
    let mut compiled = HashMap::new();
    if let Ok(collection) = parse_sigma_yaml(trial.text) {
        for mut rule in collection.rules {
            let Ok(route) = Route::of(&rule.logsource) else {
                continue;
            };
            if apply_pipelines(&[route.pipeline()], &mut rule).is_ok()
                && let Ok(c) = compile_rule(&rule)
            {
                compiled.insert(key_of(rule.id.as_deref(), &rule.title), c);
            }
        }
    }

    let mut matches = Vec::new();
    let mut correlations = Vec::new();
    let mut read_total = 0usize;
    let mut more = false;
    for group in &mut set.groups {
        let pattern = trial
            .index
            .map_or_else(|| group.route.pattern(), str::to_owned);
        let mut position = Position::at(trial.from_ms);
        loop {
            let budget = trial.max_events.saturating_sub(read_total).min(5_000);
            if budget == 0 {
                more = true;
                break;
            }
            let events = read::read(&pattern, &mut position, trial.to_ms, budget)?;
            let last_page = events.len() < budget;
            read_total += events.len();
            for event in &events {
                let view = IndexedEvent::new(&event.doc);
                for result in group
                    .engine
                    .process_event_at(&view, event.at_ms.div_euclid(1000))
                {
                    let key = key_of(result.header.rule_id.as_deref(), &result.header.rule_title);
                    let info = set.info.get(&key);
                    let rule = json!({
                        "title": result.header.rule_title,
                        "id": key,
                        "level": info.map(|i| i.level.clone()),
                        "author": info.and_then(|i| i.author.clone()),
                    });
                    match result.body {
                        ResultBody::Detection(detection) => {
                            if matches.len() >= trial.max_matches {
                                more = true;
                                continue;
                            }
                            let why = compiled.get(&key).map(|c| {
                                serde_json::to_value(explain_rule(c, &view)).unwrap_or(Value::Null)
                            });
                            matches.push(json!({
                                "rule": rule,
                                "event_id": event.id,
                                "index": event.index,
                                "@timestamp": Timestamp::from_epoch_millis(event.at_ms).to_rfc3339(),
                                "matched_fields": detection.matched_fields,
                                "why": why,
                            }));
                        }
                        ResultBody::Correlation(correlation) => {
                            if correlations.len() >= trial.max_matches {
                                more = true;
                                continue;
                            }
                            correlations.push(json!({
                                "rule": rule,
                                "type": correlation.correlation_type.as_str(),
                                "group": correlation.group_key.iter().map(|(f, v)| json!({"field": f, "value": v})).collect::<Vec<_>>(),
                                "value": correlation.aggregated_value,
                                "timespan_seconds": correlation.timespan_secs,
                                "fired_at": Timestamp::from_epoch_millis(event.at_ms).to_rfc3339(),
                                "event_ids": correlation.event_refs.iter().flatten().filter_map(|r| r.id.clone()).collect::<Vec<_>>(),
                            }));
                        }
                    }
                }
            }
            if last_page {
                break;
            }
        }
    }
    let mut infos: Vec<_> = set.info.values().collect();
    infos.sort_by(|a, b| a.title.cmp(&b.title));
    let rules: Vec<Value> = infos
        .into_iter()
        .map(|i| json!({"title": i.title, "id": i.rule_id, "level": i.level, "type": i.rule_type, "author": i.author, "license": i.license}))
        .collect();
    Ok(Outcome::ok(
        format!(
            "{} match(es) and {} correlation firing(s) in {read_total} events{}",
            matches.len(),
            correlations.len(),
            if more { " (stopped at the limits)" } else { "" }
        ),
        json!({
            "rules": rules,
            "problems": set.problems,
            "events_read": read_total,
            "matches": matches,
            "correlations": correlations,
            "truncated": more,
        }),
    ))
}
