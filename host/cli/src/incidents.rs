//! `sc-host incidents`: the durable incidents triage recorded, and an
//! analyst marking one a false positive (a suppression in the audit trail).

use std::process::ExitCode;
use std::sync::Arc;

use sc_backends as backends;
use sc_core::clock::SystemClock;
use sc_core::config::Config;
use sc_runtime::SkillHost;
use sc_runtime::records::{self, Filter, IncidentStatus, RecordError, Severity, SuppressRequest};

/// What to do with incidents.
#[derive(Debug, clap::Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, most recently seen first (JSON).
    List {
        /// Only this status: open, escalated, suppressed, closed.
        #[arg(long, value_parser = parse_status)]
        status: Option<IncidentStatus>,
        /// Only this severity: LOW, MEDIUM, HIGH, CRITICAL.
        #[arg(long, value_parser = parse_severity)]
        severity: Option<Severity>,
        /// Only this kind (scan, brute_force, beacon, dga, exfiltration, unusual_volume, ids_alert, sigma_rule).
        #[arg(long)]
        kind: Option<String>,
        /// Only this entity.
        #[arg(long)]
        entity: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// An incident's findings (JSON).
    Findings {
        /// The incident id.
        id: String,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Mark an incident a false positive: later findings of its kind and
    /// entity are stored and counted, never escalated.
    Suppress {
        /// The incident id.
        id: String,
        /// Why it is a false positive (kept in the audit trail).
        #[arg(long)]
        reason: String,
        /// Until when (RFC 3339); for ever when absent.
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
        /// Who is marking it [default: the user running the command].
        #[arg(long)]
        by: Option<String>,
    },
}

fn parse_status(text: &str) -> Result<IncidentStatus, String> {
    serde_json::from_value(serde_json::json!(text))
        .map_err(|_| "one of open, escalated, suppressed, closed".to_owned())
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    serde_json::from_value(serde_json::json!(text.to_ascii_uppercase()))
        .map_err(|_| "one of LOW, MEDIUM, HIGH, CRITICAL".to_owned())
}

/// Runs `incidents`.
pub fn run(config: Config, command: &IncidentsCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let config = Arc::new(config);
        let host = SkillHost::new(
            config.clone(),
            backends::open(&config)?,
            Arc::new(SystemClock),
        )?;
        let db = host.backends().db.clone();
        let answer = match command {
            IncidentsCommand::List {
                status,
                severity,
                kind,
                entity,
                limit,
            } => {
                let filter = Filter {
                    status: *status,
                    severity: *severity,
                    kind: kind.clone(),
                    entity: entity.clone(),
                    limit: Some(*limit),
                    ..Filter::default()
                };
                records::incidents(db.as_ref(), &filter)
                    .await
                    .map(|page| serde_json::json!(page))
            }
            IncidentsCommand::Findings { id, limit } => {
                let filter = Filter {
                    incident_id: Some(id.clone()),
                    limit: Some(*limit),
                    ..Filter::default()
                };
                records::findings(db.as_ref(), &filter)
                    .await
                    .map(|page| serde_json::json!(page))
            }
            IncidentsCommand::Suppress {
                id,
                reason,
                expires,
                by,
            } => {
                let actor = by
                    .clone()
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "cli".to_owned());
                let request = SuppressRequest {
                    reason: reason.clone(),
                    expires_at: expires.clone(),
                };
                records::suppress(&host, id, &actor, &request).await
            }
        };
        match answer {
            Ok(value) => {
                println!("{}", serde_json::to_string_pretty(&value)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(err @ (RecordError::BadFilter(_) | RecordError::NotFound(_))) => {
                eprintln!("error: {err}");
                Ok(ExitCode::from(super::EXIT_USAGE))
            }
            Err(err) => Err(err.into()),
        }
    })
}
