//! What the host remembers about runs, in SQLite next to the audit trail:
//! every run's start, end, status, summary and error; which first-startup
//! runs succeeded; and skills switched on or off at run time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sc_core::run::{RunStatus, Trigger, timestamp};
use serde::Serialize;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    skill_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    error TEXT,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_skill ON runs (skill_id, id);
CREATE TABLE IF NOT EXISTS startup_runs (
    skill_id TEXT PRIMARY KEY,
    succeeded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS load_errors (
    skill_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    error TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS skill_switches (
    skill_id TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);
";

/// Runs kept per skill; older ones are pruned.
pub const RUNS_KEPT_PER_SKILL: i64 = 500;

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RunRecord {
    /// Row id.
    pub id: i64,
    /// The run's id (a UUID); none for runs recorded before run ids.
    pub run_id: Option<String>,
    /// The skill.
    pub skill_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub finished_at: String,
    /// How it ended.
    pub status: RunStatus,
    /// One line.
    pub summary: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time.
    pub duration_ms: f64,
}

/// A skill's run history in brief.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    /// The newest run.
    pub last_run: Option<RunRecord>,
    /// Errors in a row up to the newest run.
    pub consecutive_failures: u32,
}

/// What the service recorded about skills, read without a running service
/// (`sc-host list-skills`): load failures and run-time switches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedSkills {
    /// skill → (fingerprint of the refused files, why they were refused).
    pub load_errors: HashMap<String, (String, String)>,
    /// skill → switched on (true) or off (false) through the API.
    pub switches: HashMap<String, bool>,
}

/// Reads [`RecordedSkills`] from `state_db`, read-only. An absent database
/// gives nothing; one that cannot be read is an error (a `list-skills` that
/// silently shows a switched-off skill as ready would mislead).
pub fn recorded_skills(state_db: &Path) -> rusqlite::Result<RecordedSkills> {
    if !state_db.exists() {
        return Ok(RecordedSkills::default());
    }
    let conn = Connection::open_with_flags(state_db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let has_table = |name: &str| {
        conn.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
    };
    let mut recorded = RecordedSkills::default();
    if has_table("load_errors")? {
        let mut stmt = conn.prepare("SELECT skill_id, fingerprint, error FROM load_errors")?;
        recorded.load_errors = stmt
            .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?
            .collect::<rusqlite::Result<_>>()?;
    }
    if has_table("skill_switches")? {
        let mut stmt = conn.prepare("SELECT skill_id, enabled FROM skill_switches")?;
        recorded.switches = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? != 0)))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(recorded)
}

/// A finished run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run's id.
    pub run_id: String,
    /// The skill.
    pub skill_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub status: RunStatus,
    /// One line.
    pub summary: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time.
    pub duration_ms: f64,
}

/// Records a run inside the caller's transaction (so a batch commits
/// together); with `prune`, also drops the skill's runs past the newest
/// [`RUNS_KEPT_PER_SKILL`] (a walk of its index, so callers do it now and then).
pub fn record_in(
    tx: &rusqlite::Transaction<'_>,
    run: &NewRun,
    prune: bool,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO runs (run_id, skill_id, trigger, started_at, finished_at, status, summary, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            run.run_id,
            run.skill_id,
            run.trigger.as_str(),
            timestamp(run.started_at),
            timestamp(run.finished_at),
            run.status.as_str(),
            run.summary,
            run.error,
            run.duration_ms
        ],
    )?;
    if prune {
        tx.execute(
            "DELETE FROM runs WHERE skill_id = ?1 AND id <=
               (SELECT id FROM runs WHERE skill_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![run.skill_id, RUNS_KEPT_PER_SKILL],
        )?;
    }
    Ok(())
}

/// The run-history store.
pub struct History {
    conn: Mutex<Connection>,
}

/// A stored name read back as its type; a name this version does not know
/// is a conversion error naming the column, not a silent default.
fn typed<T>(
    row: &rusqlite::Row<'_>,
    index: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("`{text}` is not a name this version knows").into(),
        )
    })
}

const RUN_COLUMNS: &str =
    "id, run_id, skill_id, trigger, started_at, finished_at, status, summary, error, duration_ms";

fn read_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        run_id: row.get(1)?,
        skill_id: row.get(2)?,
        trigger: typed(row, 3, Trigger::parse)?,
        started_at: row.get(4)?,
        finished_at: row.get(5)?,
        status: typed(row, 6, RunStatus::parse)?,
        summary: row.get(7)?,
        error: row.get(8)?,
        duration_ms: row.get(9)?,
    })
}

/// Adds the columns newer versions record to a database an older one made.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_run_id = conn
        .prepare("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'run_id'")?
        .exists([])?;
    if !has_run_id {
        conn.execute_batch("ALTER TABLE runs ADD COLUMN run_id TEXT")?;
    }
    Ok(())
}

