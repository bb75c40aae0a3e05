//! `sigma_detector` in the real host: the EVTX attack samples (Samir
//! Bousseaden's, GPL-3.0) ingested by `sc-host ingest`, one index per file,
//! each expected to yield a finding of its folder's ATT&CK tactic with the
//! rule's author; `sc-host sigma test` explaining a rule's matches; and a
//! rules folder changed while the service runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use sc_testkit::{Install, datasets_dir, repo_root};

use crate::support::{call, free_port, sc_host_command};

fn run(config: &Path, args: &[&str]) -> Output {
    sc_host_command(config)
        .args(args)
        .output()
        .expect("run sc-host")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "sc-host failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The EVTX samples, sorted, with the tactic folder each is filed under.
fn samples() -> Vec<(String, std::path::PathBuf)> {
    let root = datasets_dir().join("evtx-attack-samples");
    let mut files = Vec::new();
    for folder in std::fs::read_dir(&root).expect("evtx samples") {
        let folder = folder.expect("entry").path();
        if !folder.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&folder).expect("tactic folder") {
            let file = file.expect("entry").path();
            if file.extension().is_some_and(|e| e == "evtx") {
                let tactic = folder
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                files.push((tactic, file));
            }
        }
    }
    files.sort();
    files
}

fn findings(config: &Path) -> Vec<Value> {
    let answer: Value = serde_json::from_str(&ok(&run(
        config,
        &[
            "db",
            "search",
            "securityclaw-findings",
            "--query",
            r#"{"size": 5000}"#,
        ],
    )))
    .expect("JSON");
    answer["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["_source"].clone())
        .collect()
}

#[test]
fn every_evtx_attack_sample_yields_a_finding_of_its_tactic_with_the_rule_author() {
    let install = Install::with(&["sigma_detector"]);
    let config = install.write_config("");
    let samples = samples();
    assert_eq!(samples.len(), 23, "the dataset's 23 files");
    let mut index_of = BTreeMap::new();
    for (i, (_, file)) in samples.iter().enumerate() {
        let index = format!("logs-winlog-sample{i:02}");
        ok(&run(
            &config,
            &["ingest", "--index", &index, &file.to_string_lossy()],
        ));
        index_of.insert(index, i);
    }
    let report: Value = serde_json::from_str(&ok(&run(
        &config,
        &[
            "dispatch",
            "sigma_detector",
            "--param",
            "initial_lookback_hours=0",
        ],
    )))
    .expect("report");
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["result"]["problems"], json!([]), "{report}");

    let mut by_file: Vec<Vec<(String, Vec<String>)>> = vec![Vec::new(); samples.len()];
    for finding in findings(&config) {
        let sigma = &finding["sigma"];
        assert_eq!(finding["kind"], "sigma_rule");
        // The attribution the rules' licences ask for, on every finding.
        assert!(
            sigma["author"].as_str().is_some_and(|a| !a.is_empty()),
            "{finding}"
        );
        assert!(!sigma["event_ids"].as_array().expect("ids").is_empty());
        let tactics: Vec<String> = sigma["tactics"]
            .as_array()
            .expect("tactics")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        for index in sigma["indices"].as_array().expect("indices") {
            let i = index_of[index.as_str().expect("index")];
            by_file[i].push((
                sigma["title"].as_str().unwrap_or("").to_owned(),
                tactics.clone(),
            ));
        }
    }
    let mut missed = Vec::new();
    for ((tactic, file), found) in samples.iter().zip(&by_file) {
        let hit = found.iter().find(|(_, tactics)| tactics.contains(tactic));
        eprintln!(
            "{} {tactic} | {}: {}",
            if hit.is_some() { "ok  " } else { "MISS" },
            file.file_name().expect("name").to_string_lossy(),
            found
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        if hit.is_none() {
            missed.push(
                file.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    assert!(
        missed.is_empty(),
        "no finding of the folder's tactic for {missed:?}"
    );
}

#[test]
fn sigma_test_explains_each_match_and_writes_nothing() {
    let install = Install::with(&["sigma_detector"]);
    let config = install.write_config("");
    let sample =
        datasets_dir().join("evtx-attack-samples/Command and Control/DE_RDP_Tunneling_4624.evtx");
    ok(&run(&config, &["ingest", &sample.to_string_lossy()]));
    let rule = repo_root().join("tests/fixtures/sigma/rdp_from_loopback.yml");
    let output = run(&config, &["sigma", "test", &rule.to_string_lossy()]);
    let text = ok(&output);
    insta::assert_snapshot!(text);
    // A trial records nothing.
    let count: Value = serde_json::from_str(&ok(&run(
        &config,
        &["db", "count", "securityclaw-findings*"],
    )))
    .expect("JSON");
    assert_eq!(count["count"], 0);
    let missing = run(&config, &["sigma", "test", "/nonexistent/rule.yml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the rule file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_folder_changed_while_the_service_runs_is_used_at_the_next_run() {
    let install = Install::with(&["sigma_detector"]);
    // The team's rules live outside the data folder, bound by the operator.
    let folder = install.dir.path().join("team-rules");
    std::fs::create_dir_all(&folder).expect("folder");
    let config = install.write_config(&format!(
        "skills:\n  folders:\n    sigma_detector:\n      sigma: {}\n",
        folder.display()
    ));
    let sample =
        datasets_dir().join("evtx-attack-samples/Credential Access/kerberos_pwd_spray_4771.evtx");
    ok(&run(&config, &["ingest", &sample.to_string_lossy()]));
    let port = free_port();
    let mut child = sc_host_command(&config)
        .args(["service", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start service");
    let mut ready = false;
    for _ in 0..600 {
        if call(port, "GET", "/readyz", None).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the service never became ready");
    let dispatch = || async move {
        call(
            port,
            "POST",
            "/api/dispatch",
            Some(r#"{"skill":"sigma_detector","parameters":{"initial_lookback_hours":0}}"#),
        )
        .await
    };
    let (status, first) = dispatch().await;
    assert_eq!(status, 200, "{first}");
    let titles = |report: &Value| -> Vec<String> {
        report["result"]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["rule"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        titles(&first)
            .iter()
            .any(|t| t.starts_with("Password Spray")),
        "{first}"
    );

    // A team's rule and a broken file land in the folder.
    std::fs::create_dir_all(folder.join("team")).expect("folder");
    std::fs::write(
        folder.join("team/krbtgt_unknown_accounts.yml"),
        "title: Kerberos TGT Requested For Unknown Accounts\nid: 5a7c9e1b-2d4f-4a6b-8c0e-1f3a5b7d9e02\nauthor: Jane Doe (blue team)\nlicense: DRL-1.1\ntags: [attack.discovery, attack.t1087.002]\nlogsource:\n  product: windows\n  service: security\ndetection:\n  sel:\n    EventID: 4768\n    Status: '0x6'\n  condition: sel\nlevel: medium\n",
    )
    .expect("rule");
    std::fs::write(folder.join("broken.yml"), "title: x\ndetection: [1, 2\n").expect("broken");
    let (status, second) = dispatch().await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "ok", "{second}");
    assert_eq!(
        second["result"]["rules"]["added"],
        json!(["sigma/broken.yml", "sigma/team/krbtgt_unknown_accounts.yml"]),
        "{second}"
    );
    let problems = second["result"]["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| p["source"] == "sigma/broken.yml"),
        "{problems:?}"
    );
    let team: Vec<&Value> = second["result"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "Kerberos TGT Requested For Unknown Accounts")
        .collect();
    assert_eq!(team.len(), 1, "{second}");
    assert_eq!(team[0]["author"], "Jane Doe (blue team)");
    assert_eq!(team[0]["tactics"], json!(["Discovery"]));
    assert_eq!(team[0]["events"], 7);
    let _ = child.kill();
    let _ = child.wait();
}

/// The findings of one `sigma_detector` run over `files` in a fresh store.
fn network_findings(files: &[std::path::PathBuf], format: Option<&str>) -> Vec<Value> {
    let install = Install::with(&["sigma_detector"]);
    let config = install.write_config("");
    let mut args: Vec<String> = vec!["ingest".into()];
    if let Some(format) = format {
        args.extend(["--format".into(), format.into()]);
    }
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&run(&config, &args));
    let report: Value = serde_json::from_str(&ok(&run(
        &config,
        &[
            "dispatch",
            "sigma_detector",
            "--param",
            "initial_lookback_hours=0",
        ],
    )))
    .expect("report");
    assert_eq!(report["status"], "ok", "{report}");
    report["result"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn rules_by_actor(findings: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut by_actor: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in findings {
        by_actor
            .entry(f["actor"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push(f["rule"].as_str().unwrap_or("").to_owned());
    }
    by_actor
}

#[test]
fn network_rules_fire_on_scans_and_guessing_and_not_on_a_benign_host() {
    let data = datasets_dir();
    // Slips' Suricata capture (Stratosphere): inbound vertical scans of
    // 192.168.1.129, one of them from the inside host 192.168.1.132.
    let test6 = rules_by_actor(&network_findings(
        &[data.join("slips/test6-malicious.suricata.json")],
        None,
    ));
    eprintln!("test6: {test6:?}");
    for scanner in ["193.46.255.92", "192.168.1.132"] {
        assert!(
            test6
                .get(scanner)
                .is_some_and(|r| r.iter().any(|t| t.starts_with("Vertical Port Scan"))),
            "{scanner}: {test6:?}"
        );
    }
    // Stratosphere 007: the SSH honeypot's guessers.
    let ssh = network_findings(
        &[data.join("stratosphere/007-zeek-scenario-ssh-infected/ssh.log")],
        None,
    );
    assert!(
        ssh.iter().any(|f| f["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("SSH Password Guessing"))),
        "{ssh:?}"
    );
    // Slips' horizontal scan: one port of 25 hosts in half a minute.
    let horizontal = rules_by_actor(&network_findings(
        &[data.join("slips/port-scans/horizontal/conn.log")],
        None,
    ));
    assert!(
        horizontal
            .get("10.0.2.112")
            .is_some_and(|r| r.iter().any(|t| t.contains("Horizontal"))),
        "{horizontal:?}"
    );
    // Stratosphere 011: a day of one Windows host attacked from the
    // Internet. Its own outbound traffic sets nothing off.
    let folder = data.join("stratosphere/011-zeek-mixed/data");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .expect("011")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let day = rules_by_actor(&network_findings(&files, Some("zeek")));
    eprintln!("011: {day:?}");
    assert!(
        !day.contains_key("147.32.83.165"),
        "a false positive on the monitored host: {day:?}"
    );
}
