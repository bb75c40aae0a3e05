//! Intelligence-plane benchmarks: retrieval latency of the embedded rag
//! store at 10k and 100k stored vectors (384 dimensions, exact cosine), and
//! memory write latency (a key, a finding). Vectors come from a hashing
//! embedder so filling 100k documents takes seconds, not the hours a real
//! model would: what is timed is the store's search, which does not depend
//! on where the vectors came from. Model speed is in `cargo bench -p sc-models`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sc_backends::rag_sqlite::SqliteRag;
use sc_core::CapabilityError;
use sc_core::config::MemoryConfig;
use sc_core::llm::{ChatOptions, ChatResponse, LlmBackend, Message};
use sc_core::memory::{MemoryBackend, MemoryList};
use sc_core::rag::{Document, RagBackend};
use sc_state::memory::SqliteMemory;
use sc_testkit::bench::percentile;

/// Unit vectors derived from the text's bytes.
struct HashingEmbedder;

#[async_trait::async_trait]
impl LlmBackend for HashingEmbedder {
    async fn chat(&self, _: Vec<Message>, _: ChatOptions) -> Result<ChatResponse, CapabilityError> {
        Err(CapabilityError::NotConfigured(
            "benchmark embedder".to_owned(),
        ))
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        Ok(texts
            .iter()
            .map(|text| {
                let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                let mut v: Vec<f32> = (0..384)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 2000) as f32 / 1000.0 - 1.0
                    })
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }
}

fn document(i: usize) -> Document {
    Document {
        category: "baseline".to_owned(),
        entity: format!("host-{i}"),
        window: Some("2026-11-27".to_owned()),
        text: format!(
            "host 10.{}.{}.{} usually talks to {} peers on ports 443 and 53",
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            i % 97
        ),
        source: "bench".to_owned(),
        metadata: "{}".to_owned(),
        valid_until: None,
    }
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let sizes: &[usize] = if full { &[10_000, 100_000] } else { &[1_000] };
    for &size in sizes {
        let rag = SqliteRag::open(
            &dir.path().join(format!("rag-{size}.db")),
            Some(Arc::new(HashingEmbedder)),
            0.0,
        )
        .expect("rag");
        runtime.block_on(async {
            for chunk in (0..size).collect::<Vec<_>>().chunks(1_000) {
                rag.store("bench", chunk.iter().map(|&i| document(i)).collect()).await.expect("store");
            }
            let categories = vec!["baseline".to_owned()];
            let mut samples: Vec<Duration> = Vec::new();
            for i in 0..(if full { 20 } else { 3 }) {
                let started = Instant::now();
                let found = rag.retrieve(&format!("which peers does host {i} talk to"), 5, &categories).await.expect("retrieve");
                samples.push(started.elapsed());
                assert_eq!(found.hits.len(), 5);
            }
            samples.sort();
            println!(
                "rag retrieve k=5 over {size} vectors (384-d, exact cosine): p50 {:.1} ms, p95 {:.1} ms",
                percentile(&samples, 0.5).as_secs_f64() * 1e3,
                percentile(&samples, 0.95).as_secs_f64() * 1e3
            );
        });
    }

    let memory =
        SqliteMemory::open(&dir.path().join("memory.db"), MemoryConfig::default()).expect("memory");
    let rounds = if full { 2_000 } else { 50 };
    for (what, write) in [
        (
            "memory set (cursor)",
            Box::new(|i: usize| {
                memory
                    .set("bench", "bench.cursor", &format!("{{\"offset\": {i}}}"))
                    .map(|_| ())
            }) as Box<dyn Fn(usize) -> Result<(), CapabilityError>>,
        ),
        (
            "memory append (finding)",
            Box::new(|i: usize| {
                memory
                    .append(
                        MemoryList::Findings,
                        "bench",
                        &format!("finding {i}: port scan from 10.0.0.{}", i % 255),
                        None,
                    )
                    .map(|_| ())
            }),
        ),
    ] {
        let mut samples: Vec<Duration> = (0..rounds)
            .map(|i| {
                let started = Instant::now();
                write(i).expect("write");
                started.elapsed()
            })
            .collect();
        samples.sort();
        println!(
            "{what}: p50 {:.0} µs, p99 {:.0} µs ({rounds} writes, WAL, one transaction each)",
            percentile(&samples, 0.5).as_secs_f64() * 1e6,
            percentile(&samples, 0.99).as_secs_f64() * 1e6
        );
    }
}
