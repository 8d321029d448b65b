//! dsconn's extensions on a connection: queue bindings, reactivation, checks on demand.
//! Every request that starts checks spends the project's check budget first: one per
//! check at the request, then, once names are resolved, one per further address dialled
//! (a test answers 429 when that is more than is left; the worker drains what is left).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::auth::Principal;
use super::connections::connection_id;
use super::error::{ApiError, ApiResult};
use super::extract::{DliPath, JsonBody};
use super::openapi::params::{ConnectionPath, ProjectPath};
use super::openapi::{
    BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    Unavailable,
};
use super::state::AppState;
use super::types::{
    QueuesRequest, SuccessResponse, TestDefinitionRequest, TestResponse, endpoint_checks,
};
use crate::check::{CheckPipeline, Job};
use crate::domain::{
    ConnectionId, EndpointList, ProjectId, QueueName, Service, ValidationError, now_millis,
};
use crate::probe::CheckReport;
use crate::store::{BindingOutcome, ReactivateOutcome};

/// Most queues one request may name.
const MAX_QUEUES_PER_REQUEST: usize = 100;
/// Above this many tracked projects, idle ones are forgotten.
const MAX_TRACKED_PROJECTS: usize = 10_000;

/// How many checks (addresses dialled) each project may start per minute.
pub struct CheckBudget {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl CheckBudget {
    pub fn per_minute(checks: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(checks).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Spends `checks` of the project's budget, or says how long to wait.
    pub fn spend(&self, project: &ProjectId, checks: u32) -> Result<(), ApiError> {
        let Some(checks) = NonZeroU32::new(checks) else {
            return Ok(());
        };
        if self.limiter.len() > MAX_TRACKED_PROJECTS {
            self.limiter.retain_recent();
        }
        match self
            .limiter
            .check_key_n(&project.as_str().to_owned(), checks)
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(ApiError::TooManyRequests {
                    message: format!(
                        "project {project} is starting checks faster than allowed; try again later"
                    ),
                    retry_after: wait.max(Duration::from_secs(1)),
                })
            }
            Err(_) => Err(ApiError::InvalidRequest(format!(
                "one request may dial at most the project's per-minute check budget of addresses, \
                 not {checks}; name fewer endpoints"
            ))),
        }
    }

    /// Spends up to `checks` of the project's budget, as much as is left, and never
    /// refuses: for work already accepted (the worker's checks of a create or binding),
    /// so that the project's next requests pay for the addresses it dialled.
    pub fn drain(&self, project: &str, checks: u32) {
        let key = project.to_owned();
        let mut left = checks;
        let mut chunk = checks;
        while left > 0 && chunk > 0 {
            let Some(amount) = NonZeroU32::new(chunk.min(left)) else {
                break;
            };
            match self.limiter.check_key_n(&key, amount) {
                Ok(Ok(())) => left -= amount.get(),
                _ => chunk /= 2,
            }
        }
    }
}

/// What the API needs to run checks itself.
pub struct CheckService {
    /// Runs the tests: probe, outcome, record, as the worker's checks do.
    pub pipeline: Arc<CheckPipeline>,
    /// Shared with the worker, which charges the addresses its checks dial.
    pub budget: Arc<CheckBudget>,
}

