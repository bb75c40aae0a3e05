//! Host capabilities: one module per WIT interface. Each holds the backend
//! trait for its outside service, the per-call state with the skill's
//! grants, and the generated `Host` impl, which checks grants first.

pub mod config;
pub mod db;
pub mod grants;
pub mod http;
pub mod llm;
pub mod log;
pub mod memory;
pub mod rag;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::{HasData, Linker};

use crate::runtime::bindings::securityclaw::skill as wit;
use crate::runtime::state::StoreState;
use grants::{Denied, GrantCheck, GrantError};

/// Why a capability call failed. Every variant but `Trap` reaches the guest
/// as the WIT `error` value; `Trap` ends the run.
#[derive(Debug, thiserror::Error)]
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
    /// The backend failed.
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
    /// Ends the run (a host bug or an exhausted run limit).
    #[error("trap: {0}")]
    Trap(wasmtime::Error),
}

impl From<Denied> for CapabilityError {
    fn from(denied: Denied) -> Self {
        Self::Denied(denied.0)
    }
}

impl From<GrantError> for CapabilityError {
    fn from(err: GrantError) -> Self {
        match err {
            GrantError::Denied(denied) => denied.into(),
            GrantError::InvalidInput(message) => Self::InvalidInput(message),
        }
    }
}

impl From<RunLimitExceeded> for CapabilityError {
    fn from(limit: RunLimitExceeded) -> Self {
        Self::Trap(wasmtime::Error::new(limit))
    }
}

impl CapabilityError {
    /// The WIT value the guest sees, or the trap that ends the run.
    pub fn into_wit(self) -> wasmtime::Result<wit::types::Error> {
        use wit::types::Error as E;
        Ok(match self {
            Self::Denied(m) => E::Denied(m),
            Self::InvalidInput(m) => E::InvalidInput(m),
            Self::NotConfigured(m) => E::NotConfigured(m),
            Self::Backend(m) => E::Backend(m),
            Self::Timeout => E::Timeout,
            Self::LimitExceeded(m) => E::LimitExceeded(m),
            Self::InvalidOutput(m) => E::InvalidOutput(m),
            Self::Trap(err) => return Err(err),
        })
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

/// What every capability knows about the run it serves.
#[derive(Debug)]
pub struct CallContext {
    /// The skill being run.
    pub skill_id: String,
    /// Its grants, with what a refusal needs to say.
    pub grants: GrantCheck,
    host_calls: AtomicU64,
    host_call_limit: u64,
    audit: Option<Arc<crate::recorder::Recorder>>,
}

impl CallContext {
    /// Context for one run of `skill_id`.
    pub fn new(skill_id: String, grants: GrantCheck, host_call_limit: u64) -> Self {
        Self {
            skill_id,
            grants,
            host_calls: AtomicU64::new(0),
            host_call_limit,
            audit: None,
        }
    }

    /// Records auditable capability calls (model calls) through `recorder`.
    pub fn with_audit(mut self, recorder: Option<Arc<crate::recorder::Recorder>>) -> Self {
        self.audit = recorder;
        self
    }

    /// Appends an audit event for this run's skill, when auditing is on.
    pub fn audit(&self, event: crate::audit::AuditEvent) {
        if let Some(recorder) = &self.audit {
            recorder.audit(crate::audit::AuditEvent {
                actor: format!("skill:{}", self.skill_id),
                skill: Some(self.skill_id.clone()),
                ..event
            });
        }
    }

    /// Counts one capability call; past the budget the run ends.
    pub fn charge(&self) -> Result<(), RunLimitExceeded> {
        let used = self.host_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if used > self.host_call_limit {
            return Err(RunLimitExceeded::HostCalls(self.host_call_limit));
        }
        Ok(())
    }

    /// Capability calls made so far.
    pub fn host_calls(&self) -> u64 {
        self.host_calls.load(Ordering::Relaxed)
    }
}

/// The backends behind the capabilities, shared by every run.
#[derive(Clone)]
pub struct Backends {
    /// Telemetry store.
    pub db: Arc<dyn db::DbBackend>,
    /// Model.
    pub llm: Arc<dyn llm::LlmBackend>,
    /// Retrieval store.
    pub rag: Arc<dyn rag::RagBackend>,
    /// Agent memory.
    pub memory: Arc<dyn memory::MemoryBackend>,
    /// Outbound HTTP.
    pub http: Arc<dyn http::HttpBackend>,
    /// Which model serves `llm`, and why.
    pub llm_choice: Arc<LlmChoice>,
    /// Which store serves `rag`, and why.
    pub rag_description: Arc<str>,
}

/// Which model serves `llm`, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LlmChoice {
    /// `ollama`, `openai` or `none`.
    pub provider: String,
    /// The chat model, when there is one.
    pub model: Option<String>,
    /// Why this provider.
    pub reason: String,
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

/// What the `types` interface needs: nothing but the error conversion.
pub struct TypesState;

/// Every interface's generated `Host` converts the shared error type, so
/// every capability state implements `types::Host` the same way.
macro_rules! converts_errors {
    ($($state:ty),* $(,)?) => {
        $(
            impl wit::types::Host for $state {
                fn convert_error(&mut self, err: CapabilityError) -> wasmtime::Result<wit::types::Error> {
                    err.into_wit()
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
    ($($name:ident => $field:ident : $state:ty),* $(,)?) => {
        $(
            struct $name;
            impl HasData for $name {
                type Data<'a> = &'a mut $state;
            }
        )*
    };
}

capability_data! {
    TypesData => types: TypesState,
    LogData => log: log::LogState,
    ConfigData => config: config::ConfigState,
    DbData => db: db::DbState,
    LlmData => llm: llm::LlmState,
    RagData => rag: rag::RagState,
    MemoryData => memory: memory::MemoryState,
    HttpData => http: http::HttpState,
}

/// Adds every capability interface to the linker, each projecting the store
/// onto its own state.
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<_, TypesData>(linker, |s| &mut s.caps.types)?;
    wit::log::add_to_linker::<_, LogData>(linker, |s| &mut s.caps.log)?;
    wit::config::add_to_linker::<_, ConfigData>(linker, |s| &mut s.caps.config)?;
    wit::db::add_to_linker::<_, DbData>(linker, |s| &mut s.caps.db)?;
    wit::llm::add_to_linker::<_, LlmData>(linker, |s| &mut s.caps.llm)?;
    wit::rag::add_to_linker::<_, RagData>(linker, |s| &mut s.caps.rag)?;
    wit::memory::add_to_linker::<_, MemoryData>(linker, |s| &mut s.caps.memory)?;
    wit::http::add_to_linker::<_, HttpData>(linker, |s| &mut s.caps.http)?;
    Ok(())
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
