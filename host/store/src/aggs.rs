//! OpenSearch aggregations on the embedded store: requests are checked
//! against the supported subset and handed to tantivy's aggregation engine
//! (which takes Elasticsearch-style JSON); answers are reshaped to what a
//! cluster returns. `top_hits` is answered by a search per bucket.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tantivy::aggregation::agg_req::{Aggregation, AggregationVariants, Aggregations};
use tantivy::aggregation::bucket::{FilterAggregation, QueryBuilder};
use tantivy::query::Query;
use tantivy::schema::Schema;
use tantivy::tokenizer::TokenizerManager;

use crate::agg_dates;
use crate::error::{StoreError, invalid};
use crate::query::QueryContext;
use crate::schema::{FieldKind, Fields};

/// The aggregations the embedded store answers.
pub const SUPPORTED_AGGS: &str = "terms, date_histogram, histogram, range, cardinality, avg, min, max, sum, stats, value_count, percentiles, top_hits, filter";

/// One requested aggregation, kept to reshape the answer.
#[derive(Debug, Clone)]
pub struct AggNode {
    /// Its name in the request.
    pub name: String,
    /// Its type (`terms`, `top_hits`…).
    pub kind: String,
    /// Its parameters as requested.
    pub params: Map<String, Value>,
    /// Bucket width in milliseconds or units (histograms).
    pub interval: Option<f64>,
    /// Whether its field holds dates (tantivy answers in nanoseconds).
    pub date: bool,
    /// Months per bucket of a calendar month, quarter or year histogram.
    pub calendar_months: Option<u32>,
    /// Sub-aggregations.
    pub children: Vec<AggNode>,
}

/// Allowed parameters per aggregation type.
fn allowed(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "terms" => &[
            "field",
            "size",
            "order",
            "min_doc_count",
            "missing",
            "shard_size",
        ],
        "date_histogram" => &[
            "field",
            "fixed_interval",
            "calendar_interval",
            "min_doc_count",
            "offset",
            "format",
            "time_zone",
        ],
        "histogram" => &["field", "interval", "min_doc_count", "offset"],
        "range" => &["field", "ranges", "keyed"],
        "cardinality" => &["field", "missing", "precision_threshold"],
        "avg" | "min" | "max" | "sum" | "stats" | "value_count" => &["field", "missing"],
        "percentiles" => &["field", "percents", "keyed", "missing"],
        "top_hits" => &["size", "from", "sort", "_source"],
        "filter" => &[],
        _ => return None,
    })
}

/// First and last date (milliseconds) of each field under a calendar
/// histogram, among the documents the query selects.
pub type DateBounds = std::collections::HashMap<String, (f64, f64)>;

/// Checks and translates an `aggs` object.
pub fn plan(
    aggs: &Value,
    cx: &QueryContext,
    bounds: &DateBounds,
) -> Result<(Aggregations, Vec<AggNode>), StoreError> {
    let map = aggs
        .as_object()
        .ok_or_else(|| invalid("`aggs` must be a JSON object of named aggregations"))?;
    let mut out = Aggregations::default();
    let mut nodes = Vec::new();
    for (name, def) in map {
        let def = def
            .as_object()
            .ok_or_else(|| invalid(format!("aggregation `{name}` must be a JSON object")))?;
        let mut kind = None;
        let mut sub = None;
        for (key, value) in def {
            match key.as_str() {
                "aggs" | "aggregations" => sub = Some(value),
                "meta" => {}
                other if kind.is_none() => kind = Some((other, value)),
                other => {
                    return Err(invalid(format!(
                        "aggregation `{name}` has two types (`{}` and `{other}`); give each its own name",
                        kind.map(|k| k.0).unwrap_or_default()
                    )));
                }
            }
        }
        let (kind, params) =
            kind.ok_or_else(|| invalid(format!("aggregation `{name}` has no type")))?;
        let (sub_aggs, children) = match sub {
            Some(sub) => plan(sub, cx, bounds)?,
            None => (Aggregations::default(), Vec::new()),
        };
        let node = translate_one(name, kind, params, cx, bounds, sub_aggs, &mut out)?;
        nodes.push(AggNode { children, ..node });
    }
    Ok((out, nodes))
}

