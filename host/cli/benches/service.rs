//! Service benchmarks (`just bench`): hot-reload latency (file written →
//! new version answering), `GET /api/skills` latency and throughput,
//! `POST /api/dispatch` throughput at 50 concurrent clients, service start →
//! first 200 on `/api/status` with a warm compile cache and on a first run
//! (cold cache, `hello_world` only: the service answers while it
//! compiles), idle RSS 10 s after start, and the release binary's size.
//!
//! Targets: reload p50/p95 ≤ 300 ms, dispatch ≥ 2,000/s on 2 cores (the
//! service-runtime issue); start → first 200 ≤ 20 ms warm, idle RSS ≤ 30
//! MB, binary ≤ 60 MB (the host-architecture issue). Needs `just skills
//! fixtures`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sc_core::run::{RunStatus, Trigger};
use sc_runtime::{SkillHost, reload};
use sc_testkit::bench::{built, install, percentile};

fn line(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<48} n={:<5} p50={:>8.2} ms  p95={:>8.2} ms  p99={:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
}

fn config(dir: &Path) -> sc_core::config::Config {
    let mut config = sc_core::config::Config {
        skills_dir: dir.join("skills"),
        data_dir: dir.join("data"),
        ..sc_core::config::Config::default()
    };
    config.memory.path = config.data_dir.join("runtime_memory.db");
    config.api.dispatch_per_minute = u32::MAX;
    config
}

