//! The skill on the mock host: parameters, a question read without a
//! model, a model's plan repaired once, and a DSL passed through.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Value, json};

use securityclaw_sdk::testing::MockHost;
use securityclaw_sdk::{Invocation, SkillError, Status, Timestamp, Trigger};

use super::*;

const NOW: i64 = 1_764_590_400_000; // 2025-12-01T12:00:00Z

fn mock(searches: Rc<RefCell<Vec<(String, Value)>>>) -> MockHost {
    MockHost::new()
        .memory(
            "detection.catalog",
            json!({"generated_at": "x", "run_id": "y", "sources": [
                {"indices": ["logs-zeek-conn"], "kind": "flow", "documents": 10,
                 "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "destination_ip": "destination.ip", "destination_port": "destination.port"}},
                {"indices": ["logs-zeek-dns"], "kind": "dns", "documents": 10,
                 "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "domain": "dns.question.name"}}]}),
        )
        .on_db_field_mappings(|_| {
            Ok(json!({
                "logs-zeek-conn": {"mappings": {"properties": {"@timestamp": {"type": "date"}, "source": {"properties": {"ip": {"type": "ip"}}},
                    "destination": {"properties": {"ip": {"type": "ip"}, "port": {"type": "long"}}}, "zeek": {"properties": {"conn": {"properties": {"conn_state": {"type": "keyword"}}}}}}}},
                "logs-zeek-dns": {"mappings": {"properties": {"@timestamp": {"type": "date"}, "dns": {"properties": {"question": {"properties": {"name": {"type": "keyword"}}}}}}}}
            }))
        })
        .on_db_search(move |index, body| {
            searches.borrow_mut().push((index.to_owned(), body.clone()));
            Ok(json!({"hits": {"total": {"value": 2, "relation": "eq"}, "hits": [
                {"_index": index, "_id": "a", "_source": {"source": {"ip": "10.0.0.50"}}},
                {"_index": index, "_id": "b", "_source": {"source": {"ip": "10.0.0.51"}}}]},
                "aggregations": {"by": {"buckets": [{"key": "10.0.0.50", "doc_count": 2}]}}}))
        })
}

fn run(mock: &MockHost, params: Value) -> Result<securityclaw_sdk::testing::Run, SkillError> {
    mock.run::<OpensearchQuerier>(
        Invocation::new(Trigger::Dispatch, params).at(Timestamp::from_epoch_millis(NOW)),
    )
}

#[test]
fn parameters_compile_to_the_dsl_that_is_returned() {
    let searches = Rc::new(RefCell::new(Vec::new()));
    let m = mock(searches.clone());
    let run = run(
        &m,
        json!({"ip": "203.0.113.77", "port": 22, "kind": "flow", "size": 20}),
    )
    .expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    assert_eq!(run.result["planner"], "parameters");
    let ran = searches.borrow();
    assert_eq!(ran.len(), 1, "only the flow group has ports");
    assert_eq!(ran[0].0, "logs-zeek-conn");
    assert_eq!(
        run.result["searches"][0]["dsl"], ran[0].1,
        "the exact DSL that ran"
    );
    let dsl = ran[0].1.to_string();
    assert!(
        dsl.contains(r#"{"terms":{"destination.port":[22]}}"#) && dsl.contains("203.0.113.77"),
        "{dsl}"
    );
    assert_eq!(run.result["total"], 2);
    assert_eq!(run.result["searches"][0]["hits"][0]["id"], "a");
}

#[test]
fn without_a_model_the_questions_words_make_the_plan() {
    let searches = Rc::new(RefCell::new(Vec::new()));
    let m = mock(searches.clone());
    let run = run(
        &m,
        json!({"question": "What did 10.0.0.5 resolve yesterday?", "size": 20}),
    )
    .expect("runs");
    assert_eq!(run.result["planner"], "words");
    assert_eq!(run.result["plan"]["kind"], "dns");
    assert_eq!(run.result["plan"]["from"], "2025-11-30T00:00:00.000Z");
    assert_eq!(searches.borrow()[0].0, "logs-zeek-dns");
}

#[test]
fn a_plan_naming_an_unknown_field_is_repaired_once() {
    let searches = Rc::new(RefCell::new(Vec::new()));
    let prompts = Rc::new(RefCell::new(Vec::new()));
    let seen = prompts.clone();
    let answers = RefCell::new(vec![
        json!({"kind": "flow", "ips": ["10.0.0.50"], "filters": [{"field": "conn.state", "value": "S0"}]}),
        json!({"kind": "flow", "ips": ["10.0.0.50"], "filters": [{"field": "zeek.conn.conn_state", "value": "S0"}], "group_by": "destination_port", "top": 5}),
    ]);
    let m = mock(searches.clone()).on_llm_chat(move |messages, _| {
        seen.borrow_mut().push(
            messages
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default(),
        );
        Ok(answers.borrow_mut().remove(0).to_string())
    });
    let run = run(
        &m,
        json!({"question": "failed connections from 10.0.0.50, by port", "size": 20}),
    )
    .expect("runs");
    assert_eq!(run.result["planner"], "model (repaired)", "{}", run.result);
    assert!(
        prompts.borrow()[1].contains("`conn.state` is in no mapped index"),
        "{:?}",
        prompts.borrow()
    );
    let dsl = searches.borrow()[0].1.to_string();
    assert!(
        dsl.contains(r#"{"term":{"zeek.conn.conn_state":"S0"}}"#)
            && dsl.contains(r#""field":"destination.port""#),
        "{dsl}"
    );
}

#[test]
fn a_dsl_runs_as_given_and_an_empty_request_is_refused() {
    let searches = Rc::new(RefCell::new(Vec::new()));
    let m = mock(searches.clone());
    let run = run(&m, json!({"query_dsl": {"term": {"source.ip": "10.0.0.50"}}, "index": "logs-zeek-conn", "size": 5})).expect("runs");
    assert_eq!(run.result["planner"], "query_dsl");
    assert_eq!(
        searches.borrow()[0].1,
        json!({"query": {"term": {"source.ip": "10.0.0.50"}}, "size": 5})
    );
    let refused = super::tests::run(&m, json!({"size": 20}));
    assert!(matches!(refused, Err(SkillError::InvalidInput(m)) if m.contains("give a `question`")));
}
