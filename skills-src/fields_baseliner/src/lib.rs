//! `fields_baseliner`: infers the field catalog of the telemetry indices
//! and stores it (memory `detection.catalog`, RAG `field_documentation`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use sc_detection::catalog::CATALOG_KEY;
use sc_detection::discover::{self, Discovery};
use sc_detection::{Catalog, Settings, SourceCatalog, step};
use securityclaw_sdk::{
    Invocation, Outcome, Skill, SkillError, Trigger, export_skill, log, memory, rag,
};

struct FieldsBaseliner;

#[derive(Deserialize)]
struct Params {
    sample_size: u32,
    min_new_documents: u64,
    force: bool,
}

/// What the last catalog was made from.
#[derive(Serialize, Deserialize, Default)]
struct LastRun {
    documents: u64,
}

const LAST_RUN_KEY: &str = "fields_baseliner.last_run";

fn describe(source: &SourceCatalog) -> String {
    let roles: Vec<String> = source
        .fields
        .iter()
        .map(|(role, field)| match source.cardinality.get(role) {
            Some(n) => format!("{} = `{field}` ({n} distinct)", role.key()),
            None => format!("{} = `{field}`", role.key()),
        })
        .collect();
    format!(
        "Indices {} hold {:?} telemetry ({} documents). Field roles: {}.",
        source.indices.join(", "),
        source.kind,
        source.documents,
        roles.join("; ")
    )
}

impl Skill for FieldsBaseliner {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let settings = Settings::load()?;
        let pattern = settings.index_pattern();
        let now = invocation.now.to_rfc3339();
        let last: LastRun =
            step("reading the last run", memory::get(LAST_RUN_KEY))?.unwrap_or_default();
        let had_catalog = step("reading the catalog", Catalog::load())?.is_some();
        let Discovery {
            catalog,
            unusable,
            documents,
        } = discover::discover(&pattern, params.sample_size, &invocation.run_id, &now)?;
        if documents == 0 {
            return Ok(Outcome::no_data(format!(
                "no documents in indices matching `{pattern}`: ingest logs (`sc-host ingest`) or set detection.indices"
            )));
        }
        let scheduled = matches!(invocation.trigger, Trigger::Schedule);
        let arrived = documents.saturating_sub(last.documents);
        if scheduled && had_catalog && !params.force && arrived < params.min_new_documents {
            return Ok(Outcome::skipped(format!(
                "{arrived} documents arrived since the last catalog; waiting for {}",
                params.min_new_documents
            )));
        }
        if catalog.sources.is_empty() {
            let missing: Vec<String> = unusable
                .iter()
                .map(|(indices, kind, roles)| {
                    let roles: Vec<String> = roles.iter().map(|r| r.key()).collect();
                    format!(
                        "{} ({kind:?}) lacks {}",
                        indices.join(","),
                        roles.join(", ")
                    )
                })
                .collect();
            return Ok(Outcome::no_data(format!(
                "no index matching `{pattern}` has the fields detection needs: {}",
                missing.join("; ")
            )));
        }
        step("storing the catalog", memory::set(CATALOG_KEY, &catalog))?;
        step(
            "recording the run",
            memory::set(LAST_RUN_KEY, &LastRun { documents }),
        )?;
        let docs: Vec<rag::Document> = catalog
            .sources
            .iter()
            .map(|source| rag::Document {
                category: "field_documentation".to_owned(),
                entity: source.pattern(),
                window: None,
                text: describe(source),
                source: format!("fields_baseliner run {}", invocation.run_id),
                metadata:
                    json!({"kind": source.kind, "fields": source.fields, "generated_at": now})
                        .to_string(),
                valid_until: None,
            })
            .collect();
        if let Err(err) = rag::store(&docs) {
            // The catalog in memory is what detectors use; the RAG copy is for
            // the analyst's questions, so its absence is logged, not fatal.
            log::warn(&format!(
                "field documentation not stored: {}",
                securityclaw_sdk::describe(&err)
            ));
        }
        let summary = format!(
            "catalogued {} index group(s) over {} documents{}",
            catalog.sources.len(),
            documents,
            if unusable.is_empty() {
                String::new()
            } else {
                format!("; {} group(s) lack needed fields", unusable.len())
            }
        );
        Ok(Outcome::ok(
            summary,
            json!({
                "sources": catalog.sources,
                "unusable": unusable.iter().map(|(i, k, r)| json!({"indices": i, "kind": k, "missing_roles": r})).collect::<Vec<_>>(),
                "documents": documents,
            }),
        ))
    }
}

