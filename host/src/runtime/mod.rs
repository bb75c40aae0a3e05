//! The skill runtime: the engine and its one `bindgen!`, the compiled
//! component cache, the registry (with atomic hot swaps), and the single
//! call path every run takes.

pub mod bindings;
pub mod cache;
pub mod call;
pub mod engine;
pub mod registry;
pub mod reload;
pub mod sandbox;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use chrono::Utc;
use serde_json::Value;

use crate::audit::{AuditEvent, AuditLog, digest};
use crate::capabilities::Backends;
use crate::config::Config;
use crate::history::{History, NewRun};
use crate::recorder::Recorder;
pub use call::{RunInput, RunReport, RunStatus, Trigger};
pub use engine::{Engines, LoadedSkill};
pub use registry::ScannedSkill;

/// One installed skill: the version serving calls, and the latest problem.
#[derive(Clone)]
pub struct SkillEntry {
    /// The folder name (the skill id).
    pub id: String,
    /// The version that serves new calls; `None` when none ever loaded.
    pub current: Option<Arc<LoadedSkill>>,
    /// Why the newest files could not be loaded. With `current` set, the
    /// previous version keeps serving.
    pub error: Option<String>,
    /// The folder as last read (its manifest, even when the load failed).
    pub scanned: ScannedSkill,
}

impl SkillEntry {
    /// Ready to run?
    pub fn is_ready(&self) -> bool {
        self.current.is_some()
    }

    /// The manifest of the serving version, or else of the files on disk.
    pub fn manifest(&self) -> Option<&crate::manifest::Manifest> {
        match &self.current {
            Some(skill) => Some(&skill.manifest),
            None => self.scanned.manifest.as_ref().ok(),
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new version now serves.
    Loaded {
        /// sha256 of the new component.
        sha256: String,
    },
    /// The files are the serving version already.
    Unchanged,
    /// The new files were refused; the previous version (if any) serves.
    Rejected(String),
    /// The folder is gone; the skill is unloaded (running calls finish).
    Removed,
}

/// Why a dispatch did not run the skill at all.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// No such skill folder.
    #[error("no skill `{skill}` in {dir}; installed: {installed}")]
    Unknown {
        /// The id asked for.
        skill: String,
        /// The skills folder.
        dir: String,
        /// What is there.
        installed: String,
    },
    /// The skill is installed but failed to load.
    #[error("skill `{skill}` is installed but cannot run: {reason}")]
    NotLoaded {
        /// The skill.
        skill: String,
        /// Why it failed to load.
        reason: String,
    },
    /// Switched off.
    #[error(
        "skill `{0}` is disabled (remove it from `skills.disabled` in config.yaml, or enable it through the API)"
    )]
    Disabled(String),
    /// Parameters are not a JSON object.
    #[error("parameters must be a JSON object, got {0}")]
    BadParameters(String),
}

/// Counts a skill's calls in flight; dropping it ends the count.
struct InFlight<'a> {
    running: &'a Mutex<HashMap<String, usize>>,
    skill: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.skill) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.skill);
            }
        }
    }
}

/// Are these files (manifest and component) the version already serving?
fn is_serving(current: &LoadedSkill, scanned: &ScannedSkill) -> bool {
    scanned.component_problem.is_none()
        && scanned
            .manifest
            .as_ref()
            .is_ok_and(|m| *m == current.manifest)
        && std::fs::read(scanned.component_path())
            .is_ok_and(|wasm| cache::sha256_hex(&wasm) == current.sha256)
}

