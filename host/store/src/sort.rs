//! Field sorts and `search_after`: matching documents are ranked by the
//! values in their fast columns, with missing values last as on a cluster.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tantivy::collector::DocSetCollector;
use tantivy::columnar::DynamicColumn;
use tantivy::query::Query;
use tantivy::{DocAddress, Searcher};

use crate::error::{StoreError, invalid};

/// What a sort key sorts by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortBy {
    /// Relevance.
    Score,
    /// Index order.
    Doc,
    /// A field's value (fast-field name).
    Field(String),
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// What to sort by.
    pub by: SortBy,
    /// Descending.
    pub desc: bool,
}

/// Reads the `sort` of a search body.
pub fn parse(sort: &Value, kw_path: impl Fn(&str) -> String) -> Result<Vec<SortKey>, StoreError> {
    let items: Vec<&Value> = match sort {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let key = |field: &str, order: Option<&str>| -> Result<SortKey, StoreError> {
        let (by, default_desc) = match field {
            "_score" => (SortBy::Score, true),
            "_doc" => (SortBy::Doc, false),
            "_id" | "_index" => (SortBy::Field(field.to_owned()), false),
            other => (SortBy::Field(kw_path(other)), false),
        };
        let desc = match order {
            None => default_desc,
            Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "sort order `{other}` on `{field}` is not known; use asc or desc"
                )));
            }
        };
        Ok(SortKey { by, desc })
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(field) => key(field, None),
            Value::Object(map) if map.len() == 1 => {
                let Some((field, spec)) = map.iter().next() else {
                    return Err(invalid("a sort key is empty"));
                };
                match spec {
                    Value::String(order) => key(field, Some(order)),
                    Value::Object(spec) => {
                        if let Some(bad) = spec.keys().find(|k| !matches!(k.as_str(), "order" | "missing" | "unmapped_type")) {
                            return Err(invalid(format!("sort option `{bad}` on `{field}` is not supported; use order")));
                        }
                        if spec.get("missing").is_some_and(|m| m != "_last") {
                            return Err(invalid(format!("sort on `{field}`: only `missing: _last` is supported")));
                        }
                        key(field, spec.get("order").and_then(Value::as_str))
                    }
                    other => Err(invalid(format!("sort on `{field}` must be \"asc\", \"desc\" or {{\"order\": …}}, not {other}"))),
                }
            }
            other => Err(invalid(format!("a sort key must be a field name or {{\"field\": \"asc\"}}, not {other}"))),
        })
        .collect()
}

/// A sort value read from a column.
#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    Int(i64),
    Float(f64),
    Str(String),
    Missing,
}

impl SortValue {
    fn to_json(&self) -> Value {
        match self {
            Self::Int(i) => json!(i),
            Self::Float(f) => json!(f),
            Self::Str(s) => json!(s),
            Self::Missing => Value::Null,
        }
    }

    fn from_json(value: &Value) -> Self {
        match value {
            Value::Number(n) => n
                .as_i64()
                .map_or_else(|| Self::Float(n.as_f64().unwrap_or_default()), Self::Int),
            Value::String(s) => Self::Str(s.clone()),
            Value::Bool(b) => Self::Int(i64::from(*b)),
            _ => Self::Missing,
        }
    }

    fn cmp_present(&self, other: &Self) -> Ordering {
        #[expect(clippy::cast_precision_loss, reason = "sorting compares magnitudes")]
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a.cmp(b),
            (Self::Int(a), Self::Float(b)) => (*a as f64).total_cmp(b),
            (Self::Float(a), Self::Int(b)) => a.total_cmp(&(*b as f64)),
            (Self::Float(a), Self::Float(b)) => a.total_cmp(b),
            (Self::Str(a), Self::Str(b)) => a.cmp(b),
            // Numbers before strings, consistently.
            (Self::Str(_), _) => Ordering::Greater,
            (_, Self::Str(_)) => Ordering::Less,
            _ => Ordering::Equal,
        }
    }
}

