//! The JSON of connection answers (list and show), written straight from the stored
//! records (issue 19): the uncached read path is mostly this, and serde's path costs
//! per row a `ConnectionResponse` of copied strings, the tags parsed from their stored
//! JSON and serialised again, and byte-by-byte escaping of strings that need none.
//!
//! The bytes are exactly those of serialising [`ConnectionResponse`] and
//! [`ListConnectionsResponse`] (the wire types, which the OpenAPI document and the
//! clients use) with serde_json; the tests below hold the two to each other.
//!
//! [`ConnectionResponse`]: crate::api::connections::types::ConnectionResponse
//! [`ListConnectionsResponse`]: crate::api::connections::types::ListConnectionsResponse

use crate::api::error::{ApiError, ApiResult};
use crate::api::types::EndpointCheck;
use crate::domain::{FailureReason, Reachability, SessionCheck, StageResult};
use crate::probe::shorten;
use crate::store::{ConnectionRecord, QueueBinding};

/// Longest message answered for a connection or binding, in characters: rows stored
/// before messages were summarised can hold one clause per address.
pub(super) const MAX_MESSAGE_CHARS: usize = 4096;

/// What a list answer of `connections` rows takes, to size its buffer once.
const ROW_BYTES_ESTIMATE: usize = 640;

/// A stored value of a closed vocabulary, or an internal error naming the bad value: the
/// stores write only the vocabulary, so anything else is a damaged row.
pub(super) fn stored<T>(field: &str, raw: &str, parse: impl Fn(&str) -> Option<T>) -> ApiResult<T> {
    parse(raw).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "stored {field} {raw:?} is not one dsconn writes"
        ))
    })
}

