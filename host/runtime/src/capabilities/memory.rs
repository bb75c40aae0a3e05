//! The `memory` capability: the agent's shared, durable memory (key/values,
//! findings / decisions / escalations, focus and status), limited by
//! `grants.memory`. The SQLite store blocks, so every call runs on a
//! blocking thread.

use std::sync::Arc;

use sc_core::CapabilityError;
use sc_core::memory::{AgentStatus, MAX_RECENT, MemoryBackend, MemoryList};

use super::CallContext;
use crate::bindings::securityclaw::skill::memory as wit;
use crate::error::CallError;

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
            .map_err(|err| {
                let reason = panic_reason(err);
                tracing::error!(skill = %self.call.skill_id, %reason, "a memory call failed inside the host");
                CapabilityError::Backend(format!(
                    "the memory database call {reason} (a host bug; the host log has it)"
                ))
            })?
    }
}

/// Why a blocking task ended without an answer: its panic message, or that
/// it was cancelled (the runtime shutting down).
pub(crate) fn panic_reason(err: tokio::task::JoinError) -> String {
    if !err.is_panic() {
        return "was cancelled".to_owned();
    }
    let payload = err.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned());
    format!("panicked: {message}")
}

fn list_of(list: wit::EntryList) -> Result<MemoryList, CapabilityError> {
    match list {
        wit::EntryList::Findings => Ok(MemoryList::Findings),
        wit::EntryList::Decisions => Ok(MemoryList::Decisions),
        wit::EntryList::Escalations => Ok(MemoryList::Escalations),
        wit::EntryList::Other(name) => MemoryList::parse(&name).ok_or_else(|| {
            CapabilityError::InvalidInput(format!(
                "list `{name}` is not one this host keeps (findings, decisions, escalations)"
            ))
        }),
    }
}

fn status_of(status: wit::AgentStatus) -> Result<AgentStatus, CapabilityError> {
    match status {
        wit::AgentStatus::Idle => Ok(AgentStatus::Idle),
        wit::AgentStatus::Active => Ok(AgentStatus::Active),
        wit::AgentStatus::Investigating => Ok(AgentStatus::Investigating),
        wit::AgentStatus::Escalating => Ok(AgentStatus::Escalating),
        wit::AgentStatus::Other(name) => AgentStatus::parse(&name).ok_or_else(|| {
            CapabilityError::InvalidInput(format!(
                "status `{name}` is not one this host knows (idle, active, investigating, escalating)"
            ))
        }),
    }
}

/// An entry id as the WIT's `u32`; past that range, an error rather than
/// a wrapped (and so wrong) id.
fn entry_id(id: i64) -> Result<u32, CapabilityError> {
    u32::try_from(id).map_err(|_| {
        CapabilityError::LimitExceeded(format!(
            "entry id {id} does not fit the WIT's u32; the memory database needs its ids renumbered"
        ))
    })
}

fn check_json(what: &str, text: &str) -> Result<(), CapabilityError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|err| CapabilityError::InvalidInput(format!("{what} is not valid JSON: {err}")))
}

impl wit::Host for MemoryState {
    async fn get(&mut self, key: String) -> Result<Option<String>, CallError> {
        self.call.charge()?;
        self.call.grants.memory_key(&key)?;
        Ok(self.blocking(move |b| b.get(&key)).await?)
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), CallError> {
        self.call.charge()?;
        self.call.grants.memory_key(&key)?;
        check_json("the value", &value)?;
        let skill = self.call.skill_id.clone();
        Ok(self.blocking(move |b| b.set(&skill, &key, &value)).await?)
    }

    async fn remove(&mut self, key: String) -> Result<bool, CallError> {
        self.call.charge()?;
        self.call.grants.memory_key(&key)?;
        Ok(self.blocking(move |b| b.remove(&key)).await?)
    }

    async fn append(
        &mut self,
        list: wit::EntryList,
        text: String,
        data: Option<String>,
    ) -> Result<u32, CallError> {
        self.call.charge()?;
        let list = list_of(list)?;
        self.call.grants.memory_list(list)?;
        if let Some(data) = &data {
            check_json("the entry's data", data)?;
        }
        let skill = self.call.skill_id.clone();
        let id = self
            .blocking(move |b| b.append(list, &skill, &text, data.as_deref()))
            .await?;
        Ok(entry_id(id)?)
    }

