//! SecurityClaw's embedded telemetry store: a persistent tantivy index that
//! answers the OpenSearch query DSL subset skills use, with answers shaped
//! as OpenSearch shapes them, so a skill runs unchanged with or without a
//! cluster.
//!
//! Supported query clauses: [`query::SUPPORTED_CLAUSES`]; aggregations:
//! [`aggs::SUPPORTED_AGGS`]. Anything else is an
//! [`StoreError::InvalidRequest`] naming the clause.
//!
//! Durability: each bulk request is one tantivy commit; a bulk load stages
//! batches and commits now and then ([`Store::stage`], [`Store::commit`]).
//! The index catalog (names and field types) travels in each commit's
//! payload, so after a crash the store is at the last commit, catalog
//! included. The index's write lock is held only while writing (and a
//! second after), so several processes (a running service and an ingest)
//! take turns writing.

mod agg_dates;
pub mod aggs;
pub mod datemath;
pub mod document;
pub mod docvalues;
mod error;
mod hits;
pub mod names;
mod pair_terms;
pub mod query;
pub mod query_string;
pub mod schema;
pub mod sort;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::AggregationResults;
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::Count;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexReader, ReloadPolicy, Term};

use document::EventDoc;
pub use error::StoreError;
use error::invalid;
use query::QueryContext;
use schema::Fields;
use writer::{OpenWriter, Staged, Writers};

/// Largest `from + size` of a search, as `index.max_result_window`.
pub const MAX_RESULT_WINDOW: usize = 10_000;

/// What a bulk request did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Documents stored.
    pub indexed: u32,
    /// Documents refused.
    pub failed: u32,
    /// The first refusals, one line each.
    pub errors: Vec<String>,
}

/// Index names and the mapping type of each field path.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Catalog {
    indices: BTreeMap<String, BTreeMap<String, String>>,
}

/// The embedded store.
pub struct Store {
    index: Index,
    fields: Fields,
    /// Opened by a write and closed a second after the last one, so readers
    /// never hold the index's write lock and writers hold it only while
    /// they write.
    writers: Writers,
    reader: IndexReader,
    catalog: RwLock<(u64, Catalog)>,
}

fn storage(context: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(format!("{context}: {err}"))
}

