//! The HTTP API: every endpoint, authentication on and off, limits, and
//! conformance of every response to the published OpenAPI document.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use sc_api::auth::{AuthMode, auth_mode};
use sc_api::{AppState, app};
use sc_core::config::{ApiToken, AuthConfig};
use sc_core::memory::MemoryList;
use sc_testkit::Install;
use serde_json::{Value, json};
use sha2::Digest as _;
use tower::ServiceExt as _;

struct Api {
    router: axum::Router,
    host: Arc<sc_runtime::SkillHost>,
    _install: Install,
}

fn api_with(auth: AuthMode, tweak: impl FnOnce(&mut sc_core::config::Config)) -> Api {
    let install = Install::with(&["hello_world", "noop"]);
    install.add_custom("noop", "ticker", "schedule:\n  interval_seconds: 300\n");
    let mut config = install.config();
    tweak(&mut config);
    let host = install.host_with(config);
    let router = app(AppState::new(host.clone(), None, auth));
    Api {
        router,
        host,
        _install: install,
    }
}

fn open_api() -> Api {
    api_with(AuthMode::Open, |_| {})
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value, headers)
}

#[tokio::test]
async fn health_status_and_skills() {
    let api = open_api();
    let (status, body, headers) = call(&api.router, "GET", "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    assert!(headers.contains_key("x-request-id"));
    let (status, body, _) = call(&api.router, "GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["memory"], true);
    assert_eq!(body["db"], "reachable");

    let (_, body, _) = call(&api.router, "GET", "/api/status", None, None).await;
    assert_eq!(body["agent"], "securityclaw");
    assert_eq!(body["skills"]["installed"], 3);
    assert_eq!(body["skills"]["loaded"], 3);
    assert_eq!(body["db"]["provider"], "embedded");
    assert_eq!(body["db"]["health"], "ok");

    let (_, body, _) = call(&api.router, "GET", "/api/skills", None, None).await;
    let ids: Vec<&str> = body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["skill_id"].as_str())
        .collect();
    assert_eq!(ids, ["hello_world", "noop", "ticker"]);

    let (status, body, _) = call(&api.router, "GET", "/api/skills/hello_world", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["manifest"]["grants"]["llm"], true);
    assert_eq!(
        body["parameters"]["properties"]["name"]["type"], "string",
        "the parameters schema is shown"
    );
    assert!(
        body["instructions"]
            .as_str()
            .unwrap_or_default()
            .contains("friendly")
    );
    let (status, body, _) = call(&api.router, "GET", "/api/skills/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["request_id"].is_string());
}

#[tokio::test]
async fn dispatch_runs_records_and_audits() {
    let api = open_api();
    for path in ["/api/dispatch", "/dispatch"] {
        let (status, body, _) = call(
            &api.router,
            "POST",
            path,
            Some(json!({"skill": "hello_world", "parameters": {"name": "api"}})),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ok");
        assert!(body["execution_time_ms"].as_f64().is_some());
    }
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"skill": "nope"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"skill": "noop", "parameters": [1]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"nope": 1})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, body, _) = call(&api.router, "GET", "/api/skills/hello_world", None, None).await;
    assert_eq!(body["last_runs"].as_array().map(Vec::len), Some(2));
    let (_, audit, _) = call(&api.router, "GET", "/api/audit?limit=10", None, None).await;
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .expect("audit")
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(actions.contains(&("loopback", "ok")), "{actions:?}");
    assert!(actions.contains(&("loopback", "refused")), "{actions:?}");
    assert_eq!(
        api.host.audit().verify().expect("verify"),
        sc_state::audit::Verification::Intact { records: 4 }
    );
}

