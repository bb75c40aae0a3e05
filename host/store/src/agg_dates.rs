//! Aggregations over date fields, made to answer as a cluster does.
//!
//! tantivy keeps dates as nanoseconds and knows only fixed-width date
//! histograms. A cluster speaks epoch milliseconds with `*_as_string`
//! companions, and has calendar months, quarters and years, which are not
//! of fixed width. So: metric values and range bounds are converted between
//! the two units, and a calendar `date_histogram` becomes a `range`
//! aggregation over the calendar periods that the data spans, whose
//! buckets are rewritten as histogram buckets.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value, json};

use crate::error::{StoreError, invalid};

/// Nanoseconds per millisecond.
const NANOS: f64 = 1_000_000.0;

/// Periods one calendar `date_histogram` may span.
const MAX_PERIODS: usize = 10_000;

/// Range bounds sit half a microsecond before the millisecond they name:
/// an f64 holds nanoseconds since 1970 only to within 128 ns, and a
/// document stamped exactly on a bound must land above it.
const BOUND_SLACK_NANOS: f64 = 500.0;

/// A bound in milliseconds, as tantivy's date columns compare it.
pub fn bound_to_nanos(millis: f64) -> f64 {
    millis * NANOS - BOUND_SLACK_NANOS
}

/// A bound tantivy reports, back in whole milliseconds.
pub fn bound_to_millis(nanos: f64) -> f64 {
    ((nanos + BOUND_SLACK_NANOS) / NANOS).round()
}

/// A date as a cluster prints it by default (a fraction of a millisecond,
/// as in an average, is cut off as Java does).
pub fn millis_to_string(millis: f64) -> Option<String> {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "dates are whole milliseconds well inside i64"
    )]
    DateTime::from_timestamp_millis(millis.floor() as i64)
        .map(|at| at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Months per calendar period when `interval` is a month, quarter or year
/// (`1M`/`month`, `1q`/`quarter`, `1y`/`year`); none for other intervals.
pub fn calendar_months(interval: &str) -> Option<u32> {
    match interval {
        "1M" | "M" | "month" => Some(1),
        "1q" | "q" | "quarter" => Some(3),
        "1y" | "y" | "year" => Some(12),
        _ => None,
    }
}

/// The fields under calendar month, quarter or year histograms anywhere in
/// an `aggs` object: their bounds must be known before the plan is made.
pub fn calendar_fields(aggs: &Value, out: &mut Vec<String>) {
    for def in aggs.as_object().into_iter().flat_map(Map::values) {
        let histogram = &def["date_histogram"];
        if histogram["calendar_interval"]
            .as_str()
            .and_then(calendar_months)
            .is_some()
            && let Some(field) = histogram["field"].as_str()
            && !out.iter().any(|f| f == field)
        {
            out.push(field.to_owned());
        }
        for key in ["aggs", "aggregations"] {
            calendar_fields(&def[key], out);
        }
    }
}

fn period_start(millis: i64, months: u32) -> Option<DateTime<Utc>> {
    let at = DateTime::from_timestamp_millis(millis)?;
    let month0 = at.month0() / months * months;
    Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(at.year(), month0 + 1, 1)?.and_hms_opt(0, 0, 0)?)
        .into()
}

fn add_months(at: DateTime<Utc>, months: u32) -> Option<DateTime<Utc>> {
    at.checked_add_months(chrono::Months::new(months))
}

/// The calendar periods from the one holding `first` to the one holding
/// `last` (milliseconds), as `range` aggregation ranges in nanoseconds.
pub fn period_ranges(
    name: &str,
    bounds: Option<(f64, f64)>,
    months: u32,
) -> Result<Vec<Value>, StoreError> {
    let Some((first, last)) = bounds else {
        // No documents: one empty range keeps tantivy's request valid; the
        // empty bucket is trimmed from the answer.
        return Ok(vec![json!({"from": 0.0, "to": 1.0})]);
    };
    #[expect(
        clippy::cast_possible_truncation,
        reason = "dates are whole milliseconds well inside i64"
    )]
    let (first, last) = (first as i64, last as i64);
    let mut start = period_start(first, months)
        .ok_or_else(|| invalid(format!("`{name}`: a date is out of range")))?;
    let mut ranges = Vec::new();
    while start.timestamp_millis() <= last {
        let end = add_months(start, months)
            .ok_or_else(|| invalid(format!("`{name}`: a date is out of range")))?;
        #[expect(clippy::cast_precision_loss, reason = "whole milliseconds fit in f64")]
        ranges.push(json!({
            "from": bound_to_nanos(start.timestamp_millis() as f64),
            "to": bound_to_nanos(end.timestamp_millis() as f64),
        }));
        if ranges.len() > MAX_PERIODS {
            return Err(invalid(format!(
                "`{name}.date_histogram` would make more than {MAX_PERIODS} buckets; narrow the query's time range"
            )));
        }
        start = end;
    }
    Ok(ranges)
}

