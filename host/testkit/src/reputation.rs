//! Stand-ins for the reputation providers on loopback: AbuseIPDB's
//! `/api/v2/check`, OTX's `/api/v1/indicators/{IPv4|IPv6}/{ip}/general` and
//! VirusTotal's `/api/v3/ip_addresses/{ip}`, answering in their documented
//! shapes, refusing a wrong key with 401 as they do, and failing on cue:
//!
//! | address          | AbuseIPDB        | OTX            | VirusTotal          |
//! |------------------|------------------|----------------|---------------------|
//! | `45.155.205.233` | confidence 95    | 12 pulses      | 11 malicious        |
//! | `8.8.8.8`        | confidence 0     | 40 pulses      | 0 malicious         |
//! | `1.1.1.1`        | 503              | answers in 3 s | malformed body      |
//! | `9.9.9.9`        | 429, retry 120 s | 0 pulses       | 0 malicious         |
//!
//! Every other address is unknown to all three (confidence 0, no pulses, no
//! engine verdicts).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// The key every provider accepts.
pub const KEY: &str = "test-key";

type Counts = Arc<Mutex<BTreeMap<&'static str, usize>>>;

/// The running providers.
pub struct ReputationProviders {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    counts: Counts,
}

impl ReputationProviders {
    /// Starts them for the rest of the test.
    pub async fn start() -> Self {
        let counts = Counts::default();
        let app = Router::new()
            .route("/abuseipdb/api/v2/check", get(abuseipdb))
            .route("/otx/api/v1/indicators/{family}/{ip}/general", get(otx))
            .route("/virustotal/api/v3/ip_addresses/{ip}", get(virustotal))
            .with_state(counts.clone());
        Self {
            url: crate::serve(app).await,
            counts,
        }
    }

    /// Requests each provider received (`abuseipdb`, `otx`, `virustotal`).
    pub fn received(&self, provider: &str) -> usize {
        self.counts
            .lock()
            .ok()
            .and_then(|c| c.get(provider).copied())
            .unwrap_or(0)
    }

    /// `http.enrichment.providers` pointing at these, with VirusTotal's
    /// per-minute quota set to `vt_per_minute`, as config YAML lines.
    pub fn config_yaml(&self, vt_per_minute: u32) -> String {
        let url = self.url.replace("127.0.0.1", "localhost");
        format!(
            "http:\n  provider: direct\n  allow_private_addresses: true\n  enrichment:\n    providers:\n\
             \x20     abuseipdb: {{url: {url}/abuseipdb/api/v2/, per_minute: 30, per_day: 1000}}\n\
             \x20     otx: {{url: {url}/otx/api/v1/, per_minute: 60, per_day: 10000}}\n\
             \x20     virustotal: {{url: {url}/virustotal/api/v3/, per_minute: {vt_per_minute}, per_day: 500}}\n"
        )
    }
}

fn count(counts: &Counts, provider: &'static str) {
    if let Ok(mut c) = counts.lock() {
        *c.entry(provider).or_default() += 1;
    }
}

/// The providers' answer to a missing or wrong key, when it is one.
fn refused(headers: &HeaderMap, name: &str) -> Option<Response> {
    if headers.get(name).and_then(|v| v.to_str().ok()) == Some(KEY) {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errors": [{"detail": "Authentication failed.", "status": 401}]})),
        )
            .into_response(),
    )
}

async fn abuseipdb(
    State(counts): State<Counts>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    count(&counts, "abuseipdb");
    if let Some(refused) = refused(&headers, "key") {
        return refused;
    }
    let ip = query.get("ipAddress").cloned().unwrap_or_default();
    let confidence = match ip.as_str() {
        "1.1.1.1" => return (StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response(),
        "9.9.9.9" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "120")],
                axum::Json(json!({"errors": [{"detail": "Daily rate limit of 1000 requests exceeded for this endpoint.", "status": 429}]})),
            )
                .into_response();
        }
        "45.155.205.233" => 95,
        _ => 0,
    };
    axum::Json(json!({"data": {
        "ipAddress": ip, "isPublic": true, "ipVersion": 4, "isWhitelisted": false,
        "abuseConfidenceScore": confidence, "countryCode": "NL", "usageType": "Data Center/Web Hosting/Transit",
        "isp": "Example Hosting", "domain": "example.net", "hostnames": [],
        "totalReports": if confidence > 0 { 412 } else { 0 }, "numDistinctUsers": if confidence > 0 { 97 } else { 0 },
        "lastReportedAt": if confidence > 0 { json!("2025-11-30T22:14:05+00:00") } else { json!(null) }
    }}))
    .into_response()
}

async fn otx(
    State(counts): State<Counts>,
    headers: HeaderMap,
    Path((family, ip)): Path<(String, String)>,
) -> Response {
    count(&counts, "otx");
    if let Some(refused) = refused(&headers, "x-otx-api-key") {
        return refused;
    }
    let pulses = match ip.as_str() {
        "1.1.1.1" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            0
        }
        "45.155.205.233" => 12,
        "8.8.8.8" => 40,
        _ => 0,
    };
    let list: Vec<_> = (0..pulses.min(3))
        .map(|i| json!({"id": format!("p{i}"), "name": format!("Pulse {i} naming {ip}"), "tags": ["scanner"]}))
        .collect();
    axum::Json(json!({
        "indicator": ip, "type": family, "reputation": 0, "country_code": "NL", "asn": "AS49870 Example",
        "pulse_info": {"count": pulses, "pulses": list, "references": []}
    }))
    .into_response()
}

async fn virustotal(
    State(counts): State<Counts>,
    headers: HeaderMap,
    Path(ip): Path<String>,
) -> Response {
    count(&counts, "virustotal");
    if let Some(refused) = refused(&headers, "x-apikey") {
        return refused;
    }
    let malicious = match ip.as_str() {
        "1.1.1.1" => {
            return (
                StatusCode::OK,
                "<html><body>Service temporarily unavailable</body></html>",
            )
                .into_response();
        }
        "45.155.205.233" => 11,
        _ => 0,
    };
    axum::Json(json!({"data": {"id": ip, "type": "ip_address", "attributes": {
        "as_owner": "Example Hosting", "asn": 49870, "country": "NL", "reputation": -malicious,
        "last_analysis_date": 1_764_547_200,
        "last_analysis_stats": {"harmless": 60 - malicious, "malicious": malicious, "suspicious": 0, "undetected": 30, "timeout": 0}
    }}}))
    .into_response()
}
