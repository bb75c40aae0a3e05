//! The checkable claims in a text: IP addresses, ports, domain names,
//! user names, file hashes and ATT&CK ids, found by their shapes and by
//! the words that introduce them ("port 22", "user alice", `CORP\bob`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::Range;

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
    /// A host (computer) name that is not a domain (`WIN-SRV01`).
    Host,
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
            Self::Host => "host",
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

/// Words (and key names) that introduce a user name.
const USER_WORDS: [&str; 6] = ["user", "username", "account", "login", "logon", "uid"];

/// Words (and key names) that introduce a host name.
const HOST_WORDS: [&str; 8] = [
    "host",
    "hostname",
    "computer",
    "computername",
    "computer_name",
    "workstation",
    "workstationname",
    "machine",
];

/// Words that introduce ports.
const PORT_WORDS: [&str; 4] = ["port", "ports", "dport", "sport"];

/// The runs of characters that can make up an address, a name or a port
/// (letters, digits and `.:-_@\\$/`); quotes, brackets, commas, spaces and
/// the rest separate them, so compact JSON splits as well as prose. A URL
/// is cut to its host.
fn tokens(text: &str) -> Vec<&str> {
    let is_part = |c: char| {
        c.is_alphanumeric() || matches!(c, '.' | ':' | '-' | '_' | '@' | '\\' | '$' | '/')
    };
    let mut out = Vec::new();
    for run in text.split(|c: char| !is_part(c)).filter(|r| !r.is_empty()) {
        let run = match run.split_once("://") {
            Some((_, rest)) => {
                let host = rest.split(['/', '?']).next().unwrap_or(rest);
                host.rsplit_once(':')
                    .filter(|(_, port)| port.parse::<u16>().is_ok())
                    .map_or(host, |(host, _)| host)
            }
            None => run,
        };
        if !run.is_empty() {
            out.push(run);
        }
    }
    out
}

/// An address (and the part of `token` that is it), with an optional
/// `:port` (IPv4) or `/prefix`.
fn ip_of(token: &str) -> Option<(IpAddr, &str, Option<u16>)> {
    let token = token.trim_end_matches('.');
    if let Ok(ip) = token.parse::<IpAddr>() {
        return Some((ip, token, None));
    }
    if let Some((ip, prefix)) = token.split_once('/')
        && prefix.parse::<u8>().is_ok()
        && let Ok(parsed) = ip.parse::<IpAddr>()
    {
        return Some((parsed, ip, None));
    }
    let (ip, port) = token.rsplit_once(':')?;
    let parsed: std::net::Ipv4Addr = ip.parse().ok()?;
    Some((IpAddr::V4(parsed), ip, Some(port.parse().ok()?)))
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

/// A claim and where it stands in the text (a byte range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Its bytes in the text.
    pub range: Range<usize>,
    /// What it claims.
    pub claim: Claim,
}

/// The byte range of `part`, a slice of `text`.
fn range_of(text: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    start..start + part.len()
}

/// A key or word that names a user or a host (`user`, `"user.name":`,
/// `TargetUserName`, `hostname`).
fn names(word: &str) -> Option<ClaimKind> {
    let word = word.trim_end_matches([':', '.', '"', '\'']);
    let last = word.rsplit('.').next().unwrap_or(word);
    let key = if last == "name" {
        word.rsplit('.').nth(1).unwrap_or(word)
    } else {
        last
    };
    if USER_WORDS
        .iter()
        .any(|w| key == *w || key.ends_with(&format!("{w}name")))
        || key.ends_with("_user")
        || key == "user_name"
    {
        Some(ClaimKind::User)
    } else if HOST_WORDS.contains(&key) {
        Some(ClaimKind::Host)
    } else {
        None
    }
}

