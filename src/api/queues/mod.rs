//! DLI's queues: create, list, show and delete. A queue has no compute behind it here;
//! it exists so that it can be bound to connections (an unknown queue cannot be). The
//! fields DLI gives a queue (CU counts, charging, engine, ...) are validated, stored and
//! echoed. Queues declared with `serve --queue` are present in every project without
//! being stored, and cannot be deleted.

pub mod changes;
pub mod cidr_preflight;
pub mod properties;
pub mod types;

use std::fmt::Display;

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value};

use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{NamedTarget, ProjectRequest, ProjectTarget, parse_query};
use crate::api::queue_lookup::declared_queue;
use crate::api::queues::types::{
    CreateQueueRequest, CreateQueueResponse, ListQueuesQuery, ListQueuesResponse, QueueEcho,
    QueueItem, ShowQueueResponse,
};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::domain::{ProjectId, QueueName, Tag, TagFilter, Tags, ValidationError, now_millis};
use crate::store::{AgentRecord, CreateNamedOutcome, DeleteNamedOutcome, NewQueue, QueueRecord};

/// Most stored queues one project may have (declared ones not counted).
pub const MAX_QUEUES_PER_PROJECT: u32 = 1000;

/// The owner every queue and pool answers: dsconn has no users that own resources.
pub const OWNER: &str = "dsconn";

/// The type of a declared queue: DLI's default for a new queue and for ListQueues, so
/// that declared queues show in a plain `list_queues()`.
pub const DECLARED_QUEUE_TYPE: &str = "sql";

/// `queue_name` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct QueuePath {
    /// The queue's name (case-insensitive).
    pub queue_name: String,
}

// ---- Validation of the stored-and-echoed fields, shared with pools ----

/// An optional field that is not null.
pub(super) fn present(value: &Option<Value>) -> Option<&Value> {
    value.as_ref().filter(|value| !value.is_null())
}

pub(super) fn integer(
    field: &str,
    value: &Value,
    min: i64,
    max: i64,
) -> Result<i64, ValidationError> {
    value
        .as_i64()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| not_in_range(field, min, max))
}

/// A whole number in `min..=max` from a query parameter's text.
pub(super) fn whole_number(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<usize, ValidationError> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| not_in_range(field, min, max))
}

fn not_in_range(field: &str, min: impl Display, max: impl Display) -> ValidationError {
    ValidationError::new(format!(
        "{field} must be a whole number from {min} to {max}"
    ))
}

/// A string of at most `max` characters without control characters, whose characters
/// all pass `allowed`.
pub(super) fn text(
    field: &str,
    value: &Value,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, ValidationError> {
    let Some(text) = value.as_str() else {
        return Err(ValidationError::new(format!("{field} must be a string")));
    };
    if text.chars().count() > max || text.chars().any(|c| c.is_control() || !allowed(c)) {
        return Err(ValidationError::new(format!(
            "{field} must be at most {max} characters of the allowed set (see the API \
             reference), without control characters"
        )));
    }
    Ok(text.to_owned())
}

pub(super) fn any_char(_: char) -> bool {
    true
}

pub(super) fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn platform_char(c: char) -> bool {
    id_char(c) || c == '.'
}

/// One of a fixed set of words.
fn one_of(field: &str, value: &Value, words: &[&str]) -> Result<String, ValidationError> {
    match value.as_str() {
        Some(word) if words.contains(&word) => Ok(word.to_owned()),
        _ => Err(ValidationError::new(format!(
            "{field} must be one of {}",
            words.join(", ")
        ))),
    }
}

/// DLI tags (`[{"key", "value"}]`) under the rules of a connection's tags, as JSON.
pub(super) fn tags(field: &str, value: &Value) -> Result<Value, ValidationError> {
    let Some(items) = value.as_array() else {
        return Err(ValidationError::new(format!("{field} must be an array")));
    };
    let pairs = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let part = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ValidationError::new(format!("{field}[{index}].{name} must be a string"))
                    })
            };
            Ok((part("key")?, part("value")?))
        })
        .collect::<Result<Vec<_>, ValidationError>>()?;
    let tags = Tags::parse(&pairs)?;
    serde_json::to_value(tags.as_slice())
        .map_err(|_| ValidationError::new(format!("{field} cannot be stored")))
}

