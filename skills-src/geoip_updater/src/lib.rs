//! `geoip_updater`: keeps MaxMind GeoLite2/GeoIP2 databases in the `geoip`
//! folder fresh for a licence holder. For each edition it asks MaxMind for
//! the archive's sha256, skips an unchanged one, downloads the archive,
//! checks it against that sha256, takes the `.mmdb` out of it, opens it as
//! a MaxMind database, and only then swaps it in (written beside, renamed
//! over: a lookup never sees half a file). Any failure keeps the database
//! that was there. Lookups stay with `geoip_lookup`, which reads the folder
//! read-only and has no network: this skill alone may write and download.

#[cfg(test)]
mod tests;

use std::io::Read as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use securityclaw_sdk::{
    CapabilityError, Invocation, Outcome, Skill, SkillError, config, describe, files, http, memory,
};

/// MaxMind's download endpoint for licence keys.
const DEFAULT_URL: &str = "https://download.maxmind.com/app/geoip_download";

#[derive(Deserialize)]
struct Params {
    editions: Vec<String>,
    force: bool,
}

/// What happened to one edition.
enum Refresh {
    Installed { bytes: usize, sha256: String },
    Unchanged,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn get(url: &str, what: &str) -> Result<Vec<u8>, String> {
    let response = http::get(url).map_err(|e| match e {
        CapabilityError::Timeout => format!("{what}: no answer in time"),
        other => format!("{what}: {}", describe(&other)),
    })?;
    match response.status {
        200 => {}
        401 | 403 => {
            return Err(format!(
                "{what}: HTTP {}: MaxMind refused the licence key (check SC_SECRET_MAXMIND_LICENSE_KEY and that the edition is in the account)",
                response.status
            ));
        }
        status => return Err(format!("{what}: HTTP {status}")),
    }
    if response.truncated {
        return Err(format!(
            "{what}: the download was cut at http.max_body_bytes ({} bytes arrived): raise it in config.yaml above the archive's size (GeoLite2-City is about 40 MB)",
            response.body.len()
        ));
    }
    Ok(response.body)
}

/// The first `.mmdb` file in a `.tar.gz` archive.
fn unpack(archive: &[u8]) -> Result<Vec<u8>, String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|e| format!("the archive is not a tar.gz: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the archive is damaged: {e}"))?;
        let is_mmdb = entry
            .path()
            .ok()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "mmdb"));
        if is_mmdb {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| format!("the archive is damaged: {e}"))?;
            return Ok(bytes);
        }
    }
    Err("the archive holds no .mmdb file".to_owned())
}

/// Refreshes `edition` in `folder`.
fn refresh(
    base: &str,
    key: &str,
    edition: &str,
    folder: &Path,
    force: bool,
) -> Result<Refresh, String> {
    let url =
        |suffix: &str| format!("{base}?edition_id={edition}&license_key={key}&suffix={suffix}");
    let listed = get(&url("tar.gz.sha256"), "the checksum")?;
    let expected = String::from_utf8_lossy(&listed)
        .split_whitespace()
        .next()
        .map(str::to_ascii_lowercase)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| "the checksum answer holds no sha256".to_owned())?;
    let target = folder.join(format!("{edition}.mmdb"));
    let memory_key = format!("geoip_updater.{edition}");
    let installed: Option<Value> = memory::get(&memory_key).ok().flatten();
    if !force
        && target.is_file()
        && installed.as_ref().and_then(|v| v["sha256"].as_str()) == Some(expected.as_str())
    {
        return Ok(Refresh::Unchanged);
    }
    let archive = get(&url("tar.gz"), "the download")?;
    let actual = hex(&Sha256::digest(&archive));
    if actual != expected {
        return Err(format!(
            "the download's sha256 is {actual}, MaxMind lists {expected}: not installed"
        ));
    }
    let database = unpack(&archive)?;
    let reader = maxminddb::Reader::from_source(database.as_slice())
        .map_err(|e| format!("the archive's database does not open: {e}"))?;
    let kind = reader.metadata().database_type.clone();
    drop(reader);
    let partial = folder.join(format!(".{edition}.mmdb.partial"));
    std::fs::write(&partial, &database)
        .map_err(|e| format!("writing {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &target).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("swapping in {}: {e}", target.display())
    })?;
    memory::set(
        &memory_key,
        &json!({"sha256": expected, "database_type": kind}),
    )
    .map_err(|e| format!("remembering the checksum: {}", describe(&e)))?;
    Ok(Refresh::Installed {
        bytes: database.len(),
        sha256: expected,
    })
}

struct GeoipUpdater;

impl Skill for GeoipUpdater {
    fn run(invocation: Invocation) -> Result<Outcome, SkillError> {
        let params: Params = invocation.params()?;
        let key = match config::secret("MAXMIND_LICENSE_KEY") {
            Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
            Ok(_) | Err(CapabilityError::NotConfigured(_)) => {
                return Ok(Outcome::no_data(
                    "no MaxMind licence key: export SC_SECRET_MAXMIND_LICENSE_KEY to refresh GeoLite2/GeoIP2 databases; the installed databases (`sc-host models pull geoip`) stay as they are".to_owned(),
                ));
            }
            Err(other) => return Err(other.into()),
        };
        let base: String = config::get("download_url")?.unwrap_or_else(|| DEFAULT_URL.to_owned());
        let folder = files::folder("geoip")?;
        let mut editions = Vec::new();
        let (mut installed, mut failed) = (0, 0);
        for edition in &params.editions {
            if edition.is_empty()
                || !edition
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(SkillError::InvalidInput(format!(
                    "`{edition}` is not a MaxMind edition id such as GeoLite2-City"
                )));
            }
            let outcome = match refresh(&base, &key, edition, &folder, params.force) {
                Ok(Refresh::Installed { bytes, sha256 }) => {
                    installed += 1;
                    json!({"edition": edition, "status": "installed", "bytes": bytes, "sha256": sha256})
                }
                Ok(Refresh::Unchanged) => json!({"edition": edition, "status": "unchanged"}),
                Err(reason) => {
                    failed += 1;
                    // The licence key travels in the URL: keep it out of
                    // what is shown and stored.
                    let reason = reason.replace(&key, "<licence key>");
                    json!({"edition": edition, "status": "failed", "reason": reason, "kept": "the database already there"})
                }
            };
            editions.push(outcome);
        }
        let summary = format!(
            "{installed} installed, {} unchanged, {failed} failed",
            editions.len() - installed - failed
        );
        let result = json!({"editions": editions});
        if failed > 0 && installed == 0 {
            let reasons: Vec<String> = editions
                .iter()
                .filter_map(|e| {
                    Some(format!(
                        "{}: {}",
                        e["edition"].as_str()?,
                        e["reason"].as_str()?
                    ))
                })
                .collect();
            return Err(SkillError::Failed(format!(
                "{summary} ({}); the databases already there are kept",
                reasons.join("; ")
            )));
        }
        Ok(Outcome::ok(summary, result))
    }
}

securityclaw_sdk::export_skill!(GeoipUpdater);
