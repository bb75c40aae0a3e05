//! The agent's shared, durable memory: typed key/values, the findings /
//! decisions / escalations lists, and the agent's focus and status.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__bindings::securityclaw::skill::memory as wit;
use crate::{Result, json_text, parse_json};

pub use wit::{AgentStatus, Entry, EntryList};

/// A key's value; `None` when unset.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    wit::get(key)?
        .map(|text| parse_json(&format!("memory key `{key}`"), &text))
        .transpose()
}

/// Sets a key's value.
pub fn set<T: Serialize>(key: &str, value: &T) -> Result<()> {
    wit::set(key, &json_text(value)?)
}

/// Removes a key; true when it existed.
pub fn delete(key: &str) -> Result<bool> {
    wit::delete(key)
}

/// Appends to a list; returns the entry id.
pub fn append(list: EntryList, text: &str, data: Option<&serde_json::Value>) -> Result<i64> {
    let data = data.map(json_text).transpose()?;
    wit::append(list, text, data.as_deref())
}

/// The newest entries of a list, newest first.
pub fn recent(list: EntryList, limit: u32) -> Result<Vec<Entry>> {
    wit::recent(list, limit)
}

/// Sets (or clears) the agent's focus.
pub fn set_focus(focus: Option<&str>) -> Result<()> {
    wit::set_focus(focus)
}

/// Sets the agent's status.
pub fn set_status(status: AgentStatus) -> Result<()> {
    wit::set_status(status)
}
