//! Each capability exercised from inside a component (the `probe`
//! fixture), through the real host and real backends: what a skill
//! author's code meets, grants and limits included.

use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use chrono::{TimeZone, Utc};
use sc_core::clock::ManualClock;
use sc_core::config::{Config, HttpProvider};
use sc_core::memory::AgentStatus;
use sc_core::run::{RunReport, RunStatus, Trigger};
use sc_runtime::{DispatchError, SkillHost};
use serde_json::{Value, json};

use sc_testkit::{Install, dispatch, serve};

/// A host with `probe` installed under these grants (YAML, indented two).
fn probe_host(grants: &str, tweak: impl FnOnce(&mut Config)) -> (Install, Arc<SkillHost>) {
    let install = Install::with(&[]);
    install.add_custom("probe", "probe", &format!("grants:\n{grants}"));
    let mut config = install.config();
    tweak(&mut config);
    let host = install.host_with(config);
    (install, host)
}

async fn probe(host: &SkillHost, params: Value) -> RunReport {
    let report = dispatch(host, "probe", params).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    report
}

#[tokio::test]
async fn settings_from_config_reach_the_skill_and_nothing_else_does() {
    let (_install, host) = probe_host("  llm: false\n", |config| {
        let mine = [
            ("threshold".to_owned(), json!(0.8)),
            ("hosts".to_owned(), json!(["a", "b"])),
        ];
        config
            .skills
            .settings
            .insert("probe".into(), mine.into_iter().collect());
        config.skills.settings.insert(
            "other".into(),
            [("token".to_owned(), json!("not yours"))]
                .into_iter()
                .collect(),
        );
    });
    let report = probe(
        &host,
        json!({"capability": "config", "keys": ["threshold", "hosts", "token", "absent"]}),
    )
    .await;
    assert_eq!(
        report.result["values"],
        json!([{"ok": 0.8}, {"ok": ["a", "b"]}, {"ok": null}, {"ok": null}]),
        "its own settings, never another skill's"
    );
}

