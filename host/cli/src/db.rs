//! `sc-host db indices|count|search`: look inside the configured telemetry
//! store through the same `db` path skills use, printing JSON. The embedded
//! store has no REST API of its own, so this is how a user reads it.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use sc_backends as backends;
use sc_core::config::Config;

/// Subcommands of `db`.
#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// The indices matching a pattern, with their document counts.
    Indices {
        /// Index pattern (`*` matches anything).
        #[arg(default_value = "*")]
        pattern: String,
    },
    /// How many documents match a query.
    Count {
        /// Index pattern, e.g. `logs-*`.
        pattern: String,
        /// A query clause as JSON, e.g. '{"term": {"destination.port": 22}}'.
        #[arg(long)]
        query: Option<String>,
    },
    /// Run a search and print the OpenSearch-shaped answer.
    Search {
        /// Index pattern, e.g. `logs-*`.
        pattern: String,
        /// A search body (`{"query": …, "aggs": …}`) or just a query clause, as JSON.
        #[arg(long)]
        query: String,
        /// Hits to return (sets the body's `size`).
        #[arg(long)]
        size: Option<u64>,
    },
}

/// Keys that make a JSON object a search body rather than a query clause.
const BODY_KEYS: [&str; 9] = [
    "query",
    "aggs",
    "aggregations",
    "size",
    "from",
    "sort",
    "_source",
    "search_after",
    "track_total_hits",
];

fn parse(flag: &str, text: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(text)
        .with_context(|| format!("`{flag}` is not valid JSON; quote it in single quotes, e.g. {flag} '{{\"match_all\": {{}}}}'"))?;
    anyhow::ensure!(value.is_object(), "`{flag}` must be a JSON object");
    Ok(value)
}

/// Runs `db`.
pub fn run(config: &Config, command: &DbCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let db = backends::open_db(config)?;
        let answer = match command {
            DbCommand::Indices { pattern } => {
                let indices = db.list_indices(pattern).await?;
                json!(indices)
            }
            DbCommand::Count { pattern, query } => {
                let query = query.as_deref().map(|q| parse("--query", q)).transpose()?;
                json!({"count": db.count(pattern, query).await?})
            }
            DbCommand::Search {
                pattern,
                query,
                size,
            } => {
                let parsed = parse("--query", query)?;
                let is_body = parsed
                    .as_object()
                    .is_some_and(|o| o.keys().any(|k| BODY_KEYS.contains(&k.as_str())));
                let mut body = if is_body {
                    parsed
                } else {
                    json!({"query": parsed})
                };
                if let Some(size) = size {
                    body["size"] = json!(size);
                }
                db.search(pattern, body).await?
            }
        };
        println!("{}", serde_json::to_string_pretty(&answer)?);
        Ok(ExitCode::SUCCESS)
    })
}
