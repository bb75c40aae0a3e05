//! Host overhead benchmarks (`just bench`): cold `sc-host list-skills` wall
//! time with six skills installed, and the per-call overhead of a trivial
//! skill (fresh `Store` from the cached `InstancePre`, instantiate, call).
//!
//! Targets from the foundation issue: list-skills under 25 ms, call p50
//! under 50 µs. Needs the built skills and fixtures (`just skills fixtures`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sc_core::config::Config;
use sc_core::run::{RunStatus, Trigger};
use sc_runtime::SkillHost;
use sc_testkit::bench::{install, percentile};

const LISTED_SKILLS: [&str; 6] = [
    "hello_world",
    "noop",
    "panics",
    "read_file",
    "read_env",
    "db_without_grant",
];

fn report(name: &str, mut samples: Vec<Duration>, unit: &str) {
    samples.sort();
    let scale = |d: Duration| match unit {
        "ms" => d.as_secs_f64() * 1e3,
        _ => d.as_secs_f64() * 1e6,
    };
    println!(
        "{name:<44} n={:<6} p50={:>9.2} {unit}  p99={:>9.2} {unit}  min={:>9.2} {unit}",
        samples.len(),
        scale(percentile(&samples, 0.50)),
        scale(percentile(&samples, 0.99)),
        scale(samples[0]),
    );
}

fn bench_list_skills(dir: &Path, runs: usize) {
    let skills = dir.join("skills");
    install(&skills, &LISTED_SKILLS);
    let config = dir.join("config.yaml");
    std::fs::write(&config, "skills_dir: skills\ndata_dir: data\n").expect("config");
    let run = || {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_sc-host"))
            .arg("--config")
            .arg(&config)
            .arg("list-skills")
            .output()
            .expect("run sc-host");
        assert!(output.status.success(), "list-skills failed");
        started.elapsed()
    };
    for _ in 0..3 {
        run();
    }
    let samples = (0..runs).map(|_| run()).collect();
    report("sc-host list-skills (6 skills, wall)", samples, "ms");
}

fn bench_call_overhead(dir: &Path, calls: usize) {
    let skills = dir.join("call-skills");
    install(&skills, &["noop"]);
    let mut config = Config {
        skills_dir: skills,
        data_dir: dir.join("call-data"),
        ..Config::default()
    };
    config.memory.path = config.data_dir.join("runtime_memory.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        let backends = sc_backends::open(&config).expect("backends");
        let host = SkillHost::start(Arc::new(config), backends).expect("host");
        let params = serde_json::json!({});
        for _ in 0..200 {
            host.dispatch("noop", Trigger::Dispatch, params.clone())
                .await
                .expect("dispatch");
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            let report = host
                .dispatch("noop", Trigger::Dispatch, params.clone())
                .await
                .expect("dispatch");
            samples.push(started.elapsed());
            assert_eq!(report.status, RunStatus::NoData);
        }
        report("dispatch noop (call + history + audit)", samples, "µs");
    });
}

/// The call path alone, as every run takes it: a fresh `Store` from the
/// cached `InstancePre`, instantiation, the call, the report.
fn bench_raw_call(dir: &Path, calls: usize) {
    use sc_runtime::Engines;
    use sc_runtime::call::{RunInput, RunLimits, run};
    let skills = dir.join("raw-skills");
    install(&skills, &["noop"]);
    let scanned = sc_runtime::registry::scan(&skills).expect("scan").remove(0);
    let engines = Engines::new(dir.join("raw-cache")).expect("engines");
    let skill = engines.load(&scanned).expect("load");
    let mut config = Config {
        data_dir: dir.join("raw-data"),
        ..Config::default()
    };
    config.memory.path = config.data_dir.join("runtime_memory.db");
    let backends = sc_backends::open(&config).expect("backends");
    let limits = RunLimits::for_skill(&skill, &config.limits);
    let settings = Arc::new(std::collections::BTreeMap::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        let input = || RunInput {
            run_id: "bench".to_owned(),
            trigger: Trigger::Dispatch,
            parameters: serde_json::json!({}),
            now: chrono::Utc::now(),
            chat: None,
            audit: None,
            data_dir: config.data_dir.clone(),
            folders: std::collections::BTreeMap::new(),
            anonymize: false,
        };
        for _ in 0..200 {
            run(
                &engines,
                &backends,
                &skill,
                settings.clone(),
                limits,
                input(),
            )
            .await;
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            let report = run(
                &engines,
                &backends,
                &skill,
                settings.clone(),
                limits,
                input(),
            )
            .await;
            samples.push(started.elapsed());
            assert_eq!(report.status, RunStatus::NoData);
        }
        report("call noop (fresh Store from InstancePre)", samples, "µs");
    });
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a single quick pass is enough to prove the bench still runs.
    let full = std::env::args().any(|arg| arg == "--bench");
    let dir = tempfile::tempdir().expect("tempdir");
    if full {
        println!("SecurityClaw host overhead");
        bench_list_skills(dir.path(), 50);
        bench_raw_call(dir.path(), 5_000);
        bench_call_overhead(dir.path(), 5_000);
    } else {
        bench_raw_call(dir.path(), 20);
        bench_list_skills(dir.path(), 2);
        bench_call_overhead(dir.path(), 20);
    }
}
