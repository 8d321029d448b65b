//! Wire types of the audit trail (a dsconn extension under `/dsconn/v1/`), shared by the
//! server's handlers, the CLI and the console.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::store::EventRecord;

/// One recorded change: who made it, from where, to what, and what changed. Secrets are
/// never recorded: a secret field that was set shows as `"***"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventItem {
    /// The deployment's event order: every later event has a higher id.
    #[schema(example = 1042)]
    pub id: i64,
    /// When the change committed, in milliseconds since the epoch.
    #[schema(example = 1_764_979_200_000_i64)]
    pub time: i64,
    /// The project it changed; absent for changes outside any project (credentials,
    /// tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// `ak:<access key>`, `token:<token id>`, `agent:<name>`, `anonymous` (`--auth none`)
    /// or `system` (the server's own checks).
    #[schema(example = "ak:DSCONNEXAMPLEKEY0001")]
    pub actor: String,
    /// The client's address, for a change a request made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The request's `X-Request-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `connection`, `binding`, `enhanced_connection`, `enhanced_binding`, `queue`,
    /// `pool`, `auth_info`, `agency`, `agent`, `queue_test`, `credential` or `token`.
    #[schema(example = "connection")]
    pub resource_type: String,
    /// The resource's id (a binding's is `<connection id>/<queue>`).
    pub resource_id: String,
    /// `create`, `update`, `delete`, `state`, `status`, `connectivity`, `bind`, `unbind`,
    /// `grant`, `revoke`, `tag`, `add_route`, `delete_route`, `reactivate`, `register`,
    /// `deregister`, `result` or `revoke`.
    #[schema(example = "create")]
    pub action: String,
    /// What changed: each field's `before` and `after` (a create has no `before`, a
    /// delete no `after`).
    #[schema(value_type = Object, example = json!({"state": {"before": "CREATING", "after": "ACTIVE"}}))]
    pub changes: serde_json::Value,
}

impl From<EventRecord> for EventItem {
    fn from(record: EventRecord) -> Self {
        Self {
            id: record.id,
            time: record.time,
            project_id: record.project_id,
            actor: record.actor,
            client: record.client,
            request_id: record.request_id,
            resource_type: record.resource_type,
            resource_id: record.resource_id,
            action: record.action,
            changes: record.changes,
        }
    }
}

/// One Server-Sent Event of the stream, as its fields: `event` is `ready` (data
/// `{"after": <id>}`), `change` (data an `EventItem` as JSON, `id` its id) or `dropped`
/// (data `{"reason": ...}`); the first also carries `retry` (milliseconds). Heartbeats are
/// comment lines, no event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    #[schema(example = "change")]
    pub event: String,
    /// JSON text, on one line.
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
}

/// `GET /dsconn/v1/{project_id}/events`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListEventsResponse {
    pub is_success: bool,
    pub message: String,
    pub count: usize,
    pub events: Vec<EventItem>,
    /// The cursor of the next page (pass it as `after` when oldest first, as `before`
    /// when newest first); absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// The filters of the event list and stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a higher id (the cursor of oldest-first paging; the stream's
    /// resume point when there is no `Last-Event-ID`).
    pub after: Option<i64>,
    /// Only events with a lower id (the cursor of newest-first paging).
    pub before: Option<i64>,
    /// `desc` (newest first, the default) or `asc`. The stream is always `asc`.
    pub order: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<String>,
    /// As in the events' `actor`, e.g. `ak:DSCONNEXAMPLEKEY0001`.
    pub actor: Option<String>,
    /// Only events at or after this time: milliseconds since the epoch or RFC 3339.
    pub since: Option<String>,
    /// Only events before this time: milliseconds since the epoch or RFC 3339.
    pub until: Option<String>,
    /// 1-1000; 100 if absent.
    pub limit: Option<u32>,
    /// `true`: every project's events and those outside any project, for a caller whose
    /// credential covers all projects (the path's project is then only checked).
    pub all_projects: Option<bool>,
}