fn translate_one(
    name: &str,
    kind: &str,
    params: &Value,
    cx: &QueryContext,
    bounds: &DateBounds,
    sub_aggs: Aggregations,
    out: &mut Aggregations,
) -> Result<AggNode, StoreError> {
    let allowed = allowed(kind).ok_or_else(|| {
        invalid(format!(
            "aggregation `{kind}` (in `{name}`) is not supported by the embedded store; supported: {SUPPORTED_AGGS}"
        ))
    })?;
    let node = |params: Map<String, Value>, interval| AggNode {
        name: name.to_owned(),
        kind: kind.to_owned(),
        params,
        interval,
        date: false,
        calendar_months: None,
        children: Vec::new(),
    };
    if kind == "filter" {
        let builder = DslFilter {
            clause: params.clone(),
            types: cx.types.clone(),
            now_millis: cx.now.timestamp_millis(),
        };
        // Translate once now, so a bad clause is an error here, by name.
        cx.translate(params)?;
        out.insert(
            name.to_owned(),
            Aggregation {
                agg: AggregationVariants::Filter(FilterAggregation::new_with_builder(Box::new(
                    builder,
                ))),
                sub_aggregation: sub_aggs,
            },
        );
        let mut kept = Map::new();
        kept.insert("clause".into(), params.clone());
        return Ok(node(kept, None));
    }
    let params = params.as_object().ok_or_else(|| {
        invalid(format!(
            "aggregation `{name}` ({kind}) must be a JSON object"
        ))
    })?;
    for key in params.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(invalid(format!(
                "`{name}.{kind}.{key}` is not supported by the embedded store; {kind} takes {}",
                allowed.join(", ")
            )));
        }
    }
    if kind == "top_hits" {
        if !sub_aggs.is_empty() {
            return Err(invalid(format!(
                "`{name}` (top_hits) cannot have sub-aggregations"
            )));
        }
        return Ok(node(params.clone(), None));
    }
    let field = params
        .get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("aggregation `{name}` ({kind}) needs `field`")))?;
    let field_kind = FieldKind::from_mapping(cx.types.get(field).map(String::as_str));
    if field_kind == FieldKind::Text {
        return Err(invalid(format!(
            "aggregation `{name}` is on `{field}`, a text field; aggregate on a keyword field instead"
        )));
    }
    let mut request = params.clone();
    request.insert(
        "field".into(),
        Value::String(match field {
            "_index" | "_id" => field.to_owned(),
            other => cx.fields.kw_path(other),
        }),
    );
    let threshold = request
        .remove("precision_threshold")
        .and_then(|t| t.as_u64())
        .unwrap_or(3_000)
        .min(40_000);
    request.remove("format");
    let mut interval = None;
    let date = field_kind == FieldKind::Date;
    let mut calendar_months = None;
    let mut tantivy_kind = kind;
    match kind {
        "cardinality" => {
            // A cluster counts exactly below `precision_threshold`; tantivy's
            // HyperLogLog estimates from a few hundred values up. A hidden
            // terms aggregation gives the exact count when it fits.
            let exact: Aggregation = serde_json::from_value(json!({"terms": {
                "field": request["field"], "size": threshold + 1, "shard_size": threshold + 1
            }}))
            .map_err(|err| invalid(format!("aggregation `{name}` (cardinality): {err}")))?;
            out.insert(exact_name(name), exact);
            interval = Some(threshold as f64);
        }
        "date_histogram" => {
            if let Some(tz) = request.remove("time_zone")
                && !matches!(tz.as_str(), Some("UTC" | "Z" | "+00:00" | "Etc/UTC"))
            {
                return Err(invalid(format!(
                    "`{name}.date_histogram.time_zone` other than UTC is not supported"
                )));
            }
            let months = request
                .get("calendar_interval")
                .and_then(Value::as_str)
                .and_then(agg_dates::calendar_months);
            if let Some(months) = months {
                // Months differ in length: a range per calendar period.
                if request.contains_key("offset") {
                    return Err(invalid(format!(
                        "`{name}.date_histogram.offset` is not supported with month, quarter or year intervals"
                    )));
                }
                let ranges = agg_dates::period_ranges(name, bounds.get(field).copied(), months)?;
                let mut range = Map::new();
                range.insert("field".into(), request["field"].clone());
                range.insert("ranges".into(), Value::Array(ranges));
                request = range;
                tantivy_kind = "range";
                calendar_months = Some(months);
            } else {
                let (fixed, offset) = date_interval(name, &mut request)?;
                interval = Some(fixed);
                request.insert("fixed_interval".into(), Value::String(format!("{fixed}ms")));
                if let Some(offset) = offset {
                    request.insert("offset".into(), Value::String(offset.into()));
                }
            }
        }
        "histogram" => {
            interval = request.get("interval").and_then(Value::as_f64);
            if interval.is_none_or(|i| i <= 0.0) {
                return Err(invalid(format!(
                    "`{name}.histogram.interval` must be a positive number"
                )));
            }
        }
        "terms" => {
            // Per-segment candidate lists long enough that counts are exact
            // on one machine's data, as on a one-shard index.
            let size = request.get("size").and_then(Value::as_u64).unwrap_or(10);
            request
                .entry("shard_size")
                .or_insert(json!((size * 20).max(5_000)));
            if let Some(order) = request.get("order")
                && order.as_object().is_none_or(|o| o.len() != 1)
            {
                return Err(invalid(format!(
                    "`{name}.terms.order` takes one key, e.g. {{\"_count\": \"desc\"}}"
                )));
            }
        }
        "range" => {
            if request
                .remove("keyed")
                .is_some_and(|k| k == Value::Bool(true))
            {
                return Err(invalid(format!(
                    "`{name}.range.keyed: true` is not supported; read the buckets list"
                )));
            }
            if date && let Some(ranges) = request.get_mut("ranges") {
                agg_dates::ranges_to_nanos(name, ranges)?;
            }
        }
        _ => {}
    }
    let mut tantivy_request = Map::new();
    tantivy_request.insert(tantivy_kind.to_owned(), Value::Object(request));
    let mut agg: Aggregation = serde_json::from_value(Value::Object(tantivy_request))
        .map_err(|err| invalid(format!("aggregation `{name}` ({kind}): {err}")))?;
    agg.sub_aggregation = sub_aggs;
    out.insert(name.to_owned(), agg);
    Ok(AggNode {
        date,
        calendar_months,
        ..node(params.clone(), interval)
    })
}

