//! The OpenAPI document, generated from the handlers' and types'
//! annotations, with the bearer scheme the protected routes use.

use axum::Json;
use axum::extract::State;
use sc_core::backends::BackendHealth;
use sc_core::memory::{AgentStatus, Alert, AlertStatus, Entry, MemorySnapshot};
use sc_core::run::{RunReport, RunStatus, Trigger};
use sc_scheduler::JobView;
use sc_state::audit::AuditRecord;
use sc_state::history::{RunRecord, RunSummary};
use utoipa::OpenApi;

use crate::AppState;
use crate::auth::AuthMode;
use crate::error::ErrorBody;
use crate::routes::audit::__path_audit;
use crate::routes::health::{
    __path_healthz, __path_readyz, __path_status, BackendState, Health, Readiness, ReadyStatus,
    SchedulerState, SkillCounts, StatusResponse,
};
use crate::routes::incidents::{__path_incident_findings, __path_incidents, __path_suppress};
use crate::routes::memory::{
    __path_alerts, __path_findings, __path_memory, __path_set_alert_status, AlertStatusRequest,
};
use crate::routes::runs::{
    __path_crons, __path_dispatch, __path_run_cron, CronView, DispatchRequest,
};
use crate::routes::skills::{
    __path_list_skills, __path_set_enabled, __path_skill_detail, EnabledRequest, SkillDetail,
    SkillSummary,
};
use sc_runtime::records::{IncidentStatus, RecordPage, Severity, SuppressRequest};

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "SecurityClaw API", description = "Skills, runs, schedules, memory and audit of a SecurityClaw agent."),
    paths(
        healthz, readyz, status, list_skills, skill_detail, set_enabled, dispatch, crons, run_cron,
        memory, findings, alerts, set_alert_status, audit, incidents, incident_findings, suppress
    ),
    components(schemas(
        Health, Readiness, ReadyStatus, StatusResponse, BackendState, BackendHealth, SkillCounts,
        SchedulerState, SkillSummary, SkillDetail, EnabledRequest, DispatchRequest, RunReport,
        RunStatus, Trigger, CronView, MemorySnapshot, Entry, AgentStatus, Alert, AlertStatus,
        AlertStatusRequest, AuditRecord, RunRecord, RunSummary, JobView, ErrorBody, RecordPage,
        SuppressRequest, IncidentStatus, Severity
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as this service serves it: in the open loopback mode
/// (no tokens configured) every protected operation also accepts no
/// credentials, which the document says by listing an empty security
/// requirement beside the bearer one, so clients and contract checkers
/// read the truth.
pub fn for_mode(auth: &AuthMode) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if matches!(auth, AuthMode::Open) {
        for item in doc.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(security) = &mut operation.security {
                    security.push(utoipa::openapi::security::SecurityRequirement::default());
                }
            }
        }
    }
    doc
}

pub(crate) async fn document(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(for_mode(&state.auth))
}
