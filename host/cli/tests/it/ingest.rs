//! `sc-host ingest` and `sc-host db` as a user runs them: real processes on
//! the embedded store, bad input, a `kill -9` in the middle of a load.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn sc_host(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .args(args)
        .env("SC_DATA_DIR", data_dir)
        .env("SC_DB_PROVIDER", "embedded")
        .current_dir(data_dir.parent().expect("data dir has a parent"))
        .output()
        .expect("run sc-host")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn count(data_dir: &Path, pattern: &str) -> u64 {
    let output = sc_host(data_dir, &["db", "count", pattern]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(&stdout(&output)).expect("db count prints JSON");
    answer["count"].as_u64().expect("a count")
}

const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n";

fn conn_line(i: u64) -> String {
    format!(
        "{}.5\tC{i}\t10.0.{}.{}\t{}\t192.168.1.1\t{}\ttcp\tS0\n",
        1_700_000_000 + i,
        (i >> 8) & 255,
        i & 255,
        1024 + i % 50_000,
        [22, 80, 443][(i % 3) as usize]
    )
}

#[test]
fn a_malformed_line_is_reported_by_number_and_the_rest_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("conn.log");
    let mut text = ZEEK_HEADER.to_owned();
    for i in 0..3 {
        text.push_str(&conn_line(i));
    }
    text.push_str("1700000009.0\tCbad\t10.0.0.9\tnot-a-port\t192.168.1.1\t22\ttcp\tS0\n");
    text.push_str("1700000010.0\tCshort\t10.0.0.10\n");
    text.push_str(&conn_line(3));
    std::fs::write(&log, text).unwrap();

    let output = sc_host(&data, &["ingest", log.to_str().unwrap()]);
    let printed = stdout(&output);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("read 6, indexed 4, skipped 2 (2 malformed"),
        "{printed}"
    );
    assert!(
        printed.contains("line 11:"),
        "the bad port names its line: {printed}"
    );
    assert!(
        printed.contains("line 12:"),
        "the short line names its line: {printed}"
    );
    assert!(printed.contains("-> logs-zeek-conn: 4"), "{printed}");
    assert_eq!(count(&data, "logs-zeek-*"), 4);

    let search = sc_host(
        &data,
        &[
            "db",
            "search",
            "logs-*",
            "--query",
            r#"{"term": {"destination.port": 22}}"#,
            "--size",
            "1",
        ],
    );
    let answer: Value = serde_json::from_str(&stdout(&search)).expect("db search prints JSON");
    assert_eq!(answer["hits"]["total"]["value"], 2, "{answer}");
    assert_eq!(
        answer["hits"]["hits"][0]["_source"]["source"]["ip"]
            .as_str()
            .map(|ip| ip.starts_with("10.0.0.")),
        Some(true)
    );
    let indices = sc_host(&data, &["db", "indices"]);
    let listed: Value = serde_json::from_str(&stdout(&indices)).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{"name": "logs-zeek-conn", "documents": 4}])
    );
}

#[test]
fn unknown_formats_unreadable_files_and_bad_queries_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("hosts.csv");
    std::fs::write(&csv, "host,ip\na,1.2.3.4\n").unwrap();
    let output = sc_host(&data, &["ingest", csv.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hosts.csv") && stderr.contains("--format"),
        "{stderr}"
    );

    let missing = dir.path().join("nope.log");
    let output = sc_host(&data, &["ingest", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error line");
    // The file and the OS's reason, each once.
    assert_eq!(line.matches("nope.log").count(), 1, "{line}");
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );

    let output = sc_host(
        &data,
        &[
            "db",
            "search",
            "logs-*",
            "--query",
            r#"{"fuzzy": {"user.name": "bob"}}"#,
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`fuzzy` is not supported"), "{stderr}");
    let output = sc_host(&data, &["db", "count", "logs-*", "--query", "{not json"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid JSON"));
}

/// A load killed with SIGKILL keeps what it committed, and running the
/// same ingest again completes it without a single duplicate.
#[test]
fn an_ingest_killed_midway_completes_on_a_rerun_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("conn.log");
    let total: u64 = 60_000;
    let mut text = ZEEK_HEADER.to_owned();
    for i in 0..total {
        text.push_str(&conn_line(i));
    }
    std::fs::write(&log, text).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .args([
            "ingest",
            log.to_str().unwrap(),
            "--batch-size",
            "2000",
            "--commit-every",
            "2000",
        ])
        .env("SC_DATA_DIR", &data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches are committed, before it is done.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if data.join("store/meta.json").exists() {
            seen = count(&data, "logs-zeek-conn*");
            if seen > 0 {
                break;
            }
        }
    }
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = child.wait();
    assert!(
        seen > 0 && seen < total,
        "the kill landed mid-load ({seen} of {total})"
    );
    let after_kill = count(&data, "logs-zeek-conn");
    assert!(after_kill >= seen && after_kill <= total, "{after_kill}");

    let rerun = sc_host(&data, &["ingest", log.to_str().unwrap()]);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(count(&data, "logs-zeek-conn"), total);
}

/// An EVTX file cut short (a copy taken while the log was written) is not
/// an empty success: the cut chunk is named, the complete ones are loaded.
#[test]
fn a_truncated_evtx_file_says_so_and_names_the_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = sc_testkit::datasets_dir().join(
        "evtx-attack-samples/Defense Evasion/DE_suspicious_remote_eventlog_svc_access_5145.evtx",
    );
    let bytes = std::fs::read(&sample).expect("the EVTX sample");
    let cut = dir.path().join("cut.evtx");
    std::fs::write(&cut, &bytes[..40_000]).unwrap();
    let output = sc_host(&data, &["ingest", cut.to_str().unwrap()]);
    let out = stdout(&output);
    assert!(out.contains("skipped 1 (1 malformed"), "{out}");
    assert!(
        out.contains("truncated or corrupt: chunk 1 of 1 is cut short at byte 40000"),
        "{out}"
    );
}
