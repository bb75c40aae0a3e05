//! Unit tests on the SDK's mock host: a small in-memory store of events
//! shaped as `sc-host ingest` writes them, and the findings written.

use std::cell::RefCell;
use std::rc::Rc;

use securityclaw_sdk::db::BulkResult;
use securityclaw_sdk::memory::EntryList;
use securityclaw_sdk::testing::MockHost;
use securityclaw_sdk::{Invocation, Status, Timestamp, Trigger};
use serde_json::{Value, json};

use super::SigmaDetector;

/// 2024-03-01T10:00:00Z.
const T0: i64 = 1_709_287_200_000;

type Written = Rc<RefCell<Vec<(String, Value)>>>;

fn at(ms: i64) -> String {
    Timestamp::from_epoch_millis(ms).to_rfc3339()
}

/// A Security-log event as ingest stores it.
fn winlog(id: &str, code: u32, ms: i64, data: Value) -> (String, String, Value) {
    let mut doc = json!({
        "@timestamp": at(ms),
        "event": {"code": code.to_string()},
        "host": {"name": "DC01.corp.example"},
        "winlog": {"channel": "Security", "event_id": code.to_string(), "computer_name": "DC01.corp.example", "event_data": data.clone()},
    });
    if let Some(ip) = data.get("IpAddress").and_then(Value::as_str) {
        doc["source"] = json!({"ip": ip.trim_start_matches("::ffff:")});
    }
    if let Some(user) = data.get("TargetUserName") {
        doc["user"] = json!({"name": user});
    }
    ("logs-winlog-security".to_owned(), id.to_owned(), doc)
}

/// A Zeek connection as ingest stores it.
fn conn(
    id: &str,
    ms: i64,
    src: &str,
    dst: &str,
    port: u16,
    outcome: &str,
) -> (String, String, Value) {
    (
        "logs-zeek-conn".to_owned(),
        id.to_owned(),
        json!({"@timestamp": at(ms), "source": {"ip": src, "port": 40000}, "destination": {"ip": dst, "port": port},
            "event": {"outcome": outcome}, "zeek": {"conn": {"conn_state": if outcome == "failure" { "S0" } else { "SF" }}}}),
    )
}

fn matches_pattern(pattern: &str, index: &str) -> bool {
    pattern.split(',').any(|p| match p.strip_suffix('*') {
        Some(prefix) => index.starts_with(prefix),
        None => index == p,
    })
}

/// A store answering range-filtered, time-sorted, paged searches over
/// `events`, and recording what is written.
fn store(events: Vec<(String, String, Value)>, written: Written) -> MockHost {
    let writes = written.clone();
    MockHost::new()
        .on_db_search(move |pattern, body| {
            let range = body.pointer("/query/bool/filter/0/range/@timestamp");
            let gte = range.and_then(|r| r["gte"].as_str()).unwrap_or("");
            let lte = range.and_then(|r| r["lte"].as_str()).unwrap_or("9");
            let mut hits: Vec<&(String, String, Value)> = events
                .iter()
                .filter(|(index, _, doc)| {
                    let t = doc["@timestamp"].as_str().unwrap_or("");
                    matches_pattern(pattern, index) && t >= gte && t <= lte
                })
                .collect();
            hits.sort_by(|a, b| a.2["@timestamp"].as_str().cmp(&b.2["@timestamp"].as_str()));
            let from = body["from"].as_u64().unwrap_or(0) as usize;
            let size = body["size"].as_u64().unwrap_or(10) as usize;
            let page: Vec<Value> = hits
                .into_iter()
                .skip(from)
                .take(size)
                .map(|(index, id, doc)| json!({"_index": index, "_id": id, "_source": doc}))
                .collect();
            Ok(json!({"hits": {"total": {"value": page.len()}, "hits": page}}))
        })
        .on_db_aggregate(|_, _, _| {
            Ok(json!({"actors": {"value": 1}, "top_actors": {"buckets": []}, "top_targets": {"buckets": []},
                "max_grade": {"value": 0.95}, "first": {"value": T0}, "last": {"value": T0}, "inbound": {"doc_count": 0}}))
        })
        .on_db_count(|_, _| Ok(1))
        .on_db_bulk_index(move |index, docs| {
            writes
                .borrow_mut()
                .extend(docs.iter().map(|(_, d)| (index.to_owned(), d.clone())));
            Ok(BulkResult {
                indexed: docs.len() as u32,
                failed: 0,
                errors: Vec::new(),
            })
        })
}