/// A JSON object of string values: at most `max_entries`, keys up to 128 and values up
/// to 256 characters.
pub(super) fn string_map(
    field: &str,
    value: &Value,
    max_entries: usize,
) -> Result<Value, ValidationError> {
    let refused = || {
        ValidationError::new(format!(
            "{field} must be an object of at most {max_entries} string values \
             (keys up to 128, values up to 256 characters)"
        ))
    };
    let Some(map) = value.as_object() else {
        return Err(refused());
    };
    if map.len() > max_entries {
        return Err(refused());
    }
    for (key, entry) in map {
        let fits = |text: &str, max: usize| {
            text.chars().count() <= max && !text.chars().any(char::is_control)
        };
        match entry.as_str() {
            Some(entry) if !key.is_empty() && fits(key, 128) && fits(entry, 256) => {}
            _ => return Err(refused()),
        }
    }
    Ok(value.clone())
}

/// Adds an optional field to a new queue's or pool's stored fields under its own name,
/// validated by `check`; an absent or null one is left out.
pub(super) fn insert_checked(
    attributes: &mut Map<String, Value>,
    field: &str,
    value: &Option<Value>,
    check: impl FnOnce(&Value) -> Result<Value, ValidationError>,
) -> Result<(), ValidationError> {
    if let Some(value) = present(value) {
        attributes.insert(field.into(), check(value)?);
    }
    Ok(())
}

/// The billing fields DLI gives queues and pools: `charging_mode` (1 to
/// `max_charging_mode`) and `enterprise_project_id`.
pub(super) fn insert_billing(
    attributes: &mut Map<String, Value>,
    charging_mode: &Option<Value>,
    max_charging_mode: i64,
    enterprise_project_id: &Option<Value>,
) -> Result<(), ValidationError> {
    insert_checked(attributes, "charging_mode", charging_mode, |value| {
        Ok(integer("charging_mode", value, 1, max_charging_mode)?.into())
    })?;
    insert_checked(
        attributes,
        "enterprise_project_id",
        enterprise_project_id,
        |value| Ok(text("enterprise_project_id", value, 128, id_char)?.into()),
    )
}

/// A new stored queue or pool: a fresh resource id, created now.
pub(super) fn new_named(
    project: ProjectId,
    name: QueueName,
    attributes: Map<String, Value>,
) -> NewQueue {
    NewQueue {
        project_id: project,
        name,
        resource_id: uuid::Uuid::new_v4().to_string(),
        attributes,
        create_time: now_millis(),
    }
}

const MAX_LABELS: usize = 10;
const MAX_LABEL_CHARS: usize = 256;

/// Validates a CreateQueue body into the new queue; `declared` names cannot be created.
fn validate_create(
    project: ProjectId,
    body: &CreateQueueRequest,
) -> Result<NewQueue, ValidationError> {
    let name = match present(&body.queue_name) {
        None => return Err(ValidationError::new("queue_name is required")),
        Some(Value::String(raw)) => QueueName::parse_new(raw)?,
        Some(_) => return Err(ValidationError::new("queue_name must be a string")),
    };
    if name.is_default() {
        return Err(ValidationError::new(
            "queue_name \"default\" is DLI's shared queue and cannot be created",
        ));
    }
    let mut attributes = Map::new();
    let cu_count =
        present(&body.cu_count).ok_or_else(|| ValidationError::new("cu_count is required"))?;
    attributes.insert(
        "cu_count".into(),
        integer("cu_count", cu_count, 1, 32000)?.into(),
    );
    let queue_type = match present(&body.queue_type) {
        None => "sql".to_owned(),
        Some(value) => one_of("queue_type", value, &["sql", "general"])?,
    };
    attributes.insert("queue_type".into(), queue_type.into());
    insert_checked(&mut attributes, "description", &body.description, |value| {
        Ok(text("description", value, 256, any_char)?.into())
    })?;
    insert_billing(
        &mut attributes,
        &body.charging_mode,
        2,
        &body.enterprise_project_id,
    )?;
    insert_checked(&mut attributes, "platform", &body.platform, |value| {
        Ok(text("platform", value, 64, platform_char)?.into())
    })?;
    insert_checked(
        &mut attributes,
        "resource_mode",
        &body.resource_mode,
        |value| Ok(integer("resource_mode", value, 0, 1)?.into()),
    )?;
    if let Some(value) = present(&body.labels) {
        let fits = value.as_array().is_some_and(|labels| {
            labels.len() <= MAX_LABELS
                && labels
                    .iter()
                    .all(|label| label.to_string().chars().count() <= MAX_LABEL_CHARS)
        });
        if !fits {
            return Err(ValidationError::new(format!(
                "labels must be an array of at most {MAX_LABELS} items, each at most \
                 {MAX_LABEL_CHARS} characters as JSON"
            )));
        }
        attributes.insert("labels".into(), value.clone());
    }
    insert_checked(&mut attributes, "feature", &body.feature, |value| {
        Ok(text("feature", value, 64, id_char)?.into())
    })?;
    insert_checked(&mut attributes, "tags", &body.tags, |value| {
        tags("tags", value)
    })?;
    if let Some(value) = present(&body.elastic_resource_pool_name) {
        let Some(raw) = value.as_str() else {
            return Err(ValidationError::new(
                "elastic_resource_pool_name must be a string",
            ));
        };
        let pool = crate::domain::parse_dli_name("elastic_resource_pool_name", raw)?;
        attributes.insert("elastic_resource_pool_name".into(), pool.into());
    }
    insert_checked(&mut attributes, "properties", &body.properties, |value| {
        string_map("properties", value, 20)
    })?;
    insert_checked(&mut attributes, "engine", &body.engine, |value| {
        Ok(one_of("engine", value, &["spark", "hetuEngine"])?.into())
    })?;
    Ok(new_named(project, name, attributes))
}

