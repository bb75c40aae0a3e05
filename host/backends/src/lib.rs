//! The services behind the capabilities, chosen by config: the telemetry
//! store (embedded tantivy store, OpenSearch, Elasticsearch), the model
//! (Ollama, OpenAI-compatible, in-process, none), retrieval (SQLite,
//! `knn_vector`, `dense_vector`), outbound HTTP, and the `not-configured`
//! stand-in. Each implements a backend trait of `sc-core`; [`open`] wires
//! what the config asks for.

pub mod enrichment;
pub mod http_direct;
pub mod json_mode;
pub mod llm_embedded;
pub mod llm_http;
pub mod rag_cluster;
pub mod rag_sqlite;
pub mod store_cluster;
pub mod store_embedded;
pub mod unconfigured;

use std::sync::Arc;

use anyhow::Context as _;

use llm_http::{HttpLlm, Wire};
use sc_core::backends::Backends;
use sc_core::config::{Config, DbProvider, HttpProvider, LlmConfig, LlmProvider, RagProvider};
use sc_core::db::{BulkLoad, DbBackend};
use sc_core::llm::{LlmBackend, LlmChoice, ResolvedLlm};
use sc_core::rag::RagBackend;
use sc_state::memory::SqliteMemory;

/// The wire for a concrete provider.
fn wire(config: &LlmConfig, provider: LlmProvider) -> Option<Wire> {
    match provider {
        LlmProvider::Ollama => Some(Wire::Ollama {
            url: config.ollama.url.clone(),
        }),
        LlmProvider::Openai => Some(Wire::OpenAi {
            base_url: config.openai.base_url.clone(),
            api_key: config
                .openai
                .api_key_env
                .as_deref()
                .and_then(|var| std::env::var(var).ok()),
        }),
        LlmProvider::Auto | LlmProvider::Embedded | LlmProvider::None => None,
    }
}

/// Resolves `llm.provider`. `auto`: Ollama if it answers, else the
/// embedded model if its files are present, else none, with the reason.
pub fn choose_llm(config: &LlmConfig) -> (LlmProvider, String) {
    choose_llm_with(config, &llm_embedded::locate(config))
}

/// [`choose_llm`] with the embedded models' files already located.
fn choose_llm_with(
    config: &LlmConfig,
    files: &llm_embedded::EmbeddedFiles,
) -> (LlmProvider, String) {
    match config.provider {
        LlmProvider::Auto => {
            let timeout = std::time::Duration::from_millis(config.connect_timeout_ms.min(500));
            if llm_http::ollama_answers(&config.ollama.url, timeout) {
                return (
                    LlmProvider::Ollama,
                    format!("auto: Ollama answered at {}", config.ollama.url),
                );
            }
            if files.chat.is_some() {
                (
                    LlmProvider::Embedded,
                    format!(
                        "auto: Ollama did not answer at {}; the embedded model is installed",
                        config.ollama.url
                    ),
                )
            } else {
                (
                    LlmProvider::None,
                    format!(
                        "auto: Ollama did not answer at {} and no embedded model is installed ({}); run `sc-host models pull` or set `llm.provider`",
                        config.ollama.url,
                        files.missing.join("; ")
                    ),
                )
            }
        }
        LlmProvider::None => (
            LlmProvider::None,
            "`llm.provider: none` in config.yaml; set it to ollama, openai or embedded".to_owned(),
        ),
        other => (other, "set by `llm.provider`".to_owned()),
    }
}

/// The backend serving one provider (chat and embeddings alike).
fn backend_for(
    config: &LlmConfig,
    files: &llm_embedded::EmbeddedFiles,
    provider: LlmProvider,
    reason: &str,
) -> anyhow::Result<Arc<dyn LlmBackend>> {
    Ok(match provider {
        LlmProvider::Embedded => Arc::new(llm_embedded::EmbeddedLlm::new(config, files.clone())),
        LlmProvider::Ollama | LlmProvider::Openai => {
            let Some(chat) = wire(config, provider) else {
                anyhow::bail!("no wire for {provider:?}");
            };
            let embed = config
                .embedding
                .provider
                .and_then(|p| wire(config, p))
                .unwrap_or_else(|| chat.clone());
            Arc::new(HttpLlm::new(config, chat, embed)?)
        }
        LlmProvider::Auto | LlmProvider::None => Arc::new(unconfigured::NoModel {
            reason: reason.to_owned(),
        }),
    })
}

