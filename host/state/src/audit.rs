//! The audit trail: an append-only table in which every record carries the
//! hash of the one before it, so any edit, deletion or reordering breaks
//! the chain at a point `sc-host audit verify` reports.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash the first record links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    skill TEXT,
    parameters_digest TEXT,
    outcome TEXT NOT NULL,
    prompt_digest TEXT,
    response_digest TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
";

/// What happened, as the caller reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who: a token id, `cli`, `scheduler`, `loopback`…
    pub actor: String,
    /// What: `dispatch`, `skill.enable`, `alert.status`…
    pub action: String,
    /// The skill concerned, if any.
    pub skill: Option<String>,
    /// sha256 of the parameters (never the parameters themselves).
    pub parameters_digest: Option<String>,
    /// How it ended: `ok`, `error`, `denied`…
    pub outcome: String,
    /// sha256 of an LLM prompt, for model calls.
    pub prompt_digest: Option<String>,
    /// sha256 of an LLM response, for model calls.
    pub response_digest: Option<String>,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub id: i64,
    /// RFC 3339 time.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Skill concerned.
    pub skill: Option<String>,
    /// sha256 of the parameters.
    pub parameters_digest: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// sha256 of an LLM prompt.
    pub prompt_digest: Option<String>,
    /// sha256 of an LLM response.
    pub response_digest: Option<String>,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// Hash of this record (over all the fields above).
    pub hash: String,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verification {
    /// Every record links to the one before and hashes to its stored hash.
    Intact {
        /// Records checked.
        records: u64,
    },
    /// The first record where the chain breaks.
    Broken {
        /// Its id.
        id: i64,
        /// What is wrong there.
        reason: String,
    },
}

/// The audit trail in SQLite.
pub struct AuditLog {
    conn: Mutex<Connection>,
}

pub use sc_core::digest;

fn record_hash(r: &AuditRecord) -> String {
    let mut hasher = Sha256::new();
    // Length-prefixed fields, so no two different records hash alike.
    let fields: [&str; 10] = [
        &r.id.to_string(),
        &r.time,
        &r.actor,
        &r.action,
        r.skill.as_deref().unwrap_or("\u{0}"),
        r.parameters_digest.as_deref().unwrap_or("\u{0}"),
        &r.outcome,
        r.prompt_digest.as_deref().unwrap_or("\u{0}"),
        r.response_digest.as_deref().unwrap_or("\u{0}"),
        &r.prev_hash,
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.get(0)?,
        time: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        skill: row.get(4)?,
        parameters_digest: row.get(5)?,
        outcome: row.get(6)?,
        prompt_digest: row.get(7)?,
        response_digest: row.get(8)?,
        prev_hash: row.get(9)?,
        hash: row.get(10)?,
    })
}

/// Appends an event inside the caller's (immediate) transaction, so a batch
/// of appends commits together.
pub fn append_in(
    tx: &rusqlite::Transaction<'_>,
    event: &AuditEvent,
) -> rusqlite::Result<AuditRecord> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (prev_id, prev_hash) = last.unwrap_or((0, GENESIS.to_owned()));
    let mut record = AuditRecord {
        id: prev_id + 1,
        time: sc_core::run::timestamp(chrono::Utc::now()),
        actor: event.actor.clone(),
        action: event.action.clone(),
        skill: event.skill.clone(),
        parameters_digest: event.parameters_digest.clone(),
        outcome: event.outcome.clone(),
        prompt_digest: event.prompt_digest.clone(),
        response_digest: event.response_digest.clone(),
        prev_hash,
        hash: String::new(),
    };
    record.hash = record_hash(&record);
    tx.execute(
        &format!(
            "INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            record.id,
            record.time,
            record.actor,
            record.action,
            record.skill,
            record.parameters_digest,
            record.outcome,
            record.prompt_digest,
            record.response_digest,
            record.prev_hash,
            record.hash
        ],
    )?;
    Ok(record)
}

const COLUMNS: &str = "id, time, actor, action, skill, parameters_digest, outcome, prompt_digest, response_digest, prev_hash, hash";

