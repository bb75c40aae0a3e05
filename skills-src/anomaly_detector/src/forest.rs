//! The Random Cut Forest (the algorithm of OpenSearch AD, from the `rcf3`
//! crate) and the adaptive threshold that turns its scores into grades,
//! kept between runs so the model keeps learning across restarts.
//!
//! The serialized forest is larger than one memory value may be (256 KiB),
//! so it is stored in memory in chunks written under a new generation,
//! then a small head naming that generation; the old generation is removed
//! after. A crash mid-write leaves the head on the old, complete one. Memory
//! rather than the store: it is the agent's own state (SQLite, on this
//! machine), where a cluster would index the blob and show it to every
//! Dashboards user.

use rcf3::Forest;
use serde::{Deserialize, Serialize};

use sc_detection::step;
use securityclaw_sdk::{SkillError, memory};

/// The prefix of the head keys: one forest per peer group
/// (`anomaly_detector.forest.home`, `….external`).
pub const HEAD_PREFIX: &str = "anomaly_detector.forest";
/// Bytes per chunk, under the 256 KiB value cap with room for JSON quoting.
const CHUNK_BYTES: usize = 160 * 1024;
/// Points the forest must see before its scores are graded.
pub const WARMUP: u64 = 64;
/// How many standard deviations above the running mean a score must be.
const Z: f64 = 3.0;
/// Weight of a new score in the running mean and variance.
const DECAY: f64 = 0.01;

/// What the head says.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Head {
    generation: u64,
    chunks: u32,
    threshold: Threshold,
}

/// Running mean and variance of the scores (exponentially weighted).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq)]
pub struct Threshold {
    /// Scores seen.
    pub seen: u64,
    /// Their running mean.
    pub mean: f64,
    /// Their running variance.
    pub variance: f64,
}

impl Threshold {
    /// The grade of a score (0–1): 0 under mean + Z·σ, 1 at mean + 2Z·σ.
    pub fn grade(&self, score: f64) -> f64 {
        if self.seen < WARMUP {
            return 0.0;
        }
        let sigma = self.variance.sqrt().max(0.05);
        let bar = self.mean + Z * sigma;
        ((score - bar) / (Z * sigma)).clamp(0.0, 1.0)
    }

    /// Confidence: how much of the warm-up the threshold has seen.
    pub fn confidence(&self) -> f64 {
        (self.seen as f64 / (4 * WARMUP) as f64).min(1.0)
    }

    /// Takes a score into the running statistics.
    pub fn observe(&mut self, score: f64) {
        self.seen += 1;
        let weight = if self.seen <= WARMUP {
            1.0 / self.seen as f64
        } else {
            DECAY
        };
        let delta = score - self.mean;
        self.mean += weight * delta;
        self.variance = (1.0 - weight) * (self.variance + weight * delta * delta);
    }
}

/// The model and its threshold.
pub struct Model {
    /// The forest.
    pub forest: Forest,
    /// The threshold.
    pub threshold: Threshold,
    generation: u64,
    chunks: u32,
    head_key: String,
}

fn fresh(dimensions: usize) -> Result<Forest, SkillError> {
    Forest::builder(dimensions)
        .num_trees(40)
        .capacity(128)
        .shingle_size(1)
        .seed(0x5ec)
        .build()
        .map_err(|err| SkillError::Failed(format!("building the forest: {err}")))
}

/// The forest as compact binary (postcard), in base64 so it is a JSON
/// string: a fifth of its JSON size and much faster to read back, which is
/// what each five-minute run pays for.
fn encode(forest: &Forest) -> Result<String, SkillError> {
    use base64::Engine as _;
    let bytes = postcard::to_allocvec(forest)
        .map_err(|err| SkillError::Failed(format!("serializing the forest: {err}")))?;
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
}

fn decode(text: &str) -> Result<Forest, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|err| err.to_string())?;
    postcard::from_bytes(&bytes).map_err(|err| err.to_string())
}

fn chunk_key(head: &str, generation: u64, index: u32) -> String {
    format!("{head}.{generation}.{index}")
}

impl Model {
    /// The stored model, or a new one when none is stored (or the stored
    /// one is unreadable or of another shape, which is logged and replaced).
    pub fn load(group: &str, dimensions: usize) -> Result<Self, SkillError> {
        let head_key = format!("{HEAD_PREFIX}.{group}");
        let head: Option<Head> = step("reading the forest head", memory::get(&head_key))?;
        if let Some(head) = head {
            let mut json = String::new();
            let mut complete = true;
            for index in 0..head.chunks {
                match step(
                    "reading the forest",
                    memory::get::<String>(&chunk_key(&head_key, head.generation, index)),
                )? {
                    Some(part) => json.push_str(&part),
                    None => complete = false,
                }
            }
            if complete {
                match decode(&json) {
                    Ok(forest) if forest.config().input_dim() == dimensions => {
                        return Ok(Self {
                            forest,
                            threshold: head.threshold,
                            generation: head.generation,
                            chunks: head.chunks,
                            head_key,
                        });
                    }
                    Ok(_) => securityclaw_sdk::log::warn(
                        "stored forest has another shape; starting a new one",
                    ),
                    Err(err) => securityclaw_sdk::log::warn(&format!(
                        "stored forest unreadable ({err}); starting a new one"
                    )),
                }
            } else {
                securityclaw_sdk::log::warn("stored forest is missing chunks; starting a new one");
            }
        }
        Ok(Self {
            forest: fresh(dimensions)?,
            threshold: Threshold::default(),
            generation: 0,
            chunks: 0,
            head_key,
        })
    }

    /// Stores the model under a new generation, then removes the old one.
    /// Returns the bytes written.
    pub fn save(&mut self) -> Result<usize, SkillError> {
        let json = encode(&self.forest)?;
        let generation = self.generation + 1;
        let mut chunks = 0u32;
        let mut rest = json.as_str();
        while !rest.is_empty() {
            let mut cut = rest.len().min(CHUNK_BYTES);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            step(
                "storing the forest",
                memory::set(
                    &chunk_key(&self.head_key, generation, chunks),
                    &&rest[..cut],
                ),
            )?;
            rest = &rest[cut..];
            chunks += 1;
        }
        let head = Head {
            generation,
            chunks,
            threshold: self.threshold,
        };
        step(
            "storing the forest head",
            memory::set(&self.head_key, &head),
        )?;
        for index in 0..self.chunks {
            // A leftover chunk is only wasted space; the head no longer names it.
            let _ = memory::remove(&chunk_key(&self.head_key, self.generation, index));
        }
        self.generation = generation;
        self.chunks = chunks;
        Ok(json.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_are_zero_until_warm_and_rise_with_distance() {
        let mut t = Threshold::default();
        assert_eq!(t.grade(100.0), 0.0);
        for i in 0..200 {
            t.observe(1.0 + f64::from(i % 5) * 0.05);
        }
        assert_eq!(t.grade(1.1), 0.0);
        assert!(t.grade(3.0) > 0.9, "{t:?}");
        assert!(t.confidence() > 0.7);
    }
}
