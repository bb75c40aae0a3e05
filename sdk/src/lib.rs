//! Write SecurityClaw skills in Rust: implement [`Skill`], call
//! [`export_skill!`], and reach the outside world through the typed
//! capability modules ([`db`], [`llm`], [`rag`], [`memory`], [`log`],
//! [`config`], [`http`], [`files`]). The generated WIT bindings stay hidden; the WIT
//! this SDK speaks ships inside the package (`wit/`), and
//! [`wit_version`] is read from it.
//!
//! With the `testing` feature, [`testing::MockHost`] answers every
//! capability from canned values and records the calls, so a skill's logic
//! runs under plain `cargo test` on the build machine.
//!
//! ```ignore
//! use securityclaw_sdk::{export_skill, log, Invocation, Outcome, Skill, SkillError};
//!
//! struct Hello;
//!
//! impl Skill for Hello {
//!     fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
//!         let name: String = invocation.param("name")?.unwrap_or_else(|| "world".into());
//!         log::info(&format!("greeting {name}"));
//!         Ok(Outcome::ok(format!("hello, {name}"), serde_json::json!({ "name": name })))
//!     }
//! }
//!
//! export_skill!(Hello);
//! ```

pub mod config;
pub mod db;
pub mod files;
mod host;
pub mod http;
pub mod llm;
pub mod log;
pub mod memory;
pub mod rag;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod time;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use time::Timestamp;

/// The generated bindings; not part of the API.
#[doc(hidden)]
pub mod __bindings {
    #![allow(missing_docs, reason = "generated code; the WIT files carry the docs")]
    #![allow(unused_qualifications, reason = "generated code")]
    #![allow(
        clippy::too_many_arguments,
        reason = "generated code mirrors the WIT signatures"
    )]
    wit_bindgen::generate!({
        path: "wit",
        world: "skill",
        pub_export_macro: true,
        export_macro_name: "__export_skill_world",
        default_bindings_module: "::securityclaw_sdk::__bindings",
        additional_derives: [PartialEq],
    });
}

/// The WIT this SDK carries; its `package` line holds the version.
const WORLD_WIT: &str = include_str!("../wit/world.wit");

/// The WIT package version this SDK speaks (`0.2.0`), read from the copy
/// of the WIT it carries.
pub fn wit_version() -> &'static str {
    static VERSION: OnceLock<&'static str> = OnceLock::new();
    VERSION.get_or_init(|| {
        WORLD_WIT
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("package securityclaw:skill@")?
                    .strip_suffix(';')
            })
            .unwrap_or("unknown")
    })
}

/// Why a capability call failed (`denied`, `not-configured`, …).
pub use __bindings::securityclaw::skill::types::CapabilityError;

/// Results of capability calls.
pub type Result<T, E = CapabilityError> = std::result::Result<T, E>;

/// One line for people, e.g. ``denied: skill `x` may not read …``: the
/// SDK's one text for each kind of failure.
pub fn describe(error: &CapabilityError) -> String {
    match error {
        CapabilityError::Denied(m) => format!("denied: {m}"),
        CapabilityError::InvalidInput(m) => format!("invalid input: {m}"),
        CapabilityError::NotConfigured(m) => format!("not configured: {m}"),
        CapabilityError::Backend(m) => format!("backend error: {m}"),
        CapabilityError::Timeout => "timed out".to_owned(),
        CapabilityError::LimitExceeded(m) => format!("limit exceeded: {m}"),
        CapabilityError::InvalidOutput(m) => format!("invalid output: {m}"),
        CapabilityError::Other(m) => m.clone(),
    }
}

/// What started a run.
pub use __bindings::Trigger;

/// A result of another skill earlier in the same conversation.
pub use __bindings::PriorResult;

/// The conversation around a chat-triggered run.
pub use __bindings::ChatContext;

/// How a run ended.
pub use __bindings::Status;

/// Everything a skill is told about one run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The run's id, as the host's history names it.
    pub run_id: String,
    /// What started the run.
    pub trigger: Trigger,
    /// The run's clock time: compute time ranges from it (a replay of a
    /// past capture sets it in the past).
    pub now: Timestamp,
    /// Wall-clock time the run may take from its start.
    pub time_limit: Duration,
    /// Parameters (a JSON object), checked against the manifest's schema.
    pub parameters: Value,
    /// The conversation, for chat runs.
    pub chat: Option<ChatContext>,
    started: Instant,
}

