//! The agent's memory in SQLite (WAL mode): key/values, the findings /
//! decisions / escalations lists with caps and oldest-first eviction, and the
//! agent's focus and status. Every write is one transaction, so concurrent
//! writers never lose an update and a crash leaves the last committed state.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use sc_core::CapabilityError;
use sc_core::config::MemoryConfig;
use sc_core::memory::{
    AgentStatus, Alert, AlertStatus, Entry, MemoryBackend, MemoryList, MemorySnapshot,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    skill_id TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    skill_id TEXT NOT NULL,
    text TEXT NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_list ON entries (list, id);
CREATE TABLE IF NOT EXISTS agent_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    status TEXT NOT NULL,
    focus TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_status (
    entry_id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT OR IGNORE INTO agent_state (id, status, focus, updated_at) VALUES (1, 'IDLE', NULL, '');
";

/// SQLite-backed memory.
pub struct SqliteMemory {
    conn: Mutex<Connection>,
    caps: MemoryConfig,
}

fn backend_error(err: rusqlite::Error) -> CapabilityError {
    tracing::error!(error = %err, "memory database error");
    CapabilityError::Backend("the memory database failed; see the host log".to_owned())
}

fn now() -> String {
    sc_core::run::timestamp(chrono::Utc::now())
}

impl SqliteMemory {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, caps: MemoryConfig) -> rusqlite::Result<Self> {
        let conn = crate::sqlite::open(path, SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            caps,
        })
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CapabilityError> {
        let mut conn = self.conn.lock().map_err(|_| {
            CapabilityError::Backend("the memory database is unavailable".to_owned())
        })?;
        f(&mut conn).map_err(backend_error)
    }

    fn cap(&self, list: MemoryList) -> u32 {
        match list {
            MemoryList::Findings => self.caps.max_findings,
            MemoryList::Decisions => self.caps.max_decisions,
            MemoryList::Escalations => self.caps.max_escalations,
        }
    }

    fn check_size(&self, what: &str, text: &str) -> Result<(), CapabilityError> {
        if text.len() > self.caps.max_value_bytes as usize {
            return Err(CapabilityError::LimitExceeded(format!(
                "{what} is {} bytes; memory keeps at most {} (`memory.max_value_bytes`)",
                text.len(),
                self.caps.max_value_bytes
            )));
        }
        Ok(())
    }
}

impl MemoryBackend for SqliteMemory {
    fn get(&self, key: &str) -> Result<Option<String>, CapabilityError> {
        self.with_conn(|conn| {
            conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    fn set(&self, skill_id: &str, key: &str, value: &str) -> Result<(), CapabilityError> {
        self.check_size("the value", value)?;
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO kv (key, value, skill_id, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value,
                   skill_id = excluded.skill_id, updated_at = excluded.updated_at",
                params![key, value, skill_id, now()],
            )
            .map(|_| ())
        })
    }

    fn remove(&self, key: &str) -> Result<bool, CapabilityError> {
        self.with_conn(|conn| {
            conn.execute("DELETE FROM kv WHERE key = ?1", [key])
                .map(|n| n > 0)
        })
    }

    fn append(
        &self,
        list: MemoryList,
        skill_id: &str,
        text: &str,
        data: Option<&str>,
    ) -> Result<i64, CapabilityError> {
        if let Some(data) = data {
            self.check_size("the entry's data", data)?;
        }
        let text: String = text
            .chars()
            .take(self.caps.max_entry_chars as usize)
            .collect();
        let cap = self.cap(list);
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO entries (list, timestamp, skill_id, text, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![list.as_str(), now(), skill_id, text, data],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "DELETE FROM entries WHERE list = ?1 AND id NOT IN
                   (SELECT id FROM entries WHERE list = ?1 ORDER BY id DESC LIMIT ?2)",
                params![list.as_str(), cap],
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn recent(&self, list: MemoryList, limit: u32) -> Result<Vec<Entry>, CapabilityError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, timestamp, skill_id, text, data FROM entries
                 WHERE list = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![list.as_str(), limit], |row| {
                let data: Option<String> = row.get(4)?;
                Ok(Entry {
                    id: row.get(0)?,
                    timestamp: row.get(1)?,
                    skill_id: row.get(2)?,
                    text: row.get(3)?,
                    data: data.and_then(|d: String| serde_json::from_str(&d).ok()),
                })
            })?;
            rows.collect()
        })
    }

    fn set_focus(&self, focus: Option<&str>) -> Result<(), CapabilityError> {
        let focus = focus.map(|f| {
            f.chars()
                .take(self.caps.max_entry_chars as usize)
                .collect::<String>()
        });
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE agent_state SET focus = ?1, updated_at = ?2 WHERE id = 1",
                params![focus, now()],
            )
            .map(|_| ())
        })
    }

    fn snapshot(&self, limit: u32) -> Result<MemorySnapshot, CapabilityError> {
        let (status, focus) = self.with_conn(|conn| {
            conn.query_row(
                "SELECT status, focus FROM agent_state WHERE id = 1",
                [],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
            )
        })?;
        let keys: i64 =
            self.with_conn(|conn| conn.query_row("SELECT COUNT(*) FROM kv", [], |row| row.get(0)))?;
        Ok(MemorySnapshot {
            status: AgentStatus::parse(&status).unwrap_or(AgentStatus::Idle),
            focus,
            findings: self.recent(MemoryList::Findings, limit)?,
            decisions: self.recent(MemoryList::Decisions, limit)?,
            escalations: self.recent(MemoryList::Escalations, limit)?,
            keys: u64::try_from(keys).unwrap_or(0),
        })
    }

    fn alerts(&self, limit: u32) -> Result<Vec<Alert>, CapabilityError> {
        let escalations = self.recent(MemoryList::Escalations, limit)?;
        let statuses: Vec<Option<String>> = self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT status FROM alert_status WHERE entry_id = ?1")?;
            escalations
                .iter()
                .map(|e| stmt.query_row([e.id], |row| row.get(0)).optional())
                .collect()
        })?;
        Ok(escalations
            .into_iter()
            .zip(statuses)
            .map(|(entry, status)| Alert {
                entry,
                status: status
                    .as_deref()
                    .and_then(AlertStatus::parse)
                    .unwrap_or(AlertStatus::Unread),
            })
            .collect())
    }

    fn set_alert_status(&self, id: i64, status: AlertStatus) -> Result<bool, CapabilityError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists = tx
                .query_row(
                    "SELECT 1 FROM entries WHERE id = ?1 AND list = 'escalations'",
                    [id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                tx.execute(
                    "INSERT OR REPLACE INTO alert_status (entry_id, status, updated_at) VALUES (?1, ?2, ?3)",
                    params![id, status.as_str(), now()],
                )?;
            }
            tx.commit()?;
            Ok(exists)
        })
    }

    fn set_status(&self, status: AgentStatus) -> Result<(), CapabilityError> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE agent_state SET status = ?1, updated_at = ?2 WHERE id = 1",
                params![status.as_str(), now()],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, caps: MemoryConfig) -> SqliteMemory {
        SqliteMemory::open(&dir.join("memory.db"), caps).expect("open")
    }

    #[test]
    fn values_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = open(dir.path(), MemoryConfig::default());
        memory
            .set("triage", "triage.cursor", "\"2026-11-27T00:00:00Z\"")
            .expect("set");
        drop(memory);
        let memory = open(dir.path(), MemoryConfig::default());
        assert_eq!(
            memory.get("triage.cursor").expect("get").as_deref(),
            Some("\"2026-11-27T00:00:00Z\"")
        );
        assert!(memory.remove("triage.cursor").expect("remove"));
        assert_eq!(memory.get("triage.cursor").expect("get"), None);
    }

    #[test]
    fn lists_keep_the_newest_entries_up_to_their_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let caps = MemoryConfig {
            max_findings: 3,
            max_entry_chars: 16,
            ..MemoryConfig::default()
        };
        let memory = open(dir.path(), caps);
        for i in 0..5 {
            memory
                .append(
                    MemoryList::Findings,
                    "s",
                    &format!("finding {i}"),
                    Some("{\"n\":1}"),
                )
                .expect("append");
        }
        memory
            .append(MemoryList::Decisions, "s", &"x".repeat(100), None)
            .expect("append");
        let findings = memory.recent(MemoryList::Findings, 10).expect("recent");
        let texts: Vec<&str> = findings.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["finding 4", "finding 3", "finding 2"]);
        assert_eq!(findings[0].data, Some(serde_json::json!({"n": 1})));
        let decisions = memory.recent(MemoryList::Decisions, 10).expect("recent");
        assert_eq!(decisions[0].text.len(), 16, "text cut to max_entry_chars");
    }

    #[test]
    fn oversized_values_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let caps = MemoryConfig {
            max_value_bytes: 16,
            ..MemoryConfig::default()
        };
        let memory = open(dir.path(), caps);
        let err = memory
            .set("s", "k", &format!("\"{}\"", "a".repeat(32)))
            .expect_err("too big");
        assert!(matches!(err, CapabilityError::LimitExceeded(_)), "{err}");
    }

    #[test]
    fn focus_and_status_show_in_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = open(dir.path(), MemoryConfig::default());
        assert_eq!(
            memory.snapshot(5).expect("snapshot").status,
            AgentStatus::Idle
        );
        memory
            .set_status(AgentStatus::Investigating)
            .expect("status");
        memory.set_focus(Some("10.0.0.5 beaconing")).expect("focus");
        let snapshot = memory.snapshot(5).expect("snapshot");
        assert_eq!(snapshot.status, AgentStatus::Investigating);
        assert_eq!(snapshot.focus.as_deref(), Some("10.0.0.5 beaconing"));
    }

    #[test]
    fn escalations_are_alerts_with_a_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = open(dir.path(), MemoryConfig::default());
        let id = memory
            .append(
                MemoryList::Escalations,
                "triage",
                "10.0.0.5 beaconing",
                None,
            )
            .expect("append");
        let finding = memory
            .append(MemoryList::Findings, "triage", "x", None)
            .expect("append");
        assert_eq!(
            memory.alerts(10).expect("alerts")[0].status,
            AlertStatus::Unread
        );
        assert!(
            memory
                .set_alert_status(id, AlertStatus::Investigating)
                .expect("set")
        );
        assert_eq!(
            memory.alerts(10).expect("alerts")[0].status,
            AlertStatus::Investigating
        );
        assert!(
            !memory
                .set_alert_status(finding, AlertStatus::Read)
                .expect("set"),
            "findings are not alerts"
        );
        assert!(
            !memory
                .set_alert_status(9_999, AlertStatus::Read)
                .expect("set")
        );
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("memory.db");
        let caps = MemoryConfig {
            max_findings: 10_000,
            ..MemoryConfig::default()
        };
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                let caps = caps.clone();
                std::thread::spawn(move || {
                    // Separate connections, as two host processes would have.
                    let memory = SqliteMemory::open(&path, caps).expect("open");
                    for i in 0..50 {
                        memory
                            .append(
                                MemoryList::Findings,
                                &format!("w{w}"),
                                &format!("{i}"),
                                None,
                            )
                            .expect("append");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        let memory = SqliteMemory::open(&path, caps).expect("open");
        assert_eq!(
            memory
                .recent(MemoryList::Findings, 1_000)
                .expect("recent")
                .len(),
            200
        );
    }
}
