//! A query plan — time range, entities, ports, countries, protocols, field
//! filters, a grouping — and its compilation to the OpenSearch DSL for
//! each group of indices the field catalog knows, with every field it
//! names checked against the indices' mappings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sc_detection::{DataKind, Role, SourceCatalog};
use securityclaw_sdk::Timestamp;

/// One `field = value` condition on a field the plan names itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// A field of the indices (`zeek.conn.conn_state`).
    pub field: String,
    /// The value it must have.
    pub value: Value,
}

/// What to look for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Plan {
    /// `flow`, `dns`, `alert`, `auth`, `http`, or none for every kind.
    pub kind: Option<DataKind>,
    /// Start of the range (RFC 3339).
    pub from: Option<String>,
    /// End of the range (RFC 3339).
    pub to: Option<String>,
    /// Hours back from the run's time, when `from` is not given.
    pub last_hours: Option<u32>,
    /// Addresses, as either endpoint.
    pub ips: Vec<String>,
    /// Destination ports.
    pub ports: Vec<u16>,
    /// Domains (DNS names, web hosts).
    pub domains: Vec<String>,
    /// User names.
    pub users: Vec<String>,
    /// Country codes or names.
    pub countries: Vec<String>,
    /// Application protocols or transports (`ssh`, `dns`, `udp`).
    pub protocols: Vec<String>,
    /// Conditions on fields the plan names.
    pub filters: Vec<Filter>,
    /// A role (`destination_port`, `source_ip`…) or a field to count by.
    pub group_by: Option<String>,
    /// Buckets of the grouping.
    pub top: Option<u32>,
}

/// Why a plan cannot be compiled: the text is what a repair is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One compiled search: the indices and the exact body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compiled {
    /// The index pattern searched.
    pub index: String,
    /// The search body.
    pub dsl: Value,
}

/// The role a grouping names (`destination_port`, `source ip`, `port`).
fn role_named(name: &str) -> Option<Role> {
    let key = name
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '.', '-'], "_");
    let alias = match key.as_str() {
        "port" | "dst_port" | "dest_port" => "destination_port",
        "ip" | "src_ip" | "source" => "source_ip",
        "dst_ip" | "destination" | "dest_ip" => "destination_ip",
        "domain_name" | "query" | "dns" => "domain",
        "signature" | "alert" => "rule",
        other => other,
    };
    Role::ALL.into_iter().find(|r| r.key() == alias)
}

impl Plan {
    /// The `[from, to)` range: explicit bounds, else the last hours before
    /// `now` (24 when nothing is said).
    fn range(&self, now: Timestamp) -> Result<(Timestamp, Timestamp), PlanError> {
        let parse = |what: &str, text: &str| {
            Timestamp::parse_rfc3339(text).ok_or_else(|| {
                PlanError(format!(
                    "`{what}` {text:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
                ))
            })
        };
        let to = self
            .to
            .as_deref()
            .map(|t| parse("to", t))
            .transpose()?
            .unwrap_or(now);
        let from = match &self.from {
            Some(text) => parse("from", text)?,
            None => to.minus(std::time::Duration::from_secs(
                u64::from(self.last_hours.unwrap_or(24).clamp(1, 24 * 90)) * 3600,
            )),
        };
        if from.epoch_millis() >= to.epoch_millis() {
            return Err(PlanError(format!(
                "the range is empty: `from` {} is not before `to` {}",
                from.to_rfc3339(),
                to.to_rfc3339()
            )));
        }
        Ok((from, to))
    }

    /// One search per index group of the catalog that has what the plan
    /// asks for. `fields` are the mapped fields of every index (for the
    /// fields the plan names itself).
    pub fn compile(
        &self,
        sources: &[SourceCatalog],
        fields: &BTreeMap<String, BTreeMap<String, String>>,
        now: Timestamp,
        size: u32,
    ) -> Result<Vec<Compiled>, PlanError> {
        let (from, to) = self.range(now)?;
        // Fields the plan names must exist somewhere: an unknown field is
        // an error, never a silent empty answer.
        let known = |field: &str| fields.values().any(|f| f.contains_key(field));
        for filter in &self.filters {
            if !known(&filter.field) {
                return Err(PlanError(format!(
                    "field `{}` is in no mapped index; use a field the catalog lists",
                    filter.field
                )));
            }
        }
        let group_role = self.group_by.as_deref().and_then(role_named);
        if let Some(name) = &self.group_by
            && group_role.is_none()
            && !known(name)
        {
            return Err(PlanError(format!(
                "`group_by` {name:?} is neither a role nor a mapped field"
            )));
        }
        let mut out = Vec::new();
        for source in sources
            .iter()
            .filter(|s| self.kind.is_none_or(|k| s.kind == k))
        {
            let Some(query) = self.query(source, from, to) else {
                continue;
            };
            let mut dsl = json!({"size": size.min(100), "track_total_hits": true, "query": query,
                "sort": [{source.field(Role::Timestamp).unwrap_or("@timestamp"): "desc"}]});
            let group_field = group_role
                .and_then(|r| source.field(r))
                .or(self.group_by.as_deref().filter(|g| known(g)));
            if let Some(field) = group_field {
                dsl["aggs"] = json!({"by": {"terms": {"field": field, "size": self.top.unwrap_or(10).clamp(1, 100)}}});
            }
            out.push(Compiled {
                index: source.pattern(),
                dsl,
            });
        }
        if out.is_empty() {
            let kind = self
                .kind
                .map_or("any kind".to_owned(), |k| format!("{k:?}").to_lowercase());
            return Err(PlanError(format!(
                "no index group of {kind} has every field the plan needs (its roles: ips, ports, domains, users, countries, protocols)"
            )));
        }
        Ok(out)
    }

