//! Errors of a capability call as the runtime sees them: a
//! [`CapabilityError`] the guest receives as a value, or a trap that ends
//! the run (the split wasmtime-wasi's `TrappableError` makes), plus the run
//! limits whose breach is such a trap.

use sc_core::CapabilityError;
use sc_core::grants::{Denied, GrantError};

use crate::bindings::securityclaw::skill::types::CapabilityError as WitError;

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

impl CallError {
    /// The WIT value the guest sees, or the trap that ends the run.
    pub fn into_wit(self) -> wasmtime::Result<WitError> {
        match self {
            Self::Capability(err) => Ok(to_wit(err)),
            Self::Trap(err) => Err(err),
        }
    }
}

/// A capability error as the WIT value of the same kind.
pub fn to_wit(err: CapabilityError) -> WitError {
    match err {
        CapabilityError::Denied(m) => WitError::Denied(m),
        CapabilityError::InvalidInput(m) => WitError::InvalidInput(m),
        CapabilityError::NotConfigured(m) => WitError::NotConfigured(m),
        CapabilityError::Backend(m) => WitError::Backend(m),
        CapabilityError::Timeout => WitError::Timeout,
        CapabilityError::LimitExceeded(m) => WitError::LimitExceeded(m),
        CapabilityError::InvalidOutput(m) => WitError::InvalidOutput(m),
        CapabilityError::Other(m) => WitError::Other(m),
    }
}

/// A WIT error (one a skill gave up on) as the host's type, so it is
/// described by the one text [`CapabilityError`] has.
pub fn from_wit(err: WitError) -> CapabilityError {
    match err {
        WitError::Denied(m) => CapabilityError::Denied(m),
        WitError::InvalidInput(m) => CapabilityError::InvalidInput(m),
        WitError::NotConfigured(m) => CapabilityError::NotConfigured(m),
        WitError::Backend(m) => CapabilityError::Backend(m),
        WitError::Timeout => CapabilityError::Timeout,
        WitError::LimitExceeded(m) => CapabilityError::LimitExceeded(m),
        WitError::InvalidOutput(m) => CapabilityError::InvalidOutput(m),
        WitError::Other(m) => CapabilityError::Other(m),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_round_trip_through_wit() {
        let all = [
            CapabilityError::Denied("d".into()),
            CapabilityError::InvalidInput("i".into()),
            CapabilityError::NotConfigured("n".into()),
            CapabilityError::Backend("b".into()),
            CapabilityError::Timeout,
            CapabilityError::LimitExceeded("l".into()),
            CapabilityError::InvalidOutput("o".into()),
            CapabilityError::Other("rate-limited: slow down".into()),
        ];
        for err in all {
            assert_eq!(from_wit(to_wit(err.clone())), err);
        }
    }
}
