//! Checks on demand (extension): of a saved connection, or of a definition before it is
//! saved. Every check spends the project's check budget: one unit at the request, then,
//! once names are resolved, one per further address dialled (a test answers 429 when
//! that is more than is left; the worker drains what is left for its own checks).

use axum::Json;
use axum::extract::State;

use super::auth::Principal;
use super::error::{ApiError, ApiResult, ErrorResponses};
use super::extract::params::{ConnectionPath, ProjectPath};
use super::extract::{ConnectionTarget, DliPath, JsonBody, Transported};
use super::queue_fanout::{Definition, from_queues};
use super::state::AppState;
use super::types::{EndpointCheck, QueueTestAnswer, TestDefinitionRequest, TestResponse};
use std::sync::Arc;

use super::queue_tests::{SessionFields, session_of};
use crate::check::{Job, Login, LoginSource, SessionTarget};
use crate::domain::{
    EndpointList, Reachability, Service, StageResult, ValidationError, now_millis,
};
use crate::probe::{AddressCheck, CheckReport, MAX_ADDRESSES_PER_CHECK, MAX_DETAIL_CHARS, shorten};
use crate::store::ConnectionKey;

/// The wire form of one address's outcome.
fn endpoint_check(check: &AddressCheck) -> EndpointCheck {
    EndpointCheck {
        endpoint: check.endpoint.clone(),
        address: check.address.map(|address| address.to_string()),
        outcome: Reachability::from_reachable(check.reachable),
        reason: check.reason,
        message: shorten(&check.detail, MAX_DETAIL_CHARS),
        latency_ms: check.latency_ms,
    }
}

/// Per-endpoint results of a report, as answered: never more than a check dials, also
/// for reports stored before checks were capped.
pub fn endpoint_checks(report: &CheckReport) -> Vec<EndpointCheck> {
    report
        .checks
        .iter()
        .take(MAX_ADDRESSES_PER_CHECK)
        .map(endpoint_check)
        .collect()
}

fn test_response(report: &CheckReport, stages: Vec<StageResult>) -> TestResponse {
    TestResponse {
        verified: crate::domain::verified(&stages),
        stages,
        is_success: true,
        message: report.not_checked_summary().unwrap_or_default(),
        connectivity: Reachability::from_reachable(report.any_reachable()),
        failure_reason: if report.any_reachable() {
            None
        } else {
            report.failure_reason()
        },
        endpoints: endpoint_checks(report),
        not_checked: report.not_checked,
        queues: Vec::new(),
        checked_from: Some(crate::check::Place::Server.label()),
    }
}

