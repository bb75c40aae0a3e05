//! A stored document as the engine sees it: every field path (`winlog.
//! event_data.LogonType`) indexed once per event, so the rules' many
//! lookups are one hash probe each instead of a path walk each. Anything
//! the index cannot answer (bracket paths, arrays of objects) goes to the
//! engine's own JSON event, which also serves keyword searches.

use std::borrow::Cow;

use ahash::AHashMap;
use rsigma_eval::{Event, EventValue, JsonEvent};
use serde_json::Value;

/// A document with its field paths indexed.
pub struct IndexedEvent<'a> {
    doc: JsonEvent<'a>,
    paths: AHashMap<String, &'a Value>,
    /// It has arrays of objects, whose members' fields only the walk finds.
    nested_arrays: bool,
}

impl<'a> IndexedEvent<'a> {
    /// Indexes `doc`.
    pub fn new(doc: &'a Value) -> Self {
        let mut event = Self {
            doc: JsonEvent::borrow(doc),
            paths: AHashMap::with_capacity(64),
            nested_arrays: false,
        };
        let mut path = String::with_capacity(64);
        event.collect(doc, &mut path);
        event
    }

    fn collect(&mut self, value: &'a Value, path: &mut String) {
        if !path.is_empty() {
            self.paths.insert(path.clone(), value);
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let len = path.len();
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(key);
                    self.collect(child, path);
                    path.truncate(len);
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                self.nested_arrays = true;
            }
            _ => {}
        }
    }
}

impl Event for IndexedEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        match self.paths.get(path) {
            Some(value) => Some(EventValue::from(*value)),
            None if self.nested_arrays || path.contains(['[', '\\']) => self.doc.get_field(path),
            None => None,
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.doc.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.doc.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.doc.visit_string_values(visit);
    }

    fn to_json(&self) -> Value {
        self.doc.to_json()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        self.doc.top_level_keys()
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.doc.visit_top_level_keys(visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_answer_like_the_engine_s_own_walk() {
        let doc = json!({"winlog": {"event_id": "4624", "event_data": {"LogonType": 3, "a.b": "dotted"}},
            "tags": ["x", "y"], "list": [{"name": "n1"}, {"name": "n2"}]});
        let indexed = IndexedEvent::new(&doc);
        let walked = JsonEvent::borrow(&doc);
        for path in [
            "winlog.event_id",
            "winlog.event_data.LogonType",
            "winlog.event_data",
            "tags",
            "list.name",
            "missing",
            "winlog.missing",
        ] {
            assert_eq!(
                format!("{:?}", indexed.get_field(path)),
                format!("{:?}", walked.get_field(path)),
                "{path}"
            );
        }
        // A key holding a dot is found by its plain path (the walk needs
        // the dot escaped), as a rule author writes it.
        assert!(matches!(
            indexed.get_field("winlog.event_data.a.b"),
            Some(EventValue::Str(s)) if s == "dotted"
        ));
    }
}
