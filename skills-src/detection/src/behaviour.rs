//! Behaviour of one entity over one interval, and the well-known patterns
//! it can match: scanning (Zeek `scan.zeek`'s thresholds: many ports of a
//! host or many hosts, mostly unanswered; and unsolicited inbound attempts
//! that nothing answered), brute force (failed authentications past
//! fail2ban's usual five), DGA-like DNS (many distinct names that do not
//! exist). Each match is graded 0.7–1 by how far past its threshold it is,
//! so the grade means the same across kinds: 0.7 just matched, 1 matched
//! ten times over.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The kinds of behaviour an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Probing ports or hosts.
    Scan,
    /// Repeated failed authentication.
    BruteForce,
    /// Calls home on a timer.
    Beacon,
    /// Unusually large outbound volume.
    Exfiltration,
    /// Volume unlike the entity's normal (Random Cut Forest).
    UnusualVolume,
    /// Many lookups of names that do not exist.
    Dga,
    /// An IDS rule fired.
    IdsAlert,
    /// A Sigma detection or correlation rule matched.
    SigmaRule,
}

impl Kind {
    /// The snake-case name records carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scan => "scan",
            Kind::BruteForce => "brute_force",
            Kind::Beacon => "beacon",
            Kind::Exfiltration => "exfiltration",
            Kind::UnusualVolume => "unusual_volume",
            Kind::Dga => "dga",
            Kind::IdsAlert => "ids_alert",
            Kind::SigmaRule => "sigma_rule",
        }
    }
}

/// One source's connections over an interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowFeatures {
    /// The source address.
    pub entity: String,
    /// Whether it is in the home networks.
    pub home: bool,
    /// Connections it started.
    pub connections: f64,
    /// Distinct destination addresses.
    pub destinations: f64,
    /// Distinct destination ports.
    pub ports: f64,
    /// Connections nothing answered.
    pub failed: f64,
    /// The most hosts one port was asked of without an answer.
    #[serde(default)]
    pub failed_destinations: f64,
    /// Distinct destinations it sent ICMP to.
    #[serde(default)]
    pub icmp_destinations: f64,
    /// Bytes it sent.
    pub bytes_out: f64,
    /// Connections from outside to inside.
    pub inbound: f64,
    /// Of those, the ones nothing answered.
    pub inbound_failed: f64,
    /// Destinations not among its baseline peers.
    pub new_peers: f64,
    /// Mean entropy of the DNS names it asked for.
    pub dns_entropy: f64,
    /// Its busiest destinations: (address, connections, unanswered).
    pub top_destinations: Vec<(String, u64, u64)>,
}

/// The feature names, in vector order (`feature_data` ids).
pub const FEATURES: [&str; 8] = [
    "connections",
    "distinct_destinations",
    "distinct_ports",
    "failed_ratio",
    "bytes_out",
    "inbound_unanswered",
    "new_peers",
    "dns_name_entropy",
];

impl FlowFeatures {
    /// Share of its connections nothing answered.
    pub fn failed_ratio(&self) -> f64 {
        if self.connections > 0.0 {
            self.failed / self.connections
        } else {
            0.0
        }
    }

    /// The raw feature values, in [`FEATURES`] order.
    pub fn values(&self) -> [f64; 8] {
        [
            self.connections,
            self.destinations,
            self.ports,
            self.failed_ratio(),
            self.bytes_out,
            self.inbound_failed,
            self.new_peers,
            self.dns_entropy,
        ]
    }

    /// The vector the forest sees: counts and volumes on a log scale, so a
    /// tenfold jump weighs the same at any size; ratios and entropy as they are.
    pub fn point(&self) -> Vec<f32> {
        let v = self.values();
        let log = |x: f64| (1.0 + x.max(0.0)).ln() as f32;
        vec![
            log(v[0]),
            log(v[1]),
            log(v[2]),
            v[3] as f32,
            log(v[4]),
            log(v[5]),
            log(v[6]),
            v[7] as f32,
        ]
    }
}

/// A behaviour an entity matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What it is.
    pub kind: Kind,
    /// 0.7–1: how far past the threshold.
    pub grade: f64,
    /// Who did it.
    pub actor: String,
    /// Who it was done to (busiest first).
    pub targets: Vec<String>,
    /// From outside the home networks to inside them.
    pub inbound: bool,
    /// One line for people.
    pub reason: String,
    /// The numbers behind it.
    pub evidence: Value,
}

/// 0.7 at `ratio` 1 (the threshold), 1.0 at ten times it.
pub fn grade_past(ratio: f64) -> f64 {
    if ratio < 1.0 {
        return 0.0;
    }
    0.7 + 0.3 * (ratio.ln() / 10f64.ln()).min(1.0)
}