fn run_at(ms: i64, params: Value) -> Invocation {
    Invocation::new(Trigger::Schedule, params).at(Timestamp::from_epoch_millis(ms))
}

fn defaults() -> Value {
    json!({"max_events": 200000, "initial_lookback_hours": 24, "max_matches": 100})
}

fn findings(written: &Written) -> Vec<Value> {
    written
        .borrow()
        .iter()
        .filter(|(i, _)| i == "securityclaw-findings")
        .map(|(_, d)| d.clone())
        .collect()
}

fn titles(findings: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = findings
        .iter()
        .map(|f| f["sigma"]["title"].as_str().unwrap_or("").to_owned())
        .collect();
    t.sort();
    t
}

#[test]
fn a_password_spray_is_one_finding_with_attribution_and_attack_tags() {
    let mut events: Vec<_> = ["alice", "bob", "carol", "dave", "erin", "frank"]
        .iter()
        .enumerate()
        .map(|(i, user)| {
            winlog(
                &format!("e{i}"),
                4771,
                T0 + i as i64 * 10_000,
                json!({"TargetUserName": user, "IpAddress": "::ffff:10.1.2.3", "Status": "0x18"}),
            )
        })
        .collect();
    events.push(winlog("clear", 1102, T0 + 90_000, json!({})));
    let written = Written::default();
    let host = store(events, written.clone());
    let run = host
        .run::<SigmaDetector>(run_at(T0 + 3_600_000, defaults()))
        .expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let found = findings(&written);
    // The failures themselves report only through the correlation.
    assert_eq!(
        titles(&found),
        [
            "Password Spray - Failed Authentications Across Many Accounts From One Source",
            "Security Event Log Cleared"
        ]
    );
    let spray = found
        .iter()
        .find(|f| f["sigma"]["rule_type"] == "value_count")
        .expect("the spray");
    assert_eq!(spray["kind"], "sigma_rule");
    assert_eq!(spray["sigma"]["level"], "high");
    assert_eq!(spray["sigma"]["author"], "SecurityClaw");
    assert_eq!(spray["sigma"]["license"], "Apache-2.0");
    assert_eq!(spray["sigma"]["source"], "builtin:credential_access.yml");
    assert_eq!(spray["sigma"]["tactics"][0]["name"], "Credential Access");
    assert_eq!(spray["sigma"]["techniques"][0]["id"], "T1110.003");
    assert_eq!(
        spray["sigma"]["event_ids"],
        json!(["e0", "e1", "e2", "e3", "e4"])
    );
    assert_eq!(
        spray["sigma"]["group"][0]["field"],
        "winlog.event_data.IpAddress"
    );
    assert_eq!(spray["sigma"]["group"][0]["value"], "::ffff:10.1.2.3");
    assert_eq!(spray["actor"], "10.1.2.3");
    assert_eq!(spray["window_start"], T0);
    assert_eq!(spray["window_end"], T0 + 40_000);
    // A HIGH rule escalates its host's incident.
    assert_eq!(host.entries(&EntryList::Escalations).len(), 1);
}

