//! Durable detection records: incidents (filtered, paged), an incident's
//! findings, and an analyst marking an incident a false positive.

use axum::extract::State;
use axum::{Extension, Json};
use sc_runtime::records::{self, Filter, RecordError, RecordPage, SuppressRequest};
use serde_json::Value;

use crate::error::{AppError, ErrorBody, RequestId};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{Actor, AppState};

/// A record error as the API answers it.
pub(crate) fn failed(error: RecordError, request: &RequestId) -> AppError {
    match error {
        RecordError::BadFilter(message) => AppError::bad_request(message).with_request(request),
        RecordError::NotFound(id) => {
            AppError::not_found(format!("no incident `{id}`")).with_request(request)
        }
        RecordError::Store(cause) => AppError::internal(request, cause),
    }
}

#[utoipa::path(get, path = "/api/incidents", security(("bearer" = [])),
    params(Filter),
    responses(
        (status = 200, body = RecordPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn incidents(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiQuery(filter): ApiQuery<Filter>,
) -> Result<Json<RecordPage>, AppError> {
    records::incidents(state.host.backends().db.as_ref(), &filter)
        .await
        .map(Json)
        .map_err(|e| failed(e, &request))
}

#[utoipa::path(get, path = "/api/incidents/{id}/findings", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id"), Filter),
    responses(
        (status = 200, body = RecordPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn incident_findings(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(mut filter): ApiQuery<Filter>,
) -> Result<Json<RecordPage>, AppError> {
    filter.incident_id = Some(id);
    records::findings(state.host.backends().db.as_ref(), &filter)
        .await
        .map(Json)
        .map_err(|e| failed(e, &request))
}

#[utoipa::path(post, path = "/api/incidents/{id}/suppress", security(("bearer" = [])),
    params(("id" = String, Path, description = "Incident id")),
    request_body = SuppressRequest,
    responses(
        (status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn suppress(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SuppressRequest>,
) -> Result<Json<Value>, AppError> {
    records::suppress(&state.host, &id, &actor.0, &body)
        .await
        .map(Json)
        .map_err(|e| failed(e, &request))
}
