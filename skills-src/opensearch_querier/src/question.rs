//! A plan read from an analyst's question without a model: the addresses,
//! ports and domains it names, the time it speaks of ("last 6 hours",
//! "yesterday", "today", "this week") and the kind of record it asks about.

use std::time::Duration;

use sc_detection::DataKind;
use sc_evidence::{ClaimKind, claims};
use securityclaw_sdk::Timestamp;

use crate::plan::Plan;

const HOUR_MS: i64 = 3_600_000;

/// The words a question asks a kind of record with.
fn kind_of(words: &[String]) -> Option<DataKind> {
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    if has(&[
        "alert",
        "alerts",
        "signature",
        "signatures",
        "ids",
        "suricata",
        "rule",
        "rules",
    ]) {
        Some(DataKind::Alert)
    } else if has(&[
        "dns", "resolve", "resolved", "lookup", "lookups", "queried", "domain", "domains",
    ]) {
        Some(DataKind::Dns)
    } else if has(&[
        "login",
        "logins",
        "logon",
        "logons",
        "authentication",
        "authenticate",
        "password",
        "brute",
    ]) {
        Some(DataKind::Auth)
    } else if has(&["http", "url", "urls", "web", "user-agent", "useragent"]) {
        Some(DataKind::Http)
    } else if has(&[
        "connection",
        "connections",
        "flow",
        "flows",
        "talked",
        "talk",
        "contacted",
        "connected",
        "traffic",
        "port",
        "ports",
    ]) {
        Some(DataKind::Flow)
    } else {
        None
    }
}

/// `[from, to)` the question speaks of, relative to `now`.
fn range_of(words: &[String], now: Timestamp) -> (Option<Timestamp>, Option<Timestamp>) {
    let now_ms = now.epoch_millis();
    let day_start = now_ms - now_ms.rem_euclid(24 * HOUR_MS);
    let at = Timestamp::from_epoch_millis;
    for (i, w) in words.iter().enumerate() {
        match w.as_str() {
            "yesterday" => return (Some(at(day_start - 24 * HOUR_MS)), Some(at(day_start))),
            "today" => return (Some(at(day_start)), Some(now)),
            "week" if i > 0 && matches!(words[i - 1].as_str(), "this" | "last" | "past") => {
                return (
                    Some(now.minus(Duration::from_secs(7 * 24 * 3600))),
                    Some(now),
                );
            }
            "hour" | "hours" | "day" | "days" | "minutes" | "minute" if i > 0 => {
                let n: u64 = match words[i - 1].as_str() {
                    "last" | "past" | "an" | "a" | "one" => 1,
                    number => match number.parse() {
                        Ok(n) => n,
                        Err(_) => continue,
                    },
                };
                let seconds = match w.as_str() {
                    "hour" | "hours" => 3_600,
                    "day" | "days" => 86_400,
                    _ => 60,
                };
                return (
                    Some(now.minus(Duration::from_secs(n.saturating_mul(seconds)))),
                    Some(now),
                );
            }
            _ => {}
        }
    }
    (None, None)
}

/// The plan a question asks for, as far as its words say.
pub fn plan(question: &str, now: Timestamp) -> Plan {
    let words: Vec<String> = question
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut plan = Plan {
        kind: kind_of(&words),
        ..Plan::default()
    };
    for claim in claims(question) {
        match claim.kind {
            ClaimKind::Ip => plan.ips.push(claim.value),
            ClaimKind::Port => plan.ports.extend(claim.value.parse::<u16>().ok()),
            ClaimKind::Domain => plan.domains.push(claim.value),
            ClaimKind::User => plan.users.push(claim.value),
            ClaimKind::Host | ClaimKind::Hash | ClaimKind::Attack => {}
        }
    }
    let (from, to) = range_of(&words, now);
    plan.from = from.map(|t| t.to_rfc3339());
    plan.to = to.map(|t| t.to_rfc3339());
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_590_400_000; // 2025-12-01T12:00:00Z

    fn ask(q: &str) -> Plan {
        plan(q, Timestamp::from_epoch_millis(NOW))
    }

    #[test]
    fn entities_times_and_kinds_come_from_the_words() {
        let p = ask("Which hosts talked to 203.0.113.77 yesterday?");
        assert_eq!(p.ips, ["203.0.113.77"]);
        assert_eq!(p.kind, Some(DataKind::Flow));
        assert_eq!(p.from.as_deref(), Some("2025-11-30T00:00:00.000Z"));
        assert_eq!(p.to.as_deref(), Some("2025-12-01T00:00:00.000Z"));
        let p = ask("Show SSH connections on port 22 from 10.0.0.50 in the last 6 hours");
        assert_eq!(
            (p.ips.as_slice(), p.ports.as_slice()),
            (&["10.0.0.50".to_owned()][..], &[22][..])
        );
        assert_eq!(p.from.as_deref(), Some("2025-12-01T06:00:00.000Z"));
        let p = ask("What did 10.0.0.5 resolve today? Any lookups of c2.example.net?");
        assert_eq!(p.kind, Some(DataKind::Dns));
        assert_eq!(p.domains, ["c2.example.net"]);
        assert_eq!(p.from.as_deref(), Some("2025-12-01T00:00:00.000Z"));
        assert_eq!(ask("IDS alerts this week").kind, Some(DataKind::Alert));
        let open = ask("anything odd?");
        assert_eq!((open.kind, open.from), (None, None));
    }
}
