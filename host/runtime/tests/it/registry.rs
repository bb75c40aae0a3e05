//! Loading skills: broken ones are recorded, not fatal; the compiled-
//! component cache is used, and rebuilt when corrupt.

use sc_core::run::{RunStatus, Trigger};
use sc_runtime::DispatchError;
use sc_runtime::cache::CacheOutcome;
use serde_json::json;

use sc_testkit::{Install, dispatch};

fn failure(host: &sc_runtime::SkillHost, id: &str) -> String {
    let entry = host
        .skill(id)
        .unwrap_or_else(|| panic!("{id} is not in the registry"));
    assert!(!entry.is_ready(), "{id} should have failed to load");
    entry.error.map(|e| e.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn a_broken_skill_does_not_stop_the_others() {
    let install = Install::with(&["hello_world"]);
    let broken = install.skills_dir().join("broken");
    std::fs::create_dir_all(&broken).expect("dir");
    std::fs::write(
        broken.join("instruction.md"),
        "---\nskill_id: broken\ndisplay_name: Broken\nversion: 0.1.0\ndescription: x\ngrants:\n  db:\n    read: logs\n---\n",
    )
    .expect("manifest");
    std::fs::copy(
        install.skills_dir().join("hello_world/skill.wasm"),
        broken.join("skill.wasm"),
    )
    .expect("wasm");

    let host = install.host();
    let error = failure(&host, "broken");
    assert!(error.contains("broken/instruction.md"), "{error}");
    assert!(error.contains("`grants.db.read`"), "{error}");
    let report = dispatch(&host, "hello_world", json!({})).await;
    assert_eq!(report.status, RunStatus::Ok);
    let refused = host.dispatch("broken", Trigger::Dispatch, json!({})).await;
    assert!(
        matches!(refused, Err(DispatchError::NotLoaded { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn invalid_component_files_are_explained() {
    let install = Install::with(&["hello_world"]);
    let manifest = std::fs::read_to_string(install.skills_dir().join("hello_world/instruction.md"))
        .expect("read");
    let wasm = std::fs::read(install.skills_dir().join("hello_world/skill.wasm")).expect("read");
    let cases: [(&str, Vec<u8>); 3] = [
        ("core_module", b"\0asm\x01\0\0\0".to_vec()),
        ("half_written", wasm[..wasm.len() / 2].to_vec()),
        ("not_wasm", b"#!/bin/sh\necho hi\n".to_vec()),
    ];
    for (id, bytes) in &cases {
        let dir = install.skills_dir().join(id);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("skill.wasm"), bytes).expect("wasm");
        std::fs::write(
            dir.join("instruction.md"),
            manifest.replace("hello_world", id),
        )
        .expect("manifest");
    }
    let host = install.host();
    assert!(failure(&host, "core_module").contains("core WebAssembly module, not a component"));
    assert!(failure(&host, "half_written").contains("not a valid component"));
    assert!(failure(&host, "not_wasm").contains("not a WebAssembly file"));
    assert!(host.skill("hello_world").is_some_and(|e| e.is_ready()));
}

#[tokio::test]
async fn folder_name_must_match_skill_id() {
    let install = Install::with(&[]);
    let dir = install.skills_dir().join("renamed");
    std::fs::create_dir_all(&dir).expect("dir");
    let source = sc_testkit::built_skill("hello_world");
    std::fs::copy(source.join("skill.wasm"), dir.join("skill.wasm")).expect("copy");
    std::fs::copy(source.join("instruction.md"), dir.join("instruction.md")).expect("copy");
    let host = install.host();
    assert!(failure(&host, "renamed").contains("does not match its folder `renamed`"));
}

fn cache_outcome(host: &sc_runtime::SkillHost, id: &str) -> CacheOutcome {
    host.skill(id)
        .and_then(|e| e.current)
        .map(|s| s.cache)
        .expect("loaded")
}

#[tokio::test]
async fn compiled_components_are_cached_and_corrupt_entries_rebuilt() {
    let install = Install::with(&["hello_world"]);
    assert_eq!(
        cache_outcome(&install.host(), "hello_world"),
        CacheOutcome::Compiled
    );
    assert_eq!(
        cache_outcome(&install.host(), "hello_world"),
        CacheOutcome::Hit
    );

    let cache_dir = install.data_dir().join("cache/components");
    let entries: Vec<_> = std::fs::read_dir(&cache_dir)
        .expect("cache dir")
        .flatten()
        .collect();
    assert_eq!(entries.len(), 1, "one entry per component");
    let entry = entries[0].path();
    let mut bytes = std::fs::read(&entry).expect("entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).expect("corrupt");

    let host = install.host();
    assert_eq!(cache_outcome(&host, "hello_world"), CacheOutcome::Rebuilt);
    assert_eq!(
        dispatch(&host, "hello_world", json!({})).await.status,
        RunStatus::Ok
    );
    assert_eq!(
        cache_outcome(&install.host(), "hello_world"),
        CacheOutcome::Hit
    );
}

#[tokio::test]
async fn hello_world_remembers_its_runs_across_restarts() {
    let install = Install::with(&["hello_world"]);
    let first = dispatch(&install.host(), "hello_world", json!({ "name": "analyst" })).await;
    assert_eq!(first.status, RunStatus::Ok, "{first:#?}");
    assert_eq!(first.summary, "hello, analyst (run 1)");
    // The embedded store is the default: no logs ingested, zero matches.
    assert_eq!(
        first.result["db"],
        json!({"available": true, "answer": 0}),
        "{first:#?}"
    );
    let llm_reason = first.result["llm"]["reason"].as_str().unwrap_or_default();
    assert!(llm_reason.contains("llm.provider"), "{llm_reason}");

    let second = dispatch(&install.host(), "hello_world", json!({})).await;
    assert_eq!(second.result["runs"], json!(2));
    assert_eq!(second.result["trigger"], json!("dispatch"));
}

#[tokio::test]
async fn disabled_and_unknown_skills_are_refused() {
    let install = Install::with(&["hello_world"]);
    let mut config = install.config();
    config.skills.disabled = vec!["hello_world".to_owned()];
    let host = install.host_with(config);
    let disabled = host
        .dispatch("hello_world", Trigger::Dispatch, json!({}))
        .await;
    assert!(matches!(disabled, Err(DispatchError::Disabled(_))));
    let unknown = host.dispatch("nope", Trigger::Dispatch, json!({})).await;
    let message = unknown.expect_err("unknown").to_string();
    assert!(message.contains("installed: hello_world"), "{message}");
}
