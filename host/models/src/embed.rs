//! Sentence embeddings in-process: a BERT model (all-MiniLM-L6-v2, 384
//! dimensions) from safetensors, mean-pooled over the attention mask and
//! L2-normalised, as sentence-transformers computes them.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{ModelError, format};

/// Longest input, in tokens; longer texts are cut (MiniLM was trained on 256).
const MAX_TOKENS: usize = 256;

/// A loaded embedding model.
pub struct EmbeddingModel {
    model: BertModel,
    tokenizer: Tokenizer,
    /// Vector length.
    pub dimensions: usize,
}

impl EmbeddingModel {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from a folder.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| ModelError::Missing(format!("{}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?).map_err(format)?;
        let dimensions = config.hidden_size;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(format)?;
        // The packaged tokenizer pads every input to 128; pad a batch to its longest instead.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(format)?;
        let vb = VarBuilder::from_buffered_safetensors(
            read("model.safetensors")?,
            DType::F32,
            &Device::Cpu,
        )
        .map_err(format)?;
        let model = BertModel::load(vb, &config).map_err(format)?;
        Ok(Self {
            model,
            tokenizer,
            dimensions,
        })
    }

    /// One unit-length vector per text.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(format)?;
        let ids: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_ids(), &Device::Cpu))
            .collect::<Result<_, _>>()
            .map_err(format)?;
        let masks: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), &Device::Cpu))
            .collect::<Result<_, _>>()
            .map_err(format)?;
        let ids = Tensor::stack(&ids, 0).map_err(format)?;
        let mask = Tensor::stack(&masks, 0).map_err(format)?;
        let token_types = ids.zeros_like().map_err(format)?;
        let hidden = self
            .model
            .forward(&ids, &token_types, Some(&mask))
            .map_err(format)?;
        // Mean over real tokens only: padding must not pull the average.
        let mask = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(format)?;
        let summed = hidden
            .broadcast_mul(&mask)
            .and_then(|h| h.sum(1))
            .map_err(format)?;
        let counts = mask.sum(1).map_err(format)?;
        let mean = summed.broadcast_div(&counts).map_err(format)?;
        let norms = mean
            .sqr()
            .and_then(|s| s.sum_keepdim(1))
            .and_then(|s| s.sqrt())
            .map_err(format)?;
        let unit = mean.broadcast_div(&norms).map_err(format)?;
        unit.to_vec2::<f32>().map_err(format)
    }
}
