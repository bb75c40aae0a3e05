//! Zeek TSV and JSON logs from the Stratosphere Laboratory (CTU Prague) and Slips.
//!
//! Expected numbers were counted independently of this crate:
//! `awk -F'\t' '!/^#/ && NF {n++} END {print n}'` for TSV data lines (and `NF` against the
//! `#fields` count for column errors: none), `awk -F'\t' '!/^#/ && NF {c[$(NF-1)]++}` for the
//! labels, and `python3 -c 'json.loads(line)…'` over JSON lines for counts and values.

use std::collections::BTreeMap;

use sc_ingest::{Format, Options};
use serde_json::json;

use crate::{dataset, read, read_auto};

#[test]
fn stratosphere_011_conn_labeled_tsv() {
    let path = dataset("stratosphere/011-zeek-mixed/data/conn.log.labeled");
    let s = read_auto(&path);
    assert_eq!(s.format, Format::Zeek);
    assert_eq!(s.malformed, Vec::<(u64, String)>::new());
    assert_eq!(s.events.len(), 9_048);
    assert_eq!(s.by_kind(), BTreeMap::from([("conn", 9_048)]));
    assert!(s.events.iter().all(|e| e.index == "logs-zeek-conn"));
    assert_eq!(s.bytes_read, s.total_bytes.unwrap());

    // Labels never reach the document by default, neither as ECS nor as a Zeek field.
    for e in &s.events {
        assert!(e.doc.get("labels").is_none());
        let conn = &e.doc["zeek"]["conn"];
        assert!(conn.get("label").is_none() && conn.get("detailedlabel").is_none());
    }

    // The first data line, field by field.
    let first = &s.events[0].doc;
    assert_eq!(first["@timestamp"], "2022-06-12T22:00:09.953Z");
    assert_eq!(first["source"]["ip"], "167.94.138.99");
    assert_eq!(first["source"]["port"], 7789);
    assert_eq!(first["destination"]["ip"], "147.32.83.165");
    assert_eq!(first["destination"]["port"], 445);
    assert_eq!(first["network"]["transport"], "tcp");
    assert_eq!(first["event"]["outcome"], "failure");
    assert_eq!(first["event"]["duration"], 2000);
    assert_eq!(first["zeek"]["conn"]["conn_state"], "S0");
    assert_eq!(first["zeek"]["conn"]["tunnel_parents"], json!([]));

    // With keep_labels, the README's counts: 3,951 Malicious, 4,771 Benign, 326 Background.
    let kept = read(
        &path,
        &Options {
            format: Format::Auto,
            keep_labels: true,
        },
    );
    assert_eq!(
        kept.by_field("/labels/ground_truth"),
        BTreeMap::from([
            ("Background".to_owned(), 326),
            ("Benign".to_owned(), 4_771),
            ("Malicious".to_owned(), 3_951),
        ])
    );
    assert_eq!(
        kept.events[0].doc["labels"]["ground_truth_detail"],
        "External-Attack-to-Device"
    );
    // Keeping labels changes the document, not its identity.
    let ids = |s: &crate::Summary| s.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&s), ids(&kept));
}

#[test]
fn stratosphere_011_other_logs() {
    // Data lines per file, counted with awk; the README says ssl 2,820, http 25, dns 4, notice 2.
    for (file, kind, count) in [
        ("ssl.log.labeled", "ssl", 2_820),
        ("http.log.labeled", "http", 25),
        ("dns.log.labeled", "dns", 4),
        ("notice.log.labeled", "notice", 2),
    ] {
        let s = read_auto(&dataset(&format!(
            "stratosphere/011-zeek-mixed/data/{file}"
        )));
        assert_eq!(s.format, Format::Zeek, "{file}");
        assert!(s.malformed.is_empty(), "{file}: {:?}", s.malformed);
        assert_eq!(s.by_kind(), BTreeMap::from([(kind, count)]), "{file}");
        assert!(
            s.events
                .iter()
                .all(|e| e.index == format!("logs-zeek-{kind}"))
        );
    }
    let notice = read_auto(&dataset(
        "stratosphere/011-zeek-mixed/data/notice.log.labeled",
    ));
    assert!(
        notice
            .events
            .iter()
            .all(|e| e.doc["event"]["kind"] == "alert")
    );
    assert_eq!(
        notice.events[0].doc["rule"]["name"],
        "ProtocolDetector::Protocol_Found"
    );
    let ssl = read_auto(&dataset("stratosphere/011-zeek-mixed/data/ssl.log.labeled"));
    assert!(
        ssl.events
            .iter()
            .any(|e| e.doc.pointer("/tls/server/name").is_some())
    );
}

