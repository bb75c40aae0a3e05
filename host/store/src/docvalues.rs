//! `docvalue_fields`: a hit's field values read from the fast columns, as
//! a cluster reads them from doc values, so a search that needs a few
//! fields of many hits never opens the stored documents (with
//! `"_source": false`, `_index` and `_id` come from columns too).

use rustc_hash::FxHashMap;
use serde_json::{Map, Value, json};
use tantivy::columnar::{DynamicColumn, StrColumn};
use tantivy::{DocAddress, Searcher};

use crate::error::{StoreError, invalid};
use crate::query::QueryContext;
use crate::schema::FieldKind;

/// How a date value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// `2026-11-30T00:00:00.000Z`, a cluster's default.
    Iso,
    /// Milliseconds since the epoch, as text (as a cluster writes it).
    EpochMillis,
}

/// One requested field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocValueField {
    /// Its name in the request and the answer.
    pub name: String,
    /// Its fast-column name.
    column: String,
    /// How dates are written.
    format: DateFormat,
}

/// Reads a search body's `docvalue_fields`: names, or `{field, format}`
/// objects.
pub fn parse(spec: &Value, cx: &QueryContext) -> Result<Vec<DocValueField>, StoreError> {
    let items = spec.as_array().ok_or_else(|| {
        invalid("`docvalue_fields` must be a list of field names or {\"field\": …, \"format\": …}")
    })?;
    items
        .iter()
        .map(|item| {
            let (name, format) = match item {
                Value::String(name) => (name.as_str(), None),
                Value::Object(map) => {
                    if let Some(bad) = map.keys().find(|k| !matches!(k.as_str(), "field" | "format")) {
                        return Err(invalid(format!(
                            "`docvalue_fields` option `{bad}` is not supported; use field and format"
                        )));
                    }
                    let name = map.get("field").and_then(Value::as_str).ok_or_else(|| {
                        invalid("a `docvalue_fields` object needs `field`, e.g. {\"field\": \"@timestamp\", \"format\": \"epoch_millis\"}")
                    })?;
                    (name, map.get("format").and_then(Value::as_str))
                }
                other => {
                    return Err(invalid(format!(
                        "`docvalue_fields` entries are field names or {{\"field\": …}}, not {other}"
                    )));
                }
            };
            let kind = FieldKind::from_mapping(cx.types.get(name).map(String::as_str));
            if kind == FieldKind::Text {
                return Err(invalid(format!(
                    "`{name}` is a text field, which has no doc values; ask for a keyword field or read it from `_source`"
                )));
            }
            let format = match format {
                None | Some("strict_date_optional_time" | "date_optional_time") => DateFormat::Iso,
                Some("epoch_millis") => DateFormat::EpochMillis,
                Some(other) => {
                    return Err(invalid(format!(
                        "`docvalue_fields` format `{other}` on `{name}` is not supported by the embedded store; use epoch_millis or leave format out"
                    )));
                }
            };
            Ok(DocValueField {
                name: name.to_owned(),
                column: match name {
                    "_index" | "_id" => name.to_owned(),
                    other => cx.fields.kw_path(other),
                },
                format,
            })
        })
        .collect()
}

/// Which metadata fields a hit's columns give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// Neither: the stored document gives them.
    None,
    /// `_index` only (`"stored_fields": "_none_"`, as a cluster answers it).
    Index,
    /// `_index` and `_id` (`"_source": false`).
    IndexAndId,
}

/// Whether a search body's `stored_fields` is `_none_`: no `_id` and no
/// `_source` in the hits. Other stored fields are not kept by the store.
pub fn no_stored_fields(body: &Map<String, Value>) -> Result<bool, StoreError> {
    match body.get("stored_fields") {
        None => Ok(false),
        Some(Value::String(s)) if s == "_none_" => Ok(true),
        Some(Value::Array(list)) if list.len() == 1 && list[0] == "_none_" => Ok(true),
        Some(other) => Err(invalid(format!(
            "`stored_fields` {other} is not supported by the embedded store, which stores only `_source`; use \"_none_\", or `_source` filtering"
        ))),
    }
}

/// The terms of sorted, distinct ordinals, read in ordinal order, block by
/// block (a lookup per term decodes its block each time); `None` when the
/// dictionary lacks one of them.
pub(crate) fn term_names(column: &StrColumn, ords: &[u64]) -> Option<Vec<String>> {
    let mut names = Vec::with_capacity(ords.len());
    let complete = column.dictionary().sorted_ords_to_term_cb(ords, |bytes| {
        names.push(String::from_utf8_lossy(bytes).into_owned());
    });
    (complete.is_ok_and(|all| all) && names.len() == ords.len()).then_some(names)
}

/// A keyword column with the names of the ordinals a page needs, read in
/// ordinal order: a lookup per hit decoded a dictionary block each time.
struct Names {
    column: StrColumn,
    names: FxHashMap<u64, String>,
}

