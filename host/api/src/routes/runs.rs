//! Running skills: a one-off dispatch, the scheduled skills with when they
//! run next, and running a scheduled skill now. Runs are spawned, so a
//! client that hangs up does not cut one short.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use sc_core::run::{RunReport, RunRequest, Trigger};
use sc_runtime::DispatchError;
use sc_state::history::RunRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::skills::find_skill;
use crate::error::{AppError, ErrorBody, RequestId};
use crate::extract::{ApiJson, ApiPath};
use crate::{Actor, AppState};

/// `POST /api/dispatch`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DispatchRequest {
    /// The skill to run.
    pub skill: String,
    /// Its parameters (a JSON object, checked against the skill's
    /// `parameters` schema).
    #[serde(default)]
    pub parameters: Option<Value>,
}

fn dispatch_error(request: &RequestId, err: DispatchError) -> AppError {
    let error = match &err {
        DispatchError::Unknown { skill, .. } => AppError::not_found(format!("no skill `{skill}`")),
        DispatchError::NotLoaded { .. } | DispatchError::Disabled(_) => {
            AppError::conflict(err.to_string())
        }
        DispatchError::BadParameters(_) => AppError::bad_request(err.to_string()),
        DispatchError::InvalidParameters { .. } => {
            AppError::new(StatusCode::BAD_REQUEST, "invalid_input", err.to_string())
        }
    };
    error.with_request(request)
}

/// Runs a skill in its own task, so a client that hangs up does not cut the
/// run short; the run finishes and is recorded either way.
async fn run_to_completion(
    state: &AppState,
    request: &RequestId,
    run: RunRequest,
) -> Result<Json<RunReport>, AppError> {
    match state.host.spawn_run(run).await {
        Ok(Ok(report)) => Ok(Json(report)),
        Ok(Err(err)) => Err(dispatch_error(request, err)),
        Err(join) => Err(AppError::internal(request, join)),
    }
}

/// Who a rate limit counts: the caller's token (or `loopback`) from one
/// source address, so two machines sharing a token do not share a bucket.
fn client(actor: &Actor, peer: Option<&ConnectInfo<SocketAddr>>) -> String {
    match peer {
        Some(ConnectInfo(addr)) => format!("{}@{}", actor.0, addr.ip()),
        None => actor.0.clone(),
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
        (status = 400, body = ErrorBody, description = "Parameters that are not an object or do not match the skill's schema"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<DispatchRequest>,
) -> Result<Json<RunReport>, AppError> {
    if !state
        .dispatch_limit
        .allow(&client(&actor, peer.as_ref().map(|p| &p.0)))
    {
        return Err(rate_limited(&request));
    }
    let parameters = body
        .parameters
        .unwrap_or_else(|| Value::Object(Default::default()));
    let run = RunRequest::new(body.skill, Trigger::Dispatch, parameters).by(actor.0);
    run_to_completion(&state, &request, run).await
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
pub(crate) async fn crons(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
) -> Result<Json<Vec<CronView>>, AppError> {
    let jobs = state
        .scheduler
        .as_ref()
        .map(|s| s.jobs())
        .unwrap_or_default();
    let scheduled: Vec<(String, String)> = state
        .host
        .skills()
        .into_iter()
        .filter_map(|(id, entry)| {
            let schedule = entry.manifest()?.schedule.as_ref()?.describe();
            Some((id, schedule))
        })
        .collect();
    let ids: Vec<String> = scheduled.iter().map(|(id, _)| id.clone()).collect();
    let summaries = state
        .host
        .read_history(move |history| {
            ids.iter()
                .map(|id| history.summary(id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| AppError::internal(&request, e))?
        .map_err(|e| AppError::internal(&request, e))?;
    let views = scheduled
        .into_iter()
        .zip(summaries)
        .map(|((id, schedule), summary)| {
            let job = jobs.iter().find(|j| j.skill_id == id);
            CronView {
                schedule: job.map_or(schedule, |j| j.schedule.clone()),
                next_run: job.and_then(|j| j.next_run.clone()),
                skipped_overlaps: job.map_or(0, |j| j.skipped_overlaps),
                last_run: summary.last_run,
                consecutive_failures: summary.consecutive_failures,
                running: state.host.running(&id),
                enabled: state.host.is_enabled(&id),
                skill_id: id,
            }
        })
        .collect();
    Ok(Json(views))
}

#[utoipa::path(post, path = "/api/crons/{id}/run", security(("bearer" = [])),
    params(("id" = String, Path, description = "Skill id")),
    responses(
        (status = 200, body = RunReport), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not scheduled, disabled, or already running"),
        (status = 429, body = ErrorBody), (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn run_cron(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiPath(id): ApiPath<String>,
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
    if !state
        .dispatch_limit
        .allow(&client(&actor, peer.as_ref().map(|p| &p.0)))
    {
        return Err(rate_limited(&request));
    }
    let run = RunRequest::new(id, Trigger::Dispatch, Value::Object(Default::default())).by(actor.0);
    run_to_completion(&state, &request, run).await
}