#[test]
fn stratosphere_002_port_scan_zeek_json() {
    let s = read_auto(&dataset(
        "stratosphere/002-zeek-scenario-port-scanning/conn.log",
    ));
    assert_eq!(s.format, Format::ZeekJson);
    assert!(s.malformed.is_empty(), "{:?}", s.malformed);
    assert_eq!(s.by_kind(), BTreeMap::from([("conn", 4_504)]));
    // conn_state counts from python: S0 2,409, REJ 1,273, SHR 43, RSTRH 32 (failures),
    // RSTO 95 (success), OTH 652 (unknown).
    assert_eq!(
        s.by_field("/event/outcome"),
        BTreeMap::from([
            ("failure".to_owned(), 3_757),
            ("success".to_owned(), 95),
            ("unknown".to_owned(), 652),
        ])
    );
    assert_eq!(s.events[0].doc["network"]["protocol"], "dns");
    assert_eq!(s.events[0].doc["network"]["bytes"], 111);
    assert_eq!(s.events[0].doc["network"]["direction"], "outbound");
}

#[test]
fn stratosphere_007_ssh_honeypot_outcomes() {
    let s = read_auto(&dataset(
        "stratosphere/007-zeek-scenario-ssh-infected/ssh.log",
    ));
    assert_eq!(s.format, Format::ZeekJson);
    assert!(s.malformed.is_empty());
    assert_eq!(s.by_kind(), BTreeMap::from([("ssh", 8_528)]));
    // auth_success: true 3,200, false 548, absent 4,780 (README and python agree).
    assert_eq!(
        s.by_field("/event/outcome"),
        BTreeMap::from([
            ("<absent>".to_owned(), 4_780),
            ("failure".to_owned(), 548),
            ("success".to_owned(), 3_200),
        ])
    );
    let notice = read_auto(&dataset(
        "stratosphere/007-zeek-scenario-ssh-infected/notice.log",
    ));
    assert_eq!(notice.by_kind(), BTreeMap::from([("notice", 345)]));
}

#[test]
fn every_zeek_file_reads_cleanly() {
    // Data lines per file (awk for TSV, line count for JSON). The 005 files are the first
    // 1,000 lines of the originals: 8 header lines + 992 records each.
    for (file, format, kind, count) in [
        (
            "stratosphere/005-zeek-scenario-malicious/conn.log",
            Format::Zeek,
            "conn",
            992,
        ),
        (
            "stratosphere/005-zeek-scenario-malicious/dns.log",
            Format::Zeek,
            "dns",
            992,
        ),
        (
            "stratosphere/005-zeek-scenario-malicious/http.log",
            Format::Zeek,
            "http",
            992,
        ),
        (
            "slips/test9-mixed-zeek-dir/conn.log",
            Format::ZeekJson,
            "conn",
            576,
        ),
        (
            "slips/test9-mixed-zeek-dir/dns.log",
            Format::ZeekJson,
            "dns",
            239,
        ),
        (
            "slips/test9-mixed-zeek-dir/http.log",
            Format::ZeekJson,
            "http",
            516,
        ),
        (
            "slips/test9-mixed-zeek-dir/ssl.log",
            Format::ZeekJson,
            "ssl",
            205,
        ),
        (
            "slips/test9-mixed-zeek-dir/notice.log",
            Format::ZeekJson,
            "notice",
            18,
        ),
        (
            "slips/port-scans/horizontal/conn.log",
            Format::Zeek,
            "conn",
            41,
        ),
        (
            "slips/port-scans/vertical/conn.log",
            Format::ZeekJson,
            "conn",
            50,
        ),
    ] {
        let s = read_auto(&dataset(file));
        assert_eq!(s.format, format, "{file}");
        assert!(s.malformed.is_empty(), "{file}: {:?}", &s.malformed[..1]);
        assert_eq!(s.by_kind(), BTreeMap::from([(kind, count)]), "{file}");
        assert!(
            s.events.iter().all(|e| e.doc.get("@timestamp").is_some()),
            "{file}"
        );
    }
}
