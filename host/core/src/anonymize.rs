//! Placeholders for the identifying values of a prompt: IP addresses,
//! domains, user names and host names become `IP_1`, `DOMAIN_2`, `USER_1`,
//! `HOST_3` before a prompt leaves for a model, and the answer's
//! placeholders become the values again. One value always gets the same
//! placeholder within a call, so the model can still reason about "the
//! same host"; the mapping never leaves the call (nor the audit trail).

use std::collections::HashMap;

use sc_evidence::{ClaimKind, spans};

/// When prompts are anonymized (`llm.anonymize`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymizeMode {
    /// For a remote provider (`openai`), and for skills that ask
    /// (`anonymize_prompts: true` in their manifest).
    #[default]
    Auto,
    /// Always.
    On,
    /// Never, even when a skill asks.
    Off,
}

impl AnonymizeMode {
    /// Whether a skill's prompts are anonymized: `remote` says the model
    /// runs off this machine, `asked` that the skill's manifest asks.
    pub fn applies(self, remote: bool, asked: bool) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => remote || asked,
        }
    }
}

fn prefix(kind: ClaimKind) -> Option<&'static str> {
    match kind {
        ClaimKind::Ip => Some("IP"),
        ClaimKind::Domain => Some("DOMAIN"),
        ClaimKind::User => Some("USER"),
        ClaimKind::Host => Some("HOST"),
        ClaimKind::Port | ClaimKind::Hash | ClaimKind::Attack => None,
    }
}

/// The placeholders of one call.
#[derive(Debug, Default)]
pub struct Anonymizer {
    /// (kind, normalised value) → placeholder.
    by_value: HashMap<(ClaimKind, String), String>,
    /// placeholder → the value as it was first written.
    originals: HashMap<String, String>,
    counts: HashMap<&'static str, u32>,
}

impl Anonymizer {
    /// No placeholders yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Distinct values replaced so far.
    pub fn replaced(&self) -> usize {
        self.originals.len()
    }

    /// `text` with each IP, domain, user and host name replaced by its
    /// placeholder.
    pub fn mask(&mut self, text: &str) -> String {
        let mut found: Vec<_> = spans(text)
            .into_iter()
            .filter(|s| prefix(s.claim.kind).is_some())
            .collect();
        found.sort_by_key(|s| (s.range.start, std::cmp::Reverse(s.range.end)));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for span in found {
            if span.range.start < at {
                continue; // inside one already replaced
            }
            let Some(kind) = prefix(span.claim.kind) else {
                continue;
            };
            let key = (span.claim.kind, span.claim.value.clone());
            let placeholder = match self.by_value.get(&key) {
                Some(p) => p.clone(),
                None => {
                    let n = self.counts.entry(kind).or_default();
                    *n += 1;
                    let p = format!("{kind}_{n}");
                    self.originals
                        .insert(p.clone(), text[span.range.clone()].to_owned());
                    self.by_value.insert(key, p.clone());
                    p
                }
            };
            out.push_str(&text[at..span.range.start]);
            out.push_str(&placeholder);
            at = span.range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// `text` with every placeholder of this call put back; a placeholder
    /// this call never made (`IP_99`) is left as it is.
    pub fn unmask(&self, text: &str) -> String {
        if self.originals.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = ["IP_", "DOMAIN_", "USER_", "HOST_"]
            .iter()
            .filter_map(|p| rest.find(p))
            .min()
        {
            let tail = &rest[start..];
            let underscore = tail.find('_').unwrap_or(0);
            let digits = tail[underscore + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let end = underscore + 1 + digits;
            // A word that only ends like one (`SRC_IP_1`) is left alone.
            let glued = rest[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            out.push_str(&rest[..start]);
            match self.originals.get(&tail[..end]) {
                Some(original) if digits > 0 && !glued => out.push_str(original),
                _ => out.push_str(&tail[..end.max(1)]),
            }
            rest = &tail[end.max(1)..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_stable_placeholders_and_come_back() {
        let mut a = Anonymizer::new();
        let prompt = a.mask(
            r#"10.0.0.5 resolved evil.example.com; then 10.0.0.5 logged on as CORP\alice on WIN-SRV01 ({"host.name":"WIN-SRV01","user.name":"alice","peer":"203.0.113.9"}) via port 445."#,
        );
        assert!(
            !prompt.contains("10.0.0.5") && !prompt.contains("evil.example.com"),
            "{prompt}"
        );
        assert!(
            !prompt.contains("alice") && !prompt.contains("203.0.113.9"),
            "{prompt}"
        );
        assert!(
            prompt.contains("IP_1 resolved DOMAIN_1; then IP_1"),
            "{prompt}"
        );
        assert!(prompt.contains("port 445"), "ports are kept: {prompt}");
        assert_eq!(a.replaced(), 5, "{prompt}");
        let answer =
            a.unmask("IP_1 talked to IP_2 and DOMAIN_1 as USER_1; IP_9 and SRC_IP_1 are unknown.");
        assert_eq!(
            answer,
            "10.0.0.5 talked to 203.0.113.9 and evil.example.com as alice; IP_9 and SRC_IP_1 are unknown."
        );
    }

    #[test]
    fn the_mode_decides_per_provider_and_skill() {
        assert!(AnonymizeMode::Auto.applies(true, false));
        assert!(AnonymizeMode::Auto.applies(false, true));
        assert!(!AnonymizeMode::Auto.applies(false, false));
        assert!(AnonymizeMode::On.applies(false, false));
        assert!(!AnonymizeMode::Off.applies(true, true));
    }
}
