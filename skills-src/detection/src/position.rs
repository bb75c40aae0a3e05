//! Where a skill read a stream of stored records up to: the last time read
//! and the ids read at that time, so a page boundary inside one instant
//! neither skips nor repeats a record. Triage and `sigma_detector` keep
//! theirs in memory between runs.

use securityclaw_sdk::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where one stream was read up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Last time read, epoch milliseconds.
    pub at_ms: i64,
    /// Ids read at exactly that time.
    #[serde(default)]
    pub ids: Vec<String>,
    /// The last id read at that time, for streams that page on time then
    /// id (one key marks the place however many share a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<String>,
}

impl Position {
    /// Nothing read yet; reading starts at `at_ms`.
    pub fn at(at_ms: i64) -> Self {
        Self {
            at_ms,
            ..Self::default()
        }
    }

    /// Records that `id`, of time `at_ms`, was read.
    pub fn advance(&mut self, at_ms: i64, id: &str) {
        if at_ms > self.at_ms {
            self.at_ms = at_ms;
            self.ids.clear();
        }
        self.ids.push(id.to_owned());
    }

    /// Whether a record of time `at_ms` and id `id` was read already.
    pub fn has_read(&self, at_ms: i64, id: &str) -> bool {
        at_ms < self.at_ms || at_ms == self.at_ms && self.ids.iter().any(|i| i == id)
    }
}

/// A time value (RFC 3339 text or epoch milliseconds) as epoch milliseconds.
pub fn epoch_millis(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => Timestamp::parse_rfc3339(s).map(Timestamp::epoch_millis),
        _ => None,
    }
}
