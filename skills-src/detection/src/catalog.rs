//! The field catalog: which field of each index plays which role (source
//! IP, destination port, connection state…), so every detector queries ECS,
//! Zeek-native (`id.orig_h`) and Suricata-native (`src_ip`) indices alike.
//! `fields_baseliner` infers it from the mappings, the field names and the
//! shapes of sampled values, and stores it in memory under [`CATALOG_KEY`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The memory key the catalog lives under.
pub const CATALOG_KEY: &str = "detection.catalog";

/// What a field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// When the event happened.
    Timestamp,
    /// Who started the connection.
    SourceIp,
    /// Its port.
    SourcePort,
    /// Who answered.
    DestinationIp,
    /// The service port.
    DestinationPort,
    /// tcp / udp / icmp.
    Transport,
    /// The application protocol (dns, http, ssh…).
    Protocol,
    /// Bytes both ways.
    Bytes,
    /// Bytes the source sent.
    SourceBytes,
    /// Bytes the destination sent.
    DestinationBytes,
    /// Packets both ways.
    Packets,
    /// Packets the destination sent.
    DestinationPackets,
    /// How long it lasted.
    Duration,
    /// Zeek `conn_state` or Suricata `flow.state`.
    ConnectionState,
    /// ECS `event.outcome` (success / failure).
    Outcome,
    /// ECS `network.direction`.
    Direction,
    /// A user name.
    User,
    /// A DNS question name or another domain.
    Domain,
    /// A DNS response code.
    DnsResponseCode,
    /// A URL.
    Url,
    /// A user agent.
    UserAgent,
    /// A country.
    Country,
    /// An IDS rule or signature.
    Rule,
    /// An IDS severity.
    Severity,
    /// Auth attempts of a session (Zeek ssh `auth_attempts`).
    AuthAttempts,
    /// What kind of event (`event.category`).
    Category,
}

impl Role {
    /// Every role, in catalog order.
    pub const ALL: [Role; 26] = [
        Role::Timestamp,
        Role::SourceIp,
        Role::SourcePort,
        Role::DestinationIp,
        Role::DestinationPort,
        Role::Transport,
        Role::Protocol,
        Role::Bytes,
        Role::SourceBytes,
        Role::DestinationBytes,
        Role::Packets,
        Role::DestinationPackets,
        Role::Duration,
        Role::ConnectionState,
        Role::Outcome,
        Role::Direction,
        Role::User,
        Role::Domain,
        Role::DnsResponseCode,
        Role::Url,
        Role::UserAgent,
        Role::Country,
        Role::Rule,
        Role::Severity,
        Role::AuthAttempts,
        Role::Category,
    ];

