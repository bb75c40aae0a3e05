//! A mock host for unit tests of a skill's logic: every capability answers
//! from canned values (or a closure) and every call is recorded, so
//! `cargo test` on the build machine runs the skill without wasmtime.
//! Enable the `testing` feature in `[dev-dependencies]`.
//!
//! ```ignore
//! use securityclaw_sdk::testing::{Function, MockHost};
//! use securityclaw_sdk::{Invocation, Status, Trigger};
//!
//! let host = MockHost::new()
//!     .memory("hello_world.runs", 2)
//!     .on_db_count(|_, _| Ok(42));
//! let run = host.run::<HelloWorld>(Invocation::new(Trigger::Dispatch, json!({"name": "ada"})))?;
//! assert_eq!(run.status, Status::Ok);
//! assert_eq!(host.memory_value("hello_world.runs"), Some(json!(3)));
//! assert_eq!(host.calls_to(Function::DbCount).len(), 1);
//! ```
//!
//! A capability the test gave no answer for answers `not-configured`,
//! naming the builder method that would give one. Grants are not checked:
//! that is the host's job, tested there.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::host::Host;
use crate::{
    CapabilityError, Invocation, Skill, SkillError, Status, db, http, llm, log, memory, rag,
};

type Result<T> = std::result::Result<T, CapabilityError>;

/// Every function a skill can call on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `log.write`
    LogWrite,
    /// `config.get`
    ConfigGet,
    /// `config.secret`
    ConfigSecret,
    /// `db.search`
    DbSearch,
    /// `db.count`
    DbCount,
    /// `db.aggregate`
    DbAggregate,
    /// `db.bulk-index`
    DbBulkIndex,
    /// `db.list-indices`
    DbListIndices,
    /// `db.field-mappings`
    DbFieldMappings,
    /// `llm.chat`
    LlmChat,
    /// `llm.embed`
    LlmEmbed,
    /// `rag.store`
    RagStore,
    /// `rag.retrieve`
    RagRetrieve,
    /// `memory.get`
    MemoryGet,
    /// `memory.set`
    MemorySet,
    /// `memory.remove`
    MemoryRemove,
    /// `memory.append`
    MemoryAppend,
    /// `memory.recent`
    MemoryRecent,
    /// `memory.set-focus`
    MemorySetFocus,
    /// `memory.set-status`
    MemorySetStatus,
    /// `http.send`
    HttpSend,
}

impl Function {
    /// The WIT name, `interface.function`.
    pub fn name(self) -> &'static str {
        match self {
            Self::LogWrite => "log.write",
            Self::ConfigGet => "config.get",
            Self::ConfigSecret => "config.secret",
            Self::DbSearch => "db.search",
            Self::DbCount => "db.count",
            Self::DbAggregate => "db.aggregate",
            Self::DbBulkIndex => "db.bulk-index",
            Self::DbListIndices => "db.list-indices",
            Self::DbFieldMappings => "db.field-mappings",
            Self::LlmChat => "llm.chat",
            Self::LlmEmbed => "llm.embed",
            Self::RagStore => "rag.store",
            Self::RagRetrieve => "rag.retrieve",
            Self::MemoryGet => "memory.get",
            Self::MemorySet => "memory.set",
            Self::MemoryRemove => "memory.remove",
            Self::MemoryAppend => "memory.append",
            Self::MemoryRecent => "memory.recent",
            Self::MemorySetFocus => "memory.set-focus",
            Self::MemorySetStatus => "memory.set-status",
            Self::HttpSend => "http.send",
        }
    }
}

/// One recorded call: which function, with its arguments as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function.
    pub function: Function,
    /// Its arguments, by WIT parameter name.
    pub args: Value,
}

/// How one run ended, as the host would read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// How it ended.
    pub status: Status,
    /// Its one-line summary.
    pub summary: String,
    /// Its result, parsed back from the JSON the host would receive.
    pub result: Value,
}

