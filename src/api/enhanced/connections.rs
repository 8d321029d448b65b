//! E1-E7: create, list, show and delete enhanced connections, bind and unbind queues and
//! pools, replace the host entries.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::types::{
    CreateEnhancedConnectionRequest, CreateEnhancedConnectionResponse, EnhancedBindingsRequest,
    EnhancedConnection, EnhancedConnectionHost, EnhancedConnectionResource,
    EnhancedConnectionRoute, ListEnhancedConnectionsResponse, ShowEnhancedConnectionResponse,
    UpdateEnhancedConnectionRequest,
};
use super::{EnhancedTarget, LIMITS, outcome_error};
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{JsonBody, ProjectRequest, ProjectTarget, parse_query};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{
    ConnectionId, NetworkRef, QueueName, TagFilter, Tags, ValidationError, now_millis,
};
use crate::store::{
    BindingKind, ConnectionKey, EnhancedAccess, EnhancedBind, EnhancedBinding,
    EnhancedConnectionRecord, EnhancedListQuery, EnhancedStatus, HostEntry, NewEnhancedConnection,
};

/// Most host entries of one connection (the contract's bound).
pub const MAX_HOSTS: usize = 20_000;
/// Most queues, and most pools, one request may name.
const MAX_NAMES_PER_REQUEST: usize = 100;
/// E2's page size when `limit` is absent.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// E2's largest page (also what `limit=0`, "all", is capped at: the project quota).
const MAX_PAGE_SIZE: u32 = 1000;
const MAX_HOST_NAME_CHARS: usize = 128;

/// `{connection_id}` path parameter of the enhanced API.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnhancedConnectionPath {
    /// The connection's id (UUID). Anything else is answered like an unknown id (400,
    /// DLI.0001 `Connection <id> is not exist.`).
    #[param(format = Uuid)]
    pub connection_id: String,
}

/// E2's query. Every value is read as text so that a bad one gets a DLI error.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEnhancedConnectionsQuery {
    /// Page size: default 100, `0` = all (at most 1,000), at most 1,000.
    #[param(value_type = Option<u32>, maximum = 1000)]
    pub limit: Option<String>,
    /// Connections to skip (sorted by create time, then id).
    #[param(value_type = Option<u32>)]
    pub offset: Option<String>,
    /// `ACTIVE` (default) or `DELETED`, any case.
    pub status: Option<String>,
    /// Exact connection name.
    pub name: Option<String>,
    /// `k=v,k2=v2`: every tag must match.
    pub tags: Option<String>,
}

/// `[A-Za-z0-9_-]`, 1-64: DLI's rule plus the `-` old Terraform validation allowed.
pub(super) fn parse_simple_name(field: &str, raw: &str) -> Result<String, ValidationError> {
    let length = raw.chars().count();
    if !(1..=64).contains(&length)
        || !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ValidationError::new(format!(
            "{field} must be 1 to 64 letters, digits, _ and -"
        )));
    }
    Ok(raw.to_owned())
}

fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, ValidationError> {
    value
        .as_deref()
        .ok_or_else(|| ValidationError::new(format!("{field} is required")))
}

/// Queue or pool names of a request: at most 100, each a DLI name, repeats once;
/// `default` is DLI's shared queue and is never bound.
fn parse_names(kind: BindingKind, raw: Option<&Vec<String>>) -> ApiResult<Vec<QueueName>> {
    let raw = raw.map(Vec::as_slice).unwrap_or_default();
    let field = match kind {
        BindingKind::Queue => "queues",
        BindingKind::Pool => "elastic_resource_pools",
    };
    if raw.len() > MAX_NAMES_PER_REQUEST {
        return Err(ApiError::InvalidRequest(format!(
            "{field} may name at most {MAX_NAMES_PER_REQUEST}, got {}",
            raw.len()
        )));
    }
    let mut names: Vec<QueueName> = Vec::with_capacity(raw.len());
    for name in raw {
        let parsed = match kind {
            BindingKind::Queue => QueueName::parse(name)?,
            BindingKind::Pool => QueueName::parse(name).map_err(|_| {
                ValidationError::new(format!(
                    "elastic resource pool name {:?} must be 1 to 128 letters, digits and _",
                    name.chars().take(128).collect::<String>()
                ))
            })?,
        };
        if kind == BindingKind::Queue && parsed.is_default() {
            return Err(ApiError::InvalidRequest(
                "queue default cannot be bound to an enhanced connection".into(),
            ));
        }
        if !names.contains(&parsed) {
            names.push(parsed);
        }
    }
    Ok(names)
}

