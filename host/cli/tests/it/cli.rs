//! The `sc-host` binary as a user runs it: output and exit codes.

use std::process::{Command, Output};

use sc_testkit::Install;

use crate::support::free_port;

fn sc_host(install: &Install, args: &[&str]) -> Output {
    let config = install.dir.path().join("config.yaml");
    if !config.exists() {
        install.write_config("");
    }
    Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env_remove("SC_SKILLS_DIR")
        .env_remove("SC_DATA_DIR")
        .env("NO_COLOR", "1")
        .output()
        .expect("run sc-host")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn add_broken(install: &Install) {
    let dir = install.skills_dir().join("broken");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("instruction.md"),
        "---\nskill_id: broken\ndisplay_name: Broken\nversion: 1\ndescription: x\n---\n",
    )
    .expect("manifest");
}

#[test]
fn list_skills_shows_ready_and_broken_skills() {
    let install = Install::with(&["hello_world", "noop"]);
    add_broken(&install);
    let output = sc_host(&install, &["list-skills"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let root = install.dir.path().display().to_string();
    insta::with_settings!({ filters => vec![(root.as_str(), "[TMP]")] }, {
        insta::assert_snapshot!(stdout(&output));
    });
}

#[test]
fn list_skills_json_is_machine_readable() {
    let install = Install::with(&["hello_world"]);
    add_broken(&install);
    let output = sc_host(&install, &["list-skills", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(rows[0]["skill_id"], "broken");
    assert_eq!(rows[0]["status"], "error");
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("`version`")
    );
    assert_eq!(rows[1]["skill_id"], "hello_world");
    assert_eq!(rows[1]["status"], "ready");
    assert_eq!(
        rows[1]["grants"],
        "db.read[logstash-*] llm memory[hello_world.*]"
    );
    assert_eq!(
        rows[1]["parameters"]["properties"]["name"]["default"], "world",
        "the manifest's parameters schema is listed"
    );
}

/// A skill switched off through the API (the service records it in
/// `state.db`) is listed as disabled, not ready.
#[test]
fn list_skills_shows_a_skill_switched_off_through_the_api_as_disabled() {
    let install = Install::with(&["hello_world", "noop"]);
    let history =
        sc_state::history::History::open(&install.data_dir().join("state.db")).expect("state");
    history.set_switch("noop", false).expect("switch off");
    let listing = stdout(&sc_host(&install, &["list-skills"]));
    let row = |id: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(row("noop").ends_with("disabled"), "{listing}");
    assert!(row("hello_world").ends_with("ready"), "{listing}");
    history.set_switch("noop", true).expect("switch on");
    let listing = stdout(&sc_host(&install, &["list-skills"]));
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("noop") && l.ends_with("ready")),
        "{listing}"
    );
}

/// `SC_SECRET_<NAME>` reaches a skill granted `NAME`, from inside the
/// component; a secret it was not granted is refused with the grant to
/// add; a granted one that is not set names the variable to export.
#[test]
fn a_granted_secret_reaches_the_skill_from_the_environment_and_nothing_else_does() {
    let install = Install::with(&[]);
    install.add_custom(
        "probe",
        "probe",
        "grants:\n  secrets: [FEED_KEY, UNSET_KEY]\n",
    );
    install.write_config("");
    let run = |name: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_sc-host"))
            .arg("--config")
            .arg(install.dir.path().join("config.yaml"))
            .args(["dispatch", "probe", "--params-json"])
            .arg(format!(
                "{{\"capability\": \"secret\", \"name\": \"{name}\"}}"
            ))
            .env("SC_SECRET_FEED_KEY", "s3cr3t-value")
            .env("SC_SECRET_OTHER_KEY", "not granted")
            .env_remove("SC_SECRET_UNSET_KEY")
            .output()
            .expect("run sc-host");
        let report: serde_json::Value = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|_| panic!("{}", stderr(&output)));
        report["result"].clone()
    };
    assert_eq!(run("FEED_KEY"), serde_json::json!({"ok": "s3cr3t-value"}));
    let denied = run("OTHER_KEY")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        denied.contains("add `OTHER_KEY` under `grants.secrets`"),
        "{denied}"
    );
    let unset = run("UNSET_KEY")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        unset.starts_with("not configured") && unset.contains("export SC_SECRET_UNSET_KEY"),
        "{unset}"
    );
}