/// One logged line: level, message, fields.
type LogLine = (log::Level, String, Vec<(String, String)>);
/// A document to index, with its optional id.
type BulkDoc = (Option<String>, Value);
// The canned answers, one closure type per capability function.
type SearchFn = dyn Fn(&str, &Value) -> Result<Value>;
type CountFn = dyn Fn(&str, Option<&Value>) -> Result<u64>;
type AggregateFn = dyn Fn(&str, Option<&Value>, &Value) -> Result<Value>;
type BulkIndexFn = dyn Fn(&str, &[BulkDoc]) -> Result<db::BulkResult>;
type ListIndicesFn = dyn Fn() -> Result<Vec<db::IndexInfo>>;
type FieldMappingsFn = dyn Fn(&str) -> Result<Value>;
type ChatFn = dyn Fn(&[llm::Message], &llm::ChatOptions) -> Result<String>;
type EmbedFn = dyn Fn(&[String]) -> Result<Vec<Vec<f32>>>;
type RetrieveFn = dyn Fn(&str, u32, Option<&str>) -> Result<rag::Retrieval>;
type SendFn = dyn Fn(&http::Request) -> Result<http::Response>;

#[derive(Default)]
struct Answers {
    db_search: Option<Rc<SearchFn>>,
    db_count: Option<Rc<CountFn>>,
    db_aggregate: Option<Rc<AggregateFn>>,
    db_bulk_index: Option<Rc<BulkIndexFn>>,
    db_list_indices: Option<Rc<ListIndicesFn>>,
    db_field_mappings: Option<Rc<FieldMappingsFn>>,
    llm_chat: Option<Rc<ChatFn>>,
    llm_embed: Option<Rc<EmbedFn>>,
    rag_retrieve: Option<Rc<RetrieveFn>>,
    http_send: Option<Rc<SendFn>>,
}

/// What the mock holds: answers, state that behaves like the host's
/// (memory, lists), and the record of calls.
#[derive(Default)]
struct Mock {
    answers: RefCell<Answers>,
    settings: RefCell<HashMap<String, Value>>,
    secrets: RefCell<HashMap<String, String>>,
    memory: RefCell<BTreeMap<String, String>>,
    lists: RefCell<HashMap<&'static str, Vec<memory::Entry>>>,
    focus: RefCell<Option<String>>,
    status: RefCell<Option<memory::AgentStatus>>,
    next_entry: Cell<u32>,
    stored: RefCell<Vec<rag::Document>>,
    calls: RefCell<Vec<Call>>,
    logs: RefCell<Vec<LogLine>>,
    folders: RefCell<HashMap<String, std::path::PathBuf>>,
}

/// The mock host. Build it with canned answers, run a skill with
/// [`MockHost::run`], then read what it did.
#[derive(Clone, Default)]
pub struct MockHost {
    mock: Rc<Mock>,
}

thread_local! {
    static INSTALLED: RefCell<Option<Rc<Mock>>> = const { RefCell::new(None) };
}

/// Calls `f` with the mock installed on this thread.
pub(crate) fn with_installed<R>(f: impl FnOnce(&dyn Host) -> R) -> R {
    let mock = INSTALLED.with(|installed| installed.borrow().clone());
    match mock {
        Some(mock) => f(mock.as_ref()),
        None => panic!(
            "a capability was called outside a mock host: run the skill with securityclaw_sdk::testing::MockHost::run"
        ),
    }
}

/// Puts the previous mock back when a run ends, however it ends.
struct Installed(Option<Rc<Mock>>);

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.0.take();
        INSTALLED.with(|installed| *installed.borrow_mut() = previous);
    }
}

fn missing(function: Function, builder: &str) -> CapabilityError {
    CapabilityError::NotConfigured(format!(
        "mock host: nothing answers {}; give it an answer with MockHost::{builder}",
        function.name()
    ))
}

fn list_name(list: &memory::EntryList) -> &'static str {
    match list {
        memory::EntryList::Findings => "findings",
        memory::EntryList::Decisions => "decisions",
        memory::EntryList::Escalations => "escalations",
        memory::EntryList::Other(_) => "other",
    }
}

fn parse(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|err| CapabilityError::InvalidInput(format!("{what} is not valid JSON: {err}")))
}

