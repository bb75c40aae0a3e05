//! `ip_reputation`: what AbuseIPDB, AlienVault OTX and VirusTotal say about
//! public addresses, asked through the host's enrichment broker (which
//! rate-limits, caches and accounts every call), combined into one risk
//! score with the rule that produced it. A provider that is down, out of
//! quota, slow or answers garbage is named in the result and the others
//! still count (fail-open). Internal addresses are never sent out. The IDS
//! alerts that involve the address are shown beside, so the local evidence
//! stands alone when no provider has a key. Verdicts are kept in memory
//! (`reputation.ip.<address>`) for `threat_analyst`.

mod providers;
mod score;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use providers::Provider;
use sc_detection::scope::{self, Scope};
use sc_detection::{Catalog, DataKind, Role, Settings, discover, step};
use score::{Answer, combine};
use securityclaw_sdk::{
    CapabilityError, Invocation, Outcome, Skill, SkillError, Timestamp, config, describe, http,
    memory,
};

/// Addresses per run: each costs up to three provider calls.
const MAX_IPS: usize = 10;

#[derive(Deserialize)]
struct Params {
    ip: Option<String>,
    ips: Option<Vec<String>>,
    max_age_hours: u64,
    refresh: bool,
    timeout_ms: u32,
}

/// `http.enrichment`, as `config.get("enrichment")` gives it.
#[derive(Deserialize, Default)]
struct Enrichment {
    #[serde(default)]
    providers: BTreeMap<String, ProviderSettings>,
}

#[derive(Deserialize)]
struct ProviderSettings {
    url: String,
}

fn addresses(params: &Params) -> Result<Vec<String>, SkillError> {
    let mut all: Vec<String> = params.ip.iter().cloned().collect();
    all.extend(params.ips.iter().flatten().cloned());
    all.dedup();
    if all.is_empty() {
        return Err(SkillError::InvalidInput(
            "name the addresses: `ip` (one) or `ips` (up to 10)".to_owned(),
        ));
    }
    if all.len() > MAX_IPS {
        return Err(SkillError::InvalidInput(format!(
            "{} addresses asked; at most {MAX_IPS} per run (each costs up to three provider calls)",
            all.len()
        )));
    }
    Ok(all)
}

/// The API keys there are, and why each missing one is missing.
fn keys() -> (BTreeMap<Provider, String>, Vec<Value>) {
    let mut keys = BTreeMap::new();
    let mut missing = Vec::new();
    for provider in Provider::ALL {
        match config::secret(provider.secret()) {
            Ok(key) if !key.trim().is_empty() => {
                keys.insert(provider, key.trim().to_owned());
            }
            Ok(_) => missing.push(json!({"provider": provider, "status": "no_key",
                "fix": format!("the secret {} is empty", provider.secret())})),
            Err(CapabilityError::Denied(m)) => missing.push(json!({"provider": provider, "status": "not_granted", "fix": m})),
            Err(err) => missing.push(json!({"provider": provider, "status": "no_key",
                "fix": format!("export SC_SECRET_{} in the host's environment ({})", provider.secret(), describe(&err))})),
        }
    }
    (keys, missing)
}

