//! The wasmtime engine and linker shared by every run, the epoch ticker that
//! enforces time limits, and turning a skill folder into a ready-to-run
//! `InstancePre`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{
    Config as EngineConfig, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use super::bindings::SkillPre;
use super::cache::{CacheOutcome, ComponentCache, sha256_hex};
use super::registry::ScannedSkill;
use super::state::StoreState;
use crate::capabilities;
use crate::manifest::Manifest;

/// How often the epoch advances; a running guest yields at every tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A skill compiled and linked, ready for a fresh store per call.
pub struct LoadedSkill {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where the manifest is (for refusal messages).
    pub manifest_path: std::path::PathBuf,
    /// sha256 of `skill.wasm`.
    pub sha256: String,
    /// Whether compiling was needed.
    pub cache: CacheOutcome,
    /// The linked component.
    pub pre: SkillPre<StoreState>,
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

impl Engines {
    /// Builds the engine and linker; compiled components go to `cache_dir`.
    pub fn new(cache_dir: std::path::PathBuf) -> anyhow::Result<Self> {
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

    /// Compiles (or loads from cache) and links a scanned skill. The error
    /// says why it cannot run.
    pub fn load(&self, scanned: &ScannedSkill) -> Result<LoadedSkill, String> {
        self.load_pinned(scanned, None)
    }

    /// Like [`Engines::load`], refusing a component whose sha256 is not
    /// `pin`. The hash is taken of the very bytes that get compiled.
    pub fn load_pinned(
        &self,
        scanned: &ScannedSkill,
        pin: Option<&str>,
    ) -> Result<LoadedSkill, String> {
        if let Some(problem) = scanned.problem() {
            return Err(problem);
        }
        let manifest = match &scanned.manifest {
            Ok(manifest) => manifest.clone(),
            Err(err) => return Err(err.to_string()),
        };
        let path = scanned.component_path();
        let wasm = std::fs::read(&path)
            .map_err(|err| format!("{}: cannot read: {err}", path.display()))?;
        let sha256 = sha256_hex(&wasm);
        if let Some(pin) = pin
            && !sha256.eq_ignore_ascii_case(pin)
        {
            return Err(format!(
                "{}: sha256 {sha256} is not the pinned {pin} (`skills.pins.{}` in config.yaml); refusing it",
                path.display(),
                scanned.folder
            ));
        }
        let (component, cache) = self
            .cache
            .load_or_compile(&self.engine, &wasm, &sha256)
            .map_err(|err| format!("{}: not a valid component: {err:#}", path.display()))?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|err| {
            format!(
                "{}: imports something the host does not provide ({err}); build it against the securityclaw:skill@0.1.0 WIT",
                path.display()
            )
        })?;
        let pre = SkillPre::new(instance_pre).map_err(|err| {
            format!(
                "{}: does not export the `skill` world's `run` function ({err})",
                path.display()
            )
        })?;
        Ok(LoadedSkill {
            manifest,
            manifest_path: scanned.manifest_path(),
            sha256,
            cache,
            pre,
        })
    }
}
