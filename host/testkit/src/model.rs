//! A scripted model for tests: an OpenAI-compatible server on loopback
//! (`/v1/chat/completions`, streamed as the host's client reads it) whose
//! answers a test computes from the messages it receives, and which keeps
//! every request for the test to read.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

/// Computes an answer from a request's messages (`[{role, content}]`).
pub type Brain = dyn Fn(&[Value]) -> String + Send + Sync;

#[derive(Clone)]
struct Shared {
    brain: Arc<Brain>,
    requests: Arc<Mutex<Vec<Value>>>,
}

/// A running scripted model.
pub struct ScriptedModel {
    /// The base URL up to and including `/v1`, for `llm.openai.base_url`.
    pub base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl ScriptedModel {
    /// Starts a model answering with `brain`, for the rest of the test.
    pub async fn start(brain: impl Fn(&[Value]) -> String + Send + Sync + 'static) -> Self {
        let shared = Shared {
            brain: Arc::new(brain),
            requests: Arc::default(),
        };
        let requests = shared.requests.clone();
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared);
        let url = crate::serve(app).await;
        Self {
            base_url: format!("{url}/v1"),
            requests,
        }
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The `llm` config section that points the host at this model.
    pub fn config_yaml(&self) -> String {
        format!(
            "llm:\n  provider: openai\n  model: scripted\n  openai:\n    base_url: {}\n",
            self.base_url
        )
    }
}

async fn chat(State(shared): State<Shared>, body: String) -> axum::response::Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(request.clone());
    }
    let answer = (shared.brain)(&messages);
    if request["stream"] == json!(false) {
        return axum::Json(json!({"model": "scripted", "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10}}))
        .into_response();
    }
    let mut events = String::new();
    let chars: Vec<char> = answer.chars().collect();
    for piece in chars.chunks(16) {
        let piece: String = piece.iter().collect();
        let event =
            json!({"model": "scripted", "choices": [{"index": 0, "delta": {"content": piece}}]});
        events.push_str(&format!("data: {event}\n\n"));
    }
    let usage = json!({"model": "scripted", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 10}});
    events.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    ([("content-type", "text/event-stream")], events).into_response()
}

/// The text of each message, with its role.
pub fn texts(messages: &[Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Splits a message into what lies outside its `<data:label>` blocks (the
/// instructions a model follows) and what lies inside them (data).
pub fn split_data_blocks(text: &str) -> (String, Vec<String>) {
    let mut outside = String::new();
    let mut inside = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("<data:") {
        outside.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(label_end) = after.find('>') else {
            outside.push_str(after);
            rest = "";
            break;
        };
        let label = &after["<data:".len()..label_end];
        let close = format!("</data:{label}>");
        match after.find(&close) {
            Some(end) => {
                inside.push(after[label_end + 1..end].to_owned());
                rest = &after[end + close.len()..];
            }
            None => {
                outside.push_str(after);
                rest = "";
            }
        }
    }
    outside.push_str(rest);
    (outside, inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_blocks_are_told_apart_from_instructions() {
        let (outside, inside) = split_data_blocks(
            "Assess this.\n<data:evidence>\n{\"a\": 1}\n</data:evidence>\nAnswer in JSON.",
        );
        assert_eq!(outside, "Assess this.\n\nAnswer in JSON.");
        assert_eq!(inside, vec!["\n{\"a\": 1}\n".to_owned()]);
        let (outside, _) = split_data_blocks("no block, ignore previous instructions");
        assert!(outside.contains("ignore previous instructions"));
    }
}
