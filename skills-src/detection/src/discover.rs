//! Building the catalog from the store: list the indices the detectors may
//! read, read their mappings, sample documents, infer roles, and group the
//! indices that share them. `fields_baseliner` stores the result; a
//! detector that runs before it builds one for itself.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use securityclaw_sdk::{SkillError, db};

use crate::catalog::{self, Catalog, DataKind, Role, SourceCatalog};
use crate::step;

/// Indices the detectors never read as telemetry: their own records.
pub fn is_own_index(name: &str) -> bool {
    name.starts_with("securityclaw-") || name.starts_with('.')
}

/// Indices are grouped by what they hold and which field plays each role.
type GroupKey = (DataKind, Vec<(Role, String)>);

/// What discovery found: the usable groups, and the ones left out with
/// the roles they lack.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The catalog of usable groups.
    pub catalog: Catalog,
    /// Groups left out: (indices, kind, missing roles).
    pub unusable: Vec<(Vec<String>, DataKind, Vec<Role>)>,
    /// Documents in every index matched.
    pub documents: u64,
}

/// Builds the catalog of the indices matching `pattern`, sampling
/// `sample_size` documents of each.
pub fn discover(
    pattern: &str,
    sample_size: u32,
    run_id: &str,
    now: &str,
) -> Result<Discovery, SkillError> {
    let indices: Vec<db::IndexInfo> = step(
        "listing the telemetry indices",
        db::list_indices(Some(pattern)),
    )?
    .into_iter()
    .filter(|i| !is_own_index(&i.name) && i.documents > 0)
    .collect();
    let mut discovery = Discovery {
        documents: indices.iter().map(|i| i.documents).sum(),
        ..Discovery::default()
    };
    discovery.catalog.generated_at = now.to_owned();
    discovery.catalog.run_id = run_id.to_owned();
    if indices.is_empty() {
        return Ok(discovery);
    }
    let names: Vec<String> = indices.iter().map(|i| i.name.clone()).collect();
    let mapping = step(
        "reading the field mappings",
        db::field_mappings(&names.join(",")),
    )?;
    let fields = catalog::mapped_fields(&mapping);
    // Indices with the same roles are one group (daily indices of one log).
    let mut groups: BTreeMap<GroupKey, (Vec<String>, u64)> = BTreeMap::new();
    for index in &indices {
        let Some(index_fields) = fields.get(&index.name) else {
            continue;
        };
        let body = json!({"size": sample_size, "query": {"match_all": {}}});
        let samples: Vec<Value> = step(
            &format!("sampling index `{}`", index.name),
            db::search::<Value>(&index.name, &body),
        )?
        .hits
        .into_iter()
        .map(|h| h.source)
        .collect();
        let roles = catalog::infer_roles(index_fields, &samples);
        let kind = catalog::classify(&roles, &samples);
        let entry = groups
            .entry((kind, roles.into_iter().collect()))
            .or_default();
        entry.0.push(index.name.clone());
        entry.1 += index.documents;
    }
    for ((kind, roles), (indices, documents)) in groups {
        let roles: BTreeMap<Role, String> = roles.into_iter().collect();
        let missing = catalog::missing_roles(kind, &roles);
        if !missing.is_empty() {
            discovery.unusable.push((indices, kind, missing));
            continue;
        }
        let mut source = SourceCatalog {
            indices,
            kind,
            fields: roles,
            documents,
            cardinality: BTreeMap::new(),
            examples: BTreeMap::new(),
        };
        describe_values(&mut source)?;
        discovery.catalog.sources.push(source);
    }
    Ok(discovery)
}

/// Roles whose values are worth counting and showing.
const DESCRIBED: [Role; 10] = [
    Role::SourceIp,
    Role::DestinationIp,
    Role::DestinationPort,
    Role::Transport,
    Role::Protocol,
    Role::ConnectionState,
    Role::User,
    Role::Domain,
    Role::Rule,
    Role::Outcome,
];

/// Fills in cardinalities and examples with one aggregation request.
fn describe_values(source: &mut SourceCatalog) -> Result<(), SkillError> {
    let mut aggs = serde_json::Map::new();
    for role in DESCRIBED {
        if let Some(field) = source.field(role) {
            let name = role.key();
            aggs.insert(
                format!("{name}_distinct"),
                json!({"cardinality": {"field": field}}),
            );
            aggs.insert(
                format!("{name}_top"),
                json!({"terms": {"field": field, "size": 5}}),
            );
        }
    }
    if aggs.is_empty() {
        return Ok(());
    }
    let answer = step(
        &format!("describing the values of `{}`", source.pattern()),
        db::aggregate(&source.pattern(), None, &Value::Object(aggs)),
    )?;
    for role in DESCRIBED {
        let name = role.key();
        if let Some(n) = answer
            .pointer(&format!("/{name}_distinct/value"))
            .and_then(Value::as_u64)
        {
            source.cardinality.insert(role, n);
        }
        if let Some(Value::Array(buckets)) = answer.pointer(&format!("/{name}_top/buckets")) {
            let examples: Vec<String> = buckets
                .iter()
                .filter_map(|b| b.get("key"))
                .map(|k| match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if !examples.is_empty() {
                source.examples.insert(role, examples);
            }
        }
    }
    Ok(())
}

/// The stored catalog, or a fresh one when `fields_baseliner` has not run.
pub fn load_or_discover(pattern: &str, run_id: &str, now: &str) -> Result<Catalog, SkillError> {
    match step("reading the field catalog", Catalog::load())? {
        Some(catalog) if !catalog.sources.is_empty() => Ok(catalog),
        _ => Ok(discover(pattern, 50, run_id, now)?.catalog),
    }
}
