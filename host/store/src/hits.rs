//! A search's hits: ranked by score or by sort keys, then each read from
//! the stored document, or only from the fast columns when `_source` is
//! not wanted (`docvalue_fields`).

use serde_json::{Map, Value, json};
use tantivy::TantivyDocument;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::Query;
use tantivy::schema::Value as _;

use crate::error::{StoreError, invalid};
use crate::query::QueryContext;
use crate::{MAX_RESULT_WINDOW, Store, docvalues, sort, storage};

impl Store {
    pub(crate) fn hits(
        &self,
        query: &dyn Query,
        body: &Map<String, Value>,
        cx: &QueryContext,
    ) -> Result<Map<String, Value>, StoreError> {
        let size = usize_param(body, "size", 10)?;
        let from = usize_param(body, "from", 0)?;
        if from + size > MAX_RESULT_WINDOW {
            return Err(invalid(format!(
                "from + size is {}; the most is {MAX_RESULT_WINDOW}: page with `search_after` instead",
                from + size
            )));
        }
        let keys = match body.get("sort") {
            Some(sort) => sort::parse(sort, |p| cx.fields.kw_path(p))?,
            None => Vec::new(),
        };
        let after = match body.get("search_after") {
            None => None,
            Some(Value::Array(values)) => Some(values.as_slice()),
            Some(_) => {
                return Err(invalid(
                    "`search_after` must be the `sort` array of the last hit",
                ));
            }
        };
        let by_score = keys.is_empty()
            || keys
                == [sort::SortKey {
                    by: sort::SortBy::Score,
                    desc: true,
                }];
        if after.is_some() && by_score {
            return Err(invalid(
                "`search_after` needs a `sort` on fields, e.g. [{\"@timestamp\": \"asc\"}, {\"_id\": \"asc\"}]",
            ));
        }
        let searcher = self.reader.searcher();
        type Page = Vec<(tantivy::DocAddress, Option<f32>, Option<Vec<Value>>)>;
        let (total, page): (usize, Page) = if size > 0 && by_score {
            // One pass counts and ranks.
            let top_docs = TopDocs::with_limit(size).and_offset(from).order_by_score();
            let (total, top) = searcher.search(query, &(Count, top_docs))?;
            let page = top
                .into_iter()
                .map(|(score, addr)| (addr, Some(score), None))
                .collect();
            (total, page)
        } else {
            let total = searcher.search(query, &Count)?;
            let page = if size > 0 {
                sort::sorted_page(&searcher, query, &keys, after, from, size)?
                    .into_iter()
                    .map(|(addr, values)| (addr, None, Some(values)))
                    .collect()
            } else {
                Vec::new()
            };
            (total, page)
        };
        let docvalue_fields = match body.get("docvalue_fields") {
            Some(spec) => docvalues::parse(spec, cx)?,
            None => Vec::new(),
        };
        // Without `_source`, nothing needs the stored document.
        let no_stored = docvalues::no_stored_fields(body)?;
        let wants_source = !no_stored && body.get("_source") != Some(&Value::Bool(false));
        let metadata = match (wants_source, no_stored) {
            (true, _) => docvalues::Metadata::None,
            (false, true) => docvalues::Metadata::Index,
            (false, false) => docvalues::Metadata::IndexAndId,
        };
        // A plain `_source` search reads no column: open none.
        let reads_columns = !docvalue_fields.is_empty() || metadata != docvalues::Metadata::None;
        let addresses: Vec<tantivy::DocAddress> = if reads_columns {
            page.iter().map(|(a, _, _)| *a).collect()
        } else {
            Vec::new()
        };
        let columns =
            docvalues::ColumnReader::new(&searcher, &docvalue_fields, &addresses, metadata)?;
        let mut hits = Vec::with_capacity(page.len());
        let mut max_score: Option<f32> = None;
        for (address, score, sort_values) in page {
            let mut hit = Map::new();
            if wants_source {
                let doc: TantivyDocument = searcher.doc(address)?;
                let text = |field| {
                    doc.get_first(field)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                let source: Value = serde_json::from_str(&text(self.fields.source))
                    .map_err(|e| storage("reading a stored document", e))?;
                hit.insert("_index".into(), json!(text(self.fields.index)));
                hit.insert("_id".into(), json!(text(self.fields.id)));
                hit.insert("_score".into(), score.map_or(Value::Null, |s| json!(s)));
                if let Some(source) = sort::filter_source(source, body.get("_source"))? {
                    hit.insert("_source".into(), source);
                }
            } else {
                let (index, id) = columns.metadata(address);
                hit.insert("_index".into(), json!(index));
                if !no_stored {
                    hit.insert("_id".into(), json!(id));
                }
                hit.insert("_score".into(), score.map_or(Value::Null, |s| json!(s)));
            }
            if !docvalue_fields.is_empty() {
                let values = columns.values(address);
                if !values.is_empty() {
                    hit.insert("fields".into(), Value::Object(values));
                }
            }
            if let Some(values) = sort_values {
                hit.insert("sort".into(), Value::Array(values));
            }
            if let Some(score) = score {
                max_score = Some(max_score.map_or(score, |m: f32| m.max(score)));
            }
            hits.push(Value::Object(hit));
        }
        let total = total as u64;
        let total_json = match body.get("track_total_hits") {
            Some(Value::Bool(true)) => json!({"value": total, "relation": "eq"}),
            Some(Value::Bool(false)) => Value::Null,
            Some(Value::Number(n)) => limit_total(total, n.as_u64().unwrap_or(10_000)),
            _ => limit_total(total, 10_000),
        };
        let mut hits_object = Map::new();
        if !total_json.is_null() {
            hits_object.insert("total".into(), total_json);
        }
        hits_object.insert(
            "max_score".into(),
            max_score.map_or(Value::Null, |s| json!(s)),
        );
        hits_object.insert("hits".into(), Value::Array(hits));
        let mut out = Map::new();
        out.insert("hits".into(), Value::Object(hits_object));
        Ok(out)
    }
}

fn limit_total(total: u64, limit: u64) -> Value {
    if total > limit {
        json!({"value": limit, "relation": "gte"})
    } else {
        json!({"value": total, "relation": "eq"})
    }
}

pub(crate) fn usize_param(
    body: &Map<String, Value>,
    key: &str,
    default: usize,
) -> Result<usize, StoreError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| invalid(format!("`{key}` must be a whole number ≥ 0, not {value}"))),
    }
}