/// Validates queue names; `default` is DLI's shared queue and can never be bound.
pub fn parse_queues(raw: Option<&Vec<String>>) -> Result<Vec<QueueName>, ApiError> {
    let raw = raw.map(Vec::as_slice).unwrap_or_default();
    if raw.len() > MAX_QUEUES_PER_REQUEST {
        return Err(ApiError::InvalidRequest(format!(
            "at most {MAX_QUEUES_PER_REQUEST} queues per request, got {}",
            raw.len()
        )));
    }
    let mut queues: Vec<QueueName> = Vec::with_capacity(raw.len());
    for name in raw {
        let queue = QueueName::parse(name)?;
        if queue.is_default() {
            return Err(ApiError::StateConflict(
                "the queue \"default\" is shared and cannot be bound to a datasource connection"
                    .into(),
            ));
        }
        if !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    Ok(queues)
}

fn queues_required(body: &QueuesRequest) -> ApiResult<Vec<QueueName>> {
    let queues = parse_queues(body.queues.as_ref())?;
    if queues.is_empty() {
        return Err(ApiError::InvalidRequest(
            "queues must list at least one queue name".into(),
        ));
    }
    Ok(queues)
}

fn binding_outcome(outcome: BindingOutcome, id: ConnectionId) -> ApiResult<usize> {
    match outcome {
        BindingOutcome::Changed(count) => Ok(count),
        BindingOutcome::NotFound => Err(ApiError::ConnectionNotFound(id.to_string())),
        BindingOutcome::Deleted => Err(ApiError::StateConflict(format!(
            "connection {id} is DELETED; its queues cannot change"
        ))),
    }
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/associate-queue`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/associate-queue",
    operation_id = "AssociateQueuesToDatasourceConnection",
    tag = "extensions",
    summary = "Bind queues to a connection; each binding is checked in the background",
    params(ConnectionPath),
    request_body(content = QueuesRequest, content_type = "application/json"),
    security(("auth_token" = []), ("aksk_signature" = [])),
    responses(
        (status = 200, description = "`associated N queue(s)`, N counting the new bindings", body = SuccessResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn associate(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, id)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let project = principal.authorize(&project)?;
    let id = connection_id(&id)?;
    let queues = queues_required(&body.parse()?)?;
    state
        .checks
        .budget
        .spend(&project, u32::try_from(queues.len()).unwrap_or(u32::MAX))?;
    let outcome = state
        .store
        .associate_queues(&project, id, &queues, now_millis())
        .await?;
    let added = binding_outcome(outcome, id)?;
    state.read_cache.invalidate(project.as_str());
    state.wake_worker.notify_one();
    tracing::info!(connection.id = %id, added, "queues associated");
    Ok(Json(SuccessResponse {
        is_success: true,
        message: format!("associated {added} queue(s)"),
    }))
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/disassociate-queue`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/disassociate-queue",
    operation_id = "DisassociateQueuesFromDatasourceConnection",
    tag = "extensions",
    summary = "Unbind queues from a connection",
    params(ConnectionPath),
    request_body(content = QueuesRequest, content_type = "application/json"),
    security(("auth_token" = []), ("aksk_signature" = [])),
    responses(
        (status = 200, description = "`disassociated N queue(s)`, N counting the removed bindings", body = SuccessResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn disassociate(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, id)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let project = principal.authorize(&project)?;
    let id = connection_id(&id)?;
    let queues = queues_required(&body.parse()?)?;
    let outcome = state
        .store
        .disassociate_queues(&project, id, &queues, now_millis())
        .await?;
    let removed = binding_outcome(outcome, id)?;
    state.read_cache.invalidate(project.as_str());
    tracing::info!(connection.id = %id, removed, "queues disassociated");
    Ok(Json(SuccessResponse {
        is_success: true,
        message: format!("disassociated {removed} queue(s)"),
    }))
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/reactivate`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/reactivate",
    operation_id = "ReactivateDatasourceConnection",
    tag = "extensions",
    summary = "Start a FAILED connection over: FAILED -> CREATING and a new check",
    params(ConnectionPath),
    security(("auth_token" = []), ("aksk_signature" = [])),
    responses(
        (status = 200, description = "`Reactivated`", body = SuccessResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn reactivate(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, id)): DliPath<(String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let project = principal.authorize(&project)?;
    let id = connection_id(&id)?;
    state.checks.budget.spend(&project, 1)?;
    match state
        .store
        .reactivate_connection(&project, id, now_millis())
        .await?
    {
        ReactivateOutcome::Reactivated => {
            state.read_cache.invalidate(project.as_str());
            state.wake_worker.notify_one();
            tracing::info!(connection.id = %id, "connection reactivated");
            Ok(Json(SuccessResponse {
                is_success: true,
                message: "Reactivated".into(),
            }))
        }
        ReactivateOutcome::NotFailed(current) => Err(ApiError::StateConflict(format!(
            "connection {id} is {current}; only a FAILED connection can be reactivated"
        ))),
        ReactivateOutcome::NotFound => Err(ApiError::ConnectionNotFound(id.to_string())),
    }
}

fn test_response(report: &CheckReport) -> TestResponse {
    TestResponse {
        is_success: true,
        message: report.not_checked_summary().unwrap_or_default(),
        connectivity: if report.any_reachable() {
            "REACHABLE"
        } else {
            "UNREACHABLE"
        }
        .to_owned(),
        failure_reason: if report.any_reachable() {
            None
        } else {
            report
                .failure_reason()
                .map(|reason| reason.as_str().to_owned())
        },
        endpoints: endpoint_checks(report),
        not_checked: report.not_checked,
    }
}

/// `POST /v2.0/{project_id}/datasource-connection/{id}/test`: checks now and answers
/// per address. An ACTIVE connection's connectivity is updated too.
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}/test",
    operation_id = "TestDatasourceConnection",
    tag = "extensions",
    summary = "Check a connection now; an ACTIVE one takes the result as a re-check",
    params(ConnectionPath),
    security(("auth_token" = []), ("aksk_signature" = [])),
    responses(
        (status = 200, description = "The check's result per address", body = TestResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn test_connection(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, id)): DliPath<(String, String)>,
) -> ApiResult<Json<TestResponse>> {
    let project = principal.authorize(&project)?;
    let id = connection_id(&id)?;
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
    let finished = state.checks.pipeline.run(job).await?;
    finished.recorded?;
    Ok(Json(test_response(&finished.report)))
}

/// `POST /v2.0/{project_id}/datasource-connection/test`: checks a definition before it
/// is saved. Nothing is stored.
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection/test",
    operation_id = "TestDatasourceConnectionDefinition",
    tag = "extensions",
    summary = "Check a service and url before creating a connection; nothing is stored",
    params(ProjectPath),
    request_body(content = TestDefinitionRequest, content_type = "application/json"),
    security(("auth_token" = []), ("aksk_signature" = [])),
    responses(
        (status = 200, description = "The check's result per address", body = TestResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn test_definition(
    State(state): State<AppState>,
    principal: Principal,
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
    let job = Job::test_definition(&project, service, endpoints);
    let finished = state.checks.pipeline.run(job).await?;
    Ok(Json(test_response(&finished.report)))
}
