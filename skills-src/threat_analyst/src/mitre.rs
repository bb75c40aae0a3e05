//! The ATT&CK tactics and techniques each kind of behaviour maps to: the
//! candidates a verdict may cite (the evidence check refuses any other),
//! all of them real ids of the embedded ATT&CK release.

use serde_json::{Value, json};

use sc_detection::behaviour::Kind;
use sc_evidence::attack::{self, Known};

use crate::evidence::Signals;

/// Tactics and techniques for `kind` (done by or to the entity: the same
/// behaviour either way).
pub fn candidates(kind: Kind, signals: &Signals) -> (Vec<String>, Vec<String>) {
    let (tactics, techniques): (&[&str], &[&str]) = match kind {
        // Probing from outside is reconnaissance; from inside, discovery.
        Kind::Scan => (
            &["TA0043", "TA0007"],
            &["T1595", "T1595.001", "T1595.002", "T1046", "T1018"],
        ),
        Kind::BruteForce => (&["TA0006"], &["T1110", "T1110.001", "T1110.003", "T1021"]),
        Kind::Beacon => (&["TA0011"], &["T1071", "T1071.001", "T1573", "T1571"]),
        Kind::Exfiltration => (&["TA0010"], &["T1041", "T1048", "T1567"]),
        Kind::Dga => (&["TA0011"], &["T1568", "T1568.002", "T1071.004"]),
        Kind::UnusualVolume => (&["TA0011", "TA0010"], &["T1071", "T1041"]),
        Kind::IdsAlert => (
            &["TA0043", "TA0001", "TA0011"],
            &["T1595", "T1190", "T1071"],
        ),
        // A rule's own tags are added from its findings (see `with_rule_tags`).
        Kind::SigmaRule => (&[], &[]),
    };
    let mut tactics: Vec<String> = tactics.iter().map(|s| (*s).to_owned()).collect();
    let mut techniques: Vec<String> = techniques.iter().map(|s| (*s).to_owned()).collect();
    // What the matched Sigma rules are tagged with (checked against the
    // release below, like the rest).
    for id in &signals.rule_attack {
        if id.starts_with("TA") {
            tactics.push(id.clone());
        } else {
            techniques.push(id.clone());
        }
    }
    // Logons that succeeded after failures: valid accounts were used.
    if signals.auth_successes > 0 && signals.auth_failures > 0 {
        tactics.push("TA0001".to_owned());
        techniques.push("T1078".to_owned());
    }
    let catalog = attack::catalog();
    tactics.retain(|t| catalog.tactic(t).is_some());
    techniques.retain(|t| catalog.technique(t).is_some_and(|t| !t.retired));
    // Order kept (the kind's own first); repeats dropped.
    let mut seen = std::collections::HashSet::new();
    tactics.retain(|t| seen.insert(t.clone()));
    techniques.retain(|t| seen.insert(t.clone()));
    (tactics, techniques)
}

/// `{"id": …, "name": …}` of a tactic or technique.
pub fn describe(id: &str) -> Option<Value> {
    match attack::catalog().get(id)? {
        Known::Tactic(t) => Some(json!({"id": t.id, "name": t.name})),
        Known::Technique(t) => Some(json!({"id": t.id, "name": t.name})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_real_current_ids() {
        for kind in [
            Kind::Scan,
            Kind::BruteForce,
            Kind::Beacon,
            Kind::Exfiltration,
            Kind::Dga,
            Kind::UnusualVolume,
            Kind::IdsAlert,
        ] {
            let (tactics, techniques) = candidates(kind, &Signals::default());
            assert!(!tactics.is_empty() && !techniques.is_empty(), "{kind:?}");
            for id in tactics.iter().chain(&techniques) {
                assert!(describe(id).is_some(), "{id}");
            }
        }
        let (_, techniques) = candidates(
            Kind::BruteForce,
            &Signals {
                auth_failures: 9,
                auth_successes: 1,
                ..Signals::default()
            },
        );
        assert!(techniques.contains(&"T1078".to_owned()));
    }
}
