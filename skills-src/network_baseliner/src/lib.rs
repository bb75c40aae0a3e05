//! `network_baseliner`: each home entity's normal network behaviour over a
//! window, computed with `db` aggregations, stored as RAG baseline
//! documents (one per entity and category, replaced on refresh) and as the
//! usual-peers map `anomaly_detector` counts new peers against.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use sc_detection::observe::{self, unanswered};
use sc_detection::records::stable_id;
use sc_detection::settings::Granularity;
use sc_detection::{DataKind, Role, Settings, SourceCatalog, discover, net, step};
use securityclaw_sdk::{
    Invocation, Outcome, Skill, SkillError, Timestamp, db, export_skill, memory, rag,
};

struct NetworkBaseliner;

#[derive(Deserialize)]
struct Params {
    max_entities: u32,
}

/// The usual peers of each entity, for `anomaly_detector`.
pub const PEERS_KEY: &str = "detection.baseline_peers";
const DIGESTS_KEY: &str = "network_baseliner.digests";
/// Entities whose peers are kept (the map stays under the value cap).
const MAX_PEER_ENTITIES: usize = 300;

fn buckets<'a>(v: &'a Value, p: &str) -> &'a [Value] {
    v.pointer(p)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn key(b: &Value) -> String {
    match b.get("key") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn num(v: &Value, p: &str) -> f64 {
    v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0)
}

/// Top terms with their shares of `total`.
fn shares(v: &Value, p: &str, total: f64) -> Vec<Value> {
    buckets(v, p)
        .iter()
        .map(|b| json!({"value": key(b), "count": num(b, "/doc_count"), "share": if total > 0.0 { (num(b, "/doc_count") / total * 1000.0).round() / 1000.0 } else { 0.0 }}))
        .collect()
}