impl MockHost {
    /// A host with no answers and empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    fn answers(self, set: impl FnOnce(&mut Answers)) -> Self {
        set(&mut self.mock.answers.borrow_mut());
        self
    }

    /// `config.get(key)` answers `value`.
    pub fn setting(self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).expect("a setting that serializes");
        self.mock
            .settings
            .borrow_mut()
            .insert(key.to_owned(), value);
        self
    }

    /// The `grants.files` folder `grant` is `path` on this machine, for
    /// [`crate::files::folder`].
    pub fn folder(self, grant: &str, path: impl Into<std::path::PathBuf>) -> Self {
        self.mock
            .folders
            .borrow_mut()
            .insert(grant.to_owned(), path.into());
        self
    }

    /// `config.secret(name)` answers `value`.
    pub fn secret(self, name: &str, value: &str) -> Self {
        self.mock
            .secrets
            .borrow_mut()
            .insert(name.to_owned(), value.to_owned());
        self
    }

    /// Memory key `key` starts with `value`.
    pub fn memory(self, key: &str, value: impl Serialize) -> Self {
        let text = serde_json::to_string(&value).expect("a value that serializes");
        self.mock.memory.borrow_mut().insert(key.to_owned(), text);
        self
    }

    /// `db.search` answers what `answer(index_pattern, body)` returns.
    pub fn on_db_search(self, answer: impl Fn(&str, &Value) -> Result<Value> + 'static) -> Self {
        self.answers(|a| a.db_search = Some(Rc::new(answer)))
    }

    /// `db.count` answers what `answer(index_pattern, query)` returns.
    pub fn on_db_count(
        self,
        answer: impl Fn(&str, Option<&Value>) -> Result<u64> + 'static,
    ) -> Self {
        self.answers(|a| a.db_count = Some(Rc::new(answer)))
    }

    /// `db.aggregate` answers what `answer(index_pattern, query, aggs)`
    /// returns (the `aggregations` object).
    pub fn on_db_aggregate(
        self,
        answer: impl Fn(&str, Option<&Value>, &Value) -> Result<Value> + 'static,
    ) -> Self {
        self.answers(|a| a.db_aggregate = Some(Rc::new(answer)))
    }

    /// `db.bulk-index` answers what `answer(index, documents)` returns.
    pub fn on_db_bulk_index(
        self,
        answer: impl Fn(&str, &[(Option<String>, Value)]) -> Result<db::BulkResult> + 'static,
    ) -> Self {
        self.answers(|a| a.db_bulk_index = Some(Rc::new(answer)))
    }

    /// `db.list-indices` answers these indices.
    pub fn db_indices(self, indices: Vec<db::IndexInfo>) -> Self {
        self.answers(|a| a.db_list_indices = Some(Rc::new(move || Ok(indices.clone()))))
    }

    /// `db.field-mappings` answers what `answer(index_pattern)` returns.
    pub fn on_db_field_mappings(self, answer: impl Fn(&str) -> Result<Value> + 'static) -> Self {
        self.answers(|a| a.db_field_mappings = Some(Rc::new(answer)))
    }

    /// Every `llm.chat` answers `reply`.
    pub fn llm_reply(self, reply: &str) -> Self {
        let reply = reply.to_owned();
        self.on_llm_chat(move |_, _| Ok(reply.clone()))
    }

    /// `llm.chat` answers the text `answer(messages, options)` returns.
    pub fn on_llm_chat(
        self,
        answer: impl Fn(&[llm::Message], &llm::ChatOptions) -> Result<String> + 'static,
    ) -> Self {
        self.answers(|a| a.llm_chat = Some(Rc::new(answer)))
    }

    /// `llm.embed` answers what `answer(texts)` returns.
    pub fn on_llm_embed(
        self,
        answer: impl Fn(&[String]) -> Result<Vec<Vec<f32>>> + 'static,
    ) -> Self {
        self.answers(|a| a.llm_embed = Some(Rc::new(answer)))
    }

    /// `rag.retrieve` answers what `answer(query, k, category)` returns.
    pub fn on_rag_retrieve(
        self,
        answer: impl Fn(&str, u32, Option<&str>) -> Result<rag::Retrieval> + 'static,
    ) -> Self {
        self.answers(|a| a.rag_retrieve = Some(Rc::new(answer)))
    }

    /// `http.send` answers what `answer(request)` returns.
    pub fn on_http(
        self,
        answer: impl Fn(&http::Request) -> Result<http::Response> + 'static,
    ) -> Self {
        self.answers(|a| a.http_send = Some(Rc::new(answer)))
    }

    /// Runs `S` once on this host, through the same glue a component's
    /// export uses (parameters parsed, the result serialized to JSON).
    pub fn run<S: Skill>(&self, invocation: Invocation) -> std::result::Result<Run, SkillError> {
        let previous = INSTALLED.with(|installed| installed.replace(Some(self.mock.clone())));
        let _restore = Installed(previous);
        let wit = crate::__bindings::Invocation {
            run_id: invocation.run_id,
            trigger: invocation.trigger,
            now: invocation.now.to_rfc3339(),
            time_limit_ms: u32::try_from(invocation.time_limit.as_millis()).unwrap_or(u32::MAX),
            parameters: invocation.parameters.to_string(),
            chat: invocation.chat,
        };
        match crate::__run::<S>(wit) {
            Ok(outcome) => Ok(Run {
                status: outcome.status,
                summary: outcome.summary,
                result: serde_json::from_str(&outcome.result)
                    .map_err(|err| SkillError::Failed(format!("the result is not JSON: {err}")))?,
            }),
            Err(crate::__bindings::SkillError::InvalidInput(m)) => Err(SkillError::InvalidInput(m)),
            Err(crate::__bindings::SkillError::Capability(e)) => Err(SkillError::Capability(e)),
            Err(crate::__bindings::SkillError::Failed(m)) => Err(SkillError::Failed(m)),
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.mock.calls.borrow().clone()
    }

    /// The calls of one function, in order.
    pub fn calls_to(&self, function: Function) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.function == function)
            .collect()
    }

    /// A memory key's value now.
    pub fn memory_value(&self, key: &str) -> Option<Value> {
        self.mock
            .memory
            .borrow()
            .get(key)
            .and_then(|text| serde_json::from_str(text).ok())
    }

    /// A list's entries now, oldest first.
    pub fn entries(&self, list: &memory::EntryList) -> Vec<memory::Entry> {
        self.mock
            .lists
            .borrow()
            .get(list_name(list))
            .cloned()
            .unwrap_or_default()
    }

    /// The agent's focus and status as the skill left them.
    pub fn agent_state(&self) -> (Option<String>, Option<memory::AgentStatus>) {
        (
            self.mock.focus.borrow().clone(),
            self.mock.status.borrow().clone(),
        )
    }

    /// Documents stored through `rag.store`.
    pub fn stored(&self) -> Vec<rag::Document> {
        self.mock.stored.borrow().clone()
    }

    /// Log lines written: level, message, fields.
    pub fn logs(&self) -> Vec<LogLine> {
        self.mock.logs.borrow().clone()
    }
}