/// Host entries: each name 1-128 of `[A-Za-z0-9_.-]` starting with a letter, unique
/// ignoring case; each ip a dotted-quad IPv4 address; at most [`MAX_HOSTS`].
pub fn parse_hosts(raw: Option<&Vec<EnhancedConnectionHost>>) -> ApiResult<Vec<HostEntry>> {
    let raw = raw.map(Vec::as_slice).unwrap_or_default();
    if raw.len() > MAX_HOSTS {
        return Err(ApiError::InvalidRequest(format!(
            "hosts may have at most {MAX_HOSTS} entries, got {}",
            raw.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(raw.len());
    let mut hosts = Vec::with_capacity(raw.len());
    for host in raw {
        let shown: String = host.name.chars().take(MAX_HOST_NAME_CHARS).collect();
        let length = host.name.chars().count();
        let valid = (1..=MAX_HOST_NAME_CHARS).contains(&length)
            && host.name.starts_with(|c: char| c.is_ascii_alphabetic())
            && host
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(ApiError::InvalidRequest(format!(
                "host name {shown:?} must be 1 to 128 letters, digits, _ . and -, starting \
                 with a letter"
            )));
        }
        let ip = crate::domain::parse_ipv4(&host.ip).map_err(|_| {
            ApiError::InvalidRequest(format!(
                "ip {:?} of host {shown} must be an IPv4 address such as 192.168.0.10",
                host.ip.chars().take(64).collect::<String>()
            ))
        })?;
        if !seen.insert(host.name.to_ascii_lowercase()) {
            return Err(ApiError::InvalidRequest(format!(
                "host name {shown} appears more than once"
            )));
        }
        hosts.push(HostEntry {
            name: host.name.clone(),
            ip: ip.to_string(),
        });
    }
    Ok(hosts)
}

fn validate_create(
    project: &crate::domain::ProjectId,
    body: &CreateEnhancedConnectionRequest,
) -> ApiResult<NewEnhancedConnection> {
    let name = parse_simple_name("name", required("name", &body.name)?)?;
    let dest_vpc_id =
        NetworkRef::parse("dest_vpc_id", required("dest_vpc_id", &body.dest_vpc_id)?)?;
    let dest_network_id = NetworkRef::parse(
        "dest_network_id",
        required("dest_network_id", &body.dest_network_id)?,
    )?;
    let routetable_id = body
        .routetable_id
        .as_deref()
        .filter(|raw| !raw.is_empty())
        .map(|raw| NetworkRef::parse("routetable_id", raw))
        .transpose()?;
    let pairs: Vec<(String, String)> = body
        .tags
        .iter()
        .flatten()
        .map(|tag| match (&tag.key, &tag.value) {
            (Some(key), Some(value)) => Ok((key.clone(), value.clone())),
            _ => Err(ValidationError::new("every tag needs a key and a value")),
        })
        .collect::<Result<_, _>>()?;
    Ok(NewEnhancedConnection {
        id: ConnectionId::generate(),
        project_id: project.clone(),
        name,
        dest_vpc_id: dest_vpc_id.as_str().to_owned(),
        dest_network_id: dest_network_id.as_str().to_owned(),
        routetable_id: routetable_id.map(|id| id.as_str().to_owned()),
        hosts: parse_hosts(body.hosts.as_ref())?,
        tags: Tags::parse(&pairs)?,
        queues: parse_names(BindingKind::Queue, body.queues.as_ref())?,
        pools: parse_names(BindingKind::Pool, body.elastic_resource_pools.as_ref())?,
        now: now_millis(),
    })
}

fn resource(binding: &EnhancedBinding) -> EnhancedConnectionResource {
    EnhancedConnectionResource {
        peer_id: binding.peer_id.clone(),
        status: binding.status.to_string(),
        name: binding.name.clone(),
        err_msg: binding.err_msg.clone(),
        update_time: binding.update_time,
        checked_from: binding.checked_from.clone(),
    }
}

/// A stored connection as answered; `isPrivis` only for its owner.
pub fn connection_body(
    record: &EnhancedConnectionRecord,
    access: EnhancedAccess,
) -> EnhancedConnection {
    EnhancedConnection {
        id: record.id.to_string(),
        name: record.name.clone(),
        status: record.status.to_string(),
        available_queue_info: record
            .bindings_of(BindingKind::Queue)
            .map(resource)
            .collect(),
        elastic_resource_pools: record
            .bindings_of(BindingKind::Pool)
            .map(resource)
            .collect(),
        dest_vpc_id: record.dest_vpc_id.clone(),
        dest_network_id: record.dest_network_id.clone(),
        create_time: record.create_time,
        hosts: record
            .hosts
            .iter()
            .map(|host| EnhancedConnectionHost {
                name: host.name.clone(),
                ip: host.ip.clone(),
            })
            .collect(),
        routes: record
            .routes
            .iter()
            .map(|route| EnhancedConnectionRoute {
                name: route.name.clone(),
                cidr: route.cidr.clone(),
                create_time: route.create_time,
            })
            .collect(),
        hosts_omitted: record.hosts_left_out,
        is_privis: (access == EnhancedAccess::Owner).then_some(record.is_privis),
        ipv6_enable: false,
    }
}

/// `POST /v2.0/{project_id}/datasource/enhanced-connections` (E1)
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource/enhanced-connections",
    operation_id = "CreateEnhancedConnection",
    tag = "enhanced",
    summary = "Create an enhanced connection (ACTIVE at once; its bindings start CREATING)",
    params(ProjectPath),
    request_body(content = CreateEnhancedConnectionRequest, content_type = "application/json"),
    responses((status = 201, description = "Created", body = CreateEnhancedConnectionResponse), ErrorResponses),
)]
pub async fn create(
    State(state): State<AppState>,
    ProjectRequest { project, body, .. }: ProjectRequest,
) -> ApiResult<(StatusCode, Json<CreateEnhancedConnectionResponse>)> {
    let new = validate_create(&project, &body.parse_or_empty()?)?;
    crate::api::queues::cidr_preflight::check_bind(
        &state,
        &project,
        &new.name,
        &new.hosts,
        &[],
        &new.queues,
        &new.pools,
    )
    .await?;
    let outcome = state
        .store
        .create_enhanced(&new, &state.settings.declared_queues, &LIMITS)
        .await?;
    if let Err(refusal) = outcome {
        return Err(outcome_error(refusal, &new.id.to_string(), Some(&new.name)));
    }
    if !new.queues.is_empty() || !new.pools.is_empty() {
        state.work_arrived_in(new.project_id.as_str());
    }
    tracing::info!(project.id = %project, connection.id = %new.id, "enhanced connection created");
    Ok((
        StatusCode::CREATED,
        Json(CreateEnhancedConnectionResponse {
            is_success: true,
            message: String::new(),
            connection_id: new.id.to_string(),
        }),
    ))
}

fn parse_limit(raw: Option<&str>) -> ApiResult<u32> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => match raw.parse::<u32>() {
            Ok(0) => Ok(MAX_PAGE_SIZE),
            Ok(limit) if limit <= MAX_PAGE_SIZE => Ok(limit),
            _ => Err(ApiError::InvalidRequest(format!(
                "limit must be a whole number from 0 (all) to {MAX_PAGE_SIZE}"
            ))),
        },
    }
}

