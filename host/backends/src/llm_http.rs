//! The model over HTTP: Ollama's native API (`/api/chat`, `/api/embed`,
//! `/api/tags`) or any OpenAI-compatible server (`/v1/chat/completions`,
//! `/v1/embeddings`). Answers stream token by token (a caller may listen),
//! with connect, first-token and total time limits, retries on transient
//! failures, a token and latency account per call, and JSON mode that checks
//! the answer and asks once more with the error before giving up.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use sc_core::CapabilityError;
use sc_core::config::LlmConfig;
use sc_core::llm::{ChatOptions, ChatResponse, LlmBackend, Message};

/// Longest streamed line accepted from a model server.
const MAX_LINE_BYTES: usize = 1 << 20;
/// Longest answer accepted.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Largest embedding response accepted.
const MAX_EMBEDDING_BYTES: u64 = 256 << 20;

/// The start of an error body, read with a bound on size and time.
async fn error_excerpt(mut response: reqwest::Response) -> String {
    match tokio::time::timeout(Duration::from_secs(5), response.chunk()).await {
        Ok(Ok(Some(chunk))) => {
            first_line(&String::from_utf8_lossy(&chunk[..chunk.len().min(1024)]))
        }
        _ => String::new(),
    }
}

/// Which wire format a server speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// Ollama at this base URL.
    Ollama {
        /// e.g. `http://127.0.0.1:11434`.
        url: String,
    },
    /// An OpenAI-compatible server.
    OpenAi {
        /// e.g. `http://127.0.0.1:8000/v1`.
        base_url: String,
        /// Bearer key, if the server wants one.
        api_key: Option<String>,
    },
}

/// A model served over HTTP.
pub struct HttpLlm {
    client: reqwest::Client,
    chat_wire: Wire,
    chat_model: String,
    embed_wire: Wire,
    embed_model: String,
    first_token: Duration,
    total: Duration,
    retries: u32,
    max_tokens: u32,
}

/// Why one attempt failed, and whether another may succeed.
struct Attempt {
    error: CapabilityError,
    transient: bool,
}

fn backend(message: impl Into<String>, transient: bool) -> Attempt {
    Attempt {
        error: CapabilityError::Backend(message.into()),
        transient,
    }
}

