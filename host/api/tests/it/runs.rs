//! The API's promises about runs and load: a run a client started finishes
//! and is recorded whatever the client does; blocking work never stalls the
//! async workers; readiness tells the truth while skills compile; rate
//! limits count clients, not tokens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use sc_api::auth::AuthMode;
use sc_api::{AppState, app};
use sc_core::clock::SystemClock;
use sc_core::run::RunStatus;
use sc_runtime::SkillHost;
use sc_testkit::Install;
use serde_json::json;
use tower::ServiceExt as _;

fn dispatch_request(body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/api/dispatch")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// The client gives up 100 ms into a one-second run. Before runs were
/// spawned, dropping the request cut the run short and it was recorded as
/// cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_finishes_and_is_recorded_after_its_client_hangs_up() {
    let install = Install::with(&["slow"]);
    let host = install.host();
    let router = app(AppState::new(host.clone(), None, AuthMode::Open));
    let request = dispatch_request(json!({"skill": "slow", "parameters": {"ms": 1000}}));
    let gave_up = tokio::time::timeout(Duration::from_millis(100), router.oneshot(request)).await;
    assert!(gave_up.is_err(), "the client hung up before the answer");
    assert_eq!(
        host.running("slow"),
        1,
        "the run goes on without its client"
    );
    assert!(
        host.wait_idle(Duration::from_secs(30)).await,
        "the run ends"
    );
    let runs = host
        .read_history(|history| history.runs("slow", 5))
        .await
        .expect("history")
        .expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Ok, "{:?}", runs[0]);
    assert_eq!(runs[0].summary, "worked 1000 ms");
}

/// Fills the embedded retrieval store with `count` documents whose vectors
/// (MiniLM's 384 dimensions) make an exact scan take a while.
fn fill_rag(path: &std::path::Path, count: usize) {
    let mut conn = rusqlite::Connection::open(path).expect("rag.db");
    let tx = conn.transaction().expect("tx");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO rag_docs (id, category, entity, window, text, source, metadata, skill_id, stored_at, valid_until, dims, embedding)
                 VALUES (?1, 'notes', ?2, NULL, 'note', 'test', '{}', 'test', '2026-01-01T00:00:00Z', NULL, 384, ?3)",
            )
            .expect("insert");
        let mut x: u32 = 1;
        for i in 0..count {
            let blob: Vec<u8> = (0..384)
                .flat_map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (f32::from(u16::try_from(x >> 16).unwrap_or(0)) / 65_536.0 - 0.5).to_le_bytes()
                })
                .collect();
            insert
                .execute(rusqlite::params![
                    format!("doc{i}"),
                    format!("10.0.{}.{}", i / 256, i % 256),
                    blob
                ])
                .expect("row");
        }
    }
    tx.commit().expect("commit");
}

/// Two exact scans of 60,000 vectors in flight on a two-worker runtime,
/// as the service has on two cores: `/healthz` still answers at once. When
/// the scan ran on the async workers, both were taken and the probe waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_slow_retrievals_are_in_flight() {
    let install = Install::with(&[]);
    let mut config = install.config();
    config.llm = sc_testkit::embedded_models();
    let rag_path = install.data_dir().join("rag.db");
    // The schema exists once the store opened; fill it, then start the host.
    drop(sc_backends::open(&config).expect("backends"));
    fill_rag(&rag_path, 60_000);
    let host = install.host_with(config);
    let router = app(AppState::new(host.clone(), None, AuthMode::Open));
    // Served for real: each request is a task on the runtime's workers, as
    // in the service (a `oneshot` would run on the test's own thread).
    let base = sc_testkit::serve(router).await;
    let address = base.trim_start_matches("http://").to_owned();
    let categories = vec!["notes".to_owned()];
    // Warm the model, so the timed part is the scan.
    host.backends()
        .rag
        .retrieve("warm", 1, &categories)
        .await
        .expect("warm");
    let started = Instant::now();
    let scans: Vec<_> = (0..2)
        .map(|_| {
            let rag = host.backends().rag.clone();
            let categories = categories.clone();
            tokio::spawn(async move { rag.retrieve("beaconing host", 5, &categories).await })
        })
        .collect();
    // The probe is a plain thread with a plain socket and a plain sleep,
    // outside the runtime whose workers are under test.
    let probe = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        // Past the query's embedding (tens of milliseconds), into the
        // scans (seconds in a debug build).
        std::thread::sleep(Duration::from_millis(400));
        (0..5)
            .map(|_| {
                let asked = Instant::now();
                let mut stream = std::net::TcpStream::connect(&address).expect("connect");
                stream
                    .write_all(
                        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    )
                    .expect("send");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).expect("read");
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                asked.elapsed()
            })
            .collect::<Vec<_>>()
    });
    let latencies = tokio::task::spawn_blocking(move || probe.join().expect("probe"))
        .await
        .expect("probe thread");
    let probed = started.elapsed();
    for scan in scans {
        scan.await.expect("task").expect("retrieval");
    }
    let scanned = started.elapsed();
    assert!(
        probed < scanned,
        "the probes ran while the scans were in flight ({probed:?} of {scanned:?})"
    );
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_millis(10),
        "/healthz took {latencies:?} with two retrievals in flight"
    );
}