fn parse_offset(raw: Option<&str>) -> ApiResult<u32> {
    match raw.map(str::trim) {
        None | Some("") => Ok(0),
        Some(raw) => raw.parse::<u32>().map_err(|_| {
            ApiError::InvalidRequest("offset must be a whole number, 0 or more".into())
        }),
    }
}

fn parse_status(raw: Option<&str>) -> ApiResult<EnhancedStatus> {
    match raw.map(str::trim) {
        None | Some("") => Ok(EnhancedStatus::Active),
        Some(raw) if raw.eq_ignore_ascii_case("ACTIVE") => Ok(EnhancedStatus::Active),
        Some(raw) if raw.eq_ignore_ascii_case("DELETED") => Ok(EnhancedStatus::Deleted),
        Some(_) => Err(ApiError::InvalidRequest(
            "status must be ACTIVE or DELETED".into(),
        )),
    }
}

/// `GET /v2.0/{project_id}/datasource/enhanced-connections` (E2)
#[utoipa::path(
    get,
    path = "/v2.0/{project_id}/datasource/enhanced-connections",
    operation_id = "ListEnhancedConnections",
    tag = "enhanced",
    summary = "List the project's own enhanced connections, oldest first",
    params(ProjectPath, ListEnhancedConnectionsQuery),
    responses((status = 200, description = "A page; `count` is its size", body = ListEnhancedConnectionsResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListEnhancedConnectionsResponse>> {
    let query: ListEnhancedConnectionsQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let name = match query.name.as_deref() {
        None | Some("") => None,
        // A name no connection can have matches none; answered as an empty page.
        Some(raw) => Some(raw.chars().take(65).collect::<String>()),
    };
    let list = EnhancedListQuery {
        status: parse_status(query.status.as_deref())?,
        name,
        tags: TagFilter::parse(query.tags.as_deref().unwrap_or_default())?,
        limit: parse_limit(query.limit.as_deref())?,
        offset: parse_offset(query.offset.as_deref())?,
    };
    let records = state.store.list_enhanced(&project, &list).await?;
    let connections: Vec<EnhancedConnection> = records
        .iter()
        .map(|record| connection_body(record, EnhancedAccess::Owner))
        .collect();
    Ok(Json(ListEnhancedConnectionsResponse {
        is_success: true,
        message: String::new(),
        count: connections.len() as u64,
        connections,
    }))
}

/// `GET /v2.0/{project_id}/datasource/enhanced-connections/{connection_id}` (E3)
#[utoipa::path(
    get,
    path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}",
    operation_id = "ShowEnhancedConnection",
    tag = "enhanced",
    summary = "Show an enhanced connection (DELETED ones until purged; a grantee sees its own bindings)",
    params(ProjectPath, EnhancedConnectionPath),
    responses((status = 200, description = "The connection", body = ShowEnhancedConnectionResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    target: EnhancedTarget,
) -> ApiResult<Json<ShowEnhancedConnectionResponse>> {
    let id = target.id()?;
    let view = state
        .store
        .get_enhanced(&target.project, id)
        .await?
        .ok_or_else(|| target.not_found())?;
    Ok(Json(ShowEnhancedConnectionResponse {
        is_success: true,
        message: String::new(),
        connection: connection_body(&view.connection, view.access),
    }))
}

/// `DELETE /v2.0/{project_id}/datasource/enhanced-connections/{connection_id}` (E4)
#[utoipa::path(
    delete,
    path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}",
    operation_id = "DeleteEnhancedConnection",
    tag = "enhanced",
    summary = "Delete an enhanced connection (soft; again is 200)",
    params(ProjectPath, EnhancedConnectionPath),
    responses((status = 200, description = "`Deleted`", body = SuccessResponse), ErrorResponses),
)]
pub async fn delete(
    State(state): State<AppState>,
    target: EnhancedTarget,
) -> ApiResult<Json<SuccessResponse>> {
    let id = target.id()?;
    let outcome = state
        .store
        .delete_enhanced(&target.project, id, now_millis())
        .await?;
    if let Err(refusal) = outcome {
        return Err(outcome_error(refusal, &target.raw_id, None));
    }
    tracing::info!(project.id = %target.project, connection.id = %id, "enhanced connection deleted");
    Ok(Json(SuccessResponse::new("Deleted")))
}

