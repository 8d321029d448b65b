//! Wire types of DLI's v3 tag API on enhanced connections, as DLI's definitions name
//! their fields.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A `{key, value}` of a tag request (create: both; delete: the key, the value ignored).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ResourceTagInput {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    pub key: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, max_length = 255)]
    pub value: Option<String>,
}

/// Body of `tags/create` and `tags/delete`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ResourceTagsRequest {
    /// 1-20 tags.
    #[serde(default)]
    #[schema(value_type = Vec<ResourceTagInput>, required = true, min_items = 1, max_items = 20)]
    pub tags: Option<Vec<ResourceTagInput>>,
}

/// `GET .../{resource_id}/tags`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceTagsResponse {
    pub tags: Vec<crate::domain::Tag>,
    /// How many tags the connection has (all pages).
    pub count: u64,
}

/// A key with every value it has on the project's connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TagWithValues {
    pub key: String,
    pub values: Vec<String>,
}

/// `GET /v3/{project_id}/{resource_type}/tags`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectTagsResponse {
    pub tags: Vec<TagWithValues>,
    /// How many keys there are (all pages).
    pub count: u64,
}

/// `limit`/`offset` paging of the tag queries.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagPageQuery {
    /// 1-1000, default 1000.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// >= 0, default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
}

/// A `{key, values}` term of a filter: the key with one of the values (any value if
/// `values` is empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagValuesInput {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    pub key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub values: Option<Vec<String>>,
}

/// A `{key, value}` match of a filter: only `resource_name` (contains, ignoring case).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MatchInput {
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "resource_name")]
    pub key: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 255)]
    pub value: Option<String>,
}

/// Body of `resource-instances/filter` and `resource-instances/count`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ResourceFilterRequest {
    /// Only connections without tags (then `tags` is ignored).
    #[serde(default)]
    pub without_any_tag: Option<bool>,
    /// Every term must match (at most 20).
    #[serde(default)]
    #[schema(value_type = Option<Vec<TagValuesInput>>, max_items = 20)]
    pub tags: Option<Vec<TagValuesInput>>,
    /// Every match must match (at most 5).
    #[serde(default)]
    #[schema(value_type = Option<Vec<MatchInput>>, max_items = 5)]
    pub matches: Option<Vec<MatchInput>>,
}

/// One connection found by its tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaggedResource {
    /// The connection id.
    pub resource_id: String,
    /// The connection name.
    pub resource_name: String,
    /// Always `{}`.
    #[schema(value_type = Object)]
    pub resource_detail: serde_json::Value,
    pub tags: Vec<crate::domain::Tag>,
}

/// `resource-instances/filter`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceFilterResponse {
    /// How many connections match (all pages).
    pub total_count: u64,
    pub resources: Vec<TaggedResource>,
}

/// `resource-instances/count`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceCountResponse {
    pub total_count: u64,
}
