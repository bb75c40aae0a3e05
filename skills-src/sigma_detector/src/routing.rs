//! Where a rule's `logsource` points: the stored indices its events are
//! read from, and the field-mapping pipeline that turns Sigma's field names
//! into the ones `sc-host ingest` (and Winlogbeat, Zeek and Suricata
//! shippers writing ECS) store.

use rsigma_eval::{Pipeline, parse_pipeline};
use rsigma_parser::LogSource;

/// A group of indices read together, with the pipeline for their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// Windows event logs: `logs-winlog-*`.
    Windows,
    /// Zeek logs of one kind: `logs-zeek-<service>*`.
    Zeek(ZeekLog),
    /// Connections from any sensor: Zeek conn and Suricata flow.
    Network,
    /// Suricata records of one event type (`logs-suricata-<type>*`).
    Suricata(SuricataLog),
}

/// The Zeek logs rules may name as `service`.
pub const ZEEK_LOGS: [&str; 17] = [
    "conn",
    "dns",
    "http",
    "ssl",
    "ssh",
    "notice",
    "files",
    "x509",
    "smtp",
    "ftp",
    "rdp",
    "smb_files",
    "smb_mapping",
    "kerberos",
    "dce_rpc",
    "ntlm",
    "weird",
];

/// A Zeek log, by its index in [`ZEEK_LOGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZeekLog(usize);

/// The Suricata event types rules may name as `service`.
pub const SURICATA_LOGS: [&str; 8] = [
    "alert", "flow", "dns", "http", "tls", "ssh", "smb", "fileinfo",
];

/// A Suricata event type, by its index in [`SURICATA_LOGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SuricataLog(usize);

const WINDOWS_PIPELINE: &str = include_str!("../pipelines/windows.yml");
const ZEEK_PIPELINE: &str = include_str!("../pipelines/zeek.yml");
const NETWORK_PIPELINE: &str = include_str!("../pipelines/network.yml");

impl Route {
    /// The route of a `logsource`, or why there is none.
    pub fn of(logsource: &LogSource) -> Result<Route, String> {
        let lower = |v: &Option<String>| v.as_deref().map(str::to_ascii_lowercase);
        let (product, category, service) = (
            lower(&logsource.product),
            lower(&logsource.category),
            lower(&logsource.service),
        );
        match (product.as_deref(), category.as_deref(), service.as_deref()) {
            (Some("windows"), _, _) => Ok(Route::Windows),
            (None, Some("process_creation"), _) => Ok(Route::Windows),
            (Some("zeek"), _, Some(service)) => ZEEK_LOGS
                .iter()
                .position(|l| *l == service)
                .map(|i| Route::Zeek(ZeekLog(i)))
                .ok_or_else(|| {
                    format!(
                        "Zeek log `{service}` is not one SecurityClaw stores; use one of {}",
                        ZEEK_LOGS.join(", ")
                    )
                }),
            (Some("suricata"), _, Some(service)) => SURICATA_LOGS
                .iter()
                .position(|l| *l == service)
                .map(|i| Route::Suricata(SuricataLog(i)))
                .ok_or_else(|| {
                    format!(
                        "Suricata event type `{service}` is not one SecurityClaw stores; use one of {}",
                        SURICATA_LOGS.join(", ")
                    )
                }),
            (None, Some("firewall" | "network_connection_flow"), _) => Ok(Route::Network),
            _ => Err(format!(
                "logsource (product {}, category {}, service {}) maps to no stored index; \
                 SecurityClaw reads `product: windows` (and `category: process_creation`), \
                 `product: zeek` with a `service`, `product: suricata` with a `service`, \
                 and `category: firewall`",
                product.as_deref().unwrap_or("-"),
                category.as_deref().unwrap_or("-"),
                service.as_deref().unwrap_or("-"),
            )),
        }
    }

    /// The index pattern its events are read from.
    pub fn pattern(self) -> String {
        match self {
            Route::Windows => "logs-winlog-*".to_owned(),
            Route::Zeek(ZeekLog(i)) => format!("logs-zeek-{}*", ZEEK_LOGS[i]),
            Route::Network => "logs-zeek-conn*,logs-suricata-flow*".to_owned(),
            Route::Suricata(SuricataLog(i)) => format!("logs-suricata-{}*", SURICATA_LOGS[i]),
        }
    }

    /// The field-mapping pipeline of its rules.
    pub fn pipeline(self) -> Pipeline {
        let text = match self {
            Route::Windows => WINDOWS_PIPELINE,
            Route::Zeek(_) => ZEEK_PIPELINE,
            Route::Network | Route::Suricata(_) => NETWORK_PIPELINE,
        };
        // The pipelines are part of the skill and parsed by its tests.
        parse_pipeline(text).expect("a built-in pipeline parses")
    }

    /// The same pipeline for a correlation rule: correlations carry no
    /// `logsource`, so the route (from the rules they refer to) decides and
    /// every item applies.
    pub fn correlation_pipeline(self) -> Pipeline {
        let mut pipeline = self.pipeline();
        pipeline.transformations.retain_mut(|item| {
            // Conditions added to detections mean nothing to a correlation.
            let mapping = matches!(
                item.transformation,
                rsigma_eval::pipeline::Transformation::FieldNameMapping { .. }
                    | rsigma_eval::pipeline::Transformation::FieldNamePrefix { .. }
            );
            // Only the route's own service, for Zeek's per-log prefixes.
            let own = match self {
                Route::Zeek(ZeekLog(i)) => item.id.as_deref().is_none_or(|id| {
                    !id.starts_with("sc_zeek_")
                        || id == "sc_zeek_ends"
                        || id == format!("sc_zeek_{}", ZEEK_LOGS[i])
                }),
                _ => true,
            };
            // The process-creation names are for that category's rules only.
            let process = item.id.as_deref() == Some("sc_process_creation_fields");
            item.rule_conditions.clear();
            mapping && own && !process
        });
        pipeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logsource(
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
    ) -> LogSource {
        LogSource {
            product: product.map(str::to_owned),
            category: category.map(str::to_owned),
            service: service.map(str::to_owned),
            ..LogSource::default()
        }
    }

    #[test]
    fn logsources_route_to_the_indices_ingest_writes() {
        let windows = Route::of(&logsource(Some("windows"), None, Some("security"))).unwrap();
        assert_eq!(windows.pattern(), "logs-winlog-*");
        let ssh = Route::of(&logsource(Some("zeek"), None, Some("ssh"))).unwrap();
        assert_eq!(ssh.pattern(), "logs-zeek-ssh*");
        let flows = Route::of(&logsource(None, Some("firewall"), None)).unwrap();
        assert_eq!(flows.pattern(), "logs-zeek-conn*,logs-suricata-flow*");
        let err = Route::of(&logsource(Some("linux"), None, Some("auditd"))).unwrap_err();
        assert!(
            err.contains("product linux") && err.contains("product: windows"),
            "{err}"
        );
        let err = Route::of(&logsource(Some("zeek"), None, Some("nope"))).unwrap_err();
        assert!(err.contains("`nope`") && err.contains("conn"), "{err}");
    }

    #[test]
    fn every_pipeline_parses_and_correlations_get_the_mappings() {
        for route in [
            Route::Windows,
            Route::Network,
            Route::Zeek(ZeekLog(0)),
            Route::Suricata(SuricataLog(0)),
        ] {
            assert!(!route.pipeline().transformations.is_empty());
            let corr = route.correlation_pipeline();
            assert!(
                corr.transformations
                    .iter()
                    .all(|t| t.rule_conditions.is_empty())
            );
        }
    }
}
