//! `baseline_querier`: what is normal for an address. Its stored baselines
//! (from `network_baseliner`, through `rag`), each with its provenance and
//! age, and a small query of its recent traffic to set beside them. No
//! baseline covering the address is said plainly, never filled in.

use serde::Deserialize;
use serde_json::{Value, json};

use sc_detection::{DataKind, Role, Settings, discover, observe, step};
use sc_evidence::{ClaimKind, claims};
use securityclaw_sdk::{Invocation, Outcome, Skill, SkillError, Timestamp, db, export_skill, rag};

const CATEGORIES: [&str; 4] = [
    "network_behavior_baseline",
    "protocol_port_baseline",
    "ip_communication_baseline",
    "dns_baseline",
];

#[derive(Deserialize)]
struct Params {
    entity: Option<String>,
    recent_hours: u64,
}

/// The address asked about: the parameter, else the first in the question.
fn entity(invocation: &Invocation, params: &Params) -> Result<String, SkillError> {
    if let Some(entity) = &params.entity {
        return entity
            .trim()
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_string())
            .map_err(|_| SkillError::InvalidInput(format!("`{entity}` is not an IP address")));
    }
    invocation
        .chat
        .as_ref()
        .and_then(|c| {
            claims(&c.question)
                .into_iter()
                .find(|c| c.kind == ClaimKind::Ip)
        })
        .map(|c| c.value)
        .ok_or_else(|| {
            SkillError::InvalidInput("name the address: `entity` (an IP address)".to_owned())
        })
}

/// Hours from the end of a baseline's window to `now`.
fn age_hours(provenance: &Value, now: Timestamp) -> Option<f64> {
    let end = provenance
        .pointer("/window/end")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_rfc3339)?;
    Some(((now.epoch_millis() - end.epoch_millis()) as f64 / 3_600_000.0 * 10.0).round() / 10.0)
}

/// The address's connections over the last hours, from every flow group.
fn recent(entity: &str, hours: u64, now: Timestamp, run_id: &str) -> Result<Value, SkillError> {
    let settings = Settings::load()?;
    let catalog = discover::load_or_discover(&settings.index_pattern(), run_id, &now.to_rfc3339())?;
    let start = now.minus(std::time::Duration::from_secs(hours * 3600));
    let mut groups = Vec::new();
    for source in catalog.of(DataKind::Flow) {
        let (Some(src), Some(dst)) = (
            source.field(Role::SourceIp),
            source.field(Role::DestinationIp),
        ) else {
            continue;
        };
        let query = json!({"bool": {"filter": [observe::window(source, start, now), {"term": {src: entity}}]}});
        let mut aggs = json!({"peers": {"cardinality": {"field": dst}}});
        if let Some(port) = source.field(Role::DestinationPort) {
            aggs["ports"] = json!({"terms": {"field": port, "size": 5}});
        }
        let body = json!({"size": 0, "track_total_hits": true, "query": query, "aggs": aggs});
        let text = step(
            "counting recent connections",
            db::search_raw(&source.pattern(), &body),
        )?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let connections = answer
            .pointer("/hits/total/value")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        groups.push(json!({
            "index": source.pattern(), "dsl": body, "connections": connections,
            "connections_per_hour": (connections as f64 / hours as f64 * 10.0).round() / 10.0,
            "distinct_destinations": answer.pointer("/aggregations/peers/value"),
            "top_destination_ports": answer.pointer("/aggregations/ports/buckets").cloned().unwrap_or(json!([])),
        }));
    }
    Ok(json!({"from": start.to_rfc3339(), "to": now.to_rfc3339(), "groups": groups}))
}

struct BaselineQuerier;

impl Skill for BaselineQuerier {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let entity = entity(&invocation, &params)?;
        let mut baselines = Vec::new();
        for category in CATEGORIES {
            let found = step(
                &format!("retrieving {category}"),
                rag::retrieve(&entity, 10, Some(category)),
            )?;
            // Retrieval ranks by similarity: only this address's own
            // documents are its baseline.
            for hit in found.hits.into_iter().filter(|h| h.entity == entity) {
                let provenance: Value = serde_json::from_str(&hit.metadata).unwrap_or(Value::Null);
                baselines.push(json!({
                    "category": hit.category, "text": hit.text, "source": hit.source, "id": hit.id,
                    "window": provenance.get("window"), "query": provenance.get("query"), "run_id": provenance.get("run_id"),
                    "age_hours": age_hours(&provenance, invocation.now), "stats": provenance.get("stats"),
                }));
            }
        }
        let recent = recent(
            &entity,
            params.recent_hours,
            invocation.now,
            &invocation.run_id,
        )?;
        let result = json!({"entity": entity, "baselines": baselines, "recent": recent});
        if baselines.is_empty() {
            return Ok(Outcome::no_data(format!(
                "no baseline covers {entity}: network_baseliner keeps one for each address with traffic in its window; its recent traffic is shown instead"
            ))
            .with(result));
        }
        let newest = baselines
            .iter()
            .filter_map(|b| b["age_hours"].as_f64())
            .reduce(f64::min);
        Ok(Outcome::ok(
            format!(
                "{} baseline(s) of {entity}{}",
                baselines.len(),
                newest
                    .map(|h| format!(", the newest {h} h old"))
                    .unwrap_or_default()
            ),
            result,
        ))
    }
}