/// Every claim in `text`, with where it stands.
pub fn spans(text: &str) -> Vec<Span> {
    let mut found = Vec::new();
    let mut add = |kind, value: String, part: &str| {
        found.push(Span {
            range: range_of(text, part),
            claim: Claim { kind, value },
        });
    };
    let tokens = tokens(text);
    let quoted = |i: usize| {
        let start = range_of(text, tokens[i]).start;
        text[..start].ends_with(['"', '\'', '`'])
    };
    for (i, token) in tokens.iter().copied().enumerate() {
        let word = token.trim_end_matches([':', '.']).to_ascii_lowercase();
        if let Some((ip, part, port)) = ip_of(token) {
            add(ClaimKind::Ip, ip.to_string(), part);
            if let Some(port) = port {
                add(ClaimKind::Port, port.to_string(), token);
            }
            continue;
        }
        // `[2001:db8::1]:443`: the port follows the bracket.
        if let Some(port) = token.strip_prefix(':').and_then(|p| p.parse::<u16>().ok())
            && i > 0
            && ip_of(tokens[i - 1]).is_some()
        {
            add(ClaimKind::Port, port.to_string(), token);
            continue;
        }
        // A key naming a user or a host (`"user.name":`) is no domain.
        let is_key = tokens.get(i + 1) == Some(&":") && names(&word).is_some();
        let bare = token.trim_end_matches(['.', ':']);
        if attack::is_id_form(bare) {
            add(ClaimKind::Attack, bare.to_ascii_uppercase(), bare);
            continue;
        }
        if let Some(hash) = hash_of(token) {
            add(ClaimKind::Hash, hash, token);
            continue;
        }
        // `22/tcp`
        if token.ends_with("/tcp") || token.ends_with("/udp") {
            if let Some(port) = port_of(token) {
                add(ClaimKind::Port, port.to_string(), token);
            }
            continue;
        }
        // `CORP\alice`
        if let Some((_, user)) = token.split_once('\\')
            && let Some(name) = user_of(user)
        {
            add(ClaimKind::User, name, user.trim_end_matches(['.', ':']));
            continue;
        }
        // `alice@example.com`: a user and a domain.
        if let Some((user, domain)) = token.split_once('@')
            && let Some(name) = domain_of(domain)
        {
            if let Some(user_name) = user_of(user) {
                add(ClaimKind::User, user_name, user);
            }
            add(ClaimKind::Domain, name, domain.trim_end_matches('.'));
            continue;
        }
        if !is_key && let Some(name) = domain_of(token) {
            add(ClaimKind::Domain, name, token.trim_end_matches('.'));
            continue;
        }
        if PORT_WORDS.contains(&word.as_str()) {
            // "port 22", "ports 22, 80 and 443"
            for next in tokens.iter().skip(i + 1).take(8) {
                match port_of(next) {
                    Some(port) => add(ClaimKind::Port, port.to_string(), next),
                    None if matches!(*next, "and" | "or" | "&") => {}
                    None => break,
                }
            }
            continue;
        }
        // A JSON key's `:` is a token of its own: the value follows it.
        let key = tokens.get(i + 1) == Some(&":");
        let value_at = if key { i + 2 } else { i + 1 };
        if let Some(kind) = names(&word)
            && let Some(next) = tokens.get(value_at)
            && ip_of(next).is_none()
            && domain_of(next).is_none()
            && let Some(name) = user_of(next)
        {
            // A JSON key (`"user.name": "alice"`) names its value; a word
            // names what follows only when it is quoted or shaped like an
            // identifier, so prose is never taken for a claim.
            let named = quoted(value_at)
                || key
                || token.ends_with(':')
                || next
                    .chars()
                    .any(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | '$' | '@' | '-'));
            if named {
                add(kind, name, next.trim_end_matches(['.', ':']));
            }
        }
    }
    found
}

/// Every claim in `text`.
pub fn claims(text: &str) -> BTreeSet<Claim> {
    spans(text).into_iter().map(|s| s.claim).collect()
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
    fn compact_json_keys_and_urls_split_into_claims() {
        let found = of(
            r#"{"top_peers":[{"value":"176.73.204.12"}],"user.name":"alice","host.name":"WIN-SRV01","url":"http://c2.example.net:8080/x?a=1","winlog":{"TargetUserName":"svc_sql"}}"#,
        );
        for expected in [
            ("ip", "176.73.204.12"),
            ("user", "alice"),
            ("user", "svc_sql"),
            ("host", "win-srv01"),
            ("domain", "c2.example.net"),
        ] {
            assert!(
                found.contains(&(expected.0, expected.1.to_owned())),
                "{expected:?} in {found:?}"
            );
        }
    }

    #[test]
    fn spans_point_at_the_claims_in_the_text() {
        let text = "from 10.0.0.5:443 as CORP\\bob to evil.example.com.";
        let spans: Vec<(&str, &str)> = spans(text)
            .iter()
            .map(|s| (s.claim.kind.as_str(), &text[s.range.clone()]))
            .collect();
        assert!(spans.contains(&("ip", "10.0.0.5")), "{spans:?}");
        assert!(spans.contains(&("user", "bob")), "{spans:?}");
        assert!(spans.contains(&("domain", "evil.example.com")), "{spans:?}");
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
