//! `ip_reputation` in the real host, through the enrichment broker, against
//! stand-ins of the three providers on loopback: a reported address, a
//! provider down, one that is slow, one that answers garbage, one out of
//! quota, the broker holding back what the quota does not allow and reusing
//! what it already has, every call accounted in the audit trail, and the
//! verdict kept for `threat_analyst`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use sc_testkit::Install;
use sc_testkit::reputation::{KEY, ReputationProviders};

use crate::support::{call, free_port, sc_host_command};

/// The skill with its grants pointed at the stand-ins, as an operator
/// pointing it at a mirror would write them.
fn install() -> Install {
    let install = Install::with(&["ip_reputation"]);
    let manifest = install.skills_dir().join("ip_reputation/instruction.md");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let granted = "hosts: [api.abuseipdb.com, otx.alienvault.com, www.virustotal.com]";
    assert!(text.contains(granted), "the shipped grants changed");
    std::fs::write(&manifest, text.replace(granted, "hosts: [localhost]")).expect("manifest");
    install
}

fn provider<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["providers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["provider"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reputation_goes_through_the_broker_and_fails_open() {
    let providers = ReputationProviders::start().await;
    let install = install();
    install.write_config(&providers.config_yaml(3));
    let port = free_port();
    let mut child = sc_host_command(&install.dir.path().join("config.yaml"))
        .args(["service", "--bind", &format!("127.0.0.1:{port}")])
        .env("SC_SECRET_ABUSEIPDB_API_KEY", KEY)
        .env("SC_SECRET_OTX_API_KEY", KEY)
        .env("SC_SECRET_VIRUSTOTAL_API_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start service");
    let mut ready = false;
    for _ in 0..600 {
        if call(port, "GET", "/readyz", None).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the service never became ready");
    let dispatch = |params: &str| {
        let body = format!(r#"{{"skill":"ip_reputation","parameters":{params}}}"#);
        async move { call(port, "POST", "/api/dispatch", Some(&body)).await }
    };

    // Reported, clean-by-the-vouching-providers, and the failures.
    let (status, first) =
        dispatch(r#"{"ips":["45.155.205.233","8.8.8.8","1.1.1.1","10.0.0.5"],"timeout_ms":1000}"#)
            .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["status"], "ok", "{first}");
    let results = first["result"]["results"].as_array().expect("results");
    assert_eq!(results[0]["verdict"], "malicious", "{}", results[0]);
    assert_eq!(results[0]["risk"], 1.0);
    assert!(
        results[0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("≥ 0.75"))
    );
    assert_eq!(
        results[1]["verdict"], "clean",
        "40 pulses alone do not outweigh AbuseIPDB and VirusTotal: {}",
        results[1]
    );
    let broken = &results[2];
    assert_eq!(
        provider(broken, "abuseipdb")["status"],
        "unavailable",
        "{broken}"
    );
    assert_eq!(provider(broken, "otx")["status"], "timeout", "{broken}");
    assert_eq!(
        provider(broken, "virustotal")["status"],
        "malformed",
        "{broken}"
    );
    assert_eq!(
        (broken["verdict"].as_str(), broken["risk"].as_null()),
        (Some("unknown"), Some(()))
    );
    assert_eq!(
        results[3]["verdict"], "not_applicable",
        "an internal address is never sent out"
    );

    // VirusTotal's quota of 3 a minute is spent: the broker holds the
    // fourth lookup back without sending it, the others still answer.
    let vt_before = providers.received("virustotal");
    assert_eq!(vt_before, 3);
    let (_, quota) = dispatch(r#"{"ip":"9.9.9.9"}"#).await;
    let result = &quota["result"]["results"][0];
    assert_eq!(
        providers.received("virustotal"),
        vt_before,
        "held back, not sent"
    );
    let vt = provider(result, "virustotal");
    assert_eq!(vt["status"], "rate_limited", "{result}");
    assert!(
        vt["reason"]
            .as_str()
            .is_some_and(|r| r.contains("enrichment broker")),
        "{vt}"
    );
    let abuse = provider(result, "abuseipdb");
    assert_eq!(
        abuse["status"], "rate_limited",
        "the provider's own 429: {result}"
    );
    assert!(
        abuse["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the provider") && r.contains("120"))
    );
    assert_eq!(result["answered_by"], serde_json::json!(["otx"]));
    assert_eq!(
        result["verdict"], "unknown",
        "OTX alone cannot vouch: {result}"
    );

    // Asked again: the broker answers from its cache; nothing is sent.
    let sent: usize = ["abuseipdb", "otx", "virustotal"]
        .iter()
        .map(|p| providers.received(p))
        .sum();
    let (_, again) = dispatch(r#"{"ip":"45.155.205.233","refresh":true}"#).await;
    let result = &again["result"]["results"][0];
    assert_eq!(result["verdict"], "malicious");
    assert!(
        result["providers"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["cached"] == true)),
        "{result}"
    );
    let after: usize = ["abuseipdb", "otx", "virustotal"]
        .iter()
        .map(|p| providers.received(p))
        .sum();
    assert_eq!(after, sent);

    // Every provider call is in the audit trail under the skill, without
    // the URL or the key.
    let (_, audit) = call(port, "GET", "/api/audit?limit=200", None).await;
    let records = audit.as_array().expect("records");
    let outcomes = |action: &str| -> Vec<String> {
        records
            .iter()
            .filter(|r| r["action"] == action && r["skill"] == "ip_reputation")
            .filter_map(|r| r["outcome"].as_str().map(str::to_owned))
            .collect()
    };
    let vt = outcomes("enrichment.virustotal");
    assert!(
        vt.contains(&"rate-limited".to_owned())
            && vt.contains(&"cached".to_owned())
            && vt.contains(&"sent:200".to_owned()),
        "{vt:?}"
    );
    assert!(outcomes("enrichment.otx").contains(&"timeout".to_owned()));
    assert!(outcomes("enrichment.abuseipdb").contains(&"sent:503".to_owned()));
    assert!(!audit.to_string().contains(KEY));

    let _ = child.kill();
    let _ = child.wait();

    // Kept for threat_analyst; a lookup nobody answered is not.
    let memory =
        rusqlite::Connection::open(install.data_dir().join("runtime_memory.db")).expect("memory");
    let kept = |key: &str| -> Option<String> {
        memory
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .ok()
    };
    let verdict: Value =
        serde_json::from_str(&kept("reputation.ip.45.155.205.233").expect("kept")).expect("JSON");
    assert_eq!(verdict["verdict"], "malicious");
    assert!(kept("reputation.ip.1.1.1.1").is_none());
}
