//! The one error type of `sc-ingest`: what can stop a file from being read at all.
//!
//! A bad line is not an error: the reader yields [`crate::Record::Malformed`] and goes on.

use std::path::PathBuf;

/// Why a file could not be opened or recognised.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read. The OS's reason is the
    /// source, so a chain of errors names it once.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Auto-detection could not tell what kind of log the file holds.
    #[error(
        "cannot tell the log format of {}: {hint}; pass --format (zeek, zeek-json, suricata, evtx or ndjson)",
        path.display()
    )]
    UnknownFormat {
        /// The file that was looked at.
        path: PathBuf,
        /// What was seen instead, e.g. the first keys of a JSON object.
        hint: String,
    },
    /// A `--format` value that names no format.
    #[error("unknown format `{0}`: expected auto, zeek, zeek-json, suricata, evtx or ndjson")]
    InvalidFormatName(String),
    /// The EVTX parser refused the file (bad header, not an EVTX file).
    // The evtx crate's error is turned into text so that its type stays out of this API.
    #[error("cannot parse {} as EVTX: {message}", path.display())]
    Evtx {
        /// The file that failed.
        path: PathBuf,
        /// What the EVTX parser said.
        message: String,
    },
}