    /// Field names that play this role, best first: ECS, then Zeek's and
    /// Suricata's own names (as nested under their namespaces by ingest,
    /// and as they are in a raw index).
    pub fn candidates(self) -> &'static [&'static str] {
        match self {
            Role::Timestamp => &["@timestamp", "timestamp", "ts", "event.created"],
            Role::SourceIp => &[
                "source.ip",
                "id.orig_h",
                "src_ip",
                "client.ip",
                "srcip",
                "src",
            ],
            Role::SourcePort => &[
                "source.port",
                "id.orig_p",
                "src_port",
                "client.port",
                "srcport",
            ],
            Role::DestinationIp => &[
                "destination.ip",
                "id.resp_h",
                "dest_ip",
                "dst_ip",
                "server.ip",
                "dstip",
                "dst",
            ],
            Role::DestinationPort => &[
                "destination.port",
                "id.resp_p",
                "dest_port",
                "dst_port",
                "server.port",
                "dstport",
            ],
            Role::Transport => &["network.transport", "proto", "protocol"],
            Role::Protocol => &["network.protocol", "service", "app_proto"],
            Role::Bytes => &["network.bytes", "bytes"],
            Role::SourceBytes => &[
                "source.bytes",
                "orig_bytes",
                "flow.bytes_toserver",
                "client.bytes",
            ],
            Role::DestinationBytes => &[
                "destination.bytes",
                "resp_bytes",
                "flow.bytes_toclient",
                "server.bytes",
            ],
            Role::Packets => &["network.packets", "packets"],
            Role::DestinationPackets => &["destination.packets", "resp_pkts", "flow.pkts_toclient"],
            Role::Duration => &["event.duration", "duration"],
            Role::ConnectionState => &[
                "zeek.conn.conn_state",
                "conn_state",
                "suricata.eve.flow.state",
                "flow.state",
            ],
            Role::Outcome => &["event.outcome", "outcome"],
            Role::Direction => &["network.direction", "direction"],
            Role::User => &[
                "user.name",
                "username",
                "user",
                "winlog.event_data.TargetUserName",
            ],
            Role::Domain => &[
                "dns.question.name",
                "query",
                "dns.rrname",
                "url.domain",
                "server_name",
            ],
            Role::DnsResponseCode => &["dns.response_code", "rcode_name", "dns.rcode"],
            Role::Url => &["url.original", "url.full", "uri", "http.url"],
            Role::UserAgent => &["user_agent.original", "user_agent", "http.http_user_agent"],
            Role::Country => &[
                "source.geo.country_iso_code",
                "geoip.country_code2",
                "country",
            ],
            Role::Rule => &["rule.name", "alert.signature", "signature", "note"],
            Role::Severity => &["event.severity", "alert.severity", "severity"],
            Role::AuthAttempts => &["zeek.ssh.auth_attempts", "auth_attempts"],
            Role::Category => &["event.category"],
        }
    }

    /// The snake-case name the catalog stores it under (`source_ip`).
    pub fn key(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Whether a field of mapping type `kind` can play this role.
    fn accepts(self, kind: &str) -> bool {
        let numeric = matches!(
            kind,
            "long"
                | "integer"
                | "short"
                | "byte"
                | "double"
                | "float"
                | "half_float"
                | "scaled_float"
                | "unsigned_long"
        );
        match self {
            // Range bounds are sent as RFC 3339: only a date field takes them.
            Role::Timestamp => matches!(kind, "date" | "date_nanos"),
            Role::SourceIp | Role::DestinationIp => matches!(kind, "ip" | "keyword"),
            Role::SourcePort
            | Role::DestinationPort
            | Role::Bytes
            | Role::SourceBytes
            | Role::DestinationBytes
            | Role::Packets
            | Role::DestinationPackets
            | Role::Duration
            | Role::AuthAttempts => numeric,
            Role::Severity => numeric || kind == "keyword",
            // Roles are aggregated and matched exactly: a keyword, never
            // analysed text (a cluster's dynamic `.keyword` sub-field is
            // listed as a field of its own and taken instead).
            _ => matches!(kind, "keyword" | "wildcard" | "constant_keyword"),
        }
    }
}

/// What kind of telemetry an index holds, from the roles it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// Connections / flows: two endpoints and a state or a volume.
    Flow,
    /// DNS queries.
    Dns,
    /// Authentication attempts.
    Auth,
    /// IDS alerts.
    Alert,
    /// Web requests.
    Http,
    /// Something else with endpoints (TLS, notices…).
    Other,
}

/// The catalog of one group of indices that share their field roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceCatalog {
    /// The indices (concrete names).
    pub indices: Vec<String>,
    /// What they hold.
    pub kind: DataKind,
    /// The field that plays each role.
    pub fields: BTreeMap<Role, String>,
    /// Documents in them when the catalog was made.
    pub documents: u64,
    /// Distinct values per role (from a `cardinality` aggregation).
    #[serde(default)]
    pub cardinality: BTreeMap<Role, u64>,
    /// A few example values per role.
    #[serde(default)]
    pub examples: BTreeMap<Role, Vec<String>>,
}

impl SourceCatalog {
    /// The field of a role, if the indices have one.
    pub fn field(&self, role: Role) -> Option<&str> {
        self.fields.get(&role).map(String::as_str)
    }

    /// The indices as one comma list for a `db` call.
    pub fn pattern(&self) -> String {
        self.indices.join(",")
    }
}

/// Every group of indices the detectors can use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// When it was made (RFC 3339, the run's time).
    pub generated_at: String,
    /// The run that made it.
    pub run_id: String,
    /// One entry per group of indices.
    pub sources: Vec<SourceCatalog>,
}

impl Catalog {
    /// The groups of one kind.
    pub fn of(&self, kind: DataKind) -> impl Iterator<Item = &SourceCatalog> {
        self.sources.iter().filter(move |s| s.kind == kind)
    }

    /// Reads the stored catalog (none before `fields_baseliner` ran).
    pub fn load() -> securityclaw_sdk::Result<Option<Self>> {
        securityclaw_sdk::memory::get(CATALOG_KEY)
    }
}

