//! The telemetry stores a test runs against: the embedded store always,
//! OpenSearch and Elasticsearch when `just test` started them (or
//! `SC_TEST_*_URL` points at real clusters), each with a data folder of its
//! own, and index names unique to the test process.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sc_core::config::{Config, DbProvider};
use sc_core::db::DbBackend;

use crate::{cluster_config, cluster_url};

/// One backend under test.
pub struct Backend {
    /// `embedded`, `opensearch` or `elasticsearch`.
    pub name: &'static str,
    /// Its `db.provider`.
    pub provider: DbProvider,
    /// The cluster's URL.
    pub url: Option<String>,
    /// Its own data folder.
    pub data_dir: PathBuf,
}

impl Backend {
    /// A config that selects this store.
    pub fn config(&self) -> Config {
        let mut config = Config {
            data_dir: self.data_dir.clone(),
            ..Config::default()
        };
        config.db.provider = self.provider;
        if let Some(url) = &self.url {
            let cluster = cluster_config(url);
            config.db.opensearch = cluster.clone();
            config.db.elasticsearch = cluster;
        }
        config
    }

    /// The store, opened as skills see it.
    pub fn db(&self) -> Arc<dyn DbBackend> {
        sc_backends::open_db(&self.config()).unwrap_or_else(|e| panic!("{}: {e:#}", self.name))
    }

    /// `sc-host` environment that selects this backend.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "SC_DATA_DIR".to_owned(),
                self.data_dir.display().to_string(),
            ),
            (
                "SC_DB_PROVIDER".to_owned(),
                format!("{:?}", self.provider).to_lowercase(),
            ),
        ];
        if let Some(url) = &self.url {
            let cluster = cluster_config(url);
            for key in ["OPENSEARCH", "ELASTICSEARCH"] {
                env.push((format!("SC_DB_{key}_HOST"), cluster.host.clone()));
                env.push((format!("SC_DB_{key}_PORT"), cluster.port.to_string()));
                env.push((format!("SC_DB_{key}_TLS"), cluster.tls.to_string()));
            }
        }
        env
    }
}

/// A folder shared by the whole test process.
pub fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
}

/// Every backend available to this run; each test gets its own data dir.
pub fn backends(test: &str) -> Vec<Backend> {
    let dir = scratch().path().join(test);
    let mut out = vec![Backend {
        name: "embedded",
        provider: DbProvider::Embedded,
        url: None,
        data_dir: dir.join("embedded"),
    }];
    if let Some(url) = cluster_url("SC_TEST_OPENSEARCH_URL") {
        out.push(Backend {
            name: "opensearch",
            provider: DbProvider::Opensearch,
            url: Some(url),
            data_dir: dir.join("os"),
        });
    }
    if let Some(url) = cluster_url("SC_TEST_ELASTICSEARCH_URL") {
        out.push(Backend {
            name: "elasticsearch",
            provider: DbProvider::Elasticsearch,
            url: Some(url),
            data_dir: dir.join("es"),
        });
    }
    out
}

/// Index names unique to this process, so runs against one server never collide.
pub fn index_name(name: &str) -> String {
    format!("sct{}-{name}", std::process::id())
}

/// The `_id`s of a search answer's hits, in order.
pub fn hit_ids(response: &serde_json::Value) -> Vec<String> {
    response["hits"]["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| h["_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
