//! Skill data from package tarballs on an npm registry served on loopback:
//! members extracted and verified, the ASN table built from its CSVs, and
//! nothing fetched or rebuilt twice.

use std::fs;

use sc_models::catalog::{CatalogEntry, Derived, ModelKind, NpmMember, Source};
use sc_models::pull::{ModelStatus, PullError, Puller};

use crate::index_server::*;

const V4: &str =
    "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n8.8.8.0,8.8.8.255,15169,Google LLC\n";
const V6: &str = "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n";

/// A gzip'd tar as `npm pack` writes it (`package/…` members).
fn tarball(members: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, body) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{name}"), *body)
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn npm(member: &str) -> Source {
    Source::Npm(NpmMember {
        package: "@sc-test/geo",
        version: "1.0.0",
        member: leak(format!("package/{member}")),
    })
}

fn geo_entry(id: &str, db: &[u8]) -> &'static CatalogEntry {
    let files = vec![
        file("city.mmdb", db, npm("city.mmdb")),
        file("asn-ipv4.csv", V4.as_bytes(), npm("asn-ipv4.csv")),
        file("asn-ipv6.csv", V6.as_bytes(), npm("asn-ipv6.csv")),
    ];
    Box::leak(Box::new(CatalogEntry {
        id: leak(id),
        kind: ModelKind::SkillData,
        description: "test data",
        license: "CC BY 4.0",
        attribution: "test data by the tests",
        files: Box::leak(files.into_boxed_slice()),
        derived: &[Derived::AsnTable {
            v4_csv: "asn-ipv4.csv",
            v6_csv: "asn-ipv6.csv",
            out: "asn.bin",
        }],
    }))
}

const TARBALL: &str = "/@sc-test/geo/-/geo-1.0.0.tgz";

fn npm_puller(server: &Server, data: &std::path::Path) -> Puller {
    Puller::new(data, format!("{}/simple", server.base))
        .with_npm_registry(format!("{}/", server.base))
}

#[test]
fn members_of_one_tarball_are_extracted_and_the_asn_table_is_built_once() {
    let db = noise(7, 300_000);
    let tgz = tarball(&[
        ("README.md", b"readme"),
        ("city.mmdb", &db),
        ("asn-ipv4.csv", V4.as_bytes()),
        ("asn-ipv6.csv", V6.as_bytes()),
    ]);
    let server = serve(&[], &[(TARBALL, &tgz)]);
    let data = tempfile::tempdir().unwrap();
    let entry = geo_entry("geoip", &db);
    let puller = npm_puller(&server, data.path());

    let dir = puller.pull(entry, &no_progress).unwrap();

    assert_eq!(dir, data.path().join("geoip"));
    assert_eq!(fs::read(dir.join("city.mmdb")).unwrap(), db);
    assert_eq!(
        server.requests(),
        vec![TARBALL.to_string()],
        "one download for three members"
    );
    let mut table = sc_asn::Table::open(fs::File::open(dir.join("asn.bin")).unwrap()).unwrap();
    let google = table.lookup("8.8.8.8".parse().unwrap()).unwrap().unwrap();
    assert_eq!(
        (google.number, google.organization.as_str()),
        (15169, "Google LLC")
    );
    assert!(matches!(puller.status(entry), ModelStatus::Present { .. }));
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    assert!(!fs::read_dir(&dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tgz.partial")
    }));

    // A table that went missing is rebuilt from the verified CSVs, offline.
    fs::remove_file(dir.join("asn.bin")).unwrap();
    assert_eq!(
        puller.status(entry),
        ModelStatus::Missing {
            missing: vec!["asn.bin".to_string()]
        }
    );
    puller.pull(entry, &no_progress).unwrap();
    assert!(dir.join("asn.bin").is_file());
    assert_eq!(server.requests().len(), 1, "nothing fetched again");
}

#[test]
fn a_tarball_without_the_member_fails_and_leaves_nothing() {
    let db = noise(8, 1_000);
    let tgz = tarball(&[
        ("asn-ipv4.csv", V4.as_bytes()),
        ("asn-ipv6.csv", V6.as_bytes()),
    ]);
    let server = serve(&[], &[(TARBALL, &tgz)]);
    let data = tempfile::tempdir().unwrap();
    let err = npm_puller(&server, data.path())
        .pull(geo_entry("geoip", &db), &no_progress)
        .unwrap_err();
    assert!(
        matches!(&err, PullError::BadTarball { reason, .. } if reason.contains("package/city.mmdb")),
        "{err:?}"
    );
    assert!(err.to_string().contains("geoip.npm_registry"), "{err}");
    assert!(!data.path().join("geoip/city.mmdb").exists());
    assert_eq!(leftovers(&data.path().join("geoip")), Vec::<String>::new());
}

#[test]
fn a_broken_csv_is_a_derive_error_naming_the_line() {
    let db = noise(9, 1_000);
    let bad_v4 = "1.0.0.0,1.0.0.255,13335,x\nnonsense\n";
    let tgz = tarball(&[
        ("city.mmdb", &db),
        ("asn-ipv4.csv", bad_v4.as_bytes()),
        ("asn-ipv6.csv", V6.as_bytes()),
    ]);
    let server = serve(&[], &[(TARBALL, &tgz)]);
    let data = tempfile::tempdir().unwrap();
    let files = vec![
        file("city.mmdb", &db, npm("city.mmdb")),
        file("asn-ipv4.csv", bad_v4.as_bytes(), npm("asn-ipv4.csv")),
        file("asn-ipv6.csv", V6.as_bytes(), npm("asn-ipv6.csv")),
    ];
    let entry: &'static CatalogEntry = Box::leak(Box::new(CatalogEntry {
        files: Box::leak(files.into_boxed_slice()),
        ..*geo_entry("geoip", &db)
    }));
    let err = npm_puller(&server, data.path())
        .pull(entry, &no_progress)
        .unwrap_err();
    assert!(
        matches!(&err, PullError::Derive { file, reason, .. } if file == "asn.bin" && reason.contains("line 2")),
        "{err:?}"
    );
    assert!(!data.path().join("geoip/asn.bin").exists());
}