/// Zeek's `Scan::port_scan_threshold`: ports of one host in the interval.
pub const PORT_SCAN_THRESHOLD: f64 = 15.0;
/// Zeek's `Scan::addr_scan_threshold`: hosts in the interval.
pub const ADDRESS_SCAN_THRESHOLD: f64 = 25.0;
/// Hosts that never answered one port in the interval, past which a source
/// is sweeping that port (a dead mirror or two is normal; ten is not).
pub const UNANSWERED_HOSTS_THRESHOLD: f64 = 10.0;

fn targets(features: &FlowFeatures, home_only: bool) -> Vec<String> {
    features
        .top_destinations
        .iter()
        .filter(|(_, _, failed)| !home_only || *failed > 0)
        .map(|(ip, _, _)| ip.clone())
        .collect()
}

/// Scanning: many ports or hosts with most attempts unanswered, or
/// attempts from outside that nothing inside answered.
pub fn scan(features: &FlowFeatures) -> Option<Verdict> {
    let ratio = features.failed_ratio();
    let breadth =
        (features.ports / PORT_SCAN_THRESHOLD).max(features.destinations / ADDRESS_SCAN_THRESHOLD);
    let unanswered_hosts = features.failed_destinations / UNANSWERED_HOSTS_THRESHOLD;
    if unanswered_hosts >= 1.0 {
        return Some(Verdict {
            kind: Kind::Scan,
            grade: grade_past(unanswered_hosts),
            actor: features.entity.clone(),
            targets: targets(features, true),
            inbound: !features.home && features.inbound > 0.0,
            reason: format!(
                "{} hosts never answered one port ({} connections in all)",
                features.failed_destinations, features.connections
            ),
            evidence: json!({"unanswered_destinations": features.failed_destinations, "connections": features.connections, "failed_ratio": ratio}),
        });
    }
    if ratio >= 0.5 && breadth >= 1.0 {
        return Some(Verdict {
            kind: Kind::Scan,
            grade: grade_past(breadth),
            actor: features.entity.clone(),
            targets: targets(features, false),
            inbound: !features.home && features.inbound > 0.0,
            reason: format!(
                "{} connections to {} hosts on {} ports, {:.0}% unanswered",
                features.connections,
                features.destinations,
                features.ports,
                ratio * 100.0
            ),
            evidence: json!({
                "connections": features.connections,
                "distinct_destinations": features.destinations,
                "distinct_ports": features.ports,
                "failed_ratio": ratio,
            }),
        });
    }
    // A ping sweep: host discovery answers, so it is not "unanswered".
    let sweep = features.icmp_destinations / ADDRESS_SCAN_THRESHOLD;
    if sweep >= 1.0 {
        return Some(Verdict {
            kind: Kind::Scan,
            grade: grade_past(sweep),
            actor: features.entity.clone(),
            targets: targets(features, false),
            inbound: !features.home && features.inbound > 0.0,
            reason: format!("ICMP to {} hosts: a ping sweep", features.icmp_destinations),
            evidence: json!({"icmp_destinations": features.icmp_destinations, "connections": features.connections}),
        });
    }
    // Unsolicited inbound attempts: from outside, to inside, never answered,
    // and no answered inbound connection beside them. A client of a real
    // service gets answers; Internet scanners touch closed ports.
    let answered_inbound = features.inbound - features.inbound_failed;
    if !features.home
        && features.inbound_failed >= 1.0
        && answered_inbound <= 0.2 * features.inbound
    {
        return Some(Verdict {
            kind: Kind::Scan,
            grade: grade_past(1.0 + features.inbound_failed / 2.0),
            actor: features.entity.clone(),
            targets: targets(features, true),
            inbound: true,
            reason: format!(
                "{} unanswered connection attempts from outside to the home network",
                features.inbound_failed
            ),
            evidence: json!({
                "inbound_attempts": features.inbound,
                "inbound_unanswered": features.inbound_failed,
                "distinct_ports": features.ports,
            }),
        });
    }
    None
}

/// One source's authentications against one target over an interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthFeatures {
    /// Who tried.
    pub actor: String,
    /// Whom.
    pub target: String,
    /// Failed attempts.
    pub failures: f64,
    /// Successful ones.
    pub successes: f64,
    /// The user names tried.
    pub users: Vec<String>,
    /// The actor is outside the home networks and the target inside.
    pub inbound: bool,
}

/// fail2ban's default `maxretry`.
pub const BRUTE_FORCE_THRESHOLD: f64 = 5.0;

/// Brute force: failed authentications past the threshold.
pub fn brute_force(features: &AuthFeatures) -> Option<Verdict> {
    let ratio = features.failures / BRUTE_FORCE_THRESHOLD;
    (ratio >= 1.0).then(|| Verdict {
        kind: Kind::BruteForce,
        grade: grade_past(ratio),
        actor: features.actor.clone(),
        targets: vec![features.target.clone()],
        inbound: features.inbound,
        reason: format!(
            "{} failed authentications against {} ({} succeeded)",
            features.failures, features.target, features.successes
        ),
        evidence: json!({
            "failures": features.failures,
            "successes": features.successes,
            "users": features.users,
        }),
    })
}

