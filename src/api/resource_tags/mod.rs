//! DLI's v3 tag API (BatchCreateResourceTags, BatchDeleteResourceTags, ShowResourceTags,
//! ListResourcesTags, ListResourcesByTags, CountResourcesByTags) for the one resource type
//! dsconn has, `dli_enhanced_datasource`: the tags of enhanced connections after create.
//! Tags follow the rules of a classic connection's tags ([`crate::domain::Tag`]); only
//! the owner project may read or change them.

pub mod types;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};

use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{DliPath, JsonBody, NamedTarget, parse_query};
use crate::api::resource_tags::types::{
    MatchInput, ProjectTagsResponse, ResourceCountResponse, ResourceFilterRequest,
    ResourceFilterResponse, ResourceTagInput, ResourceTagsRequest, ResourceTagsResponse,
    TagPageQuery, TagValuesInput, TagWithValues, TaggedResource,
};
use crate::api::sharing::{connection_not_exist, owned_live_connection};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::api::types::key_value_pairs;
use crate::domain::{ProjectId, Tag, Tags, ValidationError, now_millis};
use crate::store::ConnectionKey;
use crate::store::enhanced_sharing::{TagChange, TaggedConnection, TagsOutcome};

/// The one resource type of dsconn's tag API.
pub const RESOURCE_TYPE: &str = "dli_enhanced_datasource";

/// Most tags one enhanced connection may carry.
pub const MAX_TAGS_PER_CONNECTION: usize = crate::domain::MAX_TAGS;

/// Longest `resource_id` path parameter (the definitions' `maxLength`).
const MAX_RESOURCE_ID_CHARS: usize = 1000;

/// Most items of a page (and the default).
const MAX_PAGE: usize = 1000;

/// Most `matches` of a filter.
const MAX_MATCHES: usize = 5;

/// The only key a filter may match on.
const MATCH_RESOURCE_NAME: &str = "resource_name";

/// `{resource_type}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ResourceTypePath {
    /// Only `dli_enhanced_datasource`.
    #[param(example = "dli_enhanced_datasource")]
    pub resource_type: String,
}

/// `{resource_id}` path parameter.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ResourceIdPath {
    /// The enhanced connection's id.
    #[param(max_length = 1000)]
    pub resource_id: String,
}

fn check_resource_type(raw: &str) -> ApiResult<()> {
    if raw == RESOURCE_TYPE {
        return Ok(());
    }
    let shown: String = raw.chars().take(64).collect();
    Err(ApiError::InvalidRequest(format!(
        "resource type {shown} is not supported"
    )))
}

fn check_resource_id(raw: &str) -> ApiResult<()> {
    if raw.chars().count() > MAX_RESOURCE_ID_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "resource_id must be at most {MAX_RESOURCE_ID_CHARS} characters"
        )));
    }
    Ok(())
}

/// `limit` (1-1000, default 1000) and `offset` (>= 0, default 0).
fn page(raw_query: Option<&str>) -> ApiResult<(usize, usize)> {
    let query: TagPageQuery = parse_query(raw_query.unwrap_or_default())?;
    let limit = match query.limit.as_deref() {
        None | Some("") => MAX_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| ApiError::InvalidRequest(format!("limit must be 1 to {MAX_PAGE}")))?,
    };
    let offset = match query.offset.as_deref() {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidRequest("offset must be a whole number >= 0".into()))?,
    };
    Ok((limit, offset))
}

fn count(items: usize) -> u64 {
    u64::try_from(items).unwrap_or(u64::MAX)
}

fn tags_to_set(body: &ResourceTagsRequest) -> Result<Vec<Tag>, ValidationError> {
    let inputs = request_tags(body)?;
    let pairs = key_value_pairs(
        inputs
            .iter()
            .map(|tag| (tag.key.as_ref(), tag.value.as_ref())),
    )?;
    Ok(Tags::parse(&pairs)?.as_slice().to_vec())
}

fn keys_to_remove(body: &ResourceTagsRequest) -> Result<Vec<String>, ValidationError> {
    request_tags(body)?
        .iter()
        .enumerate()
        .map(|(index, tag)| {
            let key = tag
                .key
                .as_deref()
                .ok_or_else(|| ValidationError::new(format!("tags[{index}].key is required")))?;
            // The value is not needed to remove a key; the key must be one a tag may have.
            Ok(Tag::parse(key, "")?.key)
        })
        .collect()
}