/// Reads `fixed_interval` / `calendar_interval` into milliseconds and the
/// offset that aligns weeks on Monday (as OpenSearch does).
fn date_interval(
    name: &str,
    request: &mut Map<String, Value>,
) -> Result<(f64, Option<&'static str>), StoreError> {
    let fixed = request.remove("fixed_interval");
    let calendar = request.remove("calendar_interval");
    let (text, is_calendar) = match (fixed, calendar) {
        (Some(f), None) => (f, false),
        (None, Some(c)) => (c, true),
        _ => {
            return Err(invalid(format!(
                "`{name}.date_histogram` needs exactly one of fixed_interval or calendar_interval"
            )));
        }
    };
    let text = text.as_str().unwrap_or_default().to_owned();
    let unit_ms = |unit: &str| -> Option<f64> {
        Some(match unit {
            "ms" => 1.0,
            "s" | "second" => 1_000.0,
            "m" | "minute" => 60_000.0,
            "h" | "hour" => 3_600_000.0,
            "d" | "day" => 86_400_000.0,
            "w" | "week" if is_calendar => 604_800_000.0,
            _ => return None,
        })
    };
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let amount: f64 = if digits == 0 {
        1.0
    } else {
        text[..digits].parse().unwrap_or(0.0)
    };
    let unit = &text[digits..];
    let per_unit = unit_ms(unit).filter(|_| amount > 0.0 && (!is_calendar || amount == 1.0));
    let Some(per_unit) = per_unit else {
        return Err(invalid(format!(
            "`{name}.date_histogram` interval `{text}` is not supported by the embedded store; use fixed_interval like `30m`, `1h`, `1d`, or calendar_interval minute, hour, day, week, month, quarter or year"
        )));
    };
    let week = is_calendar && per_unit == 604_800_000.0;
    // 1970-01-01 was a Thursday; calendar weeks start on Monday.
    Ok((amount * per_unit, week.then_some("-3d")))
}

