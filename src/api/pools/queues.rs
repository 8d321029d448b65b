//! A pool's queues (issue 27): the list with their scaling policies, moving a queue into
//! a pool, the policies of a queue in a pool, and a pool's update. A queue is in a pool
//! when its stored `elastic_resource_pool_name` names it (set at create or by the move).
//! Policies are validated, stored and echoed: nothing scales behind them here.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{DliPath, JsonBody, NamedTarget, OrEmpty, parse_query};
use crate::api::pools::types::{
    AssociatePoolQueueRequest, ListPoolQueuesQuery, ListPoolQueuesResponse, PoolQueueItem,
    QueueScalingPolicy, UpdatePoolQueueRequest, UpdatePoolRequest,
};
use crate::api::pools::{PoolPath, PoolRequest, parse_page, path_pool};
use crate::api::queues::changes::{change_named, change_queue, changeable_queue};
use crate::api::queues::{OWNER, QueuePath, any_char, integer, present, string_map, text};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ProjectId, QueueName, ValidationError};
use crate::store::{NamedTable, PoolRecord};

/// Most scaling policies of one queue.
const MAX_POLICIES: usize = 24;

/// The stored queue attribute that holds the policies.
const POLICIES: &str = "queue_scaling_policies";

async fn require_pool(
    state: &AppState,
    project: &ProjectId,
    pool: &QueueName,
) -> ApiResult<PoolRecord> {
    state
        .store
        .list_pools(project)
        .await?
        .into_iter()
        .find(|record| record.name == pool.as_str())
        .ok_or_else(|| ApiError::PoolNotFound(pool.as_str().to_owned()))
}

/// `HH:MM` from 00:00 to 24:00, as minutes.
fn minutes(field: &str, value: &Value) -> Result<(String, u32), ValidationError> {
    let refused =
        || ValidationError::new(format!("{field} must be a time HH:MM from 00:00 to 24:00"));
    let raw = value.as_str().ok_or_else(refused)?;
    let (hours, mins) = raw.split_once(':').ok_or_else(refused)?;
    let digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(mins) {
        return Err(refused());
    }
    let (hours, mins): (u32, u32) = (
        hours.parse().map_err(|_| refused())?,
        mins.parse().map_err(|_| refused())?,
    );
    let total = hours * 60 + mins;
    if mins > 59 || total > 24 * 60 {
        return Err(refused());
    }
    Ok((raw.to_owned(), total))
}

/// Validates `queue_scaling_policies`: each field present and in range, min_cu <= max_cu,
/// start before stop, and no two policies' periods overlapping.
fn parse_policies(value: &Value) -> Result<Vec<QueueScalingPolicy>, ValidationError> {
    let items = value
        .as_array()
        .filter(|items| items.len() <= MAX_POLICIES)
        .ok_or_else(|| {
            ValidationError::new(format!(
                "queue_scaling_policies must be an array of at most {MAX_POLICIES} policies"
            ))
        })?;
    let mut periods: Vec<(u32, u32)> = Vec::new();
    let mut policies = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let field = |name: &str| format!("queue_scaling_policies[{index}].{name}");
        let get = |name: &str| {
            item.get(name)
                .filter(|value| !value.is_null())
                .ok_or_else(|| ValidationError::new(format!("{} is required", field(name))))
        };
        let priority = integer(&field("priority"), get("priority")?, 1, 100)?;
        let (start, from) = minutes(&field("impact_start_time"), get("impact_start_time")?)?;
        let (stop, to) = minutes(&field("impact_stop_time"), get("impact_stop_time")?)?;
        let min_cu = integer(&field("min_cu"), get("min_cu")?, 0, 32000)?;
        let max_cu = integer(&field("max_cu"), get("max_cu")?, 0, 32000)?;
        if min_cu > max_cu {
            return Err(ValidationError::new(format!(
                "{} must not be more than {}",
                field("min_cu"),
                field("max_cu")
            )));
        }
        if from >= to {
            return Err(ValidationError::new(format!(
                "{} must be before {}",
                field("impact_start_time"),
                field("impact_stop_time")
            )));
        }
        if periods.iter().any(|&(a, b)| from < b && a < to) {
            return Err(ValidationError::new(format!(
                "the period of queue_scaling_policies[{index}] overlaps another policy's"
            )));
        }
        let inherit = match item.get("inherit_elastic_resource_pool_max_cu") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(flag)) => Some(*flag),
            Some(_) => {
                return Err(ValidationError::new(format!(
                    "{} must be true or false",
                    field("inherit_elastic_resource_pool_max_cu")
                )));
            }
        };
        periods.push((from, to));
        let narrow = |n: i64| i32::try_from(n).unwrap_or_default();
        policies.push(QueueScalingPolicy {
            priority: narrow(priority),
            impact_start_time: start,
            impact_stop_time: stop,
            min_cu: narrow(min_cu),
            max_cu: narrow(max_cu),
            inherit_elastic_resource_pool_max_cu: inherit,
        });
    }
    Ok(policies)
}