// ---- Answers ----

fn attr_str(attributes: &Map<String, Value>, key: &str) -> Option<String> {
    attributes
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn attr_i32(attributes: &Map<String, Value>, key: &str) -> Option<i32> {
    attributes
        .get(key)
        .and_then(Value::as_i64)
        .and_then(|number| i32::try_from(number).ok())
}

fn echo_of(attributes: &Map<String, Value>) -> QueueEcho {
    QueueEcho {
        description: attr_str(attributes, "description"),
        charging_mode: attr_i32(attributes, "charging_mode"),
        enterprise_project_id: attr_str(attributes, "enterprise_project_id"),
        resource_mode: attr_i32(attributes, "resource_mode"),
        platform: attr_str(attributes, "platform"),
        feature: attr_str(attributes, "feature"),
        elastic_resource_pool_name: attr_str(attributes, "elastic_resource_pool_name"),
        engine: attr_str(attributes, "engine"),
        labels: attributes.get("labels").map(Value::to_string),
        tags: attributes
            .get("tags")
            .and_then(|tags| serde_json::from_value::<Vec<Tag>>(tags.clone()).ok()),
        properties: attributes
            .get("properties")
            .and_then(Value::as_object)
            .cloned(),
    }
}

/// A queue as answered: a stored one, or (no record) a declared one.
struct QueueView {
    name: String,
    create_time: i64,
    resource_id: Option<String>,
    attributes: Map<String, Value>,
    declared: bool,
}

impl QueueView {
    fn stored(record: QueueRecord) -> Self {
        Self {
            name: record.name,
            create_time: record.create_time,
            resource_id: Some(record.resource_id),
            attributes: record.attributes,
            declared: false,
        }
    }

    fn declared(name: &QueueName) -> Self {
        Self {
            name: name.as_str().to_owned(),
            create_time: 0,
            resource_id: None,
            attributes: Map::new(),
            declared: true,
        }
    }

    fn queue_type(&self) -> String {
        attr_str(&self.attributes, "queue_type").unwrap_or_else(|| DECLARED_QUEUE_TYPE.to_owned())
    }

    fn item(self, agents: &[AgentRecord], pools: &[crate::store::PoolRecord]) -> QueueItem {
        let cidr_in_vpc = match &self.resource_id {
            Some(resource_id) => crate::api::queues::cidr_preflight::queue_network(
                &QueueRecord {
                    name: self.name.clone(),
                    resource_id: resource_id.clone(),
                    attributes: self.attributes.clone(),
                    create_time: self.create_time,
                },
                pools,
            ),
            None => crate::domain::DEFAULT_COMPUTE_CIDR,
        }
        .to_string();
        QueueItem {
            cidr_in_vpc,
            agents: crate::api::agents::agents_of(agents, &self.name),
            queue_type: self.queue_type(),
            cu_count: attr_i32(&self.attributes, "cu_count"),
            echo: echo_of(&self.attributes),
            queue_name: self.name,
            owner: OWNER.to_owned(),
            create_time: self.create_time,
            resource_id: self.resource_id,
            declared: self.declared,
        }
    }

    fn show(self, agents: &[AgentRecord]) -> ShowQueueResponse {
        let agents = crate::api::agents::agents_of(agents, &self.name);
        let queue_type = self.queue_type();
        let cu_count = attr_i32(&self.attributes, "cu_count");
        let echo = echo_of(&self.attributes);
        ShowQueueResponse {
            is_success: true,
            message: String::new(),
            queue_name: self.name,
            owner: OWNER.to_owned(),
            create_time: self.create_time,
            queue_type,
            cu_count,
            charging_mode: echo.charging_mode,
            resource_id: self.resource_id,
            description: echo.description,
            enterprise_project_id: echo.enterprise_project_id,
            resource_mode: echo.resource_mode,
            elastic_resource_pool_name: echo.elastic_resource_pool_name,
            platform: echo.platform,
            feature: echo.feature,
            engine: echo.engine,
            labels: echo.labels,
            tags: echo.tags,
            properties: echo.properties,
            declared: self.declared,
            agents,
        }
    }
}

/// A path's queue name; one that cannot be a queue name names no queue.
pub(super) fn path_queue(raw: &str) -> ApiResult<QueueName> {
    QueueName::parse(raw).map_err(|_| ApiError::QueueNotFound(raw.chars().take(128).collect()))
}

// ---- Handlers ----

/// `POST /v1.0/{project_id}/queues`
#[utoipa::path(
    post,
    path = "/v1.0/{project_id}/queues",
    operation_id = "CreateQueue",
    tag = "queues",
    summary = "Create a queue (its DLI fields are stored and echoed)",
    params(ProjectPath),
    request_body(content = CreateQueueRequest, content_type = "application/json"),
    responses((status = 200, description = "Created (200, not DLI's documented 201: Terraform's provider accepts only 200)", body = CreateQueueResponse), ErrorResponses),
)]
pub async fn create(
    State(state): State<AppState>,
    ProjectRequest { project, body, .. }: ProjectRequest,
) -> ApiResult<Json<CreateQueueResponse>> {
    let new = validate_create(project, &body.parse()?)?;
    let taken = || {
        ApiError::NameTaken(format!(
            "a queue named {} already exists",
            new.name.as_str()
        ))
    };
    if declared_queue(&state, &new.name).is_some() {
        return Err(taken());
    }
    match state
        .store
        .create_queue(&new, MAX_QUEUES_PER_PROJECT)
        .await?
    {
        CreateNamedOutcome::Created => {}
        CreateNamedOutcome::AlreadyExists => return Err(taken()),
        CreateNamedOutcome::CapReached => {
            return Err(ApiError::CapReached(format!(
                "the project already has the maximum of {MAX_QUEUES_PER_PROJECT} queues; \
                 delete some first"
            )));
        }
    }
    tracing::info!(project.id = %new.project_id, queue = new.name.as_str(), "queue created");
    Ok(Json(CreateQueueResponse {
        is_success: true,
        message: String::new(),
        queue_name: new.name.as_str().to_owned(),
    }))
}

