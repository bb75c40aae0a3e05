//! Errors of the embedded store, split by who can fix them.

/// What went wrong in the embedded store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request is outside what the store accepts (a clause outside the
    /// supported subset, a bad value, an unknown index). The message names
    /// the clause or key and how to fix it.
    #[error("{0}")]
    InvalidRequest(String),
    /// The index files could not be read or written.
    #[error("embedded store: {0}")]
    Storage(String),
}

impl From<tantivy::TantivyError> for StoreError {
    fn from(err: tantivy::TantivyError) -> Self {
        match err {
            tantivy::TantivyError::InvalidArgument(msg) => Self::InvalidRequest(msg),
            tantivy::TantivyError::AggregationError(err) => Self::InvalidRequest(err.to_string()),
            other => Self::Storage(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(err: std::io::Error) -> Self {
        Self::Storage(err.to_string())
    }
}

/// Shorthand for an invalid-request error.
pub(crate) fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::InvalidRequest(message.into())
}