impl Store {
    /// Opens the store in `dir`, creating it when absent.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| storage(&format!("creating {}", dir.display()), e))?;
        let (schema, _) = Fields::build();
        let index = if dir.join("meta.json").exists() {
            Index::open_in_dir(dir)
                .map_err(|e| storage(&format!("opening {}", dir.display()), e))?
        } else {
            Index::create_in_dir(dir, schema)
                .map_err(|e| storage(&format!("creating {}", dir.display()), e))?
        };
        let fields = Fields::from_schema(&index.schema())
            .map_err(|e| storage(&format!("{} is not a SecurityClaw store", dir.display()), e))?;
        // Another process (`sc-host ingest` while the service runs) may
        // commit; the reader follows meta.json and the catalog is re-read
        // when the commit changes.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        let store = Self {
            index,
            fields,
            writers: Writers::new(),
            reader,
            catalog: RwLock::new((u64::MAX, Catalog::default())),
        };
        store.refresh_catalog()?;
        Ok(store)
    }

    /// Re-reads the catalog when the last commit is not the one it came from.
    fn refresh_catalog(&self) -> Result<(), StoreError> {
        let metas = self.index.load_metas()?;
        if self.catalog().0 == metas.opstamp {
            return Ok(());
        }
        let catalog = match metas.payload {
            Some(payload) => serde_json::from_str(&payload)
                .map_err(|e| storage("reading the index catalog", e))?,
            None => Catalog::default(),
        };
        self.publish_catalog(metas.opstamp, catalog)
    }

    /// Makes a commit's catalog the one searches use, unless a newer one
    /// already is (two threads may have read two commits), and has the
    /// reader follow.
    fn publish_catalog(&self, opstamp: u64, catalog: Catalog) -> Result<(), StoreError> {
        {
            let mut current = self.catalog.write().unwrap_or_else(PoisonError::into_inner);
            // `u64::MAX` stands for none read yet.
            if current.0 == u64::MAX || opstamp > current.0 {
                *current = (opstamp, catalog);
            }
        }
        self.reader.reload()?;
        Ok(())
    }

    fn catalog(&self) -> std::sync::RwLockReadGuard<'_, (u64, Catalog)> {
        self.catalog.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Indexes documents into one index and commits them (with anything
    /// staged before). A document with the id of one already in the index
    /// replaces it.
    pub fn bulk(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, StoreError> {
        names::validate_index_name(index)?;
        self.write(|store, open| {
            let outcome = store.stage_into(open, index, documents)?;
            store.commit_and_publish(open)?;
            Ok(outcome)
        })
    }

    /// Indexes documents into one index without committing them: a bulk
    /// load stages many batches and commits now and then ([`Store::commit`]),
    /// since every commit leaves a segment that merges must write again.
    /// Staged documents are invisible to searches and lost if the process
    /// dies; an idle writer and [`Store::close_writer`] commit them.
    pub fn stage(
        &self,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, StoreError> {
        names::validate_index_name(index)?;
        self.write(|store, open| store.stage_into(open, index, documents))
    }

    /// Commits what [`Store::stage`] wrote, making it durable and searchable.
    pub fn commit(&self) -> Result<(), StoreError> {
        let mut slot = self.writers.lock();
        slot.check_nothing_lost()?;
        let Some(open) = slot.open.as_mut() else {
            return Ok(()); // the idle closer committed it, under this lock
        };
        if let Err(err) = self.commit_and_publish(open) {
            // A writer that failed to commit must not carry its batch on.
            slot.open.take();
            return Err(err);
        }
        Ok(())
    }

    /// Runs a write on the open writer, opening it (and taking the write
    /// lock) first if need be.
    fn write<T>(
        &self,
        work: impl FnOnce(&Self, &mut OpenWriter) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.writers.lock();
        slot.check_nothing_lost()?;
        let open = match &mut slot.open {
            Some(open) => open,
            empty => empty.insert(self.writers.open(&self.index)?),
        };
        match work(self, open) {
            Ok(answer) => {
                open.last_write = Instant::now();
                drop(slot);
                self.writers.close_when_idle();
                Ok(answer)
            }
            Err(err) => {
                // Dropping the writer discards what is uncommitted (a later
                // commit must not carry half a batch) and lets go of the lock.
                slot.open.take();
                Err(err)
            }
        }
    }

    /// Adds documents to the open writer, uncommitted.
    fn stage_into(
        &self,
        open: &mut OpenWriter,
        index: &str,
        documents: Vec<(Option<String>, Value)>,
    ) -> Result<BulkOutcome, StoreError> {
        let staged = match &mut open.staged {
            Some(staged) => staged,
            none => {
                // The last commit is the base: its catalog, and its documents
                // for replacing by id (the reader follows). No other process
                // commits while this writer holds the lock, and the shared
                // catalog never goes back to an older commit.
                self.refresh_catalog()?;
                none.insert(Staged::new(self.catalog().1.clone()))
            }
        };
        // Taken out for the batch and put back after it (a failed batch
        // drops the writer and everything staged anyway). Putting it back
        // also records an index whose documents were all refused: it exists
        // once a bulk request names it, as on a cluster.
        let mut types = staged.catalog.indices.remove(index).unwrap_or_default();
        let mut outcome = BulkOutcome::default();
        let searcher = self.reader.searcher();
        for (position, (id, source)) in documents.into_iter().enumerate() {
            if !source.is_object() {
                outcome.failed += 1;
                if outcome.errors.len() < 10 {
                    outcome.errors.push(format!(
                        "document {position}: the body must be a JSON object"
                    ));
                }
                continue;
            }
            let id = match id {
                Some(id) if id.is_empty() || id.len() > 512 => {
                    outcome.failed += 1;
                    if outcome.errors.len() < 10 {
                        outcome
                            .errors
                            .push(format!("document {position}: an id must be 1 to 512 bytes"));
                    }
                    continue;
                }
                Some(id) => id,
                None => new_id(),
            };
            schema::collect_types(&source, &mut types);
            let doc = EventDoc::new(self.fields, index, &id, source);
            // Replacing needs a delete, which costs a lookup in every segment at
            // commit; skip it for ids the index has never seen (a first ingest).
            let uid_term = Term::from_field_text(self.fields.uid, doc.uid());
            if staged.seen_before(doc.uid()) || searcher.doc_freq(&uid_term)? > 0 {
                open.writer.delete_term(uid_term);
            }
            open.writer.add_document(doc)?;
            outcome.indexed += 1;
        }
        staged.catalog.indices.insert(index.to_owned(), types);
        Ok(outcome)
    }

    /// Commits the open writer's staged documents with the catalog they need,
    /// and shows them to this process's searches.
    fn commit_and_publish(&self, open: &mut OpenWriter) -> Result<(), StoreError> {
        if let Some((opstamp, catalog)) = open.commit()? {
            self.publish_catalog(opstamp, catalog)?;
        }
        Ok(())
    }

    /// Closes the writer now, after committing what it staged and the merges
    /// it started: a process that wrote a lot calls this before it exits,
    /// leaving the store compact (merges cut short at exit leave many small
    /// segments behind).
    pub fn close_writer(&self) -> Result<(), StoreError> {
        let mut slot = self.writers.lock();
        let lost = slot.check_nothing_lost();
        let open = slot.open.take();
        drop(slot);
        match open {
            Some(mut open) => {
                self.commit_and_publish(&mut open)?;
                open.writer.wait_merging_threads()?;
            }
            // The idle closer may hold it, merging: wait for it to finish.
            None => self.writers.wait_for_closing_merges(),
        }
        self.reader.reload()?;
        lost
    }

    /// The index names a pattern matches. An exact name that does not exist
    /// is an error; a wildcard that matches nothing is an empty list.
    pub fn resolve(&self, pattern: &str) -> Result<Vec<String>, StoreError> {
        self.refresh_catalog()?;
        let catalog = self.catalog();
        let names: Vec<String> = catalog
            .1
            .indices
            .keys()
            .filter(|name| names::pattern_matches(pattern, name))
            .cloned()
            .collect();
        if names.is_empty() && !names::is_wildcard(pattern) {
            return Err(invalid(format!(
                "no index named `{pattern}`; `sc-host db indices` lists the indices, or use a pattern such as `{pattern}*`"
            )));
        }
        Ok(names)
    }

    fn context(&self, names: &[String]) -> Result<QueryContext, StoreError> {
        let catalog = self.catalog();
        let mut types = BTreeMap::new();
        for name in names {
            if let Some(fields) = catalog.1.indices.get(name) {
                for (path, kind) in fields {
                    types.entry(path.clone()).or_insert_with(|| kind.clone());
                }
            }
        }
        Ok(QueryContext {
            fields: self.fields,
            types,
            now: chrono::Utc::now(),
            analyzer: self
                .index
                .tokenizers()
                .get("default")
                .ok_or_else(|| storage("tokenizers", "no default tokenizer"))?,
        })
    }

    fn scoped(&self, names: &[String], query: Box<dyn Query>) -> BooleanQuery {
        let terms = names
            .iter()
            .map(|n| Term::from_field_text(self.fields.index, n))
            .collect();
        BooleanQuery::new(vec![
            (Occur::Must, query),
            (
                Occur::Must,
                Box::new(tantivy::query::ConstScoreQuery::new(
                    query::any_term(terms),
                    0.0,
                )),
            ),
        ])
    }

    /// Counts the documents matching a query clause (all when none).
    pub fn count(&self, pattern: &str, query: Option<&Value>) -> Result<u64, StoreError> {
        let names = self.resolve(pattern)?;
        let cx = self.context(&names)?;
        let query: Box<dyn Query> = match query {
            Some(clause) => cx.translate(unwrap_query(clause))?,
            None => Box::new(AllQuery),
        };
        let searcher = self.reader.searcher();
        Ok(searcher.search(&self.scoped(&names, query), &Count)? as u64)
    }

    /// Runs an OpenSearch search body; answers the OpenSearch response body.
    pub fn search(&self, pattern: &str, body: &Value) -> Result<Value, StoreError> {
        let started = Instant::now();
        let names = self.resolve(pattern)?;
        let body = body
            .as_object()
            .ok_or_else(|| invalid("the search body must be a JSON object"))?;
        for key in body.keys() {
            if !matches!(
                key.as_str(),
                "query"
                    | "size"
                    | "from"
                    | "sort"
                    | "_source"
                    | "search_after"
                    | "aggs"
                    | "aggregations"
                    | "track_total_hits"
                    | "timeout"
                    | "docvalue_fields"
                    | "stored_fields"
            ) {
                return Err(invalid(format!(
                    "search body key `{key}` is not supported by the embedded store; use query, size, from, sort, _source, docvalue_fields, stored_fields, search_after, aggs, track_total_hits"
                )));
            }
        }
        let cx = self.context(&names)?;
        let query_json = body
            .get("query")
            .cloned()
            .unwrap_or_else(|| json!({"match_all": {}}));
        let query = self.scoped(&names, cx.translate(&query_json)?);
        let mut response = self.hits(&query, body, &cx)?;
        if let Some(aggs) = body.get("aggs").or_else(|| body.get("aggregations")) {
            let aggregations = self.aggregate(&names, &query, &query_json, aggs, &cx)?;
            response.insert("aggregations".into(), aggregations);
        }
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut out = Map::new();
        out.insert("took".into(), json!(took));
        out.insert("timed_out".into(), json!(false));
        out.insert(
            "_shards".into(),
            json!({"total": 1, "successful": 1, "skipped": 0, "failed": 0}),
        );
        out.extend(response);
        Ok(Value::Object(out))
    }

    fn aggregate(
        &self,
        names: &[String],
        query: &dyn Query,
        query_json: &Value,
        aggs: &Value,
        cx: &QueryContext,
    ) -> Result<Value, StoreError> {
        // One snapshot for the bounds and the buckets: a commit in between
        // could add a date no bucket covers.
        let searcher = self.reader.searcher();
        // Two-level keyword terms are counted apart, in one pass each.
        let mut pairs = Vec::new();
        let mut rest = aggs.clone();
        if let Some(map) = rest.as_object_mut() {
            map.retain(
                |name, def| match pair_terms::PairTerms::recognise(def, cx) {
                    Some(request) => {
                        pairs.push((name.clone(), request));
                        false
                    }
                    None => true,
                },
            );
        }
        let mut counted = Map::new();
        for (name, request) in pairs {
            let counts = searcher.search(query, &request.collector(|f| cx.fields.kw_path(f)))?;
            counted.insert(name, request.answer(&counts));
        }
        if !counted.is_empty() && rest.as_object().is_some_and(Map::is_empty) {
            return Ok(Value::Object(counted));
        }
        let aggs = &rest;
        let bounds = self.calendar_bounds(&searcher, query, aggs, cx)?;
        let (request, nodes) = aggs::plan(aggs, cx, &bounds)?;
        let limits = AggregationLimitsGuard::new(Some(2 << 30), Some(2_000_000));
        let collector = AggregationCollector::from_aggs(
            request,
            AggContextParams::new(limits, self.index.tokenizers().clone()),
        );
        let results: AggregationResults = searcher.search(query, &collector)?;
        let mut results = match serde_json::to_value(results)
            .map_err(|e| storage("reading aggregation results", e))?
        {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut top_hits = |node: &aggs::AggNode, filters: &[Value]| -> Result<Value, StoreError> {
            let mut clauses = vec![query_json.clone()];
            clauses.extend(filters.iter().cloned());
            let mut body = node.params.clone();
            body.insert("query".into(), json!({"bool": {"filter": clauses}}));
            body.entry("size").or_insert(json!(3));
            body.insert("track_total_hits".into(), json!(true));
            // The indices and `now` are the enclosing search's: reuse its context.
            let inner = self.scoped(names, cx.translate(&body["query"])?);
            let mut hits = self.hits(&inner, &body, cx)?;
            Ok(json!({"hits": hits.remove("hits").unwrap_or(Value::Null)}))
        };
        aggs::reshape(&nodes, &mut results, &[], &mut top_hits)?;
        results.extend(counted);
        Ok(Value::Object(results))
    }

    /// First and last date of each field under a calendar month, quarter or
    /// year histogram, among the documents `query` selects: the periods the
    /// histogram's buckets must cover.
    fn calendar_bounds(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        aggs: &Value,
        cx: &QueryContext,
    ) -> Result<aggs::DateBounds, StoreError> {
        let mut fields = Vec::new();
        agg_dates::calendar_fields(aggs, &mut fields);
        let mut bounds = aggs::DateBounds::new();
        if fields.is_empty() {
            return Ok(bounds);
        }
        let mut request = Map::new();
        for (i, field) in fields.iter().enumerate() {
            request.insert(
                format!("{i}"),
                json!({"stats": {"field": cx.fields.kw_path(field)}}),
            );
        }
        let request: Aggregations = serde_json::from_value(Value::Object(request))
            .map_err(|e| storage("planning date bounds", e))?;
        let collector = AggregationCollector::from_aggs(
            request,
            AggContextParams::new(
                AggregationLimitsGuard::default(),
                self.index.tokenizers().clone(),
            ),
        );
        let results = serde_json::to_value(searcher.search(query, &collector)?)
            .map_err(|e| storage("reading date bounds", e))?;
        for (i, field) in fields.into_iter().enumerate() {
            let stats = &results[format!("{i}")];
            if let (Some(min), Some(max)) = (stats["min"].as_f64(), stats["max"].as_f64()) {
                bounds.insert(field, (min / 1e6, max / 1e6));
            }
        }
        Ok(bounds)
    }

    /// The indices a pattern matches, with their document counts.
    pub fn indices(&self, pattern: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.refresh_catalog()?;
        let names: Vec<String> = self
            .catalog()
            .1
            .indices
            .keys()
            .filter(|name| names::pattern_matches(pattern, name))
            .cloned()
            .collect();
        let searcher = self.reader.searcher();
        names
            .into_iter()
            .map(|name| {
                let query = TermQuery::new(
                    Term::from_field_text(self.fields.index, &name),
                    IndexRecordOption::Basic,
                );
                Ok((name, searcher.search(&query, &Count)? as u64))
            })
            .collect()
    }

    /// The `_mapping` response for a pattern: each index's fields with the
    /// types a cluster would map them to.
    pub fn mappings(&self, pattern: &str) -> Result<Value, StoreError> {
        let names = self.resolve(pattern)?;
        let catalog = self.catalog();
        let mut out = Map::new();
        for name in names {
            let mut properties = Map::new();
            for (path, kind) in catalog.1.indices.get(&name).into_iter().flatten() {
                insert_property(&mut properties, path, kind);
            }
            out.insert(name, json!({"mappings": {"properties": properties}}));
        }
        Ok(Value::Object(out))
    }
}

/// A count body may be `{"query": {...}}` or the clause itself.
fn unwrap_query(clause: &Value) -> &Value {
    match clause.as_object() {
        Some(map) if map.len() == 1 && map.contains_key("query") => &map["query"],
        _ => clause,
    }
}

fn insert_property(properties: &mut Map<String, Value>, path: &str, kind: &str) {
    match path.split_once('.') {
        None => {
            properties
                .entry(path.to_owned())
                .or_insert_with(|| json!({"type": kind}));
        }
        Some((head, rest)) => {
            let entry = properties
                .entry(head.to_owned())
                .or_insert_with(|| json!({"properties": {}}));
            if let Some(inner) = entry.get_mut("properties").and_then(Value::as_object_mut) {
                insert_property(inner, rest, kind);
            }
        }
    }
}

/// A new document id: 20 url-safe characters from the clock, a counter and
/// the process's random hash seed, unique without a random-number crate.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let high = hasher.finish();
    hasher.write_u8(1);
    let low = hasher.finish();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = (u128::from(high) << 64) | u128::from(low);
    (0..20)
        .map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char)
        .collect()
}
