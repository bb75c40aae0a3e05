//! The services behind the capabilities, as one bundle the runtime holds
//! for every run, and how healthy each looks.

use std::sync::Arc;

use serde::Serialize;

use crate::db::DbBackend;
use crate::http::HttpBackend;
use crate::llm::{LlmBackend, LlmChoice};
use crate::memory::MemoryBackend;
use crate::rag::RagBackend;

/// The backends behind the capabilities, shared by every run.
#[derive(Clone)]
pub struct Backends {
    /// Telemetry store.
    pub db: Arc<dyn DbBackend>,
    /// Model.
    pub llm: Arc<dyn LlmBackend>,
    /// Retrieval store.
    pub rag: Arc<dyn RagBackend>,
    /// Agent memory.
    pub memory: Arc<dyn MemoryBackend>,
    /// Outbound HTTP.
    pub http: Arc<dyn HttpBackend>,
    /// Which model serves `llm`, and why.
    pub llm_choice: Arc<LlmChoice>,
    /// Which store serves `rag`, and why (for status lines).
    pub rag_description: Arc<str>,
}

/// How a backend looks from the outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendHealth {
    /// It answers.
    Ok,
    /// None is configured (the capability answers `not-configured`).
    NotConfigured,
    /// It is configured but did not answer in time, or failed.
    Degraded,
}