fn request_tags(body: &ResourceTagsRequest) -> Result<&[ResourceTagInput], ValidationError> {
    let tags = body
        .tags
        .as_deref()
        .ok_or_else(|| ValidationError::new("tags is required"))?;
    if tags.is_empty() || tags.len() > MAX_TAGS_PER_CONNECTION {
        return Err(ValidationError::new(format!(
            "tags must list 1 to {MAX_TAGS_PER_CONNECTION} tags, got {}",
            tags.len()
        )));
    }
    Ok(tags)
}

/// What T1 and T2 answer.
fn done() -> Json<SuccessResponse> {
    Json(SuccessResponse::ok())
}

async fn change(
    state: &AppState,
    principal: &Principal,
    (project, resource_type, resource_id): (String, String, String),
    change: impl FnOnce(&ResourceTagsRequest) -> Result<TagChange, ValidationError>,
    body: &JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let owner = principal.authorize(&project)?;
    check_resource_type(&resource_type)?;
    check_resource_id(&resource_id)?;
    let id = owned_live_connection(state, &owner, &resource_id).await?;
    let change = change(&body.parse_or_empty()?)?;
    match state
        .store
        .change_tags(ConnectionKey::new(&owner, id), &change, now_millis())
        .await?
    {
        TagsOutcome::Applied => Ok(done()),
        TagsOutcome::NotFound => Err(connection_not_exist(&resource_id)),
        TagsOutcome::TooMany(after) => Err(ApiError::CapReached(format!(
            "a connection may have at most {MAX_TAGS_PER_CONNECTION} tags; this would leave {after}"
        ))),
    }
}

/// `POST /v3/{project_id}/{resource_type}/{resource_id}/tags/create`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/{resource_type}/{resource_id}/tags/create",
    operation_id = "BatchCreateResourceTags",
    tag = "tags",
    summary = "Add tags to an enhanced connection (a key already there gets the new value)",
    params(ProjectPath, ResourceTypePath, ResourceIdPath),
    request_body(content = ResourceTagsRequest, content_type = "application/json"),
    responses((status = 200, description = "Tags set", body = SuccessResponse), ErrorResponses),
)]
pub async fn batch_create(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(path): DliPath<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let set = |body: &ResourceTagsRequest| tags_to_set(body).map(TagChange::Set);
    change(&state, &principal, path, set, &body).await
}

/// `POST /v3/{project_id}/{resource_type}/{resource_id}/tags/delete`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/{resource_type}/{resource_id}/tags/delete",
    operation_id = "BatchDeleteResourceTags",
    tag = "tags",
    summary = "Remove tags of an enhanced connection by key (keys it does not have are ignored)",
    params(ProjectPath, ResourceTypePath, ResourceIdPath),
    request_body(content = ResourceTagsRequest, content_type = "application/json"),
    responses((status = 200, description = "Tags removed", body = SuccessResponse), ErrorResponses),
)]
pub async fn batch_delete(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(path): DliPath<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let remove = |body: &ResourceTagsRequest| keys_to_remove(body).map(TagChange::Remove);
    change(&state, &principal, path, remove, &body).await
}

/// `GET /v3/{project_id}/{resource_type}/{resource_id}/tags`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/{resource_type}/{resource_id}/tags",
    operation_id = "ShowResourceTags",
    tag = "tags",
    summary = "The tags of an enhanced connection",
    params(ProjectPath, ResourceTypePath, ResourceIdPath, TagPageQuery),
    responses((status = 200, description = "The tags", body = ResourceTagsResponse), ErrorResponses),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    DliPath((project, resource_type, resource_id)): DliPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ResourceTagsResponse>> {
    let owner = principal.authorize(&project)?;
    check_resource_type(&resource_type)?;
    check_resource_id(&resource_id)?;
    let (limit, offset) = page(query.as_deref())?;
    let id = owned_live_connection(&state, &owner, &resource_id).await?;
    let tags = state
        .store
        .connection_tags(&owner, id)
        .await?
        .ok_or_else(|| connection_not_exist(&resource_id))?;
    Ok(Json(ResourceTagsResponse {
        count: count(tags.len()),
        tags: tags.into_iter().skip(offset).take(limit).collect(),
    }))
}

/// Every key of these connections with its distinct values, keys and values sorted.
fn keys_with_values(connections: &[TaggedConnection]) -> Vec<TagWithValues> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for tag in connections.iter().flat_map(|connection| &connection.tags) {
        by_key.entry(&tag.key).or_default().push(&tag.value);
    }
    by_key
        .into_iter()
        .map(|(key, mut values)| {
            values.sort_unstable();
            values.dedup();
            TagWithValues {
                key: key.to_owned(),
                values: values.into_iter().map(str::to_owned).collect(),
            }
        })
        .collect()
}