    /// The query for one group, or none when it lacks a role the plan needs.
    fn query(&self, source: &SourceCatalog, from: Timestamp, to: Timestamp) -> Option<Value> {
        let ts = source.field(Role::Timestamp)?;
        let mut filter =
            vec![json!({"range": {ts: {"gte": from.to_rfc3339(), "lt": to.to_rfc3339()}}})];
        if !self.ips.is_empty() {
            let ends: Vec<&str> = [Role::SourceIp, Role::DestinationIp]
                .into_iter()
                .filter_map(|r| source.field(r))
                .collect();
            if ends.is_empty() {
                return None;
            }
            let should: Vec<Value> = ends
                .iter()
                .map(|f| json!({"terms": {*f: self.ips}}))
                .collect();
            filter.push(json!({"bool": {"should": should, "minimum_should_match": 1}}));
        }
        let mut need = |values: Vec<Value>, roles: &[Role]| -> Option<()> {
            if values.is_empty() {
                return Some(());
            }
            let fields: Vec<&str> = roles.iter().filter_map(|r| source.field(*r)).collect();
            if fields.is_empty() {
                return None;
            }
            let should: Vec<Value> = fields
                .iter()
                .map(|f| json!({"terms": {*f: values}}))
                .collect();
            filter.push(json!({"bool": {"should": should, "minimum_should_match": 1}}));
            Some(())
        };
        need(
            self.ports.iter().map(|p| json!(p)).collect(),
            &[Role::DestinationPort],
        )?;
        need(
            self.domains
                .iter()
                .map(|d| json!(d.to_ascii_lowercase()))
                .collect(),
            &[Role::Domain],
        )?;
        need(self.users.iter().map(|u| json!(u)).collect(), &[Role::User])?;
        need(
            self.countries.iter().map(|c| json!(c)).collect(),
            &[Role::Country],
        )?;
        need(
            self.protocols
                .iter()
                .map(|p| json!(p.to_ascii_lowercase()))
                .collect(),
            &[Role::Protocol, Role::Transport],
        )?;
        for f in &self.filters {
            filter.push(json!({"term": {f.field.as_str(): f.value}}));
        }
        Some(json!({"bool": {"filter": filter}}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows() -> SourceCatalog {
        serde_json::from_value(json!({"indices": ["logs-zeek-conn"], "kind": "flow", "documents": 10,
            "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "destination_ip": "destination.ip",
                       "destination_port": "destination.port", "protocol": "network.protocol"}}))
        .expect("catalog")
    }

    fn mapped() -> BTreeMap<String, BTreeMap<String, String>> {
        let fields = [
            "@timestamp",
            "source.ip",
            "destination.ip",
            "destination.port",
            "zeek.conn.conn_state",
        ];
        [(
            "logs-zeek-conn".to_owned(),
            fields
                .iter()
                .map(|f| ((*f).to_owned(), "keyword".to_owned()))
                .collect(),
        )]
        .into_iter()
        .collect()
    }

    const NOW: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    #[test]
    fn a_plan_compiles_to_bounded_dsl_on_the_catalogs_fields() {
        let plan = Plan {
            ips: vec!["10.0.0.50".into()],
            ports: vec![22],
            last_hours: Some(6),
            filters: vec![Filter {
                field: "zeek.conn.conn_state".into(),
                value: json!("S0"),
            }],
            group_by: Some("destination ip".into()),
            ..Plan::default()
        };
        let compiled = plan
            .compile(&[flows()], &mapped(), Timestamp::from_epoch_millis(NOW), 20)
            .expect("compiles");
        assert_eq!(compiled.len(), 1);
        let dsl = compiled[0].dsl.to_string();
        for part in [
            r#"{"range":{"@timestamp":{"gte":"2025-11-30T18:00:00.000Z","lt":"2025-12-01T00:00:00.000Z"}}}"#,
            r#"{"terms":{"source.ip":["10.0.0.50"]}}"#,
            r#"{"terms":{"destination.ip":["10.0.0.50"]}}"#,
            r#"{"terms":{"destination.port":[22]}}"#,
            r#"{"term":{"zeek.conn.conn_state":"S0"}}"#,
            r#""aggs":{"by":{"terms":{"field":"destination.ip","size":10}}}"#,
        ] {
            assert!(dsl.contains(part), "{part} in {dsl}");
        }
    }

    #[test]
    fn unknown_fields_and_impossible_plans_are_errors() {
        let now = Timestamp::from_epoch_millis(NOW);
        let unknown = Plan {
            filters: vec![Filter {
                field: "made.up".into(),
                value: json!(1),
            }],
            ..Plan::default()
        };
        assert!(
            unknown
                .compile(&[flows()], &mapped(), now, 20)
                .expect_err("unknown")
                .0
                .contains("`made.up` is in no mapped index")
        );
        let users = Plan {
            users: vec!["alice".into()],
            ..Plan::default()
        };
        assert!(
            users
                .compile(&[flows()], &mapped(), now, 20)
                .expect_err("no user field")
                .0
                .contains("no index group")
        );
        let backwards = Plan {
            from: Some("2025-12-02T00:00:00Z".into()),
            to: Some("2025-12-01T00:00:00Z".into()),
            ..Plan::default()
        };
        assert!(
            backwards
                .compile(&[flows()], &mapped(), now, 20)
                .expect_err("empty")
                .0
                .contains("range is empty")
        );
        let bad_time = Plan {
            from: Some("yesterday".into()),
            ..Plan::default()
        };
        assert!(
            bad_time
                .compile(&[flows()], &mapped(), now, 20)
                .expect_err("time")
                .0
                .contains("RFC 3339")
        );
    }
}
