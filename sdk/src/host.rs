//! The one seam between the capability helpers and what answers them: the
//! host's imports in a component, or the mock host of [`crate::testing`]
//! in a native unit test. Every helper goes through [`with`].

use crate::__bindings::securityclaw::skill as wit;
use crate::{CapabilityError, db, http, llm, log, memory, rag};

type Result<T> = std::result::Result<T, CapabilityError>;

/// Every function of the WIT's imports, with the generated types.
pub(crate) trait Host {
    fn log_write(&self, level: log::Level, message: &str, fields: &[(String, String)]);
    fn config_get(&self, key: &str) -> Result<Option<String>>;
    fn config_secret(&self, name: &str) -> Result<String>;
    fn db_search(&self, index_pattern: &str, body: &str) -> Result<String>;
    fn db_count(&self, index_pattern: &str, query: Option<&str>) -> Result<u64>;
    fn db_aggregate(
        &self,
        index_pattern: &str,
        query: Option<&str>,
        aggregations: &str,
    ) -> Result<String>;
    fn db_bulk_index(&self, index: &str, documents: &[db::Document]) -> Result<db::BulkResult>;
    fn db_list_indices(&self, pattern: Option<&str>) -> Result<Vec<db::IndexInfo>>;
    fn db_field_mappings(&self, index_pattern: &str) -> Result<String>;
    fn llm_chat(
        &self,
        messages: &[llm::Message],
        options: &llm::ChatOptions,
    ) -> Result<llm::ChatResponse>;
    fn llm_embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
    fn rag_store(&self, documents: &[rag::Document]) -> Result<Vec<String>>;
    fn rag_retrieve(&self, query: &str, k: u32, category: Option<&str>) -> Result<rag::Retrieval>;
    fn memory_get(&self, key: &str) -> Result<Option<String>>;
    fn memory_set(&self, key: &str, value: &str) -> Result<()>;
    fn memory_remove(&self, key: &str) -> Result<bool>;
    fn memory_append(
        &self,
        list: &memory::EntryList,
        text: &str,
        data: Option<&str>,
    ) -> Result<u32>;
    fn memory_recent(&self, list: &memory::EntryList, limit: u32) -> Result<Vec<memory::Entry>>;
    fn memory_set_focus(&self, focus: Option<&str>) -> Result<()>;
    fn memory_set_status(&self, status: &memory::AgentStatus) -> Result<()>;
    fn http_send(&self, request: &http::Request) -> Result<http::Response>;
    /// Where the folder of a `grants.files` entry is, as the skill opens it.
    fn folder(&self, grant: &str) -> Result<std::path::PathBuf>;
}

/// The host's imports, as a component sees them.
#[cfg_attr(
    all(any(test, feature = "testing"), not(target_arch = "wasm32")),
    allow(dead_code, reason = "native tests answer through the mock host")
)]
struct Imports;

impl Host for Imports {
    fn log_write(&self, level: log::Level, message: &str, fields: &[(String, String)]) {
        wit::log::write(level, message, fields);
    }
    fn config_get(&self, key: &str) -> Result<Option<String>> {
        wit::config::get(key)
    }
    fn config_secret(&self, name: &str) -> Result<String> {
        wit::config::secret(name)
    }
    fn db_search(&self, index_pattern: &str, body: &str) -> Result<String> {
        wit::db::search(index_pattern, body)
    }
    fn db_count(&self, index_pattern: &str, query: Option<&str>) -> Result<u64> {
        wit::db::count(index_pattern, query)
    }
    fn db_aggregate(
        &self,
        index_pattern: &str,
        query: Option<&str>,
        aggregations: &str,
    ) -> Result<String> {
        wit::db::aggregate(index_pattern, query, aggregations)
    }
    fn db_bulk_index(&self, index: &str, documents: &[db::Document]) -> Result<db::BulkResult> {
        wit::db::bulk_index(index, documents)
    }
    fn db_list_indices(&self, pattern: Option<&str>) -> Result<Vec<db::IndexInfo>> {
        wit::db::list_indices(pattern)
    }
    fn db_field_mappings(&self, index_pattern: &str) -> Result<String> {
        wit::db::field_mappings(index_pattern)
    }
    fn llm_chat(
        &self,
        messages: &[llm::Message],
        options: &llm::ChatOptions,
    ) -> Result<llm::ChatResponse> {
        wit::llm::chat(messages, options)
    }
    fn llm_embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        wit::llm::embed(texts)
    }
    fn rag_store(&self, documents: &[rag::Document]) -> Result<Vec<String>> {
        wit::rag::store(documents)
    }
    fn rag_retrieve(&self, query: &str, k: u32, category: Option<&str>) -> Result<rag::Retrieval> {
        wit::rag::retrieve(query, k, category)
    }
    fn memory_get(&self, key: &str) -> Result<Option<String>> {
        wit::memory::get(key)
    }
    fn memory_set(&self, key: &str, value: &str) -> Result<()> {
        wit::memory::set(key, value)
    }
    fn memory_remove(&self, key: &str) -> Result<bool> {
        wit::memory::remove(key)
    }
    fn memory_append(
        &self,
        list: &memory::EntryList,
        text: &str,
        data: Option<&str>,
    ) -> Result<u32> {
        wit::memory::append(list, text, data)
    }
    fn memory_recent(&self, list: &memory::EntryList, limit: u32) -> Result<Vec<memory::Entry>> {
        wit::memory::recent(list, limit)
    }
    fn memory_set_focus(&self, focus: Option<&str>) -> Result<()> {
        wit::memory::set_focus(focus)
    }
    fn memory_set_status(&self, status: &memory::AgentStatus) -> Result<()> {
        wit::memory::set_status(status)
    }
    fn http_send(&self, request: &http::Request) -> Result<http::Response> {
        wit::http::send(request)
    }
    fn folder(&self, grant: &str) -> Result<std::path::PathBuf> {
        // A granted folder is preopened under its grant's name.
        Ok(std::path::PathBuf::from(grant))
    }
}

/// Calls `f` with whatever answers capabilities here: the host's imports
/// in a component, the installed mock host in a native test.
pub(crate) fn with<R>(f: impl FnOnce(&dyn Host) -> R) -> R {
    #[cfg(all(any(test, feature = "testing"), not(target_arch = "wasm32")))]
    {
        crate::testing::with_installed(f)
    }
    #[cfg(not(all(any(test, feature = "testing"), not(target_arch = "wasm32"))))]
    {
        f(&Imports)
    }
}
