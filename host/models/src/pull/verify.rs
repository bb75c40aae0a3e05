//! Whether a model file on disk is the pinned one: its stamp, or a hash.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::{Pumped, pump};
use crate::catalog::ModelFile;

pub(super) enum FileState {
    Verified,
    Missing,
    Wrong,
}

/// Checks a file against its pin, trusting a stamp that still matches the
/// file's size and mtime, and hashing (then stamping) otherwise.
pub(super) fn check_file(dir: &Path, file: &ModelFile) -> FileState {
    let path = dir.join(file.name);
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return FileState::Missing,
        Err(_) => return FileState::Wrong,
    };
    if !meta.is_file() || meta.len() != file.size {
        return FileState::Wrong;
    }
    if let Some(stamp) = Stamp::of(&meta, file.sha256)
        && fs::read_to_string(stamp_path(dir, file)).is_ok_and(|s| s == stamp.render())
    {
        return FileState::Verified;
    }
    match sha256_file(&path) {
        Ok(actual) if actual == file.sha256 => {
            // Best effort: without a stamp the next check hashes again.
            let _ = write_stamp(dir, file);
            FileState::Verified
        }
        _ => FileState::Wrong,
    }
}

/// What a file was verified with: if its size or mtime change, or the pin
/// does, the stamp no longer matches and the file is hashed again.
struct Stamp<'a> {
    size: u64,
    mtime_ns: u128,
    sha256: &'a str,
}

impl<'a> Stamp<'a> {
    fn of(meta: &fs::Metadata, sha256: &'a str) -> Option<Self> {
        let mtime_ns = meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(Self {
            size: meta.len(),
            mtime_ns,
            sha256,
        })
    }

    fn render(&self) -> String {
        format!(
            "size={}\nmtime_ns={}\nsha256={}\n",
            self.size, self.mtime_ns, self.sha256
        )
    }
}

pub(super) fn stamp_path(dir: &Path, file: &ModelFile) -> PathBuf {
    dir.join(format!(".{}.verified", file.name))
}

/// Records that the file as it is now has been verified against its pin.
/// Only call this after verifying it.
pub(super) fn write_stamp(dir: &Path, file: &ModelFile) -> io::Result<()> {
    let meta = fs::metadata(dir.join(file.name))?;
    match Stamp::of(&meta, file.sha256) {
        Some(stamp) => fs::write(stamp_path(dir, file), stamp.render()),
        // No usable mtime on this filesystem: a stamp could not be trusted.
        None => Ok(()),
    }
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    pump(&mut file, |chunk| {
        hasher.update(chunk);
        Ok(())
    })
    .map_err(|(Pumped::Read(e) | Pumped::Write(e))| e)?;
    Ok(hex::encode(hasher.finalize()))
}