/// Records a run whose future was dropped before it finished.
struct Unfinished<'a> {
    host: &'a SkillHost,
    actor: &'a str,
    skill_id: &'a str,
    trigger: Trigger,
    started_at: chrono::DateTime<Utc>,
    parameters_digest: &'a str,
    armed: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        tracing::warn!(skill = self.skill_id, "run cancelled before it finished");
        self.host.recorder.audit(AuditEvent {
            actor: self.actor.to_owned(),
            action: "dispatch".to_owned(),
            skill: Some(self.skill_id.to_owned()),
            parameters_digest: Some(self.parameters_digest.to_owned()),
            outcome: "cancelled".to_owned(),
            ..AuditEvent::default()
        });
        let finished_at = Utc::now();
        self.host.recorder.run(NewRun {
            skill_id: self.skill_id.to_owned(),
            trigger: self.trigger,
            started_at: self.started_at,
            finished_at,
            status: RunStatus::Error,
            summary: "cancelled before it finished".to_owned(),
            error: Some(
                "the run was cancelled (shutdown or caller gone) before it finished".to_owned(),
            ),
            duration_ms: (finished_at - self.started_at).num_milliseconds() as f64,
        });
    }
}

/// The host: config, backends, engine, the installed skills, and the run
/// history and audit trail. Every run — scheduled, dispatched or asked for
/// by the chat — goes through [`SkillHost::dispatch_as`].
pub struct SkillHost {
    config: Arc<Config>,
    backends: Backends,
    engines: Engines,
    skills: RwLock<BTreeMap<String, SkillEntry>>,
    switches: RwLock<BTreeMap<String, bool>>,
    running: Mutex<HashMap<String, usize>>,
    history: History,
    audit: AuditLog,
    recorder: Arc<Recorder>,
    changes: tokio::sync::watch::Sender<u64>,
    finished: tokio::sync::broadcast::Sender<RunReport>,
}

