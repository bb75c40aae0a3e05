//! The `memory` capability: the agent's shared, durable memory (key/values,
//! findings / decisions / escalations, focus and status), limited by
//! `grants.memory`.

use std::sync::Arc;

use super::grants::MemoryList;
use super::{CallContext, CapabilityError};
use crate::runtime::bindings::securityclaw::skill::memory as wit;

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

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Idle,
            Self::Active,
            Self::Investigating,
            Self::Escalating,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
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

/// The durable store behind `memory`.
pub trait MemoryBackend: Send + Sync {
    /// A key's JSON value.
    fn get(&self, key: &str) -> Result<Option<String>, CapabilityError>;
    /// Sets a key's JSON value on behalf of `skill_id`.
    fn set(&self, skill_id: &str, key: &str, value: &str) -> Result<(), CapabilityError>;
    /// Removes a key.
    fn delete(&self, key: &str) -> Result<bool, CapabilityError>;
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

/// Per-call state of `memory`.
pub struct MemoryState {
    call: Arc<CallContext>,
    backend: Arc<dyn MemoryBackend>,
}

impl MemoryState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, backend: Arc<dyn MemoryBackend>) -> Self {
        Self { call, backend }
    }

    /// Runs a database call off the async workers: SQLite blocks (up to its
    /// busy timeout when another process holds the lock).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn MemoryBackend) -> Result<T, CapabilityError> + Send + 'static,
    ) -> Result<T, CapabilityError> {
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || work(backend.as_ref()))
            .await
            .map_err(|_| CapabilityError::Backend("the memory database call failed".to_owned()))?
    }
}

fn list_of(list: wit::EntryList) -> MemoryList {
    match list {
        wit::EntryList::Findings => MemoryList::Findings,
        wit::EntryList::Decisions => MemoryList::Decisions,
        wit::EntryList::Escalations => MemoryList::Escalations,
    }
}

fn check_json(what: &str, text: &str) -> Result<(), CapabilityError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|err| CapabilityError::InvalidInput(format!("{what} is not valid JSON: {err}")))
}

impl wit::Host for MemoryState {
    async fn get(&mut self, key: String) -> Result<Option<String>, CapabilityError> {
        self.call.charge()?;
        self.call.grants.memory_key(&key)?;
        self.blocking(move |b| b.get(&key)).await
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), CapabilityError> {
        self.call.charge()?;
        self.call.grants.memory_key(&key)?;
        check_json("the value", &value)?;
        let skill = self.call.skill_id.clone();
        self.blocking(move |b| b.set(&skill, &key, &value)).await
    }

    async fn delete(&mut self, key: String) -> Result<bool, CapabilityError> {
        self.call.charge()?;
        self.call.grants.memory_key(&key)?;
        self.blocking(move |b| b.delete(&key)).await
    }

    async fn append(
        &mut self,
        list: wit::EntryList,
        text: String,
        data: Option<String>,
    ) -> Result<i64, CapabilityError> {
        self.call.charge()?;
        let list = list_of(list);
        self.call.grants.memory_list(list)?;
        if let Some(data) = &data {
            check_json("the entry's data", data)?;
        }
        let skill = self.call.skill_id.clone();
        self.blocking(move |b| b.append(list, &skill, &text, data.as_deref()))
            .await
    }

    async fn recent(
        &mut self,
        list: wit::EntryList,
        limit: u32,
    ) -> Result<Vec<wit::Entry>, CapabilityError> {
        self.call.charge()?;
        let list = list_of(list);
        self.call.grants.memory_list(list)?;
        let entries = self
            .blocking(move |b| b.recent(list, limit.min(1_000)))
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| wit::Entry {
                id: e.id,
                timestamp: e.timestamp,
                skill_id: e.skill_id,
                text: e.text,
                data: e.data.map(|d| d.to_string()),
            })
            .collect())
    }

    async fn set_focus(&mut self, focus: Option<String>) -> Result<(), CapabilityError> {
        self.call.charge()?;
        self.call.grants.memory_agent_state()?;
        self.blocking(move |b| b.set_focus(focus.as_deref())).await
    }

    async fn set_status(&mut self, status: wit::AgentStatus) -> Result<(), CapabilityError> {
        self.call.charge()?;
        self.call.grants.memory_agent_state()?;
        let status = match status {
            wit::AgentStatus::Idle => AgentStatus::Idle,
            wit::AgentStatus::Active => AgentStatus::Active,
            wit::AgentStatus::Investigating => AgentStatus::Investigating,
            wit::AgentStatus::Escalating => AgentStatus::Escalating,
        };
        self.blocking(move |b| b.set_status(status)).await
    }
}