/// The entity an address belongs to at the configured granularity.
fn entity_of(ip: &str, granularity: Granularity) -> String {
    match (granularity, ip.parse::<std::net::IpAddr>()) {
        (Granularity::Subnet, Ok(std::net::IpAddr::V4(v4))) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        (Granularity::Subnet, Ok(std::net::IpAddr::V6(v6))) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}

struct Window {
    start: Timestamp,
    end: Timestamp,
    hours: f64,
}

fn flow_baselines(
    source: &SourceCatalog,
    settings: &Settings,
    window: &Window,
    limit: u32,
) -> Result<Vec<(String, Value, Vec<String>)>, SkillError> {
    let home = settings.home()?;
    let (Some(src), Some(dst)) = (
        source.field(Role::SourceIp),
        source.field(Role::DestinationIp),
    ) else {
        return Ok(Vec::new());
    };
    // A sensor is whatever names the observer (`observer.name` in ECS).
    let entity_field = match settings.entity {
        Granularity::Sensor => "observer.name",
        _ => src,
    };
    let mut sub = serde_json::Map::new();
    sub.insert(
        "destinations".into(),
        json!({"cardinality": {"field": dst}}),
    );
    sub.insert("peers".into(), json!({"terms": {"field": dst, "size": 20}}));
    sub.insert("failed".into(), json!({"filter": unanswered(source)}));
    if let Some(port) = source.field(Role::DestinationPort) {
        sub.insert("ports".into(), json!({"cardinality": {"field": port}}));
        sub.insert(
            "top_ports".into(),
            json!({"terms": {"field": port, "size": 10}}),
        );
    }
    if let Some(protocol) = source
        .field(Role::Protocol)
        .or(source.field(Role::Transport))
    {
        sub.insert(
            "protocols".into(),
            json!({"terms": {"field": protocol, "size": 5}}),
        );
    }
    if let Some(bytes) = source
        .field(Role::Bytes)
        .or(source.field(Role::SourceBytes))
    {
        sub.insert(
            "bytes".into(),
            json!({"percentiles": {"field": bytes, "percents": [50, 95, 99]}}),
        );
    }
    if let Some(direction) = source.field(Role::Direction) {
        sub.insert(
            "outbound".into(),
            json!({"filter": {"terms": {direction: ["outbound", "egress"]}}}),
        );
        sub.insert(
            "internal".into(),
            json!({"filter": {"term": {direction: "internal"}}}),
        );
    }
    let aggs = json!({"by_entity": {"terms": {"field": entity_field, "size": limit}, "aggs": sub}});
    let query = observe::window(source, window.start, window.end);
    let answer = step(
        "aggregating connections",
        db::aggregate(&source.pattern(), Some(&query), &aggs),
    )?;
    // Connections each entity received, for inbound against outbound.
    let inbound_aggs = json!({"by_entity": {"terms": {"field": dst, "size": limit * 4}}});
    let received = step(
        "aggregating inbound connections",
        db::aggregate(&source.pattern(), Some(&query), &inbound_aggs),
    )?;
    let inbound: BTreeMap<String, f64> = buckets(&received, "/by_entity/buckets")
        .iter()
        .map(|b| (key(b), num(b, "/doc_count")))
        .collect();
    let mut out = Vec::new();
    for b in buckets(&answer, "/by_entity/buckets") {
        let ip = key(b);
        let local = num(b, "/outbound/doc_count") + num(b, "/internal/doc_count");
        if !(home.contains(&ip) || local > 0.0) && settings.entity != Granularity::Sensor {
            continue;
        }
        let connections = num(b, "/doc_count");
        let peers: Vec<String> = buckets(b, "/peers/buckets").iter().map(key).collect();
        let stats = json!({
            "connections": connections,
            "connections_per_hour": (connections / window.hours * 10.0).round() / 10.0,
            "distinct_destinations": num(b, "/destinations/value"),
            "distinct_ports": num(b, "/ports/value"),
            "failed_ratio": if connections > 0.0 { (num(b, "/failed/doc_count") / connections * 1000.0).round() / 1000.0 } else { 0.0 },
            "inbound_connections": inbound.get(&ip).copied().unwrap_or(0.0),
            "outbound_connections": connections,
            "top_ports": shares(b, "/top_ports/buckets", connections),
            "top_protocols": shares(b, "/protocols/buckets", connections),
            "top_peers": shares(b, "/peers/buckets", connections),
            "bytes_percentiles": b.pointer("/bytes/values").cloned().unwrap_or(Value::Null),
        });
        out.push((entity_of(&ip, settings.entity), stats, peers));
    }
    Ok(out)
}

fn dns_baselines(
    source: &SourceCatalog,
    window: &Window,
    limit: u32,
) -> Result<BTreeMap<String, Value>, SkillError> {
    let (Some(src), Some(domain)) = (source.field(Role::SourceIp), source.field(Role::Domain))
    else {
        return Ok(BTreeMap::new());
    };
    let aggs = json!({"by_entity": {"terms": {"field": src, "size": limit}, "aggs": {
        "names": {"terms": {"field": domain, "size": 50}},
        "distinct": {"cardinality": {"field": domain}},
    }}});
    let answer = step(
        "aggregating DNS lookups",
        db::aggregate(
            &source.pattern(),
            Some(&observe::window(source, window.start, window.end)),
            &aggs,
        ),
    )?;
    Ok(buckets(&answer, "/by_entity/buckets")
        .iter()
        .map(|b| {
            let names: Vec<String> = buckets(b, "/names/buckets").iter().map(key).collect();
            let entropy = if names.is_empty() {
                0.0
            } else {
                names
                    .iter()
                    .map(|n| net::entropy(net::varying_label(n)))
                    .sum::<f64>()
                    / names.len() as f64
            };
            (
                key(b),
                json!({
                    "queries": num(b, "/doc_count"),
                    "distinct_names": num(b, "/distinct/value"),
                    "top_domains": shares(b, "/names/buckets", num(b, "/doc_count")),
                    "mean_name_entropy": (entropy * 100.0).round() / 100.0,
                }),
            )
        })
        .collect())
}

/// One line per category, from the numbers.
fn describe(category: &str, entity: &str, stats: &Value, hours: f64) -> String {
    let top = |k: &str| {
        stats[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .take(5)
                    .map(|v| {
                        format!(
                            "{} ({:.0}%)",
                            v["value"].as_str().unwrap_or("?"),
                            v["share"].as_f64().unwrap_or(0.0) * 100.0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    match category {
        "network_behavior_baseline" => format!(
            "Over {hours:.0} h, {entity} made {} connections ({} per hour) to {} destinations on {} ports; {:.1}% unanswered; it received {} connections.",
            stats["connections"],
            stats["connections_per_hour"],
            stats["distinct_destinations"],
            stats["distinct_ports"],
            stats["failed_ratio"].as_f64().unwrap_or(0.0) * 100.0,
            stats["inbound_connections"]
        ),
        "protocol_port_baseline" => format!(
            "Over {hours:.0} h, {entity} used ports {} and protocols {}.",
            top("top_ports"),
            top("top_protocols")
        ),
        "ip_communication_baseline" => format!(
            "Over {hours:.0} h, {entity} talked most to {}; bytes per connection percentiles {}.",
            top("top_peers"),
            stats["bytes_percentiles"]
        ),
        _ => format!(
            "Over {hours:.0} h, {entity} made {} DNS queries for {} names, mostly {}; mean label entropy {}.",
            stats["queries"],
            stats["distinct_names"],
            top("top_domains"),
            stats["mean_name_entropy"]
        ),
    }
}

impl Skill for NetworkBaseliner {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let settings = Settings::load()?;
        let end = invocation.now;
        let hours = f64::from(settings.baseline_hours.max(1));
        let window = Window {
            start: end.minus(Duration::from_secs(
                u64::from(settings.baseline_hours.max(1)) * 3600,
            )),
            end,
            hours,
        };
        let valid_until = end.plus(Duration::from_secs(12 * 3600)).to_rfc3339();
        let catalog = discover::load_or_discover(
            &settings.index_pattern(),
            &invocation.run_id,
            &end.to_rfc3339(),
        )?;
        let mut categories: Vec<(String, &str, Value)> = Vec::new();
        let mut peers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for source in catalog.of(DataKind::Flow) {
            for (entity, stats, entity_peers) in
                flow_baselines(source, &settings, &window, params.max_entities)?
            {
                if peers.contains_key(&entity) {
                    continue;
                }
                if peers.len() < MAX_PEER_ENTITIES {
                    peers.insert(entity.clone(), entity_peers);
                }
                for category in [
                    "network_behavior_baseline",
                    "protocol_port_baseline",
                    "ip_communication_baseline",
                ] {
                    categories.push((entity.clone(), category, stats.clone()));
                }
            }
        }
        for source in catalog.of(DataKind::Dns) {
            for (entity, stats) in dns_baselines(source, &window, params.max_entities)? {
                if peers.contains_key(&entity) || settings.home()?.contains(&entity) {
                    categories.push((entity, "dns_baseline", stats));
                }
            }
        }
        if categories.is_empty() {
            return Ok(Outcome::no_data(format!(
                "no home host had traffic from {} to {} in `{}`",
                window.start.to_rfc3339(),
                end.to_rfc3339(),
                settings.index_pattern()
            )));
        }
        let previous: BTreeMap<String, String> =
            step("reading digests", memory::get(DIGESTS_KEY))?.unwrap_or_default();
        // Only this run's entities are kept, so the map stays as small as
        // the baseline itself.
        let mut digests: BTreeMap<String, String> = BTreeMap::new();
        let mut documents = Vec::new();
        let mut unchanged = 0usize;
        for (entity, category, stats) in &categories {
            let digest = stable_id(&[category, entity, &stats.to_string()]);
            let slot = format!("{category}/{entity}");
            let same = previous.get(&slot) == Some(&digest);
            digests.insert(slot, digest);
            if same {
                unchanged += 1;
                continue;
            }
            documents.push(rag::Document {
                category: (*category).to_owned(),
                entity: entity.clone(),
                // No window in the id: a refresh replaces the entity's baseline.
                window: None,
                text: describe(category, entity, stats, hours),
                source: format!("{} via db aggregations", settings.index_pattern()),
                metadata: json!({
                    "window": {"start": window.start.to_rfc3339(), "end": end.to_rfc3339()},
                    "query": "terms per entity over the window: cardinality, terms, percentiles, filters",
                    "run_id": invocation.run_id,
                    "stats": stats,
                })
                .to_string(),
                valid_until: Some(valid_until.clone()),
            });
        }
        if !documents.is_empty() {
            step("storing baselines", rag::store(&documents))?;
        }
        step("storing digests", memory::set(DIGESTS_KEY, &digests))?;
        step("storing usual peers", memory::set(PEERS_KEY, &peers))?;
        Ok(Outcome::ok(
            format!(
                "{} baseline documents for {} entities ({} stored, {unchanged} unchanged)",
                categories.len(),
                peers.len(),
                documents.len()
            ),
            json!({
                "window": {"start": window.start.to_rfc3339(), "end": end.to_rfc3339()},
                "entities": peers.keys().collect::<Vec<_>>(),
                "stored": documents.len(),
                "unchanged": unchanged,
            }),
        ))
    }
}

export_skill!(NetworkBaseliner);