/// Each field of an `_mapping` answer's index, as (dotted path, type).
pub fn mapped_fields(mapping: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    fn walk(
        prefix: &str,
        properties: &serde_json::Map<String, Value>,
        out: &mut BTreeMap<String, String>,
    ) {
        for (name, spec) in properties {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if let Some(Value::Object(inner)) = spec.get("properties") {
                walk(&path, inner, out);
            } else if let Some(kind) = spec.get("type").and_then(Value::as_str) {
                // Multi-fields (a dynamic `text` field's `.keyword`) are
                // fields of their own for aggregations.
                if let Some(Value::Object(subfields)) = spec.get("fields") {
                    for (sub, sub_spec) in subfields {
                        if let Some(sub_kind) = sub_spec.get("type").and_then(Value::as_str) {
                            out.insert(format!("{path}.{sub}"), sub_kind.to_owned());
                        }
                    }
                }
                out.insert(path, kind.to_owned());
            }
        }
    }
    let mut indices = BTreeMap::new();
    for (index, body) in mapping.as_object().into_iter().flatten() {
        let mut fields = BTreeMap::new();
        if let Some(Value::Object(properties)) = body.pointer("/mappings/properties") {
            walk("", properties, &mut fields);
        }
        indices.insert(index.clone(), fields);
    }
    indices
}

/// The value at a dotted path of a document, looked up nested
/// (`{"source": {"ip": …}}`) or as a literal dotted key.
pub fn value_at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    // A `.keyword` multi-field is indexed, not stored: its value is the
    // field's own.
    if let Some(base) = path.strip_suffix(".keyword") {
        return value_at(doc, base);
    }
    if let Some(v) = doc.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    value_at(doc.get(head)?, rest)
}

fn looks_like_ip(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok())
}

/// Picks the field of each role for one index: the first candidate name
/// (as a path of its own, or as the tail of a namespaced path such as
/// `zeek.conn.id.orig_h`) that the mapping has with a fitting type. An IP
/// role is taken only when the sampled documents hold addresses there.
pub fn infer_roles(fields: &BTreeMap<String, String>, samples: &[Value]) -> BTreeMap<Role, String> {
    let mut roles = BTreeMap::new();
    for role in Role::ALL {
        let found = role.candidates().iter().find_map(|name| {
            let keyword = format!("{name}.keyword");
            let exact = fields
                .get(*name)
                .filter(|kind| role.accepts(kind))
                .map(|kind| (name.to_string(), kind))
                .or_else(|| fields.get(&keyword).map(|kind| (keyword.clone(), kind)));
            let nested = || {
                fields
                    .iter()
                    .find(|(path, _)| {
                        path.ends_with(&format!(".{name}"))
                            && path.split('.').count() <= name.split('.').count() + 2
                    })
                    .map(|(path, kind)| (path.clone(), kind))
            };
            let (path, kind) = exact.or_else(nested)?;
            if !role.accepts(kind) {
                return None;
            }
            if matches!(role, Role::SourceIp | Role::DestinationIp)
                && !samples.is_empty()
                && !samples
                    .iter()
                    .filter_map(|doc| value_at(doc, &path))
                    .any(looks_like_ip)
            {
                return None;
            }
            Some(path)
        });
        if let Some(path) = found {
            roles.insert(role, path);
        }
    }
    roles
}

/// What kind of telemetry a set of roles and sampled documents is.
pub fn classify(roles: &BTreeMap<Role, String>, samples: &[Value]) -> DataKind {
    let has = |role| roles.contains_key(&role);
    let category_is = |wanted: &str| {
        roles.get(&Role::Category).is_some_and(|field| {
            samples
                .iter()
                .filter_map(|doc| value_at(doc, field))
                .any(|v| match v {
                    Value::String(s) => s == wanted,
                    Value::Array(items) => items.iter().any(|i| i.as_str() == Some(wanted)),
                    _ => false,
                })
        })
    };
    let kind_alert = samples
        .iter()
        .any(|doc| value_at(doc, "event.kind").and_then(Value::as_str) == Some("alert"));
    if has(Role::Rule) && (kind_alert || has(Role::Severity)) {
        DataKind::Alert
    } else if roles
        .get(&Role::Domain)
        .is_some_and(|f| f.contains("dns") || f == "query")
    {
        DataKind::Dns
    } else if category_is("authentication") || (has(Role::AuthAttempts) && has(Role::Outcome)) {
        DataKind::Auth
    } else if has(Role::SourceIp)
        && has(Role::DestinationIp)
        && (has(Role::ConnectionState)
            || has(Role::Bytes)
            || has(Role::SourceBytes)
            || has(Role::Duration))
        && !has(Role::Url)
    {
        DataKind::Flow
    } else if has(Role::Url) {
        DataKind::Http
    } else {
        DataKind::Other
    }
}

