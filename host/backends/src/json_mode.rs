//! JSON mode for every model backend: pull the JSON value out of the
//! answer, check it against the caller's schema, and on failure ask once
//! more with the problem spelled out before giving up with `invalid-output`.

use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;

use sc_core::CapabilityError;
use sc_core::llm::{ChatOptions, ChatResponse, Message, Role};
use sc_core::schema::Schema;

/// A backend that can answer one conversation as asked.
pub trait ChatOnce {
    /// One answer, no JSON checking; each piece of it goes to `tokens` as
    /// it is produced, when someone listens.
    fn chat_once(
        &self,
        messages: &[Message],
        options: &ChatOptions,
        tokens: Option<&mpsc::Sender<String>>,
    ) -> impl Future<Output = Result<ChatResponse, CapabilityError>> + Send;
}

/// Answers through `backend`; in JSON mode the answer is a checked JSON
/// value. `tokens` hears every attempt as it is generated (a listener sees
/// the corrective retry too); the answer returned is the checked one.
pub async fn chat_checked(
    backend: &(impl ChatOnce + Sync),
    messages: Vec<Message>,
    options: ChatOptions,
    tokens: Option<&mpsc::Sender<String>>,
) -> Result<ChatResponse, CapabilityError> {
    let started = Instant::now();
    if !options.json_mode {
        return backend.chat_once(&messages, &options, tokens).await;
    }
    // A schema that is not JSON, or not a usable schema (an unknown type, a
    // `$ref` that resolves nowhere inside it), is refused before a model
    // spends time.
    let schema: Option<Schema> = match options.json_schema.as_deref() {
        None => None,
        Some(text) => {
            let value: Value = serde_json::from_str(text).map_err(|err| {
                CapabilityError::InvalidInput(format!("json_schema is not valid JSON: {err}"))
            })?;
            Some(Schema::compile(&value).map_err(|err| {
                CapabilityError::InvalidInput(format!(
                    "json_schema is not a usable JSON Schema: {err}"
                ))
            })?)
        }
    };
    let mut answer = backend.chat_once(&messages, &options, tokens).await?;
    let checked = |content: &str| -> Result<Value, String> {
        let value =
            extract_json(content).ok_or_else(|| "the answer holds no JSON value".to_owned())?;
        if let Some(schema) = &schema {
            schema.check(&value)?;
        }
        Ok(value)
    };
    let problem = match checked(&answer.content) {
        Ok(value) => {
            answer.content = value.to_string();
            return Ok(answer);
        }
        Err(problem) => problem,
    };
    // One more try, telling the model what was wrong.
    let mut retry = messages;
    retry.push(Message {
        role: Role::Assistant,
        content: answer.content.clone(),
    });
    retry.push(Message {
        role: Role::User,
        content: format!(
            "Your answer was not valid: {problem}. Reply with only the JSON value{}.",
            if schema.is_some() {
                " matching the schema"
            } else {
                ""
            }
        ),
    });
    let mut second = backend.chat_once(&retry, &options, tokens).await?;
    second.prompt_tokens += answer.prompt_tokens;
    second.completion_tokens += answer.completion_tokens;
    second.latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    match checked(&second.content) {
        Ok(value) => {
            second.content = value.to_string();
            Ok(second)
        }
        Err(problem) => Err(CapabilityError::InvalidOutput(format!(
            "the model's answer is not the JSON asked for, even after a corrective retry: {problem} (it began {:?}, {} tokens)",
            second.content.chars().take(160).collect::<String>(),
            second.completion_tokens
        ))),
    }
}

/// Where a JSON value that a model writes ends: fed the answer piece by
/// piece, it says when the first top-level object or array has closed, so
/// generation can stop there instead of running on to the token limit.
#[derive(Debug, Default)]
pub struct JsonEnd {
    depth: usize,
    started: bool,
    in_string: bool,
    escaped: bool,
    done: bool,
}

impl JsonEnd {
    /// Reads the next piece of the answer; true once the value is complete.
    pub fn feed(&mut self, piece: &str) -> bool {
        for c in piece.chars() {
            if self.done {
                break;
            }
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, '\\') => self.escaped = true,
                    (false, '"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' if self.started => self.in_string = true,
                '{' | '[' => {
                    self.started = true;
                    self.depth += 1;
                }
                '}' | ']' if self.started => {
                    self.depth = self.depth.saturating_sub(1);
                    self.done = self.depth == 0;
                }
                _ => {}
            }
        }
        self.done
    }
}

