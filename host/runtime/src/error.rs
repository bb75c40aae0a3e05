//! Errors of a capability call as the runtime sees them: a
//! [`CapabilityError`] the guest receives as a value, or a trap that ends
//! the run (the split wasmtime-wasi's `TrappableError` makes), plus the run
//! limits whose breach is such a trap.

use sc_core::CapabilityError;
use sc_core::grants::{Denied, GrantError};

/// What a host function returns on failure.
#[derive(Debug)]
pub enum CallError {
    /// The guest sees this as its `capability-error`.
    Capability(CapabilityError),
    /// Ends the run (a host bug or an exhausted run limit).
    Trap(wasmtime::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Capability(err) => err.fmt(f),
            Self::Trap(err) => write!(f, "trap: {err}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<CapabilityError> for CallError {
    fn from(err: CapabilityError) -> Self {
        Self::Capability(err)
    }
}

impl From<Denied> for CallError {
    fn from(denied: Denied) -> Self {
        Self::Capability(denied.into())
    }
}

impl From<GrantError> for CallError {
    fn from(err: GrantError) -> Self {
        Self::Capability(err.into())
    }
}

impl From<RunLimitExceeded> for CallError {
    fn from(limit: RunLimitExceeded) -> Self {
        Self::Trap(wasmtime::Error::new(limit))
    }
}

/// A run limit that ended the call; the host reports it as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunLimitExceeded {
    /// Too many capability calls.
    #[error(
        "the skill made more than {0} capability calls in one run (raise `limits.host_calls` in its instruction.md if this is legitimate)"
    )]
    HostCalls(u64),
    /// Too much stdout/stderr.
    #[error(
        "the skill wrote more than {0} bytes to stdout/stderr in one run (the host's `limits.output_bytes`)"
    )]
    Output(u64),
    /// Linear memory would grow past the cap.
    #[error(
        "the skill tried to grow its memory past {0} MiB (raise `limits.memory_mb` in its instruction.md if this is legitimate)"
    )]
    Memory(u64),
}
