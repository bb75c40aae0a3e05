//! JSON mode for every model backend: pull the JSON value out of the
//! answer, check it against the caller's schema, and on failure ask once
//! more with the problem spelled out before giving up with `invalid-output`.

use std::time::Instant;

use serde_json::Value;

use crate::capabilities::CapabilityError;
use crate::capabilities::llm::{ChatOptions, ChatResponse, Message, Role};

/// A backend that can answer one conversation as asked.
pub trait ChatOnce {
    /// One answer, no JSON checking.
    fn chat_once(
        &self,
        messages: &[Message],
        options: &ChatOptions,
    ) -> impl Future<Output = Result<ChatResponse, CapabilityError>> + Send;
}

/// Answers through `backend`; in JSON mode the answer is a checked JSON value.
pub async fn chat_checked(
    backend: &(impl ChatOnce + Sync),
    messages: Vec<Message>,
    options: ChatOptions,
) -> Result<ChatResponse, CapabilityError> {
    let started = Instant::now();
    let mut answer = backend.chat_once(&messages, &options).await?;
    if !options.json_mode {
        return Ok(answer);
    }
    let schema: Option<Value> = match options.json_schema.as_deref() {
        None => None,
        Some(text) => Some(serde_json::from_str(text).map_err(|err| {
            CapabilityError::InvalidInput(format!("json_schema is not valid JSON: {err}"))
        })?),
    };
    let checked = |content: &str| -> Result<Value, String> {
        let value =
            extract_json(content).ok_or_else(|| "the answer holds no JSON value".to_owned())?;
        if let Some(schema) = &schema {
            crate::json_schema::check(schema, schema, &value)?;
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
    let mut second = backend.chat_once(&retry, &options).await?;
    second.prompt_tokens += answer.prompt_tokens;
    second.completion_tokens += answer.completion_tokens;
    second.latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    match checked(&second.content) {
        Ok(value) => {
            second.content = value.to_string();
            Ok(second)
        }
        Err(problem) => Err(CapabilityError::InvalidOutput(format!(
            "the model's answer is not the JSON asked for, even after a corrective retry: {problem}"
        ))),
    }
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
    use super::extract_json;
    use serde_json::json;

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
