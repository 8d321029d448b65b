//! A queue's properties (issue 27): `GET/POST/PUT/DELETE /v3/{project_id}/queues/{queue}/
//! properties`, with DLI's keys. They live in the queue's stored `properties` (the same
//! object CreateQueue's `properties` fills) as strings; nothing reads them here.
//! `network.cidrInVpc` is the queue's CIDR under another name: setting it is a CIDR change
//! with its rules ([`crate::api::queues::changes::set_queue_cidr`]). It is not listed: DLI's list
//! has no such key (ListQueues answers the queue's `cidr_in_vpc`).

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{DliPath, JsonBody, NamedTarget, parse_query};
use crate::api::pools::parse_page;
use crate::api::queues::changes::{
    QueueChange, change_queue, changeable_queue, parse_queue_cidr, set_queue_cidr,
};
use crate::api::queues::types::{
    DeleteQueuePropertiesRequest, ListQueuePropertiesQuery, ListQueuePropertiesResponse,
    PutQueuePropertiesRequest, QueueProperty,
};
use crate::api::queues::{QueuePath, path_queue, present};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::ValidationError;

/// The property that is the queue's CIDR.
const CIDR_KEY: &str = "network.cidrInVpc";

/// DLI's whole-number keys and their ranges.
const NUMBER_KEYS: [(&str, i64, i64); 3] = [
    ("computeEngine.maxInstance", 1, 100_000),
    ("job.maxConcurrent", 1, 100_000),
    ("computeEngine.maxPrefetchInstance", 0, 100_000),
];

/// DLI's `true`/`false` keys.
const FLAG_KEYS: [&str; 2] = [
    "computeEngine.spark.nativeEnabled",
    "job.saveJobResultToJobBucket",
];

/// One property's value as stored (a string), or why not.
fn property_value(key: &str, value: &Value) -> Result<String, ValidationError> {
    if let Some((_, min, max)) = NUMBER_KEYS.iter().find(|(name, _, _)| *name == key) {
        let number = match value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        return number
            .filter(|number| (*min..=*max).contains(number))
            .map(|number| number.to_string())
            .ok_or_else(|| {
                ValidationError::new(format!(
                    "properties.{key} must be a whole number from {min} to {max}"
                ))
            });
    }
    if FLAG_KEYS.contains(&key) {
        return match value {
            Value::Bool(flag) => Ok(flag.to_string()),
            Value::String(text) if text == "true" || text == "false" => Ok(text.clone()),
            _ => Err(ValidationError::new(format!(
                "properties.{key} must be true or false"
            ))),
        };
    }
    let known: Vec<&str> = NUMBER_KEYS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(FLAG_KEYS)
        .chain([CIDR_KEY])
        .collect();
    Err(ValidationError::new(format!(
        "properties has an unknown key {}; the keys are {}",
        crate::api::enhanced::echo(key),
        known.join(", ")
    )))
}

