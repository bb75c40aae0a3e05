//! The agent's memory: the snapshot, findings, escalations as alerts, and
//! an analyst moving an alert along. The memory database is read on a
//! blocking thread.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use sc_core::CapabilityError;
use sc_core::memory::{Alert, AlertStatus, MemoryBackend, MemorySnapshot};
use sc_runtime::records::{self, Filter, RecordPage};
use sc_state::audit::AuditEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Page;
use crate::error::{AppError, ErrorBody, RequestId};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{Actor, AppState};

/// Runs a memory call on a blocking thread; any failure is a 500 whose
/// cause goes to the log.
async fn with_memory<T: Send + 'static>(
    state: &AppState,
    request: &RequestId,
    call: impl FnOnce(&dyn MemoryBackend) -> Result<T, CapabilityError> + Send + 'static,
) -> Result<T, AppError> {
    let memory: Arc<dyn MemoryBackend> = state.host.backends().memory.clone();
    sc_runtime::off_worker(move || call(memory.as_ref()))
        .await
        .map_err(|e| AppError::internal(request, e))?
        .map_err(|e| AppError::internal(request, e))
}

#[utoipa::path(get, path = "/api/memory", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "Entries per list (default 10)", minimum = 1, maximum = 500)),
    responses(
        (status = 200, body = MemorySnapshot), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn memory(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<MemorySnapshot>, AppError> {
    let limit = page.limit(10, 500, &request)?;
    with_memory(&state, &request, move |m| m.snapshot(limit))
        .await
        .map(Json)
}

/// `GET /api/findings`: the durable findings triage recorded (the memory
/// list of recent findings is in `GET /api/memory`).
#[utoipa::path(get, path = "/api/findings", security(("bearer" = [])),
    params(Filter),
    responses(
        (status = 200, body = RecordPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn findings(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiQuery(filter): ApiQuery<Filter>,
) -> Result<Json<RecordPage>, AppError> {
    records::findings(state.host.backends().db.as_ref(), &filter)
        .await
        .map(Json)
        .map_err(|e| super::incidents::failed(e, &request))
}

#[utoipa::path(get, path = "/api/alerts", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "How many (default 50)", minimum = 1, maximum = 1000)),
    responses(
        (status = 200, body = Vec<Alert>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn alerts(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Vec<Alert>>, AppError> {
    let limit = page.limit(50, 1_000, &request)?;
    with_memory(&state, &request, move |m| m.alerts(limit))
        .await
        .map(Json)
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
        (status = 200, body = AlertStatusRequest), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn set_alert_status(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AlertStatusRequest>,
) -> Result<Json<AlertStatusRequest>, AppError> {
    let status = body.status;
    let found = with_memory(&state, &request, move |m| m.set_alert_status(id, status)).await?;
    if !found {
        return Err(AppError::not_found(format!("no alert {id}")).with_request(&request));
    }
    state.host.record_audit(AuditEvent {
        actor: actor.0,
        action: "alert.status".to_owned(),
        parameters_digest: Some(sc_core::digest(
            format!("{id}:{}", status.as_str()).as_bytes(),
        )),
        outcome: status.as_str().to_owned(),
        ..AuditEvent::default()
    });
    Ok(Json(body))
}
