//! The `llm` capability on in-process models (`llm.provider: embedded`):
//! a GGUF chat model and a BERT embedding model from `data/models/`, run
//! with candle on the CPU. Models load on first use; one generation runs at
//! a time (it owns the model's cache), embeddings run alongside.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tokio::sync::mpsc;

use sc_models::catalog::{self, CatalogEntry};
use sc_models::chat::{ChatModel, Generation, Turn};
use sc_models::embed::EmbeddingModel;
use sc_models::pull::{ModelStatus, Puller};

use sc_core::CapabilityError;
use sc_core::config::LlmConfig;
use sc_core::llm::{ChatOptions, ChatResponse, LlmBackend, Message};

/// Where the embedded models' files are, and whether they are there.
#[derive(Debug, Clone)]
pub struct EmbeddedFiles {
    /// The chat model's GGUF file, when present.
    pub chat: Option<PathBuf>,
    /// The embedding model's folder, when present.
    pub embedding: Option<PathBuf>,
    /// What is missing, with the command that fetches it.
    pub missing: Vec<String>,
}

fn present(puller: &Puller, entry: &CatalogEntry) -> Option<PathBuf> {
    match puller.status(entry) {
        ModelStatus::Present { dir, .. } => Some(dir),
        _ => None,
    }
}

/// Finds the configured models' files (no hashing: the pull left stamps).
pub fn locate(config: &LlmConfig) -> EmbeddedFiles {
    let settings = &config.embedded;
    let puller = Puller::new(settings.dir.clone(), settings.index_url.clone());
    let mut missing = Vec::new();
    let chat = match &settings.chat_model_path {
        Some(path) if path.is_file() => Some(path.clone()),
        Some(path) => {
            missing.push(format!(
                "{} (`llm.embedded.chat_model_path`) does not exist",
                path.display()
            ));
            None
        }
        None => match catalog::find(&settings.chat_model) {
            None => {
                missing.push(format!(
                    "`llm.embedded.chat_model: {}` is not in the catalog (`sc-host models list`)",
                    settings.chat_model
                ));
                None
            }
            Some(entry) => {
                let found = present(&puller, entry).map(|dir| dir.join("model.gguf"));
                if found.is_none() {
                    missing.push(format!(
                        "chat model {} (run `sc-host models pull {}`)",
                        entry.id, entry.id
                    ));
                }
                found
            }
        },
    };
    let embedding = match catalog::find(&settings.embedding_model) {
        None => {
            missing.push(format!(
                "`llm.embedded.embedding_model: {}` is not in the catalog (`sc-host models list`)",
                settings.embedding_model
            ));
            None
        }
        Some(entry) => {
            let found = present(&puller, entry);
            if found.is_none() {
                missing.push(format!(
                    "embedding model {} (run `sc-host models pull {}`)",
                    entry.id, entry.id
                ));
            }
            found
        }
    };
    EmbeddedFiles {
        chat,
        embedding,
        missing,
    }
}

/// The in-process models behind `llm`.
pub struct EmbeddedLlm {
    files: EmbeddedFiles,
    max_tokens: u32,
    /// `llm.first_token_timeout_ms`: loading the model and reading the prompt.
    first_token_timeout: std::time::Duration,
    /// `llm.total_timeout_ms`: the whole answer.
    total_timeout: std::time::Duration,
    chat: Arc<Mutex<Option<ChatModel>>>,
    embedder: Arc<OnceLock<Result<EmbeddingModel, String>>>,
}

impl EmbeddedLlm {
    /// The backend for the files found; nothing is loaded yet.
    pub fn new(config: &LlmConfig, files: EmbeddedFiles) -> Self {
        Self {
            files,
            max_tokens: config.max_tokens,
            first_token_timeout: std::time::Duration::from_millis(config.first_token_timeout_ms),
            total_timeout: std::time::Duration::from_millis(config.total_timeout_ms),
            chat: Arc::new(Mutex::new(None)),
            embedder: Arc::new(OnceLock::new()),
        }
    }

    fn unavailable(&self, what: &str) -> CapabilityError {
        CapabilityError::NotConfigured(format!(
            "the embedded {what} model is not installed: {}",
            self.files.missing.join("; ")
        ))
    }
}

fn model_error(err: sc_models::ModelError) -> CapabilityError {
    match err {
        sc_models::ModelError::Input(message) => CapabilityError::InvalidInput(message),
        other => CapabilityError::Backend(other.to_string()),
    }
}

