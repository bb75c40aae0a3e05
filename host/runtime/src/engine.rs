//! The wasmtime engine and linker shared by every run, the epoch ticker that
//! enforces time limits, and turning a skill folder into a ready-to-run
//! `InstancePre` — or a typed reason why it cannot run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sc_core::manifest::{Manifest, ManifestError};
use sc_core::schema::Schema;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config as EngineConfig, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use crate::bindings::{SkillPre, wit_version};
use crate::cache::{CacheOutcome, ComponentCache, sha256_hex};
use crate::capabilities;
use crate::registry::ScannedSkill;
use crate::state::StoreState;

/// How often the epoch advances; a running guest yields at every tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The WIT package skills import from.
const PACKAGE: &str = "securityclaw:skill/";

/// A skill compiled and linked, ready for a fresh store per call.
pub struct LoadedSkill {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where the manifest is (for refusal messages).
    pub manifest_path: PathBuf,
    /// The compiled `parameters` schema, when the manifest has one.
    pub parameters: Option<Schema>,
    /// sha256 of `skill.wasm`.
    pub sha256: String,
    /// Whether compiling was needed.
    pub cache: CacheOutcome,
    /// The linked component.
    pub pre: SkillPre<StoreState>,
}

/// Why a skill's files cannot run; the text says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The manifest is missing or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `skill.wasm` is missing, not WebAssembly, or a core module.
    #[error("{0}")]
    ComponentFile(String),
    /// `skill.wasm` could not be read.
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The component is not the one `skills.pins` allows.
    #[error(
        "{path}: sha256 {actual} is not the pinned {pinned} (`skills.pins.{skill}` in config.yaml); refusing it"
    )]
    PinMismatch {
        /// The file.
        path: PathBuf,
        /// The skill.
        skill: String,
        /// Its sha256.
        actual: String,
        /// The pin.
        pinned: String,
    },
    /// Cranelift refused the component.
    #[error("{path}: not a valid component: {reason}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
    /// The component was built against another line of the WIT.
    #[error(
        "{path}: built against securityclaw:skill@{built}, but this host speaks securityclaw:skill@{host}; rebuild it with the matching SDK (sdk/README.md lists which SDK speaks which version)"
    )]
    WitVersion {
        /// The file.
        path: PathBuf,
        /// The version it imports.
        built: String,
        /// The version this host provides.
        host: String,
    },
    /// The component imports something the host does not provide.
    #[error(
        "{path}: imports something the host does not provide ({reason}); build it against the securityclaw:skill@{host} WIT"
    )]
    Link {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
        /// The version this host provides.
        host: String,
    },
    /// The component does not export `run`.
    #[error("{path}: does not export the `skill` world's `run` function ({reason})")]
    Export {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
}

/// Engine, linker and cache.
pub struct Engines {
    /// The engine (epoch interruption on).
    pub engine: Engine,
    /// Every WASI and capability import.
    pub linker: Linker<StoreState>,
    /// Compiled components on disk.
    pub cache: ComponentCache,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The version part of an import such as `securityclaw:skill/db@0.2.0`.
fn imported_version(name: &str) -> Option<&str> {
    name.strip_prefix(PACKAGE)?.split_once('@').map(|(_, v)| v)
}

/// Same compatibility line (`0.2.x` with `0.2.y`; `1.x` with `1.y`)?
fn same_line(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> (String, String) {
        let mut it = v.split('.');
        (
            it.next().unwrap_or_default().to_owned(),
            it.next().unwrap_or_default().to_owned(),
        )
    };
    let ((a_major, a_minor), (b_major, b_minor)) = (parts(a), parts(b));
    a_major == b_major && (a_major != "0" || a_minor == b_minor)
}

impl Engines {
    /// Builds the engine and linker; compiled components go to `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> anyhow::Result<Self> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Every call instantiates afresh; the pooling allocator reuses
        // pre-reserved slots instead of mapping new memory each time.
        let mut pooling = PoolingAllocationConfig::default();
        pooling.total_component_instances(256);
        pooling.total_core_instances(1_024);
        pooling.total_memories(512);
        pooling.total_tables(512);
        pooling.max_memories_per_component(16);
        pooling.max_memory_size(4 << 30);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        capabilities::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("sc-epoch".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .context("starting the epoch ticker")?;

        let cache = ComponentCache::new(cache_dir, &engine);
        Ok(Self {
            engine,
            linker,
            cache,
            ticker_stop,
        })
    }

    /// Compiles (or loads from cache) and links a scanned skill.
    pub fn load(&self, scanned: &ScannedSkill) -> Result<LoadedSkill, LoadError> {
        self.load_pinned(scanned, None)
    }

    /// Like [`Engines::load`], refusing a component whose sha256 is not
    /// `pin`. The hash is taken of the very bytes that get compiled.
    pub fn load_pinned(
        &self,
        scanned: &ScannedSkill,
        pin: Option<&str>,
    ) -> Result<LoadedSkill, LoadError> {
        let manifest = scanned.manifest.clone()?;
        if let Some(problem) = &scanned.component_problem {
            return Err(LoadError::ComponentFile(problem.clone()));
        }
        // The manifest parsed, so its schema compiles (the parser checked).
        let parameters = manifest.parameter_schema().ok().flatten();
        let path = scanned.component_path();
        let wasm = std::fs::read(&path).map_err(|err| LoadError::Read {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        let sha256 = sha256_hex(&wasm);
        if let Some(pin) = pin
            && !sha256.eq_ignore_ascii_case(pin)
        {
            return Err(LoadError::PinMismatch {
                path,
                skill: scanned.folder.clone(),
                actual: sha256,
                pinned: pin.to_owned(),
            });
        }
        let (component, cache) = self
            .cache
            .load_or_compile(&self.engine, &wasm, &sha256)
            .map_err(|err| LoadError::Compile {
                path: path.clone(),
                reason: format!("{err:#}"),
            })?;
        self.check_version(&component, &path)?;
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|err| LoadError::Link {
                    path: path.clone(),
                    reason: err.to_string(),
                    host: wit_version().to_owned(),
                })?;
        let pre = SkillPre::new(instance_pre).map_err(|err| LoadError::Export {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        Ok(LoadedSkill {
            manifest,
            manifest_path: scanned.manifest_path(),
            parameters,
            sha256,
            cache,
            pre,
        })
    }

    /// Refuses a component that imports this package at another
    /// compatibility line, naming both versions.
    fn check_version(
        &self,
        component: &Component,
        path: &std::path::Path,
    ) -> Result<(), LoadError> {
        let host = wit_version();
        let component_type = component.component_type();
        for (name, _) in component_type.imports(&self.engine) {
            if let Some(built) = imported_version(name)
                && !same_line(built, host)
            {
                return Err(LoadError::WitVersion {
                    path: path.to_path_buf(),
                    built: built.to_owned(),
                    host: host.to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_within_a_compatibility_line() {
        assert_eq!(
            imported_version("securityclaw:skill/db@0.1.0"),
            Some("0.1.0")
        );
        assert_eq!(imported_version("wasi:io/streams@0.2.6"), None);
        assert!(same_line("0.2.0", "0.2.3"));
        assert!(!same_line("0.1.0", "0.2.0"));
        assert!(same_line("1.0.0", "1.4.2"));
        assert!(!same_line("1.0.0", "2.0.0"));
    }
}
