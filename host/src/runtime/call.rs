//! One run of a skill: a fresh `Store` from the cached `InstancePre`, under
//! the skill's time, memory, output and host-call limits. Whatever the guest
//! does — trap, spin, exhaust memory, panic — the result is a [`RunReport`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use wasmtime::Store;
use wasmtime::component::ResourceTable;

use super::bindings::{self as wit};
use super::engine::{Engines, LoadedSkill};
use super::sandbox::{OutputCapture, deny_all_wasi};
use super::state::{MemoryCap, StoreState};
use crate::capabilities::config::SkillSettings;
use crate::capabilities::grants::GrantCheck;
use crate::capabilities::{Backends, CallContext, CapabilityStates, RunLimitExceeded};
use crate::config::LimitsConfig;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The scheduler.
    Schedule,
    /// The CLI or the API.
    Dispatch,
    /// The chat supervisor.
    Chat,
    /// First start of the service.
    Startup,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The skill did its work.
    Ok,
    /// Nothing to work on.
    NoData,
    /// The skill chose not to run.
    Skipped,
    /// Needs an operator's approval.
    ApprovalRequired,
    /// The skill failed or was stopped.
    Error,
}

impl RunStatus {
    /// Exit code for `sc-host dispatch`: 0 unless the run failed.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Error => 1,
            _ => 0,
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    /// The skill.
    pub skill: String,
    /// How it ended.
    pub status: RunStatus,
    /// One line for people.
    pub summary: String,
    /// The skill's result (JSON), `null` when none.
    pub result: Value,
    /// Why the run failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the run in milliseconds.
    pub execution_time_ms: f64,
    /// Capability calls the run made.
    pub host_calls: u64,
}

/// The effective limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Linear-memory cap in MiB.
    pub memory_mb: u64,
    /// Capability calls allowed.
    pub host_calls: u64,
    /// stdout + stderr bytes allowed.
    pub output_bytes: u64,
    /// Log lines kept.
    pub log_lines: u64,
}

impl RunLimits {
    /// The manifest's limits, with the config's defaults where it is silent.
    pub fn for_skill(skill: &LoadedSkill, defaults: &LimitsConfig) -> Self {
        let own = skill.manifest.limits;
        Self {
            timeout: Duration::from_millis(own.timeout_ms.unwrap_or(defaults.timeout_ms)),
            memory_mb: own.memory_mb.unwrap_or(defaults.memory_mb),
            host_calls: own.host_calls.unwrap_or(defaults.host_calls),
            output_bytes: defaults.output_bytes,
            log_lines: defaults.log_lines,
        }
    }
}

/// Everything a run needs besides the skill itself.
pub struct RunInput {
    /// What started it.
    pub trigger: Trigger,
    /// Parameters (a JSON object).
    pub parameters: Value,
    /// Chat context, for chat runs.
    pub chat: Option<wit::ChatContext>,
    /// Where capability calls worth auditing (model calls) are recorded.
    pub audit: Option<Arc<crate::recorder::Recorder>>,
}

/// Runs `skill` once. Never fails: every failure is an `error` report.
pub async fn run(
    engines: &Engines,
    backends: &Backends,
    skill: &LoadedSkill,
    settings: SkillSettings,
    limits: RunLimits,
    input: RunInput,
) -> RunReport {
    let skill_id = skill.manifest.skill_id.clone();
    let started = Instant::now();
    let call = Arc::new(
        CallContext::new(
            skill_id.clone(),
            GrantCheck::new(
                &skill_id,
                skill.manifest_path.clone(),
                skill.manifest.grants.clone(),
            ),
            limits.host_calls,
        )
        .with_audit(input.audit.clone()),
    );
    let output = OutputCapture::new(limits.output_bytes);
    let state = StoreState {
        wasi: deny_all_wasi(&output),
        table: ResourceTable::new(),
        memory: MemoryCap::new(limits.memory_mb),
        caps: CapabilityStates::new(call.clone(), backends, settings, limits.log_lines),
    };
    let mut store = Store::new(&engines.engine, state);
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);

    let invocation = wit::Invocation {
        trigger: match input.trigger {
            Trigger::Schedule => wit::Trigger::Schedule,
            Trigger::Dispatch => wit::Trigger::Dispatch,
            Trigger::Chat => wit::Trigger::Chat,
            Trigger::Startup => wit::Trigger::Startup,
        },
        parameters: input.parameters.to_string(),
        chat: input.chat,
    };
    let execution = async {
        let instance = skill.pre.instantiate_async(&mut store).await?;
        instance.call_run(&mut store, &invocation).await
    };
    let result = tokio::time::timeout(limits.timeout, execution).await;

    let (stdout, stderr) = output.take();
    for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        for line in text.lines().filter(|l| !l.trim().is_empty()).take(200) {
            let line = crate::capabilities::log::printable(line);
            tracing::info!(target: "skill", skill = %skill_id, stream, "{line}");
        }
    }

    let mut report = RunReport {
        skill: skill_id.clone(),
        status: RunStatus::Error,
        summary: String::new(),
        result: Value::Null,
        error: None,
        execution_time_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        host_calls: call.host_calls(),
    };
    match result {
        Err(_elapsed) => {
            report.fail(format!(
                "the skill ran past its time limit of {} ms (`limits.timeout_ms` in its instruction.md)",
                limits.timeout.as_millis()
            ));
        }
        Ok(Err(trap)) => report.fail(explain_trap(&trap, &stderr)),
        Ok(Ok(Err(skill_error))) => report.fail(match skill_error {
            wit::SkillError::InvalidInput(m) => format!("invalid input: {m}"),
            wit::SkillError::Capability(e) => {
                format!("capability failed: {}", describe_wit_error(&e))
            }
            wit::SkillError::Failed(m) => m,
        }),
        Ok(Ok(Ok(outcome))) => report.accept(outcome),
    }
    if report.status == RunStatus::Error {
        tracing::warn!(skill = %skill_id, reason = report.error.as_deref().unwrap_or(""), "skill run failed");
    }
    report
}