/// Asks one provider about `ip`.
fn ask(provider: Provider, base: &str, key: &str, ip: IpAddr, timeout_ms: u32) -> Answer {
    let request = http::Request {
        method: http::Method::Get,
        url: provider.url(base, ip),
        headers: vec![
            (provider.key_header().to_owned(), key.to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ],
        body: None,
        timeout_ms: Some(timeout_ms),
    };
    let response = match http::send(&request) {
        Ok(response) => response,
        Err(CapabilityError::Timeout) => {
            return Answer::failed(provider, "timeout", "no answer in time".to_owned());
        }
        Err(err) => return Answer::failed(provider, "unavailable", describe(&err)),
    };
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let brokered = header("x-securityclaw-enrichment");
    match response.status {
        200..=299 => match provider.read(&response.body) {
            Ok(reading) => Answer::answered(provider, reading, brokered == Some("cached")),
            Err(reason) => Answer::failed(provider, "malformed", reason),
        },
        429 => {
            let by = if brokered == Some("rate-limited") {
                "the enrichment broker (its quota for the provider)"
            } else {
                "the provider"
            };
            let retry = header("retry-after").unwrap_or("?");
            Answer::failed(
                provider,
                "rate_limited",
                format!("held back by {by}; retry in {retry} s"),
            )
        }
        401 | 403 => Answer::failed(
            provider,
            "key_refused",
            format!(
                "HTTP {}: check the secret {}",
                response.status,
                provider.secret()
            ),
        ),
        status @ 500..=599 => Answer::failed(provider, "unavailable", format!("HTTP {status}")),
        status => Answer::failed(provider, "error", format!("HTTP {status}")),
    }
}

/// IDS alerts involving `ip`, from every alert index the catalog knows.
/// The field catalog the local alert counts map fields from; why there is
/// none, when there is none.
fn local_catalog(invocation: &Invocation) -> Result<Catalog, String> {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    discover::load_or_discover(
        &settings.index_pattern(),
        &invocation.run_id,
        &invocation.now.to_rfc3339(),
    )
    .map_err(|e| e.to_string())
}

fn alerts(ip: &str, catalog: &Result<Catalog, String>) -> Value {
    let catalog = match catalog {
        Ok(catalog) => catalog,
        Err(err) => return json!({"alerts": null, "note": format!("no local alerts read: {err}")}),
    };
    let run = || -> Result<Value, SkillError> {
        let mut total = 0u64;
        let mut rules = Vec::new();
        for source in catalog.of(DataKind::Alert) {
            let ends: Vec<&str> = [Role::SourceIp, Role::DestinationIp]
                .into_iter()
                .filter_map(|r| source.field(r))
                .collect();
            if ends.is_empty() {
                continue;
            }
            let should: Vec<Value> = ends.iter().map(|f| json!({"term": {*f: ip}})).collect();
            let mut body = json!({"size": 0, "track_total_hits": true,
                "query": {"bool": {"should": should, "minimum_should_match": 1}}});
            if let Some(rule) = source.field(Role::Rule) {
                body["aggs"] = json!({"rules": {"terms": {"field": rule, "size": 5}}});
            }
            let text = step(
                "counting IDS alerts",
                securityclaw_sdk::db::search_raw(&source.pattern(), &body),
            )?;
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            total += answer
                .pointer("/hits/total/value")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if let Some(buckets) = answer
                .pointer("/aggregations/rules/buckets")
                .and_then(Value::as_array)
            {
                rules.extend(
                    buckets
                        .iter()
                        .map(|b| json!({"rule": b["key"], "count": b["doc_count"]})),
                );
            }
        }
        Ok(json!({"alerts": total, "top_rules": rules}))
    };
    run().unwrap_or_else(
        |err| json!({"alerts": null, "note": format!("no local alerts read: {err}")}),
    )
}

/// A verdict kept in memory that is young enough to reuse.
fn remembered(ip: &str, max_age_hours: u64, now: Timestamp) -> Option<Value> {
    let kept: Value = memory::get(&format!("reputation.ip.{ip}")).ok().flatten()?;
    let at = kept["checked_at"]
        .as_str()
        .and_then(Timestamp::parse_rfc3339)?;
    let fresh = now
        .minus(Duration::from_secs(max_age_hours * 3600))
        .epoch_millis()
        <= at.epoch_millis();
    fresh.then_some(kept)
}

struct IpReputation;

impl Skill for IpReputation {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let asked = addresses(&params)?;
        let enrichment: Enrichment =
            step("reading http.enrichment", config::get("enrichment"))?.unwrap_or_default();
        let (keys, missing) = keys();
        // Read at the first public address, then kept for the run.
        let catalog = std::cell::OnceCell::new();
        let mut results = Vec::new();
        let mut answered = 0usize;
        for text in &asked {
            let Ok(ip) = text.trim().parse::<IpAddr>() else {
                results.push(json!({"ip": text, "error": format!("`{text}` is not an IPv4 or IPv6 address")}));
                continue;
            };
            let scope = scope::of(ip);
            if scope != Scope::Public {
                results.push(
                    json!({"ip": ip.to_string(), "scope": scope, "verdict": "not_applicable",
                    "note": "not a public address: never sent to a reputation provider"}),
                );
                continue;
            }
            let ip_text = ip.to_string();
            if !params.refresh
                && let Some(kept) = remembered(&ip_text, params.max_age_hours, invocation.now)
            {
                answered += 1;
                let mut kept = kept;
                kept["from_memory"] = json!(true);
                kept["local"] =
                    alerts(&ip_text, catalog.get_or_init(|| local_catalog(&invocation)));
                results.push(kept);
                continue;
            }
            let mut answers = Vec::new();
            for (provider, key) in &keys {
                let Some(base) = enrichment.providers.get(provider.name()) else {
                    answers.push(Answer::failed(
                        *provider,
                        "not_configured",
                        format!(
                            "no `http.enrichment.providers.{}` in config.yaml",
                            provider.name()
                        ),
                    ));
                    continue;
                };
                answers.push(ask(*provider, &base.url, key, ip, params.timeout_ms));
            }
            let combined = combine(&answers);
            let mut result = json!({
                "ip": ip_text, "scope": scope, "verdict": combined.verdict, "risk": combined.risk, "rule": combined.rule,
                "answered_by": combined.answered_by, "providers": answers, "checked_at": invocation.now.to_rfc3339(),
            });
            if !combined.answered_by.is_empty() {
                answered += 1;
                // Kept without the local part, which is re-read each time.
                if let Err(err) = memory::set(&format!("reputation.ip.{ip_text}"), &result) {
                    result["memory_note"] =
                        json!(format!("not kept in memory: {}", describe(&err)));
                }
            }
            result["local"] = alerts(&ip_text, catalog.get_or_init(|| local_catalog(&invocation)));
            results.push(result);
        }
        let result = json!({"results": results, "missing_providers": missing});
        if keys.is_empty() && answered == 0 {
            return Ok(Outcome::no_data(
                "no reputation provider has a key: export SC_SECRET_ABUSEIPDB_API_KEY, SC_SECRET_OTX_API_KEY or SC_SECRET_VIRUSTOTAL_API_KEY; the local IDS alerts are shown instead".to_owned(),
            ).with(result));
        }
        let lines: Vec<String> = results
            .iter()
            .map(|r| match (&r["verdict"], &r["risk"]) {
                (Value::String(v), Value::Number(risk)) => {
                    format!("{}: {v} (risk {risk})", r["ip"].as_str().unwrap_or("?"))
                }
                (Value::String(v), _) => format!("{}: {v}", r["ip"].as_str().unwrap_or("?")),
                _ => format!(
                    "{}: {}",
                    r["ip"].as_str().unwrap_or("?"),
                    r["error"].as_str().unwrap_or("error")
                ),
            })
            .collect();
        if answered == 0 {
            return Ok(
                Outcome::no_data(format!("no provider answered: {}", lines.join("; ")))
                    .with(result),
            );
        }
        Ok(Outcome::ok(lines.join("; "), result))
    }
}

securityclaw_sdk::export_skill!(IpReputation);
