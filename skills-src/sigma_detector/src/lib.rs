//! `sigma_detector`: Sigma detection and correlation rules (the project's
//! own and a user's folder) run over the events stored since its cursor,
//! each rule over the indices its `logsource` maps to, with field names
//! mapped by pipelines. Matches become findings with the rule's
//! attribution and ATT&CK tags, and findings become incidents the way
//! triage groups them. With `test_rule`, one rule file is tried instead
//! (`sc-host sigma test`).

mod attack;
mod event;
mod findings;
mod read;
mod routing;
mod rules;
mod ruleset;
mod trial;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use sc_detection::incidents;
use sc_detection::{Settings, step};
use securityclaw_sdk::{
    Invocation, Outcome, Skill, SkillError, Timestamp, config, export_skill, files, log, memory,
};

use ruleset::{Filter, RuleFile, RuleSet};

use event::IndexedEvent;
use findings::{Collector, Facts};
use read::{CURSOR_KEY, Cursor, Position};
use rules::{FINGERPRINT_KEY, Fingerprint};

struct SigmaDetector;

#[derive(Deserialize)]
struct Params {
    max_events: usize,
    initial_lookback_hours: u64,
    #[serde(default)]
    test_rule: Option<String>,
    #[serde(default)]
    index: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    max_matches: usize,
}

/// Events read per page of the run (memory stays bounded however many arrive).
const CHUNK: usize = 5_000;

fn time_param(name: &str, value: Option<&str>, default: i64) -> Result<i64, SkillError> {
    match value {
        None => Ok(default),
        Some(text) => Timestamp::parse_rfc3339(text)
            .map(Timestamp::epoch_millis)
            .ok_or_else(|| {
                SkillError::InvalidInput(format!(
                    "`{name}` must be an RFC 3339 time such as 2019-02-13T18:00:00Z, not `{text}`"
                ))
            }),
    }
}

fn filter() -> Result<(Filter, bool), SkillError> {
    let list = |key: &str| -> Result<Vec<String>, SkillError> {
        Ok(step(&format!("reading the setting `{key}`"), config::get(key))?.unwrap_or_default())
    };
    let builtin: Option<bool> = step(
        "reading the setting `builtin_rules`",
        config::get("builtin_rules"),
    )?;
    Ok((
        Filter {
            disabled_rules: list("disabled_rules")?,
            disabled_levels: list("disabled_levels")?,
        },
        builtin.unwrap_or(true),
    ))
}

impl Skill for SigmaDetector {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let now = invocation.now;
        if let Some(text) = &params.test_rule {
            return trial::run(&trial::Trial {
                text,
                index: params.index.as_deref(),
                from_ms: time_param("from", params.from.as_deref(), 0)?,
                to_ms: time_param("to", params.to.as_deref(), now.epoch_millis())?,
                max_events: params.max_events,
                max_matches: params.max_matches,
            });
        }

