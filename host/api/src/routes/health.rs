//! Liveness, readiness and the agent's status: which backends serve, how
//! healthy they look, how many skills are loaded, whether the scheduler runs.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sc_core::backends::BackendHealth;
use sc_core::config::DbProvider;
use sc_runtime::RegistryState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ErrorBody;

/// Liveness.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Whether the service is ready for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Every skill loaded (or refused) once and the memory database answers.
    Ready,
    /// Not yet, or not any more.
    NotReady,
}

/// Readiness, with each part's state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: ReadyStatus,
    /// Every installed skill was loaded (or refused) once; false while the
    /// service is still compiling skills after a start.
    pub registry: bool,
    /// The memory database answers.
    pub memory: bool,
    /// `not_configured`, `reachable` or `degraded`.
    pub db: String,
}

#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)
))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let registry = state.host.registry_state() == RegistryState::Ready;
    let memory = memory_health(&state).await == BackendHealth::Ok;
    let ready = registry && memory;
    let body = Readiness {
        status: if ready {
            ReadyStatus::Ready
        } else {
            ReadyStatus::NotReady
        },
        registry,
        memory,
        db: match db_health(&state).await {
            BackendHealth::Ok => "reachable",
            BackendHealth::NotConfigured => "not_configured",
            BackendHealth::Degraded => "degraded",
        }
        .to_owned(),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

fn db_provider(state: &AppState) -> &'static str {
    match state.host.config().db.provider {
        DbProvider::None => "none",
        DbProvider::Embedded => "embedded",
        DbProvider::Opensearch => "opensearch",
        DbProvider::Elasticsearch => "elasticsearch",
    }
}

/// `ok` when the store answers within two seconds.
async fn db_health(state: &AppState) -> BackendHealth {
    if state.host.config().db.provider == DbProvider::None {
        return BackendHealth::NotConfigured;
    }
    let ping = state.host.backends().db.ping();
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(())) => BackendHealth::Ok,
        _ => BackendHealth::Degraded,
    }
}

/// `ok` when the memory database answers (read on a blocking thread).
async fn memory_health(state: &AppState) -> BackendHealth {
    let memory = state.host.backends().memory.clone();
    match sc_runtime::off_worker(move || memory.snapshot(1)).await {
        Ok(Ok(_)) => BackendHealth::Ok,
        _ => BackendHealth::Degraded,
    }
}

/// A backend and its health.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackendState {
    /// Which provider serves it.
    pub provider: String,
    /// How it looks.
    pub health: BackendHealth,
}

/// Skill counts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SkillCounts {
    /// Installed skill folders.
    pub installed: usize,
    /// Serving calls.
    pub loaded: usize,
    /// With a load error (some may still serve a previous version).
    pub failed: usize,
    /// Not compiled yet (the service is still starting).
    pub loading: usize,
}

/// The scheduler's state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchedulerState {
    /// Whether this service runs the scheduler (not with `--api-only`).
    pub running: bool,
    /// Scheduled skills.
    pub jobs: usize,
    /// Runs in parallel at most.
    pub max_concurrent: usize,
}

/// `GET /api/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// `securityclaw`.
    pub agent: String,
    /// The host's version.
    pub version: String,
    /// The WIT package version skills are built against.
    pub wit: String,
    /// Seconds since the service started.
    pub uptime_seconds: u64,
    /// The telemetry store.
    pub db: BackendState,
    /// The model.
    pub llm: BackendState,
    /// The memory database.
    pub memory: BackendState,
    /// Skills.
    pub skills: SkillCounts,
    /// The scheduler.
    pub scheduler: SchedulerState,
}

#[utoipa::path(get, path = "/api/status", security(("bearer" = [])), responses(
    (status = 200, body = StatusResponse), (status = 401, body = ErrorBody)
))]
pub(crate) async fn status(State(state): State<AppState>) -> Json<StatusResponse> {
    let skills = state.host.skills();
    let config = state.host.config();
    let choice = &state.host.backends().llm_choice;
    Json(StatusResponse {
        agent: "securityclaw".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        wit: sc_runtime::bindings::wit_version().to_owned(),
        uptime_seconds: state.started.elapsed().as_secs(),
        db: BackendState {
            provider: db_provider(&state).to_owned(),
            health: db_health(&state).await,
        },
        llm: BackendState {
            provider: choice.provider.as_str().to_owned(),
            health: if choice.provider.is_configured() {
                BackendHealth::Ok
            } else {
                BackendHealth::NotConfigured
            },
        },
        memory: BackendState {
            provider: "sqlite".to_owned(),
            health: memory_health(&state).await,
        },
        skills: SkillCounts {
            installed: skills.len(),
            loaded: skills.values().filter(|e| e.is_ready()).count(),
            failed: skills.values().filter(|e| e.error.is_some()).count(),
            loading: skills
                .values()
                .filter(|e| e.state() == sc_runtime::SkillState::Loading)
                .count(),
        },
        scheduler: SchedulerState {
            running: state.scheduler.is_some(),
            jobs: state.scheduler.as_ref().map_or(0, |s| s.jobs().len()),
            max_concurrent: config.scheduler.max_concurrent,
        },
    })
}
