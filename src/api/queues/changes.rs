//! Changes of a stored queue or pool after its create (issue 27): the queue action
//! (scale out/in, restart) and the queue's CIDR. Nothing computes behind a queue here:
//! a scale changes the stored `cu_count` at once (ShowQueue's `cuCount` answers it, which
//! is what Terraform polls), a restart changes nothing. Both are stored and echoed.
//!
//! Every change is a read, a pure edit, and a compare-and-swap of the stored fields
//! ([`change_named`]), so that concurrent changes of one queue never lose one.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{FromJsonBody, NamedRequest, extract_from};
use crate::api::queues::types::{QueueActionRequest, QueueActionResponse, UpdateQueueCidrRequest};
use crate::api::queues::{QueuePath, integer, path_queue, present};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ProjectId, QueueName, ValidationError};
use crate::store::{NamedKey, NamedTable, QueueRecord};

/// Attempts of a compare-and-swap before the change is refused as too contended.
const MAX_SWAP_ATTEMPTS: u32 = 64;

/// The most a lost compare-and-swap waits before it reads again (a random part of it, so
/// that writers that lost together do not meet again).
const MAX_SWAP_BACKOFF: std::time::Duration = std::time::Duration::from_millis(4);

/// Largest CU count of a queue (as at create).
const MAX_CU: i64 = 32000;

/// The private ranges DLI lets a queue's CIDR be in.
const QUEUE_CIDR_RANGES: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// Reads the stored queue or pool `name`, applies `edit` to a copy of its fields, and
/// stores the result if nothing changed it meanwhile (else reads again). `edit` refuses with an
/// error; it sees the record as read. Declared queues are not stored: callers refuse them
/// first.
pub async fn change_named<F>(
    state: &AppState,
    table: NamedTable,
    project: &ProjectId,
    name: &str,
    edit: F,
) -> ApiResult<QueueRecord>
where
    F: Fn(&QueueRecord, &mut Map<String, Value>) -> ApiResult<()>,
{
    for _ in 0..MAX_SWAP_ATTEMPTS {
        let record = match table {
            NamedTable::Queues => state.store.get_queue(project, name).await?,
            NamedTable::Pools => state
                .store
                .list_pools(project)
                .await?
                .into_iter()
                .find(|pool| pool.name == name),
        };
        let Some(record) = record else {
            return Err(match table {
                NamedTable::Queues => ApiError::QueueNotFound(name.to_owned()),
                NamedTable::Pools => ApiError::PoolNotFound(name.to_owned()),
            });
        };
        let mut attributes = record.attributes.clone();
        edit(&record, &mut attributes)?;
        if attributes == record.attributes {
            return Ok(record);
        }
        if state
            .store
            .swap_named_attributes(
                NamedKey {
                    table,
                    project,
                    name,
                },
                &record.attributes,
                &attributes,
            )
            .await?
        {
            return Ok(QueueRecord {
                attributes,
                ..record
            });
        }
        let jitter = MAX_SWAP_BACKOFF.mul_f64(rand::random::<f64>());
        tokio::time::sleep(jitter).await;
    }
    Err(ApiError::StateConflict(format!(
        "{name} is being changed by other requests; try again"
    )))
}

/// [`change_named`] of a stored queue.
pub async fn change_queue<F>(
    state: &AppState,
    project: &ProjectId,
    name: &QueueName,
    edit: F,
) -> ApiResult<QueueRecord>
where
    F: Fn(&QueueRecord, &mut Map<String, Value>) -> ApiResult<()>,
{
    change_named(state, NamedTable::Queues, project, name.as_str(), edit).await
}

/// A stored queue of the path; a declared one cannot change (DLI.0007).
pub fn changeable_queue(state: &AppState, raw: &str) -> ApiResult<QueueName> {
    let name = path_queue(raw)?;
    if state.settings.declared_queues.contains(&name) {
        return Err(ApiError::StateConflict(format!(
            "queue {} is declared by the server's configuration (--queue) and cannot be changed",
            name.as_str()
        )));
    }
    Ok(name)
}

/// [`NamedRequest`] of a queue that may change ([`changeable_queue`]), then its body
/// parsed: where every handler that changes one stored queue starts.
pub struct QueueChange<T> {
    pub project: ProjectId,
    pub name: QueueName,
    pub body: T,
}

extract_from!(request<T: FromJsonBody> QueueChange<T> = NamedRequest, |request, state| {
    let name = changeable_queue(state, &request.name)?;
    Ok(Self {
        project: request.project,
        name,
        body: T::from_json_body(&request.body)?,
    })
});

/// The CU change an action asks for: +n, -n, or 0 for a restart.
fn cu_delta(body: &QueueActionRequest) -> Result<(String, i64), ValidationError> {
    let action = match present(&body.action).and_then(Value::as_str) {
        Some(action @ ("restart" | "scale_out" | "scale_in")) => action.to_owned(),
        _ => {
            return Err(ValidationError::new(
                "action is required: restart, scale_out or scale_in",
            ));
        }
    };
    if let Some(force) = present(&body.force)
        && !force.is_boolean()
    {
        return Err(ValidationError::new("force must be true or false"));
    }
    let count = match present(&body.cu_count) {
        None if action == "restart" => 0,
        None => {
            return Err(ValidationError::new(format!(
                "cu_count is required for {action}"
            )));
        }
        Some(value) => integer("cu_count", value, 1, MAX_CU)?,
    };
    let delta = match action.as_str() {
        "scale_out" => count,
        "scale_in" => -count,
        _ => 0,
    };
    Ok((action, delta))
}

