//! The tantivy schema of the store and how a JSON document maps onto it.
//!
//! Every document lives in one tantivy index:
//! - `_index`, `_id` (raw, stored, fast) and `_uid` (`index\0id`, the key
//!   that makes re-indexing idempotent);
//! - `_source`, the document as given (stored only);
//! - `kw`, the whole document as a JSON field with the raw tokenizer and
//!   fast columns: exact terms, ranges, sorting and aggregations. Strings
//!   longer than [`KEYWORD_MAX_CHARS`] are left out, like `ignore_above`.
//! - `text`, the full-text fields ([`TEXT_FIELDS`]) tokenized with
//!   positions, for `match` and `match_phrase`.
//!
//! The same field types are what the cluster backends' index template maps
//! ([`mapping_type`]), so a query means the same thing everywhere.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Map, Value};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema, TextFieldIndexing,
};

/// Fields analysed as full text (`text` in a cluster mapping); every other
/// string is a keyword.
pub const TEXT_FIELDS: [&str; 3] = ["message", "event.original", "error.message"];

/// Longest string indexed as a keyword (`ignore_above` on a cluster).
pub const KEYWORD_MAX_CHARS: usize = 1024;

/// The store's tantivy fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// `index\0id`.
    pub uid: Field,
    /// Document id.
    pub id: Field,
    /// Index name.
    pub index: Field,
    /// The original JSON.
    pub source: Field,
    /// Keyword view of the document.
    pub kw: Field,
    /// Full-text view of the text fields.
    pub text: Field,
}

impl Fields {
    /// The schema and its fields.
    pub fn build() -> (Schema, Self) {
        let mut builder = Schema::builder();
        let uid = builder.add_text_field("_uid", STRING);
        let id = builder.add_text_field("_id", STRING | STORED | FAST);
        let index = builder.add_text_field("_index", STRING | STORED | FAST);
        let source = builder.add_text_field("_source", STORED);
        let kw_options = JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_fast("raw")
            .set_expand_dots_enabled();
        let kw = builder.add_json_field("kw", kw_options);
        let text_options = JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("default")
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_expand_dots_enabled();
        let text = builder.add_json_field("text", text_options);
        (
            builder.build(),
            Self {
                uid,
                id,
                index,
                source,
                kw,
                text,
            },
        )
    }

    /// Finds the fields in an existing schema.
    pub fn from_schema(schema: &Schema) -> tantivy::Result<Self> {
        Ok(Self {
            uid: schema.get_field("_uid")?,
            id: schema.get_field("_id")?,
            index: schema.get_field("_index")?,
            source: schema.get_field("_source")?,
            kw: schema.get_field("kw")?,
            text: schema.get_field("text")?,
        })
    }

    /// The fast-field name of a document path.
    pub fn kw_path(&self, path: &str) -> String {
        format!("kw.{path}")
    }
}

/// What a field's mapping type makes a query mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Exact strings.
    Keyword,
    /// IP addresses (exact strings here).
    Ip,
    /// Analysed text.
    Text,
    /// Dates.
    Date,
    /// Numbers.
    Number,
    /// Booleans.
    Boolean,
    /// Not in any searched index.
    Unknown,
}

impl FieldKind {
    /// The kind of a mapping type name.
    pub fn from_mapping(mapping: Option<&str>) -> Self {
        match mapping {
            Some("keyword") => Self::Keyword,
            Some("ip") => Self::Ip,
            Some("text") => Self::Text,
            Some("date") => Self::Date,
            Some("long" | "double" | "float" | "integer") => Self::Number,
            Some("boolean") => Self::Boolean,
            _ => Self::Unknown,
        }
    }
}

/// The mapping type a value gets at `path`, as the cluster template maps it.
pub fn mapping_type(path: &str, value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "double",
        Value::Number(_) => "long",
        Value::String(s) => {
            if TEXT_FIELDS.contains(&path) {
                "text"
            } else if is_date(s) {
                "date"
            } else if (path == "ip" || path.ends_with(".ip")) && s.parse::<IpAddr>().is_ok() {
                "ip"
            } else {
                "keyword"
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    })
}

