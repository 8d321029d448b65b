//! The four DLI operations on classic datasource connections.

pub mod credentials;
mod json;
pub mod types;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::api::checks::endpoint_checks;
use crate::api::connections::types::{
    ConnectionResponse, CreateConnectionRequest, CreateConnectionResponse, ListConnectionsQuery,
    ListConnectionsResponse,
};
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::{ConnectionPath, ProjectPath};
use crate::api::extract::{ConnectionTarget, ProjectRequest, ProjectTarget, parse_query};
use crate::api::queue_lookup::{parse_queues, require_existing};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::api::types::key_value_pairs;
use crate::domain::{
    ConnectionId, ConnectionName, ConnectionState, EndpointList, NetworkRef, ProjectId, Service,
    TagFilter, Tags, ValidationError, now_millis,
};
use crate::probe::CheckReport;
use crate::store::{
    ConnectionRecord, DeleteOutcome, ListQuery, NewConnection, SortOrder, StoreError,
};

/// The most connections one page may hold.
const MAX_PAGE_SIZE: u32 = 1000;

fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, ValidationError> {
    value
        .as_deref()
        .ok_or_else(|| ValidationError::new(format!("{field} is required")))
}

/// Validates a create body, field by field in the documented order.
fn validate_create(
    project: ProjectId,
    body: &CreateConnectionRequest,
    declared_queues: &[crate::domain::QueueName],
) -> Result<NewConnection, ApiError> {
    let name = ConnectionName::parse(required("name", &body.name)?)?;
    let service = Service::parse(required("service", &body.service)?)?;
    let security_group_id = NetworkRef::parse(
        "security_group_id",
        required("security_group_id", &body.security_group_id)?,
    )?;
    let network_id = NetworkRef::parse("network_id", required("network_id", &body.network_id)?)?;
    let url = required("url", &body.url)?;
    EndpointList::parse(url, service)?;
    let tag_pairs = key_value_pairs(
        body.tags
            .iter()
            .flatten()
            .map(|tag| (tag.key.as_ref(), tag.value.as_ref())),
    )?;
    let tags = Tags::parse(&tag_pairs)?;
    let queues = parse_queues(body.queues.as_ref())?;
    Ok(NewConnection {
        id: ConnectionId::generate(),
        project_id: project,
        name: name.as_str().to_owned(),
        service,
        destination: url.to_owned(),
        security_group_id: security_group_id.as_str().to_owned(),
        network_id: network_id.as_str().to_owned(),
        tags,
        queues,
        declared_queues: declared_queues.to_vec(),
        create_time: now_millis(),
        session: None,
    })
}