/// Readiness says the registry is still loading while skills compile in
/// the background (the service serves at once), then ready.
#[tokio::test]
async fn readiness_waits_for_the_skills_to_load() {
    let install = Install::with(&["hello_world"]);
    let config = install.config();
    let backends = sc_backends::open(&config).expect("backends");
    let host = SkillHost::new(Arc::new(config), backends, Arc::new(SystemClock)).expect("host");
    let router = app(AppState::new(host.clone(), None, AuthMode::Open));
    let ready = |router: axum::Router| async move {
        let request = Request::builder()
            .uri("/readyz")
            .body(Body::empty())
            .expect("request");
        let response = router.oneshot(request).await.expect("response");
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).expect("json"),
        )
    };
    let (status, body) = ready(router.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["registry"], false);
    assert_eq!(body["status"], "not_ready");
    let loading = host.clone();
    tokio::task::spawn_blocking(move || loading.load_all())
        .await
        .expect("load");
    let (status, body) = ready(router).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["registry"], true);
}

/// One token used from two machines is two clients: one exhausting its
/// bucket does not stop the other. (All loopback callers without a token
/// shared one bucket before, as all callers of one token did.)
#[tokio::test]
async fn the_dispatch_rate_limit_counts_each_client_apart() {
    let install = Install::with(&["noop"]);
    let mut config = install.config();
    config.api.dispatch_per_minute = 1;
    let host = install.host_with(config);
    let router = app(AppState::new(host, None, AuthMode::Open));
    let from = |ip: [u8; 4]| {
        let mut request = dispatch_request(json!({"skill": "noop"}));
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
        request
    };
    let status = |router: axum::Router, request: Request<Body>| async move {
        router.oneshot(request).await.expect("response").status()
    };
    assert_eq!(
        status(router.clone(), from([127, 0, 0, 1])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(router.clone(), from([127, 0, 0, 1])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(router.clone(), from([127, 0, 0, 2])).await,
        StatusCode::OK,
        "another client has its own bucket"
    );
}

/// Parameters are checked against the skill's `parameters` schema before
/// the run: a 400 `invalid_input` that names the parameter and what it
/// should be, and no run in the history.
#[tokio::test]
async fn parameters_that_do_not_match_the_schema_are_refused_before_the_run() {
    let install = Install::with(&["hello_world"]);
    let host = install.host();
    let router = app(AppState::new(host.clone(), None, AuthMode::Open));
    let response = router
        .oneshot(dispatch_request(
            json!({"skill": "hello_world", "parameters": {"name": 5}}),
        ))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"]["code"], "invalid_input");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`name`") && message.contains("string"),
        "{message}"
    );
    let runs = host
        .read_history(|history| history.runs("hello_world", 5))
        .await
        .expect("history")
        .expect("runs");
    assert!(runs.is_empty(), "nothing ran: {runs:?}");
}
