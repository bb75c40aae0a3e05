//! The backend for capabilities with no service configured: every call
//! answers `not-configured`, naming the config key that fixes it.

use serde_json::Value;

use sc_core::CapabilityError;
use sc_core::db::{BulkLoad, BulkOutcome, DbBackend, Documents, IndexInfo};
use sc_core::http::{HostCheck, HttpBackend, Request, Response};
use sc_core::llm::{ChatOptions, ChatResponse, LlmBackend, Message};

/// Answers `not-configured` for every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

fn db_missing<T>() -> Result<T, CapabilityError> {
    Err(CapabilityError::NotConfigured(
        "no telemetry store is configured (`db.provider: none` in config.yaml)".to_owned(),
    ))
}

#[async_trait::async_trait]
impl DbBackend for Unconfigured {
    async fn search(&self, _: &str, _: Value) -> Result<Value, CapabilityError> {
        db_missing()
    }
    async fn count(&self, _: &str, _: Option<Value>) -> Result<u64, CapabilityError> {
        db_missing()
    }
    async fn bulk_index(
        &self,
        _: &str,
        _: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, CapabilityError> {
        db_missing()
    }
    async fn list_indices(&self, _: &str) -> Result<Vec<IndexInfo>, CapabilityError> {
        db_missing()
    }
    async fn field_mappings(&self, _: &str) -> Result<Value, CapabilityError> {
        db_missing()
    }
}

#[async_trait::async_trait]
impl BulkLoad for Unconfigured {
    async fn stage(&self, _: &str, _: Documents) -> Result<BulkOutcome, CapabilityError> {
        db_missing()
    }
    async fn commit(&self) -> Result<(), CapabilityError> {
        db_missing()
    }
    async fn finish(&self) -> Result<(), CapabilityError> {
        db_missing()
    }
}

/// The model capability when no model is available, with the reason.
#[derive(Debug, Clone)]
pub struct NoModel {
    /// Why there is none (which config key to set).
    pub reason: String,
}

#[async_trait::async_trait]
impl LlmBackend for NoModel {
    async fn chat(&self, _: Vec<Message>, _: ChatOptions) -> Result<ChatResponse, CapabilityError> {
        Err(CapabilityError::NotConfigured(format!(
            "no model is available: {}",
            self.reason
        )))
    }
    async fn embed(&self, _: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        Err(CapabilityError::NotConfigured(format!(
            "no embedding model is available: {}",
            self.reason
        )))
    }
}

#[async_trait::async_trait]
impl HttpBackend for Unconfigured {
    async fn send(&self, _: Request, _: &HostCheck) -> Result<Response, CapabilityError> {
        Err(CapabilityError::NotConfigured(
            "outbound HTTP is not configured: set `http.provider: direct` in config.yaml"
                .to_owned(),
        ))
    }
}