impl RunReport {
    fn fail(&mut self, reason: String) {
        self.status = RunStatus::Error;
        self.summary = first_line(&reason);
        self.error = Some(reason);
    }

    fn accept(&mut self, outcome: wit::Outcome) {
        let result = if outcome.result.trim().is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_str(&outcome.result)
        };
        match result {
            Err(err) => self.fail(format!(
                "the skill returned a result that is not JSON: {err}"
            )),
            Ok(result) => {
                self.result = result;
                self.summary = first_line(&outcome.summary);
                self.status = match outcome.status {
                    wit::Status::Ok => RunStatus::Ok,
                    wit::Status::NoData => RunStatus::NoData,
                    wit::Status::Skipped => RunStatus::Skipped,
                    wit::Status::ApprovalRequired => RunStatus::ApprovalRequired,
                    wit::Status::Error => RunStatus::Error,
                };
                if self.status == RunStatus::Error {
                    self.error = Some(self.summary.clone());
                }
            }
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    line.chars().take(300).collect()
}

/// Text for a capability error the skill gave up on.
pub fn describe_wit_error(error: &wit::securityclaw::skill::types::Error) -> String {
    use wit::securityclaw::skill::types::Error as E;
    match error {
        E::Denied(m) => format!("denied: {m}"),
        E::InvalidInput(m) => format!("invalid input: {m}"),
        E::NotConfigured(m) => format!("not configured: {m}"),
        E::Backend(m) => format!("backend error: {m}"),
        E::Timeout => "timed out".to_owned(),
        E::LimitExceeded(m) => format!("limit exceeded: {m}"),
        E::InvalidOutput(m) => format!("invalid output: {m}"),
    }
}

/// Turns a trap into a reason a skill author can act on.
fn explain_trap(trap: &wasmtime::Error, stderr: &str) -> String {
    if let Some(limit) = trap
        .chain()
        .find_map(|e| e.downcast_ref::<RunLimitExceeded>())
    {
        return limit.to_string();
    }
    match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => {
            "the skill overflowed its call stack (runaway recursion)".to_owned()
        }
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            match stderr.lines().find(|l| l.contains("panicked at")) {
                Some(_) => format!("the skill panicked: {}", panic_message(stderr)),
                None => "the skill aborted (reached `unreachable`)".to_owned(),
            }
        }
        Some(wasmtime::Trap::MemoryOutOfBounds) => {
            "the skill accessed memory out of bounds (a bug in the skill, or runaway recursion exhausting its stack)".to_owned()
        }
        Some(other) => format!("the skill trapped: {other}"),
        None => format!("the skill failed: {trap:#}"),
    }
}

/// Rust's panic output is `thread '…' panicked at file:line:col:\nmessage`.
fn panic_message(stderr: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked at"));
    let location = lines.next().unwrap_or_default();
    let message = lines.next().unwrap_or_default().trim();
    let location = location
        .split("panicked at ")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(':');
    if message.is_empty() {
        location.to_owned()
    } else {
        format!("{message} (at {location})")
    }
}
