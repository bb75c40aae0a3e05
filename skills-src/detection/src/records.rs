//! The durable records detection writes through `db`: anomaly results in
//! the document shape of the OpenSearch Anomaly Detection plugin (so triage
//! reads the plugin's output and ours the same way), findings, and the
//! incidents findings are grouped into. Ids are stable hashes, so writing
//! a record again replaces it instead of duplicating it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::behaviour::Kind;

/// Where our anomaly results go.
pub const RESULTS_INDEX: &str = "securityclaw-anomaly-results";
/// Where the OpenSearch AD plugin writes its results.
pub const AD_PLUGIN_RESULTS: &str = ".opendistro-anomaly-results*";
/// Findings: one per result (or IDS alert) past the severity threshold.
pub const FINDINGS_INDEX: &str = "securityclaw-findings";
/// Incidents: findings of one kind and entity over a sliding window.
pub const INCIDENTS_INDEX: &str = "securityclaw-incidents";

/// A stable id: hex of the first 16 bytes of SHA-256 over the parts.
pub fn stable_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An entity field of a result, as the AD plugin writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityField {
    /// The field (`source.ip`).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// One feature of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureData {
    /// Its id.
    pub feature_id: String,
    /// Its name.
    pub feature_name: String,
    /// Its value in the interval.
    pub data: f64,
}

/// How much a feature made the result anomalous (shares summing to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The feature.
    pub feature_id: String,
    /// Its share.
    pub data: f64,
}

/// What we add to the AD plugin's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultDetail {
    /// The behaviour.
    pub kind: Kind,
    /// Who did it.
    pub actor: String,
    /// Whom it was done to.
    #[serde(default)]
    pub targets: Vec<String>,
    /// From outside the home networks to inside them.
    #[serde(default)]
    pub inbound: bool,
    /// One line for people.
    pub reason: String,
    /// The numbers behind it.
    #[serde(default)]
    pub evidence: Value,
    /// The run that wrote it.
    pub run_id: String,
}

/// An anomaly result, shaped like the AD plugin's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyResult {
    /// Which detector.
    pub detector_id: String,
    /// The result's own stable id (ours; triage pages on it).
    #[serde(default)]
    pub result_id: String,
    /// The entity (absent for a single-entity AD plugin detector).
    #[serde(default)]
    pub entity: Vec<EntityField>,
    /// 0 (normal) to 1 (absent on the plugin's error results).
    #[serde(default)]
    pub anomaly_grade: f64,
    /// The raw score (RCF score, beacon score…).
    #[serde(default)]
    pub anomaly_score: f64,
    /// How sure the detector is, 0–1.
    #[serde(default)]
    pub confidence: f64,
    /// The features in the interval.
    #[serde(default)]
    pub feature_data: Vec<FeatureData>,
    /// Their shares of the anomaly.
    #[serde(default)]
    pub relevant_attribution: Vec<Attribution>,
    /// The interval, epoch milliseconds.
    pub data_start_time: i64,
    /// End of the interval.
    pub data_end_time: i64,
    /// When the run started (the run's clock).
    pub execution_start_time: i64,
    /// When it ended (the run's clock).
    pub execution_end_time: i64,
    /// Ours; absent in the plugin's results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub securityclaw: Option<ResultDetail>,
}

impl AnomalyResult {
    /// Its stable id: detector, entity, kind, targets and interval, so
    /// two behaviours of one entity in one interval stay two results.
    pub fn id(&self) -> String {
        let entity: Vec<&str> = self.entity.iter().map(|e| e.value.as_str()).collect();
        let (kind, targets) = match &self.securityclaw {
            Some(d) => {
                let mut targets = d.targets.clone();
                targets.sort();
                (d.kind.as_str(), targets.join(","))
            }
            None => ("", String::new()),
        };
        stable_id(&[
            &self.detector_id,
            &entity.join(","),
            kind,
            &targets,
            &self.data_start_time.to_string(),
            &self.data_end_time.to_string(),
        ])
    }

    /// Sets `result_id` from [`AnomalyResult::id`] and returns it.
    pub fn seal(&mut self) -> String {
        self.result_id = self.id();
        self.result_id.clone()
    }
}

/// How bad an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Worth a look some day.
    Low,
    /// Worth a look.
    Medium,
    /// Needs an analyst.
    High,
    /// Needs an analyst now.
    Critical,
}

impl Severity {
    /// A Sigma `level` as ours: `informational` and `low` are Low.
    pub fn from_sigma_level(level: &str) -> Severity {
        match level {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            _ => Severity::Low,
        }
    }

    /// Whether an incident of this severity goes to the analyst queue.
    pub fn escalates(self) -> bool {
        self >= Severity::High
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Recorded, below the escalation bar.
    Open,
    /// In the queue `threat_analyst` drains.
    Escalated,
    /// `threat_analyst` recorded a verdict; an analyst decides what next.
    Analyzed,
    /// An analyst marked it a false positive; its findings are suppressed.
    Suppressed,
    /// Done with.
    Closed,
}

/// One finding: a result (or IDS alert) past the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// ECS-style event time: the end of the interval.
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// Stable id (from the result).
    pub finding_id: String,
    /// The behaviour.
    pub kind: Kind,
    /// 0–1.
    pub grade: f64,
    /// Who did it.
    pub actor: String,
    /// Whom.
    pub targets: Vec<String>,
    /// From outside the home networks to inside them.
    pub inbound: bool,
    /// The incident it belongs to.
    pub incident_id: String,
    /// The detector.
    pub detector_id: String,
    /// The interval, epoch milliseconds.
    pub window_start: i64,
    /// End of it.
    pub window_end: i64,
    /// The features that weighed most.
    pub top_features: Vec<String>,
    /// One line for people.
    pub reason: String,
    /// Stored and counted, never escalated (an analyst suppressed it).
    pub suppressed: bool,
    /// The result or alert it came from.
    pub source_id: String,
    /// The run that recorded it.
    pub run_id: String,
    /// The Sigma rule behind it, when a rule matched (`kind` `sigma_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<SigmaMatch>,
}