/// The connection, queues and pools of an E5/E6 request.
fn binding_request(
    target: &EnhancedTarget,
    body: &JsonBody,
) -> ApiResult<(ConnectionId, Vec<QueueName>, Vec<QueueName>)> {
    let id = target.id()?;
    let (queues, pools) = bindings_of(&body.parse_or_empty()?)?;
    Ok((id, queues, pools))
}

/// Queues and pools of an E5/E6 body: at least one in all.
fn bindings_of(body: &EnhancedBindingsRequest) -> ApiResult<(Vec<QueueName>, Vec<QueueName>)> {
    let queues = parse_names(BindingKind::Queue, body.queues.as_ref())?;
    let pools = parse_names(BindingKind::Pool, body.elastic_resource_pools.as_ref())?;
    if queues.is_empty() && pools.is_empty() {
        return Err(ApiError::InvalidRequest(
            "queues or elastic_resource_pools is required".into(),
        ));
    }
    Ok((queues, pools))
}

/// `q1,q2` of the E5/E6 messages: the queues, then the pools, as given.
fn joined(queues: &[QueueName], pools: &[QueueName]) -> String {
    queues
        .iter()
        .chain(pools)
        .map(QueueName::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// `POST .../enhanced-connections/{connection_id}/associate-queue` (E5)
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/associate-queue",
    operation_id = "AssociateQueueToEnhancedConnection",
    tag = "enhanced",
    summary = "Bind queues and/or pools of the caller's project (each starts CREATING)",
    params(ProjectPath, EnhancedConnectionPath),
    request_body(content = EnhancedBindingsRequest, content_type = "application/json"),
    responses((status = 200, description = "`associated peer connection for queues: {q1,q2}.`", body = SuccessResponse), ErrorResponses),
)]
pub async fn associate(
    State(state): State<AppState>,
    target: EnhancedTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let (id, queues, pools) = binding_request(&target, &body)?;
    crate::api::queues::cidr_preflight::check_associate(
        &state,
        &target.project,
        id,
        &queues,
        &pools,
    )
    .await?;
    let outcome = state
        .store
        .bind_enhanced(
            ConnectionKey::new(&target.project, id),
            EnhancedBind {
                queues: &queues,
                pools: &pools,
                declared: &state.settings.declared_queues,
                limits: &LIMITS,
                now: now_millis(),
            },
        )
        .await?;
    if let Err(refusal) = outcome {
        return Err(outcome_error(refusal, &target.raw_id, None));
    }
    state.work_arrived_in(target.project.as_str());
    tracing::info!(project.id = %target.project, connection.id = %id, queues = queues.len(), pools = pools.len(), "enhanced connection bound");
    Ok(Json(SuccessResponse::new(format!(
        "associated peer connection for queues: {{{}}}.",
        joined(&queues, &pools)
    ))))
}