/// Roles every kind needs to be worth detecting on; a group without them
/// is reported, not used.
pub fn missing_roles(kind: DataKind, roles: &BTreeMap<Role, String>) -> Vec<Role> {
    let needed: &[Role] = match kind {
        DataKind::Flow => &[Role::Timestamp, Role::SourceIp, Role::DestinationIp],
        DataKind::Dns => &[Role::Timestamp, Role::SourceIp, Role::Domain],
        DataKind::Auth => &[Role::Timestamp, Role::SourceIp, Role::Outcome],
        DataKind::Alert => &[Role::Timestamp, Role::SourceIp, Role::Rule],
        DataKind::Http | DataKind::Other => &[Role::Timestamp, Role::SourceIp],
    };
    needed
        .iter()
        .copied()
        .filter(|r| !roles.contains_key(r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn ecs_zeek_native_and_suricata_native_fields_are_all_found() {
        let ecs = fields(&[
            ("@timestamp", "date"),
            ("source.ip", "ip"),
            ("destination.ip", "ip"),
            ("zeek.conn.conn_state", "keyword"),
            ("network.bytes", "long"),
        ]);
        let roles = infer_roles(&ecs, &[]);
        assert_eq!(roles[&Role::SourceIp], "source.ip");
        assert_eq!(roles[&Role::ConnectionState], "zeek.conn.conn_state");
        assert_eq!(classify(&roles, &[]), DataKind::Flow);

        let zeek = fields(&[
            ("ts", "date"),
            ("id.orig_h", "keyword"),
            ("id.resp_h", "keyword"),
            ("conn_state", "keyword"),
        ]);
        let sample = json!({"ts": 1.0, "id.orig_h": "10.0.0.1", "id.resp_h": "10.0.0.2"});
        let roles = infer_roles(&zeek, &[sample]);
        assert_eq!(roles[&Role::SourceIp], "id.orig_h");
        assert_eq!(roles[&Role::Timestamp], "ts");
        assert_eq!(classify(&roles, &[]), DataKind::Flow);

        let suricata = fields(&[
            ("timestamp", "date"),
            ("src_ip", "keyword"),
            ("dest_ip", "keyword"),
            ("alert.signature", "keyword"),
            ("alert.severity", "long"),
        ]);
        let sample = json!({"src_ip": "1.2.3.4", "dest_ip": "10.0.0.2"});
        let roles = infer_roles(&suricata, &[sample]);
        assert_eq!(roles[&Role::DestinationIp], "dest_ip");
        assert_eq!(classify(&roles, &[]), DataKind::Alert);
    }

    #[test]
    fn a_field_named_like_an_address_that_holds_none_is_not_taken() {
        let f = fields(&[("@timestamp", "date"), ("src", "keyword")]);
        let roles = infer_roles(&f, &[json!({"src": "kernel"})]);
        assert!(!roles.contains_key(&Role::SourceIp));
        assert_eq!(missing_roles(DataKind::Other, &roles), vec![Role::SourceIp]);
    }

    #[test]
    fn the_mapping_answer_is_flattened_per_index() {
        let mapping = json!({"logs-a": {"mappings": {"properties": {"source": {"properties": {"ip": {"type": "ip"}}}}}}});
        let all = mapped_fields(&mapping);
        assert_eq!(all["logs-a"]["source.ip"], "ip");
    }

    #[test]
    fn a_dynamic_text_field_is_used_through_its_keyword() {
        let mapping = json!({"logs-b": {"mappings": {"properties": {
            "@timestamp": {"type": "date"},
            "src_ip": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
            "conn_state": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
        }}}});
        let all = mapped_fields(&mapping);
        let roles = infer_roles(&all["logs-b"], &[json!({"src_ip": "10.0.0.1"})]);
        assert_eq!(roles[&Role::SourceIp], "src_ip.keyword");
        assert_eq!(roles[&Role::ConnectionState], "conn_state.keyword");
        // A numeric time cannot take RFC 3339 bounds: not a timestamp.
        let numeric = infer_roles(&fields(&[("ts", "double")]), &[]);
        assert!(!numeric.contains_key(&Role::Timestamp));
    }
}
