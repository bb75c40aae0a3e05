//! Helpers shared by every source mapping: building nested ECS documents, timestamps,
//! stable ids, index names and ground-truth labels.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A JSON object under construction.
pub(crate) type Doc = Map<String, Value>;

/// Set `dotted` (e.g. `source.ip`) in `doc` as nested objects: `{"source": {"ip": …}}`.
///
/// An intermediate that is already a non-object is replaced; the mappings never do that
/// on purpose, so it only happens on a mapping bug, and then the later field wins.
pub(crate) fn put(doc: &mut Doc, dotted: &str, value: Value) {
    let mut parts = dotted.split('.').peekable();
    let mut current = doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), value);
            return;
        }
        // Most parents exist already (`source` before `source.port`): look
        // up before allocating a key.
        if !current.get(part).is_some_and(Value::is_object) {
            current.insert(part.to_owned(), Value::Object(Map::new()));
        }
        let Some(Value::Object(next)) = current.get_mut(part) else {
            unreachable!("the parent was just made an object")
        };
        current = next;
    }
}

/// Like [`put`], but only when the value is present and is not an empty string.
pub(crate) fn put_some(doc: &mut Doc, dotted: &str, value: Option<Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(v) => put(doc, dotted, v),
    }
}

/// Store a source's own fields under `namespace` (e.g. `zeek.conn`), nesting dotted names
/// such as Zeek's `id.orig_h` into `id: {orig_h}`.
///
/// A dotted name is kept as one literal key when one of its prefixes is itself a field
/// (e.g. both `notary` and `notary.first_seen`), so no value overwrites another.
pub(crate) fn put_namespace(doc: &mut Doc, namespace: &str, fields: Map<String, Value>) {
    let mut ns = Map::new();
    let literal: Vec<bool> = fields
        .keys()
        .map(|name| {
            name.match_indices('.')
                .any(|(at, _)| fields.contains_key(&name[..at]))
        })
        .collect();
    for ((name, value), literal) in fields.into_iter().zip(literal) {
        if literal || !name.contains('.') || name.split('.').any(str::is_empty) {
            ns.insert(name, value);
        } else {
            put(&mut ns, &name, value);
        }
    }
    put(doc, namespace, Value::Object(ns));
}

/// `@timestamp` text: RFC 3339, UTC, milliseconds, as the index expects.
pub(crate) fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Epoch seconds with a fraction (Zeek's `ts`) to a UTC time.
///
/// Rounded to whole microseconds first: Zeek writes microseconds, and going straight to
/// milliseconds through a float can land one millisecond early.
pub(crate) fn epoch_seconds(ts: f64) -> Option<DateTime<Utc>> {
    if !ts.is_finite() {
        return None;
    }
    let micros = (ts * 1e6).round();
    if micros.abs() > 9.0e18 {
        return None;
    }
    // The bound above keeps the cast in range.
    DateTime::from_timestamp_micros(micros as i64)
}

/// A time written as text by Suricata (`2021-06-06T15:59:46.457984+0200`), EVTX
/// (`2019-02-13T18:01:41.593830Z`) or Zeek's ISO 8601 JSON option.
pub(crate) fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // Suricata writes the offset without a colon, which RFC 3339 does not allow.
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    // Some exports drop the offset altogether (the 2018 honeypot sample); nothing says
    // which zone they meant, so UTC it is.
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Seconds (a float) to ECS `event.duration` nanoseconds.
pub(crate) fn duration_nanos(seconds: f64) -> Option<Value> {
    let nanos = (seconds * 1e9).round();
    (nanos.is_finite() && nanos.abs() < 9.0e18).then(|| json!(nanos as i64))
}

/// The stable document id: hex of the first 20 bytes of SHA-256 over the given parts,
/// each followed by a newline.
///
/// Re-ingesting the same file yields the same ids, so the index overwrites instead of
/// duplicating.
pub(crate) fn stable_id(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\n");
        }
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..20])
}

