//! A labeled capture as `eval` replays it: its events with the labels
//! taken out (what the agent may see), and the ground truth kept aside
//! (what it is scored against).
//!
//! Ground truth comes from Zeek `*.labeled` columns (Stratosphere's `label`
//! and `detailedlabel`), from a `labels.json` beside the logs mapping a
//! Zeek `uid` or a Suricata `flow_id` to a label, or from `--attacker`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

use sc_ingest::{Options, Record};

/// What a flow is, by its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    /// Part of an attack.
    Malicious,
    /// Normal traffic of the monitored hosts.
    Benign,
    /// Other traffic nobody labeled in detail.
    Background,
}

impl Truth {
    /// Reads a label: `Malicious…`, `Benign…`/`Normal…`, `Background…`;
    /// anything else is background.
    pub fn parse(label: &str) -> Self {
        let lower = label.trim().to_ascii_lowercase();
        if lower.starts_with("malicious") || lower.starts_with("attack") || lower == "1" {
            Truth::Malicious
        } else if lower.starts_with("benign") || lower.starts_with("normal") || lower == "0" {
            Truth::Benign
        } else {
            Truth::Background
        }
    }
}

/// One event's place in the ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Its source address.
    pub source: String,
    /// When, epoch milliseconds.
    pub at_ms: i64,
    /// Its label, when it has one.
    pub truth: Option<Truth>,
}

/// A capture ready to replay.
#[derive(Debug, Default)]
pub struct Capture {
    /// Its name (the folder or file).
    pub name: String,
    /// Documents per index, labels removed.
    pub documents: BTreeMap<String, Vec<(Option<String>, Value)>>,
    /// Every event with a source, with its label.
    pub flows: Vec<Flow>,
    /// First and last event time, epoch milliseconds.
    pub start_ms: i64,
    /// Last event time.
    pub end_ms: i64,
    /// Records that could not be read.
    pub malformed: u64,
    /// `labels.json` entries that named no event.
    pub unknown_labels: usize,
    /// Sources of the IDS alerts in the capture.
    pub alert_sources: BTreeSet<String>,
}

impl Capture {
    /// Whether any event carries a label.
    pub fn labeled(&self) -> bool {
        self.flows.iter().any(|f| f.truth.is_some())
    }

    /// Events loaded.
    pub fn events(&self) -> usize {
        self.documents.values().map(Vec::len).sum()
    }
}

/// Files of a capture folder that are not logs.
fn is_log_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    !(name.starts_with('.')
        || name.starts_with("readme")
        || name.starts_with("license")
        || name.starts_with("citation")
        || name == "labels.json"
        || name.ends_with(".config")
        || name.ends_with(".md")
        || name.ends_with(".cff")
        || name.ends_with(".txt"))
}

fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?;
        for entry in entries {
            let entry = entry?.path();
            if entry.is_dir() {
                folders.push(entry);
            } else if is_log_file(&entry) {
                out.push(entry);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn text_at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| v.get(key))
}

/// The `labels.json` beside the capture (or inside its folder).
fn side_labels(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let folder = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let file = folder.join("labels.json");
    if !file.exists() {
        return Ok(HashMap::new());
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let map: HashMap<String, Value> = serde_json::from_str(&text).with_context(|| {
        format!("{}: must be a JSON object mapping a Zeek uid or Suricata flow_id to a label, e.g. {{\"CvIOrb4ekWKPrnpqsf\": \"Malicious\"}}", file.display())
    })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect())
}

/// Reads every log of a capture.
pub fn load(path: &Path) -> anyhow::Result<Capture> {
    // `011-zeek-mixed/data` rather than `data`: the last two parts name a capture.
    let parts: Vec<String> = path
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let name = parts.into_iter().rev().collect::<Vec<_>>().join("/");
    let side = side_labels(path)?;
    let mut used = BTreeSet::new();
    let mut capture = Capture {
        name,
        start_ms: i64::MAX,
        end_ms: i64::MIN,
        ..Capture::default()
    };
    let logs = files(path)?;
    if logs.is_empty() {
        anyhow::bail!("{}: no log files in it", path.display());
    }
    for file in logs {
        let options = Options {
            keep_labels: true,
            ..Options::default()
        };
        let reader = match sc_ingest::open(&file, &options) {
            Ok(reader) => reader,
            Err(err) => {
                eprintln!("eval: skipping {}: {err}", file.display());
                continue;
            }
        };
        for record in reader {
            let event = match record {
                Record::Event(event) => event,
                Record::Malformed { .. } => {
                    capture.malformed += 1;
                    continue;
                }
            };
            let mut doc = event.doc;
            let mut label = doc
                .as_object_mut()
                .and_then(|o| o.remove("labels"))
                .and_then(|l| {
                    l.get("ground_truth")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
            let key = text_at(&doc, &["zeek", "session_id"])
                .or_else(|| text_at(&doc, &["suricata", "eve", "flow_id"]))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            if let Some(key) = key
                && let Some(found) = side.get(&key)
            {
                used.insert(key);
                label = Some(found.clone());
            }
            let at_ms = doc
                .get("@timestamp")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis());
            if let Some(at_ms) = at_ms {
                capture.start_ms = capture.start_ms.min(at_ms);
                capture.end_ms = capture.end_ms.max(at_ms);
                if let Some(source) = text_at(&doc, &["source", "ip"]).and_then(Value::as_str) {
                    if text_at(&doc, &["event", "kind"]).and_then(Value::as_str) == Some("alert") {
                        capture.alert_sources.insert(source.to_owned());
                    }
                    capture.flows.push(Flow {
                        source: source.to_owned(),
                        at_ms,
                        truth: label.as_deref().map(Truth::parse),
                    });
                }
            }
            capture
                .documents
                .entry(event.index)
                .or_default()
                .push((Some(event.id), doc));
        }
    }
    capture.unknown_labels = side.len() - used.len();
    if capture.start_ms > capture.end_ms {
        anyhow::bail!("{}: no event with a time in it", path.display());
    }
    Ok(capture)
}

/// Applies `--attacker`: those sources' events are malicious, every other
/// source's benign (for captures labeled per scenario).
pub fn label_by_attackers(capture: &mut Capture, attackers: &[String]) {
    for flow in &mut capture.flows {
        flow.truth = Some(if attackers.contains(&flow.source) {
            Truth::Malicious
        } else {
            Truth::Benign
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_by_their_first_word() {
        assert_eq!(Truth::parse("Malicious"), Truth::Malicious);
        assert_eq!(Truth::parse("malicious   C&C"), Truth::Malicious);
        assert_eq!(Truth::parse("Benign"), Truth::Benign);
        assert_eq!(Truth::parse("Background"), Truth::Background);
        assert_eq!(Truth::parse("-"), Truth::Background);
    }
}
