//! A rule's Sigma tags as ATT&CK: `attack.t1110.003` is a technique,
//! `attack.credential-access` (or `_access`) a tactic, checked against the
//! embedded ATT&CK release. The tactics are the ones the rule names; a rule
//! that names only techniques gets their tactics. Its level becomes a grade
//! and a severity.

use sc_detection::records::AttackRef;
use sc_evidence::attack;

/// Tactics and techniques of `tags` (unknown ids are left out).
pub fn of_tags(tags: &[String]) -> (Vec<AttackRef>, Vec<AttackRef>) {
    let catalog = attack::catalog();
    let mut tactics: Vec<AttackRef> = Vec::new();
    let mut techniques: Vec<AttackRef> = Vec::new();
    for tag in tags {
        let Some(name) = tag
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(str::to_owned)
        else {
            continue;
        };
        if attack::is_id_form(&name) && !name.starts_with("ta") {
            if let Some(t) = catalog.technique(&name)
                && !techniques.iter().any(|k| k.id == t.id)
            {
                techniques.push(AttackRef {
                    id: t.id.clone(),
                    name: t.name.clone(),
                });
            }
        } else if let Some(t) = catalog.tactic(&name)
            && !tactics.iter().any(|k| k.id == t.id)
        {
            tactics.push(AttackRef {
                id: t.id.clone(),
                name: t.name.clone(),
            });
        }
    }
    if tactics.is_empty() {
        for technique in &techniques {
            for t in catalog.tactics_of(&technique.id) {
                if !tactics.iter().any(|k| k.id == t.id) {
                    tactics.push(AttackRef {
                        id: t.id.clone(),
                        name: t.name.clone(),
                    });
                }
            }
        }
    }
    (tactics, techniques)
}

/// A level as a grade (0–1), on the scale the other detectors use.
pub fn grade(level: &str) -> f64 {
    match level {
        "critical" => 0.95,
        "high" => 0.85,
        "medium" => 0.75,
        "low" => 0.6,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn tags_become_named_tactics_and_techniques() {
        let (tactics, techniques) = of_tags(&tags(&[
            "attack.credential-access",
            "attack.t1110.003",
            "attack.privilege_escalation",
            "cve.2021-42287",
            "attack.t9999",
        ]));
        let ids: Vec<&str> = tactics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["TA0006", "TA0004"]);
        assert_eq!(techniques.len(), 1);
        assert_eq!(techniques[0].id, "T1110.003");
        assert_eq!(techniques[0].name, "Password Spraying");
    }

    #[test]
    fn techniques_alone_bring_their_tactics() {
        let (tactics, _) = of_tags(&tags(&["attack.t1021.001"]));
        assert_eq!(tactics[0].name, "Lateral Movement");
    }

    #[test]
    fn levels_order_grades() {
        assert!(grade("critical") > grade("high") && grade("high") > grade("medium"));
        assert!(grade("low") > grade("informational"));
    }
}
