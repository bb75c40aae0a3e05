//! Compiled components on disk, so Cranelift runs once per component and
//! wasmtime build, not once per start.
//!
//! An entry is named by the wasm's sha256 and a hash of the wasmtime version
//! and engine settings; its content starts with the sha256 of the compiled
//! bytes, checked before use. A corrupt or stale entry is discarded and
//! rebuilt.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    /// Loaded from the cache.
    Hit,
    /// Compiled and stored.
    Compiled,
    /// The entry was corrupt; compiled again and replaced.
    Rebuilt,
}

/// The compiled-component cache in one folder.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

/// sha256 of bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ComponentCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("wasmtime{}-{:016x}", wasmtime_version(), hasher.finish());
        Self { dir, engine_key }
    }

    /// Where the entry for a wasm with this sha256 lives.
    pub fn entry_path(&self, wasm_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_sha256}-{}.cwasm", self.engine_key))
    }

    /// Is there an entry for this wasm (not checked for integrity)?
    pub fn contains(&self, wasm_sha256: &str) -> bool {
        self.entry_path(wasm_sha256).is_file()
    }

    /// The component for `wasm`, from the cache when possible.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(wasm_sha256);
        let mut outcome = CacheOutcome::Compiled;
        if let Ok(entry) = std::fs::read(&path) {
            match deserialize_checked(engine, &entry) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "discarding a corrupt compiled-component cache entry");
                    let _ = std::fs::remove_file(&path);
                    outcome = CacheOutcome::Rebuilt;
                }
            }
        }
        let component = Component::new(engine, wasm).map_err(anyhow::Error::from)?;
        if let Err(err) = self.store(&path, &component) {
            // A read-only data dir costs speed, not correctness.
            tracing::warn!(path = %path.display(), error = %err, "could not write the compiled-component cache");
        }
        Ok((component, outcome))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let compiled = component.serialize().map_err(anyhow::Error::from)?;
        std::fs::create_dir_all(&self.dir)?;
        let mut entry = Vec::with_capacity(32 + compiled.len());
        entry.extend_from_slice(&Sha256::digest(&compiled));
        entry.extend_from_slice(&compiled);
        // Write then rename, so a reader never sees half an entry.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &entry)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

fn wasmtime_version() -> &'static str {
    // The version is pinned with `=` in Cargo.toml; keep this in step.
    "48.0.8"
}

fn deserialize_checked(engine: &Engine, entry: &[u8]) -> Result<Component, String> {
    if entry.len() < 32 {
        return Err("entry is truncated".to_owned());
    }
    let (digest, compiled) = entry.split_at(32);
    if Sha256::digest(compiled).as_slice() != digest {
        return Err("checksum mismatch".to_owned());
    }
    deserialize_trusted(engine, compiled).map_err(|err| err.to_string())
}

#[expect(
    unsafe_code,
    reason = "wasmtime can only trust precompiled code the caller vouches for: these bytes were written by this host into its own data dir and their checksum was just verified"
)]
fn deserialize_trusted(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the `expect` reason above; wasmtime additionally checks the
    // artifact's version and engine settings and refuses a mismatch.
    unsafe { Component::deserialize(engine, compiled) }
}
