//! The host's `detection` section as the skills read it (`config.get`).

use serde::Deserialize;

use securityclaw_sdk::{SkillError, config};

use crate::net::HomeNetworks;

/// What an entity of the network baseline is.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One host IP.
    #[default]
    Host,
    /// The /24 (IPv4) or /64 (IPv6) around it.
    Subnet,
    /// The sensor that saw it.
    Sensor,
}

/// The shared detection settings. Unknown keys are ignored here (a newer
/// host may add some); the host's own config is the strict one.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Index patterns of the telemetry.
    pub indices: Vec<String>,
    /// Networks that are ours (CIDR).
    pub home_networks: Vec<String>,
    /// Results graded below this are not findings.
    pub severity_threshold: f64,
    /// Beacon scores at or above this are reported.
    pub beacon_threshold: f64,
    /// Destinations never scored as beacons.
    pub beacon_allowlist: Vec<String>,
    /// Destination ports never scored as beacons.
    pub beacon_allow_ports: Vec<u16>,
    /// What a baseline entity is.
    pub entity: Granularity,
    /// Hours of the network baseline.
    pub baseline_hours: u32,
    /// Hours an incident stays open.
    pub incident_window_hours: u32,
    /// Also triage the OpenSearch AD plugin's results.
    pub opensearch_ad_results: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            indices: vec!["logs-*".to_owned()],
            home_networks: [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10",
                "fc00::/7",
            ]
            .map(str::to_owned)
            .to_vec(),
            severity_threshold: 0.7,
            beacon_threshold: 0.8,
            beacon_allowlist: Vec::new(),
            beacon_allow_ports: vec![123],
            entity: Granularity::Host,
            baseline_hours: 24,
            incident_window_hours: 24,
            opensearch_ad_results: false,
        }
    }
}

impl Settings {
    /// Reads `detection` through the `config` capability; the defaults
    /// when the host sends none.
    pub fn load() -> Result<Self, SkillError> {
        config::get::<Self>("detection")
            .map(Option::unwrap_or_default)
            .map_err(|err| {
                SkillError::InvalidInput(format!(
                    "config `detection`: {}",
                    securityclaw_sdk::describe(&err)
                ))
            })
    }

    /// The index patterns as one comma list for a `db` call.
    pub fn index_pattern(&self) -> String {
        self.indices.join(",")
    }

    /// The parsed home networks; a malformed entry is an error naming it.
    pub fn home(&self) -> Result<HomeNetworks, SkillError> {
        HomeNetworks::parse(&self.home_networks).map_err(|bad| {
            SkillError::InvalidInput(format!(
                "detection.home_networks: `{bad}` is not a CIDR such as 10.0.0.0/8"
            ))
        })
    }
}