impl Mock {
    fn record(&self, function: Function, args: Value) {
        self.calls.borrow_mut().push(Call { function, args });
    }

    fn answer<F: ?Sized>(&self, pick: impl FnOnce(&Answers) -> Option<Rc<F>>) -> Option<Rc<F>> {
        pick(&self.answers.borrow())
    }
}

impl Host for Mock {
    fn log_write(&self, level: log::Level, message: &str, fields: &[(String, String)]) {
        self.record(
            Function::LogWrite,
            json!({"level": format!("{level:?}"), "message": message, "fields": fields}),
        );
        self.logs
            .borrow_mut()
            .push((level, message.to_owned(), fields.to_vec()));
    }

    fn config_get(&self, key: &str) -> Result<Option<String>> {
        self.record(Function::ConfigGet, json!({"key": key}));
        Ok(self.settings.borrow().get(key).map(Value::to_string))
    }

    fn config_secret(&self, name: &str) -> Result<String> {
        self.record(Function::ConfigSecret, json!({"name": name}));
        self.secrets.borrow().get(name).cloned().ok_or_else(|| {
            CapabilityError::NotConfigured(format!(
                "mock host: secret `{name}` is not set; give it with MockHost::secret"
            ))
        })
    }

    fn db_search(&self, index_pattern: &str, body: &str) -> Result<String> {
        let body = parse("the search body", body)?;
        self.record(
            Function::DbSearch,
            json!({"index-pattern": index_pattern, "query": body}),
        );
        let answer = self
            .answer(|a| a.db_search.clone())
            .ok_or_else(|| missing(Function::DbSearch, "on_db_search"))?;
        answer(index_pattern, &body).map(|v| v.to_string())
    }

