//! Test support: temporary skill folders filled with built components.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sc_host::backends;
use sc_host::config::Config;
use sc_host::runtime::{RunReport, SkillHost, Trigger};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
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

    /// Starts a host on this installation.
    pub fn host(&self) -> SkillHost {
        self.host_with(self.config())
    }

    /// Starts a host with a modified config.
    pub fn host_with(&self, config: Config) -> SkillHost {
        let backends = backends::open(&config).expect("backends");
        SkillHost::start(Arc::new(config), backends).expect("host starts")
    }
}

/// Dispatches with no parameters and expects the host to run it.
pub async fn dispatch(host: &SkillHost, id: &str, params: serde_json::Value) -> RunReport {
    host.dispatch(id, Trigger::Dispatch, params)
        .await
        .expect("dispatch accepted")
}
