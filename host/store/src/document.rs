//! The document the indexer is handed: the parsed JSON moved in and read
//! by tantivy in place, instead of copied into a `TantivyDocument`.
//!
//! Building a `TantivyDocument` copied every key and string of an event on
//! the one thread that feeds the writer. Now that thread only works out
//! the keyword and text views (copies, and only when they differ from the
//! event); the indexing threads read the event and write its `_source`.

use std::sync::OnceLock;

use serde_json::Value;
use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{Field, Value as TantivyValue};

use crate::schema::{self, Fields};

/// One event as the index writer stores it.
#[derive(Debug)]
pub struct EventDoc {
    fields: Fields,
    uid: String,
    id_len: usize,
    index_len: usize,
    source: Value,
    /// The keyword view, when it differs from the source (over-long strings).
    keyword_view: Option<Value>,
    text_view: Option<Value>,
    /// `_source` as text, written by the indexing thread that first reads
    /// it: tantivy walks a document's fields more than once (indexing,
    /// columns, stored fields), and the text must be made only once.
    source_text: OnceLock<String>,
}

impl EventDoc {
    /// The document for `source` stored under `index` and `id`.
    pub fn new(fields: Fields, index: &str, id: &str, source: Value) -> Self {
        let keyword_view = schema::has_long_strings(&source).then(|| schema::keyword_view(&source));
        let text_view = schema::text_view(&source);
        Self {
            fields,
            uid: uid(index, id),
            id_len: id.len(),
            index_len: index.len(),
            source,
            keyword_view,
            text_view,
            source_text: OnceLock::new(),
        }
    }

    /// `index\0id`, the key that makes re-indexing idempotent.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    fn index(&self) -> &str {
        &self.uid[..self.index_len]
    }

    fn id(&self) -> &str {
        &self.uid[self.uid.len() - self.id_len..]
    }
}

/// The key of a document in `index` with `id`.
fn uid(index: &str, id: &str) -> String {
    let mut uid = String::with_capacity(index.len() + 1 + id.len());
    uid.push_str(index);
    uid.push('\0');
    uid.push_str(id);
    uid
}

impl Document for EventDoc {
    type Value<'a> = FieldValue<'a>;
    type FieldsValuesIter<'a> = std::vec::IntoIter<(Field, FieldValue<'a>)>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        let source_text = self.source_text.get_or_init(|| self.source.to_string());
        let keywords = self.keyword_view.as_ref().unwrap_or(&self.source);
        let mut values = vec![
            (self.fields.uid, FieldValue::Text(&self.uid)),
            (self.fields.id, FieldValue::Text(self.id())),
            (self.fields.index, FieldValue::Text(self.index())),
            (self.fields.source, FieldValue::Text(source_text)),
            (self.fields.kw, FieldValue::Json(keywords)),
        ];
        if let Some(text) = &self.text_view {
            values.push((self.fields.text, FieldValue::Json(text)));
        }
        values.into_iter()
    }
}

/// A field's value: a plain string, or a JSON value read in place.
#[derive(Debug, Clone, Copy)]
pub enum FieldValue<'a> {
    /// A string field.
    Text(&'a str),
    /// A JSON field (or a part of one).
    Json(&'a Value),
}

type ArrayIter<'a> = std::iter::Map<std::slice::Iter<'a, Value>, fn(&'a Value) -> FieldValue<'a>>;
type ObjectIter<'a> = std::iter::Map<
    serde_json::map::Iter<'a>,
    fn((&'a String, &'a Value)) -> (&'a str, FieldValue<'a>),
>;

impl<'a> TantivyValue<'a> for FieldValue<'a> {
    type ArrayIter = ArrayIter<'a>;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            Self::Text(text) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(text)),
            Self::Json(Value::Array(items)) => {
                ReferenceValue::Array(items.iter().map(FieldValue::Json as fn(_) -> _))
            }
            Self::Json(Value::Object(map)) => ReferenceValue::Object(
                map.iter()
                    .map(object_entry as fn((&'a String, &'a Value)) -> _),
            ),
            // Leaves read as tantivy reads any JSON (RFC 3339 strings are dates).
            Self::Json(leaf) => match TantivyValue::as_value(&leaf) {
                ReferenceValue::Leaf(leaf) => ReferenceValue::Leaf(leaf),
                ReferenceValue::Array(_) | ReferenceValue::Object(_) => {
                    unreachable!("arrays and objects are matched above")
                }
            },
        }
    }
}

fn object_entry<'a>((key, value): (&'a String, &'a Value)) -> (&'a str, FieldValue<'a>) {
    (key.as_str(), FieldValue::Json(value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tantivy::schema::OwnedValue;

    use super::*;

    #[test]
    fn reads_as_the_json_it_was_made_from() {
        let (_, fields) = Fields::build();
        let source = json!({"@timestamp": "2024-01-01T00:00:00Z", "a": {"b": [1, "x"]}, "message": "hi there"});
        let doc = EventDoc::new(fields, "logs-x", "id-1", source.clone());
        assert_eq!(doc.uid(), "logs-x\0id-1");
        let values: Vec<_> = doc.iter_fields_and_values().collect();
        let text = |field| {
            values
                .iter()
                .find(|(f, _)| *f == field)
                .and_then(|(_, v)| v.as_str())
        };
        assert_eq!(text(fields.id), Some("id-1"));
        assert_eq!(text(fields.index), Some("logs-x"));
        let stored: Value = serde_json::from_str(text(fields.source).unwrap()).unwrap();
        assert_eq!(stored, source);
        // The keyword view converts as tantivy converts the same JSON.
        let (_, kw) = values.iter().find(|(f, _)| *f == fields.kw).unwrap();
        assert_eq!(
            OwnedValue::from(kw.as_value()),
            OwnedValue::from(source.clone())
        );
        let (_, text_view) = values.iter().find(|(f, _)| *f == fields.text).unwrap();
        assert_eq!(
            OwnedValue::from(text_view.as_value()),
            OwnedValue::from(json!({"message": "hi there"}))
        );
    }
}
