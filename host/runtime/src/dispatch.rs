//! The one path every run takes: resolve the skill, check it is enabled,
//! validate its parameters against the manifest's schema, build the
//! per-call state from its grants, run it under its limits with the run's
//! clock, record the run (history, audit) and announce it. A run a client
//! started finishes and is recorded whatever the client does
//! ([`SkillHost::spawn_run`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sc_core::config::Config;
use sc_core::run::{RunEvent, RunReport, RunRequest, RunStatus, Trigger, new_run_id, timestamp};
use sc_state::audit::AuditEvent;
use sc_state::history::NewRun;
use serde_json::Value;

use crate::call::{self, RunInput, RunLimits};
use crate::engine::{LoadError, LoadedSkill};
use crate::host::SkillHost;

/// Why a dispatch did not run the skill at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
        reason: LoadError,
    },
    /// Switched off.
    #[error(
        "skill `{0}` is disabled (remove it from `skills.disabled` in config.yaml, or enable it through the API)"
    )]
    Disabled(String),
    /// Parameters are not a JSON object.
    #[error("parameters must be a JSON object, got {0}")]
    BadParameters(String),
    /// Parameters do not match the manifest's `parameters` schema.
    #[error("invalid input: parameters of `{skill}` do not match its schema: {problems}")]
    InvalidParameters {
        /// The skill.
        skill: String,
        /// Each mismatch (`\`hours\`: 30 is greater than the maximum of 24`), joined.
        problems: String,
    },
}

/// Counts a skill's calls in flight; dropping it ends the count and wakes
/// whoever waits for the host to be idle.
struct InFlight<'a> {
    host: &'a SkillHost,
    skill: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut running = lock(&self.host.running);
        if let Some(count) = running.get_mut(&self.skill) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.skill);
            }
        }
        if running.is_empty() {
            self.host.idle.notify_waiters();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records a run whose future was dropped before it finished (a shutdown
/// past its grace).
struct Unfinished<'a> {
    host: &'a SkillHost,
    request: &'a RunRequest,
    run_id: &'a str,
    started_at: DateTime<Utc>,
    parameters_digest: &'a str,
    armed: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        tracing::warn!(skill = %self.request.skill, "run cancelled before it finished");
        self.host.recorder.audit(AuditEvent {
            actor: self.request.actor.clone(),
            action: "dispatch".to_owned(),
            skill: Some(self.request.skill.clone()),
            parameters_digest: Some(self.parameters_digest.to_owned()),
            outcome: "cancelled".to_owned(),
            ..AuditEvent::default()
        });
        let finished_at = Utc::now();
        self.host.recorder.run(NewRun {
            run_id: self.run_id.to_owned(),
            skill_id: self.request.skill.clone(),
            trigger: self.request.trigger,
            started_at: self.started_at,
            finished_at,
            status: RunStatus::Error,
            summary: "cancelled before it finished".to_owned(),
            error: Some("the run was cancelled (the host shut down) before it finished".to_owned()),
            duration_ms: (finished_at - self.started_at).num_milliseconds() as f64,
        });
    }
}

