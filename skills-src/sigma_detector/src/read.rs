//! Reading the events rules run over: per index pattern, in time order,
//! newer than a persisted cursor, in pages. The cursor keeps the last time
//! read and the ids read at that time, so a page boundary inside one
//! instant neither skips nor repeats an event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sc_detection::catalog::value_at;
pub use sc_detection::position::{Position, epoch_millis};
use sc_detection::step;
use securityclaw_sdk::{SkillError, Timestamp, db};

/// The memory key of the cursor.
pub const CURSOR_KEY: &str = "sigma_detector.cursor";

/// Positions by index pattern.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Per pattern.
    pub positions: BTreeMap<String, Position>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Its document id.
    pub id: String,
    /// Its index.
    pub index: String,
    /// Its time, epoch milliseconds.
    pub at_ms: i64,
    /// The document, with `_id` added (correlations report events by it).
    pub doc: Value,
}

const PAGE: u32 = 2_000;
/// The deepest `from` a store pages to; past it the query is anchored anew
/// at the position reached.
const WINDOW: u32 = 10_000;

/// Reads `pattern` from `position` to `to_ms` (inclusive), at most `limit`
/// events, moving the position past them.
pub fn read(
    pattern: &str,
    position: &mut Position,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<StoredEvent>, SkillError> {
    let mut out = Vec::new();
    'anchor: loop {
        let filter = json!([{"range": {"@timestamp": {
            "gte": Timestamp::from_epoch_millis(position.at_ms).to_rfc3339(),
            "lte": Timestamp::from_epoch_millis(to_ms).to_rfc3339(),
        }}}]);
        let anchored_at = position.at_ms;
        let mut from = 0u32;
        loop {
            let body = json!({"from": from, "size": PAGE, "query": {"bool": {"filter": filter}}, "sort": [{"@timestamp": "asc"}]});
            let hits = step(
                &format!("reading `{pattern}`"),
                db::search::<Value>(pattern, &body),
            )?
            .hits;
            let page_len = hits.len();
            for hit in hits {
                let Some(at_ms) = value_at(&hit.source, "@timestamp").and_then(epoch_millis) else {
                    continue;
                };
                if position.has_read(at_ms, &hit.id) {
                    continue;
                }
                position.advance(at_ms, &hit.id);
                let mut doc = hit.source;
                if let Value::Object(map) = &mut doc {
                    map.insert("_id".to_owned(), Value::String(hit.id.clone()));
                }
                out.push(StoredEvent {
                    id: hit.id,
                    index: hit.index,
                    at_ms,
                    doc,
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            if page_len < PAGE as usize {
                return Ok(out);
            }
            from += PAGE;
            if from + PAGE > WINDOW {
                if position.at_ms == anchored_at {
                    // Ten thousand events in one millisecond: nothing
                    // moves a time cursor past them.
                    return Err(SkillError::Failed(format!(
                        "more than {WINDOW} events of `{pattern}` share the time {}; lower the page or filter the index",
                        Timestamp::from_epoch_millis(anchored_at).to_rfc3339()
                    )));
                }
                continue 'anchor;
            }
        }
    }
}
