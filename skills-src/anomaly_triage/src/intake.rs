//! Reading what arrived since the cursor: anomaly results (ours and the AD
//! plugin's) and IDS alerts, each in time order, each at most once. The
//! cursor holds the last time read and the ids read at that time, so a
//! page boundary inside one instant neither skips nor repeats a record.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sc_detection::behaviour::Kind;
use sc_detection::catalog::value_at;
pub use sc_detection::position::{Position, epoch_millis};
use sc_detection::records::{AnomalyResult, ResultDetail};
use sc_detection::{Role, SourceCatalog, step};
use securityclaw_sdk::{SkillError, Timestamp, db};

/// The cursor of every stream triage reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Anomaly results.
    pub results: Position,
    /// IDS alerts, per index group (keyed by its pattern).
    pub alerts: std::collections::BTreeMap<String, Position>,
}

/// The memory key of the cursor.
pub const CURSOR_KEY: &str = "anomaly_triage.cursor";

const PAGE: u32 = 1_000;

/// Reads one stream from `position` up to `now` (inclusive), in time order,
/// at most `limit` records; the position moves past what was returned.
fn read(
    pattern: &str,
    time_field: &str,
    time_value: &dyn Fn(i64) -> Value,
    extra: Option<Value>,
    position: &mut Position,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<(String, Value, i64)>, SkillError> {
    let mut filter = vec![
        json!({"range": {time_field: {"gte": time_value(position.at_ms), "lte": time_value(now.epoch_millis())}}}),
    ];
    filter.extend(extra);
    let mut out = Vec::new();
    let mut from = 0u32;
    loop {
        let body = json!({"from": from, "size": PAGE, "query": {"bool": {"filter": filter}}, "sort": [{time_field: "asc"}]});
        let hits = step(
            &format!("reading `{pattern}`"),
            db::search::<Value>(pattern, &body),
        )?
        .hits;
        let page_len = hits.len();
        for hit in hits {
            let Some(at_ms) = value_at(&hit.source, time_field).and_then(epoch_millis) else {
                continue;
            };
            if position.has_read(at_ms, &hit.id) {
                continue;
            }
            position.advance(at_ms, &hit.id);
            out.push((hit.id, hit.source, at_ms));
            if out.len() >= limit {
                return Ok(out);
            }
        }
        from += PAGE;
        if page_len < PAGE as usize || from + PAGE > 10_000 {
            return Ok(out);
        }
    }
}

/// New anomaly results in `pattern` (ours and the plugin's alike), read in
/// (`execution_end_time`, `result_id`) order with `search_after`.
pub fn results(
    pattern: &str,
    position: &mut Position,
    until: Timestamp,
    limit: usize,
) -> Result<Vec<(String, AnomalyResult)>, SkillError> {
    let mut out = Vec::new();
    loop {
        let mut body = json!({
            "size": PAGE,
            "query": {"bool": {"filter": [{"range": {"execution_end_time": {"gte": position.at_ms, "lte": until.epoch_millis()}}}]}},
            "sort": [{"execution_end_time": "asc"}, {"result_id": "asc"}],
        });
        if let Some(after) = &position.after_id {
            body["search_after"] = json!([position.at_ms, after]);
        }
        let hits = step(
            &format!("reading `{pattern}`"),
            db::search::<Value>(pattern, &body),
        )?
        .hits;
        let page_len = hits.len();
        for hit in hits {
            let Ok(mut result) = serde_json::from_value::<AnomalyResult>(hit.source) else {
                continue;
            };
            position.at_ms = result.execution_end_time;
            if result.result_id.is_empty() {
                // A plugin result: no id of ours to page on.
                result.result_id = hit.id.clone();
            }
            position.after_id = Some(result.result_id.clone());
            if result.securityclaw.is_none() {
                // A plugin result: its entity (or, for a single-entity
                // detector, the detector) is the actor, its kind no more
                // than "unlike normal".
                let actor = result
                    .entity
                    .first()
                    .map_or_else(|| result.detector_id.clone(), |e| e.value.clone());
                result.securityclaw = Some(ResultDetail {
                    kind: Kind::UnusualVolume,
                    actor,
                    targets: Vec::new(),
                    inbound: false,
                    reason: format!(
                        "OpenSearch AD detector `{}` graded it {:.2}",
                        result.detector_id, result.anomaly_grade
                    ),
                    evidence: Value::Null,
                    run_id: String::new(),
                });
            }
            out.push((hit.id, result));
            if out.len() >= limit {
                return Ok(out);
            }
        }
        if page_len < PAGE as usize {
            return Ok(out);
        }
    }
}

/// One IDS alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its document id.
    pub id: String,
    /// When, epoch milliseconds.
    pub at_ms: i64,
    /// Who set it off.
    pub actor: String,
    /// Against whom.
    pub target: Option<String>,
    /// The rule or signature (attacker-influenced text: data only).
    pub rule: String,
    /// The IDS severity (Suricata: 1 is the worst).
    pub severity: Option<i64>,
}

/// New IDS alerts in one index group.
pub fn alerts(
    source: &SourceCatalog,
    position: &mut Position,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Alert>, SkillError> {
    let time_field = source.field(Role::Timestamp).unwrap_or("@timestamp");
    let to_text = |ms: i64| json!(Timestamp::from_epoch_millis(ms).to_rfc3339());
    let raw = read(
        &source.pattern(),
        time_field,
        &to_text,
        None,
        position,
        now,
        limit,
    )?;
    let text = |doc: &Value, role: Role| {
        source
            .field(role)
            .and_then(|f| value_at(doc, f))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    };
    Ok(raw
        .into_iter()
        .filter_map(|(id, doc, at_ms)| {
            Some(Alert {
                actor: text(&doc, Role::SourceIp)?,
                target: text(&doc, Role::DestinationIp),
                rule: text(&doc, Role::Rule).unwrap_or_else(|| "unnamed alert".to_owned()),
                severity: source
                    .field(Role::Severity)
                    .and_then(|f| value_at(&doc, f))
                    .and_then(Value::as_i64),
                id,
                at_ms,
            })
        })
        .collect())
}