#[tokio::test]
async fn skills_can_be_switched_off_and_on() {
    let api = open_api();
    let (status, body, _) = call(
        &api.router,
        "PUT",
        "/api/skills/noop/enabled",
        Some(json!({"enabled": false})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["enabled"], false);
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"skill": "noop"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    call(
        &api.router,
        "PUT",
        "/api/skills/noop/enabled",
        Some(json!({"enabled": true})),
        None,
    )
    .await;
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"skill": "noop"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &api.router,
        "PUT",
        "/api/skills/nope/enabled",
        Some(json!({"enabled": true})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn crons_list_and_run_now() {
    let api = open_api();
    let (_, body, _) = call(&api.router, "GET", "/api/crons", None, None).await;
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert_eq!(body[0]["skill_id"], "ticker");
    assert_eq!(body[0]["schedule"], "every 300s");
    let (status, body, _) = call(&api.router, "POST", "/api/crons/ticker/run", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "no_data");
    let (_, body, _) = call(&api.router, "GET", "/api/crons", None, None).await;
    assert_eq!(
        body[0]["last_run"]["trigger"], "dispatch",
        "a manual run is not a scheduled one"
    );
    let (status, _, _) = call(&api.router, "POST", "/api/crons/noop/run", None, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "noop has no schedule");
}

#[tokio::test]
async fn memory_findings_and_alerts() {
    let api = open_api();
    let memory = &api.host.backends().memory;
    memory
        .append(
            MemoryList::Findings,
            "triage",
            "port scan from 10.0.0.9",
            None,
        )
        .expect("finding");
    let alert = memory
        .append(
            MemoryList::Escalations,
            "triage",
            "beaconing to 203.0.113.7",
            Some("{\"score\":0.9}"),
        )
        .expect("escalation");
    for path in ["/api/memory", "/memory"] {
        let (status, body, _) = call(&api.router, "GET", path, None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "IDLE");
        assert_eq!(body["findings"][0]["text"], "port scan from 10.0.0.9");
    }
    // The memory list is the working set; /api/findings reads the durable
    // records, and triage has written none here.
    let (_, body, _) = call(&api.router, "GET", "/api/findings", None, None).await;
    assert_eq!(body["total"], 0);
    let (_, body, _) = call(&api.router, "GET", "/api/alerts", None, None).await;
    assert_eq!(body[0]["status"], "unread");
    assert_eq!(body[0]["data"]["score"], 0.9);
    let path = format!("/api/alerts/{alert}/status");
    let (status, _, _) = call(
        &api.router,
        "PUT",
        &path,
        Some(json!({"status": "investigating"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body, _) = call(&api.router, "GET", "/api/alerts", None, None).await;
    assert_eq!(body[0]["status"], "investigating");
    let (status, _, _) = call(
        &api.router,
        "PUT",
        &path,
        Some(json!({"status": "bogus"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = call(
        &api.router,
        "PUT",
        "/api/alerts/999/status",
        Some(json!({"status": "read"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn token_auth() -> AuthMode {
    let auth = AuthConfig {
        tokens: vec![ApiToken {
            id: "ops".into(),
            sha256: Some(hex::encode(sha2::Sha256::digest(b"s3cret-token"))),
            env: None,
        }],
        allow_loopback_without_token: true,
    };
    auth_mode("0.0.0.0:7799".parse().expect("addr"), &auth, |_| None).expect("mode")
}

#[tokio::test]
async fn with_tokens_every_api_call_needs_one() {
    let api = api_with(token_auth(), |_| {});
    let (status, body, headers) = call(&api.router, "GET", "/api/skills", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        headers.get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let (status, _, _) = call(&api.router, "GET", "/api/skills", None, Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/dispatch",
        Some(json!({"skill": "noop"})),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "aliases are protected too"
    );
    let (status, _, _) = call(
        &api.router,
        "GET",
        "/api/skills",
        None,
        Some("s3cret-token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"skill": "noop"})),
        Some("s3cret-token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, audit, _) = call(&api.router, "GET", "/api/audit", None, Some("s3cret-token")).await;
    assert_eq!(audit[0]["actor"], "ops", "the audit trail names the token");
    let (status, _, _) = call(&api.router, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "probes stay open");
}

#[tokio::test]
async fn oversized_bodies_and_floods_are_refused() {
    let api = api_with(AuthMode::Open, |config| {
        config.api.max_body_bytes = 1024;
        config.api.dispatch_per_minute = 2;
    });
    let big = json!({"skill": "noop", "parameters": {"blob": "x".repeat(4096)}});
    let (status, body, _) = call(&api.router, "POST", "/api/dispatch", Some(big), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
    for _ in 0..2 {
        let (status, _, _) = call(
            &api.router,
            "POST",
            "/api/dispatch",
            Some(json!({"skill": "noop"})),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body, _) = call(
        &api.router,
        "POST",
        "/api/dispatch",
        Some(json!({"skill": "noop"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_listed() {
    let preflight = |router: axum::Router| async move {
        let request = Request::builder()
            .method("OPTIONS")
            .uri("/api/skills")
            .header(header::ORIGIN, "https://soc.example.org")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .expect("request");
        router.oneshot(request).await.expect("response")
    };
    let closed = open_api();
    let response = preflight(closed.router.clone()).await;
    assert!(
        !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    let allowed = api_with(AuthMode::Open, |config| {
        config.api.cors_origins = vec!["https://soc.example.org".to_owned()];
    });
    let response = preflight(allowed.router.clone()).await;
    assert_eq!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.as_bytes()),
        Some(&b"https://soc.example.org"[..])
    );
}

// --- OpenAPI conformance -------------------------------------------------

/// Checks `value` against a response schema of the document (JSON Schema
/// 2020-12, as OpenAPI 3.1 uses), its `$ref`s resolved in the document.
fn conforms(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let mut root = schema.clone();
    if let Value::Object(map) = &mut root {
        map.insert("components".to_owned(), doc["components"].clone());
    }
    let validator = jsonschema::validator_for(&root).map_err(|err| err.to_string())?;
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(err) => Err(format!("{}: {err}", err.instance_path())),
    }
}

#[tokio::test]
async fn every_documented_response_matches_the_openapi_document() {
    let api = open_api();
    let alert = api
        .host
        .backends()
        .memory
        .append(MemoryList::Escalations, "triage", "x", None)
        .expect("escalation");
    api.host
        .backends()
        .memory
        .append(MemoryList::Findings, "triage", "y", Some("{\"a\":1}"))
        .expect("finding");
    let (status, doc, _) = call(&api.router, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);

    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/status"),
        ("GET", "/api/skills"),
        ("GET", "/api/skills/{id}"),
        ("PUT", "/api/skills/{id}/enabled"),
        ("POST", "/api/dispatch"),
        ("GET", "/api/crons"),
        ("POST", "/api/crons/{id}/run"),
        ("GET", "/api/memory"),
        ("GET", "/api/findings"),
        ("GET", "/api/alerts"),
        ("PUT", "/api/alerts/{id}/status"),
        ("GET", "/api/audit"),
        ("GET", "/api/incidents"),
        ("GET", "/api/incidents/{id}/findings"),
        ("POST", "/api/incidents/{id}/suppress"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    expected.sort();
    assert_eq!(documented, expected, "the document lists exactly the API");

    let requests: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/healthz".into(), None),
        ("GET", "/readyz".into(), None),
        ("GET", "/api/status".into(), None),
        ("GET", "/api/skills".into(), None),
        ("GET", "/api/skills/hello_world".into(), None),
        ("GET", "/api/skills/missing".into(), None),
        (
            "PUT",
            "/api/skills/noop/enabled".into(),
            Some(json!({"enabled": true})),
        ),
        (
            "POST",
            "/api/dispatch".into(),
            Some(json!({"skill": "hello_world"})),
        ),
        (
            "POST",
            "/api/dispatch".into(),
            Some(json!({"skill": "missing"})),
        ),
        ("GET", "/api/crons".into(), None),
        ("POST", "/api/crons/ticker/run".into(), None),
        ("GET", "/api/memory".into(), None),
        ("GET", "/api/findings".into(), None),
        ("GET", "/api/alerts".into(), None),
        (
            "PUT",
            format!("/api/alerts/{alert}/status"),
            Some(json!({"status": "resolved"})),
        ),
        ("GET", "/api/audit".into(), None),
        (
            "GET",
            "/api/incidents?status=escalated&limit=5".into(),
            None,
        ),
        ("GET", "/api/incidents?limit=0".into(), None),
        ("GET", "/api/incidents/none/findings".into(), None),
        (
            "POST",
            "/api/incidents/none/suppress".into(),
            Some(json!({"reason": "lab scanner"})),
        ),
    ];
    for (method, path, body) in requests {
        let (status, value, _) = call(&api.router, method, &path, body, None).await;
        let template = expected
            .iter()
            .map(|(_, p)| p)
            .find(|p| {
                let parts: Vec<&str> = p.split('/').collect();
                let bare = path.split('?').next().unwrap_or(&path);
                let actual: Vec<&str> = bare.split('/').collect();
                parts.len() == actual.len()
                    && parts
                        .iter()
                        .zip(&actual)
                        .all(|(t, a)| t.starts_with('{') || t == a)
            })
            .expect("documented path");
        let operation = &doc["paths"][template.as_str()][method.to_lowercase()];
        let response = &operation["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which is not documented"
        );
        let schema = &response["content"]["application/json"]["schema"];
        conforms(&doc, schema, &value)
            .unwrap_or_else(|err| panic!("{method} {path}: {err}\nbody: {value}"));
    }
}

#[tokio::test]
async fn the_built_web_ui_is_served_beside_the_api() {
    let web = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>SecurityClaw</title>",
    )
    .expect("index");
    let api = api_with(AuthMode::Open, |config| {
        config.api.web_dir = web.path().to_path_buf()
    });
    let (status, body, _) = call(&api.router, "GET", "/index.html", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.as_str()
            .unwrap_or_default()
            .contains("<title>SecurityClaw</title>"),
        "{body}"
    );
    let (status, body, _) = call(&api.router, "GET", "/api/status", None, None).await;
    assert_eq!(
        (status, &body["agent"]),
        (StatusCode::OK, &json!("securityclaw"))
    );

    let without = open_api();
    let (status, _, _) = call(&without.router, "GET", "/index.html", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no UI built, nothing served");
}

#[tokio::test]
async fn without_tokens_only_localhost_names_are_served() {
    let api = open_api();
    let request = |host: &str| {
        Request::builder()
            .uri("/api/status")
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("request")
    };
    let rebound = api
        .router
        .clone()
        .oneshot(request("attacker.example.com"))
        .await
        .expect("response");
    assert_eq!(
        rebound.status(),
        StatusCode::FORBIDDEN,
        "DNS rebinding is refused"
    );
    let local = api
        .router
        .clone()
        .oneshot(request("127.0.0.1:7799"))
        .await
        .expect("response");
    assert_eq!(local.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_analyst_suppresses_an_incident_and_the_trail_says_who_and_why() {
    let api = open_api();
    let db = &api.host.backends().db;
    let incident = json!({
        "@timestamp": "2022-06-12T22:00:00.000Z", "incident_id": "inc-1", "kind": "beacon",
        "entity": "10.0.0.5", "entity_is_actor": true, "severity": "HIGH", "status": "escalated",
        "max_grade": 0.9, "finding_count": 3, "actor_count": 1, "actors": ["10.0.0.5"], "targets": ["203.0.113.7"],
        "first_seen": 1_655_071_200_000_i64, "last_seen": 1_655_074_800_000_i64, "fingerprint": "f", "summary": "beacon by 10.0.0.5",
    });
    db.bulk_index(
        "securityclaw-incidents",
        vec![(Some("inc-1".into()), incident)],
    )
    .await
    .expect("incident stored");
    let (status, body, _) = call(
        &api.router,
        "GET",
        "/api/incidents?status=escalated",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 1);
    assert_eq!(body["records"][0]["entity"], "10.0.0.5");
    let (status, _, _) = call(
        &api.router,
        "GET",
        "/api/incidents?since=yesterday",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/incidents/inc-1/suppress",
        Some(json!({"reason": " "})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body, _) = call(
        &api.router,
        "POST",
        "/api/incidents/inc-1/suppress",
        Some(json!({"reason": "the backup job calls home hourly", "expires_at": "2030-01-01T00:00:00Z"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "beacon");
    assert_eq!(body["entity"], "10.0.0.5");
    let (_, body, _) = call(
        &api.router,
        "GET",
        "/api/incidents?status=suppressed",
        None,
        None,
    )
    .await;
    assert_eq!(body["total"], 1);
    assert_eq!(
        body["records"][0]["suppression"]["reason"],
        "the backup job calls home hourly"
    );
    let (_, body, _) = call(
        &api.router,
        "GET",
        "/api/incidents?status=escalated",
        None,
        None,
    )
    .await;
    assert_eq!(body["total"], 0);
    let (status, _, _) = call(
        &api.router,
        "POST",
        "/api/incidents/missing/suppress",
        Some(json!({"reason": "x"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit, _) = call(&api.router, "GET", "/api/audit", None, None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.contains(&"incident.suppress"), "{actions:?}");
}
