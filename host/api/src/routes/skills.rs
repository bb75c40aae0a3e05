//! The installed skills: the listing, one skill's detail (manifest,
//! parameters schema, recent runs), and switching a skill on or off.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use sc_runtime::{SkillEntry, SkillState};
use sc_state::history::RunRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{AppError, ErrorBody, RequestId};
use crate::extract::{ApiJson, ApiPath};
use crate::{Actor, AppState};

/// A skill in the listing.
#[derive(Debug, Serialize, ToSchema)]
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
    /// `loading` (still compiling after a start), `ready` or `failed`.
    #[schema(value_type = String)]
    pub state: SkillState,
    /// Why the newest files could not be loaded.
    pub error: Option<String>,
    /// sha256 of the serving component.
    pub sha256: Option<String>,
    /// Calls in flight.
    pub running: usize,
}

/// The installed skill `id`, or a 404 that says so.
pub(crate) fn find_skill(
    state: &AppState,
    id: &str,
    request: &RequestId,
) -> Result<SkillEntry, AppError> {
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
        grants: manifest.map(|m| m.grants.summary()),
        enabled: state.host.is_enabled(&entry.id),
        ready: entry.is_ready(),
        state: entry.state(),
        error: entry.error.as_ref().map(ToString::to_string),
        sha256: entry.current.as_ref().map(|s| s.sha256.clone()),
        running: state.host.running(&entry.id),
    }
}

#[utoipa::path(get, path = "/api/skills", security(("bearer" = [])), responses(
    (status = 200, body = Vec<SkillSummary>), (status = 401, body = ErrorBody)
))]
pub(crate) async fn list_skills(State(state): State<AppState>) -> Json<Vec<SkillSummary>> {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct SkillDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: SkillSummary,
    /// The manifest's front matter.
    pub manifest: Option<Value>,
    /// The JSON Schema of the skill's parameters (from its manifest), when
    /// it declares one.
    pub parameters: Option<Value>,
    /// The manifest's body (the skill's system prompt).
    pub instructions: Option<String>,
    /// Newest runs first.
    pub last_runs: Vec<RunRecord>,
    /// Errors in a row up to the newest run.
    pub consecutive_failures: u32,
}

#[utoipa::path(get, path = "/api/skills/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "Skill id")),
    responses(
        (status = 200, body = SkillDetail), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn skill_detail(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SkillDetail>, AppError> {
    let entry = find_skill(&state, &id, &request)?;
    let skill = id.clone();
    let (last_runs, summary) = state
        .host
        .read_history(move |history| {
            Ok::<_, anyhow::Error>((history.runs(&skill, 20)?, history.summary(&skill)?))
        })
        .await
        .map_err(|e| AppError::internal(&request, e))?
        .map_err(|e| AppError::internal(&request, e))?;
    let manifest = entry.manifest();
    Ok(Json(SkillDetail {
        manifest: manifest.and_then(|m| serde_json::to_value(m).ok()),
        parameters: manifest.and_then(|m| m.parameters.clone()),
        instructions: manifest.map(|m| m.instructions.clone()),
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
        (status = 200, body = SkillSummary), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn set_enabled(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EnabledRequest>,
) -> Result<Json<SkillSummary>, AppError> {
    let entry = find_skill(&state, &id, &request)?;
    let host = Arc::clone(&state.host);
    let skill = id.clone();
    sc_runtime::off_worker(move || host.set_enabled(&actor.0, &skill, body.enabled))
        .await
        .map_err(|e| AppError::internal(&request, e))?
        .map_err(|e| AppError::internal(&request, e))?;
    Ok(Json(summarize(&state, &entry)))
}
