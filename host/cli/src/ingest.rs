//! `sc-host ingest PATH… [--format F] [--index NAME] [--keep-labels]`:
//! reads Zeek, Suricata, EVTX and ECS NDJSON logs, maps them to ECS and
//! bulk-indexes them into the configured store. Reading runs on its own
//! thread while the previous batch is indexed; memory stays bounded by two
//! batches and the store's writer buffer whatever the file's size. Ids are stable, so re-running an
//! interrupted ingest completes it without duplicates.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sc_ingest::{Format, Options, Record};
use serde_json::Value;

use sc_backends as backends;
use sc_core::config::Config;
use sc_core::db::BulkLoad;

/// Arguments of `ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log files to read.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The format: auto, zeek, zeek-json, suricata, evtx, ndjson.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Put every event into this index instead of the per-type default
    /// (`logs-zeek-conn`, `logs-suricata-alert`, `logs-winlog-security`…).
    #[arg(long)]
    pub index: Option<String>,
    /// Keep ground-truth label columns (`label`, `detailedlabel`) as `labels.ground_truth*`.
    #[arg(long)]
    pub keep_labels: bool,
    /// Events per bulk request.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub batch_size: u32,
    /// Events between commits to the embedded store (counted in whole
    /// batches; a commit ends each file too). A crash loses at most these,
    /// and a re-run completes them; fewer commits leave fewer segments to
    /// merge, so a load runs faster.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub commit_every: u64,
}

/// One batch read from a file.
struct Batch {
    by_index: BTreeMap<String, Vec<(Option<String>, Value)>>,
    kinds: BTreeMap<String, u64>,
    malformed: Vec<(u64, String)>,
    malformed_count: u64,
    bytes_read: u64,
}

/// What happened to one file.
#[derive(Debug, Default)]
struct FileSummary {
    format: String,
    read: u64,
    indexed: u64,
    malformed: u64,
    refused: u64,
    reasons: Vec<String>,
    kinds: BTreeMap<String, u64>,
    indices: BTreeMap<String, u64>,
}

const SHOWN_REASONS: usize = 10;

/// Runs `ingest`.
pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(index) = &args.index {
        sc_store::names::validate_index_name(index)
            .map_err(|err| anyhow::anyhow!("--index: {err}"))?;
    }
    super::runtime()?.block_on(async {
        let db = backends::open_telemetry(config)?.load;
        let started = Instant::now();
        let mut failed_files = 0;
        let mut total_indexed = 0;
        for path in &args.paths {
            match ingest_file(&db, path, args).await {
                Ok(summary) => {
                    total_indexed += summary.indexed;
                    print_summary(path, &summary);
                }
                Err(err) => {
                    failed_files += 1;
                    // Every error names the file it is about (the reader's own do).
                    eprintln!("error: {err:#}");
                }
            }
        }
        // Merges the load started run to the end, so later searches meet a
        // compact store rather than hundreds of small segments (a file that
        // failed midway may have committed some too).
        db.finish().await?;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        #[expect(clippy::cast_precision_loss, reason = "a rate for people")]
        let rate = total_indexed as f64 / seconds;
        println!(
            "total: {total_indexed} events indexed from {} file(s) in {seconds:.1} s ({rate:.0} events/s){}",
            args.paths.len() - failed_files,
            if failed_files > 0 { format!("; {failed_files} file(s) failed") } else { String::new() }
        );
        Ok(if failed_files > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    })
}

async fn ingest_file(
    db: &Arc<dyn BulkLoad>,
    path: &Path,
    args: &Args,
) -> anyhow::Result<FileSummary> {
    let options = Options {
        format: args.format,
        keep_labels: args.keep_labels,
    };
    let reader = sc_ingest::open(path, &options)?;
    let mut summary = FileSummary {
        format: reader.format().to_string(),
        ..FileSummary::default()
    };
    let total_bytes = reader.total_bytes();
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Batch>(1);
    let batch_size = args.batch_size as usize;
    let index_override = args.index.clone();
    let producer = std::thread::spawn(move || {
        read_batches(reader, batch_size, index_override.as_deref(), &sender)
    });
    let progress = Progress::new(path, total_bytes);
    let mut since_commit = 0;
    while let Some(batch) = batches.recv().await {
        summary.malformed += batch.malformed_count;
        for (line, reason) in batch.malformed {
            if summary.reasons.len() < SHOWN_REASONS {
                summary.reasons.push(format!("line {line}: {reason}"));
            }
        }
        for (kind, n) in batch.kinds {
            *summary.kinds.entry(kind).or_default() += n;
        }
        for (index, documents) in batch.by_index {
            let n = documents.len() as u64;
            summary.read += n;
            let outcome = db
                .stage(&index, documents)
                .await
                .map_err(|err| anyhow::anyhow!("{}: indexing into `{index}`: {err} (the events committed so far are kept; re-run to complete)", path.display()))?;
            since_commit += n;
            summary.indexed += u64::from(outcome.indexed);
            summary.refused += u64::from(outcome.failed);
            *summary.indices.entry(index).or_default() += u64::from(outcome.indexed);
            for error in outcome.errors {
                if summary.reasons.len() < SHOWN_REASONS {
                    summary.reasons.push(error);
                }
            }
        }
        if since_commit >= args.commit_every {
            commit(db, path).await?;
            since_commit = 0;
        }
        progress.update(batch.bytes_read, summary.indexed);
    }
    if since_commit > 0 {
        commit(db, path).await?;
    }
    progress.finish(summary.indexed);
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("{}: the reader thread failed", path.display()))?;
    summary.read += summary.malformed;
    Ok(summary)
}

