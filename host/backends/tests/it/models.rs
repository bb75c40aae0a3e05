//! The embedded models for real: SmolLM2-135M (chat) and all-MiniLM-L6-v2
//! (embeddings) fetched through the pinned catalog into the shared cache
//! (`~/.cache/securityclaw/models`, or `SC_TEST_MODELS_DIR`), then run
//! in-process through the `llm` backend the host uses.

use std::sync::Arc;

use sc_backends::open_llm;
use sc_core::CapabilityError;
use sc_core::config::{LlmConfig, LlmProvider};
use sc_core::llm::{ChatOptions, LlmBackend, Message, Role};

/// The small models, pulled once (a no-op when the cache has them).
fn embedded() -> (Arc<dyn LlmBackend>, String) {
    let (backend, choice) =
        open_llm(&sc_testkit::embedded_models()).expect("open the embedded models");
    (backend, choice.provider.as_str().to_owned())
}

fn user(text: &str) -> Vec<Message> {
    vec![Message {
        role: Role::User,
        content: text.to_owned(),
    }]
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_chat_model_answers_with_tokens_and_counts_them() {
    let (llm, provider) = embedded();
    assert_eq!(provider, "embedded");
    let options = ChatOptions {
        max_tokens: Some(24),
        ..ChatOptions::default()
    };
    let reply = llm
        .chat(user("What is the capital of France?"), options)
        .await
        .expect("a reply");
    assert!(reply.content.contains("Paris"), "{reply:?}");
    assert!(
        reply.completion_tokens > 0 && reply.completion_tokens <= 24,
        "{reply:?}"
    );
    assert!(reply.prompt_tokens > 5, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_on_the_embedded_model_yields_the_json_asked_for() {
    let (llm, _) = embedded();
    let schema =
        r#"{"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}"#;
    let options = ChatOptions {
        max_tokens: Some(48),
        json_mode: true,
        json_schema: Some(schema.to_owned()),
        ..ChatOptions::default()
    };
    let reply = llm
        .chat(
            user(r#"Which city is the capital of France? Reply as JSON like {"city": "..."}."#),
            options,
        )
        .await;
    // The answer is held to JSON (it opens with `{`, ends where the value
    // closes) and checked against the schema, with one corrective retry.
    let reply = reply.expect("JSON mode answers the JSON asked for");
    let value: serde_json::Value = serde_json::from_str(&reply.content).expect("JSON content");
    assert!(value["city"].is_string(), "{value}");
    assert!(
        reply.completion_tokens < 48,
        "generation stops where the JSON value closes: {reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_model_streams_its_answer_through_a_channel() {
    let (llm, _) = embedded();
    let options = ChatOptions {
        max_tokens: Some(24),
        ..ChatOptions::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let reply = llm
        .chat_stream(user("Name three network protocols."), options.clone(), tx)
        .await
        .expect("a reply");
    let mut pieces = Vec::new();
    while let Some(piece) = rx.recv().await {
        pieces.push(piece);
    }
    assert!(pieces.len() > 3, "token by token: {pieces:?}");
    assert_eq!(pieces.concat(), reply.content);

    // Characters that span tokens reach the listener whole.
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let french = llm
        .chat_stream(
            user("Réponds en français : qu'est-ce qu'un pare-feu ?"),
            options.clone(),
            tx,
        )
        .await
        .expect("a reply");
    let mut heard = String::new();
    while let Some(piece) = rx.recv().await {
        assert!(!piece.contains('\u{FFFD}'), "a broken character: {piece:?}");
        heard.push_str(&piece);
    }
    assert_eq!(heard, french.content);
    assert!(!french.content.is_ascii(), "{}", french.content);

    // A listener that leaves stops the model instead of letting it run on.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    drop(rx);
    let abandoned = llm
        .chat_stream(user("Name three network protocols."), options, tx)
        .await
        .expect("a reply");
    assert!(abandoned.completion_tokens <= 1, "{abandoned:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_put_paraphrases_closer_than_unrelated_sentences() {
    let (llm, _) = embedded();
    let texts = [
        "Many failed SSH logins from one address",
        "A single host made repeated unsuccessful SSH login attempts",
        "The quarterly budget meeting moved to Thursday",
    ];
    let vectors = llm
        .embed(texts.iter().map(|t| (*t).to_owned()).collect())
        .await
        .expect("vectors");
    assert_eq!(vectors.len(), 3);
    assert!(vectors.iter().all(|v| v.len() == 384));
    let (near, far) = (
        cosine(&vectors[0], &vectors[1]),
        cosine(&vectors[0], &vectors[2]),
    );
    assert!(near > far + 0.2, "paraphrase {near}, unrelated {far}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_model_files_name_the_command_that_fetches_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LlmConfig {
        provider: LlmProvider::Embedded,
        ..LlmConfig::default()
    };
    config.embedded.dir = dir.path().to_path_buf();
    let (llm, _) = open_llm(&config).unwrap();
    let options = ChatOptions {
        max_tokens: Some(8),
        ..ChatOptions::default()
    };
    let err = llm.chat(user("hi"), options).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("sc-host models pull qwen2.5-coder-0.5b-instruct-q4km"),
        "{err}"
    );
    let err = llm.embed(vec!["x".to_owned()]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("sc-host models pull all-minilm-l6-v2"),
        "{err}"
    );

    // With no Ollama and no files, `auto` says why it chose none.
    let auto = LlmConfig {
        ollama: sc_core::config::OllamaConfig {
            url: "http://127.0.0.1:9".to_owned(),
        },
        ..config
    };
    let auto = LlmConfig {
        provider: LlmProvider::Auto,
        ..auto
    };
    let (_, choice) = open_llm(&auto).unwrap();
    assert_eq!(choice.provider, sc_core::llm::ResolvedLlm::None);
    assert!(
        choice.reason.contains("sc-host models pull"),
        "{}",
        choice.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_answer_past_the_time_limit_is_a_timeout() {
    let mut config = sc_testkit::embedded_models();
    // The first token may take its time (the model loads); the answer not.
    config.first_token_timeout_ms = 120_000;
    config.total_timeout_ms = 1;
    let (llm, _) = open_llm(&config).expect("open");
    let options = ChatOptions {
        max_tokens: Some(64),
        ..ChatOptions::default()
    };
    let err = llm
        .chat(user("Count from one to twenty."), options)
        .await
        .unwrap_err();
    assert!(matches!(err, CapabilityError::Timeout), "{err}");
}