/// `POST .../enhanced-connections/{connection_id}/disassociate-queue` (E6)
#[utoipa::path(
    post,
    path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/disassociate-queue",
    operation_id = "DisassociateQueueFromEnhancedConnection",
    tag = "enhanced",
    summary = "Unbind queues and/or pools of the caller's project, whatever their status",
    params(ProjectPath, EnhancedConnectionPath),
    request_body(content = EnhancedBindingsRequest, content_type = "application/json"),
    responses((status = 200, description = "`Disassociated peer connection for queues:{q1,q2}.`", body = SuccessResponse), ErrorResponses),
)]
pub async fn disassociate(
    State(state): State<AppState>,
    target: EnhancedTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let (id, queues, pools) = binding_request(&target, &body)?;
    let outcome = state
        .store
        .unbind_enhanced(ConnectionKey::new(&target.project, id), &queues, &pools)
        .await?;
    if let Err(refusal) = outcome {
        return Err(outcome_error(refusal, &target.raw_id, None));
    }
    tracing::info!(project.id = %target.project, connection.id = %id, queues = queues.len(), pools = pools.len(), "enhanced connection unbound");
    Ok(Json(SuccessResponse::new(format!(
        "Disassociated peer connection for queues:{{{}}}.",
        joined(&queues, &pools)
    ))))
}