/// Whether a string is detected as a date (RFC 3339 with a time zone).
pub fn is_date(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Records every leaf's mapping type into `types` (first seen wins, as a
/// cluster's dynamic mapping does).
pub fn collect_types(doc: &Value, types: &mut BTreeMap<String, String>) {
    collect_into(&mut String::new(), doc, types);
}

/// [`collect_types`] with one path buffer for the whole walk, and types
/// worked out only for paths not seen before (most are, after the first
/// documents of a batch).
fn collect_into(path: &mut String, value: &Value, types: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let before = path.len();
                if before > 0 {
                    path.push('.');
                }
                path.push_str(key);
                collect_into(path, child, types);
                path.truncate(before);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_into(path, item, types);
            }
        }
        leaf => {
            if !types.contains_key(path.as_str())
                && let Some(kind) = mapping_type(path, leaf)
            {
                types.insert(path.clone(), kind.to_owned());
            }
        }
    }
}

/// Whether any string in the document is too long for the keyword view.
pub fn has_long_strings(value: &Value) -> bool {
    match value {
        // Bytes bound characters from above: most strings need no count.
        Value::String(s) => s.len() > KEYWORD_MAX_CHARS && s.chars().count() > KEYWORD_MAX_CHARS,
        Value::Object(map) => map.values().any(has_long_strings),
        Value::Array(items) => items.iter().any(has_long_strings),
        _ => false,
    }
}

fn is_long_string(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.len() > KEYWORD_MAX_CHARS && s.chars().count() > KEYWORD_MAX_CHARS)
}

/// The keyword view: the document without over-long strings (a copy; use
/// the document itself when [`has_long_strings`] says none are).
pub fn keyword_view(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !is_long_string(v))
                .map(|(k, v)| (k.clone(), keyword_view(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !is_long_string(v))
                .map(keyword_view)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The full-text view: only the text fields, nested as in the document.
pub fn text_view(doc: &Value) -> Option<Value> {
    let mut out = Map::new();
    for path in TEXT_FIELDS {
        if let Some(value) = lookup(doc, path) {
            out.insert(path.to_owned(), value.clone());
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The value at a dotted path, following nested objects and dotted keys.
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let map = doc.as_object()?;
    if let Some(value) = map.get(path) {
        return Some(value);
    }
    let mut split = path.len();
    while let Some(dot) = path[..split].rfind('.') {
        if let Some(child) = map.get(&path[..dot])
            && let Some(found) = lookup(child, &path[dot + 1..])
        {
            return Some(found);
        }
        split = dot;
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn types_follow_the_cluster_template() {
        let mut types = BTreeMap::new();
        let doc = json!({"@timestamp": "2024-01-01T00:00:00.000Z", "source": {"ip": "10.0.0.1", "port": 22},
            "network": {"bytes": 1.5}, "message": "hello", "user": {"name": "bob"}, "tags": ["a"]});
        collect_types(&doc, &mut types);
        assert_eq!(types["@timestamp"], "date");
        assert_eq!(types["source.ip"], "ip");
        assert_eq!(types["source.port"], "long");
        assert_eq!(types["network.bytes"], "double");
        assert_eq!(types["message"], "text");
        assert_eq!(types["user.name"], "keyword");
        assert_eq!(types["tags"], "keyword");
    }

    #[test]
    fn only_strings_past_the_keyword_limit_leave_the_keyword_view() {
        let long = "x".repeat(KEYWORD_MAX_CHARS + 1);
        // Multi-byte characters: over the limit in bytes, not in characters.
        let wide = "é".repeat(KEYWORD_MAX_CHARS);
        let doc = json!({"a": {"b": [long.clone(), "short"]}, "c": wide.clone()});
        assert!(has_long_strings(&doc));
        assert_eq!(
            keyword_view(&doc),
            json!({"a": {"b": ["short"]}, "c": wide.clone()})
        );
        assert!(!has_long_strings(&json!({"c": wide, "n": 5})));
    }

    #[test]
    fn lookup_follows_nesting_and_dotted_keys() {
        let doc = json!({"zeek": {"conn": {"id.orig_h": "1.2.3.4"}}, "a.b": 1});
        assert_eq!(lookup(&doc, "zeek.conn.id.orig_h"), Some(&json!("1.2.3.4")));
        assert_eq!(lookup(&doc, "a.b"), Some(&json!(1)));
        assert_eq!(lookup(&doc, "zeek.x"), None);
    }
}
