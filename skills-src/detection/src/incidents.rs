//! Findings into incidents: one incident per kind of behaviour and entity
//! (the actor, or for attacks from outside the host attacked, so 1,500
//! scanners of one host are one incident) while it keeps being seen within
//! the window. Counts are recomputed from the findings index each time, so
//! recording the same finding twice (a run retried after a crash) changes
//! nothing. A change of fingerprint (severity up) re-opens a closed
//! incident; HIGH and CRITICAL ones are escalated once.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::behaviour::Kind;
use crate::records::{
    self, FINDINGS_INDEX, Finding, INCIDENTS_INDEX, Incident, IncidentStatus, Severity, stable_id,
};
use crate::step;
use securityclaw_sdk::memory::{AgentStatus, EntryList};
use securityclaw_sdk::{SkillError, Timestamp, db, memory};

/// Reads incidents and findings: patterns, so a store without them yet
/// answers with nothing instead of an error.
const INCIDENTS_READ: &str = "securityclaw-incidents*";
const FINDINGS_READ: &str = "securityclaw-findings*";
const SUPPRESSIONS_READ: &str = "securityclaw-suppressions*";

/// What an incident is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IncidentKey {
    /// The behaviour.
    pub kind: Kind,
    /// The entity.
    pub entity: String,
    /// Whether the entity is the actor.
    pub entity_is_actor: bool,
}

/// The key a finding files under.
pub fn key_of(kind: Kind, actor: &str, targets: &[String], inbound: bool) -> IncidentKey {
    match (inbound, targets.first()) {
        (true, Some(target)) => IncidentKey {
            kind,
            entity: target.clone(),
            entity_is_actor: false,
        },
        _ => IncidentKey {
            kind,
            entity: actor.to_owned(),
            entity_is_actor: true,
        },
    }
}

/// An analyst's false-positive mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    kind: Option<Kind>,
    entity: String,
    record: Value,
}

/// The suppressions in force at `now`.
pub fn suppressions(now: Timestamp) -> Result<Vec<Suppression>, SkillError> {
    let body = json!({"size": 1000, "query": {"match_all": {}}});
    let hits = step(
        "reading suppressions",
        db::search::<Value>(SUPPRESSIONS_READ, &body),
    )?
    .hits;
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let doc = hit.source;
            let expired = doc
                .get("expires_at")
                .and_then(Value::as_str)
                .and_then(Timestamp::parse_rfc3339)
                .is_some_and(|at| at <= now);
            let entity = doc.get("entity")?.as_str()?.to_owned();
            let kind = doc
                .get("kind")
                .cloned()
                .and_then(|k| serde_json::from_value(k).ok());
            (!expired).then_some(Suppression {
                kind,
                entity,
                record: doc,
            })
        })
        .collect())
}

/// The suppression covering a finding, if any.
pub fn suppressed_by<'a>(
    all: &'a [Suppression],
    key: &IncidentKey,
    actor: &str,
) -> Option<&'a Suppression> {
    all.iter().find(|s| {
        s.kind.is_none_or(|k| k == key.kind) && (s.entity == key.entity || s.entity == actor)
    })
}

/// The incident a new finding of `key` at `at_ms` joins: the open one seen
/// within the window, else a new id.
pub fn incident_for(
    key: &IncidentKey,
    at_ms: i64,
    window_ms: i64,
) -> Result<(String, Option<Incident>), SkillError> {
    let body = json!({
        "size": 1,
        "query": {"bool": {"filter": [
            {"term": {"kind": key.kind.as_str()}},
            {"term": {"entity": key.entity}},
            {"range": {"last_seen": {"gte": at_ms - window_ms}}},
        ]}},
        "sort": [{"last_seen": "desc"}],
    });
    let hits = step(
        "looking up the incident",
        db::search::<Incident>(INCIDENTS_READ, &body),
    )?
    .hits;
    match hits.into_iter().next() {
        Some(hit) => Ok((hit.source.incident_id.clone(), Some(hit.source))),
        None => Ok((
            stable_id(&[
                "incident",
                key.kind.as_str(),
                &key.entity,
                &at_ms.to_string(),
            ]),
            None,
        )),
    }
}