/// `GET /v3/{project_id}/queues/{queue_name}/properties`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/queues/{queue_name}/properties",
    operation_id = "ListQueueProperties",
    tag = "queues",
    summary = "List a queue's properties",
    params(ProjectPath, QueuePath, ListQueuePropertiesQuery),
    responses((status = 200, description = "The properties", body = ListQueuePropertiesResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    NamedTarget { project, name }: NamedTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListQueuePropertiesResponse>> {
    let name = path_queue(&name)?;
    let query: ListQueuePropertiesQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let (limit, offset) = parse_page(query.limit.as_deref(), query.offset.as_deref())?;
    let mut properties = Vec::new();
    if !state.settings.declared_queues.contains(&name) {
        let queue = state
            .store
            .get_queue(&project, name.as_str())
            .await?
            .ok_or_else(|| ApiError::QueueNotFound(name.as_str().to_owned()))?;
        if let Some(stored) = queue
            .attributes
            .get("properties")
            .and_then(Value::as_object)
        {
            properties.extend(stored.iter().map(|(key, value)| QueueProperty {
                key: key.clone(),
                value: value.as_str().unwrap_or_default().to_owned(),
            }));
        }
    }
    let count = properties.len() as u64;
    Ok(Json(ListQueuePropertiesResponse {
        is_success: true,
        message: String::new(),
        count,
        properties: properties.into_iter().skip(offset).take(limit).collect(),
    }))
}

async fn put(
    state: AppState,
    principal: Principal,
    project: String,
    name: String,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let project = principal.authorize(&project)?;
    let name = changeable_queue(&state, &name)?;
    let body: PutQueuePropertiesRequest = body.parse()?;
    let Some(given) = present(&body.properties).and_then(Value::as_object) else {
        return Err(ValidationError::new("properties is required: an object of DLI's keys").into());
    };
    let mut values = Map::new();
    let mut cidr = None;
    for (key, value) in given {
        if value.is_null() {
            continue;
        }
        if key == CIDR_KEY {
            cidr = Some(parse_queue_cidr("properties.network.cidrInVpc", value)?);
        } else {
            values.insert(key.clone(), property_value(key, value)?.into());
        }
    }
    if let Some(cidr) = cidr {
        set_queue_cidr(&state, &project, &name, Some(cidr)).await?;
    }
    change_queue(&state, &project, &name, |_, attributes| {
        let mut properties = attributes
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        properties.extend(values.clone());
        if !properties.is_empty() {
            attributes.insert("properties".into(), Value::Object(properties));
        }
        Ok(())
    })
    .await?;
    tracing::info!(project.id = %project, queue = name.as_str(), "queue properties set");
    Ok(Json(SuccessResponse::ok()))
}

/// `PUT /v3/{project_id}/queues/{queue_name}/properties`
#[utoipa::path(
    put,
    path = "/v3/{project_id}/queues/{queue_name}/properties",
    operation_id = "UpdateQueueProperty",
    tag = "queues",
    summary = "Set queue properties (the given keys; others are kept)",
    params(ProjectPath, QueuePath),
    request_body(content = PutQueuePropertiesRequest, content_type = "application/json"),
    responses((status = 200, description = "Set", body = SuccessResponse), ErrorResponses),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, name)): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    put(state, principal, project, name, body).await
}

twin! {
    /// `POST /v3/{project_id}/queues/{queue_name}/properties`
    #[utoipa::path(
        post,
        path = "/v3/{project_id}/queues/{queue_name}/properties",
        operation_id = "CreateQueueProperty",
        tag = "queues",
        summary = "Set queue properties (as PUT)",
        params(ProjectPath, QueuePath),
        request_body(content = PutQueuePropertiesRequest, content_type = "application/json"),
        responses((status = 200, description = "Set", body = SuccessResponse), ErrorResponses),
    )]
    pub async fn create = update(
        state: State<AppState>,
        principal: Principal,
        path: DliPath<(String, String)>,
        body: JsonBody,
    ) -> ApiResult<Json<SuccessResponse>>;
}

/// `DELETE /v3/{project_id}/queues/{queue_name}/properties`
#[utoipa::path(
    delete,
    path = "/v3/{project_id}/queues/{queue_name}/properties",
    operation_id = "DeleteQueueProperty",
    tag = "queues",
    summary = "Remove queue properties by key (unset ones are ignored)",
    params(ProjectPath, QueuePath),
    request_body(content = DeleteQueuePropertiesRequest, content_type = "application/json"),
    responses((status = 200, description = "Removed", body = SuccessResponse), ErrorResponses),
)]
pub async fn delete(
    State(state): State<AppState>,
    QueueChange {
        project,
        name,
        body,
    }: QueueChange<DeleteQueuePropertiesRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let keys: Vec<String> = present(&body.keys)
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter()
                .map(|key| key.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| ValidationError::new("keys is required: an array of property keys"))?;
    if keys.iter().any(|key| key == CIDR_KEY) {
        set_queue_cidr(&state, &project, &name, None).await?;
    }
    change_queue(&state, &project, &name, |_, attributes| {
        if let Some(Value::Object(properties)) = attributes.get_mut("properties") {
            for key in &keys {
                properties.shift_remove(key);
            }
            if properties.is_empty() {
                attributes.shift_remove("properties");
            }
        }
        Ok(())
    })
    .await?;
    tracing::info!(project.id = %project, queue = name.as_str(), keys = keys.len(), "queue properties removed");
    Ok(Json(SuccessResponse::ok()))
}
