//! The scheduler: runs skills on their manifest's interval or cron
//! schedule, never two runs of one skill at once, at most
//! `scheduler.max_concurrent` runs in parallel; first-startup runs with
//! retries; and no burst of catch-up runs after downtime. Time is the
//! host's clock, so a test (or a replay) moves it by hand; nothing here
//! blocks an async worker (history reads go to a blocking thread).

pub mod plan;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use sc_core::clock::Clock;
use sc_core::run::{RunStatus, Trigger};
use sc_runtime::SkillHost;

pub use plan::{Cadence, JobView, Plan};

/// First retry delay of a failed first-startup run; it doubles each time.
const STARTUP_RETRY_FIRST: Duration = Duration::from_secs(5);
/// Longest delay between first-startup retries.
const STARTUP_RETRY_MAX: Duration = Duration::from_secs(300);

/// Removes a skill from the in-flight set when its run task ends.
struct FlightMark {
    in_flight: Arc<Mutex<HashSet<String>>>,
    skill: String,
}

impl Drop for FlightMark {
    fn drop(&mut self) {
        lock(&self.in_flight).remove(&self.skill);
    }
}

/// Runs scheduled skills until told to stop.
pub struct Scheduler {
    host: Arc<SkillHost>,
    clock: Arc<dyn Clock>,
    permits: Arc<Semaphore>,
    plan: Mutex<Plan>,
    /// Scheduled runs started and not yet finished (waiting for a permit counts).
    in_flight: Arc<Mutex<HashSet<String>>>,
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    /// First-startup retries waiting out their backoff; stopped at shutdown.
    retries: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Scheduler {
    /// A scheduler for the host's skills on the host's clock.
    pub fn new(host: Arc<SkillHost>) -> Arc<Self> {
        let max = host.config().scheduler.max_concurrent.max(1);
        let clock = host.clock().clone();
        Arc::new(Self {
            host,
            clock,
            permits: Arc::new(Semaphore::new(max)),
            plan: Mutex::new(Plan::default()),
            in_flight: Arc::default(),
            tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
            retries: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
        })
    }

    /// The scheduled skills, when they run next, and skipped overlaps.
    pub fn jobs(&self) -> Vec<JobView> {
        lock(&self.plan).views()
    }

    /// Is a run of this skill queued or going?
    pub fn is_running(&self, skill: &str) -> bool {
        lock(&self.in_flight).contains(skill) || self.host.running(skill) > 0
    }

    /// Rebuilds the plan from the installed, enabled, scheduled skills.
    async fn sync(&self) {
        let mut wanted = Vec::new();
        for (id, entry) in self.host.skills() {
            let Some(skill) = &entry.current else {
                continue;
            };
            let Some(schedule) = &skill.manifest.schedule else {
                continue;
            };
            if !self.host.is_enabled(&id) {
                continue;
            }
            match Cadence::from_schedule(schedule) {
                Ok(cadence) => wanted.push((id, cadence)),
                Err(err) => tracing::warn!(skill = %id, error = %err, "schedule ignored"),
            }
        }
        let ids: Vec<String> = wanted.iter().map(|(id, _)| id.clone()).collect();
        let last_starts = self
            .host
            .read_history(move |history| {
                ids.iter()
                    .map(|id| match history.last_scheduled_start(id) {
                        Ok(last) => last,
                        Err(err) => {
                            tracing::warn!(skill = %id, error = %err, "cannot read when it last ran; scheduling from now");
                            None
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "reading the run history failed; scheduling from now");
                Vec::new()
            });
        let scheduled = wanted
            .into_iter()
            .enumerate()
            .map(|(i, (id, cadence))| (id, cadence, last_starts.get(i).copied().flatten()))
            .collect();
        lock(&self.plan).sync(scheduled, self.clock.now());
    }

    /// Starts one run in the background, holding a concurrency permit.
    async fn spawn_run(self: &Arc<Self>, skill: String, trigger: Trigger) {
        lock(&self.in_flight).insert(skill.clone());
        let this = self.clone();
        self.tasks.lock().await.spawn(async move {
            // Cleared however the task ends (finished, panicked, aborted).
            let _flight = FlightMark {
                in_flight: this.in_flight.clone(),
                skill: skill.clone(),
            };
            let _permit = this.permits.clone().acquire_owned().await;
            let outcome = this
                .host
                .dispatch(&skill, trigger, serde_json::json!({}))
                .await;
            if let Err(err) = outcome {
                tracing::warn!(skill = %skill, error = %err, "scheduled run refused");
            }
        });
    }

    /// First startup: every skill with `run_on_first_startup` whose first
    /// run has not yet succeeded runs once now; this returns when those runs
    /// end. A failure is reported and retried in the background with
    /// backoff; it never stops the service.
    pub async fn run_first_startup(self: &Arc<Self>) {
        self.host.wait_ready().await;
        let candidates: Vec<String> = self
            .host
            .skills()
            .into_iter()
            .filter(|(id, entry)| {
                entry
                    .current
                    .as_ref()
                    .is_some_and(|s| s.manifest.run_on_first_startup)
                    && self.host.is_enabled(id)
            })
            .map(|(id, _)| id)
            .collect();
        let pending = self
            .host
            .read_history(move |history| {
                candidates
                    .into_iter()
                    .filter(|id| !history.startup_done(id).unwrap_or(false))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "reading the first-startup marks failed; none run now");
                Vec::new()
            });
        let mut first_attempts = tokio::task::JoinSet::new();
        for skill in pending {
            let this = self.clone();
            first_attempts.spawn(async move {
                let succeeded = this.startup_attempt(&skill).await;
                (skill, succeeded)
            });
        }
        while let Some(done) = first_attempts.join_next().await {
            let Ok((skill, succeeded)) = done else {
                continue;
            };
            if !succeeded {
                // The backoff counts from the failure, not from whenever the
                // retry task first runs.
                let first_due = self.clock.now()
                    + chrono::Duration::from_std(STARTUP_RETRY_FIRST).unwrap_or_default();
                let this = self.clone();
                self.retries
                    .lock()
                    .await
                    .spawn(async move { this.retry_startup(skill, first_due).await });
            }
        }
    }

    async fn startup_attempt(&self, skill: &str) -> bool {
        let _permit = self.permits.clone().acquire_owned().await;
        match self
            .host
            .dispatch(skill, Trigger::Startup, serde_json::json!({}))
            .await
        {
            Ok(report) if report.status != RunStatus::Error => {
                let id = skill.to_owned();
                let marked = self
                    .host
                    .read_history(move |history| history.mark_startup_done(&id))
                    .await;
                let failed = match marked {
                    Ok(Ok(())) => None,
                    Ok(Err(err)) => Some(err.to_string()),
                    Err(err) => Some(err.to_string()),
                };
                if let Some(error) = failed {
                    tracing::error!(skill, %error, "could not record the first-startup run");
                }
                tracing::info!(skill, "first-startup run succeeded");
                true
            }
            Ok(report) => {
                tracing::warn!(
                    skill,
                    reason = report.error.as_deref().unwrap_or(""),
                    "first-startup run failed; will retry"
                );
                false
            }
            Err(err) => {
                tracing::warn!(skill, error = %err, "first-startup run refused; will retry");
                false
            }
        }
    }

    async fn retry_startup(&self, skill: String, first_due: DateTime<Utc>) {
        let mut delay = STARTUP_RETRY_FIRST;
        let mut due = first_due;
        loop {
            self.clock.sleep_until(due).await;
            let still_wanted = self.host.skill(&skill).is_some_and(|e| e.is_ready())
                && self.host.is_enabled(&skill);
            if !still_wanted {
                tracing::info!(skill = %skill, "first-startup retries stop: the skill is gone or disabled");
                return;
            }
            if self.startup_attempt(&skill).await {
                return;
            }
            delay = (delay * 2).min(STARTUP_RETRY_MAX);
            due = self.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
        }
    }

    /// Runs due skills until `stop` turns true, then waits for running skills
    /// up to `scheduler.shutdown_grace_ms`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut changes = self.host.subscribe();
        tokio::select! {
            () = self.run_first_startup() => {}
            _ = stop.changed() => {}
        }
        self.sync().await;
        loop {
            if *stop.borrow() {
                break;
            }
            let now = self.clock.now();
            let due = lock(&self.plan).take_due(now, |s| self.is_running(s));
            for skill in due {
                self.spawn_run(skill, Trigger::Schedule).await;
            }
            self.reap().await;
            let wakeup = lock(&self.plan).next_wakeup();
            let sleep = async {
                match wakeup {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                changed = changes.changed() => {
                    if changed.is_ok() {
                        self.sync().await;
                    }
                }
                _ = stop.changed() => {}
            }
        }
        self.drain().await;
    }

    async fn reap(&self) {
        let mut tasks = self.tasks.lock().await;
        while tasks.try_join_next().is_some() {}
    }

    async fn drain(&self) {
        self.retries.lock().await.abort_all();
        let grace = Duration::from_millis(self.host.config().scheduler.shutdown_grace_ms);
        let mut tasks = self.tasks.lock().await;
        let waited = tokio::time::timeout(grace, async {
            while let Some(task) = tasks.join_next().await {
                if task.is_err() {
                    tracing::warn!("a scheduled run ended abnormally");
                }
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "runs still going at shutdown were stopped"
            );
            tasks.abort_all();
        }
    }

    /// The time on the scheduler's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