/// Opens the model backend `llm.provider` resolves to, with why.
pub fn open_llm(config: &LlmConfig) -> anyhow::Result<(Arc<dyn LlmBackend>, LlmChoice)> {
    // Located once: choosing, building and the embedding fallback all read it.
    let files = llm_embedded::locate(config);
    let (provider, reason) = choose_llm_with(config, &files);
    let chat = backend_for(config, &files, provider, &reason)?;
    // Embeddings: as configured; else the chat provider's; with no chat
    // model, the embedded embedding model when it is installed (retrieval
    // then still runs on vectors).
    let embed_provider = match config.embedding.provider {
        Some(p) => Some(p),
        None if provider == LlmProvider::None && files.embedding.is_some() => {
            Some(LlmProvider::Embedded)
        }
        None => None,
    };
    let backend: Arc<dyn LlmBackend> = match embed_provider {
        Some(p) if p != provider && !(is_http(p) && is_http(provider)) => {
            Arc::new(llm_embedded::SplitLlm {
                chat,
                embed: backend_for(config, &files, p, &reason)?,
            })
        }
        _ => chat,
    };
    let choice = LlmChoice {
        provider: match provider {
            LlmProvider::Ollama => ResolvedLlm::Ollama,
            LlmProvider::Openai => ResolvedLlm::Openai,
            LlmProvider::Embedded => ResolvedLlm::Embedded,
            LlmProvider::Auto | LlmProvider::None => ResolvedLlm::None,
        },
        model: match provider {
            LlmProvider::Ollama | LlmProvider::Openai => Some(config.model.clone()),
            LlmProvider::Embedded => Some(config.embedded.chat_model_path.as_ref().map_or_else(
                || config.embedded.chat_model.clone(),
                |p| p.display().to_string(),
            )),
            LlmProvider::Auto | LlmProvider::None => None,
        },
        reason,
    };
    Ok((backend, choice))
}

fn is_http(provider: LlmProvider) -> bool {
    matches!(provider, LlmProvider::Ollama | LlmProvider::Openai)
}

/// A state file's path: as configured when absolute, else under `data_dir`.
fn in_data_dir(config: &Config, path: &std::path::Path) -> std::path::PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config.data_dir.join(path)
    }
}

/// The telemetry store `db.provider` names, as skills use it and as a
/// bulk load (`sc-host ingest`) uses it: one store, two traits.
pub struct Telemetry {
    /// What the `db` capability calls.
    pub db: Arc<dyn DbBackend>,
    /// What `sc-host ingest` loads through.
    pub load: Arc<dyn BulkLoad>,
}

fn both<T: DbBackend + BulkLoad + 'static>(store: T) -> Telemetry {
    let store = Arc::new(store);
    Telemetry {
        db: store.clone(),
        load: store,
    }
}

/// Opens the telemetry store `db.provider` names.
pub fn open_telemetry(config: &Config) -> anyhow::Result<Telemetry> {
    Ok(match config.db.provider {
        DbProvider::Embedded => {
            let dir = in_data_dir(config, &config.db.embedded.path);
            both(
                store_embedded::EmbeddedDb::open(&dir)
                    .with_context(|| format!("opening the embedded store {}", dir.display()))?,
            )
        }
        DbProvider::Opensearch => both(store_cluster::ClusterDb::new(
            "db.opensearch",
            &config.db.opensearch,
        )?),
        DbProvider::Elasticsearch => both(store_cluster::ClusterDb::new(
            "db.elasticsearch",
            &config.db.elasticsearch,
        )?),
        DbProvider::None => both(unconfigured::Unconfigured),
    })
}

/// Opens the telemetry store `db.provider` names, as skills use it.
pub fn open_db(config: &Config) -> anyhow::Result<Arc<dyn DbBackend>> {
    open_telemetry(config).map(|telemetry| telemetry.db)
}

/// Which store `rag.provider` resolves to, and why: `auto` follows a
/// cluster `db.provider`, unless the embedded store already holds
/// documents (they stay where they are rather than vanish from retrieval);
/// otherwise the embedded store.
pub fn rag_provider(config: &Config) -> (RagProvider, String) {
    let cluster = match (config.rag.provider, config.db.provider) {
        (RagProvider::Auto, DbProvider::Opensearch) => RagProvider::Opensearch,
        (RagProvider::Auto, DbProvider::Elasticsearch) => RagProvider::Elasticsearch,
        (RagProvider::Auto, _) => {
            return (
                RagProvider::Embedded,
                "auto: no cluster in `db.provider`".to_owned(),
            );
        }
        (chosen, _) => return (chosen, "set by `rag.provider`".to_owned()),
    };
    match embedded_rag_documents(config) {
        0 => (cluster, "auto: the cluster `db.provider` names".to_owned()),
        n => (
            RagProvider::Embedded,
            format!(
                "auto: the embedded store holds {n} documents, kept; set `rag.provider: {}` to use the cluster (skills refill it on their next runs)",
                if cluster == RagProvider::Opensearch {
                    "opensearch"
                } else {
                    "elasticsearch"
                }
            ),
        ),
    }
}