/// The stored policies of a queue (none stored: none).
fn stored_policies(attributes: &Map<String, Value>) -> Vec<QueueScalingPolicy> {
    attributes
        .get(POLICIES)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
        .unwrap_or_default()
}

/// `GET /v3/{project_id}/elastic-resource-pools/{pool}/queues`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}/queues",
    operation_id = "ListElasticResourcePoolQueues",
    tag = "queues",
    summary = "List a pool's queues with their scaling policies, by name",
    params(ProjectPath, PoolPath, ListPoolQueuesQuery),
    responses((status = 200, description = "The pool's queues", body = ListPoolQueuesResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    NamedTarget {
        project,
        name: pool,
    }: NamedTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListPoolQueuesResponse>> {
    let pool = path_pool(&pool)?;
    let query: ListPoolQueuesQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let (limit, offset) = parse_page(query.limit.as_deref(), query.offset.as_deref())?;
    let wanted = query
        .queue_name
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(str::to_ascii_lowercase);
    require_pool(&state, &project, &pool).await?;
    let matching: Vec<PoolQueueItem> = state
        .store
        .list_queues(&project)
        .await?
        .into_iter()
        .filter(|queue| {
            queue
                .attributes
                .get("elastic_resource_pool_name")
                .and_then(Value::as_str)
                == Some(pool.as_str())
        })
        .filter(|queue| wanted.as_deref().is_none_or(|name| queue.name == name))
        .map(|queue| {
            let text = |key: &str, default: &str| {
                queue
                    .attributes
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or(default)
                    .to_owned()
            };
            PoolQueueItem {
                enterprise_project_id: text("enterprise_project_id", "0"),
                queue_type: text("queue_type", "sql"),
                engine: text("engine", "spark"),
                queue_scaling_policies: stored_policies(&queue.attributes),
                owner: OWNER.to_owned(),
                create_time: queue.create_time,
                queue_name: queue.name,
            }
        })
        .collect();
    Ok(Json(ListPoolQueuesResponse {
        is_success: true,
        message: String::new(),
        count: matching.len() as u64,
        queues: matching.into_iter().skip(offset).take(limit).collect(),
    }))
}

/// `POST /v3/{project_id}/elastic-resource-pools/{pool}/queues`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}/queues",
    operation_id = "AssociateQueueToElasticResourcePool",
    tag = "queues",
    summary = "Move a queue that is in no pool into this pool",
    params(ProjectPath, PoolPath),
    request_body(content = AssociatePoolQueueRequest, content_type = "application/json"),
    responses((status = 200, description = "Moved", body = SuccessResponse), ErrorResponses),
)]
pub async fn associate(
    State(state): State<AppState>,
    PoolRequest {
        project,
        pool,
        body,
    }: PoolRequest<AssociatePoolQueueRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let raw = match present(&body.queue_name) {
        None => return Err(ValidationError::new("queue_name is required").into()),
        Some(Value::String(raw)) => raw.clone(),
        Some(_) => return Err(ValidationError::new("queue_name must be a string").into()),
    };
    let queue = changeable_queue(&state, &raw)?;
    require_pool(&state, &project, &pool).await?;
    // A queue bound to enhanced connections keeps its network: moving it would change it.
    let bound = state
        .store
        .count_enhanced_bound(&project, crate::store::enhanced::KIND_QUEUE, queue.as_str())
        .await?;
    if bound > 0 {
        return Err(ApiError::StateConflict(format!(
            "queue {} is bound to {bound} enhanced connection(s); disassociate it before \
             moving it into a pool",
            queue.as_str()
        )));
    }
    change_queue(&state, &project, &queue, |record, attributes| {
        match attributes
            .get("elastic_resource_pool_name")
            .and_then(Value::as_str)
        {
            Some(current) if current == pool.as_str() => {}
            Some(current) => {
                return Err(ApiError::StateConflict(format!(
                    "queue {} is already in elastic resource pool {current}",
                    record.name
                )));
            }
            None => {
                attributes.insert(
                    "elastic_resource_pool_name".into(),
                    pool.as_str().to_owned().into(),
                );
            }
        }
        Ok(())
    })
    .await?;
    tracing::info!(project.id = %project, queue = queue.as_str(), pool = pool.as_str(), "queue moved into pool");
    Ok(Json(SuccessResponse::ok()))
}

