//! Files made on the machine from an entry's verified files (the ASN
//! table from its CSVs). Each has a stamp naming the pins and the format it
//! was made from, so a new pin or format rebuilds it and nothing else does.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::PullError;
use super::error::io_error;
use crate::catalog::{CatalogEntry, Derived};

fn stamp_path(dir: &Path, derived: &Derived) -> PathBuf {
    dir.join(format!(".{}.made", derived.name()))
}

/// What a derived file is made from: its inputs' pins and the format.
fn stamp(entry: &CatalogEntry, derived: &Derived) -> String {
    let pin = |name: &str| {
        entry
            .files
            .iter()
            .find(|f| f.name == name)
            .map_or("", |f| f.sha256)
    };
    match derived {
        Derived::AsnTable { v4_csv, v6_csv, .. } => format!(
            "asn-table format {}\n{v4_csv} {}\n{v6_csv} {}\n",
            sc_asn::FORMAT,
            pin(v4_csv),
            pin(v6_csv)
        ),
    }
}

/// The derived files that are absent or were made from other inputs.
pub(super) fn missing(entry: &CatalogEntry, dir: &Path) -> Vec<String> {
    entry
        .derived
        .iter()
        .filter(|d| {
            !dir.join(d.name()).is_file()
                || fs::read_to_string(stamp_path(dir, d)).ok() != Some(stamp(entry, d))
        })
        .map(|d| d.name().to_owned())
        .collect()
}

/// Makes every derived file that is missing or stale; the entry's own
/// files must be verified already.
pub(super) fn ensure(entry: &CatalogEntry, dir: &Path) -> Result<(), PullError> {
    let stale = missing(entry, dir);
    for derived in entry
        .derived
        .iter()
        .filter(|d| stale.iter().any(|n| n == d.name()))
    {
        make(entry, dir, derived)?;
    }
    Ok(())
}

fn make(entry: &CatalogEntry, dir: &Path, derived: &Derived) -> Result<(), PullError> {
    let io = |action, path: &Path| io_error(entry.id, action, path);
    let target = dir.join(derived.name());
    let partial = dir.join(format!("{}.partial", derived.name()));
    match derived {
        Derived::AsnTable { v4_csv, v6_csv, .. } => {
            let open = |name: &str| {
                let path = dir.join(name);
                File::open(&path)
                    .map(BufReader::new)
                    .map_err(io("open", &path))
            };
            let out = File::create(&partial).map_err(io("create", &partial))?;
            let mut out = BufWriter::new(out);
            let built = sc_asn::build(open(v4_csv)?, open(v6_csv)?, &mut out);
            let finished = built.map_err(|e| PullError::Derive {
                model: entry.id.to_owned(),
                file: derived.name().to_owned(),
                reason: e.to_string(),
            });
            let flushed = out
                .flush()
                .and_then(|()| out.get_ref().sync_all())
                .map_err(io("write", &partial));
            if let Err(err) = finished.and(flushed) {
                let _ = fs::remove_file(&partial);
                return Err(err);
            }
        }
    }
    fs::rename(&partial, &target).map_err(io("move into place", &target))?;
    let stamp_file = stamp_path(dir, derived);
    fs::write(&stamp_file, stamp(entry, derived)).map_err(io("write", &stamp_file))?;
    Ok(())
}
