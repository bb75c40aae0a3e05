//! Hot reload end to end: the real file watcher, real components.

use std::sync::Arc;
use std::time::Duration;

use sc_core::run::{RunStatus, Trigger};
use sc_runtime::{DispatchError, SkillHost, reload};
use serde_json::json;
use tokio::sync::watch;

use sc_testkit::{Install, built_skill};

struct Watched {
    host: Arc<SkillHost>,
    changes: watch::Receiver<u64>,
    _stop: watch::Sender<bool>,
}

fn watch_host(install: &Install) -> Watched {
    let mut config = install.config();
    config.reload.debounce_ms = 50;
    let host = install.host_with(config);
    let changes = host.subscribe();
    let (stop, stop_rx) = watch::channel(false);
    reload::spawn(host.clone(), stop_rx).expect("watcher");
    Watched {
        host,
        changes,
        _stop: stop,
    }
}

impl Watched {
    /// Waits for the registry to change (a load, a rejection or a removal).
    async fn changed(&mut self) {
        tokio::time::timeout(Duration::from_secs(30), self.changes.changed())
            .await
            .expect("the registry should change")
            .expect("host alive");
    }
}

/// Writes a file the way a careless copy would: in place, not renamed.
fn write_in_place(path: &std::path::Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
}

fn wasm_of(id: &str) -> Vec<u8> {
    std::fs::read(built_skill(id).join("skill.wasm")).expect("built wasm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_component_serves_new_calls_while_the_old_call_finishes() {
    let install = Install::with(&[]);
    install.add_custom("slow", "worker", "limits:\n  timeout_ms: 20000\n");
    let mut watched = watch_host(&install);
    let host = watched.host.clone();
    let long_call = tokio::spawn(async move {
        host.dispatch("worker", Trigger::Dispatch, json!({ "ms": 1500 }))
            .await
    });
    while watched.host.running("worker") == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    write_in_place(
        &install.skills_dir().join("worker/skill.wasm"),
        &wasm_of("noop"),
    );
    watched.changed().await;

    let next = watched
        .host
        .dispatch("worker", Trigger::Dispatch, json!({}))
        .await
        .expect("dispatch");
    assert_eq!(
        next.status,
        RunStatus::NoData,
        "the new version answers new calls"
    );
    let old = long_call.await.expect("join").expect("dispatch");
    assert_eq!(
        old.status,
        RunStatus::Ok,
        "the call in flight finished on the old version"
    );
    assert_eq!(old.result["version"], "slow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_component_is_rejected_and_the_old_version_keeps_serving() {
    let install = Install::with(&["noop"]);
    let mut watched = watch_host(&install);
    write_in_place(
        &install.skills_dir().join("noop/skill.wasm"),
        b"\0asm\x0d\0\x01\0garbage",
    );
    watched.changed().await;
    let entry = watched.host.skill("noop").expect("entry");
    assert!(entry.is_ready(), "still serving");
    assert!(
        entry
            .error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
            .contains("not a valid component"),
        "{:?}",
        entry.error
    );
    let report = watched
        .host
        .dispatch("noop", Trigger::Dispatch, json!({}))
        .await
        .expect("dispatch");
    assert_eq!(report.status, RunStatus::NoData);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_written_file_is_refused_until_it_is_complete() {
    let install = Install::with(&["noop"]);
    let mut watched = watch_host(&install);
    let old_sha = watched
        .host
        .skill("noop")
        .and_then(|e| e.current)
        .map(|s| s.sha256.clone());
    let full = wasm_of("slow");
    write_in_place(
        &install.skills_dir().join("noop/skill.wasm"),
        &full[..full.len() / 2],
    );
    watched.changed().await;
    let entry = watched.host.skill("noop").expect("entry");
    assert!(entry.error.is_some(), "half a component is rejected");
    assert_eq!(
        entry.current.map(|s| s.sha256.clone()),
        old_sha,
        "old version serves"
    );

    write_in_place(&install.skills_dir().join("noop/skill.wasm"), &full);
    watched.changed().await;
    let entry = watched.host.skill("noop").expect("entry");
    assert!(entry.error.is_none(), "{:?}", entry.error);
    let report = watched
        .host
        .dispatch("noop", Trigger::Dispatch, json!({ "ms": 1 }))
        .await
        .expect("dispatch");
    assert_eq!(
        report.status,
        RunStatus::Ok,
        "the completed file now serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_removed_folders_load_and_unload() {
    let install = Install::with(&[]);
    let mut watched = watch_host(&install);
    install.add("noop");
    watched.changed().await;
    while !watched.host.skill("noop").is_some_and(|e| e.is_ready()) {
        watched.changed().await;
    }
    std::fs::remove_dir_all(install.skills_dir().join("noop")).expect("remove");
    watched.changed().await;
    let refused = watched
        .host
        .dispatch("noop", Trigger::Dispatch, json!({}))
        .await;
    assert!(
        matches!(refused, Err(DispatchError::Unknown { .. })),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_change_alone_reloads_the_skill() {
    let install = Install::with(&[]);
    install.add_custom("noop", "ticker", "");
    let mut watched = watch_host(&install);
    install.add_custom("noop", "ticker", "schedule:\n  interval_seconds: 30\n");
    watched.changed().await;
    let entry = watched.host.skill("ticker").expect("entry");
    let schedule = entry.current.and_then(|s| s.manifest.schedule.clone());
    assert_eq!(schedule.map(|s| s.describe()).as_deref(), Some("every 30s"));
}

#[tokio::test]
async fn a_pinned_skill_refuses_any_other_component() {
    let install = Install::with(&["noop"]);
    let noop_sha = sc_runtime::cache::sha256_hex(&wasm_of("noop"));
    let mut config = install.config();
    config.skills.pins.insert("noop".to_owned(), noop_sha);
    let host = install.host_with(config);
    assert!(
        host.skill("noop").is_some_and(|e| e.is_ready()),
        "the pinned file loads"
    );

    write_in_place(
        &install.skills_dir().join("noop/skill.wasm"),
        &wasm_of("slow"),
    );
    let outcome = host.reload_folder("noop");
    let sc_runtime::ReloadOutcome::Rejected(error) = outcome else {
        panic!("a different component must be refused: {outcome:?}");
    };
    assert!(
        matches!(error, sc_runtime::LoadError::PinMismatch { .. }),
        "a pin mismatch, typed: {error:?}"
    );
    let reason = error.to_string();
    assert!(reason.contains("is not the pinned"), "{reason}");
    assert!(reason.contains("skills.pins.noop"), "{reason}");
    let report = host
        .dispatch("noop", Trigger::Dispatch, json!({}))
        .await
        .expect("dispatch");
    assert_eq!(
        report.status,
        RunStatus::NoData,
        "the pinned version keeps serving"
    );
}
