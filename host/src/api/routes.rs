//! The API's routes and handlers, each documented for the OpenAPI document
//! served at `/api/openapi.json`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::error::{ApiJson, AppError, ErrorBody, RequestId};
use super::{Actor, AppState};
use crate::audit::{AuditEvent, AuditRecord};
use crate::capabilities::memory::{AgentStatus, Alert, AlertStatus, Entry, MemorySnapshot};
use crate::cli::list_skills::summarize_grants;
use crate::history::{RunRecord, RunSummary};
use crate::runtime::{DispatchError, RunReport, RunStatus, SkillEntry, Trigger};
use crate::scheduler::JobView;

/// Routes that need no authentication: health probes and the API document.
pub fn public() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi))
}

/// Routes behind authentication.
pub fn protected() -> Router<AppState> {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/skills", get(list_skills))
        .route("/api/skills/{id}", get(skill_detail))
        .route("/api/skills/{id}/enabled", put(set_enabled))
        .route("/api/dispatch", post(dispatch))
        .route("/dispatch", post(dispatch))
        .route("/api/crons", get(crons))
        .route("/api/crons/{id}/run", post(run_cron))
        .route("/api/memory", get(memory))
        .route("/memory", get(memory))
        .route("/api/findings", get(findings))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/status", put(set_alert_status))
        .route("/api/audit", get(audit))
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "SecurityClaw API", description = "Skills, runs, schedules, memory and audit of a SecurityClaw agent."),
    paths(
        healthz, readyz, status, list_skills, skill_detail, set_enabled, dispatch, crons, run_cron,
        memory, findings, alerts, set_alert_status, audit
    ),
    components(schemas(
        Health, Readiness, StatusResponse, BackendState, SkillCounts, SchedulerState, SkillSummary,
        SkillDetail, EnabledRequest, DispatchRequest, RunReport, RunStatus, CronView, MemorySnapshot,
        Entry, AgentStatus, Alert, AlertStatus, AlertStatusRequest, AuditRecord, RunRecord, RunSummary,
        JobView, ErrorBody
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Liveness.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness, with each part's state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// The registry has loaded (skills that failed count as loaded).
    pub registry: bool,
    /// The memory database answers.
    pub memory: bool,
    /// `not_configured`, `reachable` or `degraded`.
    pub db: String,
}

#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)
))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let memory = state.host.backends().memory.snapshot(1).is_ok();
    let ready = memory;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.to_owned(),
        registry: true,
        memory,
        db: match db_state(&state).await.as_str() {
            "ok" => "reachable".to_owned(),
            other => other.to_owned(),
        },
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

fn db_provider(state: &AppState) -> String {
    match state.host.config().db.provider {
        crate::config::DbProvider::None => "none",
        crate::config::DbProvider::Embedded => "embedded",
        crate::config::DbProvider::Opensearch => "opensearch",
        crate::config::DbProvider::Elasticsearch => "elasticsearch",
    }
    .to_owned()
}

/// `ok` when the store answers a listing within two seconds.
async fn db_state(state: &AppState) -> String {
    if state.host.config().db.provider == crate::config::DbProvider::None {
        return "not_configured".to_owned();
    }
    let listing = state.host.backends().db.list_indices("*");
    match tokio::time::timeout(std::time::Duration::from_secs(2), listing).await {
        Ok(Ok(_)) => "ok",
        _ => "degraded",
    }
    .to_owned()
}

/// A backend and its health.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackendState {
    /// Which provider serves it.
    pub provider: String,
    /// `ok`, `not_configured` or `degraded`.
    pub health: String,
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// `securityclaw`.
    pub agent: String,
    /// The host's version.
    pub version: String,
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
async fn status(State(state): State<AppState>) -> Json<StatusResponse> {
    let skills = state.host.skills();
    let config = state.host.config();
    let memory_ok = state.host.backends().memory.snapshot(1).is_ok();
    Json(StatusResponse {
        agent: "securityclaw".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: state.started.elapsed().as_secs(),
        db: BackendState {
            provider: db_provider(&state),
            health: db_state(&state).await,
        },
        llm: {
            let choice = &state.host.backends().llm_choice;
            BackendState {
                provider: choice.provider.clone(),
                health: if choice.provider == "none" {
                    "not_configured"
                } else {
                    "ok"
                }
                .to_owned(),
            }
        },
        memory: BackendState {
            provider: "sqlite".to_owned(),
            health: if memory_ok { "ok" } else { "degraded" }.to_owned(),
        },
        skills: SkillCounts {
            installed: skills.len(),
            loaded: skills.values().filter(|e| e.is_ready()).count(),
            failed: skills.values().filter(|e| e.error.is_some()).count(),
        },
        scheduler: SchedulerState {
            running: state.scheduler.is_some(),
            jobs: state.scheduler.as_ref().map_or(0, |s| s.jobs().len()),
            max_concurrent: config.scheduler.max_concurrent,
        },
    })
}