/// What changed for an incident in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// New.
    Opened,
    /// Seen again, nothing material.
    Updated,
    /// Severity went up or a closed one came back.
    Reopened,
}

/// Recomputes an incident from its findings and returns it with what changed.
pub fn rebuild(
    id: &str,
    key: &IncidentKey,
    previous: Option<Incident>,
    suppression: Option<&Suppression>,
    ids_severity: Option<Severity>,
    now: Timestamp,
) -> Result<(Incident, Change), SkillError> {
    let aggs = json!({
        "actors": {"cardinality": {"field": "actor"}},
        "top_actors": {"terms": {"field": "actor", "size": 100}},
        "top_targets": {"terms": {"field": "targets", "size": 100}},
        "max_grade": {"max": {"field": "grade"}},
        "first": {"min": {"field": "window_start"}},
        "last": {"max": {"field": "window_end"}},
        "inbound": {"filter": {"term": {"inbound": true}}},
    });
    let query = json!({"term": {"incident_id": id}});
    let answer = step(
        "counting the incident's findings",
        db::aggregate(FINDINGS_READ, Some(&query), &aggs),
    )?;
    let count = step(
        "counting the incident's findings",
        db::count(FINDINGS_READ, Some(&query)),
    )?;
    let num = |p: &str| answer.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let keys = |p: &str| -> Vec<String> {
        answer
            .pointer(p)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| b.get("key").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let max_grade = num("/max_grade/value");
    let inbound = num("/inbound/doc_count") > 0.0;
    let severity = match ids_severity {
        Some(ids) => ids.max(previous.as_ref().map_or(Severity::Low, |p| p.severity)),
        None => records::severity(key.kind, max_grade, inbound),
    };
    let actors = keys("/top_actors/buckets");
    let fingerprint = stable_id(&[
        "fingerprint",
        key.kind.as_str(),
        &key.entity,
        &format!("{severity:?}"),
    ]);
    let change = match &previous {
        None => Change::Opened,
        Some(p) if p.fingerprint != fingerprint && severity > p.severity => Change::Reopened,
        Some(p) if p.status == IncidentStatus::Closed && p.fingerprint != fingerprint => {
            Change::Reopened
        }
        Some(_) => Change::Updated,
    };
    let mut status = previous.as_ref().map_or(IncidentStatus::Open, |p| p.status);
    let mut escalated_at = previous.as_ref().and_then(|p| p.escalated_at.clone());
    if change == Change::Reopened && status == IncidentStatus::Closed {
        status = IncidentStatus::Open;
    }
    if suppression.is_some() {
        status = IncidentStatus::Suppressed;
    } else if severity.escalates() && (status == IncidentStatus::Open || change == Change::Reopened)
    {
        status = IncidentStatus::Escalated;
        escalated_at = Some(now.to_rfc3339());
    }
    let first_seen = num("/first/value") as i64;
    let summary = format!(
        "{} {} {}: {} finding(s) from {} actor(s), max grade {:.2}",
        key.kind.as_str(),
        if key.entity_is_actor { "by" } else { "against" },
        key.entity,
        count,
        num("/actors/value") as u64,
        max_grade
    );
    Ok((
        Incident {
            timestamp: Timestamp::from_epoch_millis(first_seen).to_rfc3339(),
            incident_id: id.to_owned(),
            kind: key.kind,
            entity: key.entity.clone(),
            entity_is_actor: key.entity_is_actor,
            severity,
            status,
            max_grade,
            finding_count: count,
            actor_count: num("/actors/value") as u64,
            actors,
            targets: keys("/top_targets/buckets"),
            first_seen,
            last_seen: num("/last/value") as i64,
            fingerprint,
            summary,
            escalated_at,
            suppression: suppression.map(|s| s.record.clone()),
            // A verdict stays with the incident; a reopened one is analysed again.
            verdict: previous.as_ref().and_then(|p| p.verdict.clone()),
        },
        change,
    ))
}

/// Writes findings, refusing silently lost ones.
pub fn write_findings(findings: &[Finding]) -> Result<(), SkillError> {
    for chunk in findings.chunks(2_000) {
        let docs: Vec<(Option<String>, &Finding)> = chunk
            .iter()
            .map(|f| (Some(f.finding_id.clone()), f))
            .collect();
        let written = step("writing findings", db::bulk_index(FINDINGS_INDEX, &docs))?;
        if written.failed > 0 {
            return Err(SkillError::Failed(format!(
                "{} findings refused by the store: {}",
                written.failed,
                written.errors.join("; ")
            )));
        }
    }
    Ok(())
}

/// Writes incidents.
pub fn write_incidents(incidents: &BTreeMap<String, Incident>) -> Result<(), SkillError> {
    if incidents.is_empty() {
        return Ok(());
    }
    let docs: Vec<(Option<String>, &Incident)> = incidents
        .values()
        .map(|i| (Some(i.incident_id.clone()), i))
        .collect();
    let written = step("writing incidents", db::bulk_index(INCIDENTS_INDEX, &docs))?;
    if written.failed > 0 {
        return Err(SkillError::Failed(format!(
            "{} incidents refused by the store: {}",
            written.failed,
            written.errors.join("; ")
        )));
    }
    Ok(())
}

/// What [`record`] did.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The findings written, each with its incident and suppression.
    pub findings: Vec<Finding>,
    /// The incidents they touched, by id.
    pub incidents: BTreeMap<String, Incident>,
    /// Incidents opened.
    pub opened: usize,
    /// Incidents newly escalated.
    pub escalated: usize,
}

