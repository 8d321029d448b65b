//! DLI's elastic resource pools: create, list and delete. A pool has no compute here;
//! its fields are validated, stored and echoed. A pool bound to a live enhanced
//! connection cannot be deleted (DLI.0007), as a bound queue cannot.

pub mod queues;
pub mod types;

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value};

use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{
    FromJsonBody, NamedRequest, NamedTarget, ProjectRequest, ProjectTarget, extract_from,
    parse_query,
};
use crate::api::pools::types::{
    CreatePoolRequest, CreatePoolResponse, ListPoolsQuery, ListPoolsResponse, PoolItem,
};
use crate::api::queues::{
    OWNER, any_char, insert_billing, insert_checked, integer, new_named, present, string_map, tags,
    text, whole_number,
};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ProjectId, QueueName, Tag, TagFilter, ValidationError};
use crate::store::{CreateNamedOutcome, DeleteNamedOutcome, NewPool, PoolRecord};

/// Most elastic resource pools one project may have.
pub const MAX_POOLS_PER_PROJECT: u32 = 1000;

/// The VPC range a pool answers when created without one (DLI's default).
const DEFAULT_CIDR: &str = "172.16.0.0/12";

/// The most pools, pool queues or queue properties one list page holds (and the default
/// page size).
const MAX_PAGE_SIZE: usize = 100;

/// `elastic_resource_pool_name` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PoolPath {
    /// The pool's name (case-insensitive).
    pub elastic_resource_pool_name: String,
}

/// A path's pool name; one that cannot be a pool's names no pool.
pub(super) fn path_pool(raw: &str) -> ApiResult<QueueName> {
    QueueName::parse(raw).map_err(|_| ApiError::PoolNotFound(raw.chars().take(128).collect()))
}

/// [`NamedRequest`] of a pool's path, its name parsed ([`path_pool`]), then its body:
/// where the handlers that change one pool start.
pub struct PoolRequest<T> {
    pub project: ProjectId,
    pub pool: QueueName,
    pub body: T,
}

extract_from!(request<T: FromJsonBody> PoolRequest<T> = NamedRequest, |request, _| {
    let pool = path_pool(&request.name)?;
    Ok(Self {
        project: request.project,
        pool,
        body: T::from_json_body(&request.body)?,
    })
});

fn validate_create(
    project: ProjectId,
    body: &CreatePoolRequest,
) -> Result<NewPool, ValidationError> {
    let name = match present(&body.elastic_resource_pool_name) {
        None => {
            return Err(ValidationError::new(
                "elastic_resource_pool_name is required",
            ));
        }
        Some(Value::String(raw)) => {
            crate::domain::parse_new_dli_name("elastic_resource_pool_name", raw)?
        }
        Some(_) => {
            return Err(ValidationError::new(
                "elastic_resource_pool_name must be a string",
            ));
        }
    };
    let cu = |field: &str, value: &Option<Value>| {
        present(value)
            .ok_or_else(|| ValidationError::new(format!("{field} is required")))
            .and_then(|value| integer(field, value, 16, 32000))
    };
    let max_cu = cu("max_cu", &body.max_cu)?;
    let min_cu = cu("min_cu", &body.min_cu)?;
    if min_cu > max_cu {
        return Err(ValidationError::new("min_cu must not be more than max_cu"));
    }
    let mut attributes = Map::new();
    attributes.insert("max_cu".into(), max_cu.into());
    attributes.insert("min_cu".into(), min_cu.into());
    insert_checked(&mut attributes, "description", &body.description, |value| {
        Ok(text("description", value, 256, any_char)?.into())
    })?;
    if let Some(value) = present(&body.cidr_in_vpc) {
        let cidr = value
            .as_str()
            .and_then(|raw| match crate::domain::parse_network(raw) {
                Ok(ipnet::IpNet::V4(net)) => Some(net),
                _ => None,
            })
            .ok_or_else(|| {
                ValidationError::new("cidr_in_vpc must be an IPv4 CIDR such as 172.16.0.0/12")
            })?;
        if let Some(overlap) = crate::domain::reserved_overlap(&crate::domain::ComputeNetwork {
            net: cidr,
            label: "the new elastic resource pool".to_owned(),
        }) {
            return Err(ValidationError::new(overlap.to_string()));
        }
        attributes.insert("cidr_in_vpc".into(), cidr.to_string().into());
    }
    insert_billing(
        &mut attributes,
        &body.charging_mode,
        1,
        &body.enterprise_project_id,
    )?;
    insert_checked(&mut attributes, "tags", &body.tags, |value| {
        tags("tags", value)
    })?;
    insert_checked(&mut attributes, "label", &body.label, |value| {
        string_map("label", value, 10)
    })?;
    if let Some(value) = present(&body.ipv6_enable) {
        let enable = value
            .as_bool()
            .ok_or_else(|| ValidationError::new("ipv6_enable must be true or false"))?;
        attributes.insert("ipv6_enable".into(), enable.into());
    }
    let name = QueueName::parse(&name)?;
    Ok(new_named(project, name, attributes))
}