/// `GET /v3/{project_id}/{resource_type}/tags`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/{resource_type}/tags",
    operation_id = "ListResourcesTags",
    tag = "tags",
    summary = "Every tag key of the project's live enhanced connections, with its values",
    params(ProjectPath, ResourceTypePath, TagPageQuery),
    responses((status = 200, description = "The keys and values", body = ProjectTagsResponse), ErrorResponses),
)]
pub async fn list_project_tags(
    State(state): State<AppState>,
    NamedTarget {
        project: owner,
        name: resource_type,
    }: NamedTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ProjectTagsResponse>> {
    check_resource_type(&resource_type)?;
    let (limit, offset) = page(query.as_deref())?;
    let keys = keys_with_values(&state.store.tagged_connections(&owner).await?);
    Ok(Json(ProjectTagsResponse {
        count: count(keys.len()),
        tags: keys.into_iter().skip(offset).take(limit).collect(),
    }))
}

/// A validated filter of ListResourcesByTags / CountResourcesByTags.
#[derive(Debug, Default)]
struct ResourceFilter {
    without_any_tag: bool,
    /// (key, values): the key with one of the values, or any value if none.
    tags: Vec<(String, Vec<String>)>,
    /// Lower-case parts the name must contain.
    name_contains: Vec<String>,
}

impl ResourceFilter {
    fn parse(body: &ResourceFilterRequest) -> Result<Self, ValidationError> {
        let terms = body.tags.as_deref().unwrap_or_default();
        if terms.len() > MAX_TAGS_PER_CONNECTION {
            return Err(ValidationError::new(format!(
                "tags may have at most {MAX_TAGS_PER_CONNECTION} terms"
            )));
        }
        let mut tags: Vec<(String, Vec<String>)> = Vec::with_capacity(terms.len());
        for (index, TagValuesInput { key, values }) in terms.iter().enumerate() {
            let key = key
                .as_deref()
                .ok_or_else(|| ValidationError::new(format!("tags[{index}].key is required")))?;
            let key = Tag::parse(key, "")?.key;
            if tags.iter().any(|(seen, _)| *seen == key) {
                return Err(ValidationError::new(format!(
                    "tags[{index}].key appears more than once"
                )));
            }
            let values = values.clone().unwrap_or_default();
            if values.len() > MAX_TAGS_PER_CONNECTION {
                return Err(ValidationError::new(format!(
                    "tags[{index}].values may list at most {MAX_TAGS_PER_CONNECTION} values"
                )));
            }
            for value in &values {
                Tag::parse(&key, value)?;
            }
            tags.push((key, values));
        }
        let matches = body.matches.as_deref().unwrap_or_default();
        if matches.len() > MAX_MATCHES {
            return Err(ValidationError::new(format!(
                "matches may have at most {MAX_MATCHES} items"
            )));
        }
        let name_contains = matches
            .iter()
            .enumerate()
            .map(|(index, MatchInput { key, value })| {
                if key.as_deref() != Some(MATCH_RESOURCE_NAME) {
                    return Err(ValidationError::new(format!(
                        "matches[{index}].key must be {MATCH_RESOURCE_NAME}"
                    )));
                }
                let value = value.as_deref().unwrap_or_default();
                if value.is_empty() || value.chars().count() > 255 {
                    return Err(ValidationError::new(format!(
                        "matches[{index}].value must be 1 to 255 characters"
                    )));
                }
                Ok(value.to_lowercase())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            without_any_tag: body.without_any_tag.unwrap_or(false),
            tags,
            name_contains,
        })
    }

    fn matches(&self, connection: &TaggedConnection) -> bool {
        let name = connection.name.to_lowercase();
        if !self.name_contains.iter().all(|part| name.contains(part)) {
            return false;
        }
        if self.without_any_tag {
            return connection.tags.is_empty();
        }
        self.tags.iter().all(|(key, values)| {
            connection
                .tags
                .iter()
                .any(|tag| tag.key == *key && (values.is_empty() || values.contains(&tag.value)))
        })
    }
}

async fn filtered(
    state: &AppState,
    principal: &Principal,
    (project, resource_type): (String, String),
    body: &JsonBody,
) -> ApiResult<(ProjectId, Vec<TaggedConnection>)> {
    let owner = principal.authorize(&project)?;
    check_resource_type(&resource_type)?;
    let filter = ResourceFilter::parse(&body.parse_or_empty()?)?;
    let mut connections = state.store.tagged_connections(&owner).await?;
    connections.retain(|connection| filter.matches(connection));
    Ok((owner, connections))
}

/// `POST /v3/{project_id}/{resource_type}/resource-instances/filter`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/{resource_type}/resource-instances/filter",
    operation_id = "ListResourcesByTags",
    tag = "tags",
    summary = "The project's live enhanced connections whose tags (and name) match",
    params(ProjectPath, ResourceTypePath, TagPageQuery),
    request_body(content = ResourceFilterRequest, content_type = "application/json"),
    responses((status = 200, description = "A page of the matching connections", body = ResourceFilterResponse), ErrorResponses),
)]
pub async fn filter(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(path): DliPath<(String, String)>,
    RawQuery(query): RawQuery,
    body: JsonBody,
) -> ApiResult<Json<ResourceFilterResponse>> {
    let (_, connections) = filtered(&state, &principal, path, &body).await?;
    let (limit, offset) = page(query.as_deref())?;
    Ok(Json(ResourceFilterResponse {
        total_count: count(connections.len()),
        resources: connections
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|connection| TaggedResource {
                resource_id: connection.id,
                resource_name: connection.name,
                resource_detail: serde_json::json!({}),
                tags: connection.tags,
            })
            .collect(),
    }))
}