impl AuditLog {
    /// Opens (creating if needed) the trail in the database at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = crate::sqlite::open(path, SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Appends an event; returns the stored record.
    pub fn append(&self, event: &AuditEvent) -> rusqlite::Result<AuditRecord> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let record = append_in(&tx, event)?;
        tx.commit()?;
        Ok(record)
    }

    /// The newest `limit` records, newest first, before id `before` when given.
    pub fn recent(&self, limit: u32, before: Option<i64>) -> rusqlite::Result<Vec<AuditRecord>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit], read_record)?;
        rows.collect()
    }

    /// Walks the whole chain from the first record.
    pub fn verify(&self) -> rusqlite::Result<Verification> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY id"))?;
        let mut rows = stmt.query([])?;
        let mut expected_prev = GENESIS.to_owned();
        let mut expected_id = 1;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            let record = read_record(row)?;
            if record.id != expected_id {
                return Ok(Verification::Broken {
                    id: record.id,
                    reason: format!(
                        "expected record {expected_id} here: records were removed or inserted"
                    ),
                });
            }
            if record.prev_hash != expected_prev {
                return Ok(Verification::Broken {
                    id: record.id,
                    reason: "its link to the previous record does not match that record's hash"
                        .to_owned(),
                });
            }
            if record_hash(&record) != record.hash {
                return Ok(Verification::Broken {
                    id: record.id,
                    reason: "its content no longer matches its hash: it was modified".to_owned(),
                });
            }
            expected_prev = record.hash;
            expected_id += 1;
            count += 1;
        }
        Ok(Verification::Intact { records: count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u32) -> AuditEvent {
        AuditEvent {
            actor: "cli".into(),
            action: "dispatch".into(),
            skill: Some(format!("skill{n}")),
            parameters_digest: Some(digest(b"{}")),
            outcome: "ok".into(),
            ..AuditEvent::default()
        }
    }

    fn trail(n: u32) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(&dir.path().join("state.db")).expect("open");
        for i in 0..n {
            log.append(&event(i)).expect("append");
        }
        (dir, log)
    }

    /// Tampering goes around the triggers, as an attacker with the file would.
    fn tamper(dir: &Path, sql: &str) {
        let conn = Connection::open(dir.join("state.db")).expect("open");
        conn.execute_batch(&format!(
            "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {sql}"
        ))
        .expect("tamper");
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (_dir, log) = trail(5);
        assert_eq!(
            log.verify().expect("verify"),
            Verification::Intact { records: 5 }
        );
        let recent = log.recent(2, None).expect("recent");
        assert_eq!(recent.iter().map(|r| r.id).collect::<Vec<_>>(), [5, 4]);
        assert_eq!(recent[1].hash, recent[0].prev_hash);
    }

    #[test]
    fn the_table_refuses_updates_and_deletes() {
        let (dir, _log) = trail(2);
        let conn = Connection::open(dir.path().join("state.db")).expect("open");
        assert!(
            conn.execute("UPDATE audit SET outcome = 'ok' WHERE id = 1", [])
                .is_err()
        );
        assert!(conn.execute("DELETE FROM audit WHERE id = 1", []).is_err());
    }

    #[test]
    fn a_modified_record_is_the_first_broken_link() {
        let (dir, log) = trail(5);
        tamper(
            dir.path(),
            "UPDATE audit SET outcome = 'error' WHERE id = 3;",
        );
        match log.verify().expect("verify") {
            Verification::Broken { id, reason } => {
                assert_eq!(id, 3);
                assert!(reason.contains("modified"), "{reason}");
            }
            other => panic!("tampering not detected: {other:?}"),
        }
    }

    #[test]
    fn a_deleted_record_is_detected() {
        let (dir, log) = trail(5);
        tamper(dir.path(), "DELETE FROM audit WHERE id = 2;");
        assert!(matches!(
            log.verify().expect("verify"),
            Verification::Broken { id: 3, .. }
        ));
    }

    #[test]
    fn a_rewritten_tail_is_detected() {
        // Changing a record and recomputing its own hash still breaks the
        // next record's link.
        let (dir, log) = trail(4);
        let mut record = log.recent(4, None).expect("recent").pop().expect("first");
        record.outcome = "denied".into();
        record.hash = record_hash(&record);
        tamper(
            dir.path(),
            &format!(
                "UPDATE audit SET outcome = 'denied', hash = '{}' WHERE id = 1;",
                record.hash
            ),
        );
        assert!(matches!(
            log.verify().expect("verify"),
            Verification::Broken { id: 2, .. }
        ));
    }
}
