//! The durable detection records `anomaly_triage` writes (findings,
//! incidents) as the API and the CLI read them, with filters and paging,
//! and an analyst's false-positive mark: a suppression (kind + entity, who,
//! why, until when) in `securityclaw-suppressions`, the incident set to
//! `suppressed`, and an audit record. Triage reads the suppressions, so
//! later findings of that kind and entity are stored and counted but never
//! escalated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sc_core::CapabilityError;
use sc_core::db::DbBackend;
use sc_state::audit::AuditEvent;

use crate::host::SkillHost;

/// Where incidents are read from (a pattern: none yet is not an error).
pub const INCIDENTS: &str = "securityclaw-incidents*";
/// Where findings are read from.
pub const FINDINGS: &str = "securityclaw-findings*";
/// Where suppressions are written.
pub const SUPPRESSIONS_INDEX: &str = "securityclaw-suppressions";
const INCIDENTS_INDEX: &str = "securityclaw-incidents";

/// Incident statuses, as triage writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Below the escalation bar.
    Open,
    /// In the analyst queue.
    Escalated,
    /// `threat_analyst` recorded a verdict; an analyst decides what next.
    Analyzed,
    /// Marked a false positive.
    Suppressed,
    /// Done with.
    Closed,
}

/// Incident severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// Which records to read.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Only incidents in this status.
    pub status: Option<IncidentStatus>,
    /// Only incidents of this severity.
    pub severity: Option<Severity>,
    /// Only this kind of behaviour (`scan`, `brute_force`, `beacon`…).
    pub kind: Option<String>,
    /// Only this entity (an incident's entity, a finding's actor).
    pub entity: Option<String>,
    /// Only findings of this incident.
    pub incident_id: Option<String>,
    /// Only records last seen at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only records first seen before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// How many (1–1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// How many to skip (paging; at most 9000).
    #[param(minimum = 0, maximum = 9000)]
    pub offset: Option<u32>,
}

/// One page of records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    /// Records matching the filter.
    pub total: u64,
    /// This page, newest first.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Value>,
}

/// Why a read or a suppression failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A filter value is out of range.
    #[error("{0}")]
    BadFilter(String),
    /// No incident has that id.
    #[error("no incident `{0}`")]
    NotFound(String),
    /// The store failed.
    #[error("the telemetry store: {0}")]
    Store(#[from] CapabilityError),
}

/// An RFC 3339 time from a filter or a request, or the error naming it.
fn time(name: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, RecordError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                RecordError::BadFilter(format!(
                    "{name} must be an RFC 3339 time such as 2026-12-01T00:00:00Z"
                ))
            })
    })
    .transpose()
}

impl Filter {
    fn page(&self) -> Result<(u32, u32), RecordError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(RecordError::BadFilter("limit must be 1 to 1000".into()));
        }
        if offset > 9_000 {
            return Err(RecordError::BadFilter("offset must be at most 9000".into()));
        }
        Ok((limit, offset))
    }

    fn clauses(
        &self,
        entity_field: &str,
        last: &str,
        first: &str,
        with_status: bool,
    ) -> Result<Vec<Value>, RecordError> {
        let mut filter = Vec::new();
        let since = time("since", self.since.as_deref())?;
        let until = time("until", self.until.as_deref())?;
        if with_status {
            if let Some(status) = self.status {
                filter.push(json!({"term": {"status": status}}));
            }
            if let Some(severity) = self.severity {
                filter.push(json!({"term": {"severity": severity}}));
            }
        }
        if let Some(kind) = self.kind.as_ref().filter(|k| !k.is_empty()) {
            filter.push(json!({"term": {"kind": kind}}));
        }
        if let Some(entity) = self.entity.as_ref().filter(|e| !e.is_empty()) {
            filter.push(json!({"term": {entity_field: entity}}));
        }
        if let Some(id) = self.incident_id.as_ref().filter(|i| !i.is_empty()) {
            filter.push(json!({"term": {"incident_id": id}}));
        }
        if let Some(since) = since {
            filter.push(json!({"range": {last: {"gte": since.timestamp_millis()}}}));
        }
        if let Some(until) = until {
            filter.push(json!({"range": {first: {"lt": until.timestamp_millis()}}}));
        }
        Ok(filter)
    }
}

