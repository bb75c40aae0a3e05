//! What a run is, whoever starts it: its trigger, how it ended, its report,
//! and the events a live view hears while runs start and finish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

impl Trigger {
    /// The name as stored and shown: `schedule`, `dispatch`, `chat`, `startup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Dispatch => "dispatch",
            Self::Chat => "chat",
            Self::Startup => "startup",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Schedule, Self::Dispatch, Self::Chat, Self::Startup]
            .into_iter()
            .find(|t| t.as_str() == name)
    }

    /// Who acts when nobody else is named: the scheduler for its runs, the
    /// CLI for dispatches, the chat for chat runs.
    pub fn default_actor(self) -> &'static str {
        match self {
            Self::Schedule | Self::Startup => "scheduler",
            Self::Dispatch => "cli",
            Self::Chat => "chat",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The name as stored and shown: `ok`, `no_data`, `skipped`,
    /// `approval_required`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoData => "no_data",
            Self::Skipped => "skipped",
            Self::ApprovalRequired => "approval_required",
            Self::Error => "error",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Ok,
            Self::NoData,
            Self::Skipped,
            Self::ApprovalRequired,
            Self::Error,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Exit code for `sc-host dispatch`: 0 unless the run failed.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Error => 1,
            _ => 0,
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunReport {
    /// The run's id (a UUID), as the history and the audit trail name it.
    pub run_id: String,
    /// The skill.
    pub skill: String,
    /// What started it.
    pub trigger: Trigger,
    /// How it ended.
    pub status: RunStatus,
    /// One line for people.
    pub summary: String,
    /// The skill's result (JSON), `null` when none.
    pub result: Value,
    /// Why the run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run's clock time (RFC 3339), as the skill was told.
    pub now: String,
    /// Wall time of the run in milliseconds.
    pub execution_time_ms: f64,
    /// Capability calls the run made.
    pub host_calls: u64,
}

/// What a live view (the console, an SSE stream) hears about runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// A run began.
    Started {
        /// The run's id.
        run_id: String,
        /// The skill.
        skill: String,
        /// What started it.
        trigger: Trigger,
        /// Who asked for it (a token id, `scheduler`, `cli`…).
        actor: String,
        /// Wall-clock start (RFC 3339).
        started_at: String,
    },
    /// A run ended, with its report.
    Finished(RunReport),
}

/// A result of another skill that ran earlier in the same conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorResult {
    /// The skill that produced it.
    pub skill_id: String,
    /// Its one-line summary.
    pub summary: String,
    /// Its result.
    pub result: Value,
}

/// The conversation around a run the chat supervisor asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatContext {
    /// The analyst's question, verbatim (data, not instructions).
    pub question: String,
    /// Stable id of the conversation.
    pub conversation_id: String,
    /// Results of the skills that already ran for this question.
    pub prior_results: Vec<PriorResult>,
}

/// One request to run a skill, whoever makes it: the scheduler, the CLI,
/// the API, the chat supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The skill to run.
    pub skill: String,
    /// What starts it.
    pub trigger: Trigger,
    /// Its parameters (a JSON object; checked against the manifest's schema).
    pub parameters: Value,
    /// Who asks (a token id, `scheduler`, `cli`, `chat`…), for the audit trail.
    pub actor: String,
    /// The conversation, for chat runs.
    pub chat: Option<ChatContext>,
    /// The run's clock time; the host's clock when absent (a replay sets it).
    pub now: Option<DateTime<Utc>>,
}

impl RunRequest {
    /// A request with no chat context, on the host's clock, by the actor
    /// the trigger implies.
    pub fn new(skill: impl Into<String>, trigger: Trigger, parameters: Value) -> Self {
        Self {
            skill: skill.into(),
            trigger,
            parameters,
            actor: trigger.default_actor().to_owned(),
            chat: None,
            now: None,
        }
    }

    /// The same request on behalf of `actor`.
    pub fn by(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }
}

/// A new run id.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// RFC 3339 in UTC with milliseconds, the one form times take in reports,
/// invocations and records.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_what_serde_writes_and_parse_back() {
        for status in [
            RunStatus::Ok,
            RunStatus::NoData,
            RunStatus::Skipped,
            RunStatus::ApprovalRequired,
            RunStatus::Error,
        ] {
            let serialized = serde_json::to_value(status).expect("serialize");
            assert_eq!(serialized, status.as_str());
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        for trigger in [
            Trigger::Schedule,
            Trigger::Dispatch,
            Trigger::Chat,
            Trigger::Startup,
        ] {
            assert_eq!(
                serde_json::to_value(trigger).expect("serialize"),
                trigger.as_str()
            );
            assert_eq!(Trigger::parse(trigger.as_str()), Some(trigger));
        }
    }
}