impl Invocation {
    /// An invocation as a test builds one: `trigger` and `parameters`, run
    /// id `test-run`, `now` at 2026-01-01T00:00:00Z, 30 s to run.
    pub fn new(trigger: Trigger, parameters: Value) -> Self {
        Self {
            run_id: "test-run".to_owned(),
            trigger,
            now: Timestamp::from_epoch_millis(1_767_225_600_000),
            time_limit: Duration::from_secs(30),
            parameters,
            chat: None,
            started: Instant::now(),
        }
    }

    /// The same invocation at another clock time.
    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// The trigger as a word: `schedule`, `dispatch`, `chat`, `startup`, or
    /// the name a newer host sent.
    pub fn trigger_name(&self) -> &str {
        match &self.trigger {
            Trigger::Schedule => "schedule",
            Trigger::Dispatch => "dispatch",
            Trigger::Chat => "chat",
            Trigger::Startup => "startup",
            Trigger::Other(name) => name,
        }
    }

    /// Wall-clock time left before the host stops the run.
    pub fn remaining(&self) -> Duration {
        self.time_limit.saturating_sub(self.started.elapsed())
    }

    /// One parameter, deserialized; `None` when absent or `null`.
    pub fn param<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, SkillError> {
        match self.parameters.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|err| SkillError::InvalidInput(format!("parameter `{name}`: {err}"))),
        }
    }

    /// All parameters as one type.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, SkillError> {
        serde_json::from_value(self.parameters.clone())
            .map_err(|err| SkillError::InvalidInput(format!("parameters: {err}")))
    }
}

/// What a skill returns from a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// How the run ended.
    pub status: Status,
    /// What it found.
    pub result: Value,
    /// One line for people.
    pub summary: String,
    /// Why `result` could not be made (a value that does not serialize):
    /// the run then ends as an error, never as a success without it.
    unserializable: Option<String>,
}

impl Outcome {
    fn new(status: Status, summary: impl Into<String>, result: Value) -> Self {
        Self {
            status,
            result,
            summary: summary.into(),
            unserializable: None,
        }
    }

    fn with_result(status: Status, summary: impl Into<String>, result: impl Serialize) -> Self {
        match serde_json::to_value(result) {
            Ok(value) => Self::new(status, summary, value),
            Err(err) => Self {
                unserializable: Some(err.to_string()),
                ..Self::new(status, summary, Value::Null)
            },
        }
    }

    /// The skill did its work.
    pub fn ok(summary: impl Into<String>, result: impl Serialize) -> Self {
        Self::with_result(Status::Ok, summary, result)
    }

    /// Nothing to work on.
    pub fn no_data(summary: impl Into<String>) -> Self {
        Self::new(Status::NoData, summary, Value::Null)
    }

    /// The skill chose not to run.
    pub fn skipped(summary: impl Into<String>) -> Self {
        Self::new(Status::Skipped, summary, Value::Null)
    }

    /// The same outcome carrying `result`: a `no_data` or `skipped` run can
    /// still say what it saw.
    pub fn with(self, result: impl Serialize) -> Self {
        Self::with_result(self.status, self.summary, result)
    }

    /// The next step needs an operator's approval; `result` says what.
    pub fn approval_required(summary: impl Into<String>, result: impl Serialize) -> Self {
        Self::with_result(Status::ApprovalRequired, summary, result)
    }
}

/// Why a run produced no outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum SkillError {
    /// The parameters were unusable.
    InvalidInput(String),
    /// A capability failed and the skill could not go on.
    Capability(CapabilityError),
    /// Anything else.
    Failed(String),
}

impl From<CapabilityError> for SkillError {
    fn from(err: CapabilityError) -> Self {
        Self::Capability(err)
    }
}

impl std::fmt::Display for SkillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Capability(e) => f.write_str(&describe(e)),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SkillError {}

/// A skill: one function that runs per invocation.
pub trait Skill {
    /// Runs once.
    fn run(invocation: Invocation) -> Result<Outcome, SkillError>;
}

