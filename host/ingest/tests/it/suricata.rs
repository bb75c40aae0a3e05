//! Suricata eve.json from the Slips test data (Stratosphere) and the Suricata samples.
//!
//! Expected numbers from python: `collections.Counter(json.loads(l)['event_type'] for l in f)`
//! over the eve.json lines, and `len(json.load(f))` for the array-shaped sample files.

use std::collections::BTreeMap;

use sc_ingest::Format;

use crate::{dataset, read_auto};

#[test]
fn slips_test6_counts_per_event_type() {
    let s = read_auto(&dataset("slips/test6-malicious.suricata.json"));
    assert_eq!(s.format, Format::Suricata);
    assert!(s.malformed.is_empty(), "{:?}", s.malformed);
    // The README names the first four; the capture also has 3 fileinfo, 3 anomaly, 1 tls.
    assert_eq!(
        s.by_kind(),
        BTreeMap::from([
            ("alert", 745),
            ("anomaly", 3),
            ("dns", 680),
            ("fileinfo", 3),
            ("flow", 3_512),
            ("http", 56),
            ("tls", 1),
        ])
    );
    for e in &s.events {
        assert_eq!(e.index, format!("logs-suricata-{}", e.kind));
        assert_eq!(e.doc["event"]["dataset"], format!("suricata.{}", e.kind));
    }
    let alerts: Vec<_> = s.events.iter().filter(|e| e.kind == "alert").collect();
    assert!(alerts.iter().all(|e| e.doc["event"]["kind"] == "alert"
        && e.doc.pointer("/rule/name").is_some()
        && e.doc.pointer("/source/ip").is_some()));
    assert!(
        alerts
            .iter()
            .any(|e| e.doc["rule"]["name"] == "ET SCAN Suspicious inbound to MSSQL port 1433")
    );
    let flows = s.events.iter().filter(|e| e.kind == "flow");
    assert!(
        flows
            .clone()
            .all(|e| e.doc.pointer("/network/bytes").is_some())
    );
    assert!(
        flows
            .clone()
            .all(|e| e.doc.pointer("/event/duration").is_some())
    );
    let dns = s.events.iter().filter(|e| e.kind == "dns");
    assert!(
        dns.clone()
            .all(|e| e.doc.pointer("/dns/question/name").is_some())
    );
}

#[test]
fn suricata_samples_are_pretty_printed_arrays() {
    // These files are JSON arrays of pretty-printed objects, not eve.json lines; every
    // record is an alert.
    for (file, alerts) in [
        ("suricata-samples/first-org-conf-2015.alerts-only.json", 136),
        ("suricata-samples/honeypot-2018.alerts-only.json", 44),
        ("suricata-samples/wrccdc-2017.alerts-only.json", 161),
        ("suricata-samples/wrccdc-2018.alerts-only.json", 207),
    ] {
        let s = read_auto(&dataset(file));
        assert_eq!(s.format, Format::Suricata, "{file}");
        assert!(s.malformed.is_empty(), "{file}: {:?}", s.malformed);
        assert_eq!(s.by_kind(), BTreeMap::from([("alert", alerts)]), "{file}");
        assert!(
            s.events
                .iter()
                .all(|e| e.doc.pointer("/rule/name").is_some())
        );
    }
}