/// Documents in the embedded retrieval store, read without creating it.
fn embedded_rag_documents(config: &Config) -> u64 {
    let path = in_data_dir(config, &config.rag.path);
    if !path.is_file() {
        return 0;
    }
    rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|conn| {
            conn.query_row("SELECT COUNT(*) FROM rag_docs", [], |row| {
                row.get::<_, i64>(0)
            })
        })
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// Where retrieval documents live, and why, for status lines.
fn rag_description(config: &Config, provider: RagProvider, reason: &str) -> String {
    let place = match provider {
        RagProvider::Opensearch => format!(
            "opensearch {} index {} (knn_vector)",
            config.db.opensearch.url(),
            config.rag.index
        ),
        RagProvider::Elasticsearch => format!(
            "elasticsearch {} index {} (dense_vector)",
            config.db.elasticsearch.url(),
            config.rag.index
        ),
        RagProvider::Auto | RagProvider::Embedded => format!(
            "embedded ({}, exact cosine)",
            in_data_dir(config, &config.rag.path).display()
        ),
    };
    format!("{place} ({reason})")
}

/// Opens the retrieval store `rag.provider` resolves to (`llm` embeds), and
/// says which it is: resolved once, so status names the store in use.
fn open_rag(
    config: &Config,
    llm: &Arc<dyn LlmBackend>,
) -> anyhow::Result<(Arc<dyn RagBackend>, String)> {
    let threshold = config.rag.similarity_threshold;
    let cluster = |key: &'static str, cluster: &sc_core::config::ClusterConfig, flavor| {
        anyhow::Ok(Arc::new(rag_cluster::ClusterRag::new(
            store_cluster::ClusterDb::new(key, cluster)?,
            flavor,
            &config.rag.index,
            Some(llm.clone()),
            threshold,
        )) as Arc<dyn RagBackend>)
    };
    let (provider, reason) = rag_provider(config);
    let rag = match provider {
        RagProvider::Opensearch => cluster(
            "db.opensearch",
            &config.db.opensearch,
            rag_cluster::VectorFlavor::OpenSearch,
        )?,
        RagProvider::Elasticsearch => cluster(
            "db.elasticsearch",
            &config.db.elasticsearch,
            rag_cluster::VectorFlavor::Elasticsearch,
        )?,
        RagProvider::Auto | RagProvider::Embedded => {
            let path = in_data_dir(config, &config.rag.path);
            let rag = rag_sqlite::SqliteRag::open(&path, Some(llm.clone()), threshold)
                .with_context(|| format!("opening the retrieval store {}", path.display()))?;
            Arc::new(rag)
        }
    };
    Ok((rag, rag_description(config, provider, &reason)))
}

/// Opens the backends the config asks for.
pub fn open(config: &Config) -> anyhow::Result<Backends> {
    let memory_path = in_data_dir(config, &config.memory.path);
    let memory = SqliteMemory::open(&memory_path, config.memory.clone())
        .with_context(|| format!("opening the memory database {}", memory_path.display()))?;
    let db = open_db(config)?;
    let (llm, llm_choice) = open_llm(&config.llm)?;
    let (rag, rag_description) = open_rag(config, &llm)?;
    let http: Arc<dyn sc_core::http::HttpBackend> = match config.http.provider {
        HttpProvider::None => Arc::new(unconfigured::Unconfigured),
        HttpProvider::Direct => Arc::new(enrichment::EnrichmentBroker::new(
            http_direct::DirectHttp::new(&config.http)?,
            &config.http.enrichment,
        )),
    };
    Ok(Backends {
        db,
        llm,
        rag,
        memory: Arc::new(memory),
        http,
        llm_choice: Arc::new(llm_choice),
        rag_description: rag_description.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_core::rag::Document;

    #[test]
    fn auto_retrieval_follows_the_cluster_but_keeps_documents_already_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        assert_eq!(rag_provider(&config).0, RagProvider::Embedded);
        config.db.provider = DbProvider::Opensearch;
        assert_eq!(rag_provider(&config).0, RagProvider::Opensearch);

        let store =
            rag_sqlite::SqliteRag::open(&dir.path().join("rag.db"), None, 0.3).expect("open");
        // An empty store file (earlier versions always made one) changes nothing.
        assert_eq!(rag_provider(&config).0, RagProvider::Opensearch);
        let doc = Document {
            category: "network_baseline".into(),
            entity: "10.0.0.5".into(),
            window: None,
            text: "dns every minute".into(),
            source: "zeek".into(),
            metadata: "{}".into(),
            valid_until: None,
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(RagBackend::store(&store, "s", vec![doc]))
            .expect("store");
        let (provider, reason) = rag_provider(&config);
        assert_eq!(provider, RagProvider::Embedded);
        assert!(reason.contains("rag.provider: opensearch"), "{reason}");
        config.rag.provider = RagProvider::Opensearch;
        assert_eq!(rag_provider(&config).0, RagProvider::Opensearch);
    }
}