#[test]
fn failures_then_a_success_from_one_source_is_one_critical_finding() {
    let mut events: Vec<_> = (0..12)
        .map(|i| {
            winlog(
                &format!("f{i}"),
                4625,
                T0 + i * 5_000,
                json!({"TargetUserName": "administrator", "IpAddress": "203.0.113.9", "LogonType": 3}),
            )
        })
        .collect();
    events.push(winlog(
        "ok",
        4624,
        T0 + 70_000,
        json!({"TargetUserName": "administrator", "IpAddress": "203.0.113.9", "LogonType": 3}),
    ));
    let written = Written::default();
    let host = store(events, written.clone());
    let run = host
        .run::<SigmaDetector>(run_at(T0 + 600_000, defaults()))
        .expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let found = findings(&written);
    assert_eq!(
        titles(&found),
        [
            "Brute Force - Many Failed Logons From One Source",
            "Successful Logon After A Burst Of Failures From One Source"
        ],
        "{found:#?}"
    );
    let guessed = found
        .iter()
        .find(|f| f["sigma"]["rule_type"] == "temporal_ordered")
        .expect("the sequence");
    assert_eq!(guessed["sigma"]["level"], "critical");
    assert_eq!(guessed["actor"], "203.0.113.9");
    let incidents: Vec<Value> = written
        .borrow()
        .iter()
        .filter(|(i, _)| i == "securityclaw-incidents")
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["entity"], "DC01.corp.example");
    assert_eq!(incidents[0]["severity"], "CRITICAL");
    assert_eq!(incidents[0]["status"], "escalated");
}