impl crate::json_mode::ChatOnce for EmbeddedLlm {
    async fn chat_once(
        &self,
        messages: &[Message],
        options: &ChatOptions,
        tokens: Option<&mpsc::Sender<String>>,
    ) -> Result<ChatResponse, CapabilityError> {
        let Some(path) = self.files.chat.clone() else {
            return Err(self.unavailable("chat"));
        };
        let mut turns: Vec<Turn> = messages
            .iter()
            .map(|m| Turn {
                role: m.role.as_str().to_owned(),
                content: m.content.clone(),
            })
            .collect();
        let answer_prefix = if options.json_mode {
            // Small models follow an explicit instruction better than a
            // format flag, and starting the answer with its opening brace
            // holds them to JSON.
            turns.insert(
                0,
                Turn {
                    role: "system".to_owned(),
                    // A small model copies a schema back; a skeleton of the
                    // answer it should fill in works better.
                    content: match options
                        .json_schema
                        .as_deref()
                        .and_then(crate::json_mode::skeleton)
                    {
                        Some(shape) => format!(
                            "Answer with a single JSON value shaped like {shape} (fill in the values) and nothing else."
                        ),
                        None => "Answer with a single JSON value and nothing else.".to_owned(),
                    },
                },
            );
            crate::json_mode::json_opening(options.json_schema.as_deref()).to_owned()
        } else {
            String::new()
        };
        let started = Instant::now();
        let generation = Generation {
            max_tokens: options.max_tokens.unwrap_or(self.max_tokens) as usize,
            temperature: options.temperature.map(f64::from),
            seed: 42,
            answer_prefix,
            first_token_deadline: Some(started + self.first_token_timeout),
            deadline: Some(started + self.total_timeout),
        };
        let stop_at_json_end = options.json_mode && !generation.answer_prefix.is_empty();
        let chat = self.chat.clone();
        let tokens = tokens.cloned();
        let (generated, name) = tokio::task::spawn_blocking(move || {
            let mut slot = chat.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(ChatModel::load(&path)?);
            }
            let Some(model) = slot.as_mut() else {
                return Err(sc_models::ModelError::Format(
                    "the chat model did not load".to_owned(),
                ));
            };
            // Generation stops when the JSON value closes, and early when
            // the listener has gone away.
            let mut json_end = crate::json_mode::JsonEnd::default();
            let generated = model.generate(&turns, &generation, &mut |piece| {
                let listening = tokens
                    .as_ref()
                    .is_none_or(|tx| tx.blocking_send(piece.to_owned()).is_ok());
                listening && !(stop_at_json_end && json_end.feed(piece))
            })?;
            Ok((generated, model.name.clone()))
        })
        .await
        .map_err(|err| CapabilityError::Backend(format!("the model task failed: {err}")))?
        .map_err(model_error)?;
        // Past `llm.first_token_timeout_ms` or `llm.total_timeout_ms`.
        if generated.timed_out {
            return Err(CapabilityError::Timeout);
        }
        Ok(ChatResponse {
            content: generated.text,
            model: name,
            prompt_tokens: u32::try_from(generated.prompt_tokens).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(generated.completion_tokens).unwrap_or(u32::MAX),
            latency_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        })
    }
}

#[async_trait::async_trait]
impl LlmBackend for EmbeddedLlm {
    async fn chat(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError> {
        crate::json_mode::chat_checked(self, messages, options, None).await
    }

    async fn chat_stream(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
        tokens: mpsc::Sender<String>,
    ) -> Result<ChatResponse, CapabilityError> {
        crate::json_mode::chat_checked(self, messages, options, Some(&tokens)).await
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        let Some(dir) = self.files.embedding.clone() else {
            return Err(self.unavailable("embedding"));
        };
        let embedder = self.embedder.clone();
        tokio::task::spawn_blocking(move || {
            let model = embedder
                .get_or_init(|| EmbeddingModel::load(&dir).map_err(|e| e.to_string()))
                .as_ref()
                .map_err(|e| CapabilityError::Backend(e.clone()))?;
            model.embed(&texts).map_err(model_error)
        })
        .await
        .map_err(|err| CapabilityError::Backend(format!("the model task failed: {err}")))?
    }
}

/// Chat from one backend, embeddings from another (`llm.embedding.provider`).
pub struct SplitLlm {
    /// Answers `chat`.
    pub chat: Arc<dyn LlmBackend>,
    /// Answers `embed`.
    pub embed: Arc<dyn LlmBackend>,
}

#[async_trait::async_trait]
impl LlmBackend for SplitLlm {
    async fn chat(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError> {
        self.chat.chat(messages, options).await
    }

    async fn chat_stream(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
        tokens: mpsc::Sender<String>,
    ) -> Result<ChatResponse, CapabilityError> {
        self.chat.chat_stream(messages, options, tokens).await
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        self.embed.embed(texts).await
    }
}
