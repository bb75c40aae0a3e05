//! Host capabilities: one module per WIT interface. Each holds the per-call
//! state (the run's [`CallContext`] and the backend it reaches) and the
//! generated `Host` impl, which checks grants first through `sc-core` and
//! converts between the WIT types and the backend's plain Rust types.
//!
//! A store's data reaches its capability states through [`CapabilityView`],
//! as wasmtime-wasi's `WasiView` does for WASI, so this module never names
//! the store's own type.

pub mod config;
pub mod db;
pub mod http;
pub mod llm;
pub mod log;
pub mod memory;
pub mod rag;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sc_core::backends::Backends;
use sc_core::grants::GrantCheck;
use sc_state::audit::AuditEvent;
use sc_state::recorder::Recorder;
use wasmtime::component::{HasData, Linker};

use sc_core::CapabilityError;

use crate::bindings::securityclaw::skill as wit;
use crate::bindings::securityclaw::skill::types::CapabilityError as WitError;
use crate::error::{CallError, RunLimitExceeded};

/// What every capability knows about the run it serves.
#[derive(Debug)]
pub struct CallContext {
    /// The skill being run.
    pub skill_id: String,
    /// The run's id.
    pub run_id: String,
    /// Its grants, with what a refusal needs to say.
    pub grants: GrantCheck,
    host_calls: AtomicU64,
    host_call_limit: u64,
    audit: Option<Arc<Recorder>>,
    /// Whether this run's prompts are anonymized (`llm.anonymize`).
    pub anonymize: bool,
    /// The run's `now` (UTC, whole seconds, RFC 3339): what it retrieves is
    /// what was valid then, so a replay sees its own baselines.
    pub now: String,
}

impl CallContext {
    /// Context for one run of `skill_id`.
    pub fn new(skill_id: String, run_id: String, grants: GrantCheck, host_call_limit: u64) -> Self {
        Self {
            skill_id,
            run_id,
            grants,
            host_calls: AtomicU64::new(0),
            host_call_limit,
            audit: None,
            anonymize: false,
            now: sc_core::rag::now_utc(),
        }
    }

    /// Sets the run's `now`.
    pub fn with_now(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        self.now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self
    }

    /// Anonymizes this run's prompts when `on`.
    pub fn with_anonymize(mut self, on: bool) -> Self {
        self.anonymize = on;
        self
    }

    /// Records auditable capability calls (model calls) through `recorder`.
    pub fn with_audit(mut self, recorder: Option<Arc<Recorder>>) -> Self {
        self.audit = recorder;
        self
    }

    /// Appends an audit event for this run's skill, when auditing is on.
    pub fn audit(&self, event: AuditEvent) {
        if let Some(recorder) = &self.audit {
            recorder.audit(AuditEvent {
                actor: format!("skill:{}", self.skill_id),
                skill: Some(self.skill_id.clone()),
                ..event
            });
        }
    }

    /// Counts one capability call; past the budget the run ends and the
    /// refused call is not counted.
    pub fn charge(&self) -> Result<(), RunLimitExceeded> {
        let used = self.host_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if used > self.host_call_limit {
            self.host_calls.fetch_sub(1, Ordering::Relaxed);
            return Err(RunLimitExceeded::HostCalls(self.host_call_limit));
        }
        Ok(())
    }

    /// Capability calls made so far (at most the budget).
    pub fn host_calls(&self) -> u64 {
        self.host_calls.load(Ordering::Relaxed)
    }
}

/// The per-call state of every capability, as held in the store.
pub struct CapabilityStates {
    /// `types` only converts errors.
    pub types: TypesState,
    /// `log`.
    pub log: log::LogState,
    /// `config`.
    pub config: config::ConfigState,
    /// `db`.
    pub db: db::DbState,
    /// `llm`.
    pub llm: llm::LlmState,
    /// `rag`.
    pub rag: rag::RagState,
    /// `memory`.
    pub memory: memory::MemoryState,
    /// `http`.
    pub http: http::HttpState,
}

impl CapabilityStates {
    /// Fresh per-call states for one run.
    pub fn new(
        call: Arc<CallContext>,
        backends: &Backends,
        settings: config::SkillSettings,
        log_line_limit: u64,
    ) -> Self {
        Self {
            types: TypesState,
            log: log::LogState::new(call.clone(), log_line_limit),
            config: config::ConfigState::new(call.clone(), settings),
            db: db::DbState::new(call.clone(), backends.db.clone()),
            llm: llm::LlmState::new(call.clone(), backends.llm.clone()),
            rag: rag::RagState::new(call.clone(), backends.rag.clone()),
            memory: memory::MemoryState::new(call.clone(), backends.memory.clone()),
            http: http::HttpState::new(call, backends.http.clone()),
        }
    }
}

/// The WIT value the guest sees, or the trap that ends the run.
pub fn into_wit(err: CallError) -> wasmtime::Result<WitError> {
    match err {
        CallError::Capability(err) => Ok(to_wit(err)),
        CallError::Trap(err) => Err(err),
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

/// How a store's data hands out its capability states.
pub trait CapabilityView: Send {
    /// The states of this run's capabilities.
    fn capabilities(&mut self) -> &mut CapabilityStates;
}

/// What the `types` interface needs: nothing but the error conversion.
pub struct TypesState;

/// Every interface's generated `Host` converts the shared error type, so
/// every capability state implements `types::Host` the same way.
macro_rules! converts_errors {
    ($($state:ty),* $(,)?) => {
        $(
            impl wit::types::Host for $state {
                fn convert_capability_error(
                    &mut self,
                    err: CallError,
                ) -> wasmtime::Result<wit::types::CapabilityError> {
                    into_wit(err)
                }
            }
        )*
    };
}

converts_errors!(
    TypesState,
    log::LogState,
    config::ConfigState,
    db::DbState,
    llm::LlmState,
    rag::RagState,
    memory::MemoryState,
    http::HttpState,
);

macro_rules! capability_data {
    ($($name:ident => $state:ty),* $(,)?) => {
        $(
            struct $name;
            impl HasData for $name {
                type Data<'a> = &'a mut $state;
            }
        )*
    };
}

capability_data! {
    TypesData => TypesState,
    LogData => log::LogState,
    ConfigData => config::ConfigState,
    DbData => db::DbState,
    LlmData => llm::LlmState,
    RagData => rag::RagState,
    MemoryData => memory::MemoryState,
    HttpData => http::HttpState,
}

/// Adds every capability interface to the linker, each projecting the
/// store's data onto its own state through [`CapabilityView`].
pub fn add_to_linker<T: CapabilityView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<T, TypesData>(linker, |s| &mut s.capabilities().types)?;
    wit::log::add_to_linker::<T, LogData>(linker, |s| &mut s.capabilities().log)?;
    wit::config::add_to_linker::<T, ConfigData>(linker, |s| &mut s.capabilities().config)?;
    wit::db::add_to_linker::<T, DbData>(linker, |s| &mut s.capabilities().db)?;
    wit::llm::add_to_linker::<T, LlmData>(linker, |s| &mut s.capabilities().llm)?;
    wit::rag::add_to_linker::<T, RagData>(linker, |s| &mut s.capabilities().rag)?;
    wit::memory::add_to_linker::<T, MemoryData>(linker, |s| &mut s.capabilities().memory)?;
    wit::http::add_to_linker::<T, HttpData>(linker, |s| &mut s.capabilities().http)?;
    Ok(())
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
