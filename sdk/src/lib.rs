//! Write SecurityClaw skills in Rust: implement [`Skill`], call
//! [`export_skill!`], and reach the outside world through the typed
//! capability modules ([`db`], [`llm`], [`rag`], [`memory`], [`log`],
//! [`config`], [`http`]). The generated WIT bindings stay hidden.
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
pub mod http;
pub mod llm;
pub mod log;
pub mod memory;
pub mod rag;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
        path: "../wit",
        world: "skill",
        pub_export_macro: true,
        export_macro_name: "__export_skill_world",
        default_bindings_module: "::securityclaw_sdk::__bindings",
        additional_derives: [PartialEq],
    });
}

/// The WIT package version this SDK speaks.
pub const WIT_VERSION: &str = "securityclaw:skill@0.1.0";

/// Why a capability call failed (`denied`, `not-configured`, …).
pub use __bindings::securityclaw::skill::types::Error;

/// Results of capability calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One line for people, e.g. `denied: skill `x` may not read …`.
pub fn describe(error: &Error) -> String {
    match error {
        Error::Denied(m) => format!("denied: {m}"),
        Error::InvalidInput(m) => format!("invalid input: {m}"),
        Error::NotConfigured(m) => format!("not configured: {m}"),
        Error::Backend(m) => format!("backend error: {m}"),
        Error::Timeout => "timed out".to_owned(),
        Error::LimitExceeded(m) => format!("limit exceeded: {m}"),
        Error::InvalidOutput(m) => format!("invalid output: {m}"),
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
    /// What started the run.
    pub trigger: Trigger,
    /// Parameters (a JSON object).
    pub parameters: Value,
    /// The conversation, for chat runs.
    pub chat: Option<ChatContext>,
}

impl Invocation {
    /// The trigger as a word: `schedule`, `dispatch`, `chat` or `startup`.
    pub fn trigger_name(&self) -> &'static str {
        match self.trigger {
            Trigger::Schedule => "schedule",
            Trigger::Dispatch => "dispatch",
            Trigger::Chat => "chat",
            Trigger::Startup => "startup",
        }
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
}

impl Outcome {
    fn new(status: Status, summary: impl Into<String>, result: Value) -> Self {
        Self {
            status,
            result,
            summary: summary.into(),
        }
    }

    /// The skill did its work.
    pub fn ok(summary: impl Into<String>, result: impl Serialize) -> Self {
        Self::new(Status::Ok, summary, to_value(result))
    }

    /// Nothing to work on.
    pub fn no_data(summary: impl Into<String>) -> Self {
        Self::new(Status::NoData, summary, Value::Null)
    }

    /// The skill chose not to run.
    pub fn skipped(summary: impl Into<String>) -> Self {
        Self::new(Status::Skipped, summary, Value::Null)
    }

    /// The next step needs an operator's approval; `result` says what.
    pub fn approval_required(summary: impl Into<String>, result: impl Serialize) -> Self {
        Self::new(Status::ApprovalRequired, summary, to_value(result))
    }
}

fn to_value(result: impl Serialize) -> Value {
    serde_json::to_value(result)
        .unwrap_or_else(|err| Value::String(format!("unserializable result: {err}")))
}

/// Why a run produced no outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum SkillError {
    /// The parameters were unusable.
    InvalidInput(String),
    /// A capability failed and the skill could not go on.
    Capability(Error),
    /// Anything else.
    Failed(String),
}

impl From<Error> for SkillError {
    fn from(err: Error) -> Self {
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
/// [`export_skill!`].
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
    let invocation = Invocation {
        trigger: invocation.trigger,
        parameters,
        chat: invocation.chat,
    };
    match S::run(invocation) {
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
        .map_err(|err| Error::InvalidInput(format!("cannot serialize to JSON: {err}")))
}

/// Parses JSON text the host returned.
pub(crate) fn parse_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| {
        Error::InvalidInput(format!("{what} does not match the expected type: {err}"))
    })
}
