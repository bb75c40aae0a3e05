//! `sc-host status [--json]`: the agent's memory snapshot (status, focus,
//! findings, decisions, escalations) and which backends are in use.

use std::process::ExitCode;

use serde::Serialize;

use sc_backends as backends;
use sc_core::config::{Config, DbProvider};
use sc_core::memory::{Alert, MemorySnapshot};

/// Flags of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Entries shown per list.
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
}

#[derive(Serialize)]
struct Backends {
    db: String,
    llm: sc_core::llm::LlmChoice,
    rag: String,
    memory: String,
}

/// The durable incidents triage recorded, from the telemetry store.
#[derive(Serialize, Default)]
struct Incidents {
    /// Incidents per status.
    counts: std::collections::BTreeMap<String, u64>,
    /// The most recently seen escalated ones.
    escalated: Vec<serde_json::Value>,
    /// Why they could not be read, if they could not.
    error: Option<String>,
}

/// Reference data a skill reads (the GeoIP databases), with the licence
/// and the credit its licence asks for.
#[derive(Serialize)]
struct SkillData {
    id: &'static str,
    /// `installed`, or what to run.
    state: String,
    folder: String,
    license: &'static str,
    attribution: &'static str,
}

#[derive(Serialize)]
struct Status {
    #[serde(flatten)]
    memory: MemorySnapshot,
    alerts: Vec<Alert>,
    incidents: Incidents,
    backends: Backends,
    data: Vec<SkillData>,
}

fn skill_data(config: &Config) -> Vec<SkillData> {
    use sc_models::catalog::{self, ModelKind};
    use sc_models::pull::{ModelStatus, Puller, model_dir};
    let puller = Puller::new(&config.data_dir, &config.llm.embedded.index_url);
    catalog::catalog()
        .iter()
        .filter(|e| e.kind == ModelKind::SkillData)
        .map(|entry| SkillData {
            id: entry.id,
            state: match puller.status(entry) {
                ModelStatus::Present { .. } => "installed".to_owned(),
                ModelStatus::Missing { .. } => {
                    format!("not installed: `sc-host models pull {}`", entry.id)
                }
                ModelStatus::Mismatch { file } => {
                    format!(
                        "{file} does not match its pin: `sc-host models pull {}`",
                        entry.id
                    )
                }
            },
            folder: model_dir(&config.data_dir, entry).display().to_string(),
            license: entry.license,
            attribution: entry.attribution,
        })
        .collect()
}

fn incidents(db: &dyn sc_core::db::DbBackend, limit: u32) -> anyhow::Result<Incidents> {
    use sc_runtime::records::{self, Filter, IncidentStatus};
    super::runtime()?.block_on(async {
        let mut out = Incidents::default();
        for status in [
            IncidentStatus::Open,
            IncidentStatus::Escalated,
            IncidentStatus::Suppressed,
            IncidentStatus::Closed,
        ] {
            let filter = Filter {
                status: Some(status),
                limit: Some(limit.clamp(1, 1000)),
                ..Filter::default()
            };
            match records::incidents(db, &filter).await {
                Ok(page) => {
                    let name = serde_json::to_value(status)?
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    out.counts.insert(name, page.total);
                    if status == IncidentStatus::Escalated {
                        out.escalated = page.records;
                    }
                }
                Err(err) => {
                    out.error = Some(err.to_string());
                    break;
                }
            }
        }
        Ok(out)
    })
}

/// Runs `status`.
pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let opened = backends::open(config)?;
    let memory = opened.memory.snapshot(args.limit)?;
    let alerts = opened.memory.alerts(args.limit)?;
    let incidents = incidents(opened.db.as_ref(), args.limit)?;
    let status = Status {
        memory,
        alerts,
        incidents,
        backends: Backends {
            db: match config.db.provider {
                DbProvider::None => "none (db.provider)".to_owned(),
                DbProvider::Embedded => format!("embedded ({})", config.db.embedded.path.display()),
                DbProvider::Opensearch => format!("opensearch {}", config.db.opensearch.url()),
                DbProvider::Elasticsearch => {
                    format!("elasticsearch {}", config.db.elasticsearch.url())
                }
            },
            llm: (*opened.llm_choice).clone(),
            rag: opened.rag_description.to_string(),
            memory: format!("sqlite {}", config.memory.path.display()),
        },
        data: skill_data(config),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&status));
    Ok(ExitCode::SUCCESS)
}

fn render(status: &Status) -> String {
    let mut out = String::new();
    let memory = &status.memory;
    out.push_str(&format!("status:   {}\n", memory.status.as_str()));
    out.push_str(&format!(
        "focus:    {}\n",
        memory.focus.as_deref().unwrap_or("-")
    ));
    out.push_str(&format!("db:       {}\n", status.backends.db));
    let llm = &status.backends.llm;
    out.push_str(&format!(
        "llm:      {}{} ({})\n",
        llm.provider.as_str(),
        llm.model
            .as_deref()
            .map(|m| format!(" {m}"))
            .unwrap_or_default(),
        llm.reason
    ));
    out.push_str(&format!("rag:      {}\n", status.backends.rag));
    out.push_str(&format!(
        "memory:   {} ({} keys)\n",
        status.backends.memory, memory.keys
    ));
    for data in &status.data {
        out.push_str(&format!(
            "{:<9} {} ({})\n",
            format!("{}:", data.id),
            data.state,
            data.folder
        ));
        out.push_str(&format!("          license: {}\n", data.license));
        out.push_str(&format!("          attribution: {}\n", data.attribution));
    }
    let sections = [
        ("findings", &memory.findings),
        ("decisions", &memory.decisions),
    ];
    for (name, entries) in sections {
        out.push_str(&format!("\n{name} ({}):\n", entries.len()));
        if entries.is_empty() {
            out.push_str("  none\n");
        }
        for entry in entries.iter() {
            out.push_str(&format!(
                "  #{} {} [{}] {}\n",
                entry.id, entry.timestamp, entry.skill_id, entry.text
            ));
        }
    }
    out.push_str(&format!("\nescalations ({}):\n", status.alerts.len()));
    if status.alerts.is_empty() {
        out.push_str("  none\n");
    }
    for alert in &status.alerts {
        let e = &alert.entry;
        out.push_str(&format!(
            "  #{} {} [{}] {} ({})\n",
            e.id,
            e.timestamp,
            e.skill_id,
            e.text,
            alert.status.as_str()
        ));
    }
    let incidents = &status.incidents;
    match &incidents.error {
        Some(error) => out.push_str(&format!("\nincidents: unavailable ({error})\n")),
        None => {
            let counts: Vec<String> = incidents
                .counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            out.push_str(&format!("\nincidents ({}):\n", counts.join(", ")));
            for incident in &incidents.escalated {
                out.push_str(&format!(
                    "  {} {} {}\n",
                    incident["severity"].as_str().unwrap_or("?"),
                    incident["incident_id"].as_str().unwrap_or("?"),
                    incident["summary"].as_str().unwrap_or("")
                ));
            }
        }
    }
    out
}