        let (filter, with_builtin) = filter()?;
        let mut files = if with_builtin {
            rules::builtin()
        } else {
            Vec::new()
        };
        let (user_files, mut problems) = match files::folder(rules::FOLDER_GRANT) {
            Ok(root) => rules::folder(&root),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let user_count = user_files.len();
        files.extend(user_files);
        let fingerprint = Fingerprint::of(&files);
        let before: Fingerprint = memory::get(FINGERPRINT_KEY)
            .ok()
            .flatten()
            .unwrap_or_default();
        let (added, removed, changed) = fingerprint.changes(&before);

        let compiling = Instant::now();
        let mut set = ruleset::build(&files, &filter);
        let compile_time = compiling.elapsed();
        problems.append(&mut set.problems);
        for problem in &problems {
            log::warn(&format!(
                "rule not used: {}{}: {}",
                problem.source,
                problem
                    .rule
                    .as_deref()
                    .map(|r| format!(" \"{r}\""))
                    .unwrap_or_default(),
                problem.reason
            ));
        }
        if set.rule_count() == 0 {
            return Ok(Outcome::no_data(format!(
                "no usable Sigma rules ({} file(s), {} problem(s), {} disabled)",
                files.len(),
                problems.len(),
                set.disabled
            ))
            .with(json!({"problems": problems})));
        }

        let settings = Settings::load()?;
        let home = settings.home()?;
        let window_ms = i64::from(settings.incident_window_hours) * 3_600_000;
        let mut cursor: Cursor =
            step("reading the cursor", memory::get(CURSOR_KEY))?.unwrap_or_default();
        let start_ms = match params.initial_lookback_hours {
            0 => 0,
            hours => now.minus(Duration::from_secs(hours * 3600)).epoch_millis(),
        };

        let mut collector = Collector::new(&home, &invocation.run_id);
        let mut pass = Pass::default();
        pass.scan(
            &mut set,
            &mut cursor.positions,
            start_ms,
            now.epoch_millis(),
            params.max_events,
            &mut collector,
        )?;
        // Rule files new or changed since the last run also go over the
        // lookback window, so a rule added today finds this morning's
        // events (stable finding ids make a second look at the newest
        // events change nothing).
        let fresh: Vec<RuleFile> = files
            .iter()
            .filter(|f| {
                !before.0.is_empty() && (added.contains(&f.source) || changed.contains(&f.source))
            })
            .cloned()
            .collect();
        let mut backfilled = 0usize;
        if !fresh.is_empty() {
            let mut newer = ruleset::build(&fresh, &filter);
            backfilled = newer.rule_count();
            let mut positions = BTreeMap::new();
            pass.scan(
                &mut newer,
                &mut positions,
                start_ms,
                now.epoch_millis(),
                params.max_events,
                &mut collector,
            )?;
        }
        let Pass {
            read_by_pattern,
            read_total,
            more,
            match_time,
            matched,
        } = pass;

        let found: Vec<_> = collector.findings.into_values().collect();
        let suppressions = if found.is_empty() {
            Vec::new()
        } else {
            incidents::suppressions(now)?
        };
        let found = found
            .into_iter()
            .map(|(key, finding, severity)| (key, finding, Some(severity)))
            .collect();
        let recorded = incidents::record(found, &suppressions, now, window_ms)?;
        step("saving the cursor", memory::set(CURSOR_KEY, &cursor))?;
        let _ = memory::set(FINGERPRINT_KEY, &fingerprint);

        let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
        for f in &recorded.findings {
            if let Some(s) = &f.sigma {
                *by_rule.entry(s.title.clone()).or_default() += 1;
            }
        }
        let summary = format!(
            "{} finding(s) from {read_total} event(s) by {} rule(s) ({} from the rules folder, {} disabled, {} problem(s)); {} incident(s) ({} new, {} escalated){}",
            recorded.findings.len(),
            set.rule_count(),
            user_count,
            set.disabled,
            problems.len(),
            recorded.incidents.len(),
            recorded.opened,
            recorded.escalated,
            if more {
                "; more events wait for the next run"
            } else {
                ""
            }
        );
        Ok(Outcome::ok(
            summary,
            json!({
                "events_read": read_by_pattern,
                "rules": {
                    "compiled": set.rule_count(),
                    "groups": set.groups.iter().map(|g| json!({"indices": g.route.pattern(), "rules": g.rules, "correlations": g.correlations})).collect::<Vec<_>>(),
                    "disabled": set.disabled,
                    "folder_files": user_count,
                    "added": added,
                    "removed": removed,
                    "changed": changed,
                    "backfilled": backfilled,
                },
                "problems": problems,
                "findings": recorded.findings.iter().map(|f| {
                    let s = f.sigma.as_ref();
                    json!({
                        "finding_id": f.finding_id,
                        "rule": s.map(|s| &s.title),
                        "rule_id": s.map(|s| &s.rule_id),
                        "level": s.map(|s| &s.level),
                        "author": s.and_then(|s| s.author.as_ref()),
                        "tactics": s.map(|s| s.tactics.iter().map(|t| &t.name).collect::<Vec<_>>()),
                        "techniques": s.map(|s| s.techniques.iter().map(|t| &t.id).collect::<Vec<_>>()),
                        "actor": f.actor,
                        "targets": f.targets,
                        "events": s.map(|s| s.event_count),
                        "incident_id": f.incident_id,
                    })
                }).collect::<Vec<_>>(),
                "by_rule": by_rule,
                "timing": {
                    "compile_ms": compile_time.as_secs_f64() * 1000.0,
                    "match_ms": match_time.as_secs_f64() * 1000.0,
                    "events_matched": matched,
                    "events_per_second": if match_time.is_zero() { 0.0 } else { matched as f64 / match_time.as_secs_f64() },
                },
                "incidents": recorded.incidents.values().map(|i| json!({"incident_id": i.incident_id, "entity": i.entity, "severity": i.severity, "status": i.status, "findings": i.finding_count})).collect::<Vec<_>>(),
                "opened": recorded.opened,
                "escalated": recorded.escalated,
                "more": more,
            }),
        ))
    }
}

