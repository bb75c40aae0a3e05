//! The host: config, backends, clock, engine, the installed skills and
//! their switches, and the run history and audit trail. Skills load in the
//! background when the service starts (it serves at once; each skill is
//! ready when it has compiled); a reload swaps one skill atomically and a
//! version that fails keeps the old one serving.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use anyhow::Context as _;
use sc_core::backends::Backends;
use sc_core::clock::{Clock, SystemClock};
use sc_core::config::Config;
use sc_core::manifest::Manifest;
use sc_core::run::RunEvent;
use sc_state::audit::{AuditEvent, AuditLog};
use sc_state::history::History;
use sc_state::recorder::Recorder;
use tokio::sync::{Notify, broadcast, watch};

use crate::cache;
use crate::engine::{Engines, LoadError, LoadedSkill};
use crate::registry::{self, ScannedSkill};

/// Where one installed skill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillState {
    /// Found on disk, not compiled yet (the service is still starting).
    Loading,
    /// A version serves calls.
    Ready,
    /// No version could be loaded; `error` says why.
    Failed,
}

impl SkillState {
    /// The name shown: `loading`, `ready`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// One installed skill: the version serving calls, and the latest problem.
#[derive(Clone)]
pub struct SkillEntry {
    /// The folder name (the skill id).
    pub id: String,
    /// The version that serves new calls; `None` when none ever loaded.
    pub current: Option<Arc<LoadedSkill>>,
    /// Why the newest files could not be loaded. With `current` set, the
    /// previous version keeps serving.
    pub error: Option<LoadError>,
    /// The folder as last read (its manifest, even when the load failed).
    pub scanned: ScannedSkill,
}

impl SkillEntry {
    /// Ready to run?
    pub fn is_ready(&self) -> bool {
        self.current.is_some()
    }

    /// Loading, ready or failed.
    pub fn state(&self) -> SkillState {
        match (&self.current, &self.error) {
            (Some(_), _) => SkillState::Ready,
            (None, Some(_)) => SkillState::Failed,
            (None, None) => SkillState::Loading,
        }
    }