/// Glue between the generated export and [`Skill`]; used by
/// [`export_skill!`] and by the mock host, so a test runs the very path a
/// component does.
#[doc(hidden)]
pub fn __run<S: Skill>(
    invocation: __bindings::Invocation,
) -> std::result::Result<__bindings::Outcome, __bindings::SkillError> {
    let parameters = if invocation.parameters.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(&invocation.parameters).map_err(|err| {
            __bindings::SkillError::InvalidInput(format!("parameters are not JSON: {err}"))
        })?
    };
    let now = Timestamp::parse_rfc3339(&invocation.now).ok_or_else(|| {
        __bindings::SkillError::InvalidInput(format!(
            "the host sent `{}` as the run's time, which is not RFC 3339",
            invocation.now
        ))
    })?;
    let invocation = Invocation {
        run_id: invocation.run_id,
        trigger: invocation.trigger,
        now,
        time_limit: Duration::from_millis(u64::from(invocation.time_limit_ms)),
        parameters,
        chat: invocation.chat,
        started: Instant::now(),
    };
    match S::run(invocation) {
        Ok(Outcome {
            unserializable: Some(reason),
            ..
        }) => Err(__bindings::SkillError::Failed(format!(
            "the skill's result could not be serialized to JSON: {reason}"
        ))),
        Ok(outcome) => Ok(__bindings::Outcome {
            status: outcome.status,
            result: outcome.result.to_string(),
            summary: outcome.summary,
        }),
        Err(SkillError::InvalidInput(m)) => Err(__bindings::SkillError::InvalidInput(m)),
        Err(SkillError::Capability(e)) => Err(__bindings::SkillError::Capability(e)),
        Err(SkillError::Failed(m)) => Err(__bindings::SkillError::Failed(m)),
    }
}

/// Exports a type implementing [`Skill`] as the component's `run`.
#[macro_export]
macro_rules! export_skill {
    ($skill:ty) => {
        #[doc(hidden)]
        struct __SecurityClawSkillExport;

        impl $crate::__bindings::Guest for __SecurityClawSkillExport {
            fn run(
                invocation: $crate::__bindings::Invocation,
            ) -> ::core::result::Result<$crate::__bindings::Outcome, $crate::__bindings::SkillError> {
                $crate::__run::<$skill>(invocation)
            }
        }

        $crate::__bindings::__export_skill_world!(__SecurityClawSkillExport with_types_in $crate::__bindings);
    };
}

/// JSON text for a value the host will parse; capability helpers use it.
pub(crate) fn json_text(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|err| CapabilityError::InvalidInput(format!("cannot serialize to JSON: {err}")))
}

/// Parses JSON text the host returned. An answer of the wrong shape is the
/// backend's problem, not an invalid input of the skill.
pub(crate) fn parse_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| {
        CapabilityError::Backend(format!("{what} does not have the expected shape: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The SDK carries its own copy of the WIT (so it builds from git or a
    /// registry); it must be the repository's `wit/`, file for file.
    #[test]
    fn the_wit_copy_equals_the_repository_wit() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |dir: &Path| {
            let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
                .expect("a wit folder")
                .map(|entry| entry.expect("entry").path())
                .filter(|path| path.extension().is_some_and(|e| e == "wit"))
                .map(|path| {
                    let name = path
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned();
                    (name, std::fs::read_to_string(&path).expect("read"))
                })
                .collect();
            files.sort();
            files
        };
        let repository = read(&sdk.join("../wit"));
        let copy = read(&sdk.join("wit"));
        assert!(!repository.is_empty());
        let names =
            |files: &[(String, String)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&copy), names(&repository), "the same files");
        for ((name, a), (_, b)) in copy.iter().zip(&repository) {
            assert!(
                a == b,
                "sdk/wit/{name} differs from wit/{name}: copy wit/*.wit to sdk/wit/"
            );
        }
    }

    #[test]
    fn the_version_is_the_one_the_wit_declares() {
        assert_eq!(super::wit_version().split('.').count(), 3);
        assert!(super::WORLD_WIT.contains(&format!("@{};", super::wit_version())));
    }
}
