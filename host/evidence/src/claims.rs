//! The checkable claims in a text: IP addresses, ports, domain names,
//! user names, file hashes and ATT&CK ids, found by their shapes and by
//! the words that introduce them ("port 22", "user alice", `CORP\bob`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

use crate::attack;

/// The kind of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// An IPv4 or IPv6 address.
    Ip,
    /// A TCP/UDP port.
    Port,
    /// A domain or host name.
    Domain,
    /// A user or account name.
    User,
    /// An MD5, SHA-1 or SHA-256 hash.
    Hash,
    /// A MITRE ATT&CK tactic or technique id.
    Attack,
}

impl ClaimKind {
    /// `ip`, `port`, …, as results name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Port => "port",
            Self::Domain => "domain",
            Self::User => "user",
            Self::Hash => "hash",
            Self::Attack => "attack",
        }
    }
}

/// One claim: its kind and its value, normalised (addresses in canonical
/// form, names lowercase, ATT&CK ids uppercase).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Claim {
    /// What it is.
    pub kind: ClaimKind,
    /// Its value.
    pub value: String,
}

/// File extensions and abbreviations that look like domains but are not
/// (`cmd.exe`, `e.g.`).
const NOT_TLDS: [&str; 34] = [
    "exe", "dll", "sys", "bat", "cmd", "ps1", "psm1", "vbs", "js", "jar", "py", "sh", "bin", "txt",
    "log", "json", "xml", "yml", "yaml", "csv", "conf", "ini", "tmp", "dat", "zip", "gz", "tar",
    "rar", "doc", "docx", "pdf", "html", "php", "eg",
];

/// Words that introduce a user name.
const USER_WORDS: [&str; 6] = ["user", "username", "account", "login", "logon", "uid"];

/// Words that introduce ports.
const PORT_WORDS: [&str; 4] = ["port", "ports", "dport", "sport"];

fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '`'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | ','
            | ';'
            | '!'
            | '?'
            | '*'
    )
}

/// A token without the quotes, brackets and punctuation around it (a
/// sentence's final `.` included; a trailing `:` is kept, since `::` ends
/// IPv6 addresses).
fn trim_token(token: &str) -> &str {
    let start = token.trim_start_matches(|c| is_wrapper(c) && c != '[');
    // `[2001:db8::1]:443` keeps its brackets: they delimit the address.
    let start = if start.starts_with('[') && start.contains("]:") {
        start
    } else {
        start.trim_start_matches('[')
    };
    start.trim_end_matches(|c| is_wrapper(c) || c == '.')
}

fn is_quoted(raw: &str) -> bool {
    raw.starts_with(['"', '\'', '`'])
}

/// An address, with an optional `:port` (or `[v6]:port`) or `/prefix`.
fn ip_of(token: &str) -> Option<(IpAddr, Option<u16>)> {
    let token = token.trim_end_matches('.');
    if let Ok(ip) = token.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Some((ip, prefix)) = token.split_once('/')
        && prefix.parse::<u8>().is_ok()
        && let Ok(ip) = ip.parse::<IpAddr>()
    {
        return Some((ip, None));
    }
    if let Some(rest) = token.strip_prefix('[')
        && let Some((ip, port)) = rest.split_once("]:")
    {
        return Some((ip.parse().ok()?, port.parse().ok()));
    }
    let (ip, port) = token.rsplit_once(':')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    Some((IpAddr::V4(ip), Some(port.parse().ok()?)))
}

/// A domain or host name: dotted labels of letters, digits and `-`,
/// ending in an alphabetic label of 2–24 letters that is not a file
/// extension.
fn domain_of(token: &str) -> Option<String> {
    let name = token.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 || name.len() > 253 {
        return None;
    }
    let tld = labels[labels.len() - 1];
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let plausible = labels.iter().all(label_ok)
        && (2..=24).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !NOT_TLDS.contains(&tld)
        // `i.e`, `e.g`: one-letter labels throughout are abbreviations.
        && labels.iter().any(|l| l.len() > 1 && l != &tld);
    plausible.then_some(name)
}

fn hash_of(token: &str) -> Option<String> {
    let lower = token.to_ascii_lowercase();
    (matches!(lower.len(), 32 | 40 | 64) && lower.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(lower)
}

fn port_of(token: &str) -> Option<u16> {
    let token = token.trim_end_matches(['.', ':']);
    let token = token
        .strip_suffix("/tcp")
        .or_else(|| token.strip_suffix("/udp"))
        .unwrap_or(token);
    token.parse().ok()
}

/// A plausible user name: letters, digits and `._-$@`, not a number.
/// Plain words after "user" are names only when quoted or shaped like an
/// identifier (`svc_backup`, `j.doe`, `admin1`), so that prose ("the user
/// account showed…") is never taken for a claim.
fn user_of(token: &str) -> Option<String> {
    let token = token.trim_end_matches(['.', ':']);
    let ok = !token.is_empty()
        && token.len() <= 104
        && token.chars().any(|c| c.is_alphabetic())
        && token
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '@'));
    ok.then(|| token.to_lowercase())
}

