//! Rules into engines: every rule file parsed on its own (a broken one is
//! reported with its file and reason and never stops the others), disabled
//! ids and levels dropped, each rule routed by its `logsource`, and one
//! compiled correlation engine per route, so a rule only ever sees the
//! events of the indices it was written for.

use std::collections::{BTreeMap, HashMap};

use rsigma_eval::{
    CorrelationAction, CorrelationConfig, CorrelationEngine, CorrelationEventMode, apply_pipelines,
    compile_rule, pipeline::apply_pipelines_to_correlation,
};
use rsigma_parser::{CorrelationRule, SigmaCollection, SigmaRule, parse_sigma_yaml};
use serde::Serialize;

use crate::routing::Route;

/// One rule file's text and where it came from.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// `builtin:<file>` or the path in the rules folder.
    pub source: String,
    /// Its YAML (one or more documents).
    pub text: String,
}

/// A rule (or file) that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The file.
    pub source: String,
    /// The rule's title, when the problem is one rule's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What is wrong, and what to do.
    pub reason: String,
}

/// What a finding shows of its rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    /// Title.
    pub title: String,
    /// Id (the title when it has none).
    pub rule_id: String,
    /// Level, lower case.
    pub level: String,
    /// Author.
    pub author: Option<String>,
    /// Licence.
    pub license: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// File.
    pub source: String,
    /// `detection` or the correlation type.
    pub rule_type: String,
    /// A detection rule that reports only through the correlations that
    /// refer to it (Sigma's `generate: false`, the default).
    pub correlation_only: bool,
}

/// One route's compiled rules.
pub struct Group {
    /// Which indices.
    pub route: Route,
    /// The compiled rules and correlations.
    pub engine: CorrelationEngine,
    /// Detection rules in it.
    pub rules: usize,
    /// Correlation rules in it.
    pub correlations: usize,
    /// The longest correlation window (capped at [`MAX_REPLAY_MS`]): how
    /// far before the cursor a run replays events to rebuild its windows.
    pub replay_ms: i64,
}

/// The most a run replays before its cursor: correlations over longer
/// windows see only what one hour before the cursor holds.
pub const MAX_REPLAY_MS: i64 = 3_600_000;

/// Which rules to leave out.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Rule ids (or titles) to drop.
    pub disabled_rules: Vec<String>,
    /// Levels to drop (`informational`, `low`…).
    pub disabled_levels: Vec<String>,
}

impl Filter {
    fn drops(&self, id: Option<&str>, title: &str, level: Option<&str>) -> bool {
        let named = |s: &str| {
            self.disabled_rules
                .iter()
                .any(|d| d.eq_ignore_ascii_case(s))
        };
        id.is_some_and(named)
            || named(title)
            || level.is_some_and(|l| {
                self.disabled_levels
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(l))
            })
    }
}

/// Every usable rule, compiled, with what was left out and why.
pub struct RuleSet {
    /// Engines by route.
    pub groups: Vec<Group>,
    /// Rules by id (or title), for findings.
    pub info: HashMap<String, RuleInfo>,
    /// What could not be used.
    pub problems: Vec<Problem>,
    /// Rules left out by configuration.
    pub disabled: usize,
}

impl RuleSet {
    /// Detection and correlation rules compiled.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules + g.correlations).sum()
    }
}

/// The key a rule is known by in results: its id, else its title.
pub fn key_of(id: Option<&str>, title: &str) -> String {
    id.map_or_else(|| title.to_owned(), str::to_owned)
}

/// The engine settings every group shares; `emit_detections` makes rules a
/// correlation refers to report on their own too (for a trial).
pub fn engine_config(emit_detections: bool) -> CorrelationConfig {
    CorrelationConfig {
        timestamp_fields: vec!["@timestamp".to_owned()],
        // A correlation that fired starts counting again, so a burst of
        // 500 failures is one finding, not 490.
        action_on_match: CorrelationAction::Reset,
        // Otherwise rules a correlation refers to report through it only
        // (Sigma's `generate: false` default).
        emit_detections,
        correlation_event_mode: CorrelationEventMode::Refs,
        max_correlation_events: 50,
        // Bounds a busy group's window (a pair with thousands of
        // connections); thresholds are far below it.
        max_group_entries: Some(1_000),
        ..CorrelationConfig::default()
    }
}

/// Parses, filters, routes and compiles `files`.
pub fn build(files: &[RuleFile], filter: &Filter) -> RuleSet {
    build_as(files, filter, false)
}

