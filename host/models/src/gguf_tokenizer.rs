//! A tokenizer rebuilt from a GGUF file's own metadata (the `gpt2` BPE
//! vocabulary and merges that llama.cpp stores), so a GGUF file is all a
//! chat model needs: no separate tokenizer.json to fetch or to mismatch.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::ModelError;

/// GGUF token type of control tokens (`<|im_start|>`…).
const CONTROL_TOKEN: i32 = 3;

fn strings(content: &Content, key: &str) -> Result<Vec<String>, ModelError> {
    let values = content
        .metadata
        .get(key)
        .ok_or_else(|| {
            ModelError::Format(format!(
                "the GGUF file has no `{key}`; it was not converted with a tokenizer"
            ))
        })?
        .to_vec()
        .map_err(|e| ModelError::Format(format!("`{key}`: {e}")))?;
    values
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|e| ModelError::Format(format!("`{key}`: {e}")))
        })
        .collect()
}

/// The tokenizer a GGUF file describes.
pub fn from_gguf(content: &Content) -> Result<Tokenizer, ModelError> {
    let model = content
        .metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if model != "gpt2" {
        return Err(ModelError::Format(format!(
            "the GGUF tokenizer is `{model}`; the embedded runtime reads byte-level BPE (`gpt2`) tokenizers such as Qwen2.5's and SmolLM2's"
        )));
    }
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges = strings(content, "tokenizer.ggml.merges")?;
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(Value::Array(values)) => values.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
        _ => Vec::new(),
    };
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), u32::try_from(id).unwrap_or(u32::MAX)))
        .collect();
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| ModelError::Format(format!("building the tokenizer: {e}")))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter().chain(std::iter::repeat(&1)))
        .filter(|(_, kind)| **kind == CONTROL_TOKEN)
        .map(|(token, _)| AddedToken::from(token.clone(), true))
        .collect();
    tokenizer.add_special_tokens(&special);
    Ok(tokenizer)
}