#[test]
fn dispatch_prints_the_outcome_and_exits_by_status() {
    let install = Install::with(&["hello_world", "panics"]);
    let ok = sc_host(
        &install,
        &["dispatch", "hello_world", "--param", "name=soc"],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let report: serde_json::Value = serde_json::from_str(&stdout(&ok)).expect("json outcome");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["summary"], "hello, soc (run 1)");
    assert!(report["execution_time_ms"].as_f64().is_some());

    let failed = sc_host(&install, &["dispatch", "panics"]);
    assert_eq!(failed.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&failed)).expect("json outcome");
    assert_eq!(report["status"], "error");

    let unknown = sc_host(&install, &["dispatch", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no skill `nope`"),
        "{}",
        stderr(&unknown)
    );

    let bad_param = sc_host(&install, &["dispatch", "hello_world", "--param", "novalue"]);
    assert_eq!(bad_param.status.code(), Some(2));
    assert!(stderr(&bad_param).contains("key=value"));

    let bad_flag = sc_host(&install, &["dispatch"]);
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn validate_config_lists_every_problem_with_its_place() {
    let install = Install::with(&["hello_world"]);
    add_broken(&install);
    let output = sc_host(&install, &["validate-config"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("broken/instruction.md: `version`"), "{text}");
    assert!(
        text.contains("ok: ") && text.contains("hello_world/instruction.md"),
        "{text}"
    );
    assert!(text.contains("1 problem(s) found"), "{text}");

    std::fs::remove_dir_all(install.skills_dir().join("broken")).expect("remove");
    assert_eq!(
        sc_host(&install, &["validate-config"]).status.code(),
        Some(0)
    );

    install.write_config("limits:\n  timeout: 5\n");
    let output = sc_host(&install, &["validate-config"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("unknown field `timeout`"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn environment_overrides_the_config_file() {
    let install = Install::with(&["hello_world"]);
    install.write_config("");
    let empty = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(install.dir.path().join("config.yaml"))
        .arg("list-skills")
        .env("SC_SKILLS_DIR", empty.path())
        .output()
        .expect("run");
    assert!(output.status.success());
    assert_eq!(stdout(&output), "no skills installed\n");
}

#[test]
fn a_bad_config_value_names_the_key() {
    let install = Install::with(&[]);
    install.write_config("db:\n  provider: mongodb\n");
    let output = sc_host(&install, &["list-skills"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("`db.provider`") && err.contains("mongodb"),
        "{err}"
    );
}

/// A minimal HTTP/1.1 request over a real socket; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((status, body))
}

#[test]
fn service_refuses_a_public_bind_without_tokens() {
    let install = Install::with(&["noop"]);
    let output = sc_host(&install, &["service", "--bind", "0.0.0.0:7799"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("refusing to serve the API on 0.0.0.0:7799"),
        "{err}"
    );
    assert!(err.contains("api.auth.tokens"), "{err}");
}

#[test]
fn service_serves_then_stops_gracefully_on_sigterm() {
    let install = Install::with(&["hello_world"]);
    install.write_config("");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_sc-host"))
        .arg("--config")
        .arg(install.dir.path().join("config.yaml"))
        .args(["service", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start service");
    let mut ready = false;
    for _ in 0..600 {
        if matches!(http(port, "GET", "/healthz", None), Ok((200, _))) {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready, "the service never answered /healthz");
    let (status, body) = http(
        port,
        "POST",
        "/api/dispatch",
        Some(r#"{"skill":"hello_world"}"#),
    )
    .expect("dispatch");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("stopped"));

    // What the service did is in the audit trail, and the chain holds.
    let verify = sc_host(&install, &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("audit trail intact: 1 records"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn audit_verify_reports_the_first_broken_link() {
    let install = Install::with(&["noop"]);
    for _ in 0..3 {
        assert_eq!(
            sc_host(&install, &["dispatch", "noop"]).status.code(),
            Some(0)
        );
    }
    let db = install.data_dir().join("state.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'someone-else' WHERE id = 2;",
    )
    .expect("tamper");
    drop(conn);
    let output = sc_host(&install, &["audit", "verify"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("BROKEN at record 2"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn status_shows_the_memory_snapshot() {
    use sc_core::memory::{MemoryBackend as _, MemoryList};
    let install = Install::with(&[]);
    install.write_config("");
    {
        let config = install.config();
        let memory =
            sc_state::memory::SqliteMemory::open(&config.memory.path, config.memory.clone())
                .expect("memory");
        memory
            .append(
                MemoryList::Findings,
                "triage",
                "port scan from 10.0.0.9",
                None,
            )
            .expect("finding");
        memory
            .append(MemoryList::Escalations, "triage", "beaconing host", None)
            .expect("escalation");
        memory.set_focus(Some("10.0.0.9")).expect("focus");
    }
    let output = sc_host(&install, &["status"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("status:   IDLE"), "{text}");
    assert!(text.contains("focus:    10.0.0.9"), "{text}");
    assert!(text.contains("[triage] port scan from 10.0.0.9"), "{text}");
    assert!(text.contains("beaconing host (unread)"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&sc_host(&install, &["status", "--json"]))).expect("json");
    assert_eq!(json["findings"][0]["text"], "port scan from 10.0.0.9");
    assert_eq!(json["alerts"][0]["status"], "unread");
}

#[test]
fn rag_search_says_which_path_answered() {
    use sc_core::rag::{Document, RagBackend as _};
    let install = Install::with(&[]);
    install.write_config("llm:\n  provider: none\n");
    {
        let rag =
            sc_backends::rag_sqlite::SqliteRag::open(&install.data_dir().join("rag.db"), None, 0.3)
                .expect("rag");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(rag.store(
                "baseliner",
                vec![Document {
                    category: "network_baseline".into(),
                    entity: "10.0.0.5".into(),
                    window: None,
                    text: "10.0.0.5 resolves names through 10.0.0.53".into(),
                    source: "zeek dns".into(),
                    metadata: "{}".into(),
                    valid_until: None,
                }],
            ))
            .expect("store");
    }
    let output = sc_host(
        &install,
        &[
            "rag",
            "search",
            "10.0.0.53 resolves",
            "--category",
            "network_baseline",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("path: lexical (no embedding model available)"),
        "{text}"
    );
    assert!(text.contains("[network_baseline] 10.0.0.5"), "{text}");
}

#[test]
fn list_skills_shows_what_the_host_refused_while_the_files_are_unchanged() {
    let install = Install::with(&["hello_world"]);
    install.write_config("");
    let dir = install.skills_dir().join("truncated");
    std::fs::create_dir_all(&dir).expect("dir");
    let wasm = std::fs::read(install.skills_dir().join("hello_world/skill.wasm")).expect("wasm");
    // A component cut short keeps a valid preamble: only compiling it tells.
    std::fs::write(dir.join("skill.wasm"), &wasm[..wasm.len() / 2]).expect("write");
    let manifest = std::fs::read_to_string(install.skills_dir().join("hello_world/instruction.md"))
        .expect("read");
    std::fs::write(
        dir.join("instruction.md"),
        manifest.replace("hello_world", "truncated"),
    )
    .expect("manifest");
    assert!(
        stdout(&sc_host(&install, &["list-skills"])).contains("truncated    0.1.0"),
        "looks fine from the files alone"
    );

    // The host tries it (as a dispatch or the service would) and refuses it.
    assert_eq!(
        sc_host(&install, &["dispatch", "hello_world"])
            .status
            .code(),
        Some(0)
    );
    let listing = stdout(&sc_host(&install, &["list-skills"]));
    let line = listing
        .lines()
        .find(|l| l.starts_with("truncated"))
        .expect("row");
    assert!(
        line.contains("error: refused by the host:") && line.contains("not a valid component"),
        "{line}"
    );

    // Fixed files clear it.
    std::fs::write(dir.join("skill.wasm"), &wasm).expect("write");
    // (It runs under another id than hello_world's grants name; loading is what counts.)
    let rerun = sc_host(&install, &["dispatch", "truncated"]);
    assert!(
        stdout(&rerun).contains("\"skill\": \"truncated\""),
        "{}",
        stderr(&rerun)
    );
    let listing = stdout(&sc_host(&install, &["list-skills"]));
    let line = listing
        .lines()
        .find(|l| l.starts_with("truncated"))
        .expect("row");
    assert!(line.ends_with("ready"), "{line}");
}
