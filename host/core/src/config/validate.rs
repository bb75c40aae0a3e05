//! Value checks that types alone cannot express: ranges, names a cluster
//! would refuse, addresses, token definitions.

use super::{ClusterConfig, Config};

/// Checks value ranges; returns the offending key and what is wrong.
fn validate_cluster(
    key: &'static str,
    cluster: &ClusterConfig,
) -> Result<(), (&'static str, String)> {
    if cluster.host.trim().is_empty() || cluster.host.contains(['/', ' ']) {
        return Err((
            key,
            format!(
                "host `{}` must be a host name or address, without scheme or path (set `{key}.tls` for HTTPS)",
                cluster.host
            ),
        ));
    }
    if cluster.port == 0 {
        return Err((key, "port must be between 1 and 65535".to_owned()));
    }
    if cluster.timeout_ms == 0 || cluster.timeout_ms > 600_000 {
        return Err((
            key,
            format!("timeout_ms is {}; give 1 to 600000", cluster.timeout_ms),
        ));
    }
    if cluster.password_env.is_some() && cluster.username.is_none() {
        return Err((
            key,
            format!("password_env is set but username is not; set `{key}.username`"),
        ));
    }
    Ok(())
}

/// Why `name` cannot name a cluster index, if it cannot.
fn index_name_problem(name: &str) -> Option<String> {
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 200 {
        Some("an index name needs 1 to 200 characters".to_owned())
    } else if name.starts_with(['-', '_', '.', '+']) {
        Some(format!(
            "`{name}` starts with `{}`; start with a letter or digit",
            &name[..1]
        ))
    } else {
        name.chars().find(|c| !allowed(*c)).map(|bad| {
            format!("`{name}` holds `{bad}`; use lowercase letters, digits, `-`, `_` and `.`")
        })
    }
}

pub(super) fn validate(config: &Config) -> Result<(), (&'static str, String)> {
    if tracing_subscriber::EnvFilter::try_new(&config.log_level).is_err() {
        return Err((
            "log_level",
            format!(
                "`{}` is not a log filter; use error, warn, info, debug or trace",
                config.log_level
            ),
        ));
    }
    for (key, cluster) in [
        ("db.opensearch", &config.db.opensearch),
        ("db.elasticsearch", &config.db.elasticsearch),
    ] {
        validate_cluster(key, cluster)?;
    }
    let limits = &config.limits;
    check_range("limits.timeout_ms", limits.timeout_ms, 1, 3_600_000)?;
    check_range("limits.memory_mb", limits.memory_mb, 1, 4_096)?;
    check_range("limits.host_calls", limits.host_calls, 1, u64::MAX)?;
    check_range("limits.output_bytes", limits.output_bytes, 0, 1 << 30)?;
    let memory = &config.memory;
    check_range(
        "memory.max_findings",
        memory.max_findings.into(),
        1,
        100_000,
    )?;
    check_range(
        "memory.max_decisions",
        memory.max_decisions.into(),
        1,
        100_000,
    )?;
    check_range(
        "memory.max_escalations",
        memory.max_escalations.into(),
        1,
        100_000,
    )?;
    check_range(
        "memory.max_entry_chars",
        memory.max_entry_chars.into(),
        16,
        1 << 20,
    )?;
    check_range(
        "memory.max_value_bytes",
        memory.max_value_bytes.into(),
        16,
        64 << 20,
    )?;
    if let Some(problem) = index_name_problem(&config.rag.index) {
        return Err(("rag.index", problem));
    }
    if !(-1.0..=1.0).contains(&config.rag.similarity_threshold) {
        return Err((
            "rag.similarity_threshold",
            format!(
                "{} is out of range; expected -1.0..=1.0 (cosine)",
                config.rag.similarity_threshold
            ),
        ));
    }
    check_range(
        "scheduler.max_concurrent",
        config.scheduler.max_concurrent as u64,
        1,
        256,
    )?;
    check_range("http.timeout_ms", config.http.timeout_ms, 1, 600_000)?;
    check_range(
        "http.max_body_bytes",
        config.http.max_body_bytes,
        1,
        256 << 20,
    )?;
    check_range("reload.debounce_ms", config.reload.debounce_ms, 0, 60_000)?;
    if config.api.bind.parse::<std::net::SocketAddr>().is_err() {
        return Err((
            "api.bind",
            format!(
                "`{}` is not an address:port such as 127.0.0.1:7799",
                config.api.bind
            ),
        ));
    }
    for token in &config.api.auth.tokens {
        match (&token.sha256, &token.env) {
            (Some(hash), None)
                if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {}
            (Some(_), None) => {
                return Err((
                    "api.auth.tokens",
                    format!("token `{}`: sha256 must be 64 hex digits", token.id),
                ));
            }
            (None, Some(_)) => {}
            _ => {
                return Err((
                    "api.auth.tokens",
                    format!("token `{}`: set exactly one of `sha256` or `env`", token.id),
                ));
            }
        }
    }
    validate_detection(&config.detection)
}

/// Whether `text` is an address or a CIDR network (`10.0.0.0/8`).
fn is_cidr(text: &str) -> bool {
    let (addr, prefix) = text.split_once('/').unwrap_or((text, ""));
    match addr.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            prefix.is_empty() || prefix.parse::<u8>().is_ok_and(|p| p <= max)
        }
        Err(_) => false,
    }
}

fn validate_detection(detection: &super::DetectionConfig) -> Result<(), (&'static str, String)> {
    for (key, list) in [
        ("detection.home_networks", &detection.home_networks),
        ("detection.beacon_allowlist", &detection.beacon_allowlist),
    ] {
        if let Some(bad) = list.iter().find(|n| !is_cidr(n)) {
            return Err((
                key,
                format!("`{bad}` is not an address or a CIDR such as 10.0.0.0/8"),
            ));
        }
    }
    for (key, value) in [
        ("detection.severity_threshold", detection.severity_threshold),
        ("detection.beacon_threshold", detection.beacon_threshold),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err((key, format!("{value} is out of range; expected 0 to 1")));
        }
    }
    if detection.indices.is_empty() {
        return Err((
            "detection.indices",
            "name at least one index pattern, e.g. logs-*".to_owned(),
        ));
    }
    check_range(
        "detection.baseline_hours",
        u64::from(detection.baseline_hours),
        1,
        720,
    )?;
    check_range(
        "detection.incident_window_hours",
        u64::from(detection.incident_window_hours),
        1,
        720,
    )
}

fn check_range(
    key: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), (&'static str, String)> {
    if value < min || value > max {
        return Err((
            key,
            format!("{value} is out of range; expected {min}..={max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod detection_tests {
    use super::*;

    #[test]
    fn a_bad_home_network_or_threshold_names_its_key() {
        let mut config = Config::default();
        assert!(validate(&config).is_ok());
        config.detection.home_networks.push("10.0.0.0/33".into());
        assert_eq!(
            validate(&config).map_err(|e| e.0),
            Err("detection.home_networks")
        );
        config.detection.home_networks.pop();
        config.detection.severity_threshold = 1.5;
        assert_eq!(
            validate(&config).map_err(|e| e.0),
            Err("detection.severity_threshold")
        );
    }
}
