//! Chat with a quantized GGUF model in-process (candle): Qwen2 and Llama
//! architectures (Qwen2.5-Coder-0.5B-Instruct, SmolLM2-135M-Instruct), the
//! ChatML prompt format both were tuned on, tokens streamed as they come.

use std::path::Path;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use tokenizers::Tokenizer;

use crate::{ModelError, format};

enum Weights {
    Qwen2(quantized_qwen2::ModelWeights),
    Llama(quantized_llama::ModelWeights),
}

impl Weights {
    fn forward(&mut self, input: &Tensor, position: usize) -> candle_core::Result<Tensor> {
        match self {
            Self::Qwen2(m) => m.forward(input, position),
            Self::Llama(m) => m.forward(input, position),
        }
    }
}

/// A loaded chat model. Generation mutates its key/value cache, so one
/// conversation runs at a time (the host serialises calls).
pub struct ChatModel {
    weights: Weights,
    tokenizer: Tokenizer,
    stop: Vec<u32>,
    /// Whether a token is a word the repeat penalty holds back (see
    /// [`ChatModel::is_word`]), by token id, filled as tokens are generated.
    words: std::collections::HashMap<u32, bool>,
    /// What the GGUF metadata calls the model.
    pub name: String,
    /// Context length the model was trained for.
    pub context: usize,
}

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

/// How much a word just generated is held back from coming again, over
/// the last [`REPEAT_WINDOW`] words: greedy decoding of a small model
/// otherwise falls into a loop (a sentence repeated until the token limit,
/// inside a JSON string that then never closes). 1.1 is llama.cpp's
/// long-standing default and within Qwen's recommended range.
const REPEAT_PENALTY: f32 = 1.1;
/// Words the repeat penalty looks back over.
const REPEAT_WINDOW: usize = 64;

/// How to generate.
#[derive(Debug, Clone)]
pub struct Generation {
    /// Most new tokens.
    pub max_tokens: usize,
    /// Sampling temperature; 0 or none is greedy (deterministic).
    pub temperature: Option<f64>,
    /// Seed of the sampler.
    pub seed: u64,
    /// Text the answer starts with, written into the prompt so the model
    /// continues it (`{` holds a small model to a JSON object). It is part
    /// of the answer returned and the first piece `on_token` hears.
    pub answer_prefix: String,
    /// When the prompt must have been read and the first token chosen.
    pub first_token_deadline: Option<Instant>,
    /// When the whole answer must be done.
    pub deadline: Option<Instant>,
}

/// What a generation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The answer.
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Seconds spent reading the prompt.
    pub prompt_seconds: f64,
    /// Seconds spent generating.
    pub generation_seconds: f64,
    /// Whether it stopped at the token limit rather than by itself.
    pub truncated: bool,
    /// Whether it stopped at a deadline.
    pub timed_out: bool,
}

