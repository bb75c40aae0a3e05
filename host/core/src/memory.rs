//! The agent's memory behind the `memory` capability, in plain Rust types:
//! its lists, entries, status, the escalations as alerts, and the store
//! trait. The store blocks (SQLite), so callers run it off async workers.

use serde::{Deserialize, Serialize};

use crate::error::CapabilityError;

/// A list in shared memory.
#[derive(
    Debug,
    Clone,
    Copy,
    Serialize,
    Deserialize,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MemoryList {
    /// Things skills noticed.
    Findings,
    /// Verdicts and choices.
    Decisions,
    /// Items waiting for an analyst.
    Escalations,
}

impl MemoryList {
    /// The name used in manifests and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Findings => "findings",
            Self::Decisions => "decisions",
            Self::Escalations => "escalations",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Findings, Self::Decisions, Self::Escalations]
            .into_iter()
            .find(|l| l.as_str() == name)
    }
}

/// The agent's status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentStatus {
    /// Nothing in progress.
    Idle,
    /// Routine work.
    Active,
    /// Looking into something.
    Investigating,
    /// Waiting on an analyst.
    Escalating,
}

impl AgentStatus {
    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "IDLE",
            Self::Active => "ACTIVE",
            Self::Investigating => "INVESTIGATING",
            Self::Escalating => "ESCALATING",
        }
    }

    /// Parses a stored name (or, case-insensitively, a name a guest sent).
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Idle,
            Self::Active,
            Self::Investigating,
            Self::Escalating,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// An entry of a list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Increasing id.
    pub id: i64,
    /// RFC 3339 time it was written.
    pub timestamp: String,
    /// Who wrote it.
    pub skill_id: String,
    /// One line.
    pub text: String,
    /// Details as JSON.
    pub data: Option<serde_json::Value>,
}

/// Where an analyst is with an escalation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Nobody has looked yet.
    Unread,
    /// Seen.
    Read,
    /// Being worked on.
    Investigating,
    /// Done.
    Resolved,
}

impl AlertStatus {
    /// Name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unread => "unread",
            Self::Read => "read",
            Self::Investigating => "investigating",
            Self::Resolved => "resolved",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Unread,
            Self::Read,
            Self::Investigating,
            Self::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// An escalation as an alert for analysts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// The escalation entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// Where an analyst is with it.
    pub status: AlertStatus,
}

/// What `sc-host status` and `GET /api/memory` show.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MemorySnapshot {
    /// The agent's status.
    pub status: AgentStatus,
    /// What it is focused on.
    pub focus: Option<String>,
    /// Newest findings first.
    pub findings: Vec<Entry>,
    /// Newest decisions first.
    pub decisions: Vec<Entry>,
    /// Newest escalations first.
    pub escalations: Vec<Entry>,
    /// How many keys are set.
    pub keys: u64,
}

/// The most entries one `recent` call returns.
pub const MAX_RECENT: u32 = 1_000;

/// The durable store behind `memory`. Its calls block (SQLite waits up to
/// its busy timeout for another process), so async callers run them on a
/// blocking thread.
pub trait MemoryBackend: Send + Sync {
    /// A key's JSON value.
    fn get(&self, key: &str) -> Result<Option<String>, CapabilityError>;
    /// Sets a key's JSON value on behalf of `skill_id`.
    fn set(&self, skill_id: &str, key: &str, value: &str) -> Result<(), CapabilityError>;
    /// Removes a key.
    fn remove(&self, key: &str) -> Result<bool, CapabilityError>;
    /// Appends an entry; returns its id.
    fn append(
        &self,
        list: MemoryList,
        skill_id: &str,
        text: &str,
        data: Option<&str>,
    ) -> Result<i64, CapabilityError>;
    /// Newest entries first.
    fn recent(&self, list: MemoryList, limit: u32) -> Result<Vec<Entry>, CapabilityError>;
    /// Sets or clears the focus.
    fn set_focus(&self, focus: Option<&str>) -> Result<(), CapabilityError>;
    /// Sets the status.
    fn set_status(&self, status: AgentStatus) -> Result<(), CapabilityError>;
    /// Status, focus and the newest `limit` entries of each list.
    fn snapshot(&self, limit: u32) -> Result<MemorySnapshot, CapabilityError>;
    /// Escalations with their alert status, newest first.
    fn alerts(&self, limit: u32) -> Result<Vec<Alert>, CapabilityError>;
    /// Sets an escalation's alert status; false when there is no such escalation.
    fn set_alert_status(&self, id: i64, status: AlertStatus) -> Result<bool, CapabilityError>;
}