/// A JSON document being written.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn raw(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    /// `"name":`, for the fixed field names of this file (none needs escaping).
    fn key(&mut self, name: &str) {
        self.out.push(b'"');
        self.raw(name);
        self.out.extend_from_slice(b"\":");
    }

    /// A string as serde_json writes it. Most need no escaping; the test for that is
    /// written so that it compiles to wide compares instead of a table look-up per byte.
    fn string(&mut self, text: &str) {
        let needs_escape = text.bytes().fold(false, |found, byte| {
            found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
        });
        if needs_escape {
            // Writing JSON into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.out, text);
        } else {
            self.out.push(b'"');
            self.raw(text);
            self.out.push(b'"');
        }
    }

    /// A message, shortened to [`MAX_MESSAGE_CHARS`] as answered.
    fn message(&mut self, text: &str) {
        // A text of at most that many bytes has at most that many characters.
        if text.len() <= MAX_MESSAGE_CHARS {
            self.string(text);
        } else {
            self.string(&shorten(text, MAX_MESSAGE_CHARS));
        }
    }

    /// A value as serde_json writes it.
    fn json(&mut self, value: &impl serde::Serialize) -> ApiResult<()> {
        serde_json::to_writer(&mut self.out, value)
            .map_err(|error| ApiError::Internal(error.into()))
    }

    fn integer(&mut self, value: impl itoa::Integer) {
        let mut buffer = itoa::Buffer::new();
        self.raw(buffer.format(value));
    }

    fn float(&mut self, value: f64) {
        if value.is_finite() {
            let mut buffer = ryu::Buffer::new();
            self.raw(buffer.format_finite(value));
        } else {
            self.raw("null");
        }
    }

    fn optional_integer(&mut self, value: Option<i64>) {
        match value {
            Some(value) => self.integer(value),
            None => self.raw("null"),
        }
    }

    fn optional_string(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.string(value),
            None => self.raw("null"),
        }
    }

    /// A stored `failure_reason` (checked against the vocabulary) or null.
    fn failure_reason(&mut self, raw: Option<&str>) -> ApiResult<()> {
        let reason = raw
            .map(|raw| stored("failure reason", raw, FailureReason::parse))
            .transpose()?;
        self.optional_string(reason.map(FailureReason::as_str));
        Ok(())
    }

    /// A stored `connectivity` (checked against the vocabulary) or null.
    fn connectivity(&mut self, raw: Option<&str>) -> ApiResult<()> {
        let reachability = raw
            .map(|raw| stored("connectivity", raw, Reachability::parse))
            .transpose()?;
        self.optional_string(reachability.map(Reachability::as_str));
        Ok(())
    }

    /// One entry of `available_queue_info`, fields in [`crate::api::connections::types::QueueInfo`] order.
    fn queue_info(&mut self, binding: &QueueBinding) -> ApiResult<()> {
        let status = binding.status;
        self.raw("{");
        self.key("peer_id");
        self.string(&binding.peer_id);
        self.raw(",");
        self.key("status");
        self.string(status.as_str());
        self.raw(",");
        self.key("name");
        self.string(&binding.queue_name);
        self.raw(",");
        self.key("err_msg");
        self.message(&binding.err_msg);
        self.raw(",");
        self.key("update_time");
        self.integer(binding.update_time);
        self.raw(",");
        self.key("uuid");
        self.string(&binding.peer_id);
        self.raw(",");
        self.key("failure_reason");
        self.failure_reason(binding.failure_reason.as_deref())?;
        self.raw(",");
        self.key("connectivity");
        self.connectivity(binding.connectivity.as_deref())?;
        self.raw(",");
        self.key("last_checked_at");
        self.optional_integer(binding.last_checked_at);
        self.raw(",");
        self.key("checked_from");
        self.optional_string(binding.checked_from.as_deref());
        if let Some(stages) = binding.stages.as_deref() {
            let stages: Vec<StageResult> = serde_json::from_str(stages).map_err(|error| {
                ApiError::Internal(anyhow::anyhow!("stored stages do not parse: {error}"))
            })?;
            self.raw(",");
            self.key("stages");
            self.json(&stages)?;
        }
        self.raw("}");
        Ok(())
    }

    /// A connection, fields in [`crate::api::connections::types::ConnectionResponse`] order; `shown` adds
    /// show's per-address results.
    fn connection(
        &mut self,
        record: &ConnectionRecord,
        shown: Option<(&[EndpointCheck], u64)>,
    ) -> ApiResult<()> {
        self.raw("{\"is_success\":true,");
        self.key("message");
        self.message(&record.message);
        self.raw(",");
        self.key("connection_id");
        // A UUID's hyphenated form needs no escaping.
        self.out.push(b'"');
        let mut id = uuid::Uuid::encode_buffer();
        self.raw(record.id.as_uuid().hyphenated().encode_lower(&mut id));
        self.out.push(b'"');
        self.raw(",");
        self.key("destination");
        self.string(&record.destination);
        self.raw(",");
        self.key("state");
        self.string(record.state.as_str());
        self.raw(",");
        self.key("process");
        self.float(record.process);
        self.raw(",");
        self.key("name");
        self.string(&record.name);
        self.raw(",");
        self.key("connection_url");
        self.string(&record.connection_url);
        self.raw(",\"cluster_name\":\"\",");
        self.key("service");
        self.string(record.service.as_str());
        self.raw(",");
        self.key("create_time");
        self.integer(record.create_time);
        self.raw(",");
        self.key("available_queue_info");
        self.raw("[");
        for (index, binding) in record.queues.iter().enumerate() {
            if index > 0 {
                self.raw(",");
            }
            self.queue_info(binding)?;
        }
        self.raw("],");
        self.key("queue_list");
        self.raw("[");
        for (index, binding) in record.queues.iter().enumerate() {
            if index > 0 {
                self.raw(",");
            }
            self.string(&binding.queue_name);
        }
        self.raw("],");
        self.key("security_group_id");
        self.string(&record.security_group_id);
        self.raw(",");
        self.key("network_id");
        self.string(&record.network_id);
        self.raw(",");
        self.key("tags");
        // The stored JSON, checked when read (`StoredTags`).
        self.raw(record.tags.json());
        self.raw(",");
        self.key("update_time");
        self.integer(record.update_time);
        self.raw(",");
        self.key("failure_reason");
        self.failure_reason(record.failure_reason.as_deref())?;
        self.raw(",");
        self.key("connectivity");
        self.connectivity(record.connectivity.as_deref())?;
        self.raw(",");
        self.key("last_checked_at");
        self.optional_integer(record.last_checked_at);
        if let Some((endpoints, not_checked)) = shown {
            self.raw(",");
            self.key("endpoints");
            serde_json::to_writer(&mut self.out, endpoints)
                .map_err(|error| ApiError::Internal(error.into()))?;
            self.raw(",");
            self.key("not_checked");
            self.integer(not_checked);
        }
        if let Some(session) = record.session.as_deref() {
            let session: SessionCheck = serde_json::from_str(session).map_err(|error| {
                ApiError::Internal(anyhow::anyhow!("a stored session does not parse: {error}"))
            })?;
            if let Some(name) = &session.auth_info_name {
                self.raw(",");
                self.key("auth_info_name");
                self.string(name);
            }
            if let Some(database) = &session.database {
                self.raw(",");
                self.key("database");
                self.string(database);
            }
            if !session.privileges.is_empty() {
                self.raw(",");
                self.key("privileges");
                self.json(&session.privileges)?;
            }
        }
        self.raw("}");
        Ok(())
    }
}

