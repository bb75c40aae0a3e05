//! API errors: a status, a stable code and a message for the caller; the
//! internal cause goes to the log under the request id the response carries.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The id of one request, echoed in `x-request-id` and in error bodies.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An error as the API returns it.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
    request_id: Option<String>,
}

/// The body of an error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`not_found`, `unauthorized`…).
    pub code: String,
    /// For people; never internal details.
    pub message: String,
    /// Quote this when reporting a problem; the log has the details.
    pub request_id: Option<String>,
}

impl AppError {
    /// An error with a public message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            request_id: None,
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400 for a query value out of its documented range.
    pub fn out_of_range(name: &str, min: u64, max: u64) -> Self {
        Self::bad_request(format!("`{name}` must be between {min} and {max}"))
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500: logs the cause with the request id, tells the caller nothing more.
    pub fn internal(request_id: &RequestId, cause: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = %request_id.0, error = %cause, "request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message:
                "the server failed to handle this request; the log has details under its request id"
                    .to_owned(),
            request_id: Some(request_id.0.clone()),
        }
    }

    /// Attaches the request id.
    pub fn with_request(mut self, request_id: &RequestId) -> Self {
        self.request_id = Some(request_id.0.clone());
        self
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                request_id: self.request_id,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
