//! SecurityClaw's shared vocabulary, with no runtime or web framework in
//! it: the configuration, skill manifests and their grants (and the one
//! place grants are checked), what a run is and how it ended, the agent's
//! memory types, the capability error, and the backend traits each
//! capability's services implement, in plain Rust types. Every other host
//! crate builds on this one; it depends on none of them.

pub mod anonymize;
pub mod backends;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod grants;
pub mod http;
pub mod llm;
pub mod manifest;
pub mod memory;
pub mod rag;
pub mod run;
pub mod schema;

pub use error::{CapabilityError, ErrorKind};

/// sha256 of bytes as lowercase hex: the digests the audit trail keeps of
/// parameters, prompts and answers (never the text itself).
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