/// Largest `page-size` of ListQueues.
const MAX_PAGE_SIZE: usize = 1000;

fn page_param(
    field: &str,
    raw: Option<&str>,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ValidationError> {
    raw.map(|raw| whole_number(field, raw, min, max))
        .transpose()
}

fn parse_flag(field: &str, raw: &Option<String>) -> Result<(), ValidationError> {
    match raw.as_deref() {
        None | Some("true") | Some("false") => Ok(()),
        Some(_) => Err(ValidationError::new(format!(
            "{field} must be true or false"
        ))),
    }
}

/// `GET /v1.0/{project_id}/queues`
#[utoipa::path(
    get,
    path = "/v1.0/{project_id}/queues",
    operation_id = "ListQueues",
    tag = "queues",
    summary = "List the project's queues, declared ones first, then stored ones by name",
    params(ProjectPath, ListQueuesQuery),
    responses(
        (status = 200, description = "The queues of the requested type (`sql` unless `queue_type` says otherwise)",
            body = ListQueuesResponse),
        ErrorResponses,
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListQueuesResponse>> {
    let query: ListQueuesQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let wanted_type = match query.queue_type.as_deref() {
        None => "sql",
        Some(kind @ ("sql" | "general" | "all")) => kind,
        Some(_) => {
            return Err(ValidationError::new("queue_type must be sql, general or all").into());
        }
    };
    let tags = TagFilter::parse(query.tags.as_deref().unwrap_or_default())?;
    parse_flag("with-charge-info", &query.with_charge_info)?;
    parse_flag("with-priv", &query.with_priv)?;
    let declared = &state.settings.declared_queues;
    let stored = state.store.list_queues(&project).await?;
    let views = declared.iter().map(QueueView::declared).chain(
        stored
            .into_iter()
            // A declared name hides a stored queue of the same name.
            .filter(|record| !declared.iter().any(|queue| queue.as_str() == record.name))
            .map(QueueView::stored),
    );
    let agents = crate::api::queue_lookup::online_agents(&state, &project).await?;
    let pools = state.store.list_pools(&project).await?;
    let page_size = page_param("page-size", query.page_size.as_deref(), 1, MAX_PAGE_SIZE)?;
    let current_page = page_param(
        "current-page",
        query.current_page.as_deref(),
        1,
        u32::MAX as usize,
    )?;
    let matching = views
        .map(|view| view.item(&agents, &pools))
        .filter(|item| wanted_type == "all" || item.queue_type == wanted_type)
        .filter(|item| tags.matches(item.echo.tags.as_deref().unwrap_or_default()));
    // Without page-size, every queue; with it, one page (current-page, from 1).
    let queues = match page_size {
        None => matching.collect(),
        Some(size) => matching
            .skip(size.saturating_mul(current_page.unwrap_or(1).saturating_sub(1)))
            .take(size)
            .collect(),
    };
    Ok(Json(ListQueuesResponse {
        is_success: true,
        message: String::new(),
        queues,
    }))
}

/// `GET /v1.0/{project_id}/queues/{queue_name}`
#[utoipa::path(
    get,
    path = "/v1.0/{project_id}/queues/{queue_name}",
    operation_id = "ShowQueue",
    tag = "queues",
    summary = "Show one queue",
    params(ProjectPath, QueuePath),
    responses((status = 200, description = "The queue", body = ShowQueueResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    NamedTarget { project, name }: NamedTarget,
) -> ApiResult<Json<ShowQueueResponse>> {
    let name = path_queue(&name)?;
    let view = match declared_queue(&state, &name) {
        Some(declared) => QueueView::declared(declared),
        None => QueueView::stored(
            state
                .store
                .get_queue(&project, name.as_str())
                .await?
                .ok_or_else(|| ApiError::QueueNotFound(name.as_str().to_owned()))?,
        ),
    };
    let agents = crate::api::queue_lookup::online_agents(&state, &project).await?;
    Ok(Json(view.show(&agents)))
}

/// `DELETE /v1.0/{project_id}/queues/{queue_name}`
#[utoipa::path(
    delete,
    path = "/v1.0/{project_id}/queues/{queue_name}",
    operation_id = "DeleteQueue",
    tag = "queues",
    summary = "Delete a queue that no live connection has bound (declared queues cannot be deleted)",
    params(ProjectPath, QueuePath),
    responses((status = 200, description = "Deleted", body = SuccessResponse), ErrorResponses),
)]
pub async fn delete(
    State(state): State<AppState>,
    NamedTarget { project, name }: NamedTarget,
) -> ApiResult<Json<SuccessResponse>> {
    let name = path_queue(&name)?;
    if declared_queue(&state, &name).is_some() {
        return Err(ApiError::StateConflict(format!(
            "queue {} is declared by the server's configuration (--queue) and cannot be deleted",
            name.as_str()
        )));
    }
    match state.store.delete_queue(&project, name.as_str()).await? {
        DeleteNamedOutcome::Deleted => {}
        DeleteNamedOutcome::NotFound => {
            return Err(ApiError::QueueNotFound(name.as_str().to_owned()));
        }
        DeleteNamedOutcome::Bound(connections) => {
            return Err(ApiError::StateConflict(format!(
                "queue {} is bound to {connections} connection(s); disassociate it from them \
                 first",
                name.as_str()
            )));
        }
    }
    tracing::info!(project.id = %project, queue = name.as_str(), "queue deleted");
    Ok(Json(SuccessResponse::ok()))
}