async fn commit(db: &Arc<dyn BulkLoad>, path: &Path) -> anyhow::Result<()> {
    db.commit().await.map_err(|err| {
        anyhow::anyhow!("{}: committing: {err} (the events since the last commit may not have been stored; re-run to complete)", path.display())
    })
}

fn read_batches(
    reader: sc_ingest::Reader,
    batch_size: usize,
    index: Option<&str>,
    sender: &tokio::sync::mpsc::Sender<Batch>,
) {
    let mut reader = reader;
    let empty = |bytes_read| Batch {
        by_index: BTreeMap::new(),
        kinds: BTreeMap::new(),
        malformed: Vec::new(),
        malformed_count: 0,
        bytes_read,
    };
    let mut batch = empty(0);
    let mut pending = 0;
    while let Some(record) = reader.next() {
        match record {
            Record::Event(event) => {
                *batch.kinds.entry(event.kind).or_default() += 1;
                let target = index.map_or(event.index, str::to_owned);
                batch
                    .by_index
                    .entry(target)
                    .or_default()
                    .push((Some(event.id), event.doc));
                pending += 1;
            }
            Record::Malformed { line, reason } => {
                batch.malformed_count += 1;
                if batch.malformed.len() < SHOWN_REASONS {
                    batch.malformed.push((line, reason));
                }
            }
        }
        if pending >= batch_size {
            pending = 0;
            let full = std::mem::replace(&mut batch, empty(0));
            if sender
                .blocking_send(Batch {
                    bytes_read: reader.bytes_read(),
                    ..full
                })
                .is_err()
            {
                return;
            }
        }
    }
    let _ = sender.blocking_send(Batch {
        bytes_read: reader.bytes_read(),
        ..batch
    });
}

/// A progress bar on a terminal, a log line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    name: String,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(path: &Path, total_bytes: Option<u64>) -> Self {
        let name = path.display().to_string();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes.unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {prefix}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(name.clone());
            bar
        });
        Self {
            bar,
            name,
            started: Instant::now(),
            last_line: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn rate(&self, indexed: u64) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "a rate for people")]
        let rate = indexed as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        rate
    }

    fn update(&self, bytes_read: u64, indexed: u64) {
        let rate = self.rate(indexed);
        if let Some(bar) = &self.bar {
            bar.set_position(bytes_read);
            bar.set_prefix(format!("{indexed} events, {rate:.0} events/s"));
            return;
        }
        let mut last = self
            .last_line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= Duration::from_secs(5) {
            *last = Instant::now();
            tracing::info!(
                "{}: {indexed} events indexed ({rate:.0} events/s)",
                self.name
            );
        }
    }

    fn finish(&self, indexed: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        tracing::debug!(
            "{}: done, {indexed} events ({:.0} events/s)",
            self.name,
            self.rate(indexed)
        );
    }
}

fn print_summary(path: &Path, summary: &FileSummary) {
    println!(
        "{} ({}): read {}, indexed {}, skipped {} ({} malformed, {} refused by the store)",
        path.display(),
        summary.format,
        summary.read,
        summary.indexed,
        summary.malformed + summary.refused,
        summary.malformed,
        summary.refused
    );
    for (kind, n) in &summary.kinds {
        println!("  {kind}: {n}");
    }
    for (index, n) in &summary.indices {
        println!("  -> {index}: {n}");
    }
    if !summary.reasons.is_empty() {
        println!("  first problems:");
        for reason in &summary.reasons {
            println!("    {reason}");
        }
    }
}
