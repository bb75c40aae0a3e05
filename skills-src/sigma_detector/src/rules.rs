//! Where rules come from: the project's own (compiled into the skill) and
//! the user's folder (`<data_dir>/sigma`, granted read-only), read afresh
//! on every run so a changed folder takes effect at the next one. A
//! fingerprint of the files kept in memory says what changed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ruleset::{Problem, RuleFile};

/// The project's rules, by file.
pub const BUILTIN: [(&str, &str); 7] = [
    (
        "credential_access.yml",
        include_str!("../rules/credential_access.yml"),
    ),
    (
        "lateral_movement.yml",
        include_str!("../rules/lateral_movement.yml"),
    ),
    (
        "privilege_escalation.yml",
        include_str!("../rules/privilege_escalation.yml"),
    ),
    (
        "defense_evasion.yml",
        include_str!("../rules/defense_evasion.yml"),
    ),
    ("discovery.yml", include_str!("../rules/discovery.yml")),
    (
        "command_and_control.yml",
        include_str!("../rules/command_and_control.yml"),
    ),
    ("network.yml", include_str!("../rules/network.yml")),
];

/// The `files` grant the user's rules are read from.
pub const FOLDER_GRANT: &str = "sigma";
/// The memory key of the rules' fingerprint.
pub const FINGERPRINT_KEY: &str = "sigma_detector.rules";
/// A rule file larger than this is refused (a SigmaHQ rule is a few KiB).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The project's rules as files.
pub fn builtin() -> Vec<RuleFile> {
    BUILTIN
        .iter()
        .map(|(name, text)| RuleFile {
            source: format!("builtin:{name}"),
            text: (*text).to_owned(),
        })
        .collect()
}

/// Every `.yml`/`.yaml` file under `root` (hidden files and folders
/// skipped), in path order, with the ones that could not be read.
pub fn folder(root: &Path) -> (Vec<RuleFile>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    let mut found = Vec::new();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // A folder that is not there: no user rules.
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() && (name.ends_with(".yml") || name.ends_with(".yaml")) => {
                    found.push(path)
                }
                _ => {}
            }
        }
    }
    found.sort();
    for path in found {
        let shown = path.strip_prefix(root).map_or_else(
            |_| path.display().to_string(),
            |p| format!("{FOLDER_GRANT}/{}", p.display()),
        );
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            problems.push(Problem {
                source: shown,
                rule: None,
                reason: format!("{size} bytes is more than a rule file holds ({MAX_FILE_BYTES} at most); split it"),
            });
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push(RuleFile {
                source: shown,
                text,
            }),
            Err(err) => problems.push(Problem {
                source: shown,
                rule: None,
                reason: format!("it could not be read as UTF-8 text: {err}"),
            }),
        }
    }
    (files, problems)
}

/// A file's size and content hash, by source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint(pub BTreeMap<String, String>);

impl Fingerprint {
    /// The fingerprint of `files`.
    pub fn of(files: &[RuleFile]) -> Self {
        Fingerprint(
            files
                .iter()
                .map(|f| {
                    (
                        f.source.clone(),
                        sc_detection::records::stable_id(&[&f.text]),
                    )
                })
                .collect(),
        )
    }

    /// Files added, removed and changed since `before`.
    pub fn changes(&self, before: &Fingerprint) -> (Vec<String>, Vec<String>, Vec<String>) {
        let added = self
            .0
            .keys()
            .filter(|k| !before.0.contains_key(*k))
            .cloned()
            .collect();
        let removed = before
            .0
            .keys()
            .filter(|k| !self.0.contains_key(*k))
            .cloned()
            .collect();
        let changed = self
            .0
            .iter()
            .filter(|(k, v)| before.0.get(*k).is_some_and(|b| b != *v))
            .map(|(k, _)| k.clone())
            .collect();
        (added, removed, changed)
    }
}
