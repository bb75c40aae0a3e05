//! The agent's shared, durable memory: typed key/values, the findings /
//! decisions / escalations lists, and the agent's focus and status.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Result, host, json_text, parse_json};

pub use crate::__bindings::securityclaw::skill::memory::{AgentStatus, Entry, EntryList};

/// A key's value; `None` when unset.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    host::with(|h| h.memory_get(key))?
        .map(|text| parse_json(&format!("memory key `{key}`"), &text))
        .transpose()
}

/// Sets a key's value.
pub fn set<T: Serialize>(key: &str, value: &T) -> Result<()> {
    let value = json_text(value)?;
    host::with(|h| h.memory_set(key, &value))
}

/// Removes a key; true when it existed.
pub fn remove(key: &str) -> Result<bool> {
    host::with(|h| h.memory_remove(key))
}

/// Appends to a list; returns the entry id.
pub fn append(list: EntryList, text: &str, data: Option<&serde_json::Value>) -> Result<u32> {
    let data = data.map(json_text).transpose()?;
    host::with(|h| h.memory_append(&list, text, data.as_deref()))
}

/// The newest entries of a list (at most 1,000), newest first.
pub fn recent(list: EntryList, limit: u32) -> Result<Vec<Entry>> {
    host::with(|h| h.memory_recent(&list, limit))
}

/// Sets (or clears) the agent's focus.
pub fn set_focus(focus: Option<&str>) -> Result<()> {
    host::with(|h| h.memory_set_focus(focus))
}

/// Sets the agent's status.
pub fn set_status(status: AgentStatus) -> Result<()> {
    host::with(|h| h.memory_set_status(&status))
}