fn lock_read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock_write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SkillHost {
    /// Builds the engine, opens the run history and audit trail, and loads
    /// every skill in `skills_dir`.
    pub fn start(config: Arc<Config>, backends: Backends) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let engines = Engines::new(config.data_dir.join("cache").join("components"))?;
        let state_db = config.data_dir.join("state.db");
        let history = History::open(&state_db)
            .with_context(|| format!("opening the run history {}", state_db.display()))?;
        let audit = AuditLog::open(&state_db)
            .with_context(|| format!("opening the audit trail {}", state_db.display()))?;
        let switches = history.switches().context("reading skill switches")?;
        let recorder = Recorder::start(&state_db)
            .with_context(|| format!("starting the run recorder on {}", state_db.display()))?;
        let host = Self {
            config,
            backends,
            engines,
            skills: RwLock::new(BTreeMap::new()),
            switches: RwLock::new(switches.into_iter().collect()),
            running: Mutex::new(HashMap::new()),
            history,
            audit,
            recorder: Arc::new(recorder),
            changes: tokio::sync::watch::channel(0).0,
            finished: tokio::sync::broadcast::channel(256).0,
        };
        host.load_all()?;
        Ok(host)
    }

    fn load_all(&self) -> anyhow::Result<()> {
        let dir = &self.config.skills_dir;
        let scanned = registry::scan(dir).map_err(|err| {
            anyhow::anyhow!(
                "cannot read the skills folder {}: {err}; build the skills with `just skills` or set `skills_dir`",
                dir.display()
            )
        })?;
        for skill in scanned {
            self.reload_folder(&skill.folder.clone());
        }
        Ok(())
    }

    /// Re-reads one skill folder and swaps the new version in atomically if it
    /// validates; otherwise the previous version keeps serving and the reason
    /// is recorded. Compiles, so call it off the async workers.
    pub fn reload_folder(&self, folder: &str) -> ReloadOutcome {
        let dir = self.config.skills_dir.join(folder);
        if !dir.is_dir() {
            let removed = lock_write(&self.skills).remove(folder).is_some();
            if removed {
                tracing::info!(skill = folder, "skill folder removed; unloaded");
                self.changed();
                return ReloadOutcome::Removed;
            }
            return ReloadOutcome::Unchanged;
        }
        let scanned = registry::scan_one(&dir, folder.to_owned());
        let current = lock_read(&self.skills)
            .get(folder)
            .and_then(|e| e.current.clone());
        let pin = self.config.skills.pins.get(folder).map(String::as_str);
        let result = if current.as_deref().is_some_and(|c| is_serving(c, &scanned)) {
            Ok(None)
        } else {
            self.engines.load_pinned(&scanned, pin).map(Some)
        };
        let fingerprint = scanned.fingerprint();
        let outcome = match result {
            Ok(None) => {
                if let Some(entry) = lock_write(&self.skills).get_mut(folder) {
                    entry.error = None;
                }
                return ReloadOutcome::Unchanged;
            }
            Ok(Some(loaded)) => {
                let _ = self.history.set_load_error(folder, &fingerprint, None);
                let sha256 = loaded.sha256.clone();
                tracing::debug!(skill = folder, %sha256, cache = ?loaded.cache, "skill loaded");
                lock_write(&self.skills).insert(
                    folder.to_owned(),
                    SkillEntry {
                        id: folder.to_owned(),
                        current: Some(Arc::new(loaded)),
                        error: None,
                        scanned,
                    },
                );
                ReloadOutcome::Loaded { sha256 }
            }
            Err(error) => {
                if let Err(err) = self
                    .history
                    .set_load_error(folder, &fingerprint, Some(&error))
                {
                    tracing::warn!(skill = folder, error = %err, "could not record the load failure");
                }
                if current.is_some() {
                    tracing::warn!(skill = folder, %error, "new version rejected; the previous version keeps serving");
                } else {
                    tracing::warn!(skill = folder, %error, "skill failed to load");
                }
                lock_write(&self.skills).insert(
                    folder.to_owned(),
                    SkillEntry {
                        id: folder.to_owned(),
                        current,
                        error: Some(error.clone()),
                        scanned,
                    },
                );
                ReloadOutcome::Rejected(error)
            }
        };
        self.changed();
        outcome
    }

    fn changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Notified whenever a skill is loaded, rejected, removed or switched.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every finished run's report, as it finishes (for live views).
    pub fn subscribe_runs(&self) -> tokio::sync::broadcast::Receiver<RunReport> {
        self.finished.subscribe()
    }

    /// A snapshot of the installed skills by id.
    pub fn skills(&self) -> BTreeMap<String, SkillEntry> {
        lock_read(&self.skills).clone()
    }

    /// One installed skill.
    pub fn skill(&self, id: &str) -> Option<SkillEntry> {
        lock_read(&self.skills).get(id).cloned()
    }

    /// Is the skill switched on (run-time switch, else not in `skills.disabled`)?
    pub fn is_enabled(&self, id: &str) -> bool {
        match lock_read(&self.switches).get(id) {
            Some(enabled) => *enabled,
            None => !self.config.skills.disabled.iter().any(|d| d == id),
        }
    }

    /// Switches a skill on or off; survives restarts.
    pub fn set_enabled(&self, actor: &str, id: &str, enabled: bool) -> anyhow::Result<()> {
        {
            // One writer at a time, so memory and the database agree.
            let mut switches = lock_write(&self.switches);
            self.history.set_switch(id, enabled)?;
            switches.insert(id.to_owned(), enabled);
        }
        self.record_audit(AuditEvent {
            actor: actor.to_owned(),
            action: if enabled {
                "skill.enable"
            } else {
                "skill.disable"
            }
            .to_owned(),
            skill: Some(id.to_owned()),
            outcome: "ok".to_owned(),
            ..AuditEvent::default()
        });
        self.changed();
        Ok(())
    }

    /// Calls of this skill in flight.
    pub fn running(&self, id: &str) -> usize {
        self.running
            .lock()
            .map(|r| r.get(id).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The backends in use.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// The run history, with every run finished so far recorded.
    pub fn history(&self) -> &History {
        self.recorder.sync();
        &self.history
    }

    /// The audit trail, with every event so far appended.
    pub fn audit(&self) -> &AuditLog {
        self.recorder.sync();
        &self.audit
    }

    /// Appends to the audit trail (asynchronously; reads see it).
    pub fn record_audit(&self, event: AuditEvent) {
        self.recorder.audit(event);
    }

    /// Runs a skill once on behalf of the actor the trigger implies.
    pub async fn dispatch(
        &self,
        skill_id: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<RunReport, DispatchError> {
        let actor = match trigger {
            Trigger::Schedule | Trigger::Startup => "scheduler",
            Trigger::Dispatch => "cli",
            Trigger::Chat => "chat",
        };
        self.dispatch_as(actor, skill_id, trigger, parameters).await
    }

    /// Runs a skill once. Refusals (unknown, disabled, failed to load, bad
    /// parameters) are errors; anything that happens inside the run is in
    /// the report. Every attempt is audited; every run is in the history.
    pub async fn dispatch_as(
        &self,
        actor: &str,
        skill_id: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<RunReport, DispatchError> {
        let parameters_digest = digest(parameters.to_string().as_bytes());
        let audit = |outcome: &str| {
            self.recorder.audit(AuditEvent {
                actor: actor.to_owned(),
                action: "dispatch".to_owned(),
                skill: Some(skill_id.to_owned()),
                parameters_digest: Some(parameters_digest.clone()),
                outcome: outcome.to_owned(),
                ..AuditEvent::default()
            });
        };
        let skill = match self.resolve(skill_id, &parameters) {
            Ok(skill) => skill,
            Err(err) => {
                audit("refused");
                return Err(err);
            }
        };
        let in_flight = self.enter(skill_id);
        let settings = Arc::new(
            self.config
                .skills
                .settings
                .get(skill_id)
                .cloned()
                .unwrap_or_default(),
        );
        let limits = call::RunLimits::for_skill(&skill, &self.config.limits);
        let input = RunInput {
            trigger,
            parameters,
            chat: None,
            audit: Some(self.recorder.clone()),
        };
        let started_at = Utc::now();
        // If this future is dropped mid-run (shutdown past its grace, a
        // caller that gave up), the run is still recorded, as cancelled.
        let mut unfinished = Unfinished {
            host: self,
            actor,
            skill_id,
            trigger,
            started_at,
            parameters_digest: &parameters_digest,
            armed: true,
        };
        let report = call::run(
            &self.engines,
            &self.backends,
            &skill,
            settings,
            limits,
            input,
        )
        .await;
        unfinished.armed = false;
        let status = serde_json::to_value(report.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        audit(&status);
        self.recorder.run(NewRun {
            skill_id: skill_id.to_owned(),
            trigger,
            started_at,
            finished_at: Utc::now(),
            status: report.status,
            summary: report.summary.clone(),
            error: report.error.clone(),
            duration_ms: report.execution_time_ms,
        });
        // The run is over for everyone before anyone hears of it.
        drop(in_flight);
        // Nobody listening is fine.
        let _ = self.finished.send(report.clone());
        Ok(report)
    }

    fn resolve(
        &self,
        skill_id: &str,
        parameters: &Value,
    ) -> Result<Arc<LoadedSkill>, DispatchError> {
        let skills = lock_read(&self.skills);
        let skill = match skills.get(skill_id) {
            None => {
                return Err(DispatchError::Unknown {
                    skill: skill_id.to_owned(),
                    dir: self.config.skills_dir.display().to_string(),
                    installed: if skills.is_empty() {
                        "none".to_owned()
                    } else {
                        skills.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                });
            }
            Some(SkillEntry {
                current: Some(skill),
                ..
            }) => skill.clone(),
            Some(SkillEntry { error, .. }) => {
                return Err(DispatchError::NotLoaded {
                    skill: skill_id.to_owned(),
                    reason: error.clone().unwrap_or_default(),
                });
            }
        };
        drop(skills);
        if !self.is_enabled(skill_id) {
            return Err(DispatchError::Disabled(skill_id.to_owned()));
        }
        if !parameters.is_object() {
            return Err(DispatchError::BadParameters(parameters.to_string()));
        }
        Ok(skill)
    }

    fn enter(&self, skill_id: &str) -> InFlight<'_> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *running.entry(skill_id.to_owned()).or_insert(0) += 1;
        InFlight {
            running: &self.running,
            skill: skill_id.to_owned(),
        }
    }
}