/// A skill in the listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SkillSummary {
    /// Skill id.
    pub skill_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Version serving (or on disk, when none serves).
    pub version: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// `manual`, `every 300s`, `cron …`.
    pub schedule: Option<String>,
    /// What it may touch.
    pub grants: Option<String>,
    /// Switched on.
    pub enabled: bool,
    /// A version is serving calls.
    pub ready: bool,
    /// Why the newest files could not be loaded.
    pub error: Option<String>,
    /// sha256 of the serving component.
    pub sha256: Option<String>,
    /// Calls in flight.
    pub running: usize,
}

/// The installed skill `id`, or a 404 that says so.
fn find_skill(state: &AppState, id: &str, request: &RequestId) -> Result<SkillEntry, AppError> {
    state
        .host
        .skill(id)
        .ok_or_else(|| AppError::not_found(format!("no skill `{id}`")).with_request(request))
}

fn summarize(state: &AppState, entry: &SkillEntry) -> SkillSummary {
    let manifest = entry.manifest();
    SkillSummary {
        skill_id: entry.id.clone(),
        display_name: manifest.map(|m| m.display_name.clone()),
        version: manifest.map(|m| m.version.to_string()),
        description: manifest.map(|m| m.description.clone()),
        schedule: manifest.map(|m| {
            m.schedule
                .as_ref()
                .map_or_else(|| "manual".to_owned(), |s| s.describe())
        }),
        grants: manifest.map(|m| summarize_grants(&m.grants)),
        enabled: state.host.is_enabled(&entry.id),
        ready: entry.is_ready(),
        error: entry.error.clone(),
        sha256: entry.current.as_ref().map(|s| s.sha256.clone()),
        running: state.host.running(&entry.id),
    }
}

#[utoipa::path(get, path = "/api/skills", security(("bearer" = [])), responses(
    (status = 200, body = Vec<SkillSummary>), (status = 401, body = ErrorBody)
))]
async fn list_skills(State(state): State<AppState>) -> Json<Vec<SkillSummary>> {
    Json(
        state
            .host
            .skills()
            .values()
            .map(|e| summarize(&state, e))
            .collect(),
    )
}

/// `GET /api/skills/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SkillDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: SkillSummary,
    /// The manifest's front matter.
    pub manifest: Option<Value>,
    /// The manifest's body (the skill's system prompt).
    pub instructions: Option<String>,
    /// Newest runs first.
    pub last_runs: Vec<RunRecord>,
    /// Errors in a row up to the newest run.
    pub consecutive_failures: u32,
}

#[utoipa::path(get, path = "/api/skills/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "Skill id")),
    responses((status = 200, body = SkillDetail), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody))
)]
async fn skill_detail(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Json<SkillDetail>, AppError> {
    let entry = find_skill(&state, &id, &request)?;
    let history = state.host.history();
    let last_runs = history
        .runs(&id, 20)
        .map_err(|e| AppError::internal(&request, e))?;
    let summary = history
        .summary(&id)
        .map_err(|e| AppError::internal(&request, e))?;
    Ok(Json(SkillDetail {
        manifest: entry.manifest().and_then(|m| serde_json::to_value(m).ok()),
        instructions: entry.manifest().map(|m| m.instructions.clone()),
        summary: summarize(&state, &entry),
        last_runs,
        consecutive_failures: summary.consecutive_failures,
    }))
}

/// `PUT /api/skills/{id}/enabled`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnabledRequest {
    /// Switch the skill on (true) or off (false).
    pub enabled: bool,
}

#[utoipa::path(put, path = "/api/skills/{id}/enabled", security(("bearer" = [])),
    params(("id" = String, Path, description = "Skill id")),
    request_body = EnabledRequest,
    responses(
        (status = 200, body = SkillSummary), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)
    )
)]
async fn set_enabled(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EnabledRequest>,
) -> Result<Json<SkillSummary>, AppError> {
    let entry = find_skill(&state, &id, &request)?;
    state
        .host
        .set_enabled(&actor.0, &id, body.enabled)
        .map_err(|e| AppError::internal(&request, e))?;
    Ok(Json(summarize(&state, &entry)))
}

