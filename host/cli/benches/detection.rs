//! Detection benchmarks (`just bench`): `sc-host eval` end to end on the
//! Stratosphere Lab (CTU Prague) mixed day 011 (goal ≤ 60 s on two cores
//! with no model), one `anomaly_detector` run and one `beacon_detector` run
//! over 1M events in the embedded store (goal ≤ 1 s each), and one
//! `anomaly_triage` run over 10,000 new results, and one `threat_analyst`
//! verdict without a model on a host of those 1M events (goal ≤ 200 ms).
//! Needs `just skills` and
//! the optimized binary cargo builds for benches.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use sc_core::clock::ManualClock;
use sc_core::config::Config;
use sc_core::run::{RunRequest, Trigger};
use sc_runtime::SkillHost;
use sc_testkit::bench::install;

const SKILLS: [&str; 6] = [
    "fields_baseliner",
    "network_baseliner",
    "anomaly_detector",
    "beacon_detector",
    "anomaly_triage",
    "threat_analyst",
];

fn eval_011(dir: &Path) {
    let capture = sc_testkit::datasets_dir().join("stratosphere/011-zeek-mixed/data");
    let binary = env!("CARGO_BIN_EXE_sc-host");
    let started = Instant::now();
    let output = std::process::Command::new(binary)
        .arg("--skills-dir")
        .arg(dir.join("skills"))
        .arg("--data-dir")
        .arg(dir.join("eval-data"))
        .args(["--log-level", "error", "eval"])
        .arg(&capture)
        .output()
        .expect("run sc-host eval");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "{:<48} {:>8.1} s  (goal ≤ 60 s)",
        "eval 011-zeek-mixed end to end",
        started.elapsed().as_secs_f64()
    );
}

/// Destination ports of the synthetic traffic.
const PORTS: [u16; 5] = [443, 80, 53, 22, 8443];

/// 1M conn events over a day: 2,000 home hosts talking to 20,000 outside
/// peers, one in ten attempts unanswered. As on a real network, each host
/// mostly returns to its own few peers (20, the first ones most often) and
/// one connection in ten goes anywhere; one event in 200 is one of 20
/// hosts calling a C2 address on a timer (250 calls each, about every 6
/// minutes).
/// (With every pair drawn at random instead there would be a million
/// distinct pairs and no beacon at all.)
fn synthetic(start: DateTime<Utc>, n: usize) -> Vec<(Option<String>, Value)> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let r = next();
            let at = start + Duration::milliseconds((i as i64) * 86_400_000 / n as i64);
            let beacon = i % 200 == 0;
            let host = if beacon { (i as u64 / 200) % 20 } else { r % 2_000 };
            let peer = if beacon {
                19_999
            } else if (r >> 50) % 10 < 9 {
                let u = ((r >> 16) % 1_000) as f64 / 1_000.0;
                let usual = (20.0 * u * u * u) as u64;
                (host * 7_919 + usual * 613) % 19_999
            } else {
                (r >> 16) % 19_999
            };
            let failed = !beacon && (r >> 40) % 10 == 0;
            let doc = json!({
                "@timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "event": {"dataset": "zeek.conn", "outcome": if failed { "failure" } else { "success" }},
                "source": {"ip": format!("10.{}.{}.{}", host / 65_536, (host / 256) % 256, host % 256), "port": 40_000 + (r % 20_000), "bytes": if failed { 0 } else if beacon { 512 } else { 300 + (r >> 20) % 5_000 }},
                "destination": {"ip": format!("198.{}.{}.{}", 18 + peer / 65_536, (peer / 256) % 256, peer % 256), "port": if beacon { 443 } else { PORTS[(r >> 33) as usize % PORTS.len()] }, "packets": if failed { 0 } else { 6 }},
                "network": {"transport": "tcp", "direction": "outbound", "bytes": if failed { 0 } else if beacon { 1_024 } else { 600 + (r >> 20) % 9_000 }},
                "zeek": {"conn": {"conn_state": if failed { "S0" } else { "SF" }}},
            });
            (Some(format!("e{i}")), doc)
        })
        .collect()
}

async fn timed(host: &SkillHost, skill: &str, now: DateTime<Utc>, params: Value) -> f64 {
    let mut request = RunRequest::new(skill, Trigger::Schedule, params);
    request.now = Some(now);
    let started = Instant::now();
    let report = host.run(request).await.expect("run");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{:<48} {:>8.3} s  {:?}: {}",
        format!("{skill} run"),
        seconds,
        report.status,
        report.summary.chars().take(90).collect::<String>()
    );
    seconds
}

fn store_runs(dir: &Path, events: usize) {
    let mut config = Config {
        skills_dir: dir.join("skills"),
        data_dir: dir.join("data"),
        ..Config::default()
    };
    config.memory.path = config.data_dir.join("runtime_memory.db");
    config.rag.path = config.data_dir.join("rag.db");
    config.db.embedded.path = config.data_dir.join("store");
    config.llm.provider = sc_core::config::LlmProvider::None;
    config.limits.timeout_ms = 600_000;
    let start: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().expect("time");
    let end = start + Duration::days(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        {
            let load = sc_backends::open_telemetry(&config).expect("store").load;
            for chunk in synthetic(start, events).chunks(50_000) {
                load.stage("logs-zeek-conn", chunk.to_vec()).await.expect("stage");
            }
            load.finish().await.expect("commit");
        }
        let clock = Arc::new(ManualClock::new(end));
        let host = SkillHost::new(Arc::new(config.clone()), sc_backends::open(&config).expect("backends"), clock).expect("host");
        let loading = host.clone();
        tokio::task::spawn_blocking(move || loading.load_all()).await.expect("load");
        timed(&host, "fields_baseliner", end, json!({"force": true})).await;
        timed(&host, "anomaly_detector", end, json!({})).await;
        timed(&host, "beacon_detector", end, json!({})).await;
        // 10,000 new results for triage.
        let results: Vec<(Option<String>, Value)> = (0..10_000)
            .map(|i| {
                let actor = format!("203.0.{}.{}", i / 256, i % 256);
                let ms = end.timestamp_millis();
                (Some(format!("r{i}")), json!({"detector_id": "securityclaw-behaviour", "entity": [{"name": "source.ip", "value": actor}],
                    "anomaly_grade": 0.8, "anomaly_score": 0.8, "confidence": 1.0, "feature_data": [], "data_start_time": ms - 300_000,
                    "data_end_time": ms, "execution_start_time": ms, "execution_end_time": ms,
                    "securityclaw": {"kind": "scan", "actor": actor, "targets": ["10.0.0.1"], "inbound": true, "reason": "probe", "evidence": {}, "run_id": "bench"}}))
            })
            .collect();
        host.backends().db.bulk_index("securityclaw-anomaly-results", results).await.expect("results");
        timed(&host, "anomaly_triage", end, json!({"lag_seconds": 0})).await;
        // The analyst without a model on one beaconing host of the same
        // store: its flows, DNS, alerts and baselines over the day, and a
        // verdict by the rules (goal ≤ 200 ms).
        timed(&host, "threat_analyst", end, json!({"entity": "10.0.0.7"})).await;
    });
}

fn main() {
    // `cargo test --all-targets` runs benches too: then a small smoke run
    // (20,000 events, no eval replay) checks the bench still works.
    let full = std::env::args().any(|arg| arg == "--bench");
    let dir = tempfile::tempdir().expect("tempdir");
    install(&dir.path().join("skills"), &SKILLS);
    if full {
        eval_011(dir.path());
    }
    store_runs(dir.path(), if full { 1_000_000 } else { 20_000 });
}