/// How a JSON answer should open, from the caller's schema: `{` for an
/// object (or no schema: JSON mode answers an object unless told
/// otherwise), `[` for an array, and nothing when the schema allows other
/// shapes (`anyOf`, a list of types, an `enum`), so no answer is ruled out.
pub fn json_opening(schema: Option<&str>) -> &'static str {
    let Some(text) = schema else {
        return "{";
    };
    let Ok(schema) = serde_json::from_str::<Value>(text) else {
        return "";
    };
    match schema["type"].as_str() {
        Some("object") => "{",
        Some("array") => "[",
        None if schema.get("properties").is_some()
            && ["anyOf", "oneOf", "enum", "const"]
                .iter()
                .all(|k| schema.get(*k).is_none()) =>
        {
            "{"
        }
        _ => "",
    }
}

/// A skeleton of the answer a schema asks for, such as
/// `{"city": "...", "score": 0}`: properties with placeholder values of
/// their type. None when the schema does not parse or is not an object.
pub fn skeleton(schema: &str) -> Option<String> {
    fn shape(schema: &Value, depth: usize) -> Value {
        let kind = schema["type"].as_str().unwrap_or_else(|| {
            if schema.get("properties").is_some() {
                "object"
            } else {
                "string"
            }
        });
        match kind {
            "object" if depth < 4 => Value::Object(
                schema["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, sub)| (name.clone(), shape(sub, depth + 1)))
                    .collect(),
            ),
            "object" => Value::Object(serde_json::Map::new()),
            "array" if depth < 4 => Value::Array(vec![shape(&schema["items"], depth + 1)]),
            "array" => Value::Array(Vec::new()),
            "integer" | "number" => Value::from(0),
            "boolean" => Value::Bool(false),
            _ => match schema["enum"].as_array().and_then(|e| e.first()) {
                Some(first) => first.clone(),
                None => Value::String("...".to_owned()),
            },
        }
    }
    let schema: Value = serde_json::from_str(schema).ok()?;
    let shaped = shape(&schema, 0);
    (shaped.is_object() || shaped.is_array()).then(|| shaped.to_string())
}

/// The first JSON value in a model's answer (models like to wrap JSON in
/// prose or code fences).
pub fn extract_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str(trimmed) {
        return Some(value);
    }
    for (start, _) in trimmed.match_indices(['{', '[']) {
        let mut stream = serde_json::Deserializer::from_str(&trimmed[start..]).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next() {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{JsonEnd, extract_json, json_opening};
    use serde_json::json;

    #[test]
    fn the_end_of_a_json_value_is_found_across_pieces_and_strings() {
        let mut end = JsonEnd::default();
        assert!(!end.feed("{\"city\": \"Pa"));
        assert!(
            !end.feed("ris } {\\\" still\", \"n\": 1"),
            "braces and escaped quotes inside a string do not count"
        );
        assert!(!end.feed(", \"list\": [1, {\"a\": 2}]"));
        assert!(end.feed("}\nHope that helps"));
        let mut prose = JsonEnd::default();
        assert!(
            !prose.feed("Sure } here"),
            "a closing brace before any opening is prose"
        );
        assert!(prose.feed(": [1]"));
    }

    #[test]
    fn a_schema_becomes_a_skeleton_of_the_answer() {
        let schema = r#"{"type":"object","properties":{"verdict":{"type":"string","enum":["benign","malicious"]},
            "confidence":{"type":"number"},"evidence":{"type":"array","items":{"type":"string"}}}}"#;
        let shaped: serde_json::Value =
            serde_json::from_str(&super::skeleton(schema).expect("skeleton")).expect("JSON");
        assert_eq!(
            shaped,
            json!({"verdict": "benign", "confidence": 0, "evidence": ["..."]})
        );
        assert_eq!(super::skeleton(r#"{"type":"string"}"#), None);
        assert_eq!(super::skeleton("not json"), None);
    }

    #[test]
    fn the_opening_follows_the_schema() {
        assert_eq!(json_opening(None), "{");
        assert_eq!(json_opening(Some(r#"{"type":"array"}"#)), "[");
        assert_eq!(json_opening(Some(r#"{"type":"object"}"#)), "{");
        assert_eq!(json_opening(Some(r#"{"type":"string"}"#)), "");
        assert_eq!(json_opening(Some(r#"{"properties":{"a":{}}}"#)), "{");
        assert_eq!(json_opening(Some(r#"{"type":["array","null"]}"#)), "");
        assert_eq!(
            json_opening(Some(r#"{"anyOf":[{"type":"array"},{"type":"object"}]}"#)),
            ""
        );
        assert_eq!(json_opening(Some(r#"{"enum":[1,2]}"#)), "");
    }

    #[test]
    fn json_is_found_inside_prose_and_fences() {
        assert_eq!(extract_json("{\"a\":1}"), Some(json!({"a": 1})));
        assert_eq!(
            extract_json("Sure! ```json\n{\"verdict\": \"benign\"}\n``` Hope that helps."),
            Some(json!({"verdict": "benign"}))
        );
        assert_eq!(extract_json("[1, 2] trailing"), Some(json!([1, 2])));
        assert_eq!(extract_json("no json here"), None);
    }
}
