//! Replaying one capture: a temporary embedded store, the host on a manual
//! clock, the detection skills run in 5-minute steps of the capture's time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use sc_backends as backends;
use sc_core::clock::ManualClock;
use sc_core::config::{Config, DbProvider, LlmProvider, RagProvider};
use sc_core::run::{RunRequest, RunStatus, Trigger};
use sc_runtime::SkillHost;

use super::CaptureReport;
use super::capture::{self, Capture};
use super::score::{self, Found};

/// Replayed time between detector runs.
const STEP_MINUTES: i64 = 5;
/// The skills a replay needs, and the ones it runs when installed.
const REQUIRED: [&str; 3] = ["fields_baseliner", "anomaly_detector", "anomaly_triage"];
const OPTIONAL: [&str; 2] = ["network_baseliner", "beacon_detector"];

fn replay_config(config: &Config, data_dir: &Path) -> Config {
    let mut config = config.clone();
    config.data_dir = data_dir.to_path_buf();
    config.db.provider = DbProvider::Embedded;
    // Loading resolved every state path against the user's data_dir: point
    // them all into the replay's folder, so a replay never touches real state.
    config.db.embedded.path = data_dir.join("store");
    config.memory.path = data_dir.join("runtime_memory.db");
    config.rag.path = data_dir.join("rag.db");
    config.llm.provider = LlmProvider::None;
    config.rag.provider = RagProvider::Embedded;
    config.reload.enabled = false;
    config
}

async fn index(config: &Config, capture: &mut Capture) -> anyhow::Result<()> {
    let load = backends::open_telemetry(config)?.load;
    for (index, documents) in std::mem::take(&mut capture.documents) {
        for chunk in documents.chunks(20_000) {
            let outcome = load
                .stage(&index, chunk.to_vec())
                .await
                .map_err(|err| anyhow::anyhow!("indexing `{index}`: {err}"))?;
            if outcome.failed > 0 {
                anyhow::bail!(
                    "indexing `{index}`: {} events refused: {:?}",
                    outcome.failed,
                    outcome.errors
                );
            }
        }
    }
    load.finish()
        .await
        .map_err(|err| anyhow::anyhow!("committing the capture: {err}"))?;
    Ok(())
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Every document of a pattern (sorted by `sort_field`, paged).
async fn all(host: &SkillHost, pattern: &str, sort_field: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body =
            json!({"size": 5000, "query": {"match_all": {}}, "sort": [{sort_field: "asc"}]});
        if let Some(after) = &after {
            body["search_after"] = after.clone();
        }
        let answer = match host.backends().db.search(pattern, body).await {
            Ok(answer) => answer,
            // Nothing was written: no such index.
            Err(_) if out.is_empty() => return Ok(out),
            Err(err) => anyhow::bail!("reading `{pattern}`: {err}"),
        };
        let hits = answer
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let n = hits.len();
        for hit in hits {
            after = hit.get("sort").cloned();
            if let Some(source) = hit.get("_source") {
                out.push(source.clone());
            }
        }
        if n < 5000 || after.is_none() {
            return Ok(out);
        }
    }
}

