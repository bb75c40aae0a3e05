//! Observing entities over an interval with `db` aggregations (never by
//! pulling raw documents): per source, its connections, destinations,
//! ports, unanswered attempts, bytes and direction; its DNS lookups; its
//! authentications. Fields come from the catalog, so any mapped index works.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use securityclaw_sdk::{SkillError, Timestamp, db};

use crate::behaviour::{AuthFeatures, DnsFeatures, FlowFeatures};
use crate::catalog::{Role, SourceCatalog};
use crate::net::{self, Direction, HomeNetworks};
use crate::step;

/// Sources looked at per interval and group, busiest first.
pub const MAX_ENTITIES: u32 = 5_000;

/// `[start, end)` on the group's timestamp field.
pub fn window(source: &SourceCatalog, start: Timestamp, end: Timestamp) -> Value {
    let field = source.field(Role::Timestamp).unwrap_or("@timestamp");
    json!({"range": {field: {"gte": start.to_rfc3339(), "lt": end.to_rfc3339()}}})
}

/// Matches connections nothing answered, from whichever fields the group has.
pub fn unanswered(source: &SourceCatalog) -> Value {
    let mut should = Vec::new();
    if let Some(state) = source.field(Role::ConnectionState) {
        let mut states: Vec<&str> = net::FAILED_ZEEK_STATES.to_vec();
        states.extend(net::FAILED_SURICATA_STATES);
        should.push(json!({"terms": {state: states}}));
        if let Some(packets) = source.field(Role::DestinationPackets) {
            should.push(
                json!({"bool": {"filter": [{"term": {state: "OTH"}}, {"term": {packets: 0}}]}}),
            );
        }
    } else if let Some(outcome) = source.field(Role::Outcome) {
        should.push(json!({"term": {outcome: "failure"}}));
    } else if let Some(packets) = source.field(Role::DestinationPackets) {
        should.push(json!({"term": {packets: 0}}));
    }
    if should.is_empty() {
        // Nothing says whether it was answered: count none as unanswered.
        return json!({"bool": {"must_not": [{"match_all": {}}]}});
    }
    json!({"bool": {"should": should, "minimum_should_match": 1}})
}

/// Unanswered destinations listed per source; past this the count is the
/// store's cardinality, group addresses included.
const UNANSWERED_HOSTS_LISTED: u32 = 100;

/// The most hosts one port was asked of without an answer, multicast and
/// broadcast left out (they never answer anyone).
fn unanswered_hosts(bucket: &Value) -> f64 {
    buckets(bucket, "/sweep/ports/buckets")
        .iter()
        .map(|port| {
            let listed = buckets(port, "/hosts/buckets");
            if listed.len() < UNANSWERED_HOSTS_LISTED as usize {
                listed
                    .iter()
                    .filter(|h| !net::is_group_address(&key(h)))
                    .count() as f64
            } else {
                number(port, "/destinations/value")
            }
        })
        .fold(0.0, f64::max)
}

