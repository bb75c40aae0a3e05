//! `sc-host eval <capture>...`: replays labeled captures through the
//! detection skills and scores their findings. Each capture gets a fresh
//! embedded store in a temporary folder, its events indexed with the labels
//! taken out, and a host whose clock is set to the capture's own time; the
//! baseliner runs at the end of the warm-up, then the detectors and triage
//! in 5-minute steps of replayed time, through the same call path the
//! service uses.

mod capture;
mod replay;
mod score;

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use sc_core::config::Config;

pub use score::Scores;

/// Flags of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Capture folders or files (Zeek, Suricata, EVTX, NDJSON logs).
    #[arg(required = true, value_name = "DATASET")]
    pub datasets: Vec<PathBuf>,
    /// Replayed time before detection starts, for the baselines (e.g. 0, 30m, 2h).
    #[arg(long, default_value = "0", value_name = "DURATION")]
    pub warmup: String,
    /// A source that is an attacker, for captures labeled per scenario
    /// rather than per flow: every other source is benign. Repeatable.
    #[arg(long = "attacker", value_name = "IP")]
    pub attackers: Vec<String>,
    /// Also write the scores as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Keep each replay's data folder (store, memory, run history) under
    /// this folder, one sub-folder per capture, to look at with
    /// `sc-host --data-dir … db search` afterwards; a temporary folder that
    /// is removed otherwise.
    #[arg(long, value_name = "DIR")]
    pub keep_data: Option<PathBuf>,
}

/// Parses `90s`, `30m`, `2h`, `1d` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30m, 2h or 90s"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    Ok(chrono::Duration::seconds(seconds))
}

/// One capture's outcome.
#[derive(Debug, Serialize)]
pub struct CaptureReport {
    /// The capture.
    pub capture: String,
    /// Events replayed.
    pub events: usize,
    /// Hours of replayed time.
    pub hours: f64,
    /// How it was labeled: `flows`, `attackers` or `none`.
    pub ground_truth: &'static str,
    /// The scores, when it could be scored.
    pub scores: Option<Scores>,
    /// Findings recorded.
    pub findings: usize,
    /// Incidents recorded.
    pub incidents: usize,
    /// Incidents escalated.
    pub escalated: usize,
    /// Escalated incidents per capture-day (a capture shorter than a day counts as one).
    pub escalated_per_day: f64,
    /// Whether each `--attacker` was named in a finding (actor or target).
    pub attackers_named: Vec<(String, bool)>,
    /// Sources of the capture's IDS alerts.
    pub alert_sources: usize,
    /// Share of them that are the actor of a finding filed in an incident.
    pub alert_sources_covered: Option<f64>,
    /// Skill runs that ended in an error.
    pub failed_runs: usize,
    /// Seconds the replay took.
    pub seconds: f64,
    /// Where they went: indexing the capture, and each skill's runs (wall seconds).
    pub seconds_by_step: std::collections::BTreeMap<String, f64>,
    /// Why it could not be scored, if it could not.
    pub note: Option<String>,
}

/// The whole evaluation.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Per capture.
    pub captures: Vec<CaptureReport>,
    /// Macro averages over the scored captures.
    pub macro_precision: f64,
    /// Macro recall.
    pub macro_recall: f64,
    /// Macro F1.
    pub macro_f1: f64,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn print_table(report: &Report) {
    println!(
        "{:<34} {:>7} {:>6} {:>5} {:>5} {:>5} {:>6} {:>6} {:>7} {:>7} {:>8} {:>5}",
        "capture",
        "events",
        "srcs",
        "atk",
        "P",
        "R",
        "F1",
        "benign",
        "malic.",
        "delay",
        "esc/day",
        "runs!"
    );
    for c in &report.captures {
        match &c.scores {
            Some(s) => println!(
                "{:<34} {:>7} {:>6} {:>5} {:>5.2} {:>5.2} {:>6.3} {:>6} {:>7} {:>7} {:>8.1} {:>5}",
                c.capture,
                c.events,
                s.sources,
                s.attackers,
                s.precision,
                s.recall,
                s.f1,
                pct(s.benign_covered),
                pct(s.malicious_covered),
                s.median_delay_s
                    .map_or_else(|| "-".to_owned(), |d| format!("{d:.0}s")),
                c.escalated_per_day,
                c.failed_runs
            ),
            None => println!(
                "{:<34} {:>7}  not scored: {}",
                c.capture,
                c.events,
                c.note.as_deref().unwrap_or("no ground truth")
            ),
        }
    }
    println!(
        "macro average over {} scored capture(s): P {:.3}  R {:.3}  F1 {:.3}",
        report
            .captures
            .iter()
            .filter(|c| c.scores.is_some())
            .count(),
        report.macro_precision,
        report.macro_recall,
        report.macro_f1
    );
    for c in &report.captures {
        if let Some(s) = &c.scores
            && (!s.false_positive_sources.is_empty() || !s.missed_sources.is_empty())
        {
            println!(
                "  {}: flagged negatives {:?}; missed attackers {:?}",
                c.capture, s.false_positive_sources, s.missed_sources
            );
        }
        if let Some(share) = c.alert_sources_covered {
            println!(
                "  {}: {} of {} IDS-alert sources in incidents",
                c.capture,
                pct(share),
                c.alert_sources
            );
        }
        for (ip, named) in &c.attackers_named {
            println!(
                "  {}: attacker {ip} {}",
                c.capture,
                if *named {
                    "named in a finding"
                } else {
                    "NOT named"
                }
            );
        }
    }
}

/// Runs `eval`.
pub fn run(config: Config, args: &Args) -> anyhow::Result<ExitCode> {
    let warmup = match parse_duration(&args.warmup) {
        Ok(w) => w,
        Err(message) => {
            eprintln!("error: --warmup {message}");
            return Ok(ExitCode::from(super::EXIT_USAGE));
        }
    };
    let runtime = super::runtime()?;
    let mut captures = Vec::new();
    for path in &args.datasets {
        let report = runtime.block_on(replay::evaluate(
            &config,
            path,
            warmup,
            &args.attackers,
            args.keep_data.as_deref(),
        ))?;
        captures.push(report);
    }
    let scored: Vec<&Scores> = captures.iter().filter_map(|c| c.scores.as_ref()).collect();
    let mean = |f: fn(&Scores) -> f64| {
        if scored.is_empty() {
            0.0
        } else {
            scored.iter().map(|s| f(s)).sum::<f64>() / scored.len() as f64
        }
    };
    let report = Report {
        macro_precision: mean(|s| s.precision),
        macro_recall: mean(|s| s.recall),
        macro_f1: mean(|s| s.f1),
        captures,
    };
    print_table(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .map_err(|err| anyhow::anyhow!("writing {}: {err}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("0"), Ok(chrono::Duration::zero()));
        assert_eq!(parse_duration("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_duration("2h"), Ok(chrono::Duration::hours(2)));
        assert!(parse_duration("2w").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