export_skill!(BaselineQuerier);

#[cfg(test)]
mod tests {
    use securityclaw_sdk::rag::{Hit, Retrieval, RetrievalPath};
    use securityclaw_sdk::testing::MockHost;
    use securityclaw_sdk::{ChatContext, Status, Trigger};

    use super::*;

    const NOW: i64 = 1_764_590_400_000; // 2025-12-01T12:00:00Z

    fn mock(with_baseline: bool) -> MockHost {
        MockHost::new()
            .memory(
                "detection.catalog",
                json!({"generated_at": "x", "run_id": "y", "sources": [{"indices": ["logs-zeek-conn"], "kind": "flow", "documents": 10,
                    "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "destination_ip": "destination.ip", "destination_port": "destination.port"}}]}),
            )
            .on_rag_retrieve(move |query, _, category| {
                let mut hits = vec![Hit {
                    id: "other".into(), category: category.unwrap_or_default().into(), entity: "10.0.0.99".into(),
                    text: "another host".into(), source: "logs-*".into(), metadata: "{}".into(), score: 0.9,
                }];
                if with_baseline && category == Some("network_behavior_baseline") {
                    hits.push(Hit {
                        id: "b1".into(), category: "network_behavior_baseline".into(), entity: query.into(),
                        text: format!("{query}: 120 connections per hour to 14 destinations"), source: "logs-* via db aggregations".into(),
                        metadata: json!({"window": {"start": "2025-11-30T06:00:00.000Z", "end": "2025-12-01T06:00:00.000Z"}, "query": "terms per entity", "run_id": "r1", "stats": {"connections_per_hour": 120.0}}).to_string(),
                        score: 0.8,
                    });
                }
                Ok(Retrieval { path: RetrievalPath::Lexical, hits })
            })
            .on_db_search(|_, _| Ok(json!({"hits": {"total": {"value": 2400, "relation": "eq"}, "hits": []},
                "aggregations": {"peers": {"value": 15}, "ports": {"buckets": [{"key": 443, "doc_count": 2000}]}}})))
    }

    fn invocation(params: Value) -> Invocation {
        Invocation::new(Trigger::Dispatch, params).at(Timestamp::from_epoch_millis(NOW))
    }

    #[test]
    fn a_baseline_comes_with_its_provenance_age_and_recent_traffic() {
        let run = mock(true)
            .run::<BaselineQuerier>(invocation(
                json!({"entity": "10.0.0.5", "recent_hours": 24}),
            ))
            .expect("runs");
        assert_eq!(run.status, Status::Ok, "{}", run.summary);
        let baselines = run.result["baselines"].as_array().expect("baselines");
        assert_eq!(baselines.len(), 1, "only the address's own documents");
        assert_eq!(baselines[0]["age_hours"], 6.0);
        assert_eq!(baselines[0]["window"]["end"], "2025-12-01T06:00:00.000Z");
        assert_eq!(
            run.result["recent"]["groups"][0]["connections_per_hour"],
            100.0
        );
        assert!(run.summary.contains("6 h old"), "{}", run.summary);
    }

    #[test]
    fn no_baseline_is_said_plainly_and_the_question_names_the_address() {
        let mut invocation = invocation(json!({"recent_hours": 24}));
        invocation.trigger = Trigger::Chat;
        invocation.chat = Some(ChatContext {
            question: "What is normal for 10.0.0.7?".into(),
            conversation_id: "c".into(),
            prior_results: Vec::new(),
        });
        let run = mock(false)
            .run::<BaselineQuerier>(invocation)
            .expect("runs");
        assert_eq!(run.status, Status::NoData);
        assert!(
            run.summary.starts_with("no baseline covers 10.0.0.7"),
            "{}",
            run.summary
        );
        assert_eq!(run.result["baselines"], json!([]));
        assert_eq!(run.result["recent"]["groups"][0]["connections"], 2400);
    }

    #[test]
    fn a_missing_or_malformed_address_is_refused() {
        let refused = mock(true).run::<BaselineQuerier>(invocation(json!({"recent_hours": 24})));
        assert!(
            matches!(refused, Err(SkillError::InvalidInput(m)) if m.contains("name the address"))
        );
        let refused = mock(true)
            .run::<BaselineQuerier>(invocation(json!({"entity": "10.0.0", "recent_hours": 24})));
        assert!(
            matches!(refused, Err(SkillError::InvalidInput(m)) if m.contains("not an IP address"))
        );
    }
}
