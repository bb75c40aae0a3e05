//! Integration tests: read the real captures in `shared/datasets` and check the counts a
//! user would check. The datasets are used by path, never copied into the repo.

mod evtx;
mod formats;
mod suricata;
mod zeek;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sc_ingest::{Event, Format, Options, Record};

/// `SC_DATASETS_DIR`, else `shared/datasets` beside the repository checkout.
pub(crate) fn datasets() -> PathBuf {
    std::env::var_os("SC_DATASETS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"),
        PathBuf::from,
    )
}

/// A dataset file, failing with a clear message when the shared folder is missing.
pub(crate) fn dataset(relative: &str) -> PathBuf {
    let path = datasets().join(relative);
    assert!(
        path.exists(),
        "dataset {} is missing: these tests read shared/datasets beside the repo",
        path.display()
    );
    path
}

/// Everything a read produced.
pub(crate) struct Summary {
    pub(crate) format: Format,
    pub(crate) events: Vec<Event>,
    pub(crate) malformed: Vec<(u64, String)>,
    pub(crate) bytes_read: u64,
    pub(crate) total_bytes: Option<u64>,
}

impl Summary {
    /// Events per `kind`.
    pub(crate) fn by_kind(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for event in &self.events {
            *counts.entry(event.kind.as_str()).or_default() += 1;
        }
        counts
    }

    /// Events per value of the ECS field at `pointer` (a JSON pointer like `/event/outcome`).
    pub(crate) fn by_field(&self, pointer: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for event in &self.events {
            let value = event.doc.pointer(pointer).map_or_else(
                || "<absent>".to_owned(),
                |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            );
            *counts.entry(value).or_default() += 1;
        }
        counts
    }
}

pub(crate) fn read(path: &Path, options: &Options) -> Summary {
    let mut reader = sc_ingest::open(path, options)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
    let format = reader.format();
    let mut events = Vec::new();
    let mut malformed = Vec::new();
    for record in reader.by_ref() {
        match record {
            Record::Event(event) => events.push(event),
            Record::Malformed { line, reason } => malformed.push((line, reason)),
        }
    }
    Summary {
        format,
        events,
        malformed,
        bytes_read: reader.bytes_read(),
        total_bytes: reader.total_bytes(),
    }
}

pub(crate) fn read_auto(path: &Path) -> Summary {
    read(path, &Options::default())
}