async fn bench_reload(dir: &Path, rounds: usize) {
    let config = config(dir);
    install(&config.skills_dir, &["noop"]);
    let backends = sc_backends::open(&config).expect("backends");
    let host = SkillHost::start(Arc::new(config), backends).expect("host");
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    reload::spawn(host.clone(), stop_rx).expect("watch");
    let versions = [
        std::fs::read(built("slow").join("skill.wasm")).expect("slow"),
        std::fs::read(built("noop").join("skill.wasm")).expect("noop"),
    ];
    let target = host.config().skills_dir.join("noop/skill.wasm");
    let mut samples = Vec::new();
    let mut first = None;
    for round in 0..rounds {
        let wasm = &versions[round % 2];
        let expect_ok = round % 2 == 0;
        let tmp = target.with_file_name(".skill.wasm.tmp");
        let started = Instant::now();
        std::fs::write(&tmp, wasm).expect("write");
        std::fs::rename(&tmp, &target).expect("rename");
        loop {
            let report = host
                .dispatch("noop", Trigger::Dispatch, serde_json::json!({ "ms": 0 }))
                .await
                .expect("dispatch");
            let is_slow = report.status == RunStatus::Ok;
            if is_slow == expect_ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let elapsed = started.elapsed();
        if round == 0 {
            first = Some(elapsed);
        } else {
            samples.push(elapsed);
        }
    }
    if let Some(first) = first {
        println!(
            "{:<48} {:>8.2} ms (includes compiling the new component)",
            "hot reload, first deploy of a version",
            first.as_secs_f64() * 1e3
        );
    }
    line("hot reload, file written -> new version answers", samples);
}

struct Service {
    child: std::process::Child,
    port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An installation in `dir` with `skills`, and a config for it.
fn prepare(dir: &Path, skills: &[&str]) {
    std::fs::create_dir_all(dir.join("skills")).expect("dir");
    install(&dir.join("skills"), skills);
    std::fs::write(
        dir.join("config.yaml"),
        "skills_dir: skills\ndata_dir: data\nlog_level: warn\napi:\n  dispatch_per_minute: 4000000000\n",
    )
    .expect("config");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// Starts the service and waits for the first 200 on `path`; answers the
/// time from spawn to that answer.
fn spawn_until(dir: &Path, path: &'static str) -> (Service, Duration) {
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(dir.join("config.yaml"))
        .args(["service", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("service");
    let service = Service { child, port };
    let ok = probe::answers_200(port, path);
    loop {
        if ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "service did not answer {path}"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    (service, started.elapsed())
}

/// Warm cache (any restart after the first): the median of `rounds`
/// starts, spawn → first 200 on `/api/status`.
fn start_service(dir: &Path, rounds: usize) -> (Service, Duration) {
    prepare(dir, &["noop", "hello_world", "slow", "panics", "read_env"]);
    let warm = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(dir.join("config.yaml"))
        .args(["dispatch", "noop"])
        .output()
        .expect("warm");
    assert!(warm.status.success());
    let mut samples = Vec::new();
    for _ in 1..rounds {
        let (service, took) = spawn_until(dir, "/api/status");
        drop(service);
        samples.push(took);
    }
    let (service, took) = spawn_until(dir, "/api/status");
    samples.push(took);
    line("service start -> first 200 on /api/status (warm)", samples);
    (service, took)
}

/// A first run: empty data folder and compile cache, `hello_world` only.
/// The service answers at once; the skill is ready once it has compiled.
fn bench_cold_start(dir: &Path) {
    prepare(dir, &["hello_world"]);
    let (service, first_200) = spawn_until(dir, "/api/status");
    let ready_probe = probe::answers_200(service.port, "/readyz");
    let started = Instant::now();
    while !ready_probe() {
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        std::thread::sleep(Duration::from_micros(500));
    }
    let ready = first_200 + started.elapsed();
    println!(
        "{:<48} {:>8.2} ms",
        "first run (cold cache): start -> first 200",
        first_200.as_secs_f64() * 1e3
    );
    println!(
        "{:<48} {:>8.2} ms",
        "first run (cold cache): start -> skills ready",
        ready.as_secs_f64() * 1e3
    );
}

fn report_binary_size() {
    let bytes = std::fs::metadata(env!("CARGO_BIN_EXE_sc-host"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "{:<48} {:>8.1} MB",
        "release binary (sc-host, as built)",
        bytes as f64 / 1e6
    );
}

/// A blocking probe over a plain socket.
mod probe {
    pub fn answers_200(port: u16, path: &'static str) -> impl Fn() -> bool {
        move || {
            use std::io::{Read as _, Write as _};
            let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            );
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            response.starts_with("HTTP/1.1 200")
        }
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn bench_api(dir: &Path, seconds: u64, sequential: usize, starts: usize, idle: Duration) {
    let (service, _) = start_service(dir, starts);
    std::thread::sleep(idle);
    if let Some(rss) = rss_kib(service.child.id()) {
        println!(
            "{:<48} {:>8.1} MB",
            format!("idle RSS {} s after start", idle.as_secs()),
            rss as f64 * 1024.0 / 1e6
        );
    }
    let base = format!("http://127.0.0.1:{}", service.port);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");

    let mut samples = Vec::new();
    for _ in 0..sequential {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/api/skills"))
            .send()
            .await
            .expect("get");
        assert!(response.status().is_success());
        response.bytes().await.expect("body");
        samples.push(started.elapsed());
    }
    line("GET /api/skills (one client)", samples);

    for (name, method) in [
        ("GET /api/skills", "skills"),
        ("POST /api/dispatch noop", "dispatch"),
    ] {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut workers = Vec::new();
        for _ in 0..50 {
            let client = client.clone();
            let base = base.clone();
            workers.push(tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let response = if method == "skills" {
                        client.get(format!("{base}/api/skills")).send().await
                    } else {
                        client
                            .post(format!("{base}/api/dispatch"))
                            .json(&serde_json::json!({"skill": "noop"}))
                            .send()
                            .await
                    };
                    let response = response.expect("request");
                    assert!(response.status().is_success(), "{}", response.status());
                    response.bytes().await.expect("body");
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0;
        for worker in workers {
            total += worker.await.expect("worker");
        }
        println!(
            "{:<48} {:>8.0} req/s",
            format!("{name} (50 concurrent clients)"),
            total as f64 / seconds as f64
        );
    }
    drop(service);
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let dir = tempfile::tempdir().expect("tempdir");
    runtime.block_on(async {
        if full {
            println!("SecurityClaw service");
            report_binary_size();
            bench_cold_start(&dir.path().join("cold"));
            bench_reload(&dir.path().join("reload"), 21).await;
            bench_api(&dir.path().join("api"), 5, 500, 21, Duration::from_secs(10)).await;
        } else {
            report_binary_size();
            bench_cold_start(&dir.path().join("cold"));
            bench_reload(&dir.path().join("reload"), 3).await;
            bench_api(&dir.path().join("api"), 1, 5, 2, Duration::from_secs(1)).await;
        }
    });
}