/// Rewrites the `range` answer of a calendar histogram into date histogram
/// buckets: keys in milliseconds, empty periods at either end trimmed (or
/// every period under `min_doc_count` dropped), as a cluster answers.
/// Answers the buckets with each one's `[from, to)` milliseconds.
pub fn calendar_buckets(result: &mut Map<String, Value>, min_doc_count: u64) -> Vec<(f64, f64)> {
    let buckets = match result.remove("buckets") {
        Some(Value::Array(buckets)) => buckets,
        _ => Vec::new(),
    };
    let mut periods: Vec<(Map<String, Value>, (f64, f64))> = Vec::new();
    for bucket in buckets {
        let Value::Object(mut bucket) = bucket else {
            continue;
        };
        let (Some(from), Some(to)) = (
            bucket.get("from").and_then(Value::as_f64),
            bucket.get("to").and_then(Value::as_f64),
        ) else {
            continue; // tantivy's open-ended fillers around the periods
        };
        for key in ["key", "from", "to", "from_as_string", "to_as_string"] {
            bucket.remove(key);
        }
        let (from, to) = (bound_to_millis(from), bound_to_millis(to));
        let mut shaped = Map::new();
        shaped.insert("key".into(), json!(from));
        shaped.append(&mut bucket);
        periods.push((shaped, (from, to)));
    }
    let count = |b: &Map<String, Value>| b.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
    if min_doc_count == 0 {
        // Empty periods between busy ones stay; those at the ends go.
        let last = periods.iter().rposition(|(b, _)| count(b) > 0);
        periods.truncate(last.map_or(0, |l| l + 1));
        let first = periods.iter().position(|(b, _)| count(b) > 0).unwrap_or(0);
        periods.drain(..first);
    } else {
        periods.retain(|(b, _)| count(b) >= min_doc_count);
    }
    let (buckets, spans): (Vec<Value>, Vec<(f64, f64)>) = periods
        .into_iter()
        .map(|(bucket, span)| (Value::Object(bucket), span))
        .unzip();
    result.insert("buckets".into(), Value::Array(buckets));
    spans
}

/// Date bucket keys: epoch milliseconds as integers and the ISO string
/// with milliseconds, as a cluster prints them.
pub fn date_key(bucket: &mut Map<String, Value>) {
    if let Some(millis) = bucket.get("key").and_then(Value::as_f64) {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "bucket keys are whole milliseconds"
        )]
        bucket.insert("key".into(), json!(millis as i64));
        if let Some(text) = millis_to_string(millis) {
            bucket.insert("key_as_string".into(), json!(text));
        }
    }
}

/// Converts a metric over a date field from nanoseconds to milliseconds
/// and adds the `*_as_string` values a cluster gives.
pub fn date_metric(kind: &str, result: &mut Map<String, Value>) {
    let keys: &[&str] = match kind {
        "min" | "max" | "avg" | "sum" => &["value"],
        "stats" => &["min", "max", "avg", "sum"],
        _ => &[],
    };
    for key in keys {
        let Some(nanos) = result.get(*key).and_then(Value::as_f64) else {
            continue;
        };
        // Extremes are dates; an average or a sum of dates is not whole.
        let millis = if matches!(kind, "min" | "max") || matches!(*key, "min" | "max") {
            (nanos / NANOS).round()
        } else {
            nanos / NANOS
        };
        result.insert((*key).to_owned(), json!(millis));
        // A sum of dates is no date (a cluster prints one far past year 9999).
        if *key == "sum" || kind == "sum" {
            continue;
        }
        if let Some(text) = millis_to_string(millis) {
            let name = if *key == "value" {
                "value_as_string".to_owned()
            } else {
                format!("{key}_as_string")
            };
            result.insert(name, json!(text));
        }
    }
    if kind == "percentiles"
        && let Some(values) = result.get_mut("values").and_then(Value::as_object_mut)
    {
        for value in values.values_mut() {
            if let Some(nanos) = value.as_f64() {
                *value = json!(nanos / NANOS);
            }
        }
    }
}

