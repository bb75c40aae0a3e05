//! The skill registry: what is installed in `skills_dir`, read from the
//! manifests alone (fast, no compiling), and which skills loaded or why not.
//!
//! A skill is `<skill_id>/skill.wasm` plus `<skill_id>/instruction.md`. One
//! broken skill never stops the others from loading.

use std::path::{Path, PathBuf};

use sc_core::manifest::{Manifest, ManifestError};

/// The component file in a skill folder.
pub const COMPONENT_FILE: &str = "skill.wasm";
/// The manifest file in a skill folder.
pub const MANIFEST_FILE: &str = "instruction.md";

/// The binary preamble of a WebAssembly component (magic, version 0x0d, layer 1).
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// A skill folder as found on disk, with its manifest read.
#[derive(Debug, Clone)]
pub struct ScannedSkill {
    /// The folder name (the skill id when the manifest agrees).
    pub folder: String,
    /// The folder.
    pub dir: PathBuf,
    /// The manifest, or why it could not be read.
    pub manifest: Result<Manifest, ManifestError>,
    /// A problem with `skill.wasm` found without compiling it.
    pub component_problem: Option<String>,
}

impl ScannedSkill {
    /// `<dir>/instruction.md`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    /// `<dir>/skill.wasm`.
    pub fn component_path(&self) -> PathBuf {
        self.dir.join(COMPONENT_FILE)
    }

    /// Identifies the files as they are now (sizes and modification times),
    /// so a recorded load failure can be matched to the files it was about.
    pub fn fingerprint(&self) -> String {
        let stamp = |path: PathBuf| {
            std::fs::metadata(path)
                .map(|m| {
                    let modified = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    format!("{}@{modified}", m.len())
                })
                .unwrap_or_else(|_| "-".to_owned())
        };
        format!(
            "{}/{}",
            stamp(self.component_path()),
            stamp(self.manifest_path())
        )
    }

    /// The first problem that keeps this skill from loading, if any.
    pub fn problem(&self) -> Option<String> {
        match &self.manifest {
            Err(err) => Some(err.to_string()),
            Ok(_) => self.component_problem.clone(),
        }
    }
}

/// Reads every skill folder under `skills_dir`, sorted by name. Folders
/// starting with `.` are ignored (editors and copy tools use them).
pub fn scan(skills_dir: &Path) -> std::io::Result<Vec<ScannedSkill>> {
    let mut skills = Vec::new();
    for entry in std::fs::read_dir(skills_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        skills.push(scan_one(&entry.path(), name));
    }
    skills.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(skills)
}

/// Reads one skill folder.
pub fn scan_one(dir: &Path, folder: String) -> ScannedSkill {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = if manifest_path.is_file() {
        Manifest::load(&manifest_path, Some(&folder))
    } else {
        Err(ManifestError {
            file: manifest_path,
            message: format!("missing; every skill folder needs a {MANIFEST_FILE} manifest"),
        })
    };
    let component_problem = check_component_file(&dir.join(COMPONENT_FILE));
    ScannedSkill {
        folder,
        dir: dir.to_path_buf(),
        manifest,
        component_problem,
    }
}

fn check_component_file(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut preamble = [0u8; 8];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut preamble));
    match read {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(format!(
            "{}: missing; build the skill (`just skills`) or copy its component here",
            path.display()
        )),
        Err(err) => Some(format!("{}: cannot read: {err}", path.display())),
        Ok(()) if preamble[..4] != COMPONENT_PREAMBLE[..4] => {
            Some(format!("{}: not a WebAssembly file", path.display()))
        }
        Ok(()) if preamble != COMPONENT_PREAMBLE => Some(format!(
            "{}: a core WebAssembly module, not a component; build for wasm32-wasip2 (or run `wasm-tools component new`)",
            path.display()
        )),
        Ok(()) => None,
    }
}