impl History {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = crate::sqlite::open(path, SCHEMA)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a finished run.
    pub fn record(&self, run: &NewRun) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        record_in(&tx, run, true)?;
        tx.commit()
    }

    /// The newest runs of a skill, newest first.
    pub fn runs(&self, skill_id: &str, limit: u32) -> rusqlite::Result<Vec<RunRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE skill_id = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![skill_id, limit], read_run)?;
        rows.collect()
    }

    /// Last run and failures in a row.
    pub fn summary(&self, skill_id: &str) -> rusqlite::Result<RunSummary> {
        let recent = self.runs(skill_id, 100)?;
        let consecutive_failures = recent
            .iter()
            .take_while(|r| r.status == RunStatus::Error)
            .count() as u32;
        Ok(RunSummary {
            last_run: recent.into_iter().next(),
            consecutive_failures,
        })
    }

    /// When the skill's newest run by the scheduler (or first startup) began.
    pub fn last_scheduled_start(&self, skill_id: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT started_at FROM runs WHERE skill_id = ?1 AND trigger IN ('schedule', 'startup')
                 ORDER BY id DESC LIMIT 1",
                [skill_id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(text
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// Has the skill's first-startup run succeeded before?
    pub fn startup_done(&self, skill_id: &str) -> rusqlite::Result<bool> {
        self.conn()
            .query_row(
                "SELECT 1 FROM startup_runs WHERE skill_id = ?1",
                [skill_id],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
    }

    /// Records that the first-startup run succeeded.
    pub fn mark_startup_done(&self, skill_id: &str) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO startup_runs (skill_id, succeeded_at) VALUES (?1, ?2)",
                params![skill_id, timestamp(Utc::now())],
            )
            .map(|_| ())
    }

    /// Remembers why the service refused a skill's files (`None` clears it),
    /// so `sc-host list-skills` can show it without compiling anything.
    pub fn set_load_error(
        &self,
        skill_id: &str,
        fingerprint: &str,
        error: Option<&str>,
    ) -> rusqlite::Result<()> {
        let conn = self.conn();
        match error {
            Some(error) => conn.execute(
                "INSERT OR REPLACE INTO load_errors (skill_id, fingerprint, error, at) VALUES (?1, ?2, ?3, ?4)",
                params![skill_id, fingerprint, error, timestamp(Utc::now())],
            ),
            None => conn.execute("DELETE FROM load_errors WHERE skill_id = ?1", [skill_id]),
        }
        .map(|_| ())
    }

    /// Run-time switches: (skill, enabled).
    pub fn switches(&self) -> rusqlite::Result<Vec<(String, bool)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT skill_id, enabled FROM skill_switches")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? != 0)))?;
        rows.collect()
    }

    /// Switches a skill on or off (survives restarts).
    pub fn set_switch(&self, skill_id: &str, enabled: bool) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO skill_switches (skill_id, enabled, changed_at) VALUES (?1, ?2, ?3)",
                params![skill_id, i64::from(enabled), timestamp(Utc::now())],
            )
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_summarises_the_newest_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = History::open(&dir.path().join("state.db")).expect("open");
        let t = Utc::now();
        for status in [RunStatus::Ok, RunStatus::Error, RunStatus::Error] {
            history
                .record(&NewRun {
                    run_id: sc_core::run::new_run_id(),
                    skill_id: "triage".into(),
                    trigger: Trigger::Schedule,
                    started_at: t,
                    finished_at: t,
                    status,
                    summary: "s".into(),
                    error: None,
                    duration_ms: 1.0,
                })
                .expect("record");
        }
        let summary = history.summary("triage").expect("summary");
        assert_eq!(summary.consecutive_failures, 2);
        assert_eq!(summary.last_run.expect("last").status, RunStatus::Error);
        assert!(
            history
                .last_scheduled_start("triage")
                .expect("start")
                .is_some()
        );
        assert_eq!(
            history.summary("other").expect("summary"),
            RunSummary::default()
        );
    }

    #[test]
    fn pruning_keeps_each_skills_newest_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let history = History::open(&dir.path().join("state.db")).expect("open");
        let t = Utc::now();
        for i in 0..(RUNS_KEPT_PER_SKILL + 20) {
            for skill in ["a", "b"] {
                history
                    .record(&NewRun {
                        run_id: sc_core::run::new_run_id(),
                        skill_id: skill.into(),
                        trigger: Trigger::Schedule,
                        started_at: t,
                        finished_at: t,
                        status: RunStatus::Ok,
                        summary: format!("run {i}"),
                        error: None,
                        duration_ms: 1.0,
                    })
                    .expect("record");
            }
        }
        for skill in ["a", "b"] {
            let runs = history.runs(skill, 10_000).expect("runs");
            assert_eq!(runs.len() as i64, RUNS_KEPT_PER_SKILL, "{skill}");
            assert_eq!(
                runs[0].summary,
                format!("run {}", RUNS_KEPT_PER_SKILL + 19),
                "newest kept"
            );
        }
    }

    #[test]
    fn list_skills_reads_switches_and_load_errors_without_a_service() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        assert_eq!(
            recorded_skills(&path).expect("absent"),
            RecordedSkills::default()
        );
        {
            let history = History::open(&path).expect("open");
            history.set_switch("triage", false).expect("switch");
            history
                .set_load_error("broken", "1@2/3@4", Some("bad component"))
                .expect("load error");
        }
        let recorded = recorded_skills(&path).expect("read");
        assert_eq!(recorded.switches.get("triage"), Some(&false));
        assert_eq!(
            recorded.load_errors.get("broken").map(|(_, e)| e.as_str()),
            Some("bad component")
        );
    }

    #[test]
    fn startup_marks_and_switches_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        {
            let history = History::open(&path).expect("open");
            assert!(!history.startup_done("baseliner").expect("query"));
            history.mark_startup_done("baseliner").expect("mark");
            history.set_switch("triage", false).expect("switch");
        }
        let history = History::open(&path).expect("reopen");
        assert!(history.startup_done("baseliner").expect("query"));
        assert_eq!(
            history.switches().expect("switches"),
            vec![("triage".to_owned(), false)]
        );
    }
}