/// The answer of a test run from queues: each queue's result; REACHABLE when any queue
/// reached the source, verified when every queue verified it.
fn queues_response(queues: Vec<QueueTestAnswer>) -> TestResponse {
    let reached = queues
        .iter()
        .any(|queue| queue.connectivity == Reachability::Reachable.as_str());
    TestResponse {
        is_success: true,
        message: format!("tested from {} queue(s); see queues", queues.len()),
        connectivity: Reachability::from_reachable(reached),
        failure_reason: None,
        endpoints: Vec::new(),
        not_checked: 0,
        stages: Vec::new(),
        verified: !queues.is_empty() && queues.iter().all(|queue| queue.verified),
        queues,
        checked_from: None,
    }
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/test`: checks now and answers
/// per address (and, when the connection names an auth info, logs in). An ACTIVE
/// connection's connectivity is updated too.
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/test",
    operation_id = "TestDatasourceConnection",
    tag = "extensions",
    summary = "Check a connection now; an ACTIVE one takes the result as a re-check",
    params(ProjectPath, ConnectionPath),
    responses(
        (status = 200, description = "The check's result per address", body = TestResponse),
        ErrorResponses,
    ),
)]
pub async fn test_connection(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
) -> ApiResult<Json<TestResponse>> {
    let record = state
        .store
        .get_connection(&project, id)
        .await?
        .ok_or_else(|| ApiError::ConnectionNotFound(id.to_string()))?;
    let endpoints = EndpointList::parse(&record.destination, record.service)
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("stored url: {error}")))?;
    // Charged up front (429 when the budget is short); only an ACTIVE connection takes
    // the result, for others it is informational.
    let job = Job::test(id, &project, record.service, endpoints);
    // A connection that names an auth info is tested with it (a test asked for logs in
    // even after a re-check's login FAILED).
    let pipeline = &state.checks.pipeline;
    let job = pipeline
        .with_connection_session(job, record.session.as_deref())
        .await;
    let finished = pipeline.run(job).await?;
    finished.recorded?;
    // A login that passed when asked for lets the bindings' re-checks log in again at
    // once (a failure fixed on the source's side, not in the auth info).
    let logged_in = finished.results.iter().any(|stage| {
        stage.stage == crate::domain::StageName::Login
            && stage.verdict == crate::domain::StageVerdict::Passed
    });
    if logged_in && record.session.is_some() {
        state
            .store
            .set_connection_session(
                ConnectionKey::new(&project, id),
                record.session.as_deref(),
                now_millis(),
            )
            .await?;
        state.work_arrived_in(project.as_str());
    }
    Ok(Json(test_response(&finished.report, finished.results)))
}

/// `POST /v2.0/{project_id}/datasource-connection/test`: checks a definition before it
/// is saved, from the server or (with `queues`) from each named queue. Nothing is stored
/// but the queue tests' results (no secret).
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/test",
    operation_id = "TestDatasourceConnectionDefinition",
    tag = "extensions",
    summary = "Check a service and url before creating a connection; nothing is stored",
    params(ProjectPath),
    request_body(content = TestDefinitionRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The check's result per address", body = TestResponse),
        ErrorResponses,
    ),
)]
pub async fn test_definition(
    State(state): State<AppState>,
    principal: Principal,
    transported: Transported,
    DliPath(project): DliPath<String>,
    body: JsonBody,
) -> ApiResult<Json<TestResponse>> {
    let project = principal.authorize(&project)?;
    let body: TestDefinitionRequest = body.parse()?;
    let service = Service::parse(
        body.service
            .as_deref()
            .ok_or_else(|| ValidationError::new("service is required"))?,
    )?;
    let endpoints = EndpointList::parse(
        body.url
            .as_deref()
            .ok_or_else(|| ValidationError::new("url is required"))?,
        service,
    )?;
    let asked = session_of(
        &state,
        &project,
        SessionFields {
            service: body.service.as_deref(),
            auth_info_name: body.auth_info_name.as_deref(),
            auth_info: body.auth_info.as_ref(),
            database: body.database.as_deref(),
            privileges: &body.privileges,
        },
        transported.carries_secrets(),
    )
    .await?;
    let hosts = crate::api::queue_tests::test_hosts(&body.hosts)?;
    if !body.queues.is_empty() {
        let definition = Definition {
            url: endpoints.normalized(),
            service,
            session: asked.session,
            hosts,
            inline: asked.inline,
        };
        let answers = from_queues(&state, &project, &body.queues, definition).await?;
        return Ok(Json(queues_response(answers)));
    }
    let mut job = Job::test_definition(&project, service, endpoints);
    job.own_hosts = crate::check::own_hosts(hosts.as_deref());
    if let Some(check) = asked.check {
        // Run here, in this request: the login is opened (or taken as given) now.
        let login = match asked.inline {
            Some(inline) => Ok(Login {
                source: LoginSource::Inline,
                kind: inline.kind,
                user: inline.user,
                password: inline.password,
            }),
            None => {
                state
                    .checks
                    .pipeline
                    .logins()
                    .login(&state.store, project.as_str(), None, &check, None)
                    .await
            }
        };
        job.target = job
            .target
            .with_session(Some(Arc::new(SessionTarget { check, login })));
    }
    let finished = state.checks.pipeline.run(job).await?;
    Ok(Json(test_response(&finished.report, finished.results)))
}
