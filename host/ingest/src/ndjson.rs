//! NDJSON that is already ECS: passed through, with labels removed and an index chosen.

use serde_json::{Map, Value};

use crate::Event;
use crate::ecs::{Labels, get_path, index_part, stable_id};

/// Wrap one already-ECS object as an event.
///
/// Lenient on purpose: a document without `@timestamp` is kept as it is (no time is
/// invented), because producers of ECS NDJSON know their data better than this reader.
/// The index is `<type>-<dataset>-<namespace>` from `data_stream`, else
/// `logs-<event.dataset>`, else `logs-ndjson`.
pub(crate) fn to_event(mut doc: Map<String, Value>, raw: &[u8], keep_labels: bool) -> Event {
    let labels = Labels::take(&mut doc);
    let index = index_for(&doc);
    if keep_labels {
        labels.apply(&mut doc);
    }
    Event {
        id: stable_id(&[b"ndjson", raw]),
        index,
        kind: "ndjson".to_owned(),
        doc: Value::Object(doc),
    }
}

fn index_for(doc: &Map<String, Value>) -> String {
    let text = |path| {
        get_path(doc, path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let (Some(kind), Some(dataset), Some(namespace)) = (
        text("data_stream.type"),
        text("data_stream.dataset"),
        text("data_stream.namespace"),
    ) {
        return format!(
            "{}-{}-{}",
            index_part(kind),
            index_part(dataset),
            index_part(namespace)
        );
    }
    match text("event.dataset") {
        Some(dataset) => format!("logs-{}", index_part(dataset)),
        None => "logs-ndjson".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(text: &str, keep: bool) -> Event {
        to_event(serde_json::from_str(text).unwrap(), text.as_bytes(), keep)
    }

    #[test]
    fn index_names() {
        assert_eq!(event(r#"{"@timestamp":"t"}"#, false).index, "logs-ndjson");
        assert_eq!(
            event(
                r#"{"@timestamp":"t","event":{"dataset":"Okta.System"}}"#,
                false
            )
            .index,
            "logs-okta.system"
        );
        assert_eq!(
            event(r#"{"event.dataset":"aws.cloudtrail"}"#, false).index,
            "logs-aws.cloudtrail"
        );
        assert_eq!(
            event(
                r#"{"data_stream":{"type":"logs","dataset":"nginx.access","namespace":"prod"}}"#,
                false
            )
            .index,
            "logs-nginx.access-prod"
        );
    }

    #[test]
    fn passes_through_and_handles_labels() {
        let text = r#"{"@timestamp":"2024-01-01T00:00:00Z","source":{"ip":"1.2.3.4"},"label":"Malicious"}"#;
        let dropped = event(text, false);
        assert_eq!(dropped.kind, "ndjson");
        assert_eq!(
            dropped.doc,
            json!({"@timestamp":"2024-01-01T00:00:00Z","source":{"ip":"1.2.3.4"}})
        );
        let kept = event(text, true);
        assert_eq!(kept.doc["labels"]["ground_truth"], "Malicious");
        assert_eq!(kept.id, dropped.id);
    }
}
