//! `grants.files`: folders a skill may read (or write) under the data
//! folder, or where the operator bound them, checked and resolved to the
//! mounts the sandbox preopens.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{GrantCheck, GrantError};

/// One entry of `grants.files`: a folder under the data folder
/// (`data_dir`), which the skill sees under the same relative name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    /// The folder, relative to `data_dir`: plain names joined by `/`.
    pub path: String,
    /// Read-only (`ro`, the default) or read-write (`rw`).
    #[serde(default)]
    pub mode: FileMode,
}

/// What a skill may do in a granted folder.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FileMode {
    /// Read files and list folders.
    #[default]
    Ro,
    /// Also create, write, rename and delete.
    Rw,
}

impl FileMode {
    /// `ro` or `rw`, as the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ro => "ro",
            Self::Rw => "rw",
        }
    }
}

impl FileGrant {
    /// Checks the path's form: relative, plain names only (no `..`, `.`,
    /// root or drive), printable, at most 255 bytes.
    pub fn validate(&self) -> Result<(), String> {
        let path = &self.path;
        if path.is_empty() || path.len() > 255 {
            return Err(format!("`{path}` must be 1-255 bytes"));
        }
        if path.contains('\\') || path.chars().any(char::is_control) {
            return Err(format!(
                "`{path}` may not contain backslashes or control characters"
            ));
        }
        // `components` folds away inner `.` and repeated `/`, so the
        // segments are checked as written too.
        let plain = Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
            && path.split('/').all(|seg| !matches!(seg, "" | "." | ".."));
        if !plain {
            return Err(format!(
                "`{path}` must be a folder under the data folder written as plain names joined by `/` (e.g. `geoip`), without `..`, `.` or a leading `/`"
            ));
        }
        Ok(())
    }
}

/// A granted folder, resolved on this machine: the host folder to preopen
/// and the name the skill opens it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMount {
    /// The folder on the host (canonical: no symlinks left).
    pub host: PathBuf,
    /// The name the skill uses, the grant's `path`.
    pub guest: String,
    /// What the skill may do there.
    pub mode: FileMode,
}

impl GrantCheck {
    /// The folders of `grants.files`, resolved under `data_dir` and created
    /// when missing. A folder that leaves `data_dir` (its form, or a
    /// symlink on the way) is refused: within a mounted folder the sandbox
    /// itself refuses `..` and symlinks that lead out.
    pub fn file_mounts(&self, data_dir: &Path) -> Result<Vec<FileMount>, GrantError> {
        self.file_mounts_bound(data_dir, &BTreeMap::new())
    }

