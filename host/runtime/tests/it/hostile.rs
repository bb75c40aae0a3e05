//! Each hostile fixture tries one way out of the sandbox or past a limit.
//! Each must end as an error with a clear reason, and the host must serve
//! the next call.

use std::time::{Duration, Instant};

use std::sync::Arc;

use sc_core::run::{RunReport, RunStatus};
use sc_runtime::SkillHost;
use serde_json::json;

use sc_testkit::{Install, dispatch};

/// Runs the fixture, checks it failed, and checks the host still serves.
async fn run_hostile(id: &str, params: serde_json::Value) -> (RunReport, Arc<SkillHost>, Install) {
    let install = Install::with(&[id, "noop"]);
    let host = install.host();
    let report = dispatch(&host, id, params).await;
    assert_eq!(
        report.status,
        RunStatus::Error,
        "{id} should fail: {report:#?}"
    );
    let next = dispatch(&host, "noop", json!({})).await;
    assert_eq!(
        next.status,
        RunStatus::NoData,
        "host must keep serving after {id}: {next:#?}"
    );
    (report, host, install)
}

fn reason(report: &RunReport) -> &str {
    report.error.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn reading_a_host_file_finds_nothing() {
    let (report, ..) = run_hostile("read_file", json!({})).await;
    assert!(
        reason(&report).contains("no file was readable"),
        "{report:#?}"
    );
    assert_eq!(report.result, serde_json::Value::Null);
}

#[tokio::test]
async fn opening_a_socket_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr").to_string();
    let (report, ..) = run_hostile("open_socket", json!({ "addr": addr })).await;
    assert!(
        reason(&report).contains(&format!("cannot connect to {addr}")),
        "{report:#?}"
    );
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "no connection may reach the listener"
    );
}

#[tokio::test]
async fn the_environment_is_empty() {
    assert!(
        std::env::var_os("PATH").is_some(),
        "the host itself has an environment"
    );
    let (report, ..) = run_hostile("read_env", json!({})).await;
    assert!(
        reason(&report).contains("environment and the arguments are empty"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_time_limit() {
    let started = Instant::now();
    let (report, ..) = run_hostile("infinite_loop", json!({})).await;
    assert!(
        reason(&report).contains("time limit of 500 ms"),
        "{report:#?}"
    );
    // Generous bound: the point is that it ends, not how fast.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn allocating_2_gib_hits_the_memory_cap() {
    let (report, ..) = run_hostile("alloc_2gib", json!({})).await;
    assert!(
        reason(&report).contains("grow its memory past 64 MiB"),
        "{report:#?}"
    );
    assert!(reason(&report).contains("limits.memory_mb"), "{report:#?}");
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack_cleanly() {
    let (report, ..) = run_hostile("deep_recursion", json!({})).await;
    assert!(
        reason(&report).contains("overflowed its call stack"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn printing_100_mb_hits_the_output_cap() {
    let (report, ..) = run_hostile("print_100mb", json!({})).await;
    assert!(
        reason(&report).contains("bytes to stdout/stderr"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn ten_million_host_calls_hit_the_call_budget() {
    let (report, ..) = run_hostile("host_calls_10m", json!({})).await;
    let limit = sc_core::config::LimitsConfig::default().host_calls;
    assert!(
        reason(&report).contains(&format!("more than {limit} capability calls")),
        "{report:#?}"
    );
    // The calls that ran: the budget, not the refused one past it.
    assert_eq!(report.host_calls, limit);
}

#[tokio::test]
async fn db_without_a_grant_is_denied_with_the_fix() {
    let (report, ..) = run_hostile("db_without_grant", json!({})).await;
    let reason = reason(&report);
    assert!(reason.contains("denied"), "{report:#?}");
    assert!(
        reason.contains("add `logstash-*` under `grants.db.read`"),
        "the refusal names the grant to add: {reason}"
    );
    assert!(
        reason.contains("db_without_grant/instruction.md"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let (report, ..) = run_hostile("panics", json!({})).await;
    assert!(reason(&report).contains("panicked"), "{report:#?}");
    assert!(
        reason(&report).contains("hostile fixture panicked on purpose"),
        "{report:#?}"
    );
}

#[tokio::test]
async fn one_host_survives_every_fixture_in_turn() {
    let fixtures = [
        "read_file",
        "open_socket",
        "read_env",
        "infinite_loop",
        "alloc_2gib",
        "deep_recursion",
        "print_100mb",
        "host_calls_10m",
        "db_without_grant",
        "panics",
    ];
    let mut all = fixtures.to_vec();
    all.push("noop");
    let install = Install::with(&all);
    let host = install.host();
    for id in fixtures {
        let report = dispatch(&host, id, json!({})).await;
        assert_eq!(report.status, RunStatus::Error, "{id}: {report:#?}");
        let next = dispatch(&host, "noop", json!({})).await;
        assert_eq!(next.status, RunStatus::NoData, "after {id}");
    }
}