impl Names {
    fn load(column: StrColumn, docs: &[u32]) -> Self {
        let mut ords: Vec<u64> = docs.iter().flat_map(|&d| column.term_ords(d)).collect();
        ords.sort_unstable();
        ords.dedup();
        let names = term_names(&column, &ords)
            .map(|found| ords.into_iter().zip(found).collect())
            .unwrap_or_default();
        Self { column, names }
    }

    fn values(&self, doc: u32) -> impl Iterator<Item = &String> + '_ {
        self.column
            .term_ords(doc)
            .filter_map(|ord| self.names.get(&ord))
    }
}

/// One requested field's column of one value type.
enum FieldColumn {
    Names(Names),
    Values(DynamicColumn),
}

/// The opened columns of one segment: `_index`, `_id`, then each requested
/// field's columns (a JSON path may have one per value type).
struct SegmentColumns {
    index: Option<Names>,
    id: Option<Names>,
    fields: Vec<Vec<FieldColumn>>,
}

/// Reads a page of hits' values from columns.
pub struct ColumnReader<'a> {
    fields: &'a [DocValueField],
    segments: FxHashMap<u32, SegmentColumns>,
}

impl<'a> ColumnReader<'a> {
    /// A reader of `fields` for the hits of a page, with each segment's
    /// columns opened and its keyword names read once; `_index` and `_id`
    /// are read when `metadata` says so.
    pub fn new(
        searcher: &Searcher,
        fields: &'a [DocValueField],
        page: &[DocAddress],
        metadata: Metadata,
    ) -> Result<Self, StoreError> {
        let mut by_segment: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for address in page {
            by_segment
                .entry(address.segment_ord)
                .or_default()
                .push(address.doc_id);
        }
        let mut segments = FxHashMap::default();
        for (ord, docs) in by_segment {
            let fast = searcher.segment_reader(ord).fast_fields();
            let mut columns = Vec::with_capacity(fields.len());
            for field in fields {
                let mut of_field = Vec::new();
                for handle in fast.dynamic_column_handles(&field.column)? {
                    of_field.push(match handle.open()? {
                        DynamicColumn::Str(column) => {
                            FieldColumn::Names(Names::load(column, &docs))
                        }
                        other => FieldColumn::Values(other),
                    });
                }
                columns.push(of_field);
            }
            let names = |name: &str, wanted: bool| -> Result<Option<Names>, StoreError> {
                Ok(if wanted {
                    fast.str(name)?.map(|c| Names::load(c, &docs))
                } else {
                    None
                })
            };
            segments.insert(
                ord,
                SegmentColumns {
                    index: names("_index", metadata != Metadata::None)?,
                    id: names("_id", metadata == Metadata::IndexAndId)?,
                    fields: columns,
                },
            );
        }
        Ok(Self { fields, segments })
    }

    /// The hit's `_index` and `_id` (empty unless asked for in `new`).
    pub fn metadata(&self, address: DocAddress) -> (String, String) {
        let first = |names: Option<&Names>| {
            names
                .and_then(|n| n.values(address.doc_id).next().cloned())
                .unwrap_or_default()
        };
        let columns = self.segments.get(&address.segment_ord);
        (
            first(columns.and_then(|c| c.index.as_ref())),
            first(columns.and_then(|c| c.id.as_ref())),
        )
    }

    /// The hit's `fields` object: each requested field with a value, as a
    /// list of its values.
    pub fn values(&self, address: DocAddress) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(columns) = self.segments.get(&address.segment_ord) else {
            return out;
        };
        let doc = address.doc_id;
        for (field, cols) in self.fields.iter().zip(&columns.fields) {
            let mut values = Vec::new();
            for column in cols {
                match column {
                    FieldColumn::Names(names) => {
                        values.extend(names.values(doc).map(|n| Value::String(n.clone())));
                    }
                    FieldColumn::Values(column) => {
                        push_values(column, doc, field.format, &mut values)
                    }
                }
            }
            if !values.is_empty() {
                out.insert(field.name.clone(), Value::Array(values));
            }
        }
        out
    }
}

fn push_values(column: &DynamicColumn, doc: u32, format: DateFormat, out: &mut Vec<Value>) {
    match column {
        DynamicColumn::I64(c) => out.extend(c.values_for_doc(doc).map(|v| json!(v))),
        DynamicColumn::U64(c) => out.extend(c.values_for_doc(doc).map(|v| json!(v))),
        DynamicColumn::F64(c) => out.extend(c.values_for_doc(doc).map(|v| json!(v))),
        DynamicColumn::Bool(c) => out.extend(c.values_for_doc(doc).map(Value::Bool)),
        DynamicColumn::DateTime(c) => out.extend(c.values_for_doc(doc).map(|d| {
            let millis = d.into_timestamp_nanos().div_euclid(1_000_000);
            match format {
                DateFormat::EpochMillis => json!(millis.to_string()),
                DateFormat::Iso => json!(
                    chrono::DateTime::from_timestamp_millis(millis)
                        .unwrap_or_default()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ),
            }
        })),
        // Keyword columns are read through `Names`.
        DynamicColumn::Str(_) | DynamicColumn::IpAddr(_) | DynamicColumn::Bytes(_) => {}
    }
}