/// `POST /api/dispatch`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DispatchRequest {
    /// The skill to run.
    pub skill: String,
    /// Its parameters (a JSON object).
    #[serde(default)]
    pub parameters: Option<Value>,
}

fn dispatch_error(request: &RequestId, err: DispatchError) -> AppError {
    let error = match &err {
        DispatchError::Unknown { skill, .. } => AppError::not_found(format!("no skill `{skill}`")),
        DispatchError::NotLoaded { .. } => AppError::conflict(err.to_string()),
        DispatchError::Disabled(_) => AppError::conflict(err.to_string()),
        DispatchError::BadParameters(_) => AppError::bad_request(err.to_string()),
    };
    error.with_request(request)
}

/// Runs a skill in its own task, so a client that hangs up does not cut the
/// run short; the run finishes and is recorded either way.
async fn run_to_completion(
    state: &AppState,
    request: &RequestId,
    actor: String,
    skill: String,
    trigger: Trigger,
    parameters: Value,
) -> Result<Json<RunReport>, AppError> {
    let host = state.host.clone();
    let task =
        tokio::spawn(async move { host.dispatch_as(&actor, &skill, trigger, parameters).await });
    match task.await {
        Ok(Ok(report)) => Ok(Json(report)),
        Ok(Err(err)) => Err(dispatch_error(request, err)),
        Err(join) => Err(AppError::internal(request, join)),
    }
}

fn rate_limited(request: &RequestId) -> AppError {
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests from this client; slow down (`api.dispatch_per_minute`)",
    )
    .with_request(request)
}

#[utoipa::path(post, path = "/api/dispatch", security(("bearer" = [])),
    request_body = DispatchRequest,
    responses(
        (status = 200, body = RunReport, description = "The run's report; a failed run is status `error`"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 401, body = ErrorBody)
    )
)]
async fn dispatch(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<DispatchRequest>,
) -> Result<Json<RunReport>, AppError> {
    if !state.dispatch_limit.allow(&actor.0) {
        return Err(rate_limited(&request));
    }
    let parameters = body
        .parameters
        .unwrap_or_else(|| Value::Object(Default::default()));
    state
        .host
        .dispatch_as(&actor.0, &body.skill, Trigger::Dispatch, parameters)
        .await
        .map(Json)
        .map_err(|err| dispatch_error(&request, err))
}

/// A scheduled skill.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CronView {
    /// The skill.
    pub skill_id: String,
    /// `every 300s` or `cron …`.
    pub schedule: String,
    /// RFC 3339 time it is next due (none when the scheduler is off).
    pub next_run: Option<String>,
    /// The newest run.
    pub last_run: Option<RunRecord>,
    /// Errors in a row.
    pub consecutive_failures: u32,
    /// Due runs skipped because the previous one was still going.
    pub skipped_overlaps: u64,
    /// Calls in flight.
    pub running: usize,
    /// Switched on.
    pub enabled: bool,
}

#[utoipa::path(get, path = "/api/crons", security(("bearer" = [])), responses(
    (status = 200, body = Vec<CronView>), (status = 401, body = ErrorBody)
))]
async fn crons(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
) -> Result<Json<Vec<CronView>>, AppError> {
    let history = state.host.history();
    let jobs = state
        .scheduler
        .as_ref()
        .map(|s| s.jobs())
        .unwrap_or_default();
    let mut views = Vec::new();
    for (id, entry) in state.host.skills() {
        let Some(schedule) = entry.manifest().and_then(|m| m.schedule.clone()) else {
            continue;
        };
        let job = jobs.iter().find(|j| j.skill_id == id);
        let summary = history
            .summary(&id)
            .map_err(|e| AppError::internal(&request, e))?;
        views.push(CronView {
            schedule: job.map_or_else(|| schedule.describe(), |j| j.schedule.clone()),
            next_run: job.and_then(|j| j.next_run.clone()),
            skipped_overlaps: job.map_or(0, |j| j.skipped_overlaps),
            last_run: summary.last_run,
            consecutive_failures: summary.consecutive_failures,
            running: state.host.running(&id),
            enabled: state.host.is_enabled(&id),
            skill_id: id,
        });
    }
    Ok(Json(views))
}