/// Every claim in `text`.
pub fn claims(text: &str) -> BTreeSet<Claim> {
    let mut found = BTreeSet::new();
    let mut add = |kind, value: String| {
        found.insert(Claim { kind, value });
    };
    let raw: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '=' || c == '|')
        .filter(|t| !trim_token(t).is_empty())
        .collect();
    let tokens: Vec<&str> = raw.iter().map(|t| trim_token(t)).collect();
    for (i, token) in tokens.iter().copied().enumerate() {
        let word = token.trim_end_matches([':', '.']).to_ascii_lowercase();
        if let Some((ip, port)) = ip_of(token) {
            add(ClaimKind::Ip, ip.to_string());
            if let Some(port) = port {
                add(ClaimKind::Port, port.to_string());
            }
            continue;
        }
        if attack::is_id_form(token.trim_end_matches(['.', ':'])) {
            add(
                ClaimKind::Attack,
                token.trim_end_matches(['.', ':']).to_ascii_uppercase(),
            );
            continue;
        }
        if let Some(hash) = hash_of(token) {
            add(ClaimKind::Hash, hash);
            continue;
        }
        // `22/tcp`
        if token.contains('/') && (token.ends_with("/tcp") || token.ends_with("/udp")) {
            if let Some(port) = port_of(token) {
                add(ClaimKind::Port, port.to_string());
            }
            continue;
        }
        // `CORP\alice`
        if let Some((_, user)) = token.split_once('\\')
            && let Some(user) = user_of(user)
        {
            add(ClaimKind::User, user);
            continue;
        }
        // `alice@example.com`: a user and a domain.
        if let Some((user, domain)) = token.split_once('@')
            && let Some(domain) = domain_of(domain)
        {
            if let Some(user) = user_of(user) {
                add(ClaimKind::User, user);
            }
            add(ClaimKind::Domain, domain);
            continue;
        }
        if let Some(domain) = domain_of(token) {
            add(ClaimKind::Domain, domain);
            continue;
        }
        if PORT_WORDS.contains(&word.as_str()) {
            // "port 22", "ports 22, 80 and 443"
            for next in tokens.iter().skip(i + 1).take(8) {
                match port_of(next) {
                    Some(port) => add(ClaimKind::Port, port.to_string()),
                    None if matches!(*next, "and" | "or" | "&") => {}
                    None => break,
                }
            }
            continue;
        }
        if USER_WORDS.contains(&word.as_str())
            && let (Some(next), Some(next_raw)) = (tokens.get(i + 1), raw.get(i + 1))
            && let Some(user) = user_of(next)
        {
            let named = is_quoted(next_raw)
                || token.ends_with(':')
                || next
                    .chars()
                    .any(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | '$' | '@' | '-'));
            if named {
                add(ClaimKind::User, user);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Vec<(&'static str, String)> {
        claims(text)
            .into_iter()
            .map(|c| (c.kind.as_str(), c.value))
            .collect()
    }

    #[test]
    fn addresses_ports_and_names_are_found_by_shape() {
        let found = of(
            "10.0.0.50 scanned 203.0.113.7:22 and [2001:db8::1]:443 (from 192.168.1.0/24), \
             then port 3389; ports 80, 8080 and 445 and 53/udp were probed.",
        );
        for expected in [
            ("ip", "10.0.0.50"),
            ("ip", "203.0.113.7"),
            ("ip", "2001:db8::1"),
            ("ip", "192.168.1.0"),
            ("port", "22"),
            ("port", "443"),
            ("port", "3389"),
            ("port", "80"),
            ("port", "8080"),
            ("port", "445"),
            ("port", "53"),
        ] {
            assert!(
                found.contains(&(expected.0, expected.1.to_owned())),
                "{expected:?} in {found:?}"
            );
        }
    }

    #[test]
    fn domains_users_hashes_and_attack_ids() {
        let found = of(
            "The host resolved Evil-C2.example.COM. and ran cmd.exe, e.g. via user 'alice'; \
             CORP\\bob logged on as svc_backup@corp.example.org with hash \
             d41d8cd98f00b204e9800998ecf8427e (T1110.003, TA0006, t1046).",
        );
        for expected in [
            ("domain", "evil-c2.example.com"),
            ("domain", "corp.example.org"),
            ("user", "alice"),
            ("user", "bob"),
            ("user", "svc_backup"),
            ("hash", "d41d8cd98f00b204e9800998ecf8427e"),
            ("attack", "T1110.003"),
            ("attack", "TA0006"),
            ("attack", "T1046"),
        ] {
            assert!(
                found.contains(&(expected.0, expected.1.to_owned())),
                "{expected:?} in {found:?}"
            );
        }
        for not in ["cmd.exe", "e.g"] {
            assert!(!found.iter().any(|(_, v)| v == not), "{not} in {found:?}");
        }
    }

    #[test]
    fn prose_alone_makes_no_claims() {
        assert_eq!(
            of(
                "The user account showed normal behaviour with the usual ports and no alerts; \
                i.e. nothing for the user to do."
            ),
            Vec::<(&str, String)>::new()
        );
        assert_eq!(of("user: carol"), [("user", "carol".to_owned())]);
    }
}
