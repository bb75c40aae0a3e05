//! Extractors whose rejections come back in the API's JSON error format
//! with the request id (axum's own answer in plain text, with statuses the
//! OpenAPI document does not list): JSON bodies, query strings, path
//! parameters.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::error::{AppError, RequestId};

fn rejected(
    status: StatusCode,
    code: &'static str,
    text: String,
    id: Option<&RequestId>,
) -> AppError {
    let error = AppError::new(status, code, text);
    match id {
        Some(id) => error.with_request(id),
        None => error,
    }
}

/// `Json<T>` whose rejections (bad JSON, wrong fields, too large, wrong
/// content type) are JSON errors.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = request.extensions().get::<RequestId>().cloned();
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                    StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
                    _ => "bad_request",
                };
                Err(rejected(
                    status,
                    code,
                    rejection.body_text(),
                    request_id.as_ref(),
                ))
            }
        }
    }
}

/// `Query<T>` whose rejections (a malformed query string, a value of the
/// wrong type) are JSON 400s.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().cloned();
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejected(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
                request_id.as_ref(),
            )),
        }
    }
}

/// `Path<T>` whose rejections (an id that is not a number) are JSON 400s.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().cloned();
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejected(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
                request_id.as_ref(),
            )),
        }
    }
}
