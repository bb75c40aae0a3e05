//! How every SQLite database of the host is opened: the folder created,
//! WAL journal, `synchronous = NORMAL` (never corrupts; a power cut may lose
//! the newest commits), a busy timeout for a second process, the schema.

use std::path::Path;

use rusqlite::Connection;

/// Opens (creating if needed) the database at `path` and applies `schema`.
pub fn open(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent() {
        // A folder that cannot be made surfaces as SQLite's "unable to open".
        let _ = std::fs::create_dir_all(parent);
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(schema)?;
    Ok(conn)
}