/// `PUT /v3/{project_id}/elastic-resource-pools/{pool}/queues/{queue}`
#[utoipa::path(
    put,
    path = "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}/queues/{queue_name}",
    operation_id = "UpdateElasticResourcePoolQueue",
    tag = "queues",
    summary = "Replace the scaling policies of a queue in this pool (stored and echoed)",
    params(ProjectPath, PoolPath, QueuePath),
    request_body(content = UpdatePoolQueueRequest, content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = SuccessResponse), ErrorResponses),
)]
pub async fn update_policies(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, pool, queue)): DliPath<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let project = principal.authorize(&project)?;
    let pool = path_pool(&pool)?;
    let queue = changeable_queue(&state, &queue)?;
    let body: UpdatePoolQueueRequest = body.parse()?;
    let policies = present(&body.queue_scaling_policies)
        .ok_or_else(|| ValidationError::new("queue_scaling_policies is required"))?;
    let policies = parse_policies(policies)?;
    let stored = serde_json::to_value(&policies)
        .map_err(|_| ValidationError::new("queue_scaling_policies cannot be stored"))?;
    require_pool(&state, &project, &pool).await?;
    change_queue(&state, &project, &queue, |record, attributes| {
        if attributes
            .get("elastic_resource_pool_name")
            .and_then(Value::as_str)
            != Some(pool.as_str())
        {
            return Err(ApiError::InvalidRequest(format!(
                "queue {} is not in elastic resource pool {}",
                record.name,
                pool.as_str()
            )));
        }
        attributes.insert(POLICIES.into(), stored.clone());
        Ok(())
    })
    .await?;
    tracing::info!(project.id = %project, queue = queue.as_str(), pool = pool.as_str(), policies = policies.len(), "queue scaling policies replaced");
    Ok(Json(SuccessResponse::ok()))
}

/// `PUT /v3/{project_id}/elastic-resource-pools/{pool}`
#[utoipa::path(
    put,
    path = "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}",
    operation_id = "UpdateElasticResourcePool",
    tag = "queues",
    summary = "Change a pool's description, CU range or label (stored and echoed)",
    params(ProjectPath, PoolPath),
    request_body(content = UpdatePoolRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = SuccessResponse), ErrorResponses),
)]
pub async fn update_pool(
    State(state): State<AppState>,
    PoolRequest {
        project,
        pool,
        body,
    }: PoolRequest<OrEmpty<UpdatePoolRequest>>,
) -> ApiResult<Json<SuccessResponse>> {
    let OrEmpty(body) = body;
    let cu = |field: &str, value: &Option<Value>| {
        present(value)
            .map(|value| integer(field, value, 16, 32000))
            .transpose()
    };
    let max_cu = cu("max_cu", &body.max_cu)?;
    let min_cu = cu("min_cu", &body.min_cu)?;
    let description = present(&body.description)
        .map(|value| text("description", value, 256, any_char))
        .transpose()?;
    let label = present(&body.label)
        .map(|value| string_map("label", value, 10))
        .transpose()?;
    change_named(
        &state,
        NamedTable::Pools,
        &project,
        pool.as_str(),
        |_, attributes| {
            if let Some(max) = max_cu {
                attributes.insert("max_cu".into(), max.into());
            }
            if let Some(min) = min_cu {
                attributes.insert("min_cu".into(), min.into());
            }
            let (min, max) = (
                attributes.get("min_cu").and_then(Value::as_i64),
                attributes.get("max_cu").and_then(Value::as_i64),
            );
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err(ValidationError::new(format!(
                    "min_cu ({min}) must not be more than max_cu ({max})"
                ))
                .into());
            }
            if let Some(description) = &description {
                attributes.insert("description".into(), description.clone().into());
            }
            if let Some(label) = &label {
                attributes.insert("label".into(), label.clone());
            }
            attributes.insert("update_time".into(), crate::domain::now_millis().into());
            Ok(())
        },
    )
    .await?;
    tracing::info!(project.id = %project, pool = pool.as_str(), "elastic resource pool updated");
    Ok(Json(SuccessResponse::ok()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(start: &str, stop: &str) -> Value {
        json!({"priority": 1, "impact_start_time": start, "impact_stop_time": stop,
               "min_cu": 16, "max_cu": 64})
    }

    #[test]
    fn disjoint_policies_are_kept_in_order() {
        let policies = parse_policies(&json!([policy("00:00", "09:00"), policy("09:00", "24:00")]))
            .expect("valid");
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[1].impact_stop_time, "24:00");
    }

    #[rstest::rstest]
    #[case(json!([policy("00:00", "10:00"), policy("09:00", "24:00")]))]
    #[case(json!([policy("10:00", "09:00")]))]
    #[case(json!([policy("25:00", "26:00")]))]
    #[case(json!([policy("9:00", "10:00")]))]
    #[case(json!([{"priority": 1, "impact_start_time": "00:00", "impact_stop_time": "01:00",
                   "min_cu": 64, "max_cu": 16}]))]
    #[case(json!([{"priority": 1}]))]
    #[case(json!({}))]
    fn bad_policies_are_refused(#[case] value: Value) {
        assert!(parse_policies(&value).is_err(), "{value}");
    }
}
