//! Gathering the evidence about one entity: numbered items (`E1`, `E2`…),
//! each with the index and the exact query it came from, the ids of sample
//! documents, and the facts it found. Everything is read with `db`
//! aggregations over fields the catalog maps, so ECS, Zeek-native and
//! Suricata-native indices all work; the incident, its findings, the
//! entity's baselines and cached enrichment come along when they exist.

use serde::Serialize;
use serde_json::{Value, json};

use sc_detection::records::{FINDINGS_INDEX, Incident};
use sc_detection::{Catalog, DataKind, Role, SourceCatalog, observe, step};
use securityclaw_sdk::{SkillError, Timestamp, db, memory, rag};

use crate::mitre;

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// `E1`, `E2`, …: what a verdict cites.
    pub id: String,
    /// What it is, in a few words.
    pub what: String,
    /// Where it was read (`""` for memory and retrieval).
    pub index: String,
    /// The query or lookup that produced it.
    pub query: Value,
    /// Ids of documents it rests on (a sample where there are many).
    pub doc_ids: Vec<String>,
    /// What it found.
    pub facts: Value,
}

/// Everything gathered about one entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// The entity analysed.
    pub entity: String,
    /// The incident's window (or the requested one), epoch milliseconds.
    pub window: (i64, i64),
    /// The items, in order.
    pub items: Vec<Item>,
}

/// Aggregated counts of what the entity did, for the deterministic verdict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Connections the entity started in the window.
    pub flows_out: u64,
    /// Connections to the entity in the window.
    pub flows_in: u64,
    /// Of those it started, how many nothing answered.
    pub failed_out: u64,
    /// Distinct destinations it contacted.
    pub destinations: u64,
    /// IDS alerts involving it, with the highest (lowest-numbered) severity.
    pub alerts: u64,
    /// The most severe alert level (1 = high), if any.
    pub worst_alert: Option<i64>,
    /// Names of the alert rules that fired.
    pub alert_rules: Vec<String>,
    /// Failed and successful logons involving it.
    pub auth_failures: u64,
    /// Successful logons.
    pub auth_successes: u64,
    /// DNS lookups that found no name (NXDOMAIN).
    pub nxdomain: u64,
    /// A reputation verdict cached for it (`malicious`, `suspicious`,
    /// `clean`), if one is.
    pub reputation: Option<String>,
    /// Baselines found for it.
    pub baselines: u64,
    /// ATT&CK ids (tactics and techniques) the Sigma rules behind the
    /// incident's findings are tagged with.
    pub rule_attack: Vec<String>,
}

/// Sample documents per item.
const SAMPLES: u64 = 5;

fn buckets(answer: &Value, path: &str) -> Vec<Value> {
    answer
        .pointer(path)
        .and_then(Value::as_array)
        .map(|b| {
            b.iter()
                .map(|b| json!({"value": b["key"], "count": b["doc_count"]}))
                .collect()
        })
        .unwrap_or_default()
}

fn count(answer: &Value, path: &str) -> u64 {
    answer.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

impl Evidence {
    fn push(&mut self, what: &str, index: &str, query: Value, doc_ids: Vec<String>, facts: Value) {
        let id = format!("E{}", self.items.len() + 1);
        self.items.push(Item {
            id,
            what: what.to_owned(),
            index: index.to_owned(),
            query,
            doc_ids,
            facts,
        });
    }

    /// The facts of every item and the incident, as one JSON value for
    /// the evidence check.
    pub fn all_facts(&self) -> Value {
        json!({"entity": self.entity, "items": self.items})
    }
}

/// Ids (`index/id`) of the first documents a query matches.
fn samples(pattern: &str, query: &Value, sort_field: &str) -> Result<Vec<String>, SkillError> {
    let body =
        json!({"size": SAMPLES, "query": query, "_source": false, "sort": [{sort_field: "desc"}]});
    let text = step("reading sample documents", db::search_raw(pattern, &body))?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .map(|hits| {
            hits.iter()
                .filter_map(|h| Some(format!("{}/{}", h["_index"].as_str()?, h["_id"].as_str()?)))
                .collect()
        })
        .unwrap_or_default())
}

/// The entity as either endpoint of a group's documents.
fn involving(source: &SourceCatalog, ip: &str) -> Option<Value> {
    let fields: Vec<&str> = [Role::SourceIp, Role::DestinationIp]
        .into_iter()
        .filter_map(|r| source.field(r))
        .collect();
    (!fields.is_empty()).then(|| {
        json!({"bool": {"should": fields.iter().map(|f| json!({"term": {*f: ip}})).collect::<Vec<_>>(), "minimum_should_match": 1}})
    })
}

