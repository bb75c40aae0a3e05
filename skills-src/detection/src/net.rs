//! Addresses and connections: home networks (CIDR), which way a connection
//! goes, which connection states mean it never got an answer, and the
//! character entropy of names.

use std::net::IpAddr;

/// One network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fc00::/7` or a bare address (a /32 or /128).
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { network, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The networks that are ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeNetworks(Vec<Cidr>);

impl HomeNetworks {
    /// Parses each entry; the first that is not a CIDR comes back as the error.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| Cidr::parse(e).ok_or_else(|| e.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether the address (text) is in a home network; text that is not an
    /// address is not.
    pub fn contains(&self, ip: &str) -> bool {
        ip.parse::<IpAddr>()
            .is_ok_and(|ip| self.0.iter().any(|net| net.contains(ip)))
    }
}

/// Whether an address is multicast or the limited broadcast: nothing ever
/// answers those, so unanswered traffic to them says nothing of a scan.
pub fn is_group_address(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_multicast() || v4.is_broadcast(),
        Ok(IpAddr::V6(v6)) => v6.is_multicast(),
        Err(_) => false,
    }
}

/// Which way a connection went, relative to the home networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From outside to inside.
    Inbound,
    /// From inside to outside.
    Outbound,
    /// Inside to inside.
    Internal,
    /// Neither end is ours.
    External,
}

impl Direction {
    /// From the two ends' membership of the home networks.
    pub fn between(source_home: bool, destination_home: bool) -> Self {
        match (source_home, destination_home) {
            (false, true) => Self::Inbound,
            (true, false) => Self::Outbound,
            (true, true) => Self::Internal,
            (false, false) => Self::External,
        }
    }

    /// ECS `network.direction` text (`inbound`, `ingress`…).
    pub fn from_ecs(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "inbound" | "ingress" => Some(Self::Inbound),
            "outbound" | "egress" => Some(Self::Outbound),
            "internal" => Some(Self::Internal),
            "external" => Some(Self::External),
            _ => None,
        }
    }
}

/// Zeek `conn_state` values of a connection the responder never accepted:
/// no answer (`S0`), refused (`REJ`), or only half a handshake seen. A
/// failed attempt is evidence of probing, never of a session. (`OTH`, no
/// handshake seen, counts only when the responder sent no packet.)
pub const FAILED_ZEEK_STATES: [&str; 6] = ["S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR"];

/// Suricata `flow.state` values of a flow that never got an answer.
pub const FAILED_SURICATA_STATES: [&str; 1] = ["new"];

/// Shannon entropy in bits per character.
pub fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, u32>::new();
    let mut total = 0u32;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let total = f64::from(total);
    counts
        .values()
        .map(|&n| {
            let p = f64::from(n) / total;
            -p * p.log2()
        })
        .sum()
}

/// The label a DGA varies: the leftmost label of the registered name
/// (`kqzjxw` of `www.kqzjxw.com` is `kqzjxw`; of `kqzjxw.com` too). Public
/// suffixes of two labels (`co.uk`) are kept whole.
pub fn varying_label(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    let suffix_len = match labels.as_slice() {
        [.., second, last]
            if last.len() == 2
                && matches!(*second, "co" | "com" | "net" | "org" | "ac" | "gov" | "edu") =>
        {
            2
        }
        _ => 1,
    };
    labels
        .len()
        .checked_sub(suffix_len + 1)
        .and_then(|at| labels.get(at))
        .copied()
        .unwrap_or(name)
}

/// The registered domain (`example.com` of `a.b.example.com`).
pub fn registered_domain(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let label = varying_label(&name).to_owned();
    match name.rfind(&format!("{label}.")) {
        Some(at) => name[at..].to_owned(),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_what_they_should() {
        let home = HomeNetworks::parse(&[
            "10.0.0.0/8".into(),
            "fc00::/7".into(),
            "147.32.83.165".into(),
        ])
        .expect("valid");
        assert!(home.contains("10.200.1.1"));
        assert!(!home.contains("11.0.0.1"));
        assert!(home.contains("fd12::1"));
        assert!(home.contains("147.32.83.165"));
        assert!(!home.contains("147.32.83.166"));
        assert!(!home.contains("not an ip"));
        assert_eq!(
            HomeNetworks::parse(&["10.0.0.0/33".into()]),
            Err("10.0.0.0/33".into())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("any")
                .contains("8.8.8.8".parse().expect("ip"))
        );
    }

    #[test]
    fn group_addresses_are_recognised() {
        assert!(is_group_address("ff02::1:3"));
        assert!(is_group_address("224.0.0.251"));
        assert!(is_group_address("255.255.255.255"));
        assert!(!is_group_address("10.0.0.1"));
    }

    #[test]
    fn random_labels_have_more_entropy_than_words() {
        assert!(entropy("kqzjxwvbtr") > 3.0);
        assert!(entropy("google") < 2.0);
        assert_eq!(entropy(""), 0.0);
        assert_eq!(varying_label("www.kqzjxw.com"), "kqzjxw");
        assert_eq!(varying_label("news.bbc.co.uk"), "bbc");
        assert_eq!(registered_domain("a.b.Example.com."), "example.com");
    }
}
