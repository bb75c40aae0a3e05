//! Embedded-store benchmarks: ingest rate (log file → ECS → index, the
//! `sc-host ingest` pipeline) on the Stratosphere 011 conn + dns + ssl logs
//! and on a synthetic 1M-event Zeek conn log, and the latency of a
//! terms + date_histogram + cardinality aggregation over those 1M events.
//!
//! `cargo bench -p sc-store` runs it in full; `cargo test --benches` runs a
//! 20k-event pass to prove it still works.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sc_ingest::{Options, Record};
use sc_store::Store;
use serde_json::json;

const BATCH: usize = 20_000;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads a log on one thread and indexes on this one, as `sc-host ingest` does.
fn ingest(store: &Store, path: &Path, index: &str) -> u64 {
    let reader = sc_ingest::open(path, &Options::default()).expect("open log");
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<Vec<(Option<String>, serde_json::Value)>>(1);
    let producer = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for record in reader {
            if let Record::Event(event) = record {
                batch.push((Some(event.id), event.doc));
                if batch.len() == BATCH && sender.send(std::mem::take(&mut batch)).is_err() {
                    return;
                }
            }
        }
        let _ = sender.send(batch);
    });
    let mut indexed = 0;
    for batch in receiver {
        indexed += u64::from(store.bulk(index, batch).expect("bulk").indexed);
    }
    producer.join().expect("reader thread");
    // As `sc-host ingest` ends: the merges it started run to the end.
    store.close_writer().expect("close the writer");
    indexed
}

/// A Zeek conn log of `n` flows over one day: 5,000 sources, 1,000 ports.
fn synthetic_conn_log(dir: &Path, n: u64) -> PathBuf {
    let path = dir.join("conn.log");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    writeln!(
        out,
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn"
    )
    .unwrap();
    writeln!(out, "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\torig_pkts\tresp_pkts").unwrap();
    writeln!(out, "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tcount\tcount").unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..n {
        let r = next();
        let ts = 1_700_000_000.0 + (i as f64) * 86_400.0 / n as f64;
        let src = r % 5_000;
        let port = [22, 53, 80, 443, 445, 3389][(r >> 20) as usize % 6]
            + ((r >> 24) % 200) * u64::from((r >> 32) % 4 == 0);
        let proto = if port == 53 { "udp" } else { "tcp" };
        let state_name = ["SF", "S0", "REJ", "RSTO"][(r >> 40) as usize % 4];
        writeln!(
            out,
            "{ts:.6}\tC{i:x}\t10.{}.{}.{}\t{}\t192.168.1.{}\t{port}\t{proto}\t-\t{:.3}\t{}\t{}\t{state_name}\t{}\t{}",
            src >> 16, (src >> 8) & 255, src & 255, 1024 + (r >> 8) % 60_000, r % 250, (r % 1000) as f64 / 100.0,
            r % 5_000, (r >> 12) % 50_000, 1 + r % 20, r % 30
        )
        .unwrap();
    }
    path
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let dir = tempfile::tempdir().expect("temp dir");
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/datasets/stratosphere/011-zeek-mixed/data");
    if datasets.is_dir() {
        let store = Store::open(&dir.path().join("real")).expect("store");
        let started = Instant::now();
        let mut events = 0;
        for (file, index) in [
            ("conn.log.labeled", "logs-zeek-conn"),
            ("dns.log.labeled", "logs-zeek-dns"),
            ("ssl.log.labeled", "logs-zeek-ssl"),
        ] {
            events += ingest(&store, &datasets.join(file), index);
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "ingest 011 conn+dns+ssl: {events} events in {seconds:.2} s = {:.0} events/s",
            events as f64 / seconds
        );
    } else {
        println!("ingest 011: skipped, {} is absent", datasets.display());
    }

    let n = std::env::var("SC_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let log = synthetic_conn_log(dir.path(), n);
    let started = Instant::now();
    let parsed = sc_ingest::open(&log, &Options::default())
        .expect("open")
        .count();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "parse only (log -> ECS, no indexing): {parsed} events in {seconds:.2} s = {:.0} events/s",
        parsed as f64 / seconds
    );
    let store = Store::open(&dir.path().join("synthetic")).expect("store");
    let started = Instant::now();
    let events = ingest(&store, &log, "logs-zeek-conn");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(events, n);
    println!(
        "ingest synthetic conn log: {events} events in {seconds:.2} s = {:.0} events/s",
        events as f64 / seconds
    );

    let body = json!({"size": 0, "aggs": {
        "ports": {"terms": {"field": "destination.port", "size": 10}},
        "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
            "aggs": {"sources": {"cardinality": {"field": "source.ip"}}}},
        "sources": {"cardinality": {"field": "source.ip"}}
    }});
    let rounds = if full { 7 } else { 1 };
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let answer = store.search("logs-*", &body).expect("aggregate");
        samples.push(started.elapsed());
        let distinct = answer["aggregations"]["sources"]["value"]
            .as_f64()
            .expect("a cardinality");
        let exact = 5_000.min(n) as f64;
        assert!(
            (distinct - exact).abs() <= 0.05 * exact,
            "cardinality {distinct}, exact {exact}"
        );
    }
    println!(
        "terms + date_histogram + cardinality over {n} events: p50 {:.0} ms ({rounds} runs)",
        median(samples).as_secs_f64() * 1e3
    );
}
