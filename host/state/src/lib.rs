//! SecurityClaw's own state, in SQLite beside the telemetry: the agent's
//! memory (`runtime_memory.db`), and in `state.db` the run history, the
//! hash-chained audit trail, and the recorder thread that writes both off
//! the call path. Every database opens the same way ([`sqlite::open`]):
//! WAL, a busy timeout, the schema applied.

pub mod audit;
pub mod history;
pub mod memory;
pub mod recorder;
pub mod sqlite;

/// Why the state could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite refused.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The operating system refused (a thread, a folder).
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
}
