//! Detection over every dataset file, stable ids, and errors a user sees.

use std::io::Write;

use sc_ingest::{Format, IngestError, Options};

use crate::{dataset, read_auto};

#[test]
fn detection_picks_the_right_format_for_each_dataset() {
    for (file, want) in [
        (
            "stratosphere/011-zeek-mixed/data/conn.log.labeled",
            Format::Zeek,
        ),
        (
            "stratosphere/005-zeek-scenario-malicious/dns.log",
            Format::Zeek,
        ),
        ("slips/port-scans/horizontal/conn.log", Format::Zeek),
        (
            "stratosphere/002-zeek-scenario-port-scanning/conn.log",
            Format::ZeekJson,
        ),
        (
            "stratosphere/007-zeek-scenario-ssh-infected/ssh.log",
            Format::ZeekJson,
        ),
        ("slips/test9-mixed-zeek-dir/notice.log", Format::ZeekJson),
        ("slips/test6-malicious.suricata.json", Format::Suricata),
        (
            "suricata-samples/honeypot-2018.alerts-only.json",
            Format::Suricata,
        ),
        (
            "evtx-attack-samples/Discovery/dicovery_4661_net_group_domain_admins_target.evtx",
            Format::Evtx,
        ),
    ] {
        assert_eq!(sc_ingest::detect(&dataset(file)).unwrap(), want, "{file}");
    }
}

#[test]
fn ids_are_identical_across_two_reads() {
    for file in [
        "stratosphere/011-zeek-mixed/data/ssl.log.labeled",
        "slips/test9-mixed-zeek-dir/conn.log",
        "slips/test6-malicious.suricata.json",
        "evtx-attack-samples/Lateral Movement/LM_ScheduledTask_ATSVC_target_host.evtx",
    ] {
        let path = dataset(file);
        let first: Vec<String> = read_auto(&path).events.into_iter().map(|e| e.id).collect();
        let second: Vec<String> = read_auto(&path).events.into_iter().map(|e| e.id).collect();
        assert!(!first.is_empty());
        assert_eq!(first, second, "{file}");
        assert!(
            first
                .iter()
                .all(|id| id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}

#[test]
fn a_csv_of_dns_names_is_a_clear_error() {
    // The dns-tunnel CSVs have no timestamps or IPs: not a log this crate reads.
    let csv = std::fs::read_dir(crate::datasets().join("dns-tunnel/dns/plain"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|p| p.is_file())
        .expect("a file under dns-tunnel/dns/plain");
    let err = sc_ingest::open(&csv, &Options::default()).unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("--format") && text.contains(&*csv.to_string_lossy()),
        "{text}"
    );
}

#[test]
fn an_unknown_json_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.json");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"{\"hostname\":\"web01\",\"os\":\"linux\"}\n")
        .unwrap();
    let err = sc_ingest::detect(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("inventory.json"), "{text}");
    assert!(text.contains("hostname"), "{text}");
    assert!(text.contains("--format"), "{text}");
}

#[test]
fn forcing_the_wrong_format_yields_malformed_records_not_a_crash() {
    let s = crate::read(
        &dataset("slips/test9-mixed-zeek-dir/notice.log"),
        &Options {
            format: Format::Zeek,
            keep_labels: false,
        },
    );
    assert!(s.events.is_empty());
    assert_eq!(s.malformed.len(), 18);
    assert!(s.malformed[0].1.contains("#fields"));
}
