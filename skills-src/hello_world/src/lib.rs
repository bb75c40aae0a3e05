//! Example skill: greets, counts its runs in shared memory, and checks
//! whether the telemetry store and the model answer.

use securityclaw_sdk::llm::{ChatOptions, Message};
use securityclaw_sdk::{Invocation, Outcome, Skill, SkillError, db, describe, export_skill, llm, log, memory};
use serde_json::{Value, json};

struct HelloWorld;

/// What a capability call gave: its answer, or why there is none.
fn probe<T: Into<Value>>(result: securityclaw_sdk::Result<T>) -> Value {
    match result {
        Ok(value) => json!({ "available": true, "answer": value.into() }),
        Err(err) => json!({ "available": false, "reason": describe(&err) }),
    }
}

impl Skill for HelloWorld {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let name: String = invocation.param("name")?.unwrap_or_else(|| "world".to_owned());
        log::write(log::Level::Info, "greeting", &[("name", &name)]);

        let runs = memory::get::<u64>("hello_world.runs")?.unwrap_or(0) + 1;
        memory::set("hello_world.runs", &runs)?;

        let db = probe(db::count("logstash-*", None));
        let model = probe(
            llm::chat(
                &[Message::user(format!("Greet {} in five words.", llm::data_block("name", &name)))],
                &ChatOptions {
                    max_tokens: Some(32),
                    ..ChatOptions::default()
                },
            )
            .map(|reply| reply.content),
        );
        Ok(Outcome::ok(
            format!("hello, {name} (run {runs})"),
            json!({
                "greeting": format!("hello, {name}"),
                "runs": runs,
                "trigger": invocation.trigger_name(),
                "db": db,
                "llm": model,
            }),
        ))
    }
}

export_skill!(HelloWorld);