    /// [`GrantCheck::file_mounts`], with the folders the operator bound to
    /// grants (`skills.folders.<skill>.<grant path>`) used as they are:
    /// the operator chose them, so they may be outside `data_dir`, but they
    /// must exist.
    pub fn file_mounts_bound(
        &self,
        data_dir: &Path,
        bound: &BTreeMap<String, PathBuf>,
    ) -> Result<Vec<FileMount>, GrantError> {
        if self.grants.files.is_empty() {
            return Ok(Vec::new());
        }
        let root = std::fs::create_dir_all(data_dir)
            .and_then(|()| data_dir.canonicalize())
            .map_err(|e| {
                GrantError::InvalidInput(format!(
                    "the data folder {} is not usable for `grants.files`: {e}",
                    data_dir.display()
                ))
            })?;
        let mut mounts = Vec::with_capacity(self.grants.files.len());
        for grant in &self.grants.files {
            grant.validate().map_err(GrantError::InvalidInput)?;
            if let Some(folder) = bound.get(&grant.path) {
                let host = folder
                    .canonicalize()
                    .ok()
                    .filter(|p| p.is_dir())
                    .ok_or_else(|| {
                        GrantError::InvalidInput(format!(
                            "`skills.folders.{}.{}` is {}, which is not a folder; create it or change the key",
                            self.skill_id,
                            grant.path,
                            folder.display()
                        ))
                    })?;
                mounts.push(FileMount {
                    host,
                    guest: grant.path.clone(),
                    mode: grant.mode,
                });
                continue;
            }
            let wanted = root.join(&grant.path);
            let host = std::fs::create_dir_all(&wanted)
                .and_then(|()| wanted.canonicalize())
                .map_err(|e| {
                    GrantError::InvalidInput(format!(
                        "`grants.files` folder `{}` ({}) is not usable: {e}",
                        grant.path,
                        wanted.display()
                    ))
                })?;
            if !host.starts_with(&root) || !host.is_dir() {
                return Err(self
                    .deny(
                        &format!(
                            "use folder `{}`: it leads to {}, outside the data folder {} (a symlink)",
                            grant.path,
                            host.display(),
                            root.display()
                        ),
                        "a folder that is really inside the data folder",
                        "grants.files",
                    )
                    .into());
            }
            mounts.push(FileMount {
                host,
                guest: grant.path.clone(),
                mode: grant.mode,
            });
        }
        Ok(mounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::Grants;

    fn check(grants: Grants) -> GrantCheck {
        GrantCheck::new(
            "triage",
            PathBuf::from("skills-dist/triage/instruction.md"),
            grants,
        )
    }

    fn files(paths: &[(&str, FileMode)]) -> GrantCheck {
        check(Grants {
            files: paths
                .iter()
                .map(|(path, mode)| FileGrant {
                    path: (*path).to_owned(),
                    mode: *mode,
                })
                .collect(),
            ..Grants::default()
        })
    }

    #[test]
    fn file_grants_are_plain_relative_folders() {
        for good in ["geoip", "sigma/rules", "a-b_c.d"] {
            let grant = FileGrant {
                path: good.into(),
                mode: FileMode::Ro,
            };
            assert_eq!(grant.validate(), Ok(()), "{good}");
        }
        for bad in [
            "", "/etc", "../x", "a/../b", "./a", "a/./b", "a/", "a//b", "a\\b", "a\nb",
        ] {
            let grant = FileGrant {
                path: bad.into(),
                mode: FileMode::Rw,
            };
            assert!(grant.validate().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn file_mounts_are_created_inside_the_data_folder() {
        let data = tempfile::tempdir().expect("tempdir");
        let mounts = files(&[("geoip", FileMode::Ro), ("sigma/rules", FileMode::Rw)])
            .file_mounts(data.path())
            .expect("mounts");
        let root = data.path().canonicalize().expect("canonical");
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].host, root.join("geoip"));
        assert_eq!(mounts[0].guest, "geoip");
        assert_eq!(mounts[0].mode, FileMode::Ro);
        assert_eq!(mounts[1].host, root.join("sigma/rules"));
        assert!(mounts[1].host.is_dir());
        assert!(
            files(&[])
                .file_mounts(data.path())
                .expect("none")
                .is_empty()
        );
    }

    #[test]
    fn an_operator_bound_folder_is_mounted_where_it_is() {
        let data = tempfile::tempdir().expect("tempdir");
        let rules = tempfile::tempdir().expect("tempdir");
        let bound = BTreeMap::from([("sigma".to_owned(), rules.path().to_path_buf())]);
        let mounts = files(&[("sigma", FileMode::Ro), ("geoip", FileMode::Ro)])
            .file_mounts_bound(data.path(), &bound)
            .expect("mounts");
        assert_eq!(
            mounts[0].host,
            rules.path().canonicalize().expect("canonical")
        );
        assert_eq!(mounts[0].guest, "sigma");
        assert_eq!(mounts[0].mode, FileMode::Ro);
        assert!(
            mounts[1]
                .host
                .starts_with(data.path().canonicalize().expect("canonical"))
        );
        let missing = BTreeMap::from([("sigma".to_owned(), data.path().join("nope"))]);
        let err = files(&[("sigma", FileMode::Ro)])
            .file_mounts_bound(data.path(), &missing)
            .expect_err("missing");
        assert!(err.to_string().contains("skills.folders."), "{err}");
        assert!(err.to_string().contains(".sigma"), "{err}");
    }

    #[test]
    fn a_folder_that_is_a_symlink_out_of_the_data_folder_is_refused() {
        let data = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), data.path().join("geoip")).expect("symlink");
        let err = files(&[("geoip", FileMode::Ro)])
            .file_mounts(data.path())
            .expect_err("escapes");
        assert!(
            matches!(&err, GrantError::Denied(d) if d.0.contains("outside the data folder") && d.0.contains("grants.files")),
            "{err}"
        );
        // A symlink that stays inside is followed.
        std::fs::create_dir(data.path().join("real")).expect("dir");
        std::os::unix::fs::symlink(data.path().join("real"), data.path().join("alias"))
            .expect("symlink");
        let mounts = files(&[("alias", FileMode::Ro)])
            .file_mounts(data.path())
            .expect("inside");
        assert!(mounts[0].host.ends_with("real"));
        // The form is checked even when the manifest was not.
        assert!(matches!(
            files(&[("../x", FileMode::Ro)]).file_mounts(data.path()),
            Err(GrantError::InvalidInput(_))
        ));
    }
}
