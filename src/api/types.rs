//! Wire types shared by several resources (tags of a create body, DLI's plain success
//! body) and those of the checks on demand. Each resource's own types are in its
//! `types.rs`. Field names and order follow DLI's documentation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{FailureReason, Reachability, Service, ValidationError};

/// A tag of a create body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagInput {
    /// 1-128 letters, digits, spaces and `_ . : = + - @`, not starting or ending with a
    /// space; must not start with `_sys_`.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    pub key: Option<String>,
    /// 0-255 characters of the same set.
    #[serde(default)]
    #[schema(value_type = String, required = true, max_length = 255)]
    pub value: Option<String>,
}

/// The `(key, value)` of each tag of a request body, both required (`tags[i].key is
/// required`); the pairs are then checked as [`crate::domain::Tags`].
pub fn key_value_pairs<'a>(
    tags: impl Iterator<Item = (Option<&'a String>, Option<&'a String>)>,
) -> Result<Vec<(String, String)>, ValidationError> {
    tags.enumerate()
        .map(|(index, (key, value))| {
            let key = key
                .cloned()
                .ok_or_else(|| ValidationError::new(format!("tags[{index}].key is required")))?;
            let value = value
                .cloned()
                .ok_or_else(|| ValidationError::new(format!("tags[{index}].value is required")))?;
            Ok((key, value))
        })
        .collect()
}

/// DLI's plain success body, e.g. of a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuccessResponse {
    pub is_success: bool,
    pub message: String,
}

impl SuccessResponse {
    /// A success with DLI's empty message.
    pub fn ok() -> Self {
        Self::new(String::new())
    }

    /// A success with a message (DLI words some, e.g. `Update success.`).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            is_success: true,
            message: message.into(),
        }
    }
}

/// The outcome of checking one address of an endpoint (extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointCheck {
    /// The endpoint as normalised, `host:port`.
    pub endpoint: String,
    /// `ip:port`, or null when the name did not resolve (or in simulation).
    #[schema(required = true)]
    pub address: Option<String>,
    /// REACHABLE or UNREACHABLE.
    pub outcome: Reachability,
    /// DNS_FAILED, CONNECTION_REFUSED, TIMEOUT, PROTOCOL_MISMATCH, TLS_ERROR,
    /// DENIED_BY_POLICY or NETWORK_UNREACHABLE; null when reachable.
    #[schema(required = true)]
    pub reason: Option<FailureReason>,
    /// What happened, for people.
    pub message: String,
    pub latency_ms: u64,
}

/// `POST /v2.0/{project_id}/datasource-connection/test`: a definition to try.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"service": "RDS", "url": "db.example.com:3306"}))]
pub struct TestDefinitionRequest {
    /// The peer service, matched case-insensitively.
    #[serde(default)]
    #[schema(value_type = Service, required = true)]
    pub service: Option<String>,
    /// Comma-separated endpoints, as in a create.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 512, example = "db.example.com:3306")]
    pub url: Option<String>,
    /// Extension (issue 26): log in with this auth info of the project after the
    /// protocol check (adds the login, query and privileges stages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    /// Extension: an auth info used for this test only, never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info: Option<InlineAuthInfo>,
    /// Extension: the database to log in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Extension: the privileges the job needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<crate::domain::PrivilegeRequest>,
    /// Extension: names resolved before each queue's hosts file and DNS (as a queue
    /// test's `hosts`), at most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub hosts: Vec<EnhancedConnectionHost>,
    /// Extension: run the test from each of these queues (where each queue's checks run:
    /// its agent, else the server) instead of from the server, at most 10; the answer
    /// then has one entry per queue in `queues`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub queues: Vec<String>,
}

/// A custom host entry: `name` 1-128 of `[A-Za-z0-9_.-]` starting with a letter, `ip`
/// an IPv4 address. Names are unique (ignoring case) within a connection (or a test's
/// own `hosts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "db-primary", "ip": "192.168.0.10"}))]
pub struct EnhancedConnectionHost {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$"
    )]
    pub name: String,
    #[schema(format = Ipv4)]
    pub ip: String,
}

/// One queue's result of a test before saving run from queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueTestAnswer {
    pub queue: String,
    /// The queue connection test it was (read it with ShowConnectivityTask).
    pub task_id: i64,
    /// REACHABLE or UNREACHABLE; CHECKING when it had not ended when the answer was due.
    pub connectivity: String,
    /// What the test found, in words a person can act on.
    pub detail: String,
    /// `server` or `agent:<name>`; null while it runs.
    #[schema(required = true)]
    pub checked_from: Option<String>,
    /// What each stage found, in order.
    pub stages: Vec<crate::domain::StageResult>,
    /// True only when every stage PASSED.
    pub verified: bool,
}

/// The answer of a check run on demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestResponse {
    pub is_success: bool,
    /// Empty, or how many addresses the per-name and per-check caps left out.
    pub message: String,
    /// REACHABLE if any address answered as the service should.
    pub connectivity: Reachability,
    /// The first failing address's reason when nothing was reachable; null otherwise.
    #[schema(required = true)]
    pub failure_reason: Option<FailureReason>,
    /// One entry per address checked (per endpoint when DNS failed).
    pub endpoints: Vec<EndpointCheck>,
    /// Addresses not dialled because of the caps (at most 16 per name, 64 per check); a
    /// name not looked up at all counts as one.
    #[serde(default)]
    #[schema(required = true)]
    pub not_checked: u64,
    /// Extension (issue 26): what each stage found, in order, from the server.
    #[serde(default)]
    pub stages: Vec<crate::domain::StageResult>,
    /// Extension: true only when every stage PASSED (with `queues`: from every queue).
    #[serde(default)]
    pub verified: bool,
    /// Extension: with `queues` in the request, each queue's result (the server then
    /// checks nothing itself: `endpoints` and `stages` are empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueTestAnswer>,
    /// Extension: where the top-level results were checked: `server`; absent with
    /// `queues`, whose entries each say where they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_from: Option<String>,
}

/// An auth info given with one test: used once, held in memory until the test ends,
/// never stored and never answered.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct InlineAuthInfo {
    /// `passwd` (default) or `CSS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource_type: Option<String>,
    pub user_name: String,
    /// Read as any JSON value so that a wrong type is refused without echoing it.
    #[serde(deserialize_with = "password_string")]
    pub password: String,
}

/// The password as a string; any other JSON value is refused without being repeated
/// (serde's own message would quote it).
fn password_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        _ => Err(serde::de::Error::custom("the password must be a string")),
    }
}

impl std::fmt::Debug for InlineAuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineAuthInfo")
            .field("datasource_type", &self.datasource_type)
            .field("user_name", &self.user_name)
            .field("password", &"[redacted]")
            .finish()
    }
}