#[utoipa::path(post, path = "/api/crons/{id}/run", security(("bearer" = [])),
    params(("id" = String, Path, description = "Skill id")),
    responses(
        (status = 200, body = RunReport), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not scheduled, disabled, or already running"),
        (status = 401, body = ErrorBody)
    )
)]
async fn run_cron(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<RunReport>, AppError> {
    let entry = find_skill(&state, &id, &request)?;
    if entry.manifest().and_then(|m| m.schedule.as_ref()).is_none() {
        return Err(AppError::conflict(format!(
            "skill `{id}` has no schedule; use POST /api/dispatch"
        ))
        .with_request(&request));
    }
    let scheduled_run = state.scheduler.as_ref().is_some_and(|s| s.is_running(&id));
    if scheduled_run || state.host.running(&id) > 0 {
        return Err(
            AppError::conflict(format!("skill `{id}` is already running")).with_request(&request),
        );
    }
    if !state.dispatch_limit.allow(&actor.0) {
        return Err(rate_limited(&request));
    }
    run_to_completion(
        &state,
        &request,
        actor.0,
        id,
        Trigger::Dispatch,
        Value::Object(Default::default()),
    )
    .await
}

/// `?limit=N` (and `before=ID` for the audit trail).
#[derive(Debug, Deserialize)]
pub struct Page {
    /// How many.
    pub limit: Option<u32>,
    /// Only records with a smaller id.
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/memory", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "Entries per list (default 10)")),
    responses((status = 200, body = MemorySnapshot), (status = 401, body = ErrorBody))
)]
async fn memory(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Query(page): Query<Page>,
) -> Result<Json<MemorySnapshot>, AppError> {
    let limit = page.limit.unwrap_or(10).min(500);
    state
        .host
        .backends()
        .memory
        .snapshot(limit)
        .map(Json)
        .map_err(|e| AppError::internal(&request, e))
}

#[utoipa::path(get, path = "/api/findings", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "How many (default 50)")),
    responses((status = 200, body = Vec<Entry>), (status = 401, body = ErrorBody))
)]
async fn findings(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Entry>>, AppError> {
    let limit = page.limit.unwrap_or(50).min(1_000);
    state
        .host
        .backends()
        .memory
        .recent(crate::capabilities::grants::MemoryList::Findings, limit)
        .map(Json)
        .map_err(|e| AppError::internal(&request, e))
}

#[utoipa::path(get, path = "/api/alerts", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "How many (default 50)")),
    responses((status = 200, body = Vec<Alert>), (status = 401, body = ErrorBody))
)]
async fn alerts(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Alert>>, AppError> {
    let limit = page.limit.unwrap_or(50).min(1_000);
    state
        .host
        .backends()
        .memory
        .alerts(limit)
        .map(Json)
        .map_err(|e| AppError::internal(&request, e))
}

/// `PUT /api/alerts/{id}/status`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertStatusRequest {
    /// The new status.
    pub status: AlertStatus,
}

#[utoipa::path(put, path = "/api/alerts/{id}/status", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Escalation id")),
    request_body = AlertStatusRequest,
    responses(
        (status = 200, body = AlertStatusRequest), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 401, body = ErrorBody)
    )
)]
async fn set_alert_status(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<AlertStatusRequest>,
) -> Result<Json<AlertStatusRequest>, AppError> {
    let found = state
        .host
        .backends()
        .memory
        .set_alert_status(id, body.status)
        .map_err(|e| AppError::internal(&request, e))?;
    if !found {
        return Err(AppError::not_found(format!("no alert {id}")).with_request(&request));
    }
    state.host.record_audit(AuditEvent {
        actor: actor.0,
        action: "alert.status".to_owned(),
        parameters_digest: Some(crate::audit::digest(
            format!("{id}:{}", body.status.as_str()).as_bytes(),
        )),
        outcome: body.status.as_str().to_owned(),
        ..AuditEvent::default()
    });
    Ok(Json(body))
}

#[utoipa::path(get, path = "/api/audit", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "How many (default 100)"),
        ("before" = Option<i64>, Query, description = "Only records with a smaller id")
    ),
    responses((status = 200, body = Vec<AuditRecord>), (status = 401, body = ErrorBody))
)]
async fn audit(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<AuditRecord>>, AppError> {
    let limit = page.limit.unwrap_or(100).min(1_000);
    state
        .host
        .audit()
        .recent(limit, page.before)
        .map(Json)
        .map_err(|e| AppError::internal(&request, e))
}
