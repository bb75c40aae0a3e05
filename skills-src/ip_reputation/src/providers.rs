//! The three providers: how each is asked (URL, key header) and how its
//! documented answer is read into a 0–1 score with the facts behind it.
//! Bodies are data from outside: a field that is missing or of the wrong
//! type makes the answer `malformed`, never a guess.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A reputation provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// AbuseIPDB `/api/v2/check`.
    Abuseipdb,
    /// AlienVault OTX `/api/v1/indicators/IPv4|IPv6/{ip}/general`.
    Otx,
    /// VirusTotal `/api/v3/ip_addresses/{ip}`.
    Virustotal,
}

impl Provider {
    /// Every provider, in the order they are asked.
    pub const ALL: [Provider; 3] = [Self::Abuseipdb, Self::Otx, Self::Virustotal];

    /// Its name in `http.enrichment.providers`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Abuseipdb => "abuseipdb",
            Self::Otx => "otx",
            Self::Virustotal => "virustotal",
        }
    }

    /// The secret that holds its API key (`grants.secrets`).
    pub fn secret(self) -> &'static str {
        match self {
            Self::Abuseipdb => "ABUSEIPDB_API_KEY",
            Self::Otx => "OTX_API_KEY",
            Self::Virustotal => "VIRUSTOTAL_API_KEY",
        }
    }

    /// The header its key goes in.
    pub fn key_header(self) -> &'static str {
        match self {
            Self::Abuseipdb => "Key",
            Self::Otx => "X-OTX-API-KEY",
            Self::Virustotal => "x-apikey",
        }
    }

    /// The request URL for `ip` under the provider's base URL.
    pub fn url(self, base: &str, ip: IpAddr) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Self::Abuseipdb => format!("{base}/check?ipAddress={ip}&maxAgeInDays=90"),
            Self::Otx => {
                let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                format!("{base}/indicators/{family}/{ip}/general")
            }
            Self::Virustotal => format!("{base}/ip_addresses/{ip}"),
        }
    }

    /// Reads a successful answer: the score and the facts behind it.
    pub fn read(self, body: &[u8]) -> Result<Reading, String> {
        let body: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        match self {
            Self::Abuseipdb => abuseipdb(&body),
            Self::Otx => otx(&body),
            Self::Virustotal => virustotal(&body),
        }
    }
}

/// What one provider's answer says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// 0 (nothing against it) to 1 (certainly malicious), by the rule in
    /// `basis`.
    pub score: f64,
    /// How the score follows from the answer.
    pub basis: String,
    /// Whether this provider's answer can vouch for a clean address (OTX's
    /// pulse count cannot: an address in no pulse is merely unknown there).
    pub vouches_clean: bool,
    /// The answer's facts an analyst reads.
    pub details: Value,
}

fn number(body: &Value, pointer: &str) -> Result<f64, String> {
    body.pointer(pointer)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("`{pointer}` is missing or not a number"))
}

fn abuseipdb(body: &Value) -> Result<Reading, String> {
    let confidence = number(body, "/data/abuseConfidenceScore")?;
    if !(0.0..=100.0).contains(&confidence) {
        return Err(format!("abuseConfidenceScore {confidence} is not 0–100"));
    }
    let reports = number(body, "/data/totalReports").unwrap_or(0.0);
    let data = &body["data"];
    Ok(Reading {
        score: confidence / 100.0,
        basis: format!("abuse confidence {confidence}/100 from {reports} reports"),
        vouches_clean: true,
        details: json!({
            "abuse_confidence": confidence, "total_reports": reports,
            "distinct_reporters": data.get("numDistinctUsers"), "last_reported_at": data.get("lastReportedAt"),
            "country": data.get("countryCode"), "isp": data.get("isp"), "usage_type": data.get("usageType"),
            "whitelisted": data.get("isWhitelisted"),
        }),
    })
}

