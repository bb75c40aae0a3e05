//! The mock host itself: it behaves like the host where a skill would
//! notice (memory, refusals, shapes of answers), and it records calls.

use serde_json::{Value, json};

use super::{Function, MockHost};
use crate::{CapabilityError, Invocation, Outcome, Skill, SkillError, Status, Trigger, db, memory};

/// Counts its runs in memory and the documents of an index.
struct Counter;

impl Skill for Counter {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let index: String = invocation
            .param("index")?
            .unwrap_or_else(|| "logs-*".into());
        let runs = memory::get::<u64>("counter.runs")?.unwrap_or(0) + 1;
        memory::set("counter.runs", &runs)?;
        let documents = db::count(&index, None)?;
        memory::append(
            memory::EntryList::Findings,
            &format!("{documents} documents"),
            None,
        )?;
        Ok(Outcome::ok(
            format!("run {runs}: {documents} documents in {index}"),
            json!({ "runs": runs, "documents": documents, "now": invocation.now.to_rfc3339() }),
        ))
    }
}

#[test]
fn a_skill_runs_against_canned_answers_and_its_calls_are_recorded() {
    let host = MockHost::new()
        .memory("counter.runs", 2)
        .on_db_count(|pattern, _| Ok(if pattern == "zeek-*" { 7 } else { 0 }));
    let run = host
        .run::<Counter>(Invocation::new(
            Trigger::Dispatch,
            json!({ "index": "zeek-*" }),
        ))
        .expect("runs");
    assert_eq!(run.status, Status::Ok);
    assert_eq!(run.summary, "run 3: 7 documents in zeek-*");
    assert_eq!(run.result["now"], "2026-01-01T00:00:00.000Z");
    assert_eq!(host.memory_value("counter.runs"), Some(json!(3)));
    let counts = host.calls_to(Function::DbCount);
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].args["index-pattern"], "zeek-*");
    let findings = host.entries(&memory::EntryList::Findings);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].text, "7 documents");
}

#[test]
fn a_capability_without_an_answer_is_not_configured_and_names_the_fix() {
    let host = MockHost::new();
    let err = host
        .run::<Counter>(Invocation::new(Trigger::Dispatch, json!({})))
        .expect_err("no db answer");
    match err {
        SkillError::Capability(CapabilityError::NotConfigured(m)) => {
            assert!(m.contains("db.count") && m.contains("on_db_count"), "{m}");
        }
        other => panic!("expected not-configured, got {other:?}"),
    }
}

/// Reads a search and reports its hits.
struct Searcher;

impl Skill for Searcher {
    fn run(_: Invocation) -> Result<Outcome, SkillError> {
        let found = db::search::<Value>("logs-*", &json!({ "query": { "match_all": {} } }))?;
        Ok(Outcome::ok(format!("{} hits", found.total), json!(null)))
    }
}

#[test]
fn an_answer_of_the_wrong_shape_is_a_backend_error_not_invalid_input() {
    let host = MockHost::new().on_db_search(|_, _| Ok(json!({ "hits": "not a list" })));
    let err = host
        .run::<Searcher>(Invocation::new(Trigger::Dispatch, json!({})))
        .expect_err("wrong shape");
    assert!(
        matches!(err, SkillError::Capability(CapabilityError::Backend(_))),
        "{err:?}"
    );
}

/// Returns a map with non-string keys, which JSON cannot hold.
struct Unserializable;

impl Skill for Unserializable {
    fn run(_: Invocation) -> Result<Outcome, SkillError> {
        let mut map = std::collections::BTreeMap::new();
        map.insert((1, 2), "pair keys do not serialize");
        Ok(Outcome::ok("done", map))
    }
}

#[test]
fn a_result_that_does_not_serialize_is_an_error_never_a_success() {
    let err = MockHost::new()
        .run::<Unserializable>(Invocation::new(Trigger::Dispatch, json!({})))
        .expect_err("must fail");
    match err {
        SkillError::Failed(m) => assert!(m.contains("could not be serialized"), "{m}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn parameters_that_do_not_fit_are_the_skills_invalid_input() {
    let err = MockHost::new()
        .on_db_count(|_, _| Ok(0))
        .run::<Counter>(Invocation::new(Trigger::Dispatch, json!({ "index": 5 })))
        .expect_err("index must be a string");
    assert!(matches!(err, SkillError::InvalidInput(_)), "{err:?}");
}
