//! One run of a skill: a fresh `Store` from the cached `InstancePre`, under
//! the skill's time, memory, output and host-call limits. Whatever the guest
//! does — trap, spin, exhaust memory, panic — the result is a [`RunReport`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sc_core::backends::Backends;
use sc_core::config::LimitsConfig;
use sc_core::grants::GrantCheck;
use sc_core::run::{ChatContext, RunReport, RunStatus, Trigger, timestamp};
use sc_state::recorder::Recorder;
use serde_json::Value;
use wasmtime::Store;
use wasmtime::component::ResourceTable;

use crate::bindings as wit;
use crate::capabilities::config::SkillSettings;
use crate::capabilities::from_wit;
use crate::capabilities::{CallContext, CapabilityStates};
use crate::engine::{Engines, LoadedSkill};
use crate::error::RunLimitExceeded;
use crate::sandbox::{OutputCapture, sandbox_wasi};
use crate::state::{MemoryCap, StoreState};

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
    /// The run's id.
    pub run_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// Parameters (a JSON object, already checked).
    pub parameters: Value,
    /// The run's clock time.
    pub now: DateTime<Utc>,
    /// Chat context, for chat runs.
    pub chat: Option<ChatContext>,
    /// Where capability calls worth auditing (model calls) are recorded.
    pub audit: Option<Arc<Recorder>>,
    /// The data folder, which `grants.files` folders are under.
    pub data_dir: PathBuf,
    /// Folders the operator bound to this skill's `grants.files` entries
    /// (`skills.folders.<skill>`), by grant path.
    pub folders: std::collections::BTreeMap<String, PathBuf>,
    /// Whether prompts are anonymized before they reach the model.
    pub anonymize: bool,
}

fn wit_trigger(trigger: Trigger) -> wit::Trigger {
    match trigger {
        Trigger::Schedule => wit::Trigger::Schedule,
        Trigger::Dispatch => wit::Trigger::Dispatch,
        Trigger::Chat => wit::Trigger::Chat,
        Trigger::Startup => wit::Trigger::Startup,
    }
}

fn wit_chat(chat: ChatContext) -> wit::ChatContext {
    wit::ChatContext {
        question: chat.question,
        conversation_id: chat.conversation_id,
        prior_results: chat
            .prior_results
            .into_iter()
            .map(|p| wit::PriorResult {
                skill_id: p.skill_id,
                summary: p.summary,
                result: p.result.to_string(),
            })
            .collect(),
    }
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
            input.run_id.clone(),
            GrantCheck::new(
                &skill_id,
                skill.manifest_path.clone(),
                skill.manifest.grants.clone(),
            ),
            limits.host_calls,
        )
        .with_audit(input.audit.clone())
        .with_anonymize(input.anonymize)
        .with_now(input.now),
    );
    let output = OutputCapture::new(limits.output_bytes);
    let wasi = call
        .grants
        .file_mounts_bound(&input.data_dir, &input.folders)
        .map_err(|e| wasmtime::Error::msg(e.to_string()))
        .and_then(|mounts| sandbox_wasi(&output, &mounts));
    let wasi = match wasi {
        Ok(wasi) => wasi,
        Err(err) => {
            let mut report = RunReport {
                run_id: input.run_id,
                skill: skill_id,
                trigger: input.trigger,
                status: RunStatus::Error,
                summary: String::new(),
                result: Value::Null,
                error: None,
                now: timestamp(input.now),
                execution_time_ms: 0.0,
                host_calls: 0,
            };
            fail(
                &mut report,
                format!("the skill's files could not be mounted: {err:#}"),
            );
            return report;
        }
    };
    let state = StoreState {
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap::new(limits.memory_mb),
        caps: CapabilityStates::new(call.clone(), backends, settings, limits.log_lines),
    };
    let mut store = Store::new(&engines.engine, state);
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);

    let now = timestamp(input.now);
    let invocation = wit::Invocation {
        run_id: input.run_id.clone(),
        trigger: wit_trigger(input.trigger),
        now: now.clone(),
        time_limit_ms: u32::try_from(limits.timeout.as_millis()).unwrap_or(u32::MAX),
        parameters: input.parameters.to_string(),
        chat: input.chat.map(wit_chat),
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
        run_id: input.run_id,
        skill: skill_id.clone(),
        trigger: input.trigger,
        status: RunStatus::Error,
        summary: String::new(),
        result: Value::Null,
        error: None,
        now,
        execution_time_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        host_calls: call.host_calls(),
    };
    match result {
        Err(_elapsed) => {
            fail(
                &mut report,
                format!(
                    "the skill ran past its time limit of {} ms (`limits.timeout_ms` in its instruction.md)",
                    limits.timeout.as_millis()
                ),
            );
        }
        Ok(Err(trap)) => fail(&mut report, explain_trap(&trap, &stderr)),
        Ok(Ok(Err(skill_error))) => fail(
            &mut report,
            match skill_error {
                wit::SkillError::InvalidInput(m) => format!("invalid input: {m}"),
                wit::SkillError::Capability(e) => format!("capability failed: {}", from_wit(e)),
                wit::SkillError::Failed(m) => m,
            },
        ),
        Ok(Ok(Ok(outcome))) => accept(&mut report, outcome),
    }
    if report.status == RunStatus::Error {
        tracing::warn!(skill = %skill_id, reason = report.error.as_deref().unwrap_or(""), "skill run failed");
    }
    report
}

fn fail(report: &mut RunReport, reason: String) {
    report.status = RunStatus::Error;
    report.summary = first_line(&reason);
    report.error = Some(reason);
}

fn accept(report: &mut RunReport, outcome: wit::Outcome) {
    let result = if outcome.result.trim().is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_str(&outcome.result)
    };
    match result {
        Err(err) => fail(
            report,
            format!("the skill returned a result that is not JSON: {err}"),
        ),
        Ok(result) => {
            report.result = result;
            report.summary = first_line(&outcome.summary);
            report.status = match outcome.status {
                wit::Status::Ok => RunStatus::Ok,
                wit::Status::NoData => RunStatus::NoData,
                wit::Status::Skipped => RunStatus::Skipped,
                wit::Status::ApprovalRequired => RunStatus::ApprovalRequired,
                wit::Status::Error => RunStatus::Error,
            };
            if report.status == RunStatus::Error {
                report.error = Some(report.summary.clone());
            }
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    line.chars().take(300).collect()
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
