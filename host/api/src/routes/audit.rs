//! The audit trail, newest first, paged by id.

use axum::extract::State;
use axum::{Extension, Json};
use sc_state::audit::AuditRecord;

use super::Page;
use crate::AppState;
use crate::error::{AppError, ErrorBody, RequestId};
use crate::extract::ApiQuery;

#[utoipa::path(get, path = "/api/audit", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "How many (default 100)", minimum = 1, maximum = 1000),
        ("before" = Option<i64>, Query, description = "Only records with a smaller id")
    ),
    responses(
        (status = 200, body = Vec<AuditRecord>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn audit(
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Vec<AuditRecord>>, AppError> {
    let limit = page.limit(100, 1_000, &request)?;
    let before = page.before;
    state
        .host
        .read_audit(move |audit| audit.recent(limit, before))
        .await
        .map_err(|e| AppError::internal(&request, e))?
        .map(Json)
        .map_err(|e| AppError::internal(&request, e))
}
