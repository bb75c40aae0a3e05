//! The HTTP API of `sc-host service`: JSON under `/api`, health probes,
//! bearer-token authentication, request ids, body limits, per-client rate
//! limits, optional CORS, JSON errors for every rejection, and an OpenAPI
//! document generated from the handler types. [`app`] builds the whole
//! router, which tests drive with `oneshot`.

pub mod auth;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod rate;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use auth::AuthMode;
use error::{AppError, RequestId};
use sc_runtime::SkillHost;
use sc_scheduler::Scheduler;

/// Who made a request (a token id, or `loopback`).
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The host and its skills.
    pub host: Arc<SkillHost>,
    /// The scheduler, unless serving API-only.
    pub scheduler: Option<Arc<Scheduler>>,
    /// When the service started.
    pub started: Instant,
    /// How requests are authenticated.
    pub auth: Arc<AuthMode>,
    /// Per-client limits on dispatch.
    pub dispatch_limit: Arc<rate::RateLimiter>,
    /// Per-client limits on chat.
    pub chat_limit: Arc<rate::RateLimiter>,
}

impl AppState {
    /// State for a host, with or without a scheduler.
    pub fn new(host: Arc<SkillHost>, scheduler: Option<Arc<Scheduler>>, auth: AuthMode) -> Self {
        let api = &host.config().api;
        let dispatch_limit = Arc::new(rate::RateLimiter::per_minute(api.dispatch_per_minute));
        let chat_limit = Arc::new(rate::RateLimiter::per_minute(api.chat_per_minute));
        Self {
            host,
            scheduler,
            started: Instant::now(),
            auth: Arc::new(auth),
            dispatch_limit,
            chat_limit,
        }
    }
}

async fn request_id(mut request: Request, next: Next) -> Response {
    let id = RequestId(uuid::Uuid::new_v4().simple().to_string());
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if matches!(*state.auth, AuthMode::Open) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| request.uri().host())
            .unwrap_or("localhost");
        if !auth::is_loopback_host(host) {
            let mut error = AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "without tokens the API answers only requests addressed to localhost; configure `api.auth.tokens` to serve other names",
            );
            if let Some(id) = request.extensions().get::<RequestId>() {
                error = error.with_request(id);
            }
            return error.into_response();
        }
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.authenticate(header) {
        Some(actor) => {
            request.extensions_mut().insert(Actor(actor));
            next.run(request).await
        }
        None => {
            let id = request.extensions().get::<RequestId>().cloned();
            let mut error = AppError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer <token>` with a token listed under `api.auth.tokens`",
            );
            if let Some(id) = &id {
                error = error.with_request(id);
            }
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// The whole application: routes, authentication, limits and CORS.
pub fn app(state: AppState) -> Router {
    let config = &state.host.config().api;
    let protected = routes::protected()
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let mut router = Router::new()
        .merge(routes::public())
        .route("/api/openapi.json", axum::routing::get(openapi::document))
        .merge(protected);
    // The web UI's files, when built; the API answers before them.
    if config.web_dir.join("index.html").is_file() {
        router = router.fallback_service(tower_http::services::ServeDir::new(&config.web_dir));
    }
    let mut router = router
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn(request_id));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    router.with_state(state)
}

/// Serves the API on `bind` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    bind: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("cannot listen on {bind}; is another service using it? (`api.bind`, `--bind`)")
    })?;
    tracing::info!(address = %listener.local_addr().unwrap_or(bind), "API listening");
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving the API")
}