async fn read(
    db: &dyn DbBackend,
    pattern: &str,
    filter: Vec<Value>,
    sort: &str,
    (limit, offset): (u32, u32),
) -> Result<RecordPage, RecordError> {
    let body = json!({
        "from": offset,
        "size": limit,
        "query": {"bool": {"filter": filter}},
        "sort": [{sort: "desc"}],
        "track_total_hits": true,
    });
    let answer = db.search(pattern, body).await?;
    let total = answer
        .pointer("/hits/total/value")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let records = answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .map(|hits| {
            hits.iter()
                .filter_map(|h| h.get("_source").cloned())
                .collect()
        })
        .unwrap_or_default();
    Ok(RecordPage { total, records })
}

/// Incidents matching the filter, most recently seen first.
pub async fn incidents(db: &dyn DbBackend, filter: &Filter) -> Result<RecordPage, RecordError> {
    let page = filter.page()?;
    read(
        db,
        INCIDENTS,
        filter.clauses("entity", "last_seen", "first_seen", true)?,
        "last_seen",
        page,
    )
    .await
}

/// Findings matching the filter, newest first.
pub async fn findings(db: &dyn DbBackend, filter: &Filter) -> Result<RecordPage, RecordError> {
    let page = filter.page()?;
    read(
        db,
        FINDINGS,
        filter.clauses("actor", "window_end", "window_start", false)?,
        "window_end",
        page,
    )
    .await
}

/// What an analyst says when marking an incident a false positive.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressRequest {
    /// Why it is a false positive.
    #[schema(min_length = 1, pattern = r"\S")]
    pub reason: String,
    /// Until when (RFC 3339); for ever when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// Marks an incident a false positive: writes the suppression, sets the
/// incident `suppressed`, records it in the audit trail. Returns the
/// suppression.
pub async fn suppress(
    host: &SkillHost,
    id: &str,
    actor: &str,
    request: &SuppressRequest,
) -> Result<Value, RecordError> {
    if request.reason.trim().is_empty() {
        return Err(RecordError::BadFilter(
            "reason must say why it is a false positive".into(),
        ));
    }
    let expires_at = time("expires_at", request.expires_at.as_deref())?;
    let db = host.backends().db.as_ref();
    let body = json!({"size": 1, "query": {"term": {"incident_id": id}}});
    let answer = db.search(INCIDENTS, body).await?;
    let Some(mut incident) = answer.pointer("/hits/hits/0/_source").cloned() else {
        return Err(RecordError::NotFound(id.to_owned()));
    };
    let kind = incident.get("kind").cloned().unwrap_or(Value::Null);
    let entity = incident.get("entity").cloned().unwrap_or(Value::Null);
    let now = host.clock().now();
    let suppression = json!({
        "@timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "kind": kind,
        "entity": entity,
        "incident_id": id,
        "by": actor,
        "reason": request.reason,
        "expires_at": expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    });
    let suppression_id = sc_core::digest(format!("{kind}\n{entity}").as_bytes());
    db.bulk_index(
        SUPPRESSIONS_INDEX,
        vec![(Some(suppression_id), suppression.clone())],
    )
    .await?;
    incident["status"] = json!(IncidentStatus::Suppressed);
    incident["suppression"] = suppression.clone();
    db.bulk_index(INCIDENTS_INDEX, vec![(Some(id.to_owned()), incident)])
        .await?;
    host.record_audit(AuditEvent {
        actor: actor.to_owned(),
        action: "incident.suppress".to_owned(),
        parameters_digest: Some(sc_core::digest(
            format!("{id}\n{}", request.reason).as_bytes(),
        )),
        outcome: "suppressed".to_owned(),
        ..AuditEvent::default()
    });
    Ok(suppression)
}
