//! The detection skills as a user meets them: `sc-host eval` on a small
//! hand-built labeled capture (expected scores computed by hand below) and
//! on the Stratosphere Lab (CTU Prague) captures, and the clear outcomes of
//! bad input (no labels, unknown uids, an index without the needed fields).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use sc_testkit::{Install, datasets_dir};

const DETECTION_SKILLS: [&str; 5] = [
    "fields_baseliner",
    "network_baseliner",
    "anomaly_detector",
    "beacon_detector",
    "anomaly_triage",
];

fn sc_host(install: &Install, args: &[&str]) -> Output {
    let config = install.dir.path().join("config.yaml");
    if !config.exists() {
        install.write_config("");
    }
    Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(&config)
        .args(["--log-level", "error"])
        .args(args)
        .env_remove("SC_SKILLS_DIR")
        .env_remove("SC_DATA_DIR")
        .output()
        .expect("run sc-host")
}

/// Runs `eval` and returns its JSON report.
fn eval(install: &Install, args: &[&str]) -> Value {
    let json = install.dir.path().join("eval.json");
    let mut all: Vec<&str> = vec!["eval"];
    all.extend(args);
    let json_arg = json.display().to_string();
    all.extend(["--json", &json_arg]);
    let output = sc_host(install, &all);
    assert!(
        output.status.success(),
        "eval failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("report JSON")
}

const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailedlabel\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring\n";

/// One conn line: `ts`, source, destination, port, state, label.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per conn.log column the tests set"
)]
fn line(
    out: &mut String,
    ts: f64,
    uid: &str,
    src: &str,
    dst: &str,
    port: u16,
    state: &str,
    label: &str,
) {
    // Answered flows get sizes that vary with their time, as pages do.
    let (ob, rb, rp, lo, lr) = match state {
        "SF" => (300, 1_000 + (ts * 7_919.0) as u64 % 50_000, 6, "T", "F"),
        _ => (0, 0, 0, "F", "T"),
    };
    writeln!(
        out,
        "{ts:.6}\t{uid}\t{src}\t40000\t{dst}\t{port}\ttcp\t-\t0.5\t{ob}\t{rb}\t{state}\t{lo}\t{lr}\t0\tS\t2\t100\t{rp}\t0\t(empty)\t{label}\t-"
    )
    .expect("write");
}

/// The hand-built capture, 30 minutes from 2022-06-12T22:00Z:
/// - `203.0.113.5` probes 20 ports of the monitored host `10.0.0.2`, none
///   answered (Malicious): the detectors must flag it;
/// - `198.51.100.9` makes one answered connection to `10.0.0.2:443`
///   labeled Malicious: nothing in its behaviour says so, a miss;
/// - the monitored host browses `192.0.2.7` (Benign, 40 answered flows).
fn slice(dir: &Path) {
    let t0 = 1_655_071_200.0;
    let mut log = String::from(HEADER);
    for i in 0..20u16 {
        line(
            &mut log,
            t0 + 60.0 + f64::from(i),
            &format!("Cp{i}"),
            "203.0.113.5",
            "10.0.0.2",
            1000 + i,
            "S0",
            "Malicious",
        );
    }
    line(
        &mut log,
        t0 + 120.0,
        "Cq0",
        "198.51.100.9",
        "10.0.0.2",
        443,
        "SF",
        "Malicious",
    );
    // Browsing: irregular times (a fixed pseudo-random walk), to a few sites.
    let mut at = t0 + 30.0;
    for i in 0..40u16 {
        at += f64::from((i * 37 + 11) % 97) + 1.0;
        let site = ["192.0.2.7", "192.0.2.8", "192.0.2.9"][usize::from(i % 3)];
        line(
            &mut log,
            at,
            &format!("Cb{i}"),
            "10.0.0.2",
            site,
            443,
            "SF",
            "Benign",
        );
    }
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join("conn.log.labeled"), log).expect("write slice");
}

fn detection_install() -> Install {
    Install::with(&DETECTION_SKILLS)
}