/// [`build`] for a trial: every detection rule reports its matches, also
/// the ones only a correlation would report.
pub fn build_for_trial(files: &[RuleFile]) -> RuleSet {
    let mut set = build_as(files, &Filter::default(), true);
    for info in set.info.values_mut() {
        info.correlation_only = false;
    }
    set
}

fn build_as(files: &[RuleFile], filter: &Filter, emit_detections: bool) -> RuleSet {
    let mut problems = Vec::new();
    let mut disabled = 0usize;
    let mut rules: Vec<(String, SigmaRule)> = Vec::new();
    let mut correlations: Vec<(String, CorrelationRule)> = Vec::new();
    let mut filters = Vec::new();
    let mut info = HashMap::new();
    for file in files {
        let collection: SigmaCollection = match parse_sigma_yaml(&file.text) {
            Ok(collection) => collection,
            Err(err) => {
                problems.push(Problem {
                    source: file.source.clone(),
                    rule: None,
                    reason: format!("not a Sigma rule file: {err}"),
                });
                continue;
            }
        };
        for err in &collection.errors {
            problems.push(Problem {
                source: file.source.clone(),
                rule: None,
                reason: format!("a document was skipped: {err}"),
            });
        }
        filters.extend(collection.filters);
        for rule in collection.rules {
            let level = rule.level.map(|l| l.as_str());
            if filter.drops(rule.id.as_deref(), &rule.title, level) {
                disabled += 1;
                continue;
            }
            info.insert(
                key_of(rule.id.as_deref(), &rule.title),
                RuleInfo {
                    title: rule.title.clone(),
                    rule_id: key_of(rule.id.as_deref(), &rule.title),
                    level: level.unwrap_or("medium").to_owned(),
                    author: rule.author.clone(),
                    license: rule.license.clone(),
                    tags: rule.tags.clone(),
                    source: file.source.clone(),
                    rule_type: "detection".to_owned(),
                    correlation_only: false,
                },
            );
            rules.push((file.source.clone(), rule));
        }
        for corr in collection.correlations {
            let level = corr.level.map(|l| l.as_str());
            if filter.drops(corr.id.as_deref(), &corr.title, level) {
                disabled += 1;
                continue;
            }
            info.insert(
                key_of(corr.id.as_deref(), &corr.title),
                RuleInfo {
                    title: corr.title.clone(),
                    rule_id: key_of(corr.id.as_deref(), &corr.title),
                    level: level.unwrap_or("medium").to_owned(),
                    author: corr.author.clone(),
                    license: corr.license.clone(),
                    tags: corr.tags.clone(),
                    source: file.source.clone(),
                    rule_type: corr.correlation_type.as_str().to_owned(),
                    correlation_only: false,
                },
            );
            correlations.push((file.source.clone(), corr));
        }
    }

    // Detection rules a correlation refers to (by id or name) report
    // through it only, unless it says `generate: true`.
    let mut names: HashMap<String, String> = HashMap::new();
    for (_, rule) in &rules {
        let key = key_of(rule.id.as_deref(), &rule.title);
        for name in rule.id.iter().chain(rule.name.iter()) {
            names.insert(name.clone(), key.clone());
        }
    }
    // Names to ids, where the referred rule has an id.
    let mut ids: HashMap<String, String> = HashMap::new();
    for (name, id) in rules
        .iter()
        .map(|(_, r)| (&r.name, &r.id))
        .chain(correlations.iter().map(|(_, c)| (&c.name, &c.id)))
    {
        if let (Some(name), Some(id)) = (name, id) {
            ids.insert(name.clone(), id.clone());
        }
    }
    for (_, corr) in &correlations {
        if corr.generate {
            continue;
        }
        for reference in &corr.rules {
            if let Some(info) = names.get(reference).and_then(|k| info.get_mut(k)) {
                let info: &mut RuleInfo = info;
                info.correlation_only = true;
            }
        }
    }

    // Detection rules: routed, mapped and compiled one by one, so one bad
    // rule is one problem.
    let mut routes: HashMap<String, Route> = HashMap::new();
    let mut by_route: BTreeMap<Route, (Vec<SigmaRule>, Vec<CorrelationRule>)> = BTreeMap::new();
    for (source, rule) in rules {
        let problem = |reason: String| Problem {
            source: source.clone(),
            rule: Some(rule.title.clone()),
            reason,
        };
        let route = match Route::of(&rule.logsource) {
            Ok(route) => route,
            Err(reason) => {
                problems.push(problem(reason));
                continue;
            }
        };
        let mut mapped = rule.clone();
        let compiled = apply_pipelines(&[route.pipeline()], &mut mapped)
            .map_err(|e| format!("its fields could not be mapped: {e}"))
            .and_then(|()| compile_rule(&mapped).map(|_| ()).map_err(|e| e.to_string()));
        if let Err(reason) = compiled {
            problems.push(problem(format!("it does not compile: {reason}")));
            continue;
        }
        for name in rule.id.iter().chain(rule.name.iter()) {
            routes.insert(name.clone(), route);
        }
        by_route.entry(route).or_default().0.push(rule);
    }

    // Correlations: routed by the rules they refer to (which may be other
    // correlations, so resolve until nothing changes).
    let mut pending = correlations;
    loop {
        let before = pending.len();
        let mut waiting = Vec::new();
        for (source, corr) in pending {
            let refs: Vec<Option<Route>> =
                corr.rules.iter().map(|r| routes.get(r).copied()).collect();
            if refs.iter().any(Option::is_none) {
                waiting.push((source, corr));
                continue;
            }
            let mut distinct: Vec<Route> = refs.into_iter().flatten().collect();
            distinct.dedup();
            if distinct.len() != 1 {
                problems.push(Problem {
                    source,
                    rule: Some(corr.title.clone()),
                    reason: "its rules read different log sources; a correlation's rules must share one (e.g. all `product: windows`)".to_owned(),
                });
                continue;
            }
            let route = distinct[0];
            let mut mapped = corr.clone();
            if let Err(err) =
                apply_pipelines_to_correlation(&[route.correlation_pipeline()], &mut mapped)
            {
                problems.push(Problem {
                    source,
                    rule: Some(corr.title.clone()),
                    reason: format!("its fields could not be mapped: {err}"),
                });
                continue;
            }
            for name in corr.id.iter().chain(corr.name.iter()) {
                routes.insert(name.clone(), route);
            }
            // Referred to by id, so the engine knows which rules report
            // only through it (it compares results' ids).
            for reference in &mut mapped.rules {
                if let Some(id) = ids.get(reference.as_str()) {
                    *reference = id.clone();
                }
            }
            by_route.entry(route).or_default().1.push(mapped);
        }
        if waiting.len() == before || waiting.is_empty() {
            for (source, corr) in waiting {
                problems.push(Problem {
                    source,
                    rule: Some(corr.title.clone()),
                    reason: format!(
                        "it refers to rules that are not loaded ({}); refer to loaded rules by id or name, and check they are not disabled or broken",
                        corr.rules
                            .iter()
                            .filter(|r| !routes.contains_key(*r))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            break;
        }
        pending = waiting;
    }

    let mut groups = Vec::new();
    for (route, (rules, correlations)) in by_route {
        let mut engine = CorrelationEngine::new(engine_config(emit_detections));
        engine.add_pipeline(route.pipeline());
        let mut collection = SigmaCollection::new();
        collection.rules = rules;
        // Sigma filters name the rules they apply to; others ignore them.
        collection.filters = filters.clone();
        let rule_count = collection.rules.len();
        if let Err(err) = engine.add_collection(&collection) {
            problems.push(Problem {
                source: route.pattern(),
                rule: None,
                reason: format!(
                    "the rules for these indices could not be compiled together: {err}"
                ),
            });
            continue;
        }
        let mut correlation_count = 0;
        let replay_ms = correlations
            .iter()
            .map(|c| i64::try_from(c.timespan.seconds.saturating_mul(1000)).unwrap_or(i64::MAX))
            .max()
            .unwrap_or(0)
            .min(MAX_REPLAY_MS);
        for corr in correlations {
            // Mapped above already; the engine's own pipeline has
            // `logsource` conditions, which a correlation never meets.
            match engine.add_correlation(&corr) {
                Ok(()) => correlation_count += 1,
                Err(err) => problems.push(Problem {
                    source: info
                        .get(&key_of(corr.id.as_deref(), &corr.title))
                        .map_or_else(String::new, |i: &RuleInfo| i.source.clone()),
                    rule: Some(corr.title.clone()),
                    reason: format!("it does not compile: {err}"),
                }),
            }
        }
        groups.push(Group {
            route,
            engine,
            rules: rule_count,
            correlations: correlation_count,
            replay_ms,
        });
    }
    RuleSet {
        groups,
        info,
        problems,
        disabled,
    }
}