/// Writes `found` (each with its key and, when its source has one, a
/// severity its incident's is at least) and groups them into incidents:
/// one lookup per key, counts recomputed, escalations noted in the working
/// set once the incidents are durable.
pub fn record(
    found: Vec<(IncidentKey, Finding, Option<Severity>)>,
    suppressions: &[Suppression],
    now: Timestamp,
    window_ms: i64,
) -> Result<Recorded, SkillError> {
    if found.is_empty() {
        return Ok(Recorded::default());
    }
    let mut by_key: BTreeMap<IncidentKey, (String, Option<Incident>, Option<Severity>)> =
        BTreeMap::new();
    let mut findings = Vec::with_capacity(found.len());
    for (key, mut finding, severity) in found {
        if !by_key.contains_key(&key) {
            let (id, previous) = incident_for(&key, finding.window_end, window_ms)?;
            by_key.insert(key.clone(), (id, previous, None));
        }
        let slot = by_key.get_mut(&key).expect("inserted above");
        finding.incident_id = slot.0.clone();
        slot.2 = slot.2.max(severity);
        finding.suppressed = suppressed_by(suppressions, &key, &finding.actor).is_some();
        findings.push(finding);
    }
    write_findings(&findings)?;

    let mut incidents = BTreeMap::new();
    let (mut opened, mut escalated) = (0usize, 0usize);
    let mut notes = Vec::new();
    for (key, (id, previous, severity)) in by_key {
        let was = previous.as_ref().map(|p| p.status);
        let suppression = suppressed_by(suppressions, &key, &key.entity);
        let (incident, change) = rebuild(&id, &key, previous, suppression, severity, now)?;
        if change == Change::Opened {
            opened += 1;
            notes.push((
                EntryList::Findings,
                incident.summary.clone(),
                json!({"incident_id": incident.incident_id, "kind": incident.kind, "severity": incident.severity}),
            ));
        }
        let newly_escalated = incident.status == IncidentStatus::Escalated
            && (was != Some(IncidentStatus::Escalated) || change == Change::Reopened);
        if newly_escalated {
            escalated += 1;
            notes.push((
                EntryList::Escalations,
                incident.summary.clone(),
                json!({"incident_id": incident.incident_id, "kind": incident.kind, "severity": incident.severity, "entity": incident.entity}),
            ));
        }
        incidents.insert(id, incident);
    }
    write_incidents(&incidents)?;
    // The working set is told only once the incidents are durable, so a
    // failed write and its retry do not note the same incident twice.
    for (list, text, data) in &notes {
        let _ = memory::append(list.clone(), text, Some(data));
    }
    if escalated > 0 {
        // The working-set view only; the durable queue is the incidents index.
        let _ = memory::set_status(AgentStatus::Escalating);
    }
    Ok(Recorded {
        findings,
        incidents,
        opened,
        escalated,
    })
}