#[test]
fn eval_scores_a_hand_built_capture_as_computed_by_hand() {
    let install = detection_install();
    let capture = install.dir.path().join("capture");
    slice(&capture);
    let report = eval(&install, &[capture.to_str().expect("path")]);
    let c = &report["captures"][0];
    let s = &c["scores"];
    // Sources: 203.0.113.5 and 198.51.100.9 attack, 10.0.0.2 does not.
    assert_eq!(s["sources"], 3);
    assert_eq!(s["attackers"], 2);
    // The prober is flagged, the quiet attacker missed, the host never.
    assert_eq!(s["true_positives"], 1, "{c}");
    assert_eq!(s["false_positives"], 0, "{c}");
    assert_eq!(s["precision"], 1.0);
    assert_eq!(s["recall"], 0.5);
    // F1 = 2·1·0.5 / 1.5.
    assert!((s["f1"].as_f64().expect("f1") - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(s["benign_flows"], 40);
    assert_eq!(s["benign_covered"], 0.0);
    // 20 of the 21 malicious flows are the prober's, inside its finding.
    assert!(
        (s["malicious_covered"].as_f64().expect("share") - 20.0 / 21.0).abs() < 1e-9,
        "{c}"
    );
    assert_eq!(s["missed_sources"], serde_json::json!(["198.51.100.9"]));
    // Scanning the monitored host from outside is recorded, not escalated.
    assert_eq!(c["escalated"], 0);
    assert!(c["incidents"].as_u64().expect("incidents") >= 1);
    assert_eq!(c["failed_runs"], 0);
}

#[test]
fn a_capture_without_labels_is_reported_not_scored_and_attackers_label_it() {
    let install = detection_install();
    let capture = install.dir.path().join("unlabeled");
    slice(&capture);
    let path = capture.join("conn.log.labeled");
    let text = std::fs::read_to_string(&path).expect("read");
    // Drop the two label columns: a plain conn.log.
    let plain: String = text
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            if l.starts_with("#fields") || l.starts_with("#types") || !l.starts_with('#') {
                cols[..cols.len() - 2].join("\t")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(capture.join("conn.log"), plain + "\n").expect("write");
    let report = eval(&install, &[capture.to_str().expect("path")]);
    let c = &report["captures"][0];
    assert!(c["scores"].is_null());
    assert!(
        c["note"].as_str().expect("note").contains("--attacker"),
        "{c}"
    );

    let report = eval(
        &install,
        &[capture.to_str().expect("path"), "--attacker", "203.0.113.5"],
    );
    let s = &report["captures"][0]["scores"];
    assert_eq!(
        (
            s["attackers"].as_u64(),
            s["recall"].as_f64(),
            s["precision"].as_f64()
        ),
        (Some(1), Some(1.0), Some(1.0))
    );
    assert_eq!(
        report["captures"][0]["attackers_named"],
        serde_json::json!([["203.0.113.5", true]])
    );
}

#[test]
fn a_label_file_naming_unknown_uids_is_reported() {
    let install = detection_install();
    let capture = install.dir.path().join("sidecar");
    slice(&capture);
    std::fs::write(
        capture.join("labels.json"),
        r#"{"Cp0": "Malicious", "nope-1": "Malicious", "nope-2": "Benign"}"#,
    )
    .expect("labels");
    let report = eval(&install, &[capture.to_str().expect("path")]);
    let note = report["captures"][0]["note"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        note.contains("2 labels.json entries name no event"),
        "{note}"
    );
    std::fs::write(capture.join("labels.json"), "[1, 2]").expect("labels");
    let output = sc_host(&install, &["eval", capture.to_str().expect("path")]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("must be a JSON object mapping a Zeek uid")
    );
}

#[test]
fn eval_names_the_missing_skill_and_the_fix() {
    let install = Install::with(&["fields_baseliner"]);
    let capture = install.dir.path().join("capture");
    slice(&capture);
    let output = sc_host(&install, &["eval", capture.to_str().expect("path")]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("skill `anomaly_detector` is not installed") && err.contains("just skills"),
        "{err}"
    );
}

#[test]
fn the_port_scanner_is_flagged_within_minutes_of_its_scan_and_nothing_else_is() {
    let install = detection_install();
    let capture = datasets_dir().join("stratosphere/002-zeek-scenario-port-scanning");
    let report = eval(
        &install,
        &[capture.to_str().expect("path"), "--attacker", "172.16.1.11"],
    );
    let c = &report["captures"][0];
    assert_eq!(c["scores"]["recall"], 1.0, "{c}");
    assert_eq!(c["scores"]["false_positives"], 0);
    assert_eq!(
        c["attackers_named"],
        serde_json::json!([["172.16.1.11", true]])
    );
}

#[test]
fn the_suricata_alert_sources_are_all_in_incidents() {
    let install = detection_install();
    let capture = datasets_dir().join("slips/test6-malicious.suricata.json");
    let report = eval(&install, &[capture.to_str().expect("path")]);
    let c = &report["captures"][0];
    assert!(c["alert_sources"].as_u64().expect("sources") > 300, "{c}");
    assert!(
        c["alert_sources_covered"].as_f64().expect("share") >= 0.95,
        "{c}"
    );
}

#[test]
fn fields_baseliner_names_what_an_index_lacks_and_an_empty_store_has_no_data() {
    let install = detection_install();
    let output = sc_host(&install, &["dispatch", "fields_baseliner"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("report");
    assert_eq!(report["status"], "no_data", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .expect("summary")
            .contains("no documents"),
        "{report}"
    );

    let ndjson = install.dir.path().join("app.ndjson");
    std::fs::write(&ndjson, "{\"@timestamp\":\"2026-01-01T00:00:00Z\",\"message\":\"started\",\"data_stream\":{\"type\":\"logs\",\"dataset\":\"app\",\"namespace\":\"default\"}}\n").expect("write");
    let output = sc_host(&install, &["ingest", ndjson.to_str().expect("path")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = sc_host(&install, &["dispatch", "fields_baseliner"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("report");
    assert_eq!(report["status"], "no_data", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .expect("summary")
            .contains("source_ip"),
        "{report}"
    );
}

#[test]
fn the_incidents_of_a_replay_are_listed_and_one_is_suppressed_from_the_command_line() {
    let install = detection_install();
    let capture = install.dir.path().join("capture");
    slice(&capture);
    let kept = install.dir.path().join("kept");
    let report = eval(
        &install,
        &[
            capture.to_str().expect("path"),
            "--keep-data",
            kept.to_str().expect("path"),
        ],
    );
    assert!(
        report["captures"][0]["incidents"]
            .as_u64()
            .expect("incidents")
            >= 1
    );
    // One folder per capture, named after it.
    let data = std::fs::read_dir(&kept)
        .expect("kept")
        .next()
        .expect("a capture folder")
        .expect("entry")
        .path();
    let data = data.to_str().expect("path");
    let output = sc_host(
        &install,
        &[
            "--data-dir",
            data,
            "incidents",
            "list",
            "--severity",
            "medium",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let incident = &page["records"][0];
    assert_eq!(incident["kind"], "scan");
    assert_eq!(incident["entity"], "10.0.0.2");
    let id = incident["incident_id"].as_str().expect("id");
    let output = sc_host(
        &install,
        &[
            "--data-dir",
            data,
            "incidents",
            "suppress",
            id,
            "--reason",
            "our vulnerability scanner",
            "--by",
            "ada",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = sc_host(
        &install,
        &[
            "--data-dir",
            data,
            "incidents",
            "list",
            "--status",
            "suppressed",
        ],
    );
    let page: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(page["records"][0]["suppression"]["by"], "ada");
    let output = sc_host(&install, &["--data-dir", data, "status", "--json"]);
    let status: Value = serde_json::from_slice(&output.stdout).expect("status JSON");
    assert_eq!(status["incidents"]["counts"]["suppressed"], 1, "{status}");
    let text = String::from_utf8_lossy(&sc_host(&install, &["--data-dir", data, "status"]).stdout)
        .into_owned();
    assert!(text.contains("1 suppressed"), "{text}");
    let output = sc_host(
        &install,
        &[
            "--data-dir",
            data,
            "incidents",
            "suppress",
            "nope",
            "--reason",
            "x",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no incident `nope`"));
}

/// Runs `sc-host` against one backend of the test servers.
fn on_backend(install: &Install, backend: &sc_testkit::stores::Backend, args: &[&str]) -> Output {
    let config = install.dir.path().join("config.yaml");
    Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(&config)
        .args(["--log-level", "error"])
        .args(args)
        .env_remove("SC_SKILLS_DIR")
        .envs(backend.env())
        .output()
        .expect("run sc-host")
}

#[test]
fn the_detectors_find_the_port_scanner_on_every_store() {
    let capture = datasets_dir().join("stratosphere/002-zeek-scenario-port-scanning/conn.log");
    let index = format!("logs-{}", sc_testkit::stores::index_name("detect-conn"));
    for backend in sc_testkit::stores::backends("detection") {
        let name = backend.name;
        let install = detection_install();
        install.write_config(&format!(
            "detection:\n  indices: [\"logs-{}*\"]\n",
            sc_testkit::stores::index_name("detect")
        ));
        let output = on_backend(
            &install,
            &backend,
            &["ingest", capture.to_str().expect("path"), "--index", &index],
        );
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let dispatch = |skill: &str, now: &str| -> Value {
            // Runs here follow each other: triage need not wait for late writes.
            let mut args = vec!["dispatch", skill, "--now", now];
            if skill == "anomaly_triage" {
                args.extend(["--param", "lag_seconds=0"]);
            }
            let output = on_backend(&install, &backend, &args);
            serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
                panic!(
                    "{name}: {skill}: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
        };
        let catalog = dispatch("fields_baseliner", "2020-01-01T00:00:00Z");
        assert_eq!(catalog["status"], "ok", "{name}: {catalog}");
        // The capture runs from 14:40 to 15:47 UTC on 2022-09-29 (its own
        // time); the scan is at its busiest from 15:20.
        let mut found = false;
        for minute in [20, 25, 30, 35] {
            let now = format!("2022-09-29T15:{minute}:00Z");
            let detected = dispatch("anomaly_detector", &now);
            assert_eq!(
                detected["status"].as_str().map(|s| s != "error"),
                Some(true),
                "{name}: {detected}"
            );
            let triaged = dispatch("anomaly_triage", &now);
            assert_ne!(triaged["status"], "error", "{name}: {triaged}");
            found |= triaged["result"]["incidents"].as_array().is_some_and(|i| {
                i.iter()
                    .any(|i| i["entity"] == "172.16.1.11" && i["kind"] == "scan")
            });
        }
        assert!(found, "{name}: the scanner was not in an incident");
    }
}

/// The beacon detector on the Stratosphere Lab (CTU Prague) mixed day:
/// the monitored host calls 65.9.94.12 about every five minutes for eight
/// hours (45 answered connections, sizes that vary, so a middling score).
/// Every store must read the same connections (doc values: dates, numbers,
/// IPs) and so score the same pairs the same.
#[test]
fn the_beacon_detector_scores_the_same_pairs_alike_on_every_store() {
    let capture = datasets_dir().join("stratosphere/011-zeek-mixed/data/conn.log.labeled");
    let index = format!("logs-{}", sc_testkit::stores::index_name("beacon-conn"));
    let mut answers: Vec<(&str, Value)> = Vec::new();
    for backend in sc_testkit::stores::backends("beacon") {
        let name = backend.name;
        let install = detection_install();
        install.write_config(&format!(
            "detection:\n  indices: [\"logs-{}*\"]\n  beacon_threshold: 0.5\n",
            sc_testkit::stores::index_name("beacon")
        ));
        let run = |args: &[&str]| -> Value {
            let output = on_backend(&install, &backend, args);
            assert!(
                output.status.success(),
                "{name}: {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
        };
        run(&["ingest", capture.to_str().expect("path"), "--index", &index]);
        let now = "2022-06-13T22:00:00Z";
        let catalog = run(&["dispatch", "fields_baseliner", "--now", now]);
        assert_eq!(catalog["status"], "ok", "{name}: {catalog}");
        let beacons = run(&["dispatch", "beacon_detector", "--now", now]);
        assert_eq!(beacons["status"], "ok", "{name}: {beacons}");
        assert!(
            beacons["result"]["pairs_scored"].as_u64() >= Some(40),
            "{name}: {beacons}"
        );
        let timer = run(&[
            "db",
            "search",
            "securityclaw-anomaly-results",
            "--query",
            r#"{"query": {"bool": {"filter": [{"term": {"detector_id": "securityclaw-beacon"}},
                {"term": {"securityclaw.actor": "147.32.83.165"}}, {"term": {"securityclaw.targets": "65.9.94.12"}}]}}}"#,
        ]);
        let hits = timer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(hits.len(), 1, "{name}: {timer}");
        let evidence = &hits[0]["_source"]["securityclaw"]["evidence"];
        assert_eq!(evidence["connections"], 45, "{name}: {evidence}");
        let interval = evidence["median_interval_s"].as_f64().unwrap_or_default();
        assert!((295.0..305.0).contains(&interval), "{name}: {evidence}");
        answers.push((name, beacons["result"].clone()));
    }
    let (first, expected) = &answers[0];
    for (name, result) in &answers[1..] {
        assert_eq!(
            result["pairs_scored"], expected["pairs_scored"],
            "{name} vs {first}"
        );
        assert_eq!(result["beacons"], expected["beacons"], "{name} vs {first}");
        let top = |r: &Value| -> Vec<(String, i64)> {
            r["top"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let score = t["score"].as_f64().unwrap_or_default();
                    (
                        t["destination"].as_str().unwrap_or_default().to_owned(),
                        (score * 1e6).round() as i64,
                    )
                })
                .collect()
        };
        assert_eq!(top(result), top(expected), "{name} vs {first}");
    }
}
