//! The `log` capability: structured log lines into the host's log, tagged
//! with the skill id. No grant needed; the number of lines per run is capped.

use std::sync::Arc;

use super::CallContext;
use crate::bindings::securityclaw::skill::log as wit;

/// Longest message kept; longer ones are cut.
const MAX_MESSAGE_CHARS: usize = 4_096;

/// Per-call state of `log`.
pub struct LogState {
    call: Arc<CallContext>,
    written: u64,
    limit: u64,
}

impl LogState {
    /// State for one run that may write `limit` lines.
    pub fn new(call: Arc<CallContext>, limit: u64) -> Self {
        Self {
            call,
            written: 0,
            limit,
        }
    }
}

/// Escapes control characters (newlines included), so a skill cannot forge
/// extra lines or terminal sequences in the host's log.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

fn cut(text: &str) -> &str {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

impl wit::Host for LogState {
    async fn write(
        &mut self,
        level: wit::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.call.charge()?;
        self.written += 1;
        if self.written > self.limit {
            if self.written == self.limit + 1 {
                tracing::warn!(skill = %self.call.skill_id, limit = self.limit, "log line limit reached; further lines of this run are dropped");
            }
            return Ok(());
        }
        let skill = self.call.skill_id.as_str();
        let message = printable(cut(&message));
        // Field values are data from the skill; `?` quotes and escapes them.
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (cut(k), cut(v))).collect();
        match level {
            wit::Level::Trace => tracing::trace!(target: "skill", skill, ?fields, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "skill", skill, ?fields, "{message}"),
            wit::Level::Info => tracing::info!(target: "skill", skill, ?fields, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "skill", skill, ?fields, "{message}"),
            wit::Level::Error => tracing::error!(target: "skill", skill, ?fields, "{message}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("ok"), "ok");
        assert_eq!(
            printable("a\nINFO forged\r\x1b[2J"),
            "a\\nINFO forged\\r\\u{1b}[2J"
        );
    }
}