    /// The manifest of the serving version, or else of the files on disk.
    pub fn manifest(&self) -> Option<&Manifest> {
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
    Rejected(LoadError),
    /// The folder is gone; the skill is unloaded (running calls finish).
    Removed,
}

/// Whether the installed skills have all been loaded once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryState {
    /// Skills are still compiling; dispatches wait for them.
    Loading,
    /// Every skill folder was read and loaded (or refused) once.
    Ready,
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

/// What the host keeps in `state.db`, opened together.
struct HostState {
    history: History,
    audit: AuditLog,
    recorder: Recorder,
    switches: Vec<(String, bool)>,
}

impl HostState {
    fn open(config: &Config) -> anyhow::Result<Self> {
        let state_db = config.data_dir.join("state.db");
        let history = History::open(&state_db)
            .with_context(|| format!("opening the run history {}", state_db.display()))?;
        let audit = AuditLog::open(&state_db)
            .with_context(|| format!("opening the audit trail {}", state_db.display()))?;
        let switches = history.switches().context("reading skill switches")?;
        let recorder = Recorder::start(&state_db)
            .with_context(|| format!("starting the run recorder on {}", state_db.display()))?;
        Ok(Self {
            history,
            audit,
            recorder,
            switches,
        })
    }
}

/// A scoped thread's answer; its panic goes on in the caller.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The host. Every run — scheduled, dispatched or asked for by the chat —
/// goes through [`SkillHost::dispatch`] (see `dispatch.rs`).
pub struct SkillHost {
    pub(crate) config: Arc<Config>,
    pub(crate) backends: Backends,
    pub(crate) clock: Arc<dyn Clock>,
    engines: OnceLock<Result<Engines, String>>,
    skills: RwLock<BTreeMap<String, SkillEntry>>,
    switches: RwLock<BTreeMap<String, bool>>,
    pub(crate) running: Mutex<HashMap<String, usize>>,
    pub(crate) idle: Notify,
    pub(crate) history: History,
    pub(crate) audit: AuditLog,
    pub(crate) recorder: Arc<Recorder>,
    changes: watch::Sender<u64>,
    registry: watch::Sender<RegistryState>,
    pub(crate) events: broadcast::Sender<RunEvent>,
}

pub(crate) fn lock_read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock_write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SkillHost {
    /// Opens the run history and audit trail and reads every skill folder's
    /// manifest, compiling nothing: the skills are `loading` until
    /// [`SkillHost::load_all`] (or [`SkillHost::load_in_background`]) runs.
    pub fn new(
        config: Arc<Config>,
        backends: Backends,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<Self>> {
        Self::open(config, clock, move || Ok(backends))
    }

    /// [`SkillHost::new`] with the backends opened by `open_backends`, on a
    /// thread of its own while this one opens the host's state and another
    /// reads the manifests: a service start waits for the slowest of the
    /// three, not their sum.
    pub fn open(
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        open_backends: impl FnOnce() -> anyhow::Result<Backends> + Send,
    ) -> anyhow::Result<Arc<Self>> {
        let dir = config.skills_dir.clone();
        let (backends, scanned, state) = std::thread::scope(|scope| {
            let backends = scope.spawn(open_backends);
            let scanned = scope.spawn(move || registry::scan(&dir));
            let state = HostState::open(&config);
            (join(backends), join(scanned), state)
        });
        let backends = backends?;
        let HostState {
            history,
            audit,
            recorder,
            switches,
        } = state?;
        let dir = &config.skills_dir;
        let scanned = scanned.map_err(|err| {
            anyhow::anyhow!(
                "cannot read the skills folder {}: {err}; build the skills with `just skills` or set `skills_dir`",
                dir.display()
            )
        })?;
        let skills = scanned
            .into_iter()
            .map(|scanned| {
                let id = scanned.folder.clone();
                let entry = SkillEntry {
                    id: id.clone(),
                    current: None,
                    error: None,
                    scanned,
                };
                (id, entry)
            })
            .collect();
        Ok(Arc::new(Self {
            config,
            backends,
            clock,
            engines: OnceLock::new(),
            skills: RwLock::new(skills),
            switches: RwLock::new(switches.into_iter().collect()),
            running: Mutex::new(HashMap::new()),
            idle: Notify::new(),
            history,
            audit,
            recorder: Arc::new(recorder),
            changes: watch::channel(0).0,
            registry: watch::channel(RegistryState::Loading).0,
            events: broadcast::channel(256).0,
        }))
    }

    /// A host on the system clock with every skill loaded before it returns
    /// (one-off commands, tests). Compiles, so call it off async workers
    /// when the cache may be cold.
    pub fn start(config: Arc<Config>, backends: Backends) -> anyhow::Result<Arc<Self>> {
        let host = Self::new(config, backends, Arc::new(SystemClock))?;
        host.load_all();
        Ok(host)
    }

    /// Loads every skill folder (compiling what the cache lacks), then
    /// marks the registry ready. Blocks.
    pub fn load_all(&self) {
        let folders: Vec<String> = lock_read(&self.skills).keys().cloned().collect();
        for folder in folders {
            self.reload_folder(&folder);
        }
        self.mark_ready();
    }

    /// [`SkillHost::load_all`] on its own thread, so a service answers at
    /// once and each skill becomes ready as it compiles.
    pub fn load_in_background(self: &Arc<Self>) -> anyhow::Result<std::thread::JoinHandle<()>> {
        let host = self.clone();
        std::thread::Builder::new()
            .name("sc-loader".to_owned())
            .spawn(move || host.load_all())
            .context("starting the skill loader thread")
    }

    fn mark_ready(&self) {
        self.registry.send_replace(RegistryState::Ready);
        self.changed();
    }

    /// Loading or ready.
    pub fn registry_state(&self) -> RegistryState {
        *self.registry.borrow()
    }

    /// Resolves once every skill was loaded (or refused) once.
    pub async fn wait_ready(&self) {
        let mut state = self.registry.subscribe();
        // The sender lives as long as `self`, so this only ends when ready.
        let _ = state.wait_for(|s| *s == RegistryState::Ready).await;
    }

    /// The engine, built the first time a skill loads.
    pub(crate) fn engines(&self) -> Result<&Engines, String> {
        self.engines
            .get_or_init(|| {
                Engines::new(self.config.data_dir.join("cache").join("components"))
                    .map_err(|err| format!("{err:#}"))
            })
            .as_ref()
            .map_err(Clone::clone)
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
            match self.engines() {
                Ok(engines) => engines.load_pinned(&scanned, pin).map(Some),
                Err(reason) => Err(LoadError::Compile {
                    path: scanned.component_path(),
                    reason: format!("the engine could not start: {reason}"),
                }),
            }
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
                self.record_load_error(folder, &fingerprint, None);
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
                self.record_load_error(folder, &fingerprint, Some(&error));
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

    /// Remembers (or clears) why a skill's files were refused, for
    /// `list-skills`; failing to is worth a warning, not a lost reload.
    fn record_load_error(&self, folder: &str, fingerprint: &str, error: Option<&LoadError>) {
        let text = error.map(ToString::to_string);
        if let Err(err) = self
            .history
            .set_load_error(folder, fingerprint, text.as_deref())
        {
            tracing::warn!(skill = folder, error = %err, "could not record the skill's load state");
        }
    }

    pub(crate) fn changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Notified whenever a skill is loaded, rejected, removed or switched.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every run's start and end, as they happen (for live views).
    pub fn subscribe_runs(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// A snapshot of the installed skills by id.
    pub fn skills(&self) -> BTreeMap<String, SkillEntry> {
        lock_read(&self.skills).clone()
    }

    /// One installed skill.
    pub fn skill(&self, id: &str) -> Option<SkillEntry> {
        lock_read(&self.skills).get(id).cloned()
    }

    /// The serving version of one skill, copying only its `Arc` (a run's
    /// hot path): `None` when it is not installed, the reason when it is
    /// installed but not loaded.
    pub(crate) fn serving(&self, id: &str) -> Option<Result<Arc<LoadedSkill>, LoadError>> {
        lock_read(&self.skills)
            .get(id)
            .map(|entry| match &entry.current {
                Some(skill) => Ok(Arc::clone(skill)),
                None => Err(entry.error.clone().unwrap_or_else(|| {
                    LoadError::ComponentFile(format!(
                        "{}: not loaded yet",
                        entry.scanned.component_path().display()
                    ))
                })),
            })
    }

    /// The installed skills' ids, in order.
    pub(crate) fn skill_ids(&self) -> Vec<String> {
        lock_read(&self.skills).keys().cloned().collect()
    }

    /// Is the skill switched on (run-time switch, else not in `skills.disabled`)?
    pub fn is_enabled(&self, id: &str) -> bool {
        let switch = lock_read(&self.switches).get(id).copied();
        self.config.skills.is_enabled(id, switch)
    }

    /// Switches a skill on or off; survives restarts. Writes SQLite, so
    /// async callers run it on a blocking thread.
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

    /// The host's clock (the run's `now` comes from it).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The run history, with every run finished so far recorded. Blocks
    /// (it waits for the recorder, and SQLite reads block): async code
    /// uses [`SkillHost::read_history`].
    pub fn history(&self) -> &History {
        self.recorder.sync();
        &self.history
    }

    /// The audit trail, with every event so far appended. Blocks: async
    /// code uses [`SkillHost::read_audit`].
    pub fn audit(&self) -> &AuditLog {
        self.recorder.sync();
        &self.audit
    }

    /// Reads the run history on a blocking thread, once every run finished
    /// so far is recorded.
    pub async fn read_history<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&History) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.recorder.synced().await;
        let host = self.clone();
        off_worker(move || read(&host.history)).await
    }

    /// Reads the audit trail on a blocking thread, once every event so far
    /// is appended.
    pub async fn read_audit<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&AuditLog) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.recorder.synced().await;
        let host = self.clone();
        off_worker(move || read(&host.audit)).await
    }

    /// Appends to the audit trail (asynchronously; reads see it).
    pub fn record_audit(&self, event: AuditEvent) {
        self.recorder.audit(event);
    }
}

/// Runs blocking work (SQLite, a scan) on a blocking thread; a panic in it
/// is an error naming the panic, not a crash of the caller.
pub async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        anyhow::anyhow!(
            "a blocking task {}",
            crate::capabilities::memory::panic_reason(err)
        )
    })
}
