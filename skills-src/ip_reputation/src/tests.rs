//! The skill on the SDK's mock host: documented answers, failures that only
//! drop a provider out, internal addresses kept in, no keys said plainly.

use securityclaw_sdk::testing::{Function, MockHost};
use securityclaw_sdk::{Invocation, Status, Trigger, http};
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_764_590_400_000; // 2025-12-01T12:00:00Z

fn invocation(params: Value) -> Invocation {
    let mut params = params;
    for (key, value) in [
        ("max_age_hours", json!(24)),
        ("refresh", json!(false)),
        ("timeout_ms", json!(5000)),
    ] {
        params
            .as_object_mut()
            .expect("object")
            .entry(key)
            .or_insert(value);
    }
    Invocation::new(Trigger::Dispatch, params).at(Timestamp::from_epoch_millis(NOW))
}

fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> http::Response {
    http::Response {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.as_bytes().to_vec(),
        truncated: false,
    }
}

fn host() -> MockHost {
    MockHost::new()
        .setting(
            "enrichment",
            json!({"providers": {
                "abuseipdb": {"url": "https://api.abuseipdb.com/api/v2/", "per_minute": 30, "per_day": 1000},
                "otx": {"url": "https://otx.alienvault.com/api/v1/", "per_minute": 60, "per_day": 10000},
                "virustotal": {"url": "https://www.virustotal.com/api/v3/", "per_minute": 4, "per_day": 500}}}),
        )
        .secret("ABUSEIPDB_API_KEY", "abuse-key")
        .secret("OTX_API_KEY", "otx-key")
        .secret("VIRUSTOTAL_API_KEY", "vt-key")
        .on_db_search(|_, _| Ok(json!({"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}})))
}

#[test]
fn a_reported_address_is_malicious_even_when_one_provider_is_out_of_quota() {
    let mock = host().on_http(|request| {
        let has_key =
            |name: &str, key: &str| request.headers.iter().any(|(n, v)| n == name && v == key);
        Ok(if request.url.contains("abuseipdb") {
            assert!(has_key("Key", "abuse-key"));
            response(
                200,
                r#"{"data":{"abuseConfidenceScore":92,"totalReports":310,"numDistinctUsers":80}}"#,
                &[],
            )
        } else if request.url.contains("alienvault") {
            assert!(has_key("X-OTX-API-KEY", "otx-key"));
            response(
                200,
                r#"{"pulse_info":{"count":4,"pulses":[{"name":"SSH brute force"}]}}"#,
                &[("x-securityclaw-enrichment", "cached")],
            )
        } else {
            response(
                429,
                r#"{"error":"quota"}"#,
                &[
                    ("x-securityclaw-enrichment", "rate-limited"),
                    ("retry-after", "40"),
                ],
            )
        })
    });
    let run = mock
        .run::<IpReputation>(invocation(json!({"ip": "45.155.205.233"})))
        .expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let result = &run.result["results"][0];
    assert_eq!(result["verdict"], "malicious");
    assert_eq!(result["risk"], 0.94, "0.92 and a tenth of 4 pulses × 0.06");
    assert_eq!(result["answered_by"], json!(["abuseipdb", "otx"]));
    let vt = &result["providers"][2];
    assert_eq!(
        (vt["provider"].as_str(), vt["status"].as_str()),
        (Some("virustotal"), Some("rate_limited"))
    );
    assert!(
        vt["reason"]
            .as_str()
            .is_some_and(|r| r.contains("enrichment broker") && r.contains("40"))
    );
    assert_eq!(result["providers"][1]["cached"], true);
    let kept = mock
        .memory_value("reputation.ip.45.155.205.233")
        .expect("kept for threat_analyst");
    assert_eq!(kept["verdict"], "malicious");
}

#[test]
fn outages_timeouts_and_garbage_leave_the_verdict_to_who_answered() {
    let mock = host().on_http(|request| {
        if request.url.contains("abuseipdb") {
            Err(CapabilityError::Timeout)
        } else if request.url.contains("alienvault") {
            Ok(response(503, "down", &[]))
        } else {
            Ok(response(200, "<html>not json</html>", &[]))
        }
    });
    let run = mock
        .run::<IpReputation>(invocation(json!({"ip": "8.8.8.8"})))
        .expect("runs");
    assert_eq!(run.status, Status::NoData, "{}", run.summary);
    let statuses: Vec<&str> = run.result["results"][0]["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .filter_map(|p| p["status"].as_str())
        .collect();
    assert_eq!(statuses, ["timeout", "unavailable", "malformed"]);
    assert_eq!(run.result["results"][0]["verdict"], "unknown");
    assert!(
        mock.memory_value("reputation.ip.8.8.8.8").is_none(),
        "no answer is never kept as one"
    );
}

#[test]
fn internal_and_malformed_addresses_are_never_sent_out() {
    let mock = host().on_http(|_| panic!("nothing may be sent"));
    let run = mock
        .run::<IpReputation>(invocation(
            json!({"ips": ["10.0.0.5", "fe80::1", "not-an-ip", "203.0.113.9"]}),
        ))
        .expect("runs");
    assert_eq!(run.status, Status::NoData);
    let results = run.result["results"].as_array().expect("results");
    assert_eq!(results[0]["scope"], "private");
    assert_eq!(results[1]["scope"], "link_local");
    assert!(
        results[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not an IPv4 or IPv6"))
    );
    assert_eq!(results[3]["scope"], "documentation");
    assert!(mock.calls_to(Function::HttpSend).is_empty());
}

#[test]
fn without_keys_it_says_so_and_shows_the_local_alerts() {
    let mock = MockHost::new()
        .setting("enrichment", json!({"providers": {}}))
        .memory(
            "detection.catalog",
            json!({"generated_at": "x", "run_id": "y", "sources": [{"indices": ["logs-suricata"], "kind": "alert", "documents": 10,
                "fields": {"timestamp": "@timestamp", "source_ip": "source.ip", "destination_ip": "destination.ip", "rule": "rule.name"}}]}),
        )
        .on_db_search(|_, _| Ok(json!({"hits": {"total": {"value": 7, "relation": "eq"}, "hits": []},
            "aggregations": {"rules": {"buckets": [{"key": "ET SCAN Nmap", "doc_count": 7}]}}})));
    let run = mock
        .run::<IpReputation>(invocation(json!({"ip": "45.33.32.156"})))
        .expect("runs");
    assert_eq!(run.status, Status::NoData);
    assert!(
        run.summary.contains("SC_SECRET_VIRUSTOTAL_API_KEY"),
        "{}",
        run.summary
    );
    let local = &run.result["results"][0]["local"];
    assert_eq!(local["alerts"], 7);
    assert_eq!(local["top_rules"][0]["rule"], "ET SCAN Nmap");
    assert_eq!(
        run.result["missing_providers"].as_array().map(Vec::len),
        Some(3)
    );
}

#[test]
fn a_fresh_verdict_in_memory_is_reused_without_asking() {
    let kept = json!({"ip": "45.33.32.156", "verdict": "clean", "risk": 0.0, "checked_at": "2025-12-01T06:00:00.000Z"});
    let mock = host()
        .memory("reputation.ip.45.33.32.156", kept)
        .on_http(|_| panic!("nothing may be sent"));
    let run = mock
        .run::<IpReputation>(invocation(json!({"ip": "45.33.32.156"})))
        .expect("runs");
    assert_eq!(run.status, Status::Ok);
    assert_eq!(run.result["results"][0]["from_memory"], true);
    let stale = invocation(json!({"ip": "45.33.32.156", "max_age_hours": 1}));
    let asked = host()
        .memory("reputation.ip.45.33.32.156", json!({"verdict": "clean", "checked_at": "2025-12-01T06:00:00.000Z"}))
        .on_http(|_| Ok(response(200, r#"{"data":{"attributes":{"last_analysis_stats":{"malicious":0,"suspicious":0,"harmless":70,"undetected":20}}}}"#, &[])));
    let run = asked.run::<IpReputation>(stale).expect("runs");
    assert_eq!(
        asked.calls_to(Function::HttpSend).len(),
        3,
        "a stale verdict is asked again"
    );
    assert_eq!(run.result["results"][0]["verdict"], "clean");
}

#[test]
fn too_many_or_no_addresses_are_refused() {
    let none = host().run::<IpReputation>(invocation(json!({})));
    assert!(matches!(none, Err(SkillError::InvalidInput(m)) if m.contains("`ip`")));
    let ips: Vec<String> = (1..=11).map(|i| format!("45.33.32.{i}")).collect();
    let many = host().run::<IpReputation>(invocation(json!({"ips": ips})));
    assert!(matches!(many, Err(SkillError::InvalidInput(m)) if m.contains("at most 10")));
}