/// The hidden terms aggregation that makes a cardinality exact.
fn exact_name(name: &str) -> String {
    format!("__sc_exact_{name}")
}

/// A `filter` aggregation's clause, translated when tantivy builds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DslFilter {
    clause: Value,
    types: std::collections::BTreeMap<String, String>,
    now_millis: i64,
}

#[typetag::serde]
impl QueryBuilder for DslFilter {
    fn build_query(
        &self,
        schema: &Schema,
        tokenizers: &TokenizerManager,
    ) -> tantivy::Result<Box<dyn Query>> {
        let cx = QueryContext {
            fields: Fields::from_schema(schema)?,
            types: self.types.clone(),
            now: chrono::DateTime::from_timestamp_millis(self.now_millis).unwrap_or_default(),
            analyzer: tokenizers.get("default").ok_or_else(|| {
                tantivy::TantivyError::InvalidArgument("no default tokenizer".into())
            })?,
        };
        cx.translate(&self.clause)
            .map_err(|err| tantivy::TantivyError::InvalidArgument(err.to_string()))
    }

    fn box_clone(&self) -> Box<dyn QueryBuilder> {
        Box::new(self.clone())
    }
}

/// Answers a `top_hits` node for the bucket the filters select.
pub type TopHitsFetcher<'a> = dyn FnMut(&AggNode, &[Value]) -> Result<Value, StoreError> + 'a;