impl SkillHost {
    /// Runs a skill once with no parameters-schema surprises: the
    /// convenience form of [`SkillHost::run`] for the actor the trigger
    /// implies.
    pub async fn dispatch(
        &self,
        skill_id: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<RunReport, DispatchError> {
        self.run(RunRequest::new(skill_id, trigger, parameters))
            .await
    }

    /// [`SkillHost::dispatch`] on behalf of `actor`.
    pub async fn dispatch_as(
        &self,
        actor: &str,
        skill_id: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<RunReport, DispatchError> {
        self.run(RunRequest::new(skill_id, trigger, parameters).by(actor))
            .await
    }

    /// Runs the request in its own task: the run finishes and is recorded
    /// whether or not anyone awaits the handle (a client that hangs up does
    /// not cancel it).
    pub fn spawn_run(
        self: &Arc<Self>,
        request: RunRequest,
    ) -> tokio::task::JoinHandle<Result<RunReport, DispatchError>> {
        let host = self.clone();
        tokio::spawn(async move { host.run(request).await })
    }

    /// Runs a skill once. Refusals (unknown, disabled, failed to load, bad
    /// parameters) are errors; anything that happens inside the run is in
    /// the report. Every attempt is audited; every run is in the history.
    pub async fn run(&self, request: RunRequest) -> Result<RunReport, DispatchError> {
        self.wait_ready().await;
        let parameters_digest = sc_core::digest(request.parameters.to_string().as_bytes());
        let audit = |outcome: &str| {
            self.recorder.audit(AuditEvent {
                actor: request.actor.clone(),
                action: "dispatch".to_owned(),
                skill: Some(request.skill.clone()),
                parameters_digest: Some(parameters_digest.clone()),
                outcome: outcome.to_owned(),
                ..AuditEvent::default()
            });
        };
        let (skill, parameters) = match self.resolve(&request) {
            Ok(resolved) => resolved,
            Err(err) => {
                audit("refused");
                return Err(err);
            }
        };
        let in_flight = self.enter(&request.skill);
        let settings = Arc::new(skill_settings(&self.config, &request.skill));
        let limits = RunLimits::for_skill(&skill, &self.config.limits);
        let run_id = new_run_id();
        let started_at = Utc::now();
        let input = RunInput {
            run_id: run_id.clone(),
            trigger: request.trigger,
            parameters,
            now: request.now.unwrap_or_else(|| self.clock.now()),
            chat: request.chat.clone(),
            audit: Some(self.recorder.clone()),
            data_dir: self.config.data_dir.clone(),
            folders: self
                .config
                .skills
                .folders
                .get(&request.skill)
                .cloned()
                .unwrap_or_default(),
            anonymize: self.config.llm.anonymize.applies(
                self.backends.llm_choice.provider == sc_core::llm::ResolvedLlm::Openai,
                skill.manifest.anonymize_prompts,
            ),
        };

        // Nobody listening is fine.
        let _ = self.events.send(RunEvent::Started {
            run_id: run_id.clone(),
            skill: request.skill.clone(),
            trigger: request.trigger,
            actor: request.actor.clone(),
            started_at: timestamp(started_at),
        });
        // If this future is dropped mid-run (a shutdown past its grace),
        // the run is still recorded, as cancelled.
        let mut unfinished = Unfinished {
            host: self,
            request: &request,
            run_id: &run_id,
            started_at,
            parameters_digest: &parameters_digest,
            armed: true,
        };
        let engines = self
            .engines()
            .expect("a loaded skill implies a running engine");
        let report = call::run(engines, &self.backends, &skill, settings, limits, input).await;
        unfinished.armed = false;
        audit(report.status.as_str());
        self.recorder.run(NewRun {
            run_id: run_id.clone(),
            skill_id: request.skill.clone(),
            trigger: request.trigger,
            started_at,
            finished_at: Utc::now(),
            status: report.status,
            summary: report.summary.clone(),
            error: report.error.clone(),
            duration_ms: report.execution_time_ms,
        });
        // The run is over for everyone before anyone hears of it.
        drop(in_flight);
        let _ = self.events.send(RunEvent::Finished(report.clone()));
        Ok(report)
    }

    /// The serving version of the skill and the parameters it will get
    /// (checked against its schema, defaults filled in).
    fn resolve(&self, request: &RunRequest) -> Result<(Arc<LoadedSkill>, Value), DispatchError> {
        let skill_id = request.skill.as_str();
        let skill = match self.serving(skill_id) {
            None => {
                let ids = self.skill_ids();
                return Err(DispatchError::Unknown {
                    skill: skill_id.to_owned(),
                    dir: self.config.skills_dir.display().to_string(),
                    installed: if ids.is_empty() {
                        "none".to_owned()
                    } else {
                        ids.join(", ")
                    },
                });
            }
            Some(Ok(skill)) => skill,
            Some(Err(reason)) => {
                return Err(DispatchError::NotLoaded {
                    skill: skill_id.to_owned(),
                    reason,
                });
            }
        };
        if !self.is_enabled(skill_id) {
            return Err(DispatchError::Disabled(skill_id.to_owned()));
        }
        if !request.parameters.is_object() {
            return Err(DispatchError::BadParameters(request.parameters.to_string()));
        }
        let mut parameters = request.parameters.clone();
        if let (Some(schema), Some(source)) = (&skill.parameters, &skill.manifest.parameters) {
            let problems = schema.problems(&parameters);
            if !problems.is_empty() {
                return Err(DispatchError::InvalidParameters {
                    skill: skill_id.to_owned(),
                    problems: problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            sc_core::schema::apply_defaults(source, &mut parameters);
        }
        Ok((skill, parameters))
    }

    fn enter(&self, skill_id: &str) -> InFlight<'_> {
        *lock(&self.running).entry(skill_id.to_owned()).or_insert(0) += 1;
        InFlight {
            host: self,
            skill: skill_id.to_owned(),
        }
    }

    /// Waits until no run is in flight, or `grace` has passed; true when
    /// idle. A shutdown calls this so runs clients started can finish.
    pub async fn wait_idle(&self, grace: Duration) -> bool {
        let idle = async {
            loop {
                let notified = self.idle.notified();
                if lock(&self.running).is_empty() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(grace, idle).await.is_ok()
    }

    /// How many runs of each skill are in flight.
    pub fn running_counts(&self) -> HashMap<String, usize> {
        lock(&self.running).clone()
    }
}

/// What a skill reads through `config.get`: its own `skills.settings.<id>`,
/// and the shared `detection` and `http.enrichment` sections under the keys
/// `detection` and `enrichment` unless its own settings set them.
fn skill_settings(config: &Config, skill: &str) -> BTreeMap<String, Value> {
    let mut settings = config
        .skills
        .settings
        .get(skill)
        .cloned()
        .unwrap_or_default();
    if !settings.contains_key("detection")
        && let Ok(detection) = serde_json::to_value(&config.detection)
    {
        settings.insert("detection".to_owned(), detection);
    }
    if !settings.contains_key("enrichment")
        && let Ok(enrichment) = serde_json::to_value(&config.http.enrichment)
    {
        settings.insert("enrichment".to_owned(), enrichment);
    }
    settings
}