fn compare(a: &[SortValue], b: &[SortValue], keys: &[SortKey]) -> Ordering {
    for ((x, y), key) in a.iter().zip(b).zip(keys) {
        let ord = match (x, y) {
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Missing, _) => Ordering::Greater,
            (_, SortValue::Missing) => Ordering::Less,
            _ if key.desc => y.cmp_present(x),
            _ => x.cmp_present(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn first_value(columns: &[DynamicColumn], doc: u32) -> SortValue {
    for column in columns {
        let value = match column {
            DynamicColumn::I64(c) => c.first(doc).map(SortValue::Int),
            DynamicColumn::U64(c) => c
                .first(doc)
                .map(|v| i64::try_from(v).map_or(SortValue::Float(v as f64), SortValue::Int)),
            DynamicColumn::F64(c) => c.first(doc).map(SortValue::Float),
            DynamicColumn::Bool(c) => c.first(doc).map(|b| SortValue::Int(i64::from(b))),
            DynamicColumn::DateTime(c) => c
                .first(doc)
                .map(|d| SortValue::Int(d.into_timestamp_nanos() / 1_000_000)),
            DynamicColumn::Str(c) => c.ords().first(doc).and_then(|ord| {
                let mut text = String::new();
                c.ord_to_str(ord, &mut text)
                    .ok()
                    .filter(|found| *found)
                    .map(|_| SortValue::Str(text))
            }),
            DynamicColumn::IpAddr(_) | DynamicColumn::Bytes(_) => None,
        };
        if let Some(value) = value {
            return value;
        }
    }
    SortValue::Missing
}

/// The documents of one page, ranked by `keys`, after `search_after`,
/// with the sort values a cluster returns for each hit.
pub fn sorted_page(
    searcher: &Searcher,
    query: &dyn Query,
    keys: &[SortKey],
    after: Option<&[Value]>,
    from: usize,
    size: usize,
) -> Result<Vec<(DocAddress, Vec<Value>)>, StoreError> {
    if keys.iter().any(|k| k.by == SortBy::Score) {
        return Err(invalid(
            "sorting by `_score` together with fields is not supported; sort by fields, or leave `sort` out for relevance",
        ));
    }
    let docs = searcher.search(query, &DocSetCollector)?;
    let mut by_segment: HashMap<u32, Vec<u32>> = HashMap::new();
    for address in docs {
        by_segment
            .entry(address.segment_ord)
            .or_default()
            .push(address.doc_id);
    }
    let mut ranked: Vec<(Vec<SortValue>, DocAddress)> = Vec::new();
    for (segment, doc_ids) in by_segment {
        let reader = searcher.segment_reader(segment);
        let mut columns = Vec::new();
        for key in keys {
            columns.push(match &key.by {
                SortBy::Field(name) => reader
                    .fast_fields()
                    .dynamic_column_handles(name)?
                    .into_iter()
                    .map(|h| h.open())
                    .collect::<Result<Vec<_>, _>>()?,
                _ => Vec::new(),
            });
        }
        for doc in doc_ids {
            let values = keys
                .iter()
                .zip(&columns)
                .map(|(key, cols)| match key.by {
                    SortBy::Doc => SortValue::Int((i64::from(segment) << 32) | i64::from(doc)),
                    _ => first_value(cols, doc),
                })
                .collect();
            ranked.push((values, DocAddress::new(segment, doc)));
        }
    }
    if let Some(after) = after {
        if after.len() != keys.len() {
            return Err(invalid(format!(
                "`search_after` has {} values but `sort` has {} keys; pass the `sort` array of the last hit",
                after.len(),
                keys.len()
            )));
        }
        let after: Vec<SortValue> = after.iter().map(SortValue::from_json).collect();
        ranked.retain(|(values, _)| compare(values, &after, keys) == Ordering::Greater);
    }
    ranked.sort_by(|a, b| compare(&a.0, &b.0, keys).then(a.1.cmp(&b.1)));
    Ok(ranked
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(values, address)| (address, values.iter().map(SortValue::to_json).collect()))
        .collect())
}

/// Keeps the parts of `_source` that `_source` filtering asks for.
pub fn filter_source(source: Value, spec: Option<&Value>) -> Result<Option<Value>, StoreError> {
    let (includes, excludes): (Vec<String>, Vec<String>) = match spec {
        None | Some(Value::Bool(true)) => return Ok(Some(source)),
        Some(Value::Bool(false)) => return Ok(None),
        Some(Value::String(one)) => (vec![one.clone()], Vec::new()),
        Some(Value::Array(list)) => (strings(list)?, Vec::new()),
        Some(Value::Object(map)) => {
            let get = |key: &str| -> Result<Vec<String>, StoreError> {
                match map.get(key) {
                    None => Ok(Vec::new()),
                    Some(Value::String(one)) => Ok(vec![one.clone()]),
                    Some(Value::Array(list)) => strings(list),
                    Some(_) => Err(invalid(format!(
                        "`_source.{key}` must be a list of field patterns"
                    ))),
                }
            };
            (get("includes")?, get("excludes")?)
        }
        Some(other) => {
            return Err(invalid(format!(
                "`_source` must be true, false, a pattern list or {{includes, excludes}}, not {other}"
            )));
        }
    };
    Ok(Some(Value::Object(
        keep("", &source, &includes, &excludes).unwrap_or_default(),
    )))
}

fn strings(list: &[Value]) -> Result<Vec<String>, StoreError> {
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid("`_source` patterns must be strings"))
        })
        .collect()
}

