//! Windows `.evtx` attack samples (EVTX-ATTACK-SAMPLES, GPL-3.0).
//!
//! Per-file record counts were obtained independently with python-evtx 0.8.1
//! (`Evtx.Evtx(f).records()`, 383 in all), and they match the 383 lines of
//! `auth_subset.derived.jsonl`, which this test also reads to compare record ids.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use sc_ingest::Format;
use serde_json::Value;

use crate::{dataset, datasets, read_auto};

/// Records per file, from python-evtx.
const PER_FILE: &[(&str, usize)] = &[
    ("Command and Control/DE_RDP_Tunnel_5156.evtx", 101),
    ("Command and Control/DE_RDP_Tunneling_4624.evtx", 18),
    (
        "Credential Access/CA_4624_4625_LogonType2_LogonProc_chrome.evtx",
        4,
    ),
    (
        "Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx",
        10,
    ),
    (
        "Credential Access/Zerologon_VoidSec_CVE-2020-1472_4626_LT3_Anonym_follwedby_4742_DC_Anony_DC.evtx",
        9,
    ),
    ("Credential Access/kerberos_pwd_spray_4771.evtx", 12),
    (
        "Credential Access/remote_pwd_reset_rpc_mimikatz_postzerologon_target_DC.evtx",
        7,
    ),
    (
        "Credential Access/remote_sam_registry_access_via_backup_operator_priv.evtx",
        31,
    ),
    (
        "Defense Evasion/DE_suspicious_remote_eventlog_svc_access_5145.evtx",
        8,
    ),
    (
        "Discovery/dicovery_4661_net_group_domain_admins_target.evtx",
        63,
    ),
    (
        "Lateral Movement/ImpersonateUser-via local Pass The Hash Sysmon and Security.evtx",
        14,
    ),
    (
        "Lateral Movement/LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx",
        6,
    ),
    (
        "Lateral Movement/LM_ScheduledTask_ATSVC_target_host.evtx",
        34,
    ),
    ("Lateral Movement/LM_WMIC_4648_rpcss.evtx", 5),
    ("Lateral Movement/LM_WMI_4624_4688_TargetHost.evtx", 8),
    (
        "Lateral Movement/remote task update 4624 4702 same logonid.evtx",
        8,
    ),
    (
        "Privilege Escalation/4624 LT3 AnonymousLogon Localhost - JuicyPotato.evtx",
        3,
    ),
    (
        "Privilege Escalation/Invoke_TokenDuplication_UAC_Bypass4624.evtx",
        1,
    ),
    (
        "Privilege Escalation/NTLM2SelfRelay-med0x2e-security_4624_4688.evtx",
        11,
    ),
    (
        "Privilege Escalation/Runas_4624_4648_Webshell_CreateProcessAsUserA.evtx",
        3,
    ),
    (
        "Privilege Escalation/privesc_KrbRelayUp_windows_4624.evtx",
        1,
    ),
    ("Privilege Escalation/privexchange_dirkjan.evtx", 8),
    (
        "Privilege Escalation/samaccount_spoofing_CVE-2021-42287_CVE-2021-42278_DC_securitylogs.evtx",
        18,
    ),
];

#[test]
fn every_attack_sample_parses_with_the_expected_count() {
    let mut total = 0;
    let mut by_index = BTreeMap::<String, usize>::new();
    let mut by_code = BTreeMap::<String, usize>::new();
    let mut outcomes = BTreeMap::<(String, String), usize>::new();
    let mut ids = BTreeSet::new();
    let mut ours = BTreeSet::new();
    for (file, count) in PER_FILE {
        let s = read_auto(&dataset(&format!("evtx-attack-samples/{file}")));
        assert_eq!(s.format, Format::Evtx, "{file}");
        assert!(s.malformed.is_empty(), "{file}: {:?}", s.malformed);
        assert_eq!(s.events.len(), *count, "{file}");
        assert_eq!(s.bytes_read, s.total_bytes.unwrap(), "{file}");
        for e in &s.events {
            total += 1;
            *by_index.entry(e.index.clone()).or_default() += 1;
            let code = e.doc["event"]["code"].as_str().unwrap().to_owned();
            let outcome = e
                .doc
                .pointer("/event/outcome")
                .and_then(Value::as_str)
                .unwrap_or("-");
            *outcomes
                .entry((code.clone(), outcome.to_owned()))
                .or_default() += 1;
            *by_code.entry(code).or_default() += 1;
            assert!(e.doc.get("@timestamp").is_some() && e.doc.pointer("/host/name").is_some());
            ids.insert(e.id.clone());
            ours.insert((
                file.to_string(),
                e.doc["winlog"]["record_id"].as_u64().unwrap(),
            ));
        }
    }
    assert_eq!(total, 383);
    // Channel counts from python-evtx: Security 361, Sysmon 12, Application 10.
    assert_eq!(
        by_index,
        BTreeMap::from([
            ("logs-winlog-application".to_owned(), 10),
            ("logs-winlog-security".to_owned(), 361),
            ("logs-winlog-sysmon".to_owned(), 12),
        ])
    );
    // Event id counts from python-evtx.
    assert_eq!(by_code["4624"], 85);
    assert_eq!(by_code["4625"], 1);
    assert_eq!(by_code["4771"], 2);
    assert_eq!(by_code["18456"], 10);
    assert_eq!(outcomes[&("4624".to_owned(), "success".to_owned())], 85);
    assert_eq!(outcomes[&("4625".to_owned(), "failure".to_owned())], 1);
    assert_eq!(outcomes[&("4771".to_owned(), "failure".to_owned())], 2);
    assert_eq!(outcomes[&("18456".to_owned(), "failure".to_owned())], 10);
    // No two records share an id (channel + computer + record id).
    assert_eq!(ids.len(), 383);

    // The derived JSON lists the same records: same (file, EventRecordID) pairs.
    let derived =
        std::fs::File::open(datasets().join("evtx-attack-samples/auth_subset.derived.jsonl"))
            .unwrap();
    let theirs: BTreeSet<(String, u64)> = std::io::BufReader::new(derived)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            (
                v["_source_file"].as_str().unwrap().to_owned(),
                v["Event"]["System"]["EventRecordID"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(theirs.len(), 383);
    assert_eq!(ours, theirs);
}

#[test]
fn logon_events_carry_user_and_source() {
    let s = read_auto(&dataset(
        "evtx-attack-samples/Credential Access/kerberos_pwd_spray_4771.evtx",
    ));
    let failures: Vec<_> = s
        .events
        .iter()
        .filter(|e| e.doc["event"]["code"] == "4771")
        .collect();
    assert_eq!(failures.len(), 2);
    for e in failures {
        assert_eq!(
            e.doc["event"]["category"],
            serde_json::json!(["authentication"])
        );
        assert!(e.doc.pointer("/user/name").is_some());
        assert_eq!(e.doc["source"]["ip"], "172.16.66.1");
    }
    let sql = read_auto(&dataset(
        "evtx-attack-samples/Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx",
    ));
    // A spray from one client over ten SQL logins (`sa`, `root`, built-in `##MS_…##`).
    assert!(sql.events.iter().all(|e| e.doc["source"]["ip"] == "10.0.2.17"
        && e.doc["event"]["outcome"] == "failure"));
    let users: BTreeSet<&str> = sql
        .events
        .iter()
        .filter_map(|e| e.doc["user"]["name"].as_str())
        .collect();
    assert_eq!(users.len(), 10);
    assert!(users.contains("sa") && users.contains("root"));
}