/// OTX pulses: a community feed in which popular infrastructure (public
/// resolvers, CDNs) also appears, so a pulse counts for less than a report.
fn otx(body: &Value) -> Result<Reading, String> {
    let pulses = number(body, "/pulse_info/count")?;
    let names: Vec<&str> = body
        .pointer("/pulse_info/pulses")
        .and_then(Value::as_array)
        .map(|p| {
            p.iter()
                .filter_map(|p| p["name"].as_str())
                .take(5)
                .collect()
        })
        .unwrap_or_default();
    let score = (pulses / 10.0).min(1.0) * 0.6;
    Ok(Reading {
        score,
        basis: format!("{pulses} OTX pulses (min(pulses/10, 1) × 0.6)"),
        vouches_clean: false,
        details: json!({
            "pulses": pulses, "pulse_names": names, "reputation": body.get("reputation"),
            "country": body.get("country_code"), "asn": body.get("asn"),
        }),
    })
}

fn virustotal(body: &Value) -> Result<Reading, String> {
    let stats = "/data/attributes/last_analysis_stats";
    let malicious = number(body, &format!("{stats}/malicious"))?;
    let suspicious = number(body, &format!("{stats}/suspicious"))?;
    let harmless = number(body, &format!("{stats}/harmless")).unwrap_or(0.0);
    let undetected = number(body, &format!("{stats}/undetected")).unwrap_or(0.0);
    let engines = malicious + suspicious + harmless + undetected;
    let attributes = &body["data"]["attributes"];
    Ok(Reading {
        // Five engines agreeing is VirusTotal's usual line for "detected".
        score: ((malicious + suspicious / 2.0) / 5.0).min(1.0),
        basis: format!(
            "{malicious} malicious and {suspicious} suspicious of {engines} engines (min((malicious + suspicious/2)/5, 1))"
        ),
        vouches_clean: true,
        details: json!({
            "malicious": malicious, "suspicious": suspicious, "harmless": harmless, "undetected": undetected,
            "reputation": attributes.get("reputation"), "as_owner": attributes.get("as_owner"),
            "country": attributes.get("country"), "last_analysis_date": attributes.get("last_analysis_date"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_each_api() {
        let ip: IpAddr = "45.33.32.156".parse().expect("ip");
        let v6: IpAddr = "2001:4860::8888".parse().expect("ip");
        assert_eq!(
            Provider::Abuseipdb.url("https://api.abuseipdb.com/api/v2/", ip),
            "https://api.abuseipdb.com/api/v2/check?ipAddress=45.33.32.156&maxAgeInDays=90"
        );
        assert_eq!(
            Provider::Otx.url("https://otx.alienvault.com/api/v1", v6),
            "https://otx.alienvault.com/api/v1/indicators/IPv6/2001:4860::8888/general"
        );
        assert_eq!(
            Provider::Virustotal.url("https://www.virustotal.com/api/v3/", ip),
            "https://www.virustotal.com/api/v3/ip_addresses/45.33.32.156"
        );
    }

    #[test]
    fn documented_answers_are_scored() {
        let abuse = Provider::Abuseipdb
            .read(br#"{"data":{"ipAddress":"1.2.3.4","abuseConfidenceScore":87,"totalReports":40,"numDistinctUsers":12}}"#)
            .expect("reads");
        assert!((abuse.score - 0.87).abs() < 1e-9);
        let vt = Provider::Virustotal
            .read(br#"{"data":{"attributes":{"last_analysis_stats":{"malicious":2,"suspicious":2,"harmless":60,"undetected":30,"timeout":0}}}}"#)
            .expect("reads");
        assert!((vt.score - 0.6).abs() < 1e-9, "{}", vt.basis);
        let otx = Provider::Otx
            .read(br#"{"indicator":"1.2.3.4","pulse_info":{"count":20,"pulses":[{"name":"Mirai C2"}]}}"#)
            .expect("reads");
        assert!((otx.score - 0.6).abs() < 1e-9);
        assert_eq!(otx.details["pulse_names"][0], "Mirai C2");
    }

    #[test]
    fn malformed_answers_are_refused_with_the_reason() {
        assert!(
            Provider::Virustotal
                .read(b"<html>")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            Provider::Abuseipdb
                .read(br#"{"data":{}}"#)
                .unwrap_err()
                .contains("abuseConfidenceScore")
        );
        assert!(
            Provider::Abuseipdb
                .read(br#"{"data":{"abuseConfidenceScore":900}}"#)
                .is_err()
        );
        assert!(
            Provider::Otx
                .read(br#"{"pulse_info":{"count":"many"}}"#)
                .is_err()
        );
    }
}
