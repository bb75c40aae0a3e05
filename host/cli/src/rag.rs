//! `sc-host rag search TEXT [--category C] [--k N]`: what retrieval returns
//! and which path (vector or lexical) answered.

use std::process::ExitCode;

use sc_backends as backends;
use sc_core::config::Config;
use sc_core::rag::RetrievalPath;

/// Subcommands of `rag`.
#[derive(Debug, clap::Subcommand)]
pub enum RagCommand {
    /// Retrieve the documents most similar to a text.
    Search {
        /// The text to search for.
        text: String,
        /// Only this category (default: every category).
        #[arg(long)]
        category: Option<String>,
        /// How many results.
        #[arg(long, default_value_t = 5)]
        k: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `rag`.
pub fn run(config: &Config, command: &RagCommand) -> anyhow::Result<ExitCode> {
    let RagCommand::Search {
        text,
        category,
        k,
        json,
    } = command;
    super::runtime()?.block_on(async {
        let opened = backends::open(config)?;
        let rag = &opened.rag;
        let categories = match category {
            Some(category) => vec![category.clone()],
            None => rag.categories().await?,
        };
        let found = rag.retrieve(text, (*k).clamp(1, 100), &categories).await?;
        let path = match found.path {
            RetrievalPath::Vector => "vector",
            RetrievalPath::Lexical => "lexical (no embedding model available)",
        };
        if *json {
            let hits: Vec<serde_json::Value> = found
                .hits
                .iter()
                .map(|h| {
                    serde_json::json!({
                        "id": h.id, "category": h.category, "entity": h.entity, "text": h.text,
                        "source": h.source, "score": h.score,
                        "metadata": serde_json::from_str::<serde_json::Value>(&h.metadata).unwrap_or_default(),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "path": path, "hits": hits }))?);
            return Ok(ExitCode::SUCCESS);
        }
        println!("path: {path}");
        if found.hits.is_empty() {
            println!("no documents matched");
        }
        for hit in &found.hits {
            println!("{:>8.3}  [{}] {}: {}", hit.score, hit.category, hit.entity, hit.text);
        }
        Ok(ExitCode::SUCCESS)
    })
}
