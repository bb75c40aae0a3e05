//! `sc-host models pull|list|test`: fetch the embedded models once
//! (verified against pinned sha256), see what is installed, and check that
//! the configured model answers — the first thing to run when the LLM
//! seems wrong.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Instant;

use sc_models::catalog::{self, CatalogEntry, ModelKind};
use sc_models::pull::{ModelStatus, Puller};

use sc_backends as backends;
use sc_core::config::Config;
use sc_core::llm::{ChatOptions, Message, Role};

/// Subcommands of `models`.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Fetch model files into the models folder and verify them
    /// (default: the configured chat and embedding models).
    Pull {
        /// Catalog ids (`sc-host models list`).
        ids: Vec<String>,
    },
    /// The catalog and what is installed.
    List,
    /// Ask the configured chat model a short question and embed a sentence;
    /// print the reply, tokens/s and the embedding's dimension.
    Test {
        /// The question.
        #[arg(long, default_value = "In one sentence: what does a SOC analyst do?")]
        prompt: String,
    },
}

/// The puller for an entry: models go to the models folder, skill data
/// (the GeoIP databases) to the data folder, where a skill's
/// `grants.files` folder of the same name reaches it.
fn puller(config: &Config, kind: ModelKind) -> Puller {
    let dir = match kind {
        ModelKind::Chat | ModelKind::Embedding => config.llm.embedded.dir.clone(),
        ModelKind::SkillData => config.data_dir.clone(),
    };
    Puller::new(dir, config.llm.embedded.index_url.clone())
        .with_npm_registry(config.geoip.npm_registry.clone())
}

fn entry(id: &str) -> anyhow::Result<&'static CatalogEntry> {
    catalog::find(id).ok_or_else(|| {
        let known: Vec<&str> = catalog::catalog().iter().map(|e| e.id).collect();
        anyhow::anyhow!("`{id}` is not in the catalog; known: {}", known.join(", "))
    })
}

/// Runs `models`.
pub fn run(config: &Config, command: &ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::Pull { ids } => pull(config, ids),
        ModelsCommand::List => {
            list(config);
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Test { prompt } => test(config, prompt),
    }
}

fn pull(config: &Config, ids: &[String]) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if ids.is_empty() {
        vec![
            config.llm.embedded.chat_model.clone(),
            config.llm.embedded.embedding_model.clone(),
        ]
    } else {
        ids.to_vec()
    };
    for id in &ids {
        let entry = entry(id)?;
        let puller = puller(config, entry.kind);
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(entry.size());
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(entry.id);
            bar
        });
        let started = Instant::now();
        // `done` counts the whole model, not one file.
        let dir = puller.pull(entry, &|progress| {
            if let Some(bar) = &bar {
                bar.set_position(progress.done);
            }
        })?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        println!(
            "{}: ready in {} ({:.1} s)",
            entry.id,
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(config: &Config) {
    println!("models folder: {}", config.llm.embedded.dir.display());
    for entry in catalog::catalog() {
        let kind = entry.kind.as_str();
        let state = match puller(config, entry.kind).status(entry) {
            ModelStatus::Present { bytes, .. } => format!("installed ({} MB)", bytes / 1_000_000),
            ModelStatus::Missing { .. } => {
                format!("not installed: `sc-host models pull {}`", entry.id)
            }
            ModelStatus::Mismatch { file } => {
                format!(
                    "{file} does not match its pin: `sc-host models pull {}` fetches it again",
                    entry.id
                )
            }
        };
        let configured = [
            &config.llm.embedded.chat_model,
            &config.llm.embedded.embedding_model,
        ]
        .iter()
        .any(|id| id.as_str() == entry.id);
        println!(
            "{} {:<36} {:<9} {:>5} MB  {}",
            if configured { "*" } else { " " },
            entry.id,
            kind,
            entry.size() / 1_000_000,
            state
        );
        println!("    {} — license: {}", entry.description, entry.license);
        if !entry.attribution.is_empty() {
            println!("    attribution: {}", entry.attribution);
        }
    }
    println!("(* = configured in llm.embedded)");
}

fn test(config: &Config, prompt: &str) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let (llm, choice) = backends::open_llm(&config.llm)?;
        println!("provider: {} ({})", choice.provider.as_str(), choice.reason);
        if let Some(model) = &choice.model {
            println!("model:    {model}");
        }
        let mut failed = false;
        let started = Instant::now();
        let messages = vec![Message {
            role: Role::User,
            content: prompt.to_owned(),
        }];
        let options = ChatOptions {
            max_tokens: Some(64),
            ..ChatOptions::default()
        };
        match llm.chat(messages, options).await {
            Ok(reply) => {
                let seconds = started.elapsed().as_secs_f64().max(1e-9);
                println!("reply:    {}", reply.content.trim());
                println!(
                    "tokens:   {} prompt, {} answer, {:.1} s, {:.1} tokens/s overall",
                    reply.prompt_tokens,
                    reply.completion_tokens,
                    seconds,
                    f64::from(reply.completion_tokens) / seconds
                );
            }
            Err(err) => {
                failed = true;
                println!("chat:     failed: {err}");
            }
        }
        match llm
            .embed(vec!["Failed SSH logins from one source".to_owned()])
            .await
        {
            Ok(vectors) => println!(
                "embedding: {} dimensions",
                vectors.first().map_or(0, Vec::len)
            ),
            Err(err) => {
                failed = true;
                println!("embedding: failed: {err}");
            }
        }
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}
