//! Embedded-store benchmarks: ingest rate (log file → ECS → index, the
//! `sc-host ingest` pipeline) on the Stratosphere 011 conn + dns + ssl logs
//! and on a synthetic 1M-event Zeek conn log, and the latency of a
//! terms + date_histogram + cardinality aggregation over those 1M events.
//!
//! Two more lines bound what the store itself can do: the same events,
//! parsed beforehand, written through `Store::bulk` (indexing only), and
//! written straight into tantivy with nothing else in the way (two threads,
//! one commit, no merges): the engine's own ceiling on this machine.
//!
//! `cargo bench -p sc-store` runs it in full; `cargo test --benches` runs a
//! 20k-event pass to prove it still works.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sc_ingest::{Options, Record};
use sc_store::Store;
use sc_store::document::EventDoc;
use sc_store::schema::Fields;
use serde_json::json;

/// `sc-host ingest`'s defaults: events per bulk request, events per commit.
const BATCH: usize = 20_000;
const COMMIT_EVERY: u64 = 200_000;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads a log on one thread and indexes on this one, committing every
/// [`COMMIT_EVERY`] events and at the end, as `sc-host ingest` does.
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
    let indexed = load(store, index, receiver);
    producer.join().expect("reader thread");
    indexed
}

/// Stages batches, committing every [`COMMIT_EVERY`] events, then closes
/// the writer, so the merges the load started run to the end: the store's
/// side of `sc-host ingest`. Answers the events indexed.
fn load(
    store: &Store,
    index: &str,
    batches: impl IntoIterator<Item = Vec<(Option<String>, serde_json::Value)>>,
) -> u64 {
    let mut indexed = 0;
    let mut since_commit = 0;
    for batch in batches {
        let n = u64::from(store.stage(index, batch).expect("stage").indexed);
        indexed += n;
        since_commit += n;
        if since_commit >= COMMIT_EVERY {
            store.commit().expect("commit");
            since_commit = 0;
        }
    }
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

/// Up to `limit` events of a log, parsed into memory.
fn parse_events(path: &Path, limit: usize) -> Vec<(String, serde_json::Value)> {
    sc_ingest::open(path, &Options::default())
        .expect("open log")
        .filter_map(|record| match record {
            Record::Event(event) => Some((event.id, event.doc)),
            _ => None,
        })
        .take(limit)
        .collect()
}

/// Events already parsed, staged through the store in ingest batches and
/// committed as an ingest does: the store's share of the ingest pipeline.
fn index_only(dir: &Path, events: Vec<(String, serde_json::Value)>) -> f64 {
    let store = Store::open(dir).expect("store");
    let n = events.len();
    let mut batches = Vec::new();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        batches.push(
            events
                .by_ref()
                .take(BATCH)
                .map(|(id, doc)| (Some(id), doc))
                .collect::<Vec<_>>(),
        );
    }
    let started = Instant::now();
    load(&store, "logs-zeek-conn", batches);
    n as f64 / started.elapsed().as_secs_f64()
}

/// The store's schema with its inverted indices taken out: every field a
/// column and nothing more (the least tantivy can be asked to write).
fn columns_only_schema() -> (tantivy::schema::Schema, Fields) {
    use tantivy::schema::{FAST, JsonObjectOptions, STORED, Schema};
    let mut builder = Schema::builder();
    let columns = JsonObjectOptions::default()
        .set_fast("raw")
        .set_expand_dots_enabled();
    let fields = Fields {
        uid: builder.add_text_field("_uid", FAST),
        id: builder.add_text_field("_id", FAST | STORED),
        index: builder.add_text_field("_index", FAST | STORED),
        source: builder.add_text_field("_source", STORED),
        kw: builder.add_json_field("kw", columns.clone()),
        text: builder.add_json_field("text", columns),
    };
    (builder.build(), fields)
}

/// Events already parsed and made into documents, written by tantivy alone:
/// two indexing threads, one commit, no merges, no id checks.
fn tantivy_alone(
    dir: &Path,
    (schema, fields): (tantivy::schema::Schema, Fields),
    events: Vec<(String, serde_json::Value)>,
) -> f64 {
    std::fs::create_dir_all(dir).expect("dir");
    let index = tantivy::Index::create_in_dir(dir, schema).expect("index");
    let mut writer = index
        // The store's writer memory.
        .writer_with_num_threads::<EventDoc>(2, 128 << 20)
        .expect("writer");
    writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
    let docs: Vec<EventDoc> = events
        .into_iter()
        .map(|(id, doc)| EventDoc::new(fields, "logs-zeek-conn", &id, doc))
        .collect();
    let n = docs.len();
    let started = Instant::now();
    for doc in docs {
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit");
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let dir = tempfile::tempdir().expect("temp dir");
    let datasets = std::env::var_os("SC_DATASETS_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets"),
            PathBuf::from,
        )
        .join("stratosphere/011-zeek-mixed/data");
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
    let sample = n.min(200_000) as usize;
    let rate = index_only(&dir.path().join("index-only"), parse_events(&log, sample));
    println!(
        "index only (parsed beforehand, staged and committed as an ingest does): {sample} events = {rate:.0} events/s"
    );
    let rate = tantivy_alone(
        &dir.path().join("tantivy-alone"),
        Fields::build(),
        parse_events(&log, sample),
    );
    println!(
        "tantivy alone (built beforehand, 2 threads, one commit, no merges): {sample} events = {rate:.0} events/s"
    );
    let rate = tantivy_alone(
        &dir.path().join("columns-only"),
        columns_only_schema(),
        parse_events(&log, sample),
    );
    println!(
        "tantivy alone, columns only (no inverted index at all): {sample} events = {rate:.0} events/s"
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
