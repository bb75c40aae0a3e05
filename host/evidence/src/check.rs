//! What gathered evidence supports, and the claims of a text it does not.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::attack::{self, Known};
use crate::claims::{Claim, ClaimKind, claims};

/// Everything the gathered evidence (and the incident) names.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    found: BTreeSet<Claim>,
    /// Ports from fields named as ports.
    ports: BTreeSet<u16>,
    /// Every integer 0–65535 the evidence holds (counts in summaries
    /// name ports as plain numbers too: "port 22: 431 connections").
    numbers: BTreeSet<u16>,
    /// Every word of the evidence, lowercase (user names appear as plain
    /// values: `"user.name": "alice"`).
    words: BTreeSet<String>,
}

/// Why a claim is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Nothing gathered names it.
    NotInEvidence,
    /// It has the form of an ATT&CK id, but ATT&CK has no such id.
    NotAnAttackId,
    /// A real ATT&CK id that MITRE revoked or deprecated.
    RetiredAttackId,
}

impl Reason {
    /// One phrase for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotInEvidence => "not in the gathered evidence",
            Self::NotAnAttackId => "not a MITRE ATT&CK id",
            Self::RetiredAttackId => "a revoked or deprecated ATT&CK id",
        }
    }
}

/// A claim the evidence does not support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    /// The claim.
    #[serde(flatten)]
    pub claim: Claim,
    /// Why.
    pub reason: Reason,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.claim.kind.as_str(),
            self.claim.value,
            self.reason.describe()
        )
    }
}

impl Facts {
    /// No facts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds what a text names.
    pub fn add_text(&mut self, text: &str) {
        self.found.extend(claims(text));
        for word in text.split(|c: char| {
            !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '@' | '\\'))
        }) {
            let word = word.trim_matches('.');
            if word.is_empty() {
                continue;
            }
            if let Ok(n) = word.parse::<u16>() {
                self.numbers.insert(n);
            }
            self.words.insert(word.to_lowercase());
            if let Some((_, user)) = word.split_once('\\') {
                self.words.insert(user.to_lowercase());
            }
        }
    }

    /// Adds what a JSON value names: every string, every number, and
    /// ports and users under keys that say so.
    pub fn add_json(&mut self, value: &Value) {
        self.walk(value, "");
    }

    fn walk(&mut self, value: &Value, key: &str) {
        let key_says = |what: &str| key.to_ascii_lowercase().contains(what);
        match value {
            Value::String(s) => {
                self.add_text(s);
                if key_says("user") || key_says("account") {
                    self.found.insert(Claim {
                        kind: ClaimKind::User,
                        value: s.to_lowercase(),
                    });
                }
                if key_says("port")
                    && let Ok(port) = s.parse::<u16>()
                {
                    self.ports.insert(port);
                }
            }
            Value::Number(n) => {
                if let Some(n) = n.as_u64().and_then(|n| u16::try_from(n).ok()) {
                    self.numbers.insert(n);
                    if key_says("port") {
                        self.ports.insert(n);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v, key)),
            Value::Object(map) => {
                for (k, v) in map {
                    self.walk(v, k);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    /// Whether the facts support `claim`.
    pub fn supports(&self, claim: &Claim) -> bool {
        if self.found.contains(claim) {
            return true;
        }
        match claim.kind {
            ClaimKind::Port => claim
                .value
                .parse::<u16>()
                .is_ok_and(|p| self.ports.contains(&p) || self.numbers.contains(&p)),
            // A parent of a name in the evidence is supported by it
            // (`example.com` by `c2.example.com`), never a child.
            ClaimKind::Domain => self.found.iter().any(|f| {
                f.kind == ClaimKind::Domain && f.value.ends_with(&format!(".{}", claim.value))
            }),
            ClaimKind::User | ClaimKind::Host => self.words.contains(&claim.value),
            ClaimKind::Ip | ClaimKind::Hash | ClaimKind::Attack => false,
        }
    }
}

/// The claims of `text` that `facts` do not support, and ATT&CK ids that
/// are not real or no longer in use.
pub fn check(text: &str, facts: &Facts) -> Vec<Unsupported> {
    let catalog = attack::catalog();
    claims(text)
        .into_iter()
        .filter_map(|claim| {
            let reason = if claim.kind == ClaimKind::Attack {
                match catalog.get(&claim.value) {
                    None => Some(Reason::NotAnAttackId),
                    Some(Known::Technique(t)) if t.retired => Some(Reason::RetiredAttackId),
                    Some(_) if !facts.supports(&claim) => Some(Reason::NotInEvidence),
                    Some(_) => None,
                }
            } else {
                (!facts.supports(&claim)).then_some(Reason::NotInEvidence)
            };
            reason.map(|reason| Unsupported { claim, reason })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facts() -> Facts {
        let mut facts = Facts::new();
        facts.add_json(&json!({
            "incident": {"entity": "10.0.0.50", "kind": "scan", "targets": ["192.168.1.10"]},
            "flows": [{"source.ip": "10.0.0.50", "destination.port": 22, "count": 431},
                      {"dns": "c2.evil-example.com", "user.name": "Alice"}],
            "summary": "top ports 445 (90%), 3389",
            "attack_candidates": ["T1046", "TA0007", "T1595"],
        }));
        facts
    }

    fn unsupported(text: &str) -> Vec<String> {
        check(text, &facts())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn claims_the_evidence_names_pass() {
        assert_eq!(
            unsupported(
                "10.0.0.50 scanned 192.168.1.10 on port 22 and ports 445 and 3389, resolved \
                 c2.evil-example.com (a subdomain of evil-example.com) as user 'alice': T1046, TA0007."
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn invented_facts_and_false_attack_ids_are_named() {
        let found = unsupported(
            "203.0.113.99 on port 8443 contacted c2.example.net as user `mallory`; \
             hash 44d88612fea8a8f36de82e1278abb02f; T1003 (TA0006), T9999, T1002.",
        );
        for expected in [
            "ip 203.0.113.99 (not in the gathered evidence)",
            "port 8443 (not in the gathered evidence)",
            "domain c2.example.net (not in the gathered evidence)",
            "user mallory (not in the gathered evidence)",
            "hash 44d88612fea8a8f36de82e1278abb02f (not in the gathered evidence)",
            "attack T1003 (not in the gathered evidence)",
            "attack TA0006 (not in the gathered evidence)",
            "attack T9999 (not a MITRE ATT&CK id)",
            "attack T1002 (a revoked or deprecated ATT&CK id)",
        ] {
            assert!(
                found.contains(&expected.to_owned()),
                "{expected} in {found:?}"
            );
        }
        // A child of a name in the evidence is not supported by it.
        assert_eq!(
            unsupported("x.c2.evil-example.com"),
            ["domain x.c2.evil-example.com (not in the gathered evidence)"]
        );
    }
}