fn number(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

fn key(bucket: &Value) -> String {
    match bucket.get("key") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn buckets<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Matches attempts nothing answered or that were refused: Zeek `S0`/`REJ`,
/// Suricata `new`, or a failure outcome where no state is recorded.
pub fn never_answered(source: &SourceCatalog) -> Value {
    if let Some(state) = source.field(Role::ConnectionState) {
        json!({"terms": {state: ["S0", "REJ", "new"]}})
    } else {
        unanswered(source)
    }
}

/// Each source's connection features over `[start, end)`.
pub fn flows(
    source: &SourceCatalog,
    home: &HomeNetworks,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<FlowFeatures>, SkillError> {
    let (Some(src), Some(dst)) = (
        source.field(Role::SourceIp),
        source.field(Role::DestinationIp),
    ) else {
        return Ok(Vec::new());
    };
    let failed = unanswered(source);
    let mut sub = serde_json::Map::new();
    sub.insert(
        "destinations".into(),
        json!({"cardinality": {"field": dst}}),
    );
    if let Some(port) = source.field(Role::DestinationPort) {
        sub.insert("ports".into(), json!({"cardinality": {"field": port}}));
    }
    sub.insert("failed".into(), json!({"filter": failed}));
    // A sweep: one service asked of many hosts, never answered or refused
    // (`S0`/`REJ`; the half-open states of closing sessions do not count).
    if let Some(port) = source.field(Role::DestinationPort) {
        sub.insert(
            "sweep".into(),
            json!({"filter": never_answered(source), "aggs": {"ports": {"terms": {"field": port, "size": 3}, "aggs": {
                "destinations": {"cardinality": {"field": dst}},
                "hosts": {"terms": {"field": dst, "size": UNANSWERED_HOSTS_LISTED}},
            }}}}),
        );
    }
    if let Some(transport) = source.field(Role::Transport) {
        sub.insert(
            "icmp".into(),
            json!({"filter": {"terms": {transport: ["icmp", "ipv6-icmp", "icmpv6", "ICMP"]}}, "aggs": {"destinations": {"cardinality": {"field": dst}}}}),
        );
    }
    if let Some(bytes) = source
        .field(Role::SourceBytes)
        .or(source.field(Role::Bytes))
    {
        sub.insert("bytes".into(), json!({"sum": {"field": bytes}}));
    }
    if let Some(direction) = source.field(Role::Direction) {
        sub.insert(
            "inbound".into(),
            json!({"filter": {"terms": {direction: ["inbound", "ingress"]}}, "aggs": {"failed": {"filter": failed}}}),
        );
        sub.insert(
            "local".into(),
            json!({"filter": {"terms": {direction: ["outbound", "egress", "internal"]}}}),
        );
    }
    sub.insert(
        "peers".into(),
        json!({"terms": {"field": dst, "size": 10}, "aggs": {"failed": {"filter": failed}}}),
    );
    let aggs = json!({"by_source": {"terms": {"field": src, "size": MAX_ENTITIES}, "aggs": sub}});
    let answer = step(
        &format!("aggregating connections of `{}`", source.pattern()),
        db::aggregate(&source.pattern(), Some(&window(source, start, end)), &aggs),
    )?;
    let has_direction = source.field(Role::Direction).is_some();
    Ok(buckets(&answer, "/by_source/buckets")
        .iter()
        .map(|b| {
            let entity = key(b);
            let top: Vec<(String, u64, u64)> = buckets(b, "/peers/buckets")
                .iter()
                .map(|p| {
                    (
                        key(p),
                        number(p, "/doc_count") as u64,
                        number(p, "/failed/doc_count") as u64,
                    )
                })
                .collect();
            let is_home = home.contains(&entity) || number(b, "/local/doc_count") > 0.0;
            let (inbound, inbound_failed) = if has_direction {
                (
                    number(b, "/inbound/doc_count"),
                    number(b, "/inbound/failed/doc_count"),
                )
            } else if is_home {
                (0.0, 0.0)
            } else {
                top.iter()
                    .filter(|(peer, _, _)| {
                        Direction::between(false, home.contains(peer)) == Direction::Inbound
                    })
                    .fold((0.0, 0.0), |(n, f), (_, c, x)| {
                        (n + *c as f64, f + *x as f64)
                    })
            };
            FlowFeatures {
                home: is_home,
                connections: number(b, "/doc_count"),
                destinations: number(b, "/destinations/value"),
                ports: number(b, "/ports/value"),
                failed: number(b, "/failed/doc_count"),
                icmp_destinations: number(b, "/icmp/destinations/value"),
                failed_destinations: unanswered_hosts(b),
                bytes_out: number(b, "/bytes/value"),
                inbound,
                inbound_failed,
                new_peers: 0.0,
                dns_entropy: 0.0,
                top_destinations: top,
                entity,
            }
        })
        .collect())
}

/// Each source's DNS lookups over `[start, end)`.
pub fn dns(
    source: &SourceCatalog,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<DnsFeatures>, SkillError> {
    let (Some(src), Some(domain)) = (source.field(Role::SourceIp), source.field(Role::Domain))
    else {
        return Ok(Vec::new());
    };
    let mut sub = serde_json::Map::new();
    sub.insert(
        "names".into(),
        json!({"terms": {"field": domain, "size": 200}}),
    );
    if let Some(rcode) = source.field(Role::DnsResponseCode) {
        sub.insert(
            "missing".into(),
            json!({"filter": {"term": {rcode: "NXDOMAIN"}}, "aggs": {"names": {"terms": {"field": domain, "size": 200}}}}),
        );
    }
    let aggs = json!({"by_source": {"terms": {"field": src, "size": MAX_ENTITIES}, "aggs": sub}});
    let answer = step(
        &format!("aggregating DNS lookups of `{}`", source.pattern()),
        db::aggregate(&source.pattern(), Some(&window(source, start, end)), &aggs),
    )?;
    Ok(buckets(&answer, "/by_source/buckets")
        .iter()
        .map(|b| {
            let registered = |pointer: &str| -> BTreeSet<String> {
                buckets(b, pointer)
                    .iter()
                    .map(|n| net::registered_domain(&key(n)))
                    .collect()
            };
            let all = registered("/names/buckets");
            let missing = registered("/missing/names/buckets");
            let entropy = if missing.is_empty() {
                0.0
            } else {
                missing
                    .iter()
                    .map(|d| net::entropy(net::varying_label(d)))
                    .sum::<f64>()
                    / missing.len() as f64
            };
            DnsFeatures {
                actor: key(b),
                domains: all.len() as f64,
                missing_domains: missing.len() as f64,
                entropy,
                examples: missing.iter().take(10).cloned().collect(),
            }
        })
        .collect())
}

/// Each (source, target) pair's authentications over `[start, end)`.
pub fn auth(
    source: &SourceCatalog,
    start: Timestamp,
    end: Timestamp,
) -> Result<Vec<AuthFeatures>, SkillError> {
    let (Some(src), Some(outcome)) = (source.field(Role::SourceIp), source.field(Role::Outcome))
    else {
        return Ok(Vec::new());
    };
    let target = source
        .field(Role::DestinationIp)
        .or(source.field(Role::User));
    let mut pair = serde_json::Map::new();
    pair.insert(
        "failed".into(),
        json!({"filter": {"term": {outcome: "failure"}}}),
    );
    pair.insert(
        "succeeded".into(),
        json!({"filter": {"term": {outcome: "success"}}}),
    );
    if let Some(attempts) = source.field(Role::AuthAttempts) {
        // Zeek leaves `auth_success` unset when it cannot tell; attempts in
        // a session that did not succeed are failures all the same.
        pair.insert(
            "unsuccessful".into(),
            json!({"filter": {"bool": {"must_not": [{"term": {outcome: "success"}}]}}, "aggs": {"attempts": {"sum": {"field": attempts}}}}),
        );
    }
    if let Some(user) = source.field(Role::User) {
        pair.insert("users".into(), json!({"terms": {"field": user, "size": 5}}));
    }
    let inner = match target {
        Some(t) => json!({"targets": {"terms": {"field": t, "size": 5}, "aggs": pair}}),
        None => Value::Object(pair),
    };
    let aggs = json!({"by_source": {"terms": {"field": src, "size": MAX_ENTITIES}, "aggs": inner}});
    let answer = step(
        &format!("aggregating authentications of `{}`", source.pattern()),
        db::aggregate(&source.pattern(), Some(&window(source, start, end)), &aggs),
    )?;
    let mut out = Vec::new();
    for b in buckets(&answer, "/by_source/buckets") {
        let pairs: Vec<(String, &Value)> = if target.is_some() {
            buckets(b, "/targets/buckets")
                .iter()
                .map(|t| (key(t), t))
                .collect()
        } else {
            vec![(String::new(), b)]
        };
        for (target, p) in pairs {
            let failures =
                number(p, "/failed/doc_count").max(number(p, "/unsuccessful/attempts/value"));
            out.push(AuthFeatures {
                actor: key(b),
                target,
                failures,
                successes: number(p, "/succeeded/doc_count"),
                users: buckets(p, "/users/buckets").iter().map(key).collect(),
                inbound: false,
            });
        }
    }
    Ok(out)
}

/// Joins DNS entropy onto the flow features of the same entity, adding
/// entities seen only in DNS.
pub fn join_dns(flows: &mut Vec<FlowFeatures>, dns: &[DnsFeatures], home: &HomeNetworks) {
    let by_entity: BTreeMap<&str, &DnsFeatures> =
        dns.iter().map(|d| (d.actor.as_str(), d)).collect();
    for flow in flows.iter_mut() {
        if let Some(d) = by_entity.get(flow.entity.as_str()) {
            flow.dns_entropy = d.entropy;
        }
    }
    let known: BTreeSet<String> = flows.iter().map(|f| f.entity.clone()).collect();
    for d in dns.iter().filter(|d| !known.contains(&d.actor)) {
        flows.push(FlowFeatures {
            entity: d.actor.clone(),
            home: home.contains(&d.actor),
            dns_entropy: d.entropy,
            ..FlowFeatures::default()
        });
    }
}