/// Make `name` safe inside an index name: lowercase, and anything but `[a-z0-9_.-]`
/// becomes `_` (OpenSearch refuses spaces, `/`, `*`, `,`, `#` and upper case).
pub(crate) fn index_part(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c| matches!(c, '_' | '.' | '-'));
    if trimmed.is_empty() {
        "unknown".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Whether a top-level key is a ground-truth label column (Stratosphere's `label`,
/// `detailedlabel`, and their spellings `Label`, `detailed-label`, `detailed_label`).
fn label_slot(key: &str) -> Option<&'static str> {
    // Runs on every field of every record: compare without allocating.
    let is = |name: &str| key.eq_ignore_ascii_case(name);
    if is("label") {
        Some("ground_truth")
    } else if is("detailedlabel") || is("detailed-label") || is("detailed_label") {
        Some("ground_truth_detail")
    } else {
        None
    }
}

/// Ground-truth labels taken out of a record, to be dropped or kept.
#[derive(Debug, Default)]
pub(crate) struct Labels(Vec<(&'static str, String)>);

impl Labels {
    /// Remove the label keys from `fields` and remember their values.
    pub(crate) fn take(fields: &mut Map<String, Value>) -> Self {
        let keys: Vec<(String, &'static str)> = fields
            .keys()
            .filter_map(|k| label_slot(k).map(|slot| (k.clone(), slot)))
            .collect();
        let mut labels = Vec::new();
        for (key, slot) in keys {
            let text = match fields.remove(&key) {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => continue,
                Some(other) => other.to_string(),
            };
            // Stratosphere writes `(empty)` or `-` when a flow has no detailed label.
            if !text.is_empty() && text != "(empty)" && text != "-" {
                labels.push((slot, text));
            }
        }
        Labels(labels)
    }

    /// Put the labels under `labels.ground_truth` / `labels.ground_truth_detail`.
    pub(crate) fn apply(self, doc: &mut Doc) {
        for (slot, text) in self.0 {
            put(doc, &format!("labels.{slot}"), Value::String(text));
        }
    }
}

/// Read a nested field by dotted path from a JSON object, falling back to a literal dotted
/// key (NDJSON producers write both `{"event": {"dataset": …}}` and `{"event.dataset": …}`).
pub(crate) fn get_path<'a>(doc: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(dotted) {
        return Some(v);
    }
    let mut parts = dotted.split('.');
    let mut current = doc.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A JSON value as text, for fields that ECS wants as keywords (ids, codes).
pub(crate) fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON value as an unsigned integer, accepting numbers written as text.
pub(crate) fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON value as a float, accepting numbers written as text.
pub(crate) fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Sum two optional counters (bytes, packets) into a `network.*` total: present when either is.
pub(crate) fn sum_counts(a: Option<u64>, b: Option<u64>) -> Option<Value> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(json!(a.unwrap_or(0).saturating_add(b.unwrap_or(0)))),
    }
}

/// An IP address as ECS wants it: valid, with IPv4-mapped IPv6 (`::ffff:10.0.0.1`, as
/// Windows Kerberos events write it) turned into plain IPv4.
pub(crate) fn clean_ip(text: &str) -> Option<String> {
    let ip: std::net::IpAddr = text.trim().parse().ok()?;
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    Some(ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_nests_dotted_paths() {
        let mut doc = Doc::new();
        put(&mut doc, "source.ip", json!("1.2.3.4"));
        put(&mut doc, "source.port", json!(80));
        assert_eq!(
            Value::Object(doc),
            json!({"source": {"ip": "1.2.3.4", "port": 80}})
        );
    }

    #[test]
    fn namespace_keeps_conflicting_names_literal() {
        let mut doc = Doc::new();
        let mut fields = Map::new();
        fields.insert("id.orig_h".into(), json!("1.2.3.4"));
        fields.insert("notary".into(), json!(1));
        fields.insert("notary.first_seen".into(), json!(2));
        put_namespace(&mut doc, "zeek.ssl", fields);
        assert_eq!(
            Value::Object(doc),
            json!({"zeek": {"ssl": {"id": {"orig_h": "1.2.3.4"}, "notary": 1, "notary.first_seen": 2}}})
        );
    }

    #[test]
    fn timestamps_are_utc_milliseconds() {
        let t = epoch_seconds(1655071209.953394).unwrap();
        assert_eq!(format_timestamp(t), "2022-06-12T22:00:09.953Z");
        let t = parse_time_text("2021-06-06T15:59:46.457984+0200").unwrap();
        assert_eq!(format_timestamp(t), "2021-06-06T13:59:46.457Z");
        let t = parse_time_text("2019-02-13T18:01:41.593830Z").unwrap();
        assert_eq!(format_timestamp(t), "2019-02-13T18:01:41.593Z");
        let t = parse_time_text("2019-01-02T03:50:11.315110").unwrap();
        assert_eq!(format_timestamp(t), "2019-01-02T03:50:11.315Z");
        assert!(parse_time_text("yesterday").is_none());
        assert!(epoch_seconds(f64::NAN).is_none());
    }

    #[test]
    fn ids_are_stable_and_40_hex_chars() {
        let a = stable_id(&[b"conn", b"line"]);
        assert_eq!(a, stable_id(&[b"conn", b"line"]));
        assert_ne!(a, stable_id(&[b"dns", b"line"]));
        assert_eq!(a.len(), 40);
    }

    #[test]
    fn index_parts_are_safe() {
        assert_eq!(index_part("Security"), "security");
        assert_eq!(index_part("Windows PowerShell"), "windows_powershell");
        assert_eq!(index_part("///"), "unknown");
    }

    #[test]
    fn labels_are_taken_out() {
        let mut fields = Map::new();
        fields.insert("label".into(), json!("Malicious"));
        fields.insert("detailedlabel".into(), json!("(empty)"));
        fields.insert("Label".into(), json!("Benign"));
        fields.insert("proto".into(), json!("tcp"));
        let labels = Labels::take(&mut fields);
        assert_eq!(fields.len(), 1);
        let mut doc = Doc::new();
        labels.apply(&mut doc);
        let truth = doc["labels"]["ground_truth"].as_str().unwrap();
        assert!(truth == "Malicious" || truth == "Benign");
        assert!(doc["labels"].get("ground_truth_detail").is_none());
    }

    #[test]
    fn mapped_ipv4_is_unwrapped() {
        assert_eq!(clean_ip("::ffff:172.16.66.19").unwrap(), "172.16.66.19");
        assert_eq!(clean_ip("fe80::1").unwrap(), "fe80::1");
        assert!(clean_ip("-").is_none());
    }
}
