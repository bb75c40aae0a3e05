//! The `db` capability on the embedded store (`db.provider: embedded`):
//! the `sc-store` index under `data_dir`, called off the async runtime.

use std::sync::Arc;

use sc_store::{Store, StoreError};
use serde_json::Value;

use sc_core::CapabilityError;
use sc_core::db::{BulkLoad, BulkOutcome, DbBackend, Documents, IndexInfo};

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

/// The store's bulk outcome as the capability reports it (the two types
/// live in crates that do not know each other).
trait IntoOutcome {
    fn into_outcome(self) -> BulkOutcome;
}

impl IntoOutcome for sc_store::BulkOutcome {
    fn into_outcome(self) -> BulkOutcome {
        BulkOutcome {
            indexed: self.indexed,
            failed: self.failed,
            errors: self.errors,
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
        documents: Documents,
    ) -> Result<BulkOutcome, CapabilityError> {
        let index = index.to_owned();
        self.blocking(move |store| store.bulk(&index, documents))
            .await
            .map(IntoOutcome::into_outcome)
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

#[async_trait::async_trait]
impl BulkLoad for EmbeddedDb {
    async fn stage(
        &self,
        index: &str,
        documents: Documents,
    ) -> Result<BulkOutcome, CapabilityError> {
        let index = index.to_owned();
        self.blocking(move |store| store.stage(&index, documents))
            .await
            .map(IntoOutcome::into_outcome)
    }

    async fn commit(&self) -> Result<(), CapabilityError> {
        self.blocking(Store::commit).await
    }

    async fn finish(&self) -> Result<(), CapabilityError> {
        self.blocking(Store::close_writer).await
    }
}
