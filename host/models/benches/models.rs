//! Embedded-model benchmarks on this machine's CPU: embeddings per second
//! (all-MiniLM-L6-v2, batches of 32) and chat speed (prompt and generated
//! tokens per second) for SmolLM2-135M and Qwen2.5-Coder-0.5B. Models come
//! from the shared cache (`~/.cache/securityclaw/models`, pulled if absent).
//!
//! `cargo bench -p sc-models` runs it in full; `cargo test --benches` runs
//! one short pass.

use std::path::PathBuf;
use std::time::Instant;

use sc_models::catalog;
use sc_models::chat::{ChatModel, Generation, Turn};
use sc_models::embed::EmbeddingModel;
use sc_models::pull::Puller;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let dir = std::env::var_os("SC_TEST_MODELS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/securityclaw/models")
        },
        PathBuf::from,
    );
    let puller = Puller::new(&dir, "https://pypi.org/simple");
    let pull = |id: &str| {
        puller
            .pull(catalog::find(id).expect("catalog"), &|_| {})
            .expect("pull")
    };

    let embedder = EmbeddingModel::load(&pull(catalog::DEFAULT_EMBEDDING)).expect("load MiniLM");
    let sentences: Vec<String> = (0..32)
        .map(|i| {
            format!(
                "Host 10.0.{i}.7 made {} failed SSH logins to 22/tcp within five minutes",
                i * 3 + 1
            )
        })
        .collect();
    let rounds = if full { 10 } else { 1 };
    let started = Instant::now();
    for _ in 0..rounds {
        embedder.embed(&sentences).expect("embed");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "all-MiniLM-L6-v2: {:.0} embeddings/s (batches of 32, {rounds} rounds)",
        (32 * rounds) as f64 / seconds
    );

    let models = if full {
        vec![catalog::SMALL_CHAT, catalog::DEFAULT_CHAT]
    } else {
        vec![catalog::SMALL_CHAT]
    };
    for id in models {
        let mut model = ChatModel::load(&pull(id).join("model.gguf")).expect("load chat model");
        let turns = [Turn {
            role: "user".to_owned(),
            content: "Explain in three sentences why many failed SSH logins from one address matter to a SOC analyst.".to_owned(),
        }];
        let options = Generation {
            max_tokens: if full { 128 } else { 16 },
            temperature: None,
            seed: 1,
            answer_prefix: String::new(),
            first_token_deadline: None,
            deadline: None,
        };
        let out = model
            .generate(&turns, &options, &mut |_| true)
            .expect("generate");
        println!(
            "{id}: prompt {} tokens at {:.0} tokens/s; generated {} tokens at {:.1} tokens/s",
            out.prompt_tokens,
            out.prompt_tokens as f64 / out.prompt_seconds,
            out.completion_tokens,
            out.completion_tokens as f64 / out.generation_seconds
        );
    }
}
