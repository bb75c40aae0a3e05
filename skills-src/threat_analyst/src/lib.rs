//! `threat_analyst`: a verdict on an escalated incident or an entity, with
//! the evidence behind it. It gathers the entity's flows, alerts, DNS,
//! logons and web requests, its baselines and cached enrichment; asks the
//! model for a verdict in a schema and checks every address, port, domain,
//! user, hash and ATT&CK id it names against that evidence (asking once
//! more, then downgrading to `unknown`); without a model, deterministic
//! rules decide. The incident is marked `analyzed` only once its verdict is
//! written, so a crash leaves it in the queue.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use sc_detection::records::{INCIDENTS_INDEX, Incident};
use sc_detection::{Settings, discover, step};
use securityclaw_sdk::memory::EntryList;
use securityclaw_sdk::{
    CapabilityError, Invocation, Outcome, Skill, SkillError, Timestamp, db, export_skill, log,
    memory,
};

mod evidence;
mod mitre;
mod verdict;

use evidence::Evidence;
use verdict::{Answer, Conclusion, Mitre, Provenance};

/// The manifest: its body is the system prompt.
const MANIFEST: &str = include_str!("../instruction.md");

/// The system prompt: the manifest's markdown body.
fn system_prompt() -> &'static str {
    MANIFEST
        .splitn(3, "---")
        .nth(2)
        .map(str::trim)
        .unwrap_or(MANIFEST)
}

#[derive(Deserialize)]
struct Params {
    incident_id: Option<String>,
    entity: Option<String>,
    max_incidents: usize,
    context_hours: u64,
}

/// Minutes added on each side of an incident's first and last finding.
const MARGIN_MS: i64 = 15 * 60 * 1000;

/// Where the share of model verdicts that passed the check is counted.
const STATS_KEY: &str = "threat_analyst.stats";

/// What to analyse: an incident (with its stored record), or an entity.
struct Target {
    entity: String,
    incident: Option<(Incident, Value)>,
}

fn incidents(query: Value, size: usize) -> Result<Vec<(Incident, Value)>, SkillError> {
    let body = json!({"size": size, "query": query, "sort": [{"escalated_at": "asc"}, {"incident_id": "asc"}]});
    let text = match db::search_raw(&format!("{INCIDENTS_INDEX}*"), &body) {
        Ok(text) => text,
        // No incident was ever written: nothing is queued.
        Err(CapabilityError::Backend(m))
            if m.contains("no such index") || m.contains("index_not_found") =>
        {
            return Ok(Vec::new());
        }
        Err(err) => return step("reading incidents", Err(err)),
    };
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| {
            let source = h.get("_source")?.clone();
            Some((serde_json::from_value(source.clone()).ok()?, source))
        })
        .collect())
}

fn targets(params: &Params) -> Result<Vec<Target>, SkillError> {
    if let Some(id) = &params.incident_id {
        let found = incidents(json!({"ids": {"values": [id]}}), 1)?;
        let Some((incident, raw)) = found.into_iter().next() else {
            return Err(SkillError::InvalidInput(format!(
                "no incident `{id}` in {INCIDENTS_INDEX}"
            )));
        };
        return Ok(vec![Target {
            entity: incident.entity.clone(),
            incident: Some((incident, raw)),
        }]);
    }
    if let Some(entity) = &params.entity {
        if entity.parse::<std::net::IpAddr>().is_err() {
            return Err(SkillError::InvalidInput(format!(
                "`{entity}` is not an IP address"
            )));
        }
        // The entity's latest open incident, when it has one.
        let latest = incidents(
            json!({"bool": {"filter": [{"term": {"entity": entity}}, {"terms": {"status": ["escalated", "analyzed", "open"]}}]}}),
            1,
        )?;
        return Ok(vec![Target {
            entity: entity.clone(),
            incident: latest.into_iter().next(),
        }]);
    }
    Ok(incidents(
        json!({"term": {"status": "escalated"}}),
        params.max_incidents,
    )?
    .into_iter()
    .map(|(incident, raw)| Target {
        entity: incident.entity.clone(),
        incident: Some((incident, raw)),
    })
    .collect())
}

/// One finished analysis.
struct Analysis {
    entity: String,
    incident_id: Option<String>,
    answer: Answer,
    provenance: Provenance,
    evidence: Evidence,
}

impl Analysis {
    fn to_json(&self) -> Value {
        let items = &self.evidence.items;
        let evidence: Vec<Value> = self
            .answer
            .evidence
            .iter()
            .filter_map(|c| {
                let item = items.iter().find(|i| i.id == c.item)?;
                Some(json!({"item": c.item, "claim": c.claim, "what": item.what, "index": item.index, "doc_ids": item.doc_ids, "query": item.query}))
            })
            .collect();
        let names = |ids: &[String]| -> Vec<Value> {
            ids.iter().filter_map(|id| mitre::describe(id)).collect()
        };
        json!({
            "entity": self.entity,
            "incident_id": self.incident_id,
            "verdict": self.answer.verdict,
            "confidence": self.answer.confidence,
            "reasoning": self.answer.reasoning,
            "mitre": {"tactics": names(&self.answer.mitre.tactics), "techniques": names(&self.answer.mitre.techniques)},
            "recommended_action": self.answer.recommended_action,
            "evidence": evidence,
            "check": self.provenance,
            "items_gathered": items.len(),
        })
    }
}