/// Terms aggregations of the roles a group has, `size` buckets each.
fn top(
    source: &SourceCatalog,
    roles: &[(&str, Role)],
    size: u32,
) -> serde_json::Map<String, Value> {
    roles
        .iter()
        .filter_map(|(name, role)| {
            source.field(*role).map(|f| {
                (
                    (*name).to_owned(),
                    json!({"terms": {"field": f, "size": size}}),
                )
            })
        })
        .collect()
}

/// Flows the entity started, and flows to it, over `[start, end)`.
fn flows(
    ev: &mut Evidence,
    signals: &mut Signals,
    source: &SourceCatalog,
    start: Timestamp,
    end: Timestamp,
) -> Result<(), SkillError> {
    let ts = source.field(Role::Timestamp).unwrap_or("@timestamp");
    let pattern = source.pattern();
    for (direction, role) in [("from", Role::SourceIp), ("to", Role::DestinationIp)] {
        let Some(field) = source.field(role) else {
            continue;
        };
        let query = json!({"bool": {"filter": [observe::window(source, start, end), {"term": {field: ev.entity}}]}});
        let mut aggs = top(
            source,
            &[
                (
                    "peers",
                    if role == Role::SourceIp {
                        Role::DestinationIp
                    } else {
                        Role::SourceIp
                    },
                ),
                ("ports", Role::DestinationPort),
                ("states", Role::ConnectionState),
                ("protocols", Role::Protocol),
            ],
            10,
        );
        aggs.insert(
            "failed".into(),
            json!({"filter": observe::unanswered(source)}),
        );
        if let Some(peer) = source.field(if role == Role::SourceIp {
            Role::DestinationIp
        } else {
            Role::SourceIp
        }) {
            aggs.insert(
                "distinct_peers".into(),
                json!({"cardinality": {"field": peer}}),
            );
        }
        if let Some(bytes) = source
            .field(Role::Bytes)
            .or_else(|| source.field(Role::SourceBytes))
        {
            aggs.insert("bytes".into(), json!({"sum": {"field": bytes}}));
        }
        let body = json!({"size": 0, "track_total_hits": true, "query": query, "aggs": aggs});
        let text = step(
            "reading the entity's flows",
            db::search_raw(&pattern, &body),
        )?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let total = answer
            .pointer("/hits/total/value")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if total == 0 {
            continue;
        }
        let failed = count(&answer, "/aggregations/failed/doc_count");
        let peers = answer
            .pointer("/aggregations/distinct_peers/value")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if role == Role::SourceIp {
            signals.flows_out += total;
            signals.failed_out += failed;
            signals.destinations += peers;
        } else {
            signals.flows_in += total;
        }
        let facts = json!({
            "connections": total,
            "unanswered": failed,
            "distinct_peers": peers,
            "top_peers": buckets(&answer, "/aggregations/peers/buckets"),
            "top_destination_ports": buckets(&answer, "/aggregations/ports/buckets"),
            "connection_states": buckets(&answer, "/aggregations/states/buckets"),
            "protocols": buckets(&answer, "/aggregations/protocols/buckets"),
            "bytes": answer.pointer("/aggregations/bytes/value"),
        });
        let ids = samples(&pattern, &query, ts)?;
        ev.push(
            &format!("connections {direction} {}", ev.entity.clone()),
            &pattern,
            body,
            ids,
            facts,
        );
    }
    Ok(())
}