#[tokio::test]
async fn rag_stores_and_retrieves_within_granted_categories() {
    let (_install, host) = probe_host("  rag:\n    categories: [notes]\n", |_| {});
    let report = probe(
        &host,
        json!({
            "capability": "rag", "category": "notes",
            "texts": ["beaconing every 60 seconds to 203.0.113.7", "printer spooler chatter"],
            "query": "beaconing", "k": 2
        }),
    )
    .await;
    let result = &report.result;
    assert_eq!(result["ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(result["path"], "lexical", "no model is configured here");
    assert_eq!(result["hits"][0]["entity"], "10.0.0.0", "{result}");
    let k_zero = result["k_zero"]["error"].as_str().unwrap_or_default();
    assert!(k_zero.contains("k must be 1..=100"), "{k_zero}");

    let denied = dispatch(
        &host,
        "probe",
        json!({"capability": "rag", "category": "secrets", "texts": ["x"]}),
    )
    .await;
    let reason = denied.error.unwrap_or_default();
    assert!(
        reason.contains("add `secrets` under `grants.rag.categories`"),
        "{reason}"
    );
}

#[tokio::test]
async fn memory_lists_focus_and_status_work_from_a_component() {
    let (_install, host) = probe_host(
        "  memory:\n    keys: [probe.*]\n    lists: [findings]\n    agent_state: true\n",
        |_| {},
    );
    let report = probe(&host, json!({"capability": "memory_lists", "count": 3})).await;
    let result = &report.result;
    let ids: Vec<u64> = result["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let recent = result["recent"].as_array().expect("recent");
    assert_eq!(recent.len(), 2, "the limit is kept");
    assert_eq!(recent[0]["text"], "finding 2", "newest first");
    assert_eq!(recent[0]["data"], json!("{\"i\":2}"));
    assert_eq!(result["removed"], true);
    assert_eq!(result["removed_again"], false);
    let escalation = result["escalation"]["error"].as_str().unwrap_or_default();
    assert!(
        escalation.contains("add `escalations` under `grants.memory.lists`"),
        "{escalation}"
    );
    let snapshot = host.backends().memory.snapshot(5).expect("snapshot");
    assert_eq!(snapshot.status, AgentStatus::Investigating);
    assert_eq!(snapshot.focus.as_deref(), Some("10.0.0.5"));
    assert_eq!(snapshot.findings.len(), 3);
}

async fn enrichment_server() -> String {
    let app = Router::new()
        .route(
            "/reputation/{ip}",
            get(
                |axum::extract::Path(ip): axum::extract::Path<String>| async move {
                    format!("{{\"ip\":\"{ip}\",\"score\":87}}")
                },
            ),
        )
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route(
            "/away",
            get(|| async { Redirect::temporary("http://example.com/elsewhere") }),
        );
    serve(app).await
}

#[tokio::test]
async fn http_reaches_a_granted_host_and_keeps_to_its_limits() {
    let base = enrichment_server().await;
    let (_install, host) = probe_host("  http:\n    hosts: [127.0.0.1]\n", |config| {
        config.http.provider = HttpProvider::Direct;
        config.http.allow_private_addresses = true;
        config.http.max_body_bytes = 1_000;
    });
    let ok = probe(
        &host,
        json!({"capability": "http", "url": format!("{base}/reputation/203.0.113.7")}),
    )
    .await;
    assert_eq!(ok.result["status"], 200);
    assert_eq!(ok.result["body"], "{\"ip\":\"203.0.113.7\",\"score\":87}");
    assert_eq!(ok.result["truncated"], false);

    let big = probe(
        &host,
        json!({"capability": "http", "url": format!("{base}/big")}),
    )
    .await;
    assert_eq!(big.result["body"].as_str().map(str::len), Some(1_000));
    assert_eq!(big.result["truncated"], true);

    let away = probe(
        &host,
        json!({"capability": "http", "url": format!("{base}/away")}),
    )
    .await;
    let reason = away.result["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("redirected to `example.com`") && reason.contains("grants.http.hosts"),
        "{reason}"
    );

    let elsewhere = probe(
        &host,
        json!({"capability": "http", "url": "http://example.org/"}),
    )
    .await;
    let reason = elsewhere.result["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("add `example.org` under `grants.http.hosts`"),
        "{reason}"
    );
}

#[tokio::test]
async fn http_refuses_private_addresses_unless_allowed() {
    let base = enrichment_server().await;
    let (_install, host) = probe_host("  http:\n    hosts: [127.0.0.1]\n", |config| {
        config.http.provider = HttpProvider::Direct;
    });
    let report = probe(
        &host,
        json!({"capability": "http", "url": format!("{base}/big")}),
    )
    .await;
    let reason = report.result["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not a public address") && reason.contains("http.allow_private_addresses"),
        "{reason}"
    );
}

#[tokio::test]
async fn the_invocation_carries_the_run_id_the_hosts_clock_and_the_deadline() {
    let install = Install::with(&[]);
    install.add_custom("probe", "probe", "limits:\n  timeout_ms: 4000\n");
    let start = Utc
        .with_ymd_and_hms(2024, 3, 1, 12, 0, 0)
        .single()
        .expect("time");
    let clock = Arc::new(ManualClock::new(start));
    let host = install.host_on(install.config(), clock.clone());
    let first = probe(&host, json!({"capability": "clock"})).await;
    assert_eq!(first.result["now"], "2024-03-01T12:00:00.000Z");
    assert_eq!(first.now, "2024-03-01T12:00:00.000Z");
    assert_eq!(first.result["time_limit_ms"], 4000);
    assert_eq!(first.result["run_id"], json!(first.run_id));
    clock.advance(chrono::Duration::hours(1));
    let second = probe(&host, json!({"capability": "clock"})).await;
    assert_eq!(second.result["now"], "2024-03-01T13:00:00.000Z");
    assert_ne!(second.run_id, first.run_id);
    let history = host.history().runs("probe", 5).expect("runs");
    assert_eq!(history[0].run_id.as_deref(), Some(second.run_id.as_str()));
}

#[tokio::test]
async fn parameters_are_checked_against_the_manifests_schema_before_the_run() {
    let install = Install::with(&["probe"]);
    let host = install.host();
    let refused = host
        .dispatch(
            "probe",
            Trigger::Dispatch,
            json!({"capability": "teleport"}),
        )
        .await
        .expect_err("not in the enum");
    match &refused {
        DispatchError::InvalidParameters { problems, .. } => {
            assert!(problems.contains("`capability`"), "{problems}");
            assert!(problems.contains("teleport"), "{problems}");
        }
        other => panic!("expected invalid parameters, got {other:?}"),
    }
    assert!(
        refused.to_string().starts_with("invalid input:"),
        "{refused}"
    );
    let missing = host
        .dispatch("probe", Trigger::Dispatch, json!({}))
        .await
        .expect_err("capability is required");
    assert!(missing.to_string().contains("capability"), "{missing}");
    // Nothing ran: the history has no run of the skill.
    assert!(host.history().runs("probe", 5).expect("runs").is_empty());
}

/// The answers of a `files` probe, one per operation.
async fn file_answers(host: &SkillHost, ops: Value) -> Vec<Value> {
    let report = probe(host, json!({"capability": "files", "ops": ops})).await;
    report.result["answers"]
        .as_array()
        .cloned()
        .expect("answers")
}

#[tokio::test]
async fn a_read_only_folder_is_readable_and_nothing_around_it_is() {
    let (install, host) = probe_host("  files:\n    - path: geoip\n", |_| {});
    let data = install.data_dir();
    std::fs::create_dir_all(data.join("geoip/sub")).expect("dir");
    std::fs::write(data.join("geoip/db.txt"), "city data").expect("file");
    std::fs::write(data.join("secret.txt"), "not granted").expect("file");
    std::fs::create_dir_all(data.join("other")).expect("dir");
    std::fs::write(data.join("other/x.txt"), "not granted").expect("file");
    // A symlink inside the folder that points out of it.
    std::os::unix::fs::symlink(data.join("secret.txt"), data.join("geoip/escape.txt"))
        .expect("symlink");
    let answers = file_answers(
        &host,
        json!([
            {"op": "read", "path": "geoip/db.txt"},
            {"op": "list", "path": "geoip"},
            {"op": "write", "path": "geoip/new.txt", "text": "x"},
            {"op": "read", "path": "geoip/../secret.txt"},
            {"op": "read", "path": "geoip/sub/../../secret.txt"},
            {"op": "read", "path": "geoip/escape.txt"},
            {"op": "read", "path": "other/x.txt"},
            {"op": "read", "path": "/etc/passwd"},
        ]),
    )
    .await;
    assert_eq!(answers[0], json!({"ok": "city data"}));
    assert_eq!(
        answers[1],
        json!({"ok": ["db.txt", "escape.txt", "sub"]}),
        "the folder's own entries"
    );
    for (i, what) in [
        (2, "a write to a read-only folder"),
        (3, "`..` out of the folder"),
        (4, "`..` through a subfolder"),
        (5, "a symlink out of the folder"),
        (6, "a folder that is not granted"),
        (7, "an absolute host path"),
    ] {
        assert!(
            answers[i].get("error").is_some(),
            "{what} was allowed: {}",
            answers[i]
        );
    }
    assert!(!data.join("geoip/new.txt").exists());
}

#[tokio::test]
async fn a_read_write_folder_keeps_what_the_skill_wrote() {
    let (install, host) = probe_host(
        "  files:\n    - path: cache/sigma\n      mode: rw\n",
        |_| {},
    );
    let answers = file_answers(
        &host,
        json!([
            {"op": "write", "path": "cache/sigma/state.json", "text": "{\"cursor\": 7}"},
            {"op": "read", "path": "cache/sigma/state.json"},
            {"op": "write", "path": "cache/other.json", "text": "{}"},
        ]),
    )
    .await;
    assert_eq!(answers[0], json!({"ok": true}));
    assert_eq!(answers[1], json!({"ok": "{\"cursor\": 7}"}));
    assert!(answers[2].get("error").is_some(), "{}", answers[2]);
    let data = install.data_dir();
    assert_eq!(
        std::fs::read_to_string(data.join("cache/sigma/state.json")).expect("written"),
        "{\"cursor\": 7}"
    );
    assert!(!data.join("cache/other.json").exists());
}

#[tokio::test]
async fn a_granted_folder_that_is_a_symlink_out_of_the_data_folder_fails_the_run() {
    let (install, host) = probe_host("  files:\n    - path: geoip\n", |_| {});
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(install.data_dir()).expect("data");
    std::os::unix::fs::symlink(outside.path(), install.data_dir().join("geoip")).expect("symlink");
    let report = dispatch(&host, "probe", json!({"capability": "files", "ops": []})).await;
    assert_eq!(report.status, RunStatus::Error);
    let reason = report.error.unwrap_or_default();
    assert!(
        reason.contains("outside the data folder") && reason.contains("grants.files"),
        "{reason}"
    );
}

/// A model that repeats the user message it received.
async fn echo_model() -> sc_testkit::model::ScriptedModel {
    sc_testkit::model::ScriptedModel::start(|messages| {
        messages
            .last()
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    })
    .await
}

const IDENTIFYING: &str = "10.0.0.5 resolved evil.example.com, then logged on to host WIN-SRV01 as CORP\\alice on port 445";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_to_a_remote_model_carry_placeholders_and_answers_come_back_whole() {
    let model = echo_model().await;
    let base_url = model.base_url.clone();
    let (_install, host) = probe_host("  llm: true\n", move |config| {
        config.llm.provider = sc_core::config::LlmProvider::Openai;
        config.llm.openai.base_url = base_url;
    });
    let report = probe(&host, json!({"capability": "llm", "prompt": IDENTIFYING})).await;
    assert_eq!(
        report.result["ok"], IDENTIFYING,
        "the skill gets the values back"
    );
    let seen = model.requests()[0]["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        seen,
        "IP_1 resolved DOMAIN_1, then logged on to host HOST_1 as CORP\\USER_1 on port 445"
    );
    let trail = host.audit().recent(20, None).expect("audit");
    let anonymized = trail
        .iter()
        .find(|r| r.action == "llm.anonymize")
        .expect("recorded that it happened");
    assert_eq!(anonymized.outcome, "masked");
    let text = serde_json::to_string(&trail).expect("JSON");
    assert!(
        !text.contains("10.0.0.5") && !text.contains("alice") && !text.contains("IP_1"),
        "never the mapping: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymization_follows_the_config_and_the_skills_request() {
    let model = echo_model().await;
    // `off`: even a remote model sees the values.
    let base_url = model.base_url.clone();
    let (_install, host) = probe_host("  llm: true\n", move |config| {
        config.llm.provider = sc_core::config::LlmProvider::Openai;
        config.llm.openai.base_url = base_url;
        config.llm.anonymize = sc_core::anonymize::AnonymizeMode::Off;
    });
    probe(&host, json!({"capability": "llm", "prompt": IDENTIFYING})).await;
    assert!(
        model.requests()[0].to_string().contains("10.0.0.5"),
        "off means off"
    );
    // A skill that asks gets it on any provider.
    let install = Install::with(&[]);
    install.add_custom(
        "probe",
        "probe",
        "anonymize_prompts: true\ngrants:\n  llm: true\n",
    );
    let mut config = install.config();
    config.llm.provider = sc_core::config::LlmProvider::Openai;
    config.llm.openai.base_url = model.base_url.clone();
    config.llm.anonymize = sc_core::anonymize::AnonymizeMode::Auto;
    let host = install.host_with(config);
    let report = probe(&host, json!({"capability": "llm", "prompt": IDENTIFYING})).await;
    assert_eq!(report.result["ok"], IDENTIFYING);
    assert!(
        model.requests()[1].to_string().contains("IP_1"),
        "{}",
        model.requests()[1]
    );
}
