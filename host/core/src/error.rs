//! Why a capability call failed, as the guest and the audit trail see it:
//! one typed error shared by every backend, with one text per kind.

use serde::Serialize;

/// Why a capability call failed. Every variant reaches the guest as the
/// WIT `capability-error` of the same name; the runtime adds the traps
/// (host bugs, exhausted run limits) that end a run instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// Not granted; says what to add.
    #[error("denied: {0}")]
    Denied(String),
    /// A malformed argument.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No backend configured; names the config key.
    #[error("not configured: {0}")]
    NotConfigured(String),
    /// The backend failed, or answered something unreadable.
    #[error("backend error: {0}")]
    Backend(String),
    /// The backend did not answer in time.
    #[error("timed out")]
    Timeout,
    /// A per-call budget ran out.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A model's answer did not match the requested shape.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// A kind this host does not name (a guest may pass on one it got from
    /// a newer host); the text starts with the kind's name.
    #[error("{0}")]
    Other(String),
}

/// The kind of a [`CapabilityError`], without its text: what the audit
/// trail records and callers match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`CapabilityError::Denied`].
    Denied,
    /// [`CapabilityError::InvalidInput`].
    InvalidInput,
    /// [`CapabilityError::NotConfigured`].
    NotConfigured,
    /// [`CapabilityError::Backend`].
    Backend,
    /// [`CapabilityError::Timeout`].
    Timeout,
    /// [`CapabilityError::LimitExceeded`].
    LimitExceeded,
    /// [`CapabilityError::InvalidOutput`].
    InvalidOutput,
    /// [`CapabilityError::Other`].
    Other,
}

impl ErrorKind {
    /// The kind's name as recorded: `denied`, `invalid_input`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::InvalidInput => "invalid_input",
            Self::NotConfigured => "not_configured",
            Self::Backend => "backend",
            Self::Timeout => "timeout",
            Self::LimitExceeded => "limit_exceeded",
            Self::InvalidOutput => "invalid_output",
            Self::Other => "other",
        }
    }
}

impl CapabilityError {
    /// Which kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Denied(_) => ErrorKind::Denied,
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::NotConfigured(_) => ErrorKind::NotConfigured,
            Self::Backend(_) => ErrorKind::Backend,
            Self::Timeout => ErrorKind::Timeout,
            Self::LimitExceeded(_) => ErrorKind::LimitExceeded,
            Self::InvalidOutput(_) => ErrorKind::InvalidOutput,
            Self::Other(_) => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_starts_with_the_kind_and_the_kind_is_typed() {
        let err = CapabilityError::NotConfigured("set `llm.provider`".into());
        assert_eq!(err.to_string(), "not configured: set `llm.provider`");
        assert_eq!(err.kind(), ErrorKind::NotConfigured);
        assert_eq!(err.kind().as_str(), "not_configured");
        // A message with a colon of its own no longer changes the kind the
        // audit trail records.
        let backend = CapabilityError::Backend("ollama: model not found".into());
        assert_eq!(backend.kind().as_str(), "backend");
    }
}