/// A list answer: `{"is_success":true,"message":"","count":..,"connections":[..]}`.
pub(super) fn list_answer(count: u64, connections: &[ConnectionRecord]) -> ApiResult<Vec<u8>> {
    let capacity = 64 + connections.len().saturating_mul(ROW_BYTES_ESTIMATE);
    let mut writer = Writer {
        out: Vec::with_capacity(capacity),
    };
    writer.raw("{\"is_success\":true,\"message\":\"\",\"count\":");
    writer.integer(count);
    writer.raw(",\"connections\":[");
    for (index, record) in connections.iter().enumerate() {
        if index > 0 {
            writer.raw(",");
        }
        writer.connection(record, None)?;
    }
    writer.raw("]}");
    Ok(writer.out)
}

/// A show answer: the connection with its last check's `endpoints` and `not_checked`.
pub(super) fn show_answer(
    record: &ConnectionRecord,
    endpoints: &[EndpointCheck],
    not_checked: u64,
) -> ApiResult<Vec<u8>> {
    let mut writer = Writer {
        out: Vec::with_capacity(ROW_BYTES_ESTIMATE + 256 * endpoints.len()),
    };
    writer.connection(record, Some((endpoints, not_checked)))?;
    Ok(writer.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::connections::types::{ConnectionResponse, ListConnectionsResponse, QueueInfo};
    use crate::domain::{BindingStatus, ConnectionId, ConnectionState, Service, Tag};
    use crate::store::StoredTags;

    fn session(record: &ConnectionRecord) -> Option<SessionCheck> {
        record
            .session
            .as_deref()
            .map(|json| serde_json::from_str(json).expect("a stored session"))
    }

    /// The answer as serde writes it from the wire types: what the bytes must equal.
    fn wire(record: &ConnectionRecord) -> ConnectionResponse {
        let option = |raw: Option<&String>, field, parse: fn(&str) -> Option<_>| {
            raw.map(|raw| stored(field, raw, parse).expect("stored value"))
        };
        let reachability = |raw: Option<&String>| {
            raw.map(|raw| stored("connectivity", raw, Reachability::parse).expect("stored"))
        };
        ConnectionResponse {
            is_success: true,
            message: shorten(&record.message, MAX_MESSAGE_CHARS),
            connection_id: record.id.to_string(),
            destination: record.destination.clone(),
            state: record.state,
            process: record.process,
            name: record.name.clone(),
            connection_url: record.connection_url.clone(),
            cluster_name: String::new(),
            service: record.service,
            create_time: record.create_time,
            available_queue_info: record
                .queues
                .iter()
                .map(|binding| QueueInfo {
                    peer_id: binding.peer_id.clone(),
                    status: binding.status,
                    name: binding.queue_name.clone(),
                    err_msg: shorten(&binding.err_msg, MAX_MESSAGE_CHARS),
                    update_time: binding.update_time,
                    uuid: binding.peer_id.clone(),
                    failure_reason: option(
                        binding.failure_reason.as_ref(),
                        "failure reason",
                        FailureReason::parse,
                    ),
                    connectivity: reachability(binding.connectivity.as_ref()),
                    last_checked_at: binding.last_checked_at,
                    checked_from: binding.checked_from.clone(),
                    stages: binding
                        .stages
                        .as_deref()
                        .map(|json| serde_json::from_str(json).expect("stored stages")),
                })
                .collect(),
            queue_list: record.queues.iter().map(|q| q.queue_name.clone()).collect(),
            security_group_id: record.security_group_id.clone(),
            network_id: record.network_id.clone(),
            tags: record.tags.parsed(),
            update_time: record.update_time,
            failure_reason: option(
                record.failure_reason.as_ref(),
                "failure reason",
                FailureReason::parse,
            ),
            connectivity: reachability(record.connectivity.as_ref()),
            last_checked_at: record.last_checked_at,
            endpoints: None,
            not_checked: None,
            auth_info_name: session(record).and_then(|session| session.auth_info_name),
            database: session(record).and_then(|session| session.database),
            privileges: session(record)
                .map(|session| session.privileges)
                .unwrap_or_default(),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> StoredTags {
        let tags: Vec<Tag> = pairs
            .iter()
            .map(|(key, value)| Tag {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect();
        StoredTags::from_stored(serde_json::to_string(&tags).expect("tags")).expect("valid")
    }

    fn binding(queue: &str, status: &str, err_msg: &str) -> QueueBinding {
        QueueBinding {
            peer_id: format!("peer-{queue}"),
            queue_name: queue.to_owned(),
            status: BindingStatus::parse(status).expect("a binding status"),
            err_msg: err_msg.to_owned(),
            failure_reason: (status == "FAILED").then(|| "TIMEOUT".to_owned()),
            connectivity: (status != "CREATING").then(|| {
                if status == "ACTIVE" {
                    "REACHABLE"
                } else {
                    "UNREACHABLE"
                }
                .to_owned()
            }),
            last_checked_at: (status != "CREATING").then_some(1_700_000_000_123),
            update_time: 1_700_000_000_456,
            checked_from: (status != "CREATING").then(|| "agent:vpc \"1\"".to_owned()),
            stages: (status == "FAILED").then(|| {
                r#"[{"stage":"login","verdict":"FAILED","reason":"AUTH_FAILED","message":"denied \"x\"","elapsed_ms":3}]"#
                    .to_owned()
            }),
        }
    }

    /// Records covering every vocabulary, nulls, escapes, non-ASCII, long messages.
    fn records() -> Vec<ConnectionRecord> {
        let base = ConnectionRecord {
            id: ConnectionId::generate(),
            project_id: "p1".to_owned(),
            name: "orders_db".to_owned(),
            service: Service::Rds,
            destination: "db.example.com:3306,10.0.0.7".to_owned(),
            security_group_id: "sg-0123".to_owned(),
            network_id: "net-0123".to_owned(),
            tags: tags(&[("env", "prod"), ("team", "data")]),
            state: ConnectionState::Creating,
            process: 0.0,
            connection_url: String::new(),
            message: String::new(),
            create_time: 1_700_000_000_000,
            update_time: 1_700_000_000_001,
            failure_reason: None,
            connectivity: None,
            last_checked_at: None,
            queues: Vec::new(),
            check_report: None,
            session: None,
        };
        let mut records = Vec::new();
        for (index, service) in Service::ALL.into_iter().enumerate() {
            for (offset, state) in ConnectionState::ALL.into_iter().enumerate() {
                let mut record = base.clone();
                record.id = ConnectionId::generate();
                record.service = service;
                record.state = state;
                record.process = [0.0, 0.25, 1.0, 0.1 + 0.2][offset];
                record.create_time = -5 + i64::try_from(index).expect("small");
                records.push(record);
            }
        }
        for (index, reason) in FailureReason::ALL.into_iter().enumerate() {
            let mut record = base.clone();
            record.id = ConnectionId::generate();
            record.state = ConnectionState::Failed;
            record.process = 1.0;
            record.failure_reason = Some(reason.as_str().to_owned());
            record.connectivity = Some("UNREACHABLE".to_owned());
            record.last_checked_at = Some(i64::MAX - i64::try_from(index).expect("small"));
            record.message =
                format!("10.0.0.{index}:3306: refused \"quoted\" \\ back\n\ttab\u{1}\u{7f}");
            records.push(record);
        }
        let mut unusual = base.clone();
        unusual.name = "naïve-名前".to_owned();
        unusual.destination = "[::1]:5432,\u{1f}x".to_owned();
        unusual.security_group_id = "sg \"a\" \\ \u{8}\u{c}\r".to_owned();
        unusual.network_id = "réseau €".to_owned();
        unusual.connection_url = "db.example.com:3306".to_owned();
        unusual.tags = tags(&[("clé", "välue é:=+-@."), ("empty", "")]);
        unusual.message = "é".repeat(MAX_MESSAGE_CHARS + 3);
        unusual.connectivity = Some("REACHABLE".to_owned());
        unusual.queues = vec![
            binding("q1", "ACTIVE", ""),
            binding("q2", "FAILED", &"x\"".repeat(MAX_MESSAGE_CHARS)),
            binding("q3", "CREATING", ""),
        ];
        unusual.session = Some(
            r#"{"auth_info_name":"pg \"ro\"","database":"shop","privileges":[{"privilege":"SELECT","table":"orders"},{"privilege":"CREATE"}]}"#
                .to_owned(),
        );
        records.push(unusual);
        let mut no_tags = base.clone();
        no_tags.tags = tags(&[]);
        no_tags.process = f64::NAN;
        records.push(no_tags);
        records
    }

    #[test]
    fn a_list_answer_is_byte_for_byte_what_serde_writes_from_the_wire_types() {
        let records = records();
        for count in [0, 7, u64::MAX] {
            for rows in [&records[..0], &records[..1], &records[..]] {
                let expected = serde_json::to_vec(&ListConnectionsResponse {
                    is_success: true,
                    message: String::new(),
                    count,
                    connections: rows.iter().map(wire).collect(),
                })
                .expect("serialises");
                let written = list_answer(count, rows).expect("writes");
                assert_eq!(
                    String::from_utf8_lossy(&written),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }

    #[test]
    fn a_show_answer_is_byte_for_byte_what_serde_writes_from_the_wire_types() {
        let endpoint = EndpointCheck {
            endpoint: "db.example.com:3306".to_owned(),
            address: Some("127.0.0.1:3306".to_owned()),
            outcome: Reachability::Unreachable,
            reason: Some(FailureReason::ALL[0]),
            message: "refused \"x\"".to_owned(),
            latency_ms: 12,
        };
        for record in records() {
            for (endpoints, not_checked) in [(vec![], 0), (vec![endpoint.clone(); 2], 3)] {
                let mut response = wire(&record);
                response.endpoints = Some(endpoints.clone());
                response.not_checked = Some(not_checked);
                let expected = serde_json::to_vec(&response).expect("serialises");
                let written = show_answer(&record, &endpoints, not_checked).expect("writes");
                assert_eq!(
                    String::from_utf8_lossy(&written),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }

    #[test]
    fn a_damaged_stored_value_is_an_internal_error_not_an_answer() {
        let mut record = records().remove(0);
        record.connectivity = Some("MAYBE".to_owned());
        assert!(matches!(
            list_answer(1, std::slice::from_ref(&record)),
            Err(ApiError::Internal(_))
        ));
        // A damaged binding status no longer reaches an answer: the store refuses the row
        // as corrupt when it reads it (store::rows), which the API answers as internal.
    }
}