/// An ATT&CK tactic or technique a rule is tagged with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackRef {
    /// `TA0006`, `T1110.003`.
    pub id: String,
    /// Its name in the embedded ATT&CK release.
    pub name: String,
}

/// A field of an event that a rule matched, with the value it had there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedField {
    /// The stored field (`winlog.event_data.LogonType`).
    pub field: String,
    /// Its value (attacker-influenced text: data only).
    pub value: Value,
}

/// What a Sigma rule match carries into its finding. The author is shown
/// wherever the match is: the Detection Rule License that SigmaHQ rules
/// carry requires the credit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigmaMatch {
    /// The rule's title.
    pub title: String,
    /// Its id (a UUID in SigmaHQ rules; the title when it has none).
    pub rule_id: String,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub level: String,
    /// Its author, as the rule states it.
    pub author: Option<String>,
    /// Its licence, as the rule states it (SigmaHQ: DRL 1.1).
    pub license: Option<String>,
    /// Where the rule came from: `builtin:<file>` or the file in the rules folder.
    pub source: String,
    /// Its tags, as written.
    pub tags: Vec<String>,
    /// ATT&CK tactics, from its tags (and its techniques' tactics).
    pub tactics: Vec<AttackRef>,
    /// ATT&CK techniques, from its tags.
    pub techniques: Vec<AttackRef>,
    /// `detection`, or the correlation type (`event_count`, `value_count`, `temporal`, `temporal_ordered`).
    pub rule_type: String,
    /// What a correlation grouped by, with the values (empty for a detection).
    #[serde(default)]
    pub group: Vec<MatchedField>,
    /// The events matched (document ids; up to 50).
    pub event_ids: Vec<String>,
    /// How many events matched in the window.
    pub event_count: u64,
    /// The indices the events came from.
    pub indices: Vec<String>,
    /// The fields that matched, from the first event.
    pub matched_fields: Vec<MatchedField>,
}

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// ECS-style time: when it was first seen.
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// Stable id.
    pub incident_id: String,
    /// The behaviour.
    pub kind: Kind,
    /// Who it is about (the actor, or the target of many actors).
    pub entity: String,
    /// Whether `entity` is the actor (else the target).
    pub entity_is_actor: bool,
    /// How bad.
    pub severity: Severity,
    /// Where it stands.
    pub status: IncidentStatus,
    /// Highest grade of its findings.
    pub max_grade: f64,
    /// Findings in it.
    pub finding_count: u64,
    /// Distinct actors.
    pub actor_count: u64,
    /// The busiest actors (up to 100).
    pub actors: Vec<String>,
    /// Its targets (up to 100).
    pub targets: Vec<String>,
    /// First and last finding time, epoch milliseconds.
    pub first_seen: i64,
    /// Last.
    pub last_seen: i64,
    /// Kind, entity and severity: what makes a change material.
    pub fingerprint: String,
    /// Why, in one line (from its strongest finding).
    pub summary: String,
    /// When it was escalated (RFC 3339), if it was.
    #[serde(default)]
    pub escalated_at: Option<String>,
    /// Who suppressed it and why, if someone did.
    #[serde(default)]
    pub suppression: Option<Value>,
    /// The latest verdict `threat_analyst` recorded, with its evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Value>,
}

/// The severity of an incident of `kind` at `grade`, its actors being
/// outside (`inbound`) or inside the home networks.
pub fn severity(kind: Kind, grade: f64, inbound: bool) -> Severity {
    let base = match kind {
        // The Internet scans everyone; an inside host scanning is recon.
        Kind::Scan if inbound => Severity::Medium,
        Kind::Scan => Severity::High,
        Kind::BruteForce if inbound => Severity::Medium,
        Kind::BruteForce => Severity::High,
        Kind::Beacon | Kind::Dga | Kind::Exfiltration => Severity::High,
        Kind::UnusualVolume => Severity::Medium,
        Kind::IdsAlert => Severity::Medium,
        // The rule's own level decides (see `Severity::from_sigma_level`).
        Kind::SigmaRule => Severity::Medium,
    };
    if base == Severity::High && grade >= 0.95 {
        Severity::Critical
    } else {
        base
    }
}

/// An IDS severity (Suricata: 1 is the worst) as ours.
pub fn ids_severity(level: Option<i64>) -> Severity {
    match level {
        Some(1) => Severity::High,
        Some(2) => Severity::Medium,
        _ => Severity::Low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_part_boundaries_count() {
        assert_eq!(stable_id(&["a", "b"]), stable_id(&["a", "b"]));
        assert_ne!(stable_id(&["ab", ""]), stable_id(&["a", "b"]));
        assert_eq!(stable_id(&["x"]).len(), 32);
    }

    #[test]
    fn inside_scanners_escalate_and_internet_noise_does_not() {
        assert!(!severity(Kind::Scan, 1.0, true).escalates());
        assert!(severity(Kind::Scan, 0.8, false).escalates());
        assert_eq!(severity(Kind::Beacon, 0.97, false), Severity::Critical);
        assert!(Severity::Critical > Severity::High);
    }
}
