//! What the benchmarks share: the built components, installing them, and
//! percentiles of timed samples.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::repo_root;

/// The built folder of a skill or test component.
pub fn built(id: &str) -> PathBuf {
    let root = repo_root();
    [root.join("tests/fixtures/dist"), root.join("skills-dist")]
        .into_iter()
        .map(|dir| dir.join(id))
        .find(|dir| dir.join("skill.wasm").is_file())
        .unwrap_or_else(|| panic!("`{id}` is not built: run `just skills fixtures` first"))
}

/// Copies built skills into `skills_dir`.
pub fn install(skills_dir: &Path, ids: &[&str]) {
    for id in ids {
        let to = skills_dir.join(id);
        std::fs::create_dir_all(&to).expect("skill dir");
        for file in ["skill.wasm", "instruction.md"] {
            std::fs::copy(built(id).join(file), to.join(file)).expect("copy");
        }
    }
}

/// The `p` quantile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
