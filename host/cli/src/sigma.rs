//! `sc-host sigma test <rule.yml>`: tries one Sigma rule file over stored
//! events through `sigma_detector` (the same engine, field mappings and
//! index routing as its scheduled runs) and prints each match with why it
//! matched. Nothing is written.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::EXIT_USAGE;
use sc_core::config::Config;
use sc_runtime::DispatchError;

/// What `sigma` does.
#[derive(Debug, clap::Subcommand)]
pub enum SigmaCommand {
    /// Run one rule file over stored events and explain each match.
    Test(TestArgs),
}

/// Flags of `sigma test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The rule file (one or more YAML documents; correlations may refer to rules in it).
    pub rule: PathBuf,
    /// Read these indices instead of the ones the rule's logsource maps to.
    #[arg(long, value_name = "PATTERN")]
    pub index: Option<String>,
    /// Earliest event time (RFC 3339); default: the oldest stored.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Latest event time (RFC 3339); default: now.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Matches shown at most.
    #[arg(long, default_value_t = 20)]
    pub max_matches: u32,
    /// Print the skill's whole answer as JSON instead.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sigma`.
pub fn run(config: Config, command: &SigmaCommand) -> anyhow::Result<ExitCode> {
    let SigmaCommand::Test(args) = command;
    let text = match std::fs::read_to_string(&args.rule) {
        Ok(text) => text,
        Err(err) => {
            eprintln!(
                "error: cannot read the rule file {}: {err}",
                args.rule.display()
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let mut params =
        json!({"test_rule": text, "max_matches": args.max_matches, "max_events": 1_000_000});
    for (key, value) in [
        ("index", &args.index),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        if let Some(value) = value {
            params[key] = json!(value);
        }
    }
    match super::dispatch::run_once(config, "sigma_detector", params, None)? {
        Ok(report) if args.json => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::from(report.status.exit_code()))
        }
        Ok(report) => {
            if let Some(error) = &report.error {
                eprintln!("error: {error}");
                return Ok(ExitCode::from(report.status.exit_code()));
            }
            print!("{}", render(&report.summary, &report.result));
            Ok(ExitCode::from(report.status.exit_code()))
        }
        Err(err @ DispatchError::Unknown { .. }) => {
            eprintln!("error: {err}; build and install the skills (`just skills`)");
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A stored value as one line of text: JSON-quoted, so control characters
/// and escapes in attacker-written fields cannot reach the terminal.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// The trial's answer for people.
pub fn render(summary: &str, result: &Value) -> String {
    let mut out = String::new();
    let list = |key: &str| result[key].as_array().cloned().unwrap_or_default();
    for rule in list("rules") {
        let _ = writeln!(
            out,
            "rule: {} [{}] {} level {}, by {}{}",
            rule["title"].as_str().unwrap_or("?"),
            rule["id"].as_str().unwrap_or("?"),
            rule["type"].as_str().unwrap_or("detection"),
            rule["level"].as_str().unwrap_or("?"),
            rule["author"].as_str().unwrap_or("(no author given)"),
            rule["license"]
                .as_str()
                .map(|l| format!(", licence {l}"))
                .unwrap_or_default(),
        );
    }
    for problem in list("problems") {
        let _ = writeln!(
            out,
            "problem: {}{}: {}",
            problem["source"].as_str().unwrap_or(""),
            problem["rule"]
                .as_str()
                .map(|r| format!(" \"{r}\""))
                .unwrap_or_default(),
            problem["reason"].as_str().unwrap_or(""),
        );
    }
    let _ = writeln!(out, "{summary}");
    for m in list("matches") {
        let _ = writeln!(
            out,
            "\n{}  {}/{}  {}",
            m["@timestamp"].as_str().unwrap_or(""),
            m["index"].as_str().unwrap_or(""),
            m["event_id"].as_str().unwrap_or(""),
            m["rule"]["title"].as_str().unwrap_or(""),
        );
        trace(&m["why"], 1, &mut out);
    }
    for c in list("correlations") {
        let group: Vec<String> = c["group"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                format!(
                    "{}={}",
                    g["field"].as_str().unwrap_or(""),
                    shown(&g["value"])
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "\n{}  correlation {} ({}): value {} within {} s for {}\n  events: {}",
            c["fired_at"].as_str().unwrap_or(""),
            c["rule"]["title"].as_str().unwrap_or(""),
            c["type"].as_str().unwrap_or(""),
            c["value"],
            c["timespan_seconds"],
            group.join(", "),
            c["event_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    out
}

/// The engine's match trace as an indented tree: each selection, each
/// field test with its pattern and the event's value.
fn trace(node: &Value, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let mark = |m: &Value| {
        if m.as_bool() == Some(true) {
            "✓"
        } else {
            "✗"
        }
    };
    match node["type"].as_str() {
        Some("selection") => {
            let name = node["name"].as_str().unwrap_or("");
            let name = if name.starts_with("__pipeline") {
                "(condition the field mapping adds)"
            } else {
                name
            };
            let _ = writeln!(out, "{pad}{} {name}", mark(&node["matched"]));
            for item in node["detection"]["items"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "{pad}  {} {} {} {} (event: {}){}",
                    mark(&item["matched"]),
                    item["field"].as_str().unwrap_or("(keyword)"),
                    item["matcher"].as_str().unwrap_or(""),
                    item["pattern"].as_str().unwrap_or(""),
                    if item["actual"].is_null() {
                        "absent".to_owned()
                    } else {
                        shown(&item["actual"])
                    },
                    match item["reason"].as_str() {
                        Some("matched") | None => String::new(),
                        Some(reason) => format!(" {reason}"),
                    },
                );
            }
        }
        Some(kind @ ("and" | "or")) => {
            let _ = writeln!(out, "{pad}{} {kind}", mark(&node["matched"]));
            for child in node["children"].as_array().into_iter().flatten() {
                trace(child, depth + 1, out);
            }
        }
        Some("not") => {
            let _ = writeln!(out, "{pad}{} not", mark(&node["matched"]));
            trace(&node["child"], depth + 1, out);
        }
        Some(other) => {
            let _ = writeln!(out, "{pad}{} {other}", mark(&node["matched"]));
            for child in node["children"].as_array().into_iter().flatten() {
                trace(child, depth + 1, out);
            }
        }
        None => {
            for condition in node["conditions"].as_array().into_iter().flatten() {
                trace(condition, depth, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_renders_each_test_and_quotes_event_text() {
        let result = json!({
            "rules": [{"title": "T", "id": "i", "type": "detection", "level": "high", "author": "A", "license": "DRL-1.1"}],
            "problems": [],
            "matches": [{"@timestamp": "2019-02-13T15:26:53.356Z", "index": "logs-winlog-security", "event_id": "e1",
                "rule": {"title": "T"},
                "why": {"conditions": [{"type": "and", "matched": true, "children": [
                    {"type": "selection", "name": "selection", "matched": true, "detection": {"items": [
                        {"field": "winlog.event_id", "matcher": "numeric", "pattern": "= 4624", "actual": "4624", "matched": true, "reason": "matched"}]}},
                    {"type": "not", "matched": true, "child": {"type": "selection", "name": "filter", "matched": false, "detection": {"items": [
                        {"field": "winlog.event_data.TargetUserName", "matcher": "endswith", "pattern": "$", "actual": "evil\u{1b}[2J", "matched": false, "reason": "value_mismatch"}]}}}
                ]}]}}],
            "correlations": [],
        });
        let text = render("1 match(es)", &result);
        assert!(
            text.contains("rule: T [i] detection level high, by A, licence DRL-1.1"),
            "{text}"
        );
        assert!(
            text.contains("✓ winlog.event_id numeric = 4624 (event: \"4624\")"),
            "{text}"
        );
        assert!(text.contains("✗ winlog.event_data.TargetUserName endswith $ (event: \"evil\\u001b[2J\") value_mismatch"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }
}