#[test]
fn a_broken_rule_file_is_named_and_the_good_rules_still_run() {
    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(folder.path().join("team")).expect("mkdir");
    std::fs::write(
        folder.path().join("broken.yml"),
        "title: [unclosed\n  detection: {",
    )
    .expect("write");
    std::fs::write(
        folder.path().join("team/elsewhere.yml"),
        "title: Linux Thing\nlogsource:\n  product: linux\n  service: auditd\ndetection:\n  sel:\n    type: EXECVE\n  condition: sel\n",
    )
    .expect("write");
    std::fs::write(
        folder.path().join("team/orphan.yml"),
        "title: Orphan\ncorrelation:\n  type: event_count\n  rules: [no-such-rule]\n  group-by: [IpAddress]\n  timespan: 5m\n  condition:\n    gte: 2\n",
    )
    .expect("write");
    std::fs::write(
        folder.path().join("team/backup_operators.yml"),
        "title: Member Added To Backup Operators\nid: 7f0f5b7e-6c55-4d5e-9d3c-3f1c7e2b9a10\nauthor: Jane Doe\nlicense: DRL-1.1\ntags: [attack.persistence, attack.t1098]\nlogsource:\n  product: windows\n  service: security\ndetection:\n  sel:\n    EventID: 4732\n    TargetSid: S-1-5-32-551\n  condition: sel\nlevel: medium\n",
    )
    .expect("write");
    let events = vec![winlog(
        "add",
        4732,
        T0,
        json!({"TargetSid": "S-1-5-32-551", "MemberName": "CN=eve", "SubjectUserName": "mallory"}),
    )];
    let written = Written::default();
    let host = store(events, written.clone()).folder("sigma", folder.path());
    let run = host
        .run::<SigmaDetector>(run_at(T0 + 60_000, defaults()))
        .expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let problems = run.result["problems"].as_array().expect("problems").clone();
    let about = |file: &str| {
        problems
            .iter()
            .find(|p| p["source"] == format!("sigma/{file}"))
            .unwrap_or_else(|| panic!("no problem for {file}: {problems:#?}"))["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        about("broken.yml").contains("not a Sigma rule file")
            || about("broken.yml").contains("skipped")
    );
    assert!(
        about("team/elsewhere.yml").contains("product linux"),
        "{}",
        about("team/elsewhere.yml")
    );
    assert!(
        about("team/orphan.yml").contains("no-such-rule"),
        "{}",
        about("team/orphan.yml")
    );
    let found = findings(&written);
    assert_eq!(titles(&found), ["Member Added To Backup Operators"]);
    let sigma = &found[0]["sigma"];
    assert_eq!(sigma["author"], "Jane Doe");
    assert_eq!(sigma["license"], "DRL-1.1");
    assert_eq!(sigma["source"], "sigma/team/backup_operators.yml");
    assert_eq!(sigma["tactics"][0]["name"], "Persistence");
    let fields: Vec<&str> = sigma["matched_fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"winlog.event_data.TargetSid"),
        "{fields:?}"
    );
    assert_eq!(run.result["rules"]["folder_files"], 4);
    assert_eq!(
        run.result["rules"]["added"].as_array().map(Vec::len),
        Some(11)
    );
}

#[test]
fn disabled_rules_and_levels_are_left_out() {
    let events = vec![winlog("clear", 1102, T0, json!({}))];
    let written = Written::default();
    let host = store(events, written.clone())
        .setting("disabled_levels", json!(["informational"]))
        .setting("disabled_rules", json!(["Security Event Log Cleared"]));
    let run = host
        .run::<SigmaDetector>(run_at(T0 + 60_000, defaults()))
        .expect("runs");
    assert!(findings(&written).is_empty());
    assert!(
        run.result["rules"]["disabled"].as_u64().unwrap_or(0) >= 10,
        "{}",
        run.result["rules"]
    );
}

#[test]
fn process_creation_rules_match_security_4688_through_the_ecs_fields() {
    let rule = "title: Plink\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  sel:\n    Image|endswith: '\\plink.exe'\n    CommandLine|contains: '-R'\n  condition: sel\nlevel: high\n";
    let mut event = winlog(
        "p",
        4688,
        T0,
        json!({"NewProcessName": "C:\\Users\\u\\plink.exe"}),
    );
    event.2["process"] = json!({"executable": "C:\\Users\\u\\plink.exe", "command_line": "plink -R 3389:127.0.0.2:3389 x"});
    event.2["event"]["action"] = json!("created-process");
    let mut other = winlog(
        "q",
        4624,
        T0,
        json!({"NewProcessName": "C:\\Users\\u\\plink.exe"}),
    );
    other.2["process"] = event.2["process"].clone();
    let written = Written::default();
    let host = store(vec![event, other], written.clone());
    let mut params = defaults();
    params["test_rule"] = json!(rule);
    params["from"] = json!(at(T0 - 1000));
    let run = host
        .run::<SigmaDetector>(run_at(T0 + 60_000, params))
        .expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let matches = run.result["matches"].as_array().expect("matches");
    // The logon event has the fields but is not a process start.
    assert_eq!(matches.len(), 1, "{matches:#?}");
    assert_eq!(matches[0]["event_id"], "p");
    assert_eq!(matches[0]["why"]["matched"], true);
    // A trial writes nothing and moves no cursor.
    assert!(written.borrow().is_empty());
    assert!(host.memory_value("sigma_detector.cursor").is_none());
}

#[test]
fn a_second_run_reads_nothing_twice_and_network_rules_read_flows() {
    let events: Vec<_> = (0..20u16)
        .map(|p| {
            conn(
                &format!("c{p}"),
                T0 + i64::from(p) * 1000,
                "10.9.9.9",
                "10.0.0.5",
                1000 + p,
                "failure",
            )
        })
        .collect();
    let written = Written::default();
    let host = store(events, written.clone());
    let first = host
        .run::<SigmaDetector>(run_at(T0 + 60_000, defaults()))
        .expect("runs");
    assert_eq!(first.status, Status::Ok, "{}", first.summary);
    assert_eq!(
        titles(&findings(&written)),
        ["Vertical Port Scan - Many Ports Of One Host"]
    );
    let before = written.borrow().len();
    let second = host
        .run::<SigmaDetector>(run_at(T0 + 120_000, defaults()))
        .expect("runs");
    assert_eq!(second.result["findings"], json!([]));
    assert_eq!(written.borrow().len(), before);
    let cursor = host.memory_value("sigma_detector.cursor").expect("cursor");
    assert_eq!(
        cursor["positions"]["logs-zeek-conn*,logs-suricata-flow*"]["at_ms"],
        T0 + 19_000
    );
}

#[test]
fn a_rule_file_without_usable_rules_is_refused_in_a_trial() {
    let host = store(Vec::new(), Written::default());
    let mut params = defaults();
    params["test_rule"] = json!(
        "title: x\nlogsource:\n  product: macos\ndetection:\n  s:\n    a: 1\n  condition: s\n"
    );
    let err = host
        .run::<SigmaDetector>(run_at(T0, params))
        .expect_err("refused");
    assert!(err.to_string().contains("product macos"), "{err}");
}

#[test]
fn a_rule_added_to_the_folder_goes_over_the_lookback_window() {
    let folder = tempfile::tempdir().expect("temp dir");
    let events = vec![winlog(
        "old",
        4720,
        T0,
        json!({"TargetUserName": "svc_backup2", "SubjectUserName": "mallory"}),
    )];
    let written = Written::default();
    let host = store(events, written.clone()).folder("sigma", folder.path());
    let first = host
        .run::<SigmaDetector>(run_at(T0 + 60_000, defaults()))
        .expect("runs");
    assert_eq!(first.result["findings"], json!([]), "{}", first.summary);
    std::fs::write(
        folder.path().join("new_account.yml"),
        "title: User Account Created\nid: 0b0e8a55-2a0c-4f7e-9b0a-4f3c2d1e0f99\nauthor: Jane Doe\nlogsource:\n  product: windows\n  service: security\ndetection:\n  sel:\n    EventID: 4720\n  condition: sel\nlevel: low\n",
    )
    .expect("write");
    let second = host
        .run::<SigmaDetector>(run_at(T0 + 120_000, defaults()))
        .expect("runs");
    assert_eq!(
        second.result["rules"]["added"],
        json!(["sigma/new_account.yml"])
    );
    assert_eq!(second.result["rules"]["backfilled"], 1);
    assert_eq!(titles(&findings(&written)), ["User Account Created"]);
    // The cursor had passed the event: the scheduled pass replays it for
    // the correlation windows only, and the new rule looks at it again.
    assert_eq!(second.result["events_read"]["logs-winlog-*"], 2);
}

#[test]
fn a_spray_split_by_the_run_boundary_is_still_found_once() {
    let spray = |i: i64, user: &str| {
        winlog(
            &format!("s{i}"),
            4771,
            T0 + i * 30_000,
            json!({"TargetUserName": user, "IpAddress": "10.7.7.7", "Status": "0x18"}),
        )
    };
    let first: Vec<_> = ["ann", "ben", "cat"]
        .iter()
        .enumerate()
        .map(|(i, u)| spray(i as i64, u))
        .collect();
    let mut all = first.clone();
    all.extend(
        ["dan", "eve"]
            .iter()
            .enumerate()
            .map(|(i, u)| spray(3 + i as i64, u)),
    );
    let written = Written::default();
    // The first run sees three accounts; the store then has all five.
    let host = store(first, written.clone());
    host.run::<SigmaDetector>(run_at(T0 + 70_000, defaults()))
        .expect("runs");
    assert!(findings(&written).is_empty());
    let cursor = host.memory_value("sigma_detector.cursor").expect("cursor");
    let host = store(all, written.clone()).memory("sigma_detector.cursor", cursor);
    let second = host
        .run::<SigmaDetector>(run_at(T0 + 200_000, defaults()))
        .expect("runs");
    let found = findings(&written);
    assert_eq!(
        titles(&found),
        ["Password Spray - Failed Authentications Across Many Accounts From One Source"],
        "{}",
        second.summary
    );
    assert_eq!(
        found[0]["sigma"]["event_ids"],
        json!(["s0", "s1", "s2", "s3", "s4"])
    );
    // A third run replays the same window and reports nothing again.
    let before = written.borrow().len();
    let cursor = host.memory_value("sigma_detector.cursor").expect("cursor");
    let host = store(
        (0..5)
            .map(|i| spray(i, ["ann", "ben", "cat", "dan", "eve"][i as usize]))
            .collect(),
        written.clone(),
    )
    .memory("sigma_detector.cursor", cursor);
    let third = host
        .run::<SigmaDetector>(run_at(T0 + 300_000, defaults()))
        .expect("runs");
    assert_eq!(third.result["findings"], json!([]));
    assert_eq!(written.borrow().len(), before);
}
