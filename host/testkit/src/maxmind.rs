//! A stand-in for MaxMind's download endpoint on loopback
//! (`/app/geoip_download?edition_id=…&license_key=…&suffix=tar.gz|tar.gz.sha256`):
//! serves a database packed as MaxMind packs its downloads, with its
//! sha256, or a checksum that does not match it when told to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};

/// The licence key the stand-in accepts.
pub const LICENSE_KEY: &str = "test-licence-key";

#[derive(Clone)]
struct Shared {
    archive: Arc<Vec<u8>>,
    lie: Arc<AtomicBool>,
}

/// The running endpoint.
pub struct MaxMindDownloads {
    /// `http://localhost:<port>/app/geoip_download`, for `download_url`.
    pub url: String,
    lie: Arc<AtomicBool>,
}

/// `database` as `<edition>_20261205/<edition>.mmdb` in a tar.gz.
pub fn archive(edition: &str, database: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(database.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(
        &mut header,
        format!("{edition}_20261205/{edition}.mmdb"),
        database,
    )
    .expect("append");
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("archive")
}

impl MaxMindDownloads {
    /// Serves `database` as edition `GeoLite2-City` for the rest of the test.
    pub async fn start(database: &[u8]) -> Self {
        let shared = Shared {
            archive: Arc::new(archive("GeoLite2-City", database)),
            lie: Arc::default(),
        };
        let lie = shared.lie.clone();
        let app = Router::new()
            .route("/app/geoip_download", get(download))
            .with_state(shared);
        let url = crate::serve(app).await.replace("127.0.0.1", "localhost");
        Self {
            url: format!("{url}/app/geoip_download"),
            lie,
        }
    }

    /// From now on, list a checksum the archive does not have.
    pub fn lie_about_the_checksum(&self) {
        self.lie.store(true, Ordering::SeqCst);
    }
}

async fn download(
    State(shared): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if query.get("license_key").map(String::as_str) != Some(LICENSE_KEY) {
        return (StatusCode::UNAUTHORIZED, "Invalid license key\n").into_response();
    }
    if query.get("edition_id").map(String::as_str) != Some("GeoLite2-City") {
        return (
            StatusCode::BAD_REQUEST,
            "Invalid product ID or subscription expired\n",
        )
            .into_response();
    }
    match query.get("suffix").map(String::as_str) {
        Some("tar.gz") => shared.archive.as_ref().clone().into_response(),
        Some("tar.gz.sha256") => {
            let sha: String = if shared.lie.load(Ordering::SeqCst) {
                "0".repeat(64)
            } else {
                Sha256::digest(shared.archive.as_slice())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            };
            format!("{sha}  GeoLite2-City_20261205.tar.gz\n").into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "Invalid suffix\n").into_response(),
    }
}
