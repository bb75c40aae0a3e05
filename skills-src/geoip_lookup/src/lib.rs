//! `geoip_lookup`: country, region, city, coordinates, time zone and AS of
//! up to 25 addresses, from the databases in its granted `geoip` folder;
//! special-purpose addresses (private, loopback, CGNAT, documentation…)
//! are answered as what they are without a lookup. Each public answer is
//! also kept in memory (`geoip.ip.<address>`) for the analyst skills.

use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use securityclaw_sdk::{
    Invocation, Outcome, Skill, SkillError, config, export_skill, files, memory,
};

mod databases;
mod sparse;

use databases::{Databases, Place};
use sc_detection::scope::{self, Scope};

/// The most addresses one run looks up.
pub const MAX_ADDRESSES: usize = 25;

/// The credit each source's licence asks for, by file name.
fn attribution(file: &str) -> &'static str {
    let lower = file.to_ascii_lowercase();
    if lower.starts_with("dbip-") {
        "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
    } else if lower == "asn.bin" {
        "ASN data: RouteViews (routeviews.org), NRO (nro.net) and DB-IP, via ip-location-db, CC BY 4.0"
    } else if lower.starts_with("geolite2") {
        "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com"
    } else {
        "GeoIP2 data by MaxMind (https://www.maxmind.com)"
    }
}

/// One answer.
#[derive(Debug, Serialize)]
struct Answer {
    /// The address as asked.
    input: String,
    /// The address, normalised; absent when the input is not one.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<Scope>,
    /// Why a special-purpose address was not looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
    #[serde(flatten)]
    place: Option<Place>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The addresses asked: `ips`, `ip`, or both, deduplicated in order.
fn inputs(invocation: &Invocation) -> Result<Vec<String>, SkillError> {
    let mut all: Vec<String> = invocation.param("ips")?.unwrap_or_default();
    if let Some(one) = invocation.param::<String>("ip")? {
        all.insert(0, one);
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|ip| seen.insert(ip.trim().to_owned()));
    if all.is_empty() {
        return Err(SkillError::InvalidInput(
            "give the addresses to look up: `ip` (one) or `ips` (a list of up to 25)".to_owned(),
        ));
    }
    if all.len() > MAX_ADDRESSES {
        return Err(SkillError::InvalidInput(format!(
            "{} addresses asked; at most {MAX_ADDRESSES} per run",
            all.len()
        )));
    }
    Ok(all)
}

struct GeoIpLookup;

impl Skill for GeoIpLookup {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let asked = inputs(&invocation)?;
        let folder = files::folder("geoip")?;
        let city: Option<String> = config::get("city_database")?;
        let asn: Option<String> = config::get("asn_database")?;
        let mut dbs = Databases::discover(&folder, city.as_deref(), asn.as_deref());
        let started = Instant::now();
        let mut answers = Vec::with_capacity(asked.len());
        let (mut public, mut found) = (0usize, 0usize);
        for input in &asked {
            let Ok(ip) = input.trim().parse::<IpAddr>() else {
                answers.push(Answer {
                    input: input.clone(),
                    ip: None,
                    scope: None,
                    note: None,
                    place: None,
                    error: Some("not an IP address".to_owned()),
                });
                continue;
            };
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            let scope = scope::of(ip);
            let mut answer = Answer {
                input: input.clone(),
                ip: Some(ip.to_string()),
                scope: Some(scope),
                note: (scope != Scope::Public).then(|| scope.note()),
                place: None,
                error: None,
            };
            if scope == Scope::Public {
                public += 1;
                let place = dbs.lookup(ip);
                if place.sources.is_empty() {
                    answer.error = Some(if dbs.is_empty() {
                        "no GeoIP database installed".to_owned()
                    } else {
                        "not in the databases".to_owned()
                    });
                } else {
                    found += 1;
                    answer.place = Some(place);
                }
            }
            answers.push(answer);
        }
        let lookup_ms = started.elapsed().as_secs_f64() * 1e3 - dbs.open_ms;
        // Kept for the analyst skills; a memory failure costs only the cache.
        for answer in &answers {
            if let (Some(ip), Some(place)) = (&answer.ip, &answer.place) {
                let cached = json!({"ip": ip, "place": place, "at": invocation.now.to_rfc3339()});
                if let Err(err) = memory::set(&format!("geoip.ip.{ip}"), &cached) {
                    dbs.problems.push(format!(
                        "caching {ip}: {}",
                        securityclaw_sdk::describe(&err)
                    ));
                }
            }
        }
        let valid = answers.iter().filter(|a| a.ip.is_some()).count();
        if valid == 0 {
            return Err(SkillError::InvalidInput(format!(
                "none of the {} inputs is an IP address: {}",
                asked.len(),
                asked.join(", ")
            )));
        }
        let (location_files, asn_files) = dbs.files();
        let mut sources: Vec<&str> = answers
            .iter()
            .filter_map(|a| a.place.as_ref())
            .flat_map(|p| p.sources.iter().map(String::as_str))
            .collect();
        sources.sort_unstable();
        sources.dedup();
        let credits: Vec<&str> = {
            let mut c: Vec<&str> = sources.iter().map(|s| attribution(s)).collect();
            c.dedup();
            c
        };
        let result = json!({
            "results": answers,
            "databases": {"location": location_files, "asn": asn_files},
            "attribution": credits,
            "problems": dbs.problems,
            "timing": {"open_ms": dbs.open_ms, "lookup_ms": lookup_ms.max(0.0), "database_reads": dbs.reads()},
        });
        if public > 0 && dbs.is_empty() {
            return Ok(Outcome::no_data(format!(
                "no GeoIP database in the `geoip` folder: run `sc-host models pull geoip`; {} of {valid} addresses are special-purpose and answered without one",
                valid - public
            ))
            .with(result));
        }
        let summary = format!(
            "{found} of {public} public addresses located, {} special-purpose, {} not addresses{}",
            valid - public,
            asked.len() - valid,
            if dbs.problems.is_empty() {
                String::new()
            } else {
                format!("; {} problem(s): {}", dbs.problems.len(), dbs.problems[0])
            }
        );
        Ok(Outcome::ok(summary, result))
    }
}

export_skill!(GeoIpLookup);

#[cfg(test)]
mod tests;