/// `POST /v2.0/{project_id}/datasource-connection`
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource-connection",
    operation_id = "CreateDatasourceConnection",
    tag = "connections",
    summary = "Create a connection; its check runs in the background",
    params(ProjectPath),
    request_body(content = CreateConnectionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created, in state CREATING. An identical create retried \
            within 10 minutes answers the existing connection's id.",
            body = CreateConnectionResponse,
            links(
                ("show" = (operation_id = "ShowDatasourceConnection", parameters(("project_id" = "$request.path.project_id"), ("connection_id" = "$response.body#/connection_id")))),
                ("delete" = (operation_id = "DeleteDatasourceConnection", parameters(("project_id" = "$request.path.project_id"), ("connection_id" = "$response.body#/connection_id")))),
                ("associate" = (operation_id = "AssociateQueuesToDatasourceConnection", parameters(("project_id" = "$request.path.project_id"), ("connection_id" = "$response.body#/connection_id")))),
                ("disassociate" = (operation_id = "DisassociateQueuesFromDatasourceConnection", parameters(("project_id" = "$request.path.project_id"), ("connection_id" = "$response.body#/connection_id")))),
                ("reactivate" = (operation_id = "ReactivateDatasourceConnection", parameters(("project_id" = "$request.path.project_id"), ("connection_id" = "$response.body#/connection_id")))),
                ("test" = (operation_id = "TestDatasourceConnection", parameters(("project_id" = "$request.path.project_id"), ("connection_id" = "$response.body#/connection_id")))),
            )
        ),
        ErrorResponses,
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    ProjectRequest { project, body, .. }: ProjectRequest,
) -> ApiResult<(StatusCode, Json<CreateConnectionResponse>)> {
    let body: CreateConnectionRequest = body.parse()?;
    let mut new = validate_create(project, &body, &state.settings.declared_queues)?;
    new.session = credentials::connection_session(
        &state,
        &new.project_id,
        new.service,
        body.auth_info_name.as_deref(),
        body.database.as_deref(),
        &body.privileges,
    )
    .await?;
    require_existing(&state, &new.project_id, &new.queues).await?;
    let checks = 1 + u32::try_from(new.queues.len()).unwrap_or(u32::MAX);
    // A refused create may be the retry of one whose answer the client lost: that one
    // took the place (and the budget) this retry would need, so it is answered first.
    if let Err(refusal) = state.checks.budget.spend(new.project_id.as_str(), checks) {
        return answer_retry_or(&state, &new, refusal.into()).await;
    }
    match state
        .store
        .create_connection(&new, state.settings.connection_quota)
        .await
    {
        Ok(()) => {}
        Err(StoreError::DuplicateName) => {
            let refusal = ApiError::DuplicateName(new.name.clone());
            return answer_retry_or(&state, &new, refusal).await;
        }
        Err(quota @ StoreError::QuotaExceeded { .. }) => {
            return answer_retry_or(&state, &new, quota.into()).await;
        }
        Err(other) => return Err(other.into()),
    }
    state.work_arrived_in(new.project_id.as_str());
    tracing::info!(connection.id = %new.id, project.id = %new.project_id, service = %new.service, "connection created");
    Ok(created(new.id.to_string()))
}

/// A client that retries a create whose answer it lost gets the connection it made, not
/// an error; any other refused create gets `refusal`.
async fn answer_retry_or(
    state: &AppState,
    new: &NewConnection,
    refusal: ApiError,
) -> ApiResult<(StatusCode, Json<CreateConnectionResponse>)> {
    let existing = state
        .store
        .find_live_connection_by_name(&new.project_id, &new.name)
        .await?;
    match existing {
        Some(existing) if is_retry_of(new, &existing) => {
            tracing::info!(connection.id = %existing.id, "create retried; answering the existing connection");
            Ok(created(existing.id.to_string()))
        }
        _ => Err(refusal),
    }
}

fn created(connection_id: String) -> (StatusCode, Json<CreateConnectionResponse>) {
    (
        StatusCode::CREATED,
        Json(CreateConnectionResponse {
            is_success: true,
            message: String::new(),
            connection_id,
        }),
    )
}

/// How long after a create an identical create counts as its retry.
const RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Whether `new` repeats the create that made `existing`: same definition, made
/// recently. Queue bindings are not compared; they may have changed since.
fn is_retry_of(new: &NewConnection, existing: &ConnectionRecord) -> bool {
    let mut new_tags = new.tags.as_slice().to_vec();
    let mut old_tags = existing.tags.parsed();
    new_tags.sort_by(|a, b| a.key.cmp(&b.key));
    old_tags.sort_by(|a, b| a.key.cmp(&b.key));
    new.service == existing.service
        && new.destination == existing.destination
        && new.security_group_id == existing.security_group_id
        && new.network_id == existing.network_id
        && new_tags == old_tags
        && new.create_time.saturating_sub(existing.create_time) <= RETRY_WINDOW_MS
}

fn parse_number(field: &str, raw: &str, max: u32) -> Result<u32, ValidationError> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|value| *value <= max)
        .ok_or_else(|| {
            ValidationError::new(format!(
                "{field} must be a whole number from 0 to {max}, got {raw:?}"
            ))
        })
}