/// One source's DNS lookups over an interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsFeatures {
    /// Who asked.
    pub actor: String,
    /// Distinct registered domains asked for.
    pub domains: f64,
    /// Distinct registered domains that do not exist (NXDOMAIN).
    pub missing_domains: f64,
    /// Mean entropy of the varying label of the missing ones.
    pub entropy: f64,
    /// Some of the missing names.
    pub examples: Vec<String>,
}

/// Distinct non-existent domains in an interval past which lookups look
/// generated (a mistyped name or a stale link gives a handful).
pub const DGA_THRESHOLD: f64 = 10.0;

/// DGA-like DNS: many distinct names that do not exist.
pub fn dga(features: &DnsFeatures) -> Option<Verdict> {
    let ratio = features.missing_domains / DGA_THRESHOLD;
    (ratio >= 1.0).then(|| Verdict {
        kind: Kind::Dga,
        grade: grade_past(ratio),
        actor: features.actor.clone(),
        targets: features.examples.clone(),
        inbound: false,
        reason: format!(
            "{} distinct non-existent domains looked up (of {}), e.g. {}",
            features.missing_domains,
            features.domains,
            features
                .examples
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        evidence: json!({
            "distinct_domains": features.domains,
            "nxdomain_domains": features.missing_domains,
            "mean_label_entropy": features.entropy,
            "examples": features.examples,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows(connections: f64, destinations: f64, ports: f64, failed: f64) -> FlowFeatures {
        FlowFeatures {
            entity: "10.0.0.5".into(),
            home: true,
            connections,
            destinations,
            ports,
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn a_port_scan_is_graded_by_its_breadth() {
        let v = scan(&flows(200.0, 1.0, 150.0, 190.0)).expect("scan");
        assert_eq!(v.kind, Kind::Scan);
        assert!((v.grade - 1.0).abs() < 1e-9, "{}", v.grade);
        let edge = scan(&flows(15.0, 1.0, 15.0, 15.0)).expect("scan");
        assert!((edge.grade - 0.7).abs() < 1e-9);
    }

    #[test]
    fn ten_hosts_that_never_answered_are_a_sweep() {
        let f = FlowFeatures {
            failed_destinations: 10.0,
            ..flows(41.0, 29.0, 6.0, 11.0)
        };
        assert!(scan(&f).is_some());
        let f = FlowFeatures {
            failed_destinations: 3.0,
            ..flows(41.0, 29.0, 6.0, 3.0)
        };
        assert!(scan(&f).is_none());
    }

    #[test]
    fn a_ping_sweep_is_a_scan_though_answered() {
        let f = FlowFeatures {
            icmp_destinations: 50.0,
            ..flows(55.0, 50.0, 1.0, 0.0)
        };
        assert_eq!(scan(&f).expect("sweep").kind, Kind::Scan);
    }

    #[test]
    fn busy_but_answered_traffic_is_not_a_scan() {
        assert!(scan(&flows(500.0, 80.0, 40.0, 20.0)).is_none());
    }

    #[test]
    fn one_unanswered_attempt_from_outside_is_a_probe_but_a_client_is_not() {
        let probe = FlowFeatures {
            entity: "203.0.113.9".into(),
            connections: 1.0,
            ports: 1.0,
            destinations: 1.0,
            failed: 1.0,
            inbound: 1.0,
            inbound_failed: 1.0,
            ..Default::default()
        };
        assert!(scan(&probe).expect("probe").grade >= 0.7);
        let client = FlowFeatures {
            inbound: 10.0,
            inbound_failed: 1.0,
            connections: 10.0,
            failed: 1.0,
            ..probe
        };
        assert!(scan(&client).is_none());
    }

    #[test]
    fn five_failures_are_brute_force_and_four_are_not() {
        let mut f = AuthFeatures {
            actor: "a".into(),
            target: "b".into(),
            failures: 4.0,
            ..Default::default()
        };
        assert!(brute_force(&f).is_none());
        f.failures = 50.0;
        assert!((brute_force(&f).expect("bf").grade - 1.0).abs() < 1e-9);
    }

    #[test]
    fn many_missing_domains_look_generated() {
        let f = DnsFeatures {
            actor: "a".into(),
            domains: 40.0,
            missing_domains: 30.0,
            ..Default::default()
        };
        assert_eq!(dga(&f).expect("dga").kind, Kind::Dga);
        assert!(
            dga(&DnsFeatures {
                missing_domains: 3.0,
                ..f
            })
            .is_none()
        );
    }
}
