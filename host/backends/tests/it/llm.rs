//! The model over HTTP, against a local server that speaks the Ollama and
//! OpenAI wire formats (streaming included) and plays a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sc_backends::llm_http::{HttpLlm, Wire};
use sc_core::CapabilityError;
use sc_core::config::{LlmConfig, LlmProvider};
use sc_core::llm::{ChatOptions, LlmBackend, Message, Role};
use serde_json::{Value, json};

#[derive(Default)]
struct Script {
    answers: VecDeque<String>,
    fail_first: u32,
    fail_status: u16,
    delay_ms: u64,
    requests: Vec<Value>,
    auth: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Script>>;

fn next_answer(
    script: &Shared,
    body: Value,
    headers: &HeaderMap,
) -> Result<(String, u64), StatusCode> {
    let mut script = script.lock().expect("script");
    script.requests.push(body);
    script.auth.push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    if script.fail_first > 0 {
        script.fail_first -= 1;
        return Err(
            StatusCode::from_u16(script.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        );
    }
    let answer = script
        .answers
        .pop_front()
        .unwrap_or_else(|| "no more answers".to_owned());
    Ok((answer, script.delay_ms))
}

/// Splits an answer into streamed pieces of up to 4 characters.
fn pieces(answer: &str) -> Vec<String> {
    let chars: Vec<char> = answer.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

async fn ollama_chat(State(script): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let (answer, delay) = match next_answer(&script, body, &headers) {
        Ok(answer) => answer,
        Err(status) => return (status, "{\"error\":\"busy\"}").into_response(),
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut lines = String::new();
    for piece in pieces(&answer) {
        lines.push_str(&json!({"model": "test-model", "message": {"role": "assistant", "content": piece}, "done": false}).to_string());
        lines.push('\n');
    }
    lines.push_str(&json!({"model": "test-model", "message": {"role": "assistant", "content": ""}, "done": true, "prompt_eval_count": 12, "eval_count": 7}).to_string());
    lines.push('\n');
    Response::new(Body::from(lines))
}

async fn openai_chat(State(script): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let (answer, delay) = match next_answer(&script, body, &headers) {
        Ok(answer) => answer,
        Err(status) => return (status, "{\"error\":{\"message\":\"busy\"}}").into_response(),
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let mut events = String::new();
    for piece in pieces(&answer) {
        let event =
            json!({"model": "gpt-test", "choices": [{"index": 0, "delta": {"content": piece}}]});
        events.push_str(&format!("data: {event}\n\n"));
    }
    let usage = json!({"model": "gpt-test", "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 9}});
    events.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    ([("content-type", "text/event-stream")], events).into_response()
}

/// Bag-of-words vectors: texts that share words point the same way, so
/// similarity means something in tests.
fn words_vector(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0f32; 64];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let bucket = word
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 64;
        vector[bucket as usize] += 1.0;
    }
    vector
}

async fn ollama_embed(body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let texts = body["input"].as_array().cloned().unwrap_or_default();
    let embeddings: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| words_vector(t.as_str().unwrap_or_default()))
        .collect();
    axum::Json(json!({"model": "nomic-embed-text", "embeddings": embeddings})).into_response()
}

async fn openai_embed(body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let texts = body["input"].as_array().cloned().unwrap_or_default();
    // Out of order on purpose: the client must sort by index.
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .rev()
        .map(
            |(i, t)| json!({"index": i, "embedding": [t.as_str().map_or(0, str::len) as f32, 2.0]}),
        )
        .collect();
    axum::Json(json!({"data": data})).into_response()
}

struct Server {
    url: String,
    script: Shared,
}

async fn server(answers: &[&str]) -> Server {
    let script: Shared = Arc::new(Mutex::new(Script {
        answers: answers.iter().map(|a| (*a).to_owned()).collect(),
        fail_status: 503,
        ..Script::default()
    }));
    let app = Router::new()
        .route(
            "/api/tags",
            get(|| async { axum::Json(json!({"models": [{"name": "test-model"}]})) }),
        )
        .route("/api/chat", post(ollama_chat))
        .route("/api/embed", post(ollama_embed))
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/embeddings", post(openai_embed))
        .with_state(script.clone());
    let url = sc_testkit::serve(app).await;
    Server { url, script }
}

fn config() -> LlmConfig {
    LlmConfig {
        model: "test-model".into(),
        first_token_timeout_ms: 2_000,
        total_timeout_ms: 5_000,
        ..LlmConfig::default()
    }
}

fn ollama(server: &Server, config: &LlmConfig) -> HttpLlm {
    let wire = Wire::Ollama {
        url: server.url.clone(),
    };
    HttpLlm::new(config, wire.clone(), wire).expect("client")
}

fn openai(server: &Server, config: &LlmConfig) -> HttpLlm {
    let wire = Wire::OpenAi {
        base_url: format!("{}/v1", server.url),
        api_key: Some("sk-test".into()),
    };
    HttpLlm::new(config, wire.clone(), wire).expect("client")
}

fn ask(text: &str) -> Vec<Message> {
    vec![
        Message {
            role: Role::System,
            content: "You are a SOC analyst.".into(),
        },
        Message {
            role: Role::User,
            content: text.into(),
        },
    ]
}

#[tokio::test]
async fn ollama_streams_tokens_in_order_and_counts_them() {
    let server = server(&["The host 10.0.0.5 looks benign."]).await;
    let llm = ollama(&server, &config());
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let answer = llm
        .chat_stream(ask("Is 10.0.0.5 malicious?"), ChatOptions::default(), tx)
        .await
        .expect("answer");
    assert_eq!(answer.content, "The host 10.0.0.5 looks benign.");
    assert_eq!((answer.prompt_tokens, answer.completion_tokens), (12, 7));
    assert_eq!(answer.model, "test-model");
    let mut streamed = String::new();
    let mut count = 0;
    while let Ok(piece) = rx.try_recv() {
        streamed.push_str(&piece);
        count += 1;
    }
    assert_eq!(streamed, answer.content);
    assert!(count > 1, "tokens arrive one piece at a time");
    let request = server.script.lock().expect("script").requests[0].clone();
    assert_eq!(request["stream"], true);
    assert_eq!(request["messages"][0]["role"], "system");
}

#[tokio::test]
async fn openai_streams_reports_usage_and_sends_the_key() {
    let server = server(&["Benign."]).await;
    let llm = openai(&server, &config());
    let answer = llm
        .chat(ask("verdict?"), ChatOptions::default())
        .await
        .expect("answer");
    assert_eq!(answer.content, "Benign.");
    assert_eq!((answer.prompt_tokens, answer.completion_tokens), (20, 9));
    assert_eq!(answer.model, "gpt-test");
    let script = server.script.lock().expect("script");
    assert_eq!(script.auth[0].as_deref(), Some("Bearer sk-test"));
    assert_eq!(script.requests[0]["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn the_chat_channel_hears_every_attempt_and_gets_the_checked_answer() {
    // Through the backend trait the chat uses: the listener hears the
    // first (invalid) answer and the corrective retry as they stream.
    let schema = json!({"type": "object", "required": ["verdict"]});
    let server = server(&["not json at all", "{\"verdict\": \"benign\"}"]).await;
    let llm: Arc<dyn LlmBackend> = Arc::new(openai(&server, &config()));
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let options = ChatOptions {
        json_mode: true,
        json_schema: Some(schema.to_string()),
        ..ChatOptions::default()
    };
    let answer = llm
        .chat_stream(ask("verdict as JSON"), options, tx)
        .await
        .expect("answer");
    assert_eq!(answer.content, r#"{"verdict":"benign"}"#);
    let mut heard = String::new();
    while let Some(piece) = rx.recv().await {
        heard.push_str(&piece);
    }
    assert_eq!(heard, "not json at all{\"verdict\": \"benign\"}");
}

#[tokio::test]
async fn a_schema_that_is_not_json_is_refused_before_the_model_is_asked() {
    let server = server(&["{}"]).await;
    let llm = ollama(&server, &config());
    let options = ChatOptions {
        json_mode: true,
        json_schema: Some("{not json".to_owned()),
        ..ChatOptions::default()
    };
    let err = llm.chat(ask("verdict"), options).await.unwrap_err();
    assert!(matches!(err, CapabilityError::InvalidInput(_)), "{err}");
    assert!(server.script.lock().expect("script").requests.is_empty());
}

#[tokio::test]
async fn json_mode_retries_once_with_the_validation_error() {
    let schema = json!({"type": "object", "required": ["verdict"], "properties": {"verdict": {"enum": ["benign", "malicious"]}}});
    for make in [ollama as fn(&Server, &LlmConfig) -> HttpLlm, openai] {
        let server = server(&[
            "I think it is fine",
            "```json\n{\"verdict\": \"benign\"}\n```",
        ])
        .await;
        let llm = make(&server, &config());
        let options = ChatOptions {
            json_mode: true,
            json_schema: Some(schema.to_string()),
            ..ChatOptions::default()
        };
        let answer = llm
            .chat(ask("verdict as JSON"), options)
            .await
            .expect("answer");
        assert_eq!(
            serde_json::from_str::<Value>(&answer.content).expect("json"),
            json!({"verdict": "benign"})
        );
        let script = server.script.lock().expect("script");
        assert_eq!(script.requests.len(), 2, "one corrective retry");
        let retry = &script.requests[1]["messages"];
        let last = retry
            .as_array()
            .and_then(|m| m.last())
            .cloned()
            .unwrap_or_default();
        assert!(
            last["content"]
                .as_str()
                .unwrap_or_default()
                .contains("not valid"),
            "{last}"
        );
        let first = &script.requests[0];
        assert!(
            first.get("format").is_some() || first.get("response_format").is_some(),
            "JSON mode is asked for: {first}"
        );
    }
}

#[tokio::test]
async fn json_mode_gives_up_with_invalid_output() {
    let schema = json!({"type": "object", "required": ["verdict"]});
    let server = server(&["{\"score\": 1}", "still {\"score\": 2}"]).await;
    let llm = ollama(&server, &config());
    let options = ChatOptions {
        json_mode: true,
        json_schema: Some(schema.to_string()),
        ..ChatOptions::default()
    };
    let err = llm
        .chat(ask("verdict"), options)
        .await
        .expect_err("invalid");
    match err {
        CapabilityError::InvalidOutput(message) => {
            // The text names the missing field and what is wrong with it.
            assert!(
                message.contains("\"verdict\" is a required property"),
                "{message}"
            )
        }
        other => panic!("expected invalid-output, got {other:?}"),
    }
}

#[tokio::test]
async fn transient_failures_are_retried_and_others_are_not() {
    let server = server(&["ok after retries"]).await;
    server.script.lock().expect("script").fail_first = 2;
    let llm = ollama(&server, &config());
    let answer = llm
        .chat(ask("hi"), ChatOptions::default())
        .await
        .expect("retried");
    assert_eq!(answer.content, "ok after retries");

    let server2 = server_with_failure(400).await;
    let llm = ollama(&server2, &config());
    let err = llm
        .chat(ask("hi"), ChatOptions::default())
        .await
        .expect_err("400");
    assert!(
        matches!(err, CapabilityError::Backend(ref m) if m.contains("400")),
        "{err:?}"
    );
    assert_eq!(
        server2.script.lock().expect("script").requests.len(),
        1,
        "a 400 is not retried"
    );
}

async fn server_with_failure(status: u16) -> Server {
    let server = server(&["never"]).await;
    {
        let mut script = server.script.lock().expect("script");
        script.fail_first = 10;
        script.fail_status = status;
    }
    server
}

#[tokio::test]
async fn a_silent_model_times_out() {
    let server = server(&["late"]).await;
    server.script.lock().expect("script").delay_ms = 1_500;
    let config = LlmConfig {
        first_token_timeout_ms: 300,
        ..config()
    };
    let llm = ollama(&server, &config);
    let err = llm
        .chat(ask("hi"), ChatOptions::default())
        .await
        .expect_err("timeout");
    assert!(matches!(err, CapabilityError::Timeout), "{err:?}");
}

#[tokio::test]
async fn embeddings_come_back_in_order_on_both_wires() {
    let server = server(&[]).await;
    let texts = vec!["a".to_owned(), "bbb".to_owned()];
    let ollama_vectors = ollama(&server, &config())
        .embed(texts.clone())
        .await
        .expect("ollama");
    assert_eq!(ollama_vectors, vec![words_vector("a"), words_vector("bbb")]);
    assert_eq!(
        ollama_vectors[1].iter().sum::<f32>(),
        1.0,
        "one word of three letters"
    );
    let openai_vectors = openai(&server, &config())
        .embed(texts)
        .await
        .expect("openai");
    assert_eq!(openai_vectors, vec![vec![1.0, 2.0], vec![3.0, 2.0]]);
}

#[tokio::test]
async fn auto_picks_ollama_when_it_answers_and_none_otherwise() {
    let server = server(&[]).await;
    let url = server.url.clone();
    let (provider, reason) = tokio::task::spawn_blocking(move || {
        let mut config = LlmConfig::default();
        config.ollama.url = url;
        sc_backends::choose_llm(&config)
    })
    .await
    .expect("probe");
    assert_eq!(provider, LlmProvider::Ollama, "{reason}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (provider, reason) = tokio::task::spawn_blocking(move || {
        let mut config = LlmConfig::default();
        config.ollama.url = url;
        sc_backends::choose_llm(&config)
    })
    .await
    .expect("probe");
    assert_eq!(provider, LlmProvider::None);
    assert!(reason.contains("did not answer"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_reaches_the_model_through_its_grant() {
    let server = server(&["Hello analyst, all is calm."]).await;
    let install = sc_testkit::Install::with(&["hello_world"]);
    let mut config = install.config();
    config.llm.provider = LlmProvider::Ollama;
    config.llm.ollama.url = server.url.clone();
    let host = install.host_with(config);
    let report = sc_testkit::dispatch(&host, "hello_world", json!({"name": "analyst"})).await;
    assert_eq!(
        report.result["llm"]["available"], true,
        "{:#?}",
        report.result
    );
    assert_eq!(
        report.result["llm"]["answer"],
        "Hello analyst, all is calm."
    );
    let request = server.script.lock().expect("script").requests[0].clone();
    let prompt = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        prompt.contains("<data:name>\nanalyst\n</data:name>"),
        "untrusted text sits in a data block: {prompt}"
    );
    let trail = host.audit().recent(10, None).expect("audit");
    let model_call = trail
        .iter()
        .find(|r| r.action == "llm.chat")
        .expect("the model call is audited");
    assert_eq!(model_call.actor, "skill:hello_world");
    assert_eq!(model_call.outcome, "ok");
    assert_eq!(
        model_call.response_digest.as_deref(),
        Some(sc_core::digest(b"Hello analyst, all is calm.").as_str())
    );
    assert!(model_call.prompt_digest.is_some());
}

#[tokio::test]
async fn retrieval_uses_vectors_when_a_model_embeds_and_applies_the_threshold() {
    use sc_backends::rag_sqlite::SqliteRag;
    use sc_core::rag::RetrievalPath;
    use sc_core::rag::{Document, RagBackend as _};
    let server = server(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let embedder: Arc<dyn LlmBackend> = Arc::new(ollama(&server, &config()));
    let rag = SqliteRag::open(&dir.path().join("rag.db"), Some(embedder), 0.3).expect("open");
    let doc = |entity: &str, text: &str| Document {
        category: "network_baseline".into(),
        entity: entity.into(),
        window: Some("2026-11-26".into()),
        text: text.into(),
        source: "zeek conn".into(),
        metadata: "{\"window\":\"P1D\"}".into(),
        valid_until: None,
    };
    rag.store(
        "baseliner",
        vec![
            doc("10.0.0.5", "host sends dns queries to port 53 every minute"),
            doc(
                "10.0.0.9",
                "web server answers https requests from the office",
            ),
            doc("10.0.0.7", "printer idle all night"),
        ],
    )
    .await
    .expect("store");
    let categories = vec!["network_baseline".to_owned()];
    let found = rag
        .retrieve("dns queries every minute", 3, &categories)
        .await
        .expect("retrieve");
    assert_eq!(found.path, RetrievalPath::Vector);
    assert_eq!(found.hits[0].entity, "10.0.0.5");
    assert!(found.hits[0].score > 0.5, "{}", found.hits[0].score);
    assert!(
        found.hits.iter().all(|h| h.entity != "10.0.0.7"),
        "unrelated documents fall under the similarity threshold"
    );
    let other = rag
        .retrieve("dns queries", 3, &["verdicts".to_owned()])
        .await
        .expect("retrieve");
    assert!(other.hits.is_empty(), "category filter");
}