/// Replays and scores one capture.
pub async fn evaluate(
    config: &Config,
    path: &Path,
    warmup: Duration,
    attackers: &[String],
    keep: Option<&Path>,
) -> anyhow::Result<CaptureReport> {
    let began = Instant::now();
    let mut capture = capture::load(path)?;
    let ground_truth = if !attackers.is_empty() {
        capture::label_by_attackers(&mut capture, attackers);
        "attackers"
    } else if capture.labeled() {
        "flows"
    } else {
        "none"
    };
    let events = capture.events();
    let folder = tempfile::tempdir().context("making the replay's temporary folder")?;
    let data_dir = match keep {
        Some(root) => {
            let dir = root.join(capture.name.replace('/', "_"));
            if dir.exists() {
                anyhow::bail!(
                    "--keep-data: {} exists; remove it or name another folder",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir
        }
        None => folder.path().to_path_buf(),
    };
    let config = replay_config(config, &data_dir);
    let mut seconds_by_step = std::collections::BTreeMap::<String, f64>::new();
    let indexing = Instant::now();
    index(&config, &mut capture).await?;
    seconds_by_step.insert("index".into(), indexing.elapsed().as_secs_f64());

    let step = Duration::minutes(STEP_MINUTES);
    let start_ms = capture.start_ms - capture.start_ms.rem_euclid(step.num_milliseconds());
    let clock = Arc::new(ManualClock::new(at(start_ms) + warmup));
    let backends = backends::open(&config)?;
    let host = SkillHost::new(Arc::new(config.clone()), backends, clock.clone())?;
    let loading = host.clone();
    tokio::task::spawn_blocking(move || loading.load_all()).await?;
    for id in REQUIRED {
        if host.skill(id).is_none_or(|s| !s.is_ready()) {
            anyhow::bail!(
                "skill `{id}` is not installed and loaded in {}: build the skills (`just skills`) or set --skills-dir",
                config.skills_dir.display()
            );
        }
    }
    let optional: Vec<&str> = OPTIONAL
        .into_iter()
        .filter(|id| host.skill(id).is_some_and(|s| s.is_ready()))
        .collect();
    let mut failed_runs = 0usize;
    let mut run = async |skill: &str, trigger: Trigger, parameters: Value| -> anyhow::Result<()> {
        let mut request = RunRequest::new(skill, trigger, parameters);
        request.now = Some(clock_now(&clock));
        let report = host
            .run(request)
            .await
            .map_err(|err| anyhow::anyhow!("{skill}: {err}"))?;
        *seconds_by_step.entry(skill.to_owned()).or_default() += report.execution_time_ms / 1000.0;
        if report.status == RunStatus::Error {
            failed_runs += 1;
            eprintln!("eval: {skill} at {}: {}", report.now, report.summary);
        }
        Ok(())
    };

    // Runs here follow each other, so triage need not wait for late writes.
    let triage_params = json!({"lag_seconds": 0});
    run("fields_baseliner", Trigger::Startup, json!({"force": true})).await?;
    if optional.contains(&"network_baseliner") {
        run("network_baseliner", Trigger::Startup, json!({})).await?;
    }
    let end = at(capture.end_ms) + step;
    let steps = ((end - clock_now(&clock)).num_minutes() / STEP_MINUTES).max(0) as u64;
    let progress = super::super::progress_bar(steps, &capture.name);
    let mut since_beacon = Duration::zero();
    while clock_now(&clock) < end {
        clock.advance(step);
        since_beacon += step;
        run("anomaly_detector", Trigger::Schedule, json!({})).await?;
        if since_beacon >= Duration::hours(1) && optional.contains(&"beacon_detector") {
            since_beacon = Duration::zero();
            run("beacon_detector", Trigger::Schedule, json!({})).await?;
        }
        run("anomaly_triage", Trigger::Schedule, triage_params.clone()).await?;
        progress.inc(1);
    }
    if optional.contains(&"beacon_detector") && since_beacon > Duration::zero() {
        run("beacon_detector", Trigger::Schedule, json!({})).await?;
        run("anomaly_triage", Trigger::Schedule, triage_params.clone()).await?;
    }
    progress.finish_and_clear();

    let findings = all(&host, "securityclaw-findings*", "finding_id").await?;
    let incidents = all(&host, "securityclaw-incidents*", "incident_id").await?;
    let found: Vec<Found> = findings
        .iter()
        .filter_map(|f| {
            Some(Found {
                actor: f.get("actor")?.as_str()?.to_owned(),
                targets: f
                    .get("targets")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                grade: f.get("grade")?.as_f64()?,
                start_ms: f.get("window_start")?.as_i64()?,
                end_ms: f.get("window_end")?.as_i64()?,
            })
        })
        .collect();
    let escalated = incidents
        .iter()
        .filter(|i| i.get("escalated_at").is_some_and(|e| !e.is_null()))
        .count();
    let days = ((capture.end_ms - capture.start_ms) as f64 / 86_400_000.0).max(1.0);
    let attackers_named = attackers
        .iter()
        .map(|ip| {
            (
                ip.clone(),
                found
                    .iter()
                    .any(|f| &f.actor == ip || f.targets.contains(ip)),
            )
        })
        .collect();
    let in_incidents: std::collections::BTreeSet<&str> = findings
        .iter()
        .filter(|f| {
            f.get("incident_id")
                .and_then(Value::as_str)
                .is_some_and(|i| !i.is_empty())
        })
        .filter_map(|f| f.get("actor").and_then(Value::as_str))
        .collect();
    let alert_sources = capture.alert_sources.len();
    let alert_sources_covered = (alert_sources > 0).then(|| {
        capture
            .alert_sources
            .iter()
            .filter(|s| in_incidents.contains(s.as_str()))
            .count() as f64
            / alert_sources as f64
    });
    let threshold = config.detection.severity_threshold;
    let (scores, note) = match ground_truth {
        "none" => (
            None,
            Some(
                "no labels: give --attacker IP, a labels.json, or Zeek *.labeled files".to_owned(),
            ),
        ),
        _ => (Some(score::score(&capture.flows, &found, threshold)), None),
    };
    let note = match (note, capture.unknown_labels) {
        (None, n) if n > 0 => Some(format!(
            "{n} labels.json entries name no event of the capture"
        )),
        (note, _) => note,
    };
    Ok(CaptureReport {
        capture: capture.name,
        events,
        hours: (capture.end_ms - capture.start_ms) as f64 / 3_600_000.0,
        ground_truth,
        scores,
        findings: findings.len(),
        incidents: incidents.len(),
        escalated,
        escalated_per_day: escalated as f64 / days,
        attackers_named,
        alert_sources,
        alert_sources_covered,
        failed_runs,
        seconds: began.elapsed().as_secs_f64(),
        seconds_by_step,
        note,
    })
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use sc_core::clock::Clock as _;
    clock.now()
}