/// Rewrites tantivy's answer into the OpenSearch shape. `bucket_filters`
/// are the clauses that select the current bucket; `top_hits` is asked for
/// the hits of a bucket.
pub fn reshape(
    nodes: &[AggNode],
    results: &mut Map<String, Value>,
    bucket_filters: &[Value],
    top_hits: &mut TopHitsFetcher<'_>,
) -> Result<(), StoreError> {
    for node in nodes {
        if node.kind == "top_hits" {
            results.insert(node.name.clone(), top_hits(node, bucket_filters)?);
            continue;
        }
        if node.kind == "cardinality" {
            let exact = results.remove(&exact_name(&node.name));
            let distinct = exact
                .as_ref()
                .and_then(|e| e["buckets"].as_array())
                .map(Vec::len);
            let threshold = node.interval.unwrap_or(3_000.0);
            if let (Some(distinct), Some(result)) = (
                distinct,
                results.get_mut(&node.name).and_then(Value::as_object_mut),
            ) && (distinct as f64) <= threshold
            {
                result.insert("value".into(), json!(distinct));
            }
        }
        let Some(result) = results.get_mut(&node.name).and_then(Value::as_object_mut) else {
            continue;
        };
        let field = node
            .params
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match node.kind.as_str() {
            "date_histogram" if node.calendar_months.is_some() => {
                let min_doc_count = node
                    .params
                    .get("min_doc_count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let spans = agg_dates::calendar_buckets(result, min_doc_count);
                let buckets = result.get_mut("buckets").and_then(Value::as_array_mut);
                for (bucket, (from, to)) in buckets.into_iter().flatten().zip(spans) {
                    let Some(bucket) = bucket.as_object_mut() else {
                        continue;
                    };
                    agg_dates::date_key(bucket);
                    let mut path = bucket_filters.to_vec();
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "bucket bounds are whole milliseconds"
                    )]
                    path.push(json!({"range": {&field: {"gte": from as i64, "lt": to as i64}}}));
                    reshape(&node.children, bucket, &path, top_hits)?;
                }
            }
            "terms" | "date_histogram" | "histogram" | "range" => {
                if node.kind == "terms" {
                    result
                        .entry("doc_count_error_upper_bound")
                        .or_insert(json!(0));
                    result.entry("sum_other_doc_count").or_insert(json!(0));
                }
                let named: Vec<&str> = node
                    .params
                    .get("ranges")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["key"].as_str())
                    .collect();
                let buckets = result.get_mut("buckets").and_then(Value::as_array_mut);
                for bucket in buckets.into_iter().flatten() {
                    let Some(bucket) = bucket.as_object_mut() else {
                        continue;
                    };
                    if node.kind == "range" && node.date {
                        let is_named = bucket
                            .get("key")
                            .and_then(Value::as_str)
                            .is_some_and(|k| named.contains(&k));
                        agg_dates::date_range_bucket(bucket, is_named);
                    }
                    let filter = bucket_filter(node, &field, bucket);
                    if node.kind == "date_histogram" {
                        agg_dates::date_key(bucket);
                    }
                    if node.kind == "range" && !node.date {
                        range_key(bucket);
                    }
                    let mut path = bucket_filters.to_vec();
                    path.push(filter);
                    reshape(&node.children, bucket, &path, top_hits)?;
                }
            }
            "min" | "max" | "avg" | "sum" | "stats" | "percentiles" if node.date => {
                agg_dates::date_metric(&node.kind, result);
            }
            "filter" => {
                let mut path = bucket_filters.to_vec();
                path.push(node.params.get("clause").cloned().unwrap_or(Value::Null));
                reshape(&node.children, result, &path, top_hits)?;
            }
            "cardinality" | "value_count" => {
                // Counts are whole numbers on a cluster.
                if let Some(value) = result.get("value").and_then(Value::as_f64) {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "a count"
                    )]
                    result.insert("value".into(), json!(value.round() as u64));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn bucket_filter(node: &AggNode, field: &str, bucket: &Map<String, Value>) -> Value {
    let key = bucket.get("key").cloned().unwrap_or(Value::Null);
    match node.kind.as_str() {
        "terms" => json!({"term": {field: key}}),
        "date_histogram" | "histogram" => {
            let from = key.as_f64().unwrap_or_default();
            let to = from + node.interval.unwrap_or_default();
            if node.kind == "date_histogram" {
                json!({"range": {field: {"gte": from as i64, "lt": to as i64}}})
            } else {
                json!({"range": {field: {"gte": from, "lt": to}}})
            }
        }
        "range" => {
            let mut spec = Map::new();
            if let Some(from) = bucket.get("from").filter(|v| !v.is_null()) {
                spec.insert("gte".into(), from.clone());
            }
            if let Some(to) = bucket.get("to").filter(|v| !v.is_null()) {
                spec.insert("lt".into(), to.clone());
            }
            json!({"range": {field: spec}})
        }
        _ => json!({"match_all": {}}),
    }
}

/// Range bucket keys as a cluster prints them: `*-100.0`, `100.0-200.0`
/// (Java's rendering of doubles), unless the request named the bucket.
fn range_key(bucket: &mut Map<String, Value>) {
    let generated = bucket
        .get("key")
        .and_then(Value::as_str)
        .is_some_and(|key| {
            let bound = |v: Option<&Value>| {
                v.and_then(Value::as_f64)
                    .map_or("*".to_owned(), |f| format!("{f}"))
            };
            key == format!("{}-{}", bound(bucket.get("from")), bound(bucket.get("to")))
        });
    if !generated {
        return;
    }
    let java = |v: Option<&Value>| {
        v.and_then(Value::as_f64).map_or("*".to_owned(), |f| {
            if f.fract() == 0.0 && f.abs() < 1e7 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        })
    };
    let key = format!("{}-{}", java(bucket.get("from")), java(bucket.get("to")));
    bucket.insert("key".into(), json!(key));
}