fn keep(
    prefix: &str,
    value: &Value,
    includes: &[String],
    excludes: &[String],
) -> Option<Map<String, Value>> {
    let map = value.as_object()?;
    let mut out = Map::new();
    for (key, child) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if excludes
            .iter()
            .any(|p| crate::names::pattern_matches(p, &path))
        {
            continue;
        }
        let included = includes.is_empty()
            || includes
                .iter()
                .any(|p| crate::names::pattern_matches(p, &path));
        if included && excludes.is_empty() {
            out.insert(key.clone(), child.clone());
        } else if child.is_object() {
            // Descend: an include may name a field inside, an exclude may cut one out.
            let under = includes
                .iter()
                .any(|p| p.starts_with(&format!("{path}.")) || p.starts_with('*'));
            if (included || under)
                && let Some(kept) = keep(
                    &path,
                    child,
                    if included { &[] } else { includes },
                    excludes,
                )
                && (!kept.is_empty() || included)
            {
                out.insert(key.clone(), Value::Object(kept));
            }
        } else if included {
            out.insert(key.clone(), child.clone());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_filtering_includes_and_excludes() {
        let doc =
            json!({"source": {"ip": "1.2.3.4", "port": 80}, "user": {"name": "a"}, "message": "m"});
        let only = filter_source(doc.clone(), Some(&json!(["source.ip", "message"])))
            .unwrap()
            .unwrap();
        assert_eq!(only, json!({"source": {"ip": "1.2.3.4"}, "message": "m"}));
        let cut = filter_source(doc.clone(), Some(&json!({"excludes": ["source.*"]})))
            .unwrap()
            .unwrap();
        assert_eq!(
            cut,
            json!({"source": {}, "user": {"name": "a"}, "message": "m"})
        );
        let whole = filter_source(doc.clone(), Some(&json!(["source"])))
            .unwrap()
            .unwrap();
        assert_eq!(whole, json!({"source": {"ip": "1.2.3.4", "port": 80}}));
        assert_eq!(filter_source(doc, Some(&json!(false))).unwrap(), None);
    }

    #[test]
    fn sort_specs_parse_like_opensearch() {
        let keys = parse(
            &json!([{"@timestamp": "desc"}, {"destination.port": {"order": "asc"}}, "_doc"]),
            |p| format!("kw.{p}"),
        )
        .unwrap();
        assert_eq!(
            keys[0],
            SortKey {
                by: SortBy::Field("kw.@timestamp".into()),
                desc: true
            }
        );
        assert!(!keys[1].desc);
        assert_eq!(keys[2].by, SortBy::Doc);
        assert!(parse(&json!({"x": "sideways"}), |p| p.to_owned()).is_err());
    }
}