    async fn recent(
        &mut self,
        list: wit::EntryList,
        limit: u32,
    ) -> Result<Vec<wit::Entry>, CallError> {
        self.call.charge()?;
        let list = list_of(list)?;
        self.call.grants.memory_list(list)?;
        let entries = self
            .blocking(move |b| b.recent(list, limit.min(MAX_RECENT)))
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| {
                Ok(wit::Entry {
                    id: entry_id(e.id)?,
                    timestamp: e.timestamp,
                    skill_id: e.skill_id,
                    text: e.text,
                    data: e.data.map(|d| d.to_string()),
                })
            })
            .collect::<Result<_, CapabilityError>>()?)
    }

    async fn set_focus(&mut self, focus: Option<String>) -> Result<(), CallError> {
        self.call.charge()?;
        self.call.grants.memory_agent_state()?;
        Ok(self
            .blocking(move |b| b.set_focus(focus.as_deref()))
            .await?)
    }

    async fn set_status(&mut self, status: wit::AgentStatus) -> Result<(), CallError> {
        self.call.charge()?;
        self.call.grants.memory_agent_state()?;
        let status = status_of(status)?;
        Ok(self.blocking(move |b| b.set_status(status)).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sc_core::grants::{GrantCheck, Grants};
    use sc_core::memory::{Alert, AlertStatus, Entry, MemorySnapshot};

    use super::*;

    /// A store whose every call panics, as a host bug would.
    struct Panicking;

    impl MemoryBackend for Panicking {
        fn get(&self, key: &str) -> Result<Option<String>, CapabilityError> {
            panic!("index out of range reading `{key}`")
        }
        fn set(&self, _: &str, _: &str, _: &str) -> Result<(), CapabilityError> {
            unreachable!("not called")
        }
        fn remove(&self, _: &str) -> Result<bool, CapabilityError> {
            unreachable!("not called")
        }
        fn append(
            &self,
            _: MemoryList,
            _: &str,
            _: &str,
            _: Option<&str>,
        ) -> Result<i64, CapabilityError> {
            unreachable!("not called")
        }
        fn recent(&self, _: MemoryList, _: u32) -> Result<Vec<Entry>, CapabilityError> {
            unreachable!("not called")
        }
        fn set_focus(&self, _: Option<&str>) -> Result<(), CapabilityError> {
            unreachable!("not called")
        }
        fn set_status(&self, _: AgentStatus) -> Result<(), CapabilityError> {
            unreachable!("not called")
        }
        fn snapshot(&self, _: u32) -> Result<MemorySnapshot, CapabilityError> {
            unreachable!("not called")
        }
        fn alerts(&self, _: u32) -> Result<Vec<Alert>, CapabilityError> {
            unreachable!("not called")
        }
        fn set_alert_status(&self, _: i64, _: AlertStatus) -> Result<bool, CapabilityError> {
            unreachable!("not called")
        }
    }

    #[tokio::test]
    async fn a_panic_in_the_store_is_reported_as_a_panic_with_its_message() {
        let call = Arc::new(CallContext::new(
            "s".into(),
            "run".into(),
            GrantCheck::new("s", PathBuf::from("instruction.md"), Grants::default()),
            10,
        ));
        let state = MemoryState::new(call, Arc::new(Panicking));
        let err = state
            .blocking(|b| b.get("cursor"))
            .await
            .expect_err("the panic is an error");
        let text = err.to_string();
        assert!(text.contains("panicked"), "{text}");
        assert!(
            text.contains("index out of range reading `cursor`"),
            "{text}"
        );
    }

    #[test]
    fn lists_and_statuses_a_newer_guest_names_are_read_or_refused() {
        assert_eq!(
            list_of(wit::EntryList::Other("findings".into())),
            Ok(MemoryList::Findings)
        );
        assert!(list_of(wit::EntryList::Other("notes".into())).is_err());
        assert_eq!(
            status_of(wit::AgentStatus::Other("idle".into())),
            Ok(AgentStatus::Idle)
        );
        assert!(entry_id(i64::from(u32::MAX) + 1).is_err());
    }
}