    fn db_count(&self, index_pattern: &str, query: Option<&str>) -> Result<u64> {
        let query = query.map(|q| parse("the query", q)).transpose()?;
        self.record(
            Function::DbCount,
            json!({"index-pattern": index_pattern, "query": query}),
        );
        let answer = self
            .answer(|a| a.db_count.clone())
            .ok_or_else(|| missing(Function::DbCount, "on_db_count"))?;
        answer(index_pattern, query.as_ref())
    }

    fn db_aggregate(
        &self,
        index_pattern: &str,
        query: Option<&str>,
        aggregations: &str,
    ) -> Result<String> {
        let query = query.map(|q| parse("the query", q)).transpose()?;
        let aggregations = parse("the aggregations", aggregations)?;
        self.record(
            Function::DbAggregate,
            json!({"index-pattern": index_pattern, "query": query, "aggregations": aggregations}),
        );
        let answer = self
            .answer(|a| a.db_aggregate.clone())
            .ok_or_else(|| missing(Function::DbAggregate, "on_db_aggregate"))?;
        answer(index_pattern, query.as_ref(), &aggregations).map(|v| v.to_string())
    }

    fn db_bulk_index(&self, index: &str, documents: &[db::Document]) -> Result<db::BulkResult> {
        let documents = documents
            .iter()
            .map(|d| Ok((d.id.clone(), parse("a document", &d.source)?)))
            .collect::<Result<Vec<_>>>()?;
        self.record(
            Function::DbBulkIndex,
            json!({"index": index, "documents": documents.iter().map(|(id, s)| json!({"id": id, "source": s})).collect::<Vec<_>>()}),
        );
        let answer = self
            .answer(|a| a.db_bulk_index.clone())
            .ok_or_else(|| missing(Function::DbBulkIndex, "on_db_bulk_index"))?;
        answer(index, &documents)
    }

    fn db_list_indices(&self, pattern: Option<&str>) -> Result<Vec<db::IndexInfo>> {
        self.record(Function::DbListIndices, json!({"pattern": pattern}));
        let answer = self
            .answer(|a| a.db_list_indices.clone())
            .ok_or_else(|| missing(Function::DbListIndices, "db_indices"))?;
        answer()
    }

    fn db_field_mappings(&self, index_pattern: &str) -> Result<String> {
        self.record(
            Function::DbFieldMappings,
            json!({"index-pattern": index_pattern}),
        );
        let answer = self
            .answer(|a| a.db_field_mappings.clone())
            .ok_or_else(|| missing(Function::DbFieldMappings, "on_db_field_mappings"))?;
        answer(index_pattern).map(|v| v.to_string())
    }

    fn llm_chat(
        &self,
        messages: &[llm::Message],
        options: &llm::ChatOptions,
    ) -> Result<llm::ChatResponse> {
        self.record(
            Function::LlmChat,
            json!({
                "messages": messages.iter().map(|m| json!({"role": format!("{:?}", m.role), "content": m.content})).collect::<Vec<_>>(),
                "json-mode": options.json_mode,
            }),
        );
        let answer = self
            .answer(|a| a.llm_chat.clone())
            .ok_or_else(|| missing(Function::LlmChat, "llm_reply or on_llm_chat"))?;
        let content = answer(messages, options)?;
        Ok(llm::ChatResponse {
            content,
            model: "mock".to_owned(),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: 0,
        })
    }

