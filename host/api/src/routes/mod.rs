//! The API's routes, one module per resource, each handler documented for
//! the OpenAPI document served at `/api/openapi.json`.

pub mod audit;
pub mod health;
pub mod incidents;
pub mod memory;
pub mod runs;
pub mod skills;

use axum::Router;
use axum::routing::{get, post, put};
use serde::Deserialize;

use crate::AppState;
use crate::error::{AppError, RequestId};

/// Routes that need no authentication: the health probes (and, added by
/// [`crate::app`], the API document).
pub fn public() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}

/// Routes behind authentication.
pub fn protected() -> Router<AppState> {
    Router::new()
        .route("/api/status", get(health::status))
        .route("/api/skills", get(skills::list_skills))
        .route("/api/skills/{id}", get(skills::skill_detail))
        .route("/api/skills/{id}/enabled", put(skills::set_enabled))
        .route("/api/dispatch", post(runs::dispatch))
        .route("/dispatch", post(runs::dispatch))
        .route("/api/crons", get(runs::crons))
        .route("/api/crons/{id}/run", post(runs::run_cron))
        .route("/api/memory", get(memory::memory))
        .route("/memory", get(memory::memory))
        .route("/api/findings", get(memory::findings))
        .route("/api/alerts", get(memory::alerts))
        .route("/api/alerts/{id}/status", put(memory::set_alert_status))
        .route("/api/audit", get(audit::audit))
        .route("/api/incidents", get(incidents::incidents))
        .route(
            "/api/incidents/{id}/findings",
            get(incidents::incident_findings),
        )
        .route("/api/incidents/{id}/suppress", post(incidents::suppress))
}

/// `?limit=N` (and `before=ID` for the audit trail).
#[derive(Debug, Deserialize)]
pub struct Page {
    /// How many.
    pub limit: Option<u32>,
    /// Only records with a smaller id.
    pub before: Option<i64>,
}

impl Page {
    /// The asked-for limit, `default` when absent; a value outside
    /// `1..=max` is a 400 naming the range (as the OpenAPI document says).
    pub fn limit(&self, default: u32, max: u32, request: &RequestId) -> Result<u32, AppError> {
        match self.limit {
            None => Ok(default),
            Some(limit) if (1..=max).contains(&limit) => Ok(limit),
            Some(_) => {
                Err(AppError::out_of_range("limit", 1, u64::from(max)).with_request(request))
            }
        }
    }
}