export_skill!(FieldsBaseliner);

#[cfg(test)]
mod tests {
    use securityclaw_sdk::db::IndexInfo;
    use securityclaw_sdk::testing::MockHost;
    use securityclaw_sdk::{Invocation, Status, Trigger};
    use serde_json::json;

    use super::FieldsBaseliner;

    fn params() -> serde_json::Value {
        json!({"sample_size": 10, "min_new_documents": 10000, "force": false})
    }

    fn zeek_host() -> MockHost {
        MockHost::new()
            .db_indices(vec![IndexInfo { name: "logs-zeek-conn".into(), documents: 9048 }])
            .on_db_field_mappings(|_| {
                Ok(json!({"logs-zeek-conn": {"mappings": {"properties": {
                    "@timestamp": {"type": "date"},
                    "source": {"properties": {"ip": {"type": "ip"}, "port": {"type": "long"}}},
                    "destination": {"properties": {"ip": {"type": "ip"}, "port": {"type": "long"}}},
                    "zeek": {"properties": {"conn": {"properties": {"conn_state": {"type": "keyword"}}}}},
                }}}}))
            })
            .on_db_search(|_, _| {
                Ok(json!({"hits": {"total": {"value": 1}, "hits": [{"_id": "a", "_index": "logs-zeek-conn", "_source": {
                    "@timestamp": "2022-06-12T22:00:09Z", "source": {"ip": "167.94.138.99"}, "destination": {"ip": "147.32.83.165"},
                    "zeek": {"conn": {"conn_state": "S0"}}}}]}}))
            })
            .on_db_aggregate(|_, _, _| Ok(json!({"source_ip_distinct": {"value": 1519}, "source_ip_top": {"buckets": [{"key": "147.32.83.165", "doc_count": 4771}]}})))
    }

    #[test]
    fn a_zeek_index_is_catalogued_with_its_roles_and_counts() {
        let host = zeek_host();
        let run = host
            .run::<FieldsBaseliner>(Invocation::new(Trigger::Startup, params()))
            .expect("runs");
        assert_eq!(run.status, Status::Ok, "{}", run.summary);
        let catalog = host
            .memory_value("detection.catalog")
            .expect("catalog stored");
        let source = &catalog["sources"][0];
        assert_eq!(source["kind"], "flow");
        assert_eq!(source["fields"]["source_ip"], "source.ip");
        assert_eq!(source["fields"]["connection_state"], "zeek.conn.conn_state");
        assert_eq!(source["cardinality"]["source_ip"], 1519);
        let stored = host.stored();
        assert_eq!(stored[0].category, "field_documentation");
        assert!(
            stored[0]
                .text
                .contains("source_ip = `source.ip` (1519 distinct)"),
            "{}",
            stored[0].text
        );
    }

    #[test]
    fn a_scheduled_run_waits_until_enough_new_documents_arrived() {
        let host = zeek_host()
            .memory(
                "detection.catalog",
                json!({"generated_at": "x", "run_id": "y", "sources": []}),
            )
            .memory("fields_baseliner.last_run", json!({"documents": 9000}));
        let run = host
            .run::<FieldsBaseliner>(Invocation::new(Trigger::Schedule, params()))
            .expect("runs");
        assert_eq!(run.status, Status::Skipped);
        assert!(
            run.summary.contains("48 documents arrived"),
            "{}",
            run.summary
        );
    }

    #[test]
    fn no_indices_is_no_data_with_the_fix() {
        let host = MockHost::new().db_indices(Vec::new());
        let run = host
            .run::<FieldsBaseliner>(Invocation::new(Trigger::Startup, params()))
            .expect("runs");
        assert_eq!(run.status, Status::NoData);
        assert!(run.summary.contains("sc-host ingest"), "{}", run.summary);
    }
}