    fn llm_embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.record(Function::LlmEmbed, json!({"texts": texts}));
        let answer = self
            .answer(|a| a.llm_embed.clone())
            .ok_or_else(|| missing(Function::LlmEmbed, "on_llm_embed"))?;
        answer(texts)
    }

    fn rag_store(&self, documents: &[rag::Document]) -> Result<Vec<String>> {
        self.record(
            Function::RagStore,
            json!({"documents": documents.iter().map(|d| json!({"category": d.category, "entity": d.entity, "text": d.text})).collect::<Vec<_>>()}),
        );
        let mut stored = self.stored.borrow_mut();
        let first = stored.len();
        stored.extend(documents.iter().cloned());
        Ok((first..stored.len()).map(|i| format!("doc-{i}")).collect())
    }

    fn rag_retrieve(&self, query: &str, k: u32, category: Option<&str>) -> Result<rag::Retrieval> {
        self.record(
            Function::RagRetrieve,
            json!({"query": query, "k": k, "category": category}),
        );
        let answer = self
            .answer(|a| a.rag_retrieve.clone())
            .ok_or_else(|| missing(Function::RagRetrieve, "on_rag_retrieve"))?;
        answer(query, k, category)
    }

    fn memory_get(&self, key: &str) -> Result<Option<String>> {
        self.record(Function::MemoryGet, json!({"key": key}));
        Ok(self.memory.borrow().get(key).cloned())
    }

    fn memory_set(&self, key: &str, value: &str) -> Result<()> {
        let parsed = parse("the value", value)?;
        self.record(Function::MemorySet, json!({"key": key, "value": parsed}));
        self.memory
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn memory_remove(&self, key: &str) -> Result<bool> {
        self.record(Function::MemoryRemove, json!({"key": key}));
        Ok(self.memory.borrow_mut().remove(key).is_some())
    }

    fn memory_append(
        &self,
        list: &memory::EntryList,
        text: &str,
        data: Option<&str>,
    ) -> Result<u32> {
        let parsed = data.map(|d| parse("the entry's data", d)).transpose()?;
        self.record(
            Function::MemoryAppend,
            json!({"target": list_name(list), "text": text, "data": parsed}),
        );
        let id = self.next_entry.get() + 1;
        self.next_entry.set(id);
        self.lists
            .borrow_mut()
            .entry(list_name(list))
            .or_default()
            .push(memory::Entry {
                id,
                timestamp: crate::Timestamp::from_epoch_millis(0).to_rfc3339(),
                skill_id: "under-test".to_owned(),
                text: text.to_owned(),
                data: data.map(str::to_owned),
            });
        Ok(id)
    }

    fn memory_recent(&self, list: &memory::EntryList, limit: u32) -> Result<Vec<memory::Entry>> {
        self.record(
            Function::MemoryRecent,
            json!({"target": list_name(list), "limit": limit}),
        );
        let lists = self.lists.borrow();
        let entries = lists.get(list_name(list)).map(Vec::as_slice).unwrap_or(&[]);
        Ok(entries
            .iter()
            .rev()
            .take(limit.min(1_000) as usize)
            .cloned()
            .collect())
    }

    fn memory_set_focus(&self, focus: Option<&str>) -> Result<()> {
        self.record(Function::MemorySetFocus, json!({"focus": focus}));
        *self.focus.borrow_mut() = focus.map(str::to_owned);
        Ok(())
    }

    fn memory_set_status(&self, status: &memory::AgentStatus) -> Result<()> {
        self.record(
            Function::MemorySetStatus,
            json!({"status": format!("{status:?}")}),
        );
        *self.status.borrow_mut() = Some(status.clone());
        Ok(())
    }

    fn http_send(&self, request: &http::Request) -> Result<http::Response> {
        self.record(
            Function::HttpSend,
            json!({"method": format!("{:?}", request.method), "url": request.url}),
        );
        let answer = self
            .answer(|a| a.http_send.clone())
            .ok_or_else(|| missing(Function::HttpSend, "on_http"))?;
        answer(request)
    }

    fn folder(&self, grant: &str) -> Result<std::path::PathBuf> {
        self.folders.borrow().get(grant).cloned().ok_or_else(|| {
            CapabilityError::NotConfigured(format!(
                "mock host: no folder for grant `{grant}`; give one with MockHost::folder"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