fn parse_list_query(query: &ListConnectionsQuery) -> Result<ListQuery, ValidationError> {
    let limit = match &query.limit {
        None => None,
        Some(raw) => match parse_number("limit", raw, MAX_PAGE_SIZE)? {
            0 => return Err(ValidationError::new("limit must be at least 1")),
            limit => Some(limit),
        },
    };
    let offset = match &query.offset {
        None => 0,
        Some(raw) => parse_number("offset", raw, u32::MAX)?,
    };
    let states = match &query.state {
        None => Vec::new(),
        Some(raw) => raw
            .split(',')
            .map(str::parse::<ConnectionState>)
            .collect::<Result<Vec<_>, _>>()?,
    };
    let service = query.service.as_deref().map(Service::parse).transpose()?;
    let order = match query
        .order
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("desc") => SortOrder::Descending,
        Some("asc") => SortOrder::Ascending,
        Some(other) => {
            return Err(ValidationError::new(format!(
                "order must be asc or desc, got {other:?}"
            )));
        }
    };
    let name_contains = query
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    Ok(ListQuery {
        tags: TagFilter::parse(query.tags.as_deref().unwrap_or_default())?,
        name_contains,
        states,
        service,
        order,
        limit,
        offset,
    })
}

/// `GET /v2.0/{project_id}/datasource-connection`
#[utoipa::path(
    get,
    path = "/v2.0/{project_id}/datasource-connection",
    operation_id = "ListDatasourceConnections",
    tag = "connections",
    summary = "List the project's connections, DELETED ones included until purged",
    params(ProjectPath, ListConnectionsQuery),
    responses(
        (status = 200, description = "The matching connections, newest first unless `order=asc`",
            body = ListConnectionsResponse),
        ErrorResponses,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let raw_query = query.unwrap_or_default();
    let key = format!("list?{raw_query}");
    let body = state
        .read_cache
        .get_or_compute(project.as_str(), &key, || async {
            let query: ListConnectionsQuery = parse_query(&raw_query)?;
            let query = parse_list_query(&query)?;
            let page = state.store.list_connections(&project, &query).await?;
            json::list_answer(page.total, &page.connections).map(Bytes::from)
        })
        .await?;
    Ok(json_bytes(body))
}

/// An already serialized JSON answer.
fn json_bytes(body: Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `GET /v2.0/{project_id}/datasource-connection/{connection_id}`
#[utoipa::path(
    get,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}",
    operation_id = "ShowDatasourceConnection",
    tag = "connections",
    summary = "Show one connection with its last check's per-address results",
    params(ProjectPath, ConnectionPath),
    responses((status = 200, description = "The connection, with `endpoints`", body = ConnectionResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
) -> ApiResult<Response> {
    let key = format!("show/{id}");
    let body = state
        .read_cache
        .get_or_compute(project.as_str(), &key, || async {
            let record = state
                .store
                .get_connection(&project, id)
                .await?
                .ok_or_else(|| ApiError::ConnectionNotFound(id.to_string()))?;
            // The last check's per-address results, as `test` answers them.
            let report: CheckReport = record
                .check_report
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default();
            let endpoints = endpoint_checks(&report);
            json::show_answer(&record, &endpoints, report.not_checked).map(Bytes::from)
        })
        .await?;
    Ok(json_bytes(body))
}

/// `DELETE /v2.0/{project_id}/datasource-connection/{connection_id}`
#[utoipa::path(
    delete,
    path = "/v2.0/{project_id}/datasource-connection/{connection_id}",
    operation_id = "DeleteDatasourceConnection",
    tag = "connections",
    summary = "Delete a connection that is not CREATING; deleting a DELETED one succeeds",
    params(ProjectPath, ConnectionPath),
    responses(
        (status = 200, description = "Deleted: `{\"is_success\": true, \"message\": \"Deleted\"}`",
            body = SuccessResponse),
        ErrorResponses,
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    ConnectionTarget { project, id }: ConnectionTarget,
) -> ApiResult<Json<SuccessResponse>> {
    match state
        .store
        .delete_connection(&project, id, now_millis())
        .await?
    {
        DeleteOutcome::Deleted | DeleteOutcome::AlreadyDeleted => {
            tracing::info!(connection.id = %id, project.id = %project, "connection deleted");
            Ok(Json(SuccessResponse::new("Deleted")))
        }
        DeleteOutcome::StillCreating => Err(ApiError::StateConflict(format!(
            "connection {id} is still CREATING; wait until it is ACTIVE or FAILED, then delete it"
        ))),
        DeleteOutcome::NotFound => Err(ApiError::ConnectionNotFound(id.to_string())),
    }
}