/// A stored pool as answered, with the stored queues that name it.
fn pool_item(record: PoolRecord, queues: Vec<String>) -> PoolItem {
    let attributes = &record.attributes;
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let number = |key: &str, default: i32| {
        attributes
            .get(key)
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(default)
    };
    PoolItem {
        owner: OWNER.to_owned(),
        resource_id: record.resource_id.clone(),
        status: "AVAILABLE".to_owned(),
        create_time: record.create_time,
        update_time: attributes
            .get("update_time")
            .and_then(Value::as_i64)
            .unwrap_or(record.create_time),
        max_cu: number("max_cu", 0),
        min_cu: number("min_cu", 0),
        cidr_in_vpc: text("cidr_in_vpc").unwrap_or_else(|| DEFAULT_CIDR.to_owned()),
        charging_mode: number("charging_mode", 1),
        enterprise_project_id: text("enterprise_project_id").unwrap_or_else(|| "0".to_owned()),
        ipv6_enable: attributes
            .get("ipv6_enable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        label: attributes
            .get("label")
            .and_then(Value::as_object)
            .map(|label| {
                label
                    .iter()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        description: text("description"),
        queues,
        tags: attributes
            .get("tags")
            .and_then(|tags| serde_json::from_value::<Vec<Tag>>(tags.clone()).ok()),
        elastic_resource_pool_name: record.name,
    }
}

/// `POST /v3/{project_id}/elastic-resource-pools`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/elastic-resource-pools",
    operation_id = "CreateElasticResourcePool",
    tag = "queues",
    summary = "Create an elastic resource pool (its DLI fields are stored and echoed)",
    params(ProjectPath),
    request_body(content = CreatePoolRequest, content_type = "application/json"),
    responses((status = 200, description = "Created", body = CreatePoolResponse), ErrorResponses),
)]
pub async fn create(
    State(state): State<AppState>,
    ProjectRequest { project, body, .. }: ProjectRequest,
) -> ApiResult<Json<CreatePoolResponse>> {
    let new = validate_create(project, &body.parse()?)?;
    match state.store.create_pool(&new, MAX_POOLS_PER_PROJECT).await? {
        CreateNamedOutcome::Created => {}
        CreateNamedOutcome::AlreadyExists => {
            return Err(ApiError::NameTaken(format!(
                "an elastic resource pool named {} already exists",
                new.name.as_str()
            )));
        }
        CreateNamedOutcome::CapReached => {
            return Err(ApiError::CapReached(format!(
                "the project already has the maximum of {MAX_POOLS_PER_PROJECT} elastic \
                 resource pools; delete some first"
            )));
        }
    }
    tracing::info!(project.id = %new.project_id, pool = new.name.as_str(), "elastic resource pool created");
    Ok(Json(CreatePoolResponse {
        is_success: true,
        message: String::new(),
        elastic_resource_pool_name: new.name.as_str().to_owned(),
    }))
}

/// A bounded whole-number query parameter (`limit`, `offset`, ...), shared by the pool and
/// queue APIs.
pub(super) fn parse_count(
    field: &str,
    raw: Option<&str>,
    min: usize,
    max: usize,
    default: usize,
) -> Result<usize, ValidationError> {
    raw.map_or(Ok(default), |raw| whole_number(field, raw, min, max))
}

/// A list page's `limit` (1 to [`MAX_PAGE_SIZE`], all of it by default) and `offset` (0
/// by default), as the lists of pools, of a pool's queues and of a queue's properties
/// read them.
pub(super) fn parse_page(
    limit: Option<&str>,
    offset: Option<&str>,
) -> Result<(usize, usize), ValidationError> {
    let limit = parse_count("limit", limit, 1, MAX_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let offset = parse_count("offset", offset, 0, u32::MAX as usize, 0)?;
    Ok((limit, offset))
}

/// `GET /v3/{project_id}/elastic-resource-pools`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/elastic-resource-pools",
    operation_id = "ListElasticResourcePools",
    tag = "queues",
    summary = "List the project's elastic resource pools, by name",
    params(ProjectPath, ListPoolsQuery),
    responses((status = 200, description = "The matching pools", body = ListPoolsResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListPoolsResponse>> {
    let query: ListPoolsQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let (limit, offset) = parse_page(query.limit.as_deref(), query.offset.as_deref())?;
    let tags = TagFilter::parse(query.tags.as_deref().unwrap_or_default())?;
    let name = query.name.as_deref().map(str::to_ascii_lowercase);
    let pools = state.store.list_pools(&project).await?;
    let queues = state.store.list_queues(&project).await?;
    let matching: Vec<PoolItem> = pools
        .into_iter()
        .map(|pool| {
            let members = queues
                .iter()
                .filter(|queue| {
                    queue
                        .attributes
                        .get("elastic_resource_pool_name")
                        .and_then(Value::as_str)
                        == Some(pool.name.as_str())
                })
                .map(|queue| queue.name.clone())
                .collect();
            pool_item(pool, members)
        })
        .filter(|pool| {
            name.as_deref()
                .is_none_or(|name| pool.elastic_resource_pool_name.contains(name))
        })
        .filter(|pool| {
            query
                .status
                .as_deref()
                .is_none_or(|status| pool.status == status)
        })
        .filter(|pool| tags.matches(pool.tags.as_deref().unwrap_or_default()))
        .collect();
    let count = matching.len() as u64;
    Ok(Json(ListPoolsResponse {
        is_success: true,
        message: String::new(),
        count,
        elastic_resource_pools: matching.into_iter().skip(offset).take(limit).collect(),
    }))
}

/// `DELETE /v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}`
#[utoipa::path(
    delete,
    path = "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}",
    operation_id = "DeleteElasticResourcePool",
    tag = "queues",
    summary = "Delete an elastic resource pool",
    params(ProjectPath, PoolPath),
    responses((status = 200, description = "Deleted", body = SuccessResponse), ErrorResponses),
)]
pub async fn delete(
    State(state): State<AppState>,
    NamedTarget { project, name }: NamedTarget,
) -> ApiResult<Json<SuccessResponse>> {
    let pool = path_pool(&name)?;
    match state.store.delete_pool(&project, pool.as_str()).await? {
        DeleteNamedOutcome::Deleted => {}
        DeleteNamedOutcome::NotFound => {
            return Err(ApiError::PoolNotFound(pool.as_str().to_owned()));
        }
        DeleteNamedOutcome::Bound(connections) => {
            return Err(ApiError::StateConflict(format!(
                "elastic resource pool {} is bound to {connections} enhanced connection(s); \
                 disassociate it from them first",
                pool.as_str()
            )));
        }
    }
    tracing::info!(project.id = %project, pool = pool.as_str(), "elastic resource pool deleted");
    Ok(Json(SuccessResponse::ok()))
}