/// `PUT /v1.0/{project_id}/queues/{queue_name}/action`
#[utoipa::path(
    put,
    path = "/v1.0/{project_id}/queues/{queue_name}/action",
    operation_id = "RunQueueAction",
    tag = "queues",
    summary = "Scale a queue out or in (its stored cu_count changes at once) or restart it (no effect)",
    params(ProjectPath, QueuePath),
    request_body(content = QueueActionRequest, content_type = "application/json"),
    responses((status = 200, description = "Done", body = QueueActionResponse), ErrorResponses),
)]
pub async fn action(
    State(state): State<AppState>,
    QueueChange {
        project,
        name,
        body,
    }: QueueChange<QueueActionRequest>,
) -> ApiResult<Json<QueueActionResponse>> {
    let (action, delta) = cu_delta(&body)?;
    let changed = change_queue(&state, &project, &name, |record, attributes| {
        if delta == 0 {
            return Ok(());
        }
        let current = attributes
            .get("cu_count")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let next = current.saturating_add(delta);
        if !(1..=MAX_CU).contains(&next) {
            return Err(ValidationError::new(format!(
                "{action} by {} would leave queue {} with {next} CUs; a queue has 1 to \
                     {MAX_CU}",
                delta.abs(),
                record.name
            ))
            .into());
        }
        attributes.insert("cu_count".into(), next.into());
        Ok(())
    })
    .await?;
    tracing::info!(project.id = %project, queue = changed.name, action, "queue action");
    Ok(Json(QueueActionResponse {
        is_success: true,
        message: String::new(),
        queue_name: changed.name,
        job_id: uuid::Uuid::new_v4().to_string(),
        result: true,
    }))
}

/// A queue CIDR as DLI accepts it: IPv4, inside one of [`QUEUE_CIDR_RANGES`].
pub fn parse_queue_cidr(field: &str, value: &Value) -> Result<ipnet::Ipv4Net, ValidationError> {
    let refused = || {
        ValidationError::new(format!(
            "{field} must be an IPv4 CIDR inside {}",
            QUEUE_CIDR_RANGES.join(", ")
        ))
    };
    // The one address parser (no spaces, no leading zeros), as everywhere an address is read.
    let net = match value.as_str().map(crate::domain::parse_network) {
        Some(Ok(ipnet::IpNet::V4(net))) => net,
        _ => return Err(refused()),
    };
    let inside = QUEUE_CIDR_RANGES.iter().any(|range| {
        range
            .parse::<ipnet::Ipv4Net>()
            .is_ok_and(|range| range.contains(&net))
    });
    if !inside {
        return Err(refused());
    }
    Ok(net.trunc())
}

/// Sets (`Some`) or clears a stored queue's CIDR after the pre-flight check; shared by
/// UpdateQueueCidr and the `network.cidrInVpc` property.
pub async fn set_queue_cidr(
    state: &AppState,
    project: &ProjectId,
    name: &QueueName,
    cidr: Option<ipnet::Ipv4Net>,
) -> ApiResult<()> {
    let Some(queue) = state.store.get_queue(project, name.as_str()).await? else {
        return Err(ApiError::QueueNotFound(name.as_str().to_owned()));
    };
    let current = crate::api::queues::cidr_preflight::stored_cidr(&queue.attributes);
    if current == cidr {
        return Ok(());
    }
    let target = cidr.unwrap_or(crate::domain::DEFAULT_COMPUTE_CIDR);
    crate::api::queues::cidr_preflight::check_queue_cidr_change(state, project, &queue, target)
        .await?;
    change_queue(state, project, name, |_, attributes| {
        match cidr {
            Some(net) => attributes.insert("cidr_in_vpc".into(), net.to_string().into()),
            None => attributes.shift_remove("cidr_in_vpc"),
        };
        Ok(())
    })
    .await?;
    tracing::info!(project.id = %project, queue = name.as_str(), cidr = %target, "queue CIDR changed");
    Ok(())
}

/// `PUT /v1.0/{project_id}/queues/{queue_name}`
#[utoipa::path(
    put,
    path = "/v1.0/{project_id}/queues/{queue_name}",
    operation_id = "UpdateQueueCidr",
    tag = "queues",
    summary = "Change a queue's CIDR (refused while an enhanced connection binds it, or if it overlaps a network it connects to)",
    params(ProjectPath, QueuePath),
    request_body(content = UpdateQueueCidrRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed", body = SuccessResponse), ErrorResponses),
)]
pub async fn update_cidr(
    State(state): State<AppState>,
    QueueChange {
        project,
        name,
        body,
    }: QueueChange<UpdateQueueCidrRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let cidr = present(&body.cidr_in_vpc)
        .ok_or_else(|| ValidationError::new("cidr_in_vpc is required"))?;
    let cidr = parse_queue_cidr("cidr_in_vpc", cidr)?;
    set_queue_cidr(&state, &project, &name, Some(cidr)).await?;
    Ok(Json(SuccessResponse::ok()))
}
