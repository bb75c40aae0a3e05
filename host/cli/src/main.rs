//! The `sc-host` binary: the command line (one module per subcommand),
//! config loading, logging, and the wiring of backends into the host. The
//! work itself is in the `sc-*` crates.

mod audit;
mod db;
mod dispatch;
mod eval;
mod incidents;
mod ingest;
mod list_skills;
mod models;
mod rag;
mod service;
mod sigma;
mod status;
mod validate;

// Ingest and the embedded store allocate many small objects across threads;
// mimalloc made ingest 45% faster than the system allocator on this workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sc_core::config::{self, ConfigSources, LoadedConfig};

/// Exit code for a usage error (bad flag, unknown skill, bad parameters).
pub const EXIT_USAGE: u8 = 2;

/// SecurityClaw skill host.
#[derive(Debug, Parser)]
#[command(
    name = "sc-host",
    version,
    about = "SecurityClaw: an autonomous SOC agent built from sandboxed WebAssembly skills"
)]
pub struct Cli {
    /// Config file [default: ./config.yaml; defaults apply when it is absent]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace [config: log_level]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Where state lives [config: data_dir]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where skills are installed [config: skills_dir]
    #[arg(long, global = true, value_name = "DIR")]
    pub skills_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List installed skills from their manifests (compiles nothing).
    ListSkills(list_skills::Args),
    /// Run one skill once and print its outcome as JSON.
    Dispatch(dispatch::Args),
    /// Check config.yaml and every skill manifest; print each problem.
    ValidateConfig,
    /// Run the scheduler and hot reload until stopped (no HTTP).
    Run,
    /// Run the scheduler, hot reload and the HTTP API until stopped.
    Service(service::ServiceArgs),
    /// The agent's memory: status, focus, findings, decisions, escalations.
    Status(status::Args),
    /// Retrieval: what a skill's `rag.retrieve` would return.
    Rag {
        /// What to do.
        #[command(subcommand)]
        command: rag::RagCommand,
    },
    /// Load Zeek, Suricata, EVTX or ECS NDJSON logs into the telemetry store.
    Ingest(ingest::Args),
    /// Incidents triage recorded: list them, their findings, suppress one.
    Incidents {
        /// What to do.
        #[command(subcommand)]
        command: incidents::IncidentsCommand,
    },
    /// Replay labeled captures through the detection skills and score the findings.
    Eval(eval::Args),
    /// Look inside the telemetry store: indices, counts, searches (JSON).
    Db {
        /// What to do.
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Embedded models: pull (fetch and verify), list, test.
    Models {
        /// What to do.
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Sigma rules: try one over stored events, with why each event matched.
    Sigma {
        /// What to do.
        #[command(subcommand)]
        command: sigma::SigmaCommand,
    },
    /// The audit trail.
    Audit {
        /// What to do with it.
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

impl Cli {
    fn flag_overrides(&self) -> Vec<(String, String)> {
        let mut flags = Vec::new();
        if let Some(level) = &self.log_level {
            flags.push(("log_level".to_owned(), level.clone()));
        }
        if let Some(dir) = &self.data_dir {
            flags.push(("data_dir".to_owned(), absolute(dir)));
        }
        if let Some(dir) = &self.skills_dir {
            flags.push(("skills_dir".to_owned(), absolute(dir)));
        }
        flags
    }

    /// Loads the layered configuration these flags describe.
    pub fn load_config(&self) -> Result<LoadedConfig, config::ConfigError> {
        config::load(&ConfigSources::from_process(
            self.config.clone(),
            self.flag_overrides(),
        ))
    }
}

/// Paths given as flags are relative to where the user typed them.
/// The async runtime a command runs on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
fn progress_bar(len: u64, name: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(name.to_owned());
    bar
}

fn absolute(path: &std::path::Path) -> String {
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn init_logging(filter: &str) {
    // The EVTX parser logs every chunk it reads at info level.
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{filter},evtx=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,evtx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs the command line; returns the process exit code.
fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::ValidateConfig = cli.command {
        return validate::run(&cli);
    }
    let loaded = match cli.load_config() {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&loaded.config.log_level);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let result = match &cli.command {
        Command::ListSkills(args) => list_skills::run(&loaded.config, args),
        Command::Dispatch(args) => dispatch::run(loaded.config, args),
        Command::Run => service::run(loaded.config),
        Command::Service(args) => service::service(loaded.config, args),
        Command::Audit { command } => audit::run(&loaded.config, command),
        Command::Status(args) => status::run(&loaded.config, args),
        Command::Rag { command } => rag::run(&loaded.config, command),
        Command::Ingest(args) => ingest::run(&loaded.config, args),
        Command::Eval(args) => eval::run(loaded.config, args),
        Command::Incidents { command } => incidents::run(loaded.config, command),
        Command::Db { command } => db::run(&loaded.config, command),
        Command::Models { command } => models::run(&loaded.config, command),
        Command::Sigma { command } => sigma::run(loaded.config, command),
        Command::ValidateConfig => Ok(validate::run(&cli)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
