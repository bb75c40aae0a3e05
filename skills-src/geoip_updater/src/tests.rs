//! The updater on the mock host, serving MaxMind's official test database
//! (`tests/geoip/fetch.sh`, SC_TEST_GEOIP_DIR) packed as MaxMind packs its
//! downloads: installed when the checksum matches, kept when anything is
//! wrong, skipped when unchanged, the key never shown.

use std::path::PathBuf;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use securityclaw_sdk::testing::{Function, MockHost};
use securityclaw_sdk::{Invocation, SkillError, Status, Trigger, http};

use super::*;

const KEY: &str = "sEcReTkEy";

fn test_database() -> Vec<u8> {
    let dir = std::env::var_os("SC_TEST_GEOIP_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!("SC_TEST_GEOIP_DIR is not set: run `tests/geoip/fetch.sh` (part of `just test-deps`) and export its output")
    });
    std::fs::read(dir.join("test-data/GeoIP2-City-Test.mmdb")).expect("MaxMind's test database")
}

/// `GeoLite2-City_20261205/GeoLite2-City.mmdb` in a tar.gz, as MaxMind ships it.
fn archive(database: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in [
        ("GeoLite2-City_20261205/COPYRIGHT.txt", &b"test"[..]),
        ("GeoLite2-City_20261205/GeoLite2-City.mmdb", database),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).expect("append");
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("archive")
}

fn ok(body: Vec<u8>) -> http::Response {
    http::Response {
        status: 200,
        headers: Vec::new(),
        body,
        truncated: false,
    }
}

/// A host serving `archive` with `listed` as its checksum.
fn host(folder: &std::path::Path, archive: Vec<u8>, listed: String) -> MockHost {
    MockHost::new()
        .secret("MAXMIND_LICENSE_KEY", KEY)
        .folder("geoip", folder)
        .on_http(move |request| {
            assert!(request.url.contains("edition_id=GeoLite2-City") && request.url.contains(KEY));
            Ok(if request.url.ends_with("suffix=tar.gz.sha256") {
                ok(format!("{listed}  GeoLite2-City_20261205.tar.gz\n").into_bytes())
            } else {
                ok(archive.clone())
            })
        })
}

fn invocation(force: bool) -> Invocation {
    Invocation::new(
        Trigger::Schedule,
        json!({"editions": ["GeoLite2-City"], "force": force}),
    )
}

#[test]
fn a_checked_download_is_swapped_in_and_an_unchanged_one_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let packed = archive(&test_database());
    let sha = hex(&Sha256::digest(&packed));
    let mock = host(dir.path(), packed, sha.clone());
    let run = mock.run::<GeoipUpdater>(invocation(false)).expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    assert_eq!(run.result["editions"][0]["status"], "installed");
    assert_eq!(
        std::fs::read(dir.path().join("GeoLite2-City.mmdb")).expect("installed"),
        test_database()
    );
    assert!(!dir.path().join(".GeoLite2-City.mmdb.partial").exists());
    assert_eq!(
        mock.memory_value("geoip_updater.GeoLite2-City")
            .expect("kept")["sha256"],
        sha
    );
    let again = mock.run::<GeoipUpdater>(invocation(false)).expect("runs");
    assert_eq!(again.result["editions"][0]["status"], "unchanged");
    assert_eq!(
        mock.calls_to(Function::HttpSend).len(),
        3,
        "the second run only asked for the checksum"
    );
}

#[test]
fn a_bad_download_keeps_the_database_that_was_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("GeoLite2-City.mmdb"), b"the old one").expect("old");
    // A checksum that does not match, then an archive whose database is garbage.
    let packed = archive(&test_database());
    let wrong = host(dir.path(), packed, "0".repeat(64)).run::<GeoipUpdater>(invocation(true));
    let Err(SkillError::Failed(reason)) = wrong else {
        panic!("fails: {wrong:?}")
    };
    assert!(
        reason.contains("sha256") && reason.contains("kept"),
        "{reason}"
    );
    assert!(
        !reason.contains(KEY),
        "the licence key is never shown: {reason}"
    );
    let garbage = archive(b"not a database");
    let sha = hex(&Sha256::digest(&garbage));
    let broken = host(dir.path(), garbage, sha).run::<GeoipUpdater>(invocation(true));
    assert!(
        matches!(&broken, Err(SkillError::Failed(r)) if r.contains("does not open")),
        "{broken:?}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("GeoLite2-City.mmdb")).expect("kept"),
        b"the old one"
    );
}

#[test]
fn no_key_is_said_plainly_and_a_cut_download_names_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let none = MockHost::new()
        .folder("geoip", dir.path())
        .run::<GeoipUpdater>(invocation(false))
        .expect("runs");
    assert_eq!(none.status, Status::NoData);
    assert!(none.summary.contains("SC_SECRET_MAXMIND_LICENSE_KEY"));
    let cut = MockHost::new()
        .secret("MAXMIND_LICENSE_KEY", KEY)
        .folder("geoip", dir.path())
        .on_http(|request| {
            Ok(if request.url.ends_with("sha256") {
                ok(format!("{}  x.tar.gz", "a".repeat(64)).into_bytes())
            } else {
                http::Response {
                    status: 200,
                    headers: Vec::new(),
                    body: vec![0; 1024],
                    truncated: true,
                }
            })
        })
        .run::<GeoipUpdater>(invocation(false));
    assert!(
        matches!(&cut, Err(SkillError::Failed(r)) if r.contains("http.max_body_bytes")),
        "{cut:?}"
    );
    let bad = MockHost::new()
        .secret("MAXMIND_LICENSE_KEY", KEY)
        .folder("geoip", dir.path())
        .run::<GeoipUpdater>(Invocation::new(
            Trigger::Dispatch,
            json!({"editions": ["../x"], "force": false}),
        ));
    assert!(matches!(bad, Err(SkillError::InvalidInput(_))));
}
