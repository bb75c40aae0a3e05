//! The `detection` section: what the detection skills read (index patterns,
//! thresholds, the home networks, allow-lists). Skills get it through the
//! `config` capability under the key `detection`, so every detector and
//! `sc-host eval` agree on one set of values.

use serde::{Deserialize, Serialize};

/// What an entity of the network baseline is.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntityGranularity {
    /// One host IP.
    #[default]
    Host,
    /// The /24 (IPv4) or /64 (IPv6) the host is in.
    Subnet,
    /// The sensor (`observer.name`, `host.name`) that saw the traffic.
    Sensor,
}

/// Settings shared by the detection skills.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    /// Index patterns holding the telemetry the detectors read.
    pub indices: Vec<String>,
    /// Networks that are "ours" (CIDR): connections from outside them to
    /// inside them are inbound. Zeek's `local_orig`/`local_resp` win when a
    /// log carries them.
    pub home_networks: Vec<String>,
    /// Anomaly results below this grade are not findings.
    pub severity_threshold: f64,
    /// Beacon scores (0–1) at or above this are results.
    pub beacon_threshold: f64,
    /// Destinations (IP or CIDR) never scored as beacons: the resolver,
    /// update servers, NTP pools.
    pub beacon_allowlist: Vec<String>,
    /// Destination ports never scored as beacons (NTP by default).
    pub beacon_allow_ports: Vec<u16>,
    /// What an entity of the network baseline is.
    pub entity: EntityGranularity,
    /// Hours the network baseline covers, ending at the run's time.
    pub baseline_hours: u32,
    /// Hours an incident stays open to new findings of its kind and entity.
    pub incident_window_hours: u32,
    /// Also read the OpenSearch Anomaly Detection plugin's results.
    pub opensearch_ad_results: bool,
}

impl Default for DetectionConfig {
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
            entity: EntityGranularity::Host,
            baseline_hours: 24,
            incident_window_hours: 24,
            opensearch_ad_results: false,
        }
    }
}
