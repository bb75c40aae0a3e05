//! MITRE ATT&CK enterprise tactics and techniques (the version in
//! `data/attack-enterprise.json`), embedded: whether an id is real, its
//! name, and its tactics.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const DATA: &str = include_str!("../data/attack-enterprise.json");

/// A tactic (`TA0006` Credential Access).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tactic {
    /// `TA0006`.
    pub id: String,
    /// `credential-access`, as technique records and Sigma tags name it.
    pub shortname: String,
    /// `Credential Access`.
    pub name: String,
}

/// A technique or sub-technique (`T1110`, `T1110.003`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Technique {
    /// `T1110.003`.
    pub id: String,
    /// `Password Spraying`.
    pub name: String,
    /// The short names of its tactics.
    pub tactics: Vec<String>,
    /// Revoked or deprecated: a real id, no longer to be used.
    pub retired: bool,
}

/// The whole list.
#[derive(Debug, Deserialize)]
pub struct Catalog {
    /// `enterprise-attack`.
    pub domain: String,
    /// The ATT&CK release, e.g. `18.1`.
    pub version: String,
    /// Where the data came from.
    pub source: String,
    /// MITRE's notice, to show wherever ids are shown.
    pub notice: String,
    tactics: Vec<Tactic>,
    techniques: Vec<Technique>,
    #[serde(skip)]
    by_id: HashMap<String, usize>,
}

/// What an ATT&CK id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known<'a> {
    /// A tactic.
    Tactic(&'a Tactic),
    /// A technique or sub-technique.
    Technique(&'a Technique),
}

impl Catalog {
    /// A tactic or technique by id (`TA0006`, `T1110`, `t1110.003`).
    pub fn get(&self, id: &str) -> Option<Known<'_>> {
        let id = id.to_ascii_uppercase();
        if id.starts_with("TA") {
            return self.tactics.iter().find(|t| t.id == id).map(Known::Tactic);
        }
        self.by_id
            .get(&id)
            .map(|i| Known::Technique(&self.techniques[*i]))
    }

    /// A technique or sub-technique by id.
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        match self.get(id)? {
            Known::Technique(t) => Some(t),
            Known::Tactic(_) => None,
        }
    }

    /// A tactic by id (`TA0006`) or short name (`credential-access`).
    pub fn tactic(&self, id_or_shortname: &str) -> Option<&Tactic> {
        let key = id_or_shortname.to_ascii_lowercase().replace('_', "-");
        self.tactics
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(&key) || t.shortname == key)
    }

    /// The tactics a technique belongs to (a sub-technique's are its own).
    pub fn tactics_of(&self, technique: &str) -> Vec<&Tactic> {
        self.technique(technique)
            .map(|t| t.tactics.iter().filter_map(|s| self.tactic(s)).collect())
            .unwrap_or_default()
    }

    /// Every tactic.
    pub fn tactics(&self) -> &[Tactic] {
        &self.tactics
    }

    /// Every technique and sub-technique.
    pub fn techniques(&self) -> &[Technique] {
        &self.techniques
    }
}

/// The embedded catalog, parsed once.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        // The file is part of this crate and checked by its tests.
        let mut catalog: Catalog =
            serde_json::from_str(DATA).unwrap_or_else(|e| panic!("attack-enterprise.json: {e}"));
        catalog.by_id = catalog
            .techniques
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        catalog
    })
}

/// Whether `text` has the form of an ATT&CK tactic or technique id:
/// `TA` + 4 digits, or `T` + 4 digits with an optional `.` + 3 digits.
pub fn is_id_form(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = upper.strip_prefix("TA") {
        return digits(rest, 4);
    }
    let Some(rest) = upper.strip_prefix('T') else {
        return false;
    };
    match rest.split_once('.') {
        Some((main, sub)) => digits(main, 4) && digits(sub, 3),
        None => digits(rest, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_enterprise_18_1_with_mitres_notice() {
        let c = catalog();
        assert_eq!(
            (c.domain.as_str(), c.version.as_str()),
            ("enterprise-attack", "18.1")
        );
        assert!(c.notice.contains("The MITRE Corporation"));
        assert_eq!(c.tactics().len(), 14);
        assert!(c.techniques().len() > 800);
        assert!(c.techniques().iter().all(|t| is_id_form(&t.id)));
    }

    #[test]
    fn ids_resolve_to_names_and_tactics() {
        let c = catalog();
        assert_eq!(
            c.technique("T1046").map(|t| t.name.as_str()),
            Some("Network Service Discovery")
        );
        assert_eq!(
            c.technique("t1110.003").map(|t| t.name.as_str()),
            Some("Password Spraying")
        );
        let tactics: Vec<&str> = c
            .tactics_of("T1110")
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(tactics, ["TA0006"]);
        assert_eq!(
            c.tactic("TA0043").map(|t| t.name.as_str()),
            Some("Reconnaissance")
        );
        assert_eq!(
            c.tactic("credential_access").map(|t| t.id.as_str()),
            Some("TA0006")
        );
        assert!(matches!(c.get("TA0011"), Some(Known::Tactic(_))));
        assert!(c.get("T9999").is_none());
        assert!(c.get("TA0099").is_none());
        assert!(
            c.technique("T1002").is_some_and(|t| t.retired),
            "revoked in 18.1"
        );
    }

    #[test]
    fn id_forms() {
        for good in ["T1046", "t1110", "T1110.003", "TA0043"] {
            assert!(is_id_form(good), "{good}");
        }
        for bad in [
            "T104", "T10466", "T1110.03", "TA43", "TX1046", "1046", "T1110.",
        ] {
            assert!(!is_id_form(bad), "{bad}");
        }
    }
}
