//! What kind of address an IP is, from IANA's special-purpose registries:
//! only `public` addresses are in any GeoIP database, and saying "private
//! address" is a better answer than "not found".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// The scope of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Routed on the Internet: looked up.
    Public,
    /// RFC 1918 (IPv4) or unique local (fc00::/7).
    Private,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT shared space, 100.64.0.0/10 (RFC 6598).
    Cgnat,
    /// Reserved for examples: 192.0.2.0/24, 198.51.100.0/24,
    /// 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// Network benchmarking, 198.18.0.0/15.
    Benchmarking,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Other reserved space (0.0.0.0/8, 240.0.0.0/4, 192.0.0.0/24, …).
    Reserved,
}

impl Scope {
    /// Why an address of this scope is not looked up.
    pub fn note(self) -> &'static str {
        match self {
            Self::Public => "",
            Self::Private => {
                "private address (RFC 1918 / unique local): internal to a network, not in any GeoIP database"
            }
            Self::Loopback => "loopback address: the host itself",
            Self::LinkLocal => "link-local address: one network segment only",
            Self::Cgnat => {
                "carrier-grade NAT shared address space (RFC 6598): internal to a provider"
            }
            Self::Documentation => {
                "documentation address (RFC 5737 / RFC 3849): reserved for examples, never routed"
            }
            Self::Benchmarking => "benchmarking address (RFC 2544): reserved for lab tests",
            Self::Multicast => "multicast group address: not a host",
            Self::Unspecified => "unspecified address: no host",
            Self::Broadcast => "limited broadcast address: not a host",
            Self::Reserved => "reserved address space: not routed on the Internet",
        }
    }
}

fn v4(ip: Ipv4Addr) -> Scope {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() => Scope::Unspecified,
        _ if ip.is_broadcast() => Scope::Broadcast,
        (127, ..) => Scope::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Scope::Private,
        (169, 254, _) => Scope::LinkLocal,
        (100, 64..=127, _) => Scope::Cgnat,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Scope::Documentation,
        (198, 18..=19, _) => Scope::Benchmarking,
        (224..=239, ..) => Scope::Multicast,
        (0, ..) | (240..=255, ..) | (192, 0, 0) => Scope::Reserved,
        _ => Scope::Public,
    }
}

fn v6(ip: Ipv6Addr) -> Scope {
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return v4(mapped);
    }
    let s = ip.segments();
    match s[0] {
        _ if ip.is_unspecified() => Scope::Unspecified,
        _ if ip.is_loopback() => Scope::Loopback,
        0xfc00..=0xfdff => Scope::Private,
        0xfe80..=0xfebf => Scope::LinkLocal,
        0xff00..=0xffff => Scope::Multicast,
        0x2001 if s[1] == 0x0db8 => Scope::Documentation,
        0x3fff if s[1] < 0x1000 => Scope::Documentation,
        // Global unicast is 2000::/3; everything else is reserved.
        0x2000..=0x3fff => Scope::Public,
        _ => Scope::Reserved,
    }
}

/// The scope of `ip` (an IPv4-mapped IPv6 address is taken as IPv4).
pub fn of(ip: IpAddr) -> Scope {
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => v6(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Scope {
        of(text.parse().expect("ip"))
    }

    #[test]
    fn special_ranges_are_named_and_the_rest_is_public() {
        for (ip, expected) in [
            ("10.1.2.3", Scope::Private),
            ("172.31.255.255", Scope::Private),
            ("172.32.0.1", Scope::Public),
            ("192.168.0.1", Scope::Private),
            ("127.0.0.1", Scope::Loopback),
            ("169.254.10.1", Scope::LinkLocal),
            ("100.64.0.1", Scope::Cgnat),
            ("100.128.0.1", Scope::Public),
            ("192.0.2.7", Scope::Documentation),
            ("198.51.100.1", Scope::Documentation),
            ("203.0.113.77", Scope::Documentation),
            ("198.18.0.1", Scope::Benchmarking),
            ("224.0.0.251", Scope::Multicast),
            ("0.0.0.0", Scope::Unspecified),
            ("255.255.255.255", Scope::Broadcast),
            ("240.0.0.1", Scope::Reserved),
            ("81.2.69.142", Scope::Public),
            ("8.8.8.8", Scope::Public),
            ("::1", Scope::Loopback),
            ("::", Scope::Unspecified),
            ("fd00::1", Scope::Private),
            ("fe80::1", Scope::LinkLocal),
            ("ff02::fb", Scope::Multicast),
            ("2001:db8::1", Scope::Documentation),
            ("3fff:0abc::1", Scope::Documentation),
            ("2001:218::1", Scope::Public),
            ("2a00:1450::1", Scope::Public),
            ("::ffff:10.0.0.1", Scope::Private),
            ("::ffff:8.8.8.8", Scope::Public),
            ("4000::1", Scope::Reserved),
        ] {
            assert_eq!(scope(ip), expected, "{ip}");
        }
    }
}