impl HttpLlm {
    /// A client for the chat and embedding wires in `config`.
    pub fn new(config: &LlmConfig, chat_wire: Wire, embed_wire: Wire) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .build()?;
        Ok(Self {
            client,
            chat_wire,
            chat_model: config.model.clone(),
            embed_wire,
            embed_model: config.embedding.model.clone(),
            first_token: Duration::from_millis(config.first_token_timeout_ms),
            total: Duration::from_millis(config.total_timeout_ms),
            retries: config.retries,
            max_tokens: config.max_tokens,
        })
    }

    fn request(&self, wire: &Wire, path: &str) -> reqwest::RequestBuilder {
        match wire {
            Wire::Ollama { url } => self
                .client
                .post(format!("{}{path}", url.trim_end_matches('/'))),
            Wire::OpenAi { base_url, api_key } => {
                let request = self
                    .client
                    .post(format!("{}{path}", base_url.trim_end_matches('/')));
                match api_key {
                    Some(key) => request.bearer_auth(key),
                    None => request,
                }
            }
        }
    }

    /// POSTs JSON and waits up to `wait` for the answer's head; a non-2xx
    /// answer is an error (transient for 429 and 5xx) quoting its first line.
    async fn post_checked(
        &self,
        wire: &Wire,
        path: &str,
        body: &Value,
        wait: Duration,
        server: &str,
    ) -> Result<reqwest::Response, Attempt> {
        let response = tokio::time::timeout(wait, self.request(wire, path).json(body).send())
            .await
            .map_err(|_| Attempt {
                error: CapabilityError::Timeout,
                transient: false,
            })?
            .map_err(|err| {
                backend(
                    format!("cannot reach the {server} server: {}", without_url(&err)),
                    true,
                )
            })?;
        let status = response.status();
        if !status.is_success() {
            let transient = status.as_u16() == 429 || status.is_server_error();
            let text = error_excerpt(response).await;
            return Err(backend(
                format!(
                    "the {server} server answered {status}: {}",
                    first_line(&text)
                ),
                transient,
            ));
        }
        Ok(response)
    }

    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, CapabilityError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut delay = Duration::from_millis(250);
        let mut tries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.transient && tries < self.retries => {
                    tries += 1;
                    tracing::warn!(error = %failure.error, attempt = tries, "model call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// One request to the chat model, streaming each token to `tokens`.
    async fn attempt(
        &self,
        messages: &[Message],
        options: &ChatOptions,
        tokens: Option<mpsc::Sender<String>>,
    ) -> Result<ChatResponse, Attempt> {
        let wire_messages: Vec<Value> = messages
            .iter()
            .map(|m| json!({ "role": m.role.as_str(), "content": m.content }))
            .collect();
        let max_tokens = options.max_tokens.unwrap_or(self.max_tokens);
        let schema: Option<Value> = options
            .json_schema
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let (path, body) = match &self.chat_wire {
            Wire::Ollama { .. } => {
                let mut opts = json!({ "num_predict": max_tokens });
                if let Some(t) = options.temperature {
                    opts["temperature"] = json!(t);
                }
                let mut body = json!({
                    "model": self.chat_model, "messages": wire_messages, "stream": true, "options": opts
                });
                if options.json_mode {
                    body["format"] = schema.clone().unwrap_or_else(|| json!("json"));
                }
                ("/api/chat", body)
            }
            Wire::OpenAi { .. } => {
                let mut body = json!({
                    "model": self.chat_model, "messages": wire_messages, "stream": true,
                    "max_tokens": max_tokens, "stream_options": { "include_usage": true }
                });
                if let Some(t) = options.temperature {
                    body["temperature"] = json!(t);
                }
                if options.json_mode {
                    body["response_format"] = json!({ "type": "json_object" });
                }
                ("/chat/completions", body)
            }
        };
        let response = self
            .post_checked(&self.chat_wire, path, &body, self.first_token, "model")
            .await?;
        let deadline = tokio::time::Instant::now() + self.total;
        let mut stream = response.bytes_stream();
        let mut pending = Vec::<u8>::new();
        let mut answer = ChatResponse {
            content: String::new(),
            model: self.chat_model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: 0,
        };
        let mut first = true;
        loop {
            let limit = if first {
                self.first_token
            } else {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            };
            let chunk = match tokio::time::timeout(limit, stream.next()).await {
                Err(_) => {
                    return Err(Attempt {
                        error: CapabilityError::Timeout,
                        transient: false,
                    });
                }
                Ok(None) => break,
                Ok(Some(Err(err))) => {
                    // Tokens already handed on must not be sent twice by a retry.
                    return Err(backend(
                        format!("the answer stream broke: {}", without_url(&err)),
                        answer.content.is_empty(),
                    ));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            first = false;
            pending.extend_from_slice(&chunk);
            if pending.len() > MAX_LINE_BYTES {
                return Err(Attempt {
                    error: CapabilityError::LimitExceeded(format!(
                        "the model server sent a line longer than {MAX_LINE_BYTES} bytes"
                    )),
                    transient: false,
                });
            }
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                if self
                    .take_line(line.trim(), &mut answer, tokens.as_ref())
                    .await?
                {
                    return Ok(answer);
                }
            }
        }
        let rest = String::from_utf8_lossy(&pending).into_owned();
        self.take_line(rest.trim(), &mut answer, tokens.as_ref())
            .await?;
        Ok(answer)
    }

    /// Folds one streamed line into the answer; true when the stream is done.
    async fn take_line(
        &self,
        line: &str,
        answer: &mut ChatResponse,
        tokens: Option<&mpsc::Sender<String>>,
    ) -> Result<bool, Attempt> {
        if line.is_empty() {
            return Ok(false);
        }
        let (piece, done) = match &self.chat_wire {
            Wire::Ollama { .. } => {
                let event: Value = serde_json::from_str(line).map_err(|_| {
                    backend(
                        format!("unexpected line from Ollama: {}", first_line(line)),
                        false,
                    )
                })?;
                if let Some(error) = event.get("error").and_then(Value::as_str) {
                    return Err(backend(format!("Ollama: {error}"), false));
                }
                if let Some(model) = event.get("model").and_then(Value::as_str) {
                    answer.model = model.to_owned();
                }
                let done = event.get("done").and_then(Value::as_bool).unwrap_or(false);
                if done {
                    answer.prompt_tokens = count(&event, "prompt_eval_count");
                    answer.completion_tokens = count(&event, "eval_count");
                }
                let piece = event
                    .pointer("/message/content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (piece, done)
            }
            Wire::OpenAi { .. } => {
                let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                    return Ok(false);
                };
                if data == "[DONE]" {
                    return Ok(true);
                }
                let event: Value = serde_json::from_str(data).map_err(|_| {
                    backend(
                        format!("unexpected event from the server: {}", first_line(data)),
                        false,
                    )
                })?;
                if let Some(model) = event.get("model").and_then(Value::as_str) {
                    answer.model = model.to_owned();
                }
                if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
                    answer.prompt_tokens = count(usage, "prompt_tokens");
                    answer.completion_tokens = count(usage, "completion_tokens");
                }
                let piece = event
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (piece, false)
            }
        };
        if !piece.is_empty() {
            if answer.content.len() + piece.len() > MAX_ANSWER_BYTES {
                return Err(Attempt {
                    error: CapabilityError::LimitExceeded(format!(
                        "the model's answer passed {MAX_ANSWER_BYTES} bytes"
                    )),
                    transient: false,
                });
            }
            answer.content.push_str(&piece);
            if let Some(tokens) = tokens {
                // A listener that went away does not stop the answer.
                let _ = tokens.send(piece).await;
            }
        }
        Ok(done)
    }

    async fn embed_once(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Attempt> {
        let (path, body) = match &self.embed_wire {
            Wire::Ollama { .. } => (
                "/api/embed",
                json!({ "model": self.embed_model, "input": texts }),
            ),
            Wire::OpenAi { .. } => (
                "/embeddings",
                json!({ "model": self.embed_model, "input": texts }),
            ),
        };
        let response = self
            .post_checked(&self.embed_wire, path, &body, self.total, "embedding")
            .await?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_EMBEDDING_BYTES)
        {
            return Err(backend("the embedding response is too large", false));
        }
        let body = tokio::time::timeout(self.total, response.json::<Value>())
            .await
            .map_err(|_| Attempt {
                error: CapabilityError::Timeout,
                transient: false,
            })?;
        let body: Value = body.map_err(|err| {
            backend(
                format!("unreadable embedding response: {}", without_url(&err)),
                false,
            )
        })?;
        let vectors: Option<Vec<Vec<f32>>> = match &self.embed_wire {
            Wire::Ollama { .. } => {
                serde_json::from_value(body.get("embeddings").cloned().unwrap_or_default()).ok()
            }
            Wire::OpenAi { .. } => {
                let mut data: Vec<(usize, Vec<f32>)> = body
                    .get("data")
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|item| {
                                let index = item.get("index")?.as_u64()? as usize;
                                let vector =
                                    serde_json::from_value(item.get("embedding")?.clone()).ok()?;
                                Some((index, vector))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                data.sort_by_key(|(index, _)| *index);
                Some(data.into_iter().map(|(_, v)| v).collect())
            }
        };
        match vectors {
            Some(vectors) if vectors.len() == texts.len() => Ok(vectors),
            _ => Err(backend(
                "the embedding server returned the wrong number of vectors",
                false,
            )),
        }
    }
}

fn count(value: &Value, key: &str) -> u32 {
    value
        .get(key)
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// The reason of a reqwest error, without the URL it carries.
fn without_url(err: &reqwest::Error) -> String {
    if err.is_connect() {
        "connection refused or unreachable".to_owned()
    } else if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_decode() {
        "unreadable response".to_owned()
    } else if err.is_body() {
        "the response body broke off".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

impl crate::json_mode::ChatOnce for HttpLlm {
    async fn chat_once(
        &self,
        messages: &[Message],
        options: &ChatOptions,
        tokens: Option<&mpsc::Sender<String>>,
    ) -> Result<ChatResponse, CapabilityError> {
        let started = Instant::now();
        let mut response = self
            .with_retries(|| self.attempt(messages, options, tokens.cloned()))
            .await?;
        response.latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        Ok(response)
    }
}

#[async_trait::async_trait]
impl LlmBackend for HttpLlm {
    async fn chat(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError> {
        crate::json_mode::chat_checked(self, messages, options, None).await
    }

    async fn chat_stream(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
        tokens: mpsc::Sender<String>,
    ) -> Result<ChatResponse, CapabilityError> {
        crate::json_mode::chat_checked(self, messages, options, Some(&tokens)).await
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.with_retries(|| self.embed_once(&texts)).await
    }
}

/// Does Ollama answer at `url`? A quick `GET /api/tags` (sync, for start-up).
pub fn ollama_answers(url: &str, timeout: Duration) -> bool {
    use std::io::{Read as _, Write as _};
    use std::net::ToSocketAddrs as _;
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let Some(addr) = authority.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let request =
        format!("GET /api/tags HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