/// One reading of events by rule sets, with what it read and how long the
/// engine took (reading from the store not counted).
#[derive(Default)]
struct Pass {
    read_by_pattern: BTreeMap<String, usize>,
    read_total: usize,
    more: bool,
    match_time: Duration,
    /// Events the engine ran over (an event of two groups' indices counts twice).
    matched: u64,
}

impl Pass {
    /// Runs `set` over the events after `positions` (new ones start at
    /// `start_ms`) up to `now_ms`, at most `max_events` in all passes.
    fn scan(
        &mut self,
        set: &mut RuleSet,
        positions: &mut BTreeMap<String, Position>,
        start_ms: i64,
        now_ms: i64,
        max_events: usize,
        collector: &mut Collector<'_>,
    ) -> Result<(), SkillError> {
        for group in &mut set.groups {
            let pattern = group.route.pattern();
            // Correlation windows are rebuilt from the events just before
            // the cursor, so a burst split by the run boundary is still one
            // burst; what those events set off was reported already.
            let seen = positions.get(&pattern).cloned();
            let mut position = match &seen {
                Some(p) if group.replay_ms > 0 => Position::at(p.at_ms - group.replay_ms),
                Some(p) => p.clone(),
                None => Position::at(start_ms),
            };
            let was_seen = |event: &read::StoredEvent| {
                seen.as_ref()
                    .is_some_and(|p| p.has_read(event.at_ms, &event.id))
            };
            let mut facts: HashMap<String, Facts> = HashMap::new();
            loop {
                let budget = max_events.saturating_sub(self.read_total).min(CHUNK);
                if budget == 0 {
                    self.more = true;
                    break;
                }
                let events = read::read(&pattern, &mut position, now_ms, budget)?;
                let last_page = events.len() < budget;
                self.read_total += events.len();
                *self.read_by_pattern.entry(pattern.clone()).or_default() += events.len();
                for event in &events {
                    facts.insert(event.id.clone(), Facts::of(event, group.route));
                }
                for event in &events {
                    let matching = Instant::now();
                    let results = group.engine.process_event_at(
                        &IndexedEvent::new(&event.doc),
                        event.at_ms.div_euclid(1000),
                    );
                    self.match_time += matching.elapsed();
                    self.matched += 1;
                    if !results.is_empty() && !was_seen(event) {
                        collector.add(&set.info, group.route, event, results, &facts);
                    }
                }
                // Facts are for naming the events a correlation counted;
                // its window is minutes, so older pages can go.
                if facts.len() > 4 * CHUNK {
                    let newest = events.last().map_or(0, |e| e.at_ms);
                    facts.retain(|_, f| newest - f.at_ms < 3_600_000);
                }
                if last_page {
                    break;
                }
            }
            // A replay cut short by the budget must not move the cursor back.
            let ahead = seen.as_ref().is_none_or(|p| {
                position.at_ms > p.at_ms
                    || position.at_ms == p.at_ms && position.ids.len() >= p.ids.len()
            });
            if ahead {
                positions.insert(pattern, position);
            }
        }
        Ok(())
    }
}

export_skill!(SigmaDetector);

#[cfg(test)]
mod tests;
