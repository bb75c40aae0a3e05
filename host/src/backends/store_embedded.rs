//! The `db` capability on the embedded store (`db.provider: embedded`):
//! the `sc-store` index under `data_dir`, called off the async runtime.

use std::sync::Arc;

use sc_store::{Store, StoreError};
use serde_json::Value;

use crate::capabilities::CapabilityError;
use crate::capabilities::db::{BulkOutcome, DbBackend, IndexInfo};

/// The embedded store behind `db`.
#[derive(Clone)]
pub struct EmbeddedDb {
    store: Arc<Store>,
}

impl EmbeddedDb {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self {
            store: Arc::new(Store::open(dir)?),
        })
    }
}

fn capability_error(err: StoreError) -> CapabilityError {
    match err {
        StoreError::InvalidRequest(message) => CapabilityError::InvalidInput(message),
        StoreError::Storage(message) => CapabilityError::Backend(message),
    }
}

impl EmbeddedDb {
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CapabilityError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|err| CapabilityError::Backend(format!("embedded store task failed: {err}")))?
            .map_err(capability_error)
    }
}

impl From<sc_store::BulkOutcome> for BulkOutcome {
    fn from(outcome: sc_store::BulkOutcome) -> Self {
        Self {
            indexed: outcome.indexed,
            failed: outcome.failed,
            errors: outcome.errors,
        }
    }
}

#[async_trait::async_trait]
impl DbBackend for EmbeddedDb {
    async fn search(&self, index_pattern: &str, body: Value) -> Result<Value, CapabilityError> {
        let pattern = index_pattern.to_owned();
        self.blocking(move |store| store.search(&pattern, &body))
            .await
    }

    async fn count(
        &self,
        index_pattern: &str,
        query: Option<Value>,
    ) -> Result<u64, CapabilityError> {
        let pattern = index_pattern.to_owned();
        self.blocking(move |store| store.count(&pattern, query.as_ref()))
            .await
    }

    async fn bulk_index(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, CapabilityError> {
        let index = index.to_owned();
        self.blocking(move |store| store.bulk(&index, documents))
            .await
            .map(BulkOutcome::from)
    }

    async fn bulk_load(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, CapabilityError> {
        let index = index.to_owned();
        self.blocking(move |store| store.stage(&index, documents))
            .await
            .map(BulkOutcome::from)
    }

    async fn commit_writes(&self) -> Result<(), CapabilityError> {
        self.blocking(Store::commit).await
    }

    async fn finish_writes(&self) -> Result<(), CapabilityError> {
        self.blocking(Store::close_writer).await
    }

    async fn list_indices(&self, index_pattern: &str) -> Result<Vec<IndexInfo>, CapabilityError> {
        let pattern = index_pattern.to_owned();
        let indices = self.blocking(move |store| store.indices(&pattern)).await?;
        Ok(indices
            .into_iter()
            .map(|(name, documents)| IndexInfo { name, documents })
            .collect())
    }

    async fn field_mappings(&self, index_pattern: &str) -> Result<Value, CapabilityError> {
        let pattern = index_pattern.to_owned();
        self.blocking(move |store| store.mappings(&pattern)).await
    }
}
