//! One risk score from the providers that answered, and the rule that
//! produced it. AbuseIPDB and VirusTotal decide: the higher of their scores
//! (one credible source calling an address malicious is enough to look).
//! OTX pulses only corroborate: they add a tenth of their score to an
//! address already suspicious, and alone (at most 0.6) can make one
//! suspicious, never malicious — popular infrastructure such as public
//! resolvers sits in many pulses.

use serde::Serialize;
use serde_json::Value;

use crate::providers::{Provider, Reading};

/// At or above: `malicious`.
pub const MALICIOUS: f64 = 0.75;
/// At or above: `suspicious`.
pub const SUSPICIOUS: f64 = 0.25;

/// One provider's part in a lookup.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// Which provider.
    pub provider: Provider,
    /// `answered`, or why not: `no_key`, `not_configured`, `rate_limited`,
    /// `timeout`, `unavailable`, `key_refused`, `malformed`, `error`.
    pub status: &'static str,
    /// Its score, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// How the score follows from the answer, or what went wrong.
    pub reason: String,
    /// Whether the broker answered from its cache.
    pub cached: bool,
    /// The answer's facts.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub details: Value,
    #[serde(skip)]
    vouches_clean: bool,
}

impl Answer {
    /// A provider that answered.
    pub fn answered(provider: Provider, reading: Reading, cached: bool) -> Self {
        Self {
            provider,
            status: "answered",
            score: Some(reading.score),
            reason: reading.basis,
            cached,
            details: reading.details,
            vouches_clean: reading.vouches_clean,
        }
    }

    /// A provider that did not.
    pub fn failed(provider: Provider, status: &'static str, reason: String) -> Self {
        Self {
            provider,
            status,
            score: None,
            reason,
            cached: false,
            details: Value::Null,
            vouches_clean: false,
        }
    }
}

/// The combined result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Combined {
    /// `malicious`, `suspicious`, `clean` or `unknown`.
    pub verdict: &'static str,
    /// 0–1, rounded to two places; none when nobody answered.
    pub risk: Option<f64>,
    /// The rule, with the numbers.
    pub rule: String,
    /// The providers that answered.
    pub answered_by: Vec<Provider>,
}

/// Combines the answers.
pub fn combine(answers: &[Answer]) -> Combined {
    let scored: Vec<(&Answer, f64)> = answers
        .iter()
        .filter_map(|a| a.score.map(|s| (a, s)))
        .collect();
    let answered_by: Vec<Provider> = scored.iter().map(|(a, _)| a.provider).collect();
    let deciding = scored
        .iter()
        .copied()
        .filter(|(a, _)| a.vouches_clean)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let corroborating = scored
        .iter()
        .copied()
        .filter(|(a, _)| !a.vouches_clean)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let found = match (deciding, corroborating) {
        (Some((top, risk)), Some((_, pulses))) if risk >= SUSPICIOUS => {
            Some((top, (risk + pulses / 10.0).min(1.0), " + corroborating/10"))
        }
        (Some((top, risk)), _) => Some((top, risk, "")),
        (None, Some((top, risk))) => Some((top, risk, "")),
        (None, None) => None,
    };
    let Some((top, risk, bonus)) = found else {
        return Combined {
            verdict: "unknown",
            risk: None,
            rule: "no provider answered: nothing to combine".to_owned(),
            answered_by,
        };
    };
    let risk = (risk * 100.0).round() / 100.0;
    let parts: Vec<String> = scored
        .iter()
        .map(|(a, s)| format!("{} {:.2}", a.provider.name(), s))
        .collect();
    let max = format!("risk = max({}){bonus} = {risk:.2}", parts.join(", "));
    let (verdict, rule) = if risk >= MALICIOUS {
        (
            "malicious",
            format!(
                "{max} ≥ {MALICIOUS}: malicious, by {} ({})",
                top.provider.name(),
                top.reason
            ),
        )
    } else if risk >= SUSPICIOUS {
        (
            "suspicious",
            format!(
                "{max} ≥ {SUSPICIOUS}: suspicious, by {} ({})",
                top.provider.name(),
                top.reason
            ),
        )
    } else if scored.iter().any(|(a, _)| a.vouches_clean) {
        (
            "clean",
            format!("{max} < {SUSPICIOUS} and AbuseIPDB or VirusTotal answered: clean"),
        )
    } else {
        (
            "unknown",
            format!(
                "{max} < {SUSPICIOUS}, but only OTX answered, whose silence is not a clean bill"
            ),
        )
    };
    Combined {
        verdict,
        risk: Some(risk),
        rule,
        answered_by,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reading(score: f64, vouches_clean: bool) -> Reading {
        Reading {
            score,
            basis: format!("scored {score}"),
            vouches_clean,
            details: json!({}),
        }
    }

    #[test]
    fn the_highest_answer_decides_and_failures_only_drop_out() {
        let answers = [
            Answer::answered(Provider::Abuseipdb, reading(0.9, true), false),
            Answer::failed(Provider::Virustotal, "rate_limited", "held back".into()),
            Answer::answered(Provider::Otx, reading(0.3, false), true),
        ];
        let combined = combine(&answers);
        assert_eq!(combined.verdict, "malicious");
        assert_eq!(
            combined.risk,
            Some(0.93),
            "OTX corroborates: {}",
            combined.rule
        );
        assert_eq!(
            combined.answered_by,
            vec![Provider::Abuseipdb, Provider::Otx]
        );
        assert!(combined.rule.contains("by abuseipdb"), "{}", combined.rule);
    }

    #[test]
    fn clean_needs_a_provider_that_can_vouch_for_it() {
        let otx_only = [Answer::answered(Provider::Otx, reading(0.0, false), false)];
        assert_eq!(combine(&otx_only).verdict, "unknown");
        let vt = [Answer::answered(
            Provider::Virustotal,
            reading(0.0, true),
            false,
        )];
        assert_eq!(combine(&vt).verdict, "clean");
        let none = [Answer::failed(
            Provider::Virustotal,
            "timeout",
            "slow".into(),
        )];
        let nobody = combine(&none);
        assert_eq!((nobody.verdict, nobody.risk), ("unknown", None));
        let middling = [Answer::answered(
            Provider::Virustotal,
            reading(0.4, true),
            false,
        )];
        assert_eq!(combine(&middling).verdict, "suspicious");
        // A resolver in many pulses, clean by the providers that can say so.
        let popular = [
            Answer::answered(Provider::Abuseipdb, reading(0.0, true), false),
            Answer::answered(Provider::Otx, reading(0.6, false), false),
        ];
        assert_eq!(combine(&popular).verdict, "clean");
        let pulses_only = [Answer::answered(Provider::Otx, reading(0.6, false), false)];
        assert_eq!(combine(&pulses_only).verdict, "suspicious");
    }
}