/// `PUT /v2.0/{project_id}/datasource/enhanced-connections/{connection_id}` (E7)
#[utoipa::path(
    put,
    path = "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}",
    operation_id = "UpdateEnhancedConnection",
    tag = "enhanced",
    summary = "Replace the host entries (`{}` or `[]` clears them)",
    params(ProjectPath, EnhancedConnectionPath),
    request_body(content = UpdateEnhancedConnectionRequest, content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = SuccessResponse), ErrorResponses),
)]
pub async fn update(
    State(state): State<AppState>,
    target: EnhancedTarget,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let id = target.id()?;
    let body: UpdateEnhancedConnectionRequest = body.parse_or_empty()?;
    let hosts = parse_hosts(body.hosts.as_ref())?;
    crate::api::queues::cidr_preflight::check_hosts(&state, &target.project, id, &hosts).await?;
    let outcome = state
        .store
        .replace_enhanced_hosts(
            ConnectionKey::new(&target.project, id),
            &hosts,
            now_millis(),
        )
        .await?;
    if let Err(refusal) = outcome {
        return Err(outcome_error(refusal, &target.raw_id, None));
    }
    tracing::info!(project.id = %target.project, connection.id = %id, hosts = hosts.len(), "enhanced connection hosts replaced");
    Ok(Json(SuccessResponse::ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn host(name: &str, ip: &str) -> EnhancedConnectionHost {
        EnhancedConnectionHost {
            name: name.into(),
            ip: ip.into(),
        }
    }

    #[rstest]
    #[case("test.test.com", "192.168.0.1")]
    #[case("a", "10.0.0.1")]
    #[case("ecs-97f8_0001", "127.0.0.1")]
    fn good_hosts_are_accepted(#[case] name: &str, #[case] ip: &str) {
        assert_eq!(
            parse_hosts(Some(&vec![host(name, ip)]))
                .expect("valid")
                .len(),
            1
        );
    }

    #[rstest]
    #[case("1abc", "10.0.0.1")]
    #[case("", "10.0.0.1")]
    #[case("a b", "10.0.0.1")]
    #[case("ok", "10.0.0")]
    #[case("ok", "::1")]
    #[case("ok", "10.0.0.256")]
    fn bad_hosts_are_refused(#[case] name: &str, #[case] ip: &str) {
        parse_hosts(Some(&vec![host(name, ip)])).expect_err("invalid");
    }

    #[test]
    fn host_names_are_unique_ignoring_case() {
        let hosts = vec![host("Db", "10.0.0.1"), host("dB", "10.0.0.2")];
        parse_hosts(Some(&hosts)).expect_err("duplicate");
    }

    #[test]
    fn limit_zero_is_all_up_to_the_quota() {
        assert_eq!(parse_limit(Some("0")).expect("valid"), MAX_PAGE_SIZE);
        assert_eq!(parse_limit(None).expect("valid"), DEFAULT_PAGE_SIZE);
        parse_limit(Some("1001")).expect_err("too large");
        parse_limit(Some("-1")).expect_err("negative");
    }

    #[test]
    fn the_default_queue_is_never_bound() {
        let error =
            parse_names(BindingKind::Queue, Some(&vec!["default".into()])).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "queue default cannot be bound to an enhanced connection"
        );
    }
}
