//! How every SQLite database of the host is opened: the folder created,
//! WAL journal, `synchronous = NORMAL` (never corrupts; a power cut may lose
//! the newest commits), a busy timeout for a second process, the schema.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

/// How long opening waits for another connection that holds the lock.
const OPEN_PATIENCE: Duration = Duration::from_secs(10);

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Opens (creating if needed) the database at `path` and applies `schema`.
pub fn open(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    if let Some(parent) = path.parent() {
        // A folder that cannot be made surfaces as SQLite's "unable to open".
        let _ = std::fs::create_dir_all(parent);
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Switching to WAL and creating tables take locks that the busy handler
    // does not always wait for (two processes opening a new file at once),
    // so those steps retry for a while.
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let setup = conn
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| conn.execute_batch(schema));
        match setup {
            Ok(()) => return Ok(conn),
            Err(err) if is_busy(&err) && started.elapsed() < OPEN_PATIENCE => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn many_connections_can_open_a_new_database_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fresh.db");
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    super::open(&path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);").map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            opener.join().expect("thread").expect("open");
        }
    }
}