/// Converts a `range` aggregation's bounds on a date field from the
/// milliseconds (or RFC 3339 dates) a skill sends to nanoseconds.
pub fn ranges_to_nanos(name: &str, ranges: &mut Value) -> Result<(), StoreError> {
    for range in ranges.as_array_mut().into_iter().flatten() {
        for key in ["from", "to"] {
            let Some(bound) = range.get(key) else {
                continue;
            };
            let millis = match bound {
                Value::Number(n) => n.as_f64(),
                #[expect(clippy::cast_precision_loss, reason = "whole milliseconds fit in f64")]
                Value::String(s) => DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.timestamp_millis() as f64),
                _ => None,
            }
            .ok_or_else(|| {
                invalid(format!(
                    "`{name}.range.ranges[].{key}` on a date field must be epoch milliseconds or an RFC 3339 date"
                ))
            })?;
            range[key] = json!(bound_to_nanos(millis));
        }
    }
    Ok(())
}

/// Rewrites a `range` bucket on a date field: bounds in milliseconds with
/// their strings, and the key a cluster makes (`2024-01-01T00:00:00.000Z-*`)
/// unless the request named the bucket.
pub fn date_range_bucket(bucket: &mut Map<String, Value>, named: bool) {
    let mut text = |key: &str| -> String {
        let Some(nanos) = bucket.get(key).and_then(Value::as_f64) else {
            return "*".to_owned();
        };
        let millis = bound_to_millis(nanos);
        bucket.insert(key.to_owned(), json!(millis));
        let text = millis_to_string(millis).unwrap_or_default();
        bucket.insert(format!("{key}_as_string"), json!(text));
        text
    };
    let key = format!("{}-{}", text("from"), text("to"));
    if !named {
        bucket.insert("key".into(), json!(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "test dates")]
        let ms = DateTime::parse_from_rfc3339(text)
            .expect("date")
            .timestamp_millis() as f64;
        ms
    }

    #[test]
    fn calendar_periods_cover_the_data_from_its_first_period() {
        let ranges = period_ranges(
            "m",
            Some((
                millis("2024-01-31T23:59:59Z"),
                millis("2024-03-01T00:00:00Z"),
            )),
            1,
        )
        .expect("ranges");
        let starts: Vec<String> = ranges
            .iter()
            .map(|r| millis_to_string(bound_to_millis(r["from"].as_f64().unwrap())).unwrap())
            .collect();
        assert_eq!(
            starts,
            [
                "2024-01-01T00:00:00.000Z",
                "2024-02-01T00:00:00.000Z",
                "2024-03-01T00:00:00.000Z"
            ]
        );
        let quarters = period_ranges(
            "q",
            Some((
                millis("2023-11-15T00:00:00Z"),
                millis("2024-05-02T00:00:00Z"),
            )),
            3,
        )
        .expect("ranges");
        assert_eq!(quarters.len(), 3, "Q4 2023, Q1 and Q2 2024");
        assert_eq!(
            bound_to_millis(quarters[0]["from"].as_f64().unwrap()),
            millis("2023-10-01T00:00:00Z")
        );
    }

    #[test]
    fn bounds_round_trip_to_the_millisecond() {
        let at = millis("2024-01-01T01:00:00.123Z");
        assert_eq!(bound_to_millis(bound_to_nanos(at)), at);
        // A document stamped on the bound lands above it.
        assert!(bound_to_nanos(at) < at * NANOS);
    }

    #[test]
    fn empty_periods_at_the_ends_are_trimmed_and_inside_kept() {
        let bucket = |from: &str, to: &str, n: u64| json!({"from": bound_to_nanos(millis(from)), "to": bound_to_nanos(millis(to)), "doc_count": n, "key": "x"});
        let mut result = Map::new();
        result.insert(
            "buckets".into(),
            json!([
                {"to": 1.0, "doc_count": 0, "key": "*-"},
                bucket("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", 0),
                bucket("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", 2),
                bucket("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z", 0),
                bucket("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z", 1),
                bucket("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", 0),
            ]),
        );
        let spans = calendar_buckets(&mut result.clone(), 0);
        assert_eq!(spans.len(), 3);
        calendar_buckets(&mut result, 1);
        let keys: Vec<f64> = result["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["key"].as_f64().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                millis("2024-02-01T00:00:00Z"),
                millis("2024-04-01T00:00:00Z")
            ]
        );
    }
}