impl ChatModel {
    /// Loads a GGUF chat model on the CPU.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let mut file = std::fs::File::open(path)
            .map_err(|e| ModelError::Missing(format!("{}: {e}", path.display())))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| format(format!("{} is not a GGUF model: {e}", path.display())))?;
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let name = content
            .metadata
            .get("general.name")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| architecture.clone());
        let mut context = content
            .metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(|v| v.to_u32().ok())
            .unwrap_or(2048) as usize;
        // candle's llama builds its rotary table for this many positions
        // whatever the file says (SmolLM2 says 8192): past it a prompt
        // fails deep in a tensor op instead of with a clear "too long".
        if architecture == "llama" {
            context = context.min(quantized_llama::MAX_SEQ_LEN);
        }
        let tokenizer = crate::gguf_tokenizer::from_gguf(&content)?;
        let device = Device::Cpu;
        let weights = match architecture.as_str() {
            "qwen2" => Weights::Qwen2(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(format)?,
            ),
            "llama" => Weights::Llama(
                quantized_llama::ModelWeights::from_gguf(content, &mut file, &device)
                    .map_err(format)?,
            ),
            other => {
                return Err(ModelError::Format(format!(
                    "{}: architecture `{other}` is not supported; the embedded runtime runs qwen2 and llama GGUF models",
                    path.display()
                )));
            }
        };
        let stop = ["<|im_end|>", "<|endoftext|>", "</s>"]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        Ok(Self {
            weights,
            tokenizer,
            stop,
            words: std::collections::HashMap::new(),
            name,
            context,
        })
    }

    /// Does `token` hold a letter? Only words are held back from repeating:
    /// JSON's punctuation (`"`, `{`, `":`) and digits (an address cited
    /// twice) must come back as often as the answer needs them.
    fn is_word(&mut self, token: u32) -> bool {
        let tokenizer = &self.tokenizer;
        *self.words.entry(token).or_insert_with(|| {
            tokenizer
                .decode(&[token], false)
                .is_ok_and(|text| text.chars().any(char::is_alphabetic))
        })
    }

    /// The ChatML prompt for a conversation, ending where the assistant speaks.
    pub fn prompt(turns: &[Turn]) -> String {
        let mut prompt = String::new();
        for turn in turns {
            prompt.push_str(&format!(
                "<|im_start|>{}\n{}<|im_end|>\n",
                turn.role, turn.content
            ));
        }
        prompt.push_str("<|im_start|>assistant\n");
        prompt
    }

    /// Tokens in a text.
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(self.tokenizer.encode(text, false).map_err(format)?.len())
    }

    /// Answers a conversation; `on_token` receives each piece of text as it
    /// is generated and may stop generation by returning false.
    pub fn generate(
        &mut self,
        turns: &[Turn],
        options: &Generation,
        on_token: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generated, ModelError> {
        let prompt = Self::prompt(turns) + &options.answer_prefix;
        let tokens = self
            .tokenizer
            .encode(prompt, false)
            .map_err(format)?
            .get_ids()
            .to_vec();
        let budget = self.context.saturating_sub(tokens.len());
        if budget == 0 {
            return Err(ModelError::Input(format!(
                "the prompt is {} tokens; this model reads at most {}",
                tokens.len(),
                self.context
            )));
        }
        let max_tokens = options.max_tokens.min(budget).max(1);
        let sampling = match options.temperature {
            Some(t) if t > 0.0 => Sampling::All { temperature: t },
            _ => Sampling::ArgMax,
        };
        let mut sampler = LogitsProcessor::from_sampling(options.seed, sampling);
        self.clear();
        let started = Instant::now();
        let input = Tensor::new(tokens.as_slice(), &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .map_err(format)?;
        let logits = self
            .weights
            .forward(&input, 0)
            .and_then(|l| l.squeeze(0))
            .map_err(format)?;
        let mut next = sampler.sample(&logits).map_err(format)?;
        let prompt_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut generated: Vec<u32> = Vec::new();
        let mut words: Vec<u32> = Vec::new();
        let mut emitted = 0;
        let past = |deadline: Option<Instant>| deadline.is_some_and(|d| Instant::now() > d);
        let mut timed_out = past(options.first_token_deadline);
        // A listener may stop at the prefix already.
        let mut listening = options.answer_prefix.is_empty() || on_token(&options.answer_prefix);
        let mut truncated = listening && !timed_out;
        while truncated && generated.len() < max_tokens {
            if self.stop.contains(&next) {
                truncated = false;
                break;
            }
            if past(options.deadline) {
                (truncated, timed_out) = (false, true);
                break;
            }
            generated.push(next);
            if self.is_word(next) {
                words.push(next);
            }
            // Decode the whole answer so far: a character can span tokens,
            // and decodes as U+FFFD until its last byte is there, so that
            // is held back rather than sent.
            let text = self.tokenizer.decode(&generated, true).map_err(format)?;
            if text.len() > emitted && text.is_char_boundary(emitted) && !text.ends_with('\u{FFFD}')
            {
                listening = on_token(&text[emitted..]);
                emitted = text.len();
                if !listening {
                    truncated = false;
                    break;
                }
            }
            let input = Tensor::new(&[next], &Device::Cpu)
                .and_then(|t| t.unsqueeze(0))
                .map_err(format)?;
            let logits = self
                .weights
                .forward(&input, tokens.len() + generated.len() - 1)
                .and_then(|l| l.squeeze(0))
                .and_then(|l| {
                    let recent = &words[words.len().saturating_sub(REPEAT_WINDOW)..];
                    candle_transformers::utils::apply_repeat_penalty(&l, REPEAT_PENALTY, recent)
                })
                .map_err(format)?;
            next = sampler.sample(&logits).map_err(format)?;
        }
        let answer = self.tokenizer.decode(&generated, true).map_err(format)?;
        // What was held back at the end, so the listener hears the answer
        // returned.
        if listening && answer.len() > emitted && answer.is_char_boundary(emitted) {
            on_token(&answer[emitted..]);
        }
        let text = options.answer_prefix.clone() + &answer;
        Ok(Generated {
            timed_out,
            text,
            prompt_tokens: tokens.len(),
            completion_tokens: generated.len(),
            prompt_seconds,
            generation_seconds: started.elapsed().as_secs_f64(),
            truncated,
        })
    }

    fn clear(&mut self) {
        match &mut self.weights {
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Llama(m) => m.clear_kv_cache(),
        }
    }
}
