//! SecurityClaw's embedded models: pinned model files fetched once into
//! `data/models/`, and chat and embeddings run in-process with candle, so
//! the product answers with no model server on the machine.

pub mod catalog;
pub mod chat;
pub mod embed;
mod gguf_tokenizer;
pub mod pull;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model file is absent.
    #[error("model file missing: {0}; run `sc-host models pull`")]
    Missing(String),
    /// A file is not the model it should be.
    #[error("model file unreadable: {0}")]
    Format(String),
    /// The request cannot be answered (e.g. the prompt is too long).
    #[error("{0}")]
    Input(String),
}

/// Any failure reading a model's files, as a [`ModelError::Format`].
pub(crate) fn format(err: impl std::fmt::Display) -> ModelError {
    ModelError::Format(err.to_string())
}