fn analyse(
    invocation: &Invocation,
    target: &Target,
    context_hours: u64,
) -> Result<Analysis, SkillError> {
    let settings = Settings::load()?;
    let now = invocation.now;
    let (start, end) = match &target.incident {
        Some((incident, _)) => (
            Timestamp::from_epoch_millis(incident.first_seen - MARGIN_MS),
            Timestamp::from_epoch_millis((incident.last_seen + MARGIN_MS).min(now.epoch_millis())),
        ),
        None => (now.minus(Duration::from_secs(context_hours * 3600)), now),
    };
    let catalog = discover::load_or_discover(
        &settings.index_pattern(),
        &invocation.run_id,
        &now.to_rfc3339(),
    )?;
    let incident = target.incident.as_ref().map(|(i, _)| i);
    let (evidence, signals) = evidence::gather(&catalog, &target.entity, incident, start, end)?;
    let kind = incident.map(|i| i.kind);
    let candidates = kind
        .map(|k| mitre::candidates(k, &signals))
        .unwrap_or_default();
    let rules = || {
        verdict::by_rules(
            kind,
            &target.entity,
            &signals,
            &evidence,
            Mitre {
                tactics: candidates.0.clone(),
                techniques: candidates.1.clone(),
            },
        )
    };
    let subject = match incident {
        Some(i) => format!(
            "incident {} ({} {} {})",
            i.incident_id,
            i.kind.as_str(),
            if i.entity_is_actor { "by" } else { "against" },
            i.entity
        ),
        None => format!("the activity of {}", target.entity),
    };
    let (answer, provenance) = match verdict::by_model(system_prompt(), &evidence, &subject) {
        Ok(done) => done,
        Err(err) => {
            let note = match &err {
                CapabilityError::NotConfigured(_) => {
                    "no model is configured: deterministic rules decided".to_owned()
                }
                other => {
                    log::warn(&format!(
                        "the model could not give a verdict: {}",
                        securityclaw_sdk::describe(other)
                    ));
                    format!(
                        "the model failed ({}): deterministic rules decided",
                        securityclaw_sdk::describe(other)
                    )
                }
            };
            (
                rules(),
                Provenance {
                    source: "rules",
                    model: None,
                    passed_first_try: true,
                    attempts: 0,
                    unsupported: Vec::new(),
                    note: Some(note),
                    usage: None,
                },
            )
        }
    };
    Ok(Analysis {
        entity: target.entity.clone(),
        incident_id: incident.map(|i| i.incident_id.clone()),
        answer,
        provenance,
        evidence,
    })
}

/// Writes the verdict into the incident (status `analyzed`), then the
/// decision to memory: the incident leaves the queue only once its
/// verdict is stored.
fn record(invocation: &Invocation, analysis: &Analysis, target: &Target) -> Result<(), SkillError> {
    let verdict = {
        let mut v = analysis.to_json();
        v["run_id"] = json!(invocation.run_id);
        v["analyzed_at"] = json!(invocation.now.to_rfc3339());
        v
    };
    if let Some((incident, raw)) = &target.incident {
        let mut doc = raw.clone();
        doc["status"] = json!("analyzed");
        doc["verdict"] = verdict.clone();
        let written = step(
            "writing the verdict into the incident",
            db::bulk_index(
                INCIDENTS_INDEX,
                &[(Some(incident.incident_id.clone()), &doc)],
            ),
        )?;
        if written.failed > 0 {
            return Err(SkillError::Failed(format!(
                "the incident was not updated: {}",
                written.errors.join("; ")
            )));
        }
    }
    let line = format!(
        "{} {}: {:?} ({:.2}) by {}",
        analysis.incident_id.as_deref().unwrap_or("entity"),
        analysis.entity,
        analysis.answer.verdict,
        analysis.answer.confidence,
        analysis.provenance.source
    );
    step(
        "recording the decision",
        memory::append(EntryList::Decisions, &line, Some(&verdict)),
    )?;
    if analysis.answer.verdict == Conclusion::TrueThreat {
        step(
            "setting the focus",
            memory::set_focus(Some(&analysis.entity)),
        )?;
    }
    if analysis.provenance.source == "model" {
        let mut stats: Value = step("reading verdict statistics", memory::get(STATS_KEY))?
            .unwrap_or_else(|| json!({}));
        let bump = |v: &mut Value, k: &str| v[k] = json!(v[k].as_u64().unwrap_or(0) + 1);
        bump(&mut stats, "model_verdicts");
        if analysis.provenance.passed_first_try {
            bump(&mut stats, "passed_first_try");
        }
        step(
            "recording verdict statistics",
            memory::set(STATS_KEY, &stats),
        )?;
    }
    Ok(())
}

struct ThreatAnalyst;

impl Skill for ThreatAnalyst {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let targets = targets(&params)?;
        if targets.is_empty() {
            return Ok(Outcome::no_data("no escalated incident is waiting"));
        }
        let mut done = Vec::new();
        let mut left = 0;
        for target in &targets {
            // A model verdict can take a while: stop between incidents,
            // leaving the rest queued.
            if !done.is_empty() && invocation.remaining() < Duration::from_secs(60) {
                left += 1;
                continue;
            }
            let analysis = analyse(&invocation, target, params.context_hours)?;
            record(&invocation, &analysis, target)?;
            done.push(analysis);
        }
        let summary = done
            .iter()
            .map(|a| {
                format!(
                    "{} {:?} ({:.2})",
                    a.entity, a.answer.verdict, a.answer.confidence
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Outcome::ok(
            format!(
                "{} analysed: {summary}{}",
                done.len(),
                if left > 0 {
                    format!("; {left} left queued")
                } else {
                    String::new()
                }
            ),
            json!({"analyses": done.iter().map(Analysis::to_json).collect::<Vec<_>>(), "left_queued": left, "attack": {"version": sc_evidence::attack::catalog().version, "notice": sc_evidence::attack::catalog().notice}}),
        ))
    }
}

export_skill!(ThreatAnalyst);

#[cfg(test)]
mod tests;
