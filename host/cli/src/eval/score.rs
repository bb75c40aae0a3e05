//! Scoring findings against the ground truth, per source and per flow.
//!
//! Per source: an address is an attacker when any of its flows is
//! Malicious, every other source is a negative; it is flagged when it is
//! the actor of a finding at or above the threshold. Per flow: the share
//! of Benign (and of Malicious) flows whose source is the actor of a
//! finding covering the flow's time.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::capture::{Flow, Truth};

/// A finding as scoring sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Who did it.
    pub actor: String,
    /// Whom.
    pub targets: Vec<String>,
    /// Its grade.
    pub grade: f64,
    /// The interval it covers, epoch milliseconds.
    pub start_ms: i64,
    /// End of it (when the detector could know).
    pub end_ms: i64,
}

/// The scores of one capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Distinct sources.
    pub sources: usize,
    /// Of those, attackers.
    pub attackers: usize,
    /// Attackers flagged.
    pub true_positives: usize,
    /// Negatives flagged.
    pub false_positives: usize,
    /// Precision per source.
    pub precision: f64,
    /// Recall per source.
    pub recall: f64,
    /// F1 per source.
    pub f1: f64,
    /// Benign flows.
    pub benign_flows: usize,
    /// Share of them covered by a finding on their source.
    pub benign_covered: f64,
    /// Malicious flows.
    pub malicious_flows: usize,
    /// Share of them covered.
    pub malicious_covered: f64,
    /// Median seconds from an attacker's first malicious flow to its first finding.
    pub median_delay_s: Option<f64>,
    /// The longest of those.
    pub max_delay_s: Option<f64>,
    /// Negatives flagged, up to ten.
    pub false_positive_sources: Vec<String>,
    /// Attackers missed, up to ten.
    pub missed_sources: Vec<String>,
}

fn ratio(part: usize, whole: usize, empty: f64) -> f64 {
    if whole == 0 {
        empty
    } else {
        part as f64 / whole as f64
    }
}

/// Scores findings at or above `threshold` against the flows.
pub fn score(flows: &[Flow], findings: &[Found], threshold: f64) -> Scores {
    let mut first_malicious: BTreeMap<&str, i64> = BTreeMap::new();
    let mut sources = BTreeSet::new();
    for flow in flows {
        sources.insert(flow.source.as_str());
        if flow.truth == Some(Truth::Malicious) {
            let at = first_malicious.entry(&flow.source).or_insert(flow.at_ms);
            *at = (*at).min(flow.at_ms);
        }
    }
    let mut by_actor: BTreeMap<&str, Vec<&Found>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.grade >= threshold) {
        by_actor.entry(&f.actor).or_default().push(f);
    }
    let flagged = |source: &str| by_actor.contains_key(source);
    let (mut tp, mut fp) = (0, 0);
    let (mut fps, mut missed) = (Vec::new(), Vec::new());
    let mut delays = Vec::new();
    for source in &sources {
        let attacker = first_malicious.contains_key(source);
        match (attacker, flagged(source)) {
            (true, true) => {
                tp += 1;
                let first_found = by_actor[source].iter().map(|f| f.end_ms).min().unwrap_or(0);
                delays.push(((first_found - first_malicious[source]) as f64 / 1000.0).max(0.0));
            }
            (true, false) => missed.push((*source).to_owned()),
            (false, true) => {
                fp += 1;
                fps.push((*source).to_owned());
            }
            (false, false) => {}
        }
    }
    let covered = |flow: &Flow| {
        by_actor.get(flow.source.as_str()).is_some_and(|found| {
            found
                .iter()
                .any(|f| f.start_ms <= flow.at_ms && flow.at_ms <= f.end_ms)
        })
    };
    let count = |truth: Truth| {
        let of: Vec<&Flow> = flows.iter().filter(|f| f.truth == Some(truth)).collect();
        let hit = of.iter().filter(|f| covered(f)).count();
        (of.len(), ratio(hit, of.len(), 0.0))
    };
    let (benign_flows, benign_covered) = count(Truth::Benign);
    let (malicious_flows, malicious_covered) = count(Truth::Malicious);
    let attackers = first_malicious.len();
    let precision = ratio(tp, tp + fp, 1.0);
    let recall = ratio(tp, attackers, 1.0);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    delays.sort_by(f64::total_cmp);
    Scores {
        sources: sources.len(),
        attackers,
        true_positives: tp,
        false_positives: fp,
        precision,
        recall,
        f1,
        benign_flows,
        benign_covered,
        malicious_flows,
        malicious_covered,
        median_delay_s: delays.get(delays.len() / 2).copied(),
        max_delay_s: delays.last().copied(),
        false_positive_sources: fps.into_iter().take(10).collect(),
        missed_sources: missed.into_iter().take(10).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(source: &str, at_ms: i64, truth: Truth) -> Flow {
        Flow {
            source: source.into(),
            at_ms,
            truth: Some(truth),
        }
    }

    fn found(actor: &str, grade: f64, start_ms: i64, end_ms: i64) -> Found {
        Found {
            actor: actor.into(),
            targets: Vec::new(),
            grade,
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn a_small_slice_scores_as_computed_by_hand() {
        // Attackers a (flagged) and b (missed); negatives c (flagged) and d.
        let flows = vec![
            flow("a", 1_000, Truth::Malicious),
            flow("a", 2_000, Truth::Malicious),
            flow("b", 1_000, Truth::Malicious),
            flow("c", 1_000, Truth::Benign),
            flow("c", 9_000, Truth::Benign),
            flow("d", 1_000, Truth::Background),
        ];
        let findings = vec![
            found("a", 0.9, 0, 61_000),
            found("c", 0.8, 0, 5_000),
            // Under the threshold: does not count.
            found("d", 0.5, 0, 5_000),
        ];
        let s = score(&flows, &findings, 0.7);
        assert_eq!(
            (s.sources, s.attackers, s.true_positives, s.false_positives),
            (4, 2, 1, 1)
        );
        assert_eq!(s.precision, 0.5);
        assert_eq!(s.recall, 0.5);
        assert_eq!(s.f1, 0.5);
        // c's flow at 1 s is covered, its flow at 9 s is not: 1 of 2 benign.
        assert_eq!((s.benign_flows, s.benign_covered), (2, 0.5));
        // a's two flows covered, b's not: 2 of 3.
        assert!((s.malicious_covered - 2.0 / 3.0).abs() < 1e-12);
        // a's first malicious flow at 1 s, its finding known at 61 s.
        assert_eq!(s.median_delay_s, Some(60.0));
        assert_eq!(s.missed_sources, vec!["b".to_owned()]);
        assert_eq!(s.false_positive_sources, vec!["c".to_owned()]);
    }

    #[test]
    fn no_findings_means_no_recall() {
        let s = score(&[flow("a", 0, Truth::Malicious)], &[], 0.7);
        assert_eq!((s.precision, s.recall, s.f1), (1.0, 0.0, 0.0));
    }
}