/// IDS alerts, DNS lookups, logons and web requests involving the entity.
fn events(
    ev: &mut Evidence,
    signals: &mut Signals,
    source: &SourceCatalog,
    start: Timestamp,
    end: Timestamp,
) -> Result<(), SkillError> {
    let Some(involved) = involving(source, &ev.entity) else {
        return Ok(());
    };
    let (what, roles): (&str, Vec<(&str, Role)>) = match source.kind {
        DataKind::Alert => (
            "IDS alerts",
            vec![
                ("rules", Role::Rule),
                ("severities", Role::Severity),
                ("peers", Role::DestinationIp),
                ("sources", Role::SourceIp),
            ],
        ),
        DataKind::Dns => (
            "DNS lookups",
            vec![
                ("names", Role::Domain),
                ("response_codes", Role::DnsResponseCode),
            ],
        ),
        DataKind::Auth => (
            "logons",
            vec![
                ("users", Role::User),
                ("outcomes", Role::Outcome),
                ("sources", Role::SourceIp),
            ],
        ),
        DataKind::Http => (
            "web requests",
            vec![
                ("urls", Role::Url),
                ("user_agents", Role::UserAgent),
                ("hosts", Role::Domain),
            ],
        ),
        DataKind::Flow | DataKind::Other => return Ok(()),
    };
    let query = json!({"bool": {"filter": [observe::window(source, start, end), involved]}});
    let body = json!({"size": 0, "track_total_hits": true, "query": query, "aggs": top(source, &roles, 10)});
    let pattern = source.pattern();
    let text = step(
        &format!("reading the entity's {what}"),
        db::search_raw(&pattern, &body),
    )?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let total = answer
        .pointer("/hits/total/value")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if total == 0 {
        return Ok(());
    }
    let mut facts = serde_json::Map::new();
    facts.insert("events".into(), json!(total));
    for (name, _) in &roles {
        let found = buckets(&answer, &format!("/aggregations/{name}/buckets"));
        if !found.is_empty() {
            facts.insert((*name).to_owned(), Value::Array(found));
        }
    }
    let values = |name: &str| -> Vec<Value> {
        facts
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    match source.kind {
        DataKind::Alert => {
            signals.alerts += total;
            signals.alert_rules.extend(
                values("rules")
                    .iter()
                    .filter_map(|b| b["value"].as_str().map(str::to_owned)),
            );
            let worst = values("severities")
                .iter()
                .filter_map(|b| {
                    b["value"]
                        .as_i64()
                        .or_else(|| b["value"].as_str()?.parse().ok())
                })
                .min();
            signals.worst_alert = signals.worst_alert.into_iter().chain(worst).min();
        }
        DataKind::Dns => {
            signals.nxdomain += values("response_codes")
                .iter()
                .filter(|b| {
                    b["value"]
                        .as_str()
                        .is_some_and(|c| c.eq_ignore_ascii_case("NXDOMAIN") || c == "3")
                })
                .filter_map(|b| b["count"].as_u64())
                .sum::<u64>();
        }
        DataKind::Auth => {
            for b in values("outcomes") {
                let n = b["count"].as_u64().unwrap_or(0);
                match b["value"].as_str() {
                    Some("failure") => signals.auth_failures += n,
                    Some("success") => signals.auth_successes += n,
                    _ => {}
                }
            }
        }
        DataKind::Http | DataKind::Flow | DataKind::Other => {}
    }
    let ts = source.field(Role::Timestamp).unwrap_or("@timestamp");
    let ids = samples(&pattern, &query, ts)?;
    ev.push(
        &format!("{what} involving {}", ev.entity),
        &pattern,
        body,
        ids,
        Value::Object(facts),
    );
    Ok(())
}

/// Gathers everything about `entity` over `[start, end)`: the incident and
/// its findings when there is one, then telemetry, baselines, enrichment
/// and the ATT&CK techniques the behaviour maps to.
pub fn gather(
    catalog: &Catalog,
    entity: &str,
    incident: Option<&Incident>,
    start: Timestamp,
    end: Timestamp,
) -> Result<(Evidence, Signals), SkillError> {
    let mut ev = Evidence {
        entity: entity.to_owned(),
        window: (start.epoch_millis(), end.epoch_millis()),
        items: Vec::new(),
    };
    let mut signals = Signals::default();
    if let Some(incident) = incident {
        let facts = json!({
            "incident_id": incident.incident_id, "kind": incident.kind, "severity": incident.severity,
            "entity": incident.entity, "entity_is_actor": incident.entity_is_actor,
            "actors": incident.actors.iter().take(20).collect::<Vec<_>>(), "actor_count": incident.actor_count,
            "targets": incident.targets.iter().take(20).collect::<Vec<_>>(), "finding_count": incident.finding_count,
            "max_grade": incident.max_grade, "summary": incident.summary,
            "first_seen": Timestamp::from_epoch_millis(incident.first_seen).to_rfc3339(),
            "last_seen": Timestamp::from_epoch_millis(incident.last_seen).to_rfc3339(),
        });
        ev.push(
            "the incident",
            sc_detection::records::INCIDENTS_INDEX,
            json!({"ids": {"values": [incident.incident_id]}}),
            vec![format!(
                "{}/{}",
                sc_detection::records::INCIDENTS_INDEX,
                incident.incident_id
            )],
            facts,
        );
        let query = json!({"term": {"incident_id": incident.incident_id}});
        let body = json!({"size": 10, "query": query, "sort": [{"grade": "desc"}]});
        let text = step(
            "reading the incident's findings",
            db::search_raw(&format!("{FINDINGS_INDEX}*"), &body),
        )?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let hits = answer
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !hits.is_empty() {
            let ids = hits
                .iter()
                .filter_map(|h| Some(format!("{}/{}", h["_index"].as_str()?, h["_id"].as_str()?)))
                .collect();
            let findings: Vec<Value> = hits
                .iter()
                .map(|h| {
                    let f = &h["_source"];
                    let mut finding = json!({"actor": f["actor"], "targets": f["targets"], "grade": f["grade"], "detector": f["detector_id"], "reason": f["reason"], "top_features": f["top_features"]});
                    if let Some(sigma) = f.get("sigma").filter(|s| s.is_object()) {
                        for list in ["tactics", "techniques"] {
                            for id in sigma[list].as_array().into_iter().flatten() {
                                if let Some(id) = id["id"].as_str() {
                                    signals.rule_attack.push(id.to_owned());
                                }
                            }
                        }
                        finding["sigma_rule"] = json!({"title": sigma["title"], "id": sigma["rule_id"], "level": sigma["level"], "author": sigma["author"], "tactics": sigma["tactics"], "techniques": sigma["techniques"], "matched_fields": sigma["matched_fields"]});
                    }
                    finding
                })
                .collect();
            ev.push(
                "the incident's strongest findings",
                FINDINGS_INDEX,
                body,
                ids,
                json!({"findings": findings}),
            );
        }
    }
    for source in &catalog.sources {
        match source.kind {
            DataKind::Flow => flows(&mut ev, &mut signals, source, start, end)?,
            _ => events(&mut ev, &mut signals, source, start, end)?,
        }
    }
    baselines(&mut ev, &mut signals)?;
    enrichment(&mut ev, &mut signals)?;
    if let Some(incident) = incident {
        let (tactics, techniques) = mitre::candidates(incident.kind, &signals);
        let names: Vec<Value> = techniques
            .iter()
            .chain(&tactics)
            .filter_map(|id| mitre::describe(id))
            .collect();
        ev.push(
            "ATT&CK techniques this behaviour maps to",
            "",
            json!({"kind": incident.kind}),
            Vec::new(),
            json!({"tactics": tactics, "techniques": techniques, "names": names}),
        );
    }
    Ok((ev, signals))
}

/// The entity's stored baselines, with their provenance.
fn baselines(ev: &mut Evidence, signals: &mut Signals) -> Result<(), SkillError> {
    let entity = ev.entity.clone();
    let mut found = Vec::new();
    for category in [
        "network_behavior_baseline",
        "protocol_port_baseline",
        "ip_communication_baseline",
        "dns_baseline",
    ] {
        match rag::retrieve(&entity, 5, Some(category)) {
            Ok(answer) => found.extend(
                answer
                    .hits
                    .into_iter()
                    .filter(|h| h.entity == entity)
                    .map(|h| json!({"category": h.category, "text": h.text, "source": h.source, "provenance": serde_json::from_str::<Value>(&h.metadata).unwrap_or(Value::Null)})),
            ),
            // Baselines are context: a store without them is no failure.
            Err(err) => securityclaw_sdk::log::warn(&format!("reading {category} baselines: {}", securityclaw_sdk::describe(&err))),
        }
    }
    if !found.is_empty() {
        signals.baselines = found.len() as u64;
        ev.push(
            &format!("baselines of {entity}"),
            "",
            json!({"rag": "retrieve", "query": entity}),
            Vec::new(),
            json!({"baselines": found}),
        );
    }
    Ok(())
}

/// GeoIP and reputation results cached by `geoip_lookup` and `ip_reputation`.
fn enrichment(ev: &mut Evidence, signals: &mut Signals) -> Result<(), SkillError> {
    let entity = ev.entity.clone();
    for (what, key) in [
        ("GeoIP", format!("geoip.ip.{entity}")),
        ("reputation", format!("reputation.ip.{entity}")),
    ] {
        let cached: Option<Value> = step(&format!("reading cached {what}"), memory::get(&key))?;
        let Some(cached) = cached else {
            continue;
        };
        if what == "reputation" {
            signals.reputation = cached
                .pointer("/verdict")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        ev.push(
            &format!("{what} of {entity} (cached)"),
            "",
            json!({"memory": key}),
            Vec::new(),
            cached,
        );
    }
    Ok(())
}