/// `POST /v3/{project_id}/{resource_type}/resource-instances/count`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/{resource_type}/resource-instances/count",
    operation_id = "CountResourcesByTags",
    tag = "tags",
    summary = "How many of the project's live enhanced connections match",
    params(ProjectPath, ResourceTypePath),
    request_body(content = ResourceFilterRequest, content_type = "application/json"),
    responses((status = 200, description = "The count", body = ResourceCountResponse), ErrorResponses),
)]
pub async fn count_filtered(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(path): DliPath<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<ResourceCountResponse>> {
    let (_, connections) = filtered(&state, &principal, path, &body).await?;
    Ok(Json(ResourceCountResponse {
        total_count: count(connections.len()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(name: &str, tags: &[(&str, &str)]) -> TaggedConnection {
        TaggedConnection {
            id: name.to_owned(),
            name: name.to_owned(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag::parse(k, v).expect("valid"))
                .collect(),
        }
    }

    fn filter(value: serde_json::Value) -> ResourceFilter {
        ResourceFilter::parse(&serde_json::from_value(value).expect("shape")).expect("valid")
    }

    #[test]
    fn a_filter_needs_every_key_with_one_of_its_values() {
        let prod = connection("orders_db", &[("env", "prod"), ("team", "data")]);
        let dev = connection("Orders_dev", &[("env", "dev")]);
        let bare = connection("bare", &[]);
        let by = |value| {
            let filter = filter(value);
            [&prod, &dev, &bare]
                .into_iter()
                .filter(|c| filter.matches(c))
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            by(serde_json::json!({"tags": [{"key": "env", "values": ["prod", "dev"]}]})),
            ["orders_db", "Orders_dev"]
        );
        assert_eq!(
            by(
                serde_json::json!({"tags": [{"key": "env", "values": []}, {"key": "team", "values": ["data"]}]})
            ),
            ["orders_db"]
        );
        assert_eq!(by(serde_json::json!({"without_any_tag": true})), ["bare"]);
        assert_eq!(
            by(serde_json::json!({"matches": [{"key": "resource_name", "value": "ORDERS"}]})),
            ["orders_db", "Orders_dev"]
        );
        assert_eq!(by(serde_json::json!({})).len(), 3);
    }

    #[test]
    fn filters_match_only_on_the_resource_name() {
        let body: ResourceFilterRequest =
            serde_json::from_value(serde_json::json!({"matches": [{"key": "id", "value": "x"}]}))
                .expect("shape");
        assert!(ResourceFilter::parse(&body).is_err());
    }

    #[test]
    fn project_keys_list_each_value_once_sorted() {
        let keys = keys_with_values(&[
            connection("a", &[("env", "prod"), ("team", "data")]),
            connection("b", &[("env", "dev")]),
            connection("c", &[("env", "prod")]),
        ]);
        assert_eq!(
            keys,
            vec![
                TagWithValues {
                    key: "env".into(),
                    values: vec!["dev".into(), "prod".into()]
                },
                TagWithValues {
                    key: "team".into(),
                    values: vec!["data".into()]
                },
            ]
        );
    }
}
