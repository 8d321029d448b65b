//! The one error type of the API, answered in DLI's error body.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, ToResponse};

use crate::domain::ValidationError;
use crate::rate_limit::CheckRefusal;
use crate::store::StoreError;

/// Every way a request can fail. Each maps to one HTTP status and DLI error code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("connection {0} does not exist in this project")]
    ConnectionNotFound(String),
    #[error("agent {0} is not registered in this project; register it again")]
    AgentNotRegistered(String),
    #[error("a connection named {0:?} already exists in this project")]
    DuplicateName(String),
    #[error("{0}")]
    StateConflict(String),
    #[error(
        "the project already has the maximum of {0} connections; delete some or raise the quota"
    )]
    QuotaExceeded(u32),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("the request did not finish within {}", humantime::format_duration(*.0))]
    RequestTimeout(std::time::Duration),
    #[error("the service is not ready: its database does not answer")]
    NotReady,
    #[error("the requested path or method does not exist")]
    NotFound,
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(u32),
    #[error("the request body was not received within {}; send it without pauses", humantime::format_duration(*.0))]
    BodyReadTimeout(std::time::Duration),
    #[error("the request body could not be read: it ended early or is malformed")]
    BodyUnreadable,
    #[error("There is no queue named {0}")]
    QueueNotFound(String),
    #[error("There is no elastic resource pool named {0}")]
    PoolNotFound(String),
    /// A queue or pool name already in use; the message says which.
    #[error("{0}")]
    NameTaken(String),
    /// A per-project cap on queues or pools; the message says which.
    #[error("{0}")]
    CapReached(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// DLI's and API Gateway's error codes, as `error_code` carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorCode {
    #[serde(rename = "DLI.0001")]
    InvalidRequest,
    #[serde(rename = "DLI.0002")]
    ConnectionNotFound,
    #[serde(rename = "DLI.0006")]
    DuplicateName,
    #[serde(rename = "DLI.0007")]
    StateConflict,
    #[serde(rename = "DLI.1028")]
    QuotaExceeded,
    #[serde(rename = "DLI.0999")]
    Internal,
    #[serde(rename = "APIG.0101")]
    NotFound,
    #[serde(rename = "APIG.0201")]
    PayloadTooLarge,
    #[serde(rename = "APIG.0301")]
    Unauthorized,
    #[serde(rename = "APIG.0302")]
    Forbidden,
    #[serde(rename = "APIG.0308")]
    TooManyRequests,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidRequest,
        ErrorCode::ConnectionNotFound,
        ErrorCode::DuplicateName,
        ErrorCode::StateConflict,
        ErrorCode::QuotaExceeded,
        ErrorCode::Internal,
        ErrorCode::NotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::TooManyRequests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "DLI.0001",
            ErrorCode::ConnectionNotFound => "DLI.0002",
            ErrorCode::DuplicateName => "DLI.0006",
            ErrorCode::StateConflict => "DLI.0007",
            ErrorCode::QuotaExceeded => "DLI.1028",
            ErrorCode::Internal => "DLI.0999",
            ErrorCode::NotFound => "APIG.0101",
            ErrorCode::PayloadTooLarge => "APIG.0201",
            ErrorCode::Unauthorized => "APIG.0301",
            ErrorCode::Forbidden => "APIG.0302",
            ErrorCode::TooManyRequests => "APIG.0308",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::domain::string_enum_schema!(
    ErrorCode,
    "ErrorCode",
    "DLI's and API Gateway's error codes."
);

/// DLI's error body. The SDK reads `error_code` and `error_msg`; `is_success` and
/// `message` keep the shape of the success bodies for clients that check those.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "error_code": "DLI.0001",
    "error_msg": "name is required",
    "is_success": false,
    "message": "name is required"
}))]
pub struct ErrorBody {
    pub error_code: ErrorCode,
    /// What went wrong, for people.
    pub error_msg: String,
    /// Always false.
    pub is_success: bool,
    /// The same text as `error_msg`.
    pub message: String,
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            ApiError::ConnectionNotFound(_) | ApiError::AgentNotRegistered(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ConnectionNotFound)
            }
            ApiError::DuplicateName(_) => (StatusCode::BAD_REQUEST, ErrorCode::DuplicateName),
            ApiError::StateConflict(_) => (StatusCode::BAD_REQUEST, ErrorCode::StateConflict),
            ApiError::QuotaExceeded(_) => (StatusCode::BAD_REQUEST, ErrorCode::QuotaExceeded),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
            }
            ApiError::RequestTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal),
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal),
            ApiError::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            ApiError::BodyReadTimeout(_) => {
                (StatusCode::REQUEST_TIMEOUT, ErrorCode::PayloadTooLarge)
            }
            ApiError::BodyUnreadable => (StatusCode::BAD_REQUEST, ErrorCode::PayloadTooLarge),
            ApiError::QueueNotFound(_) | ApiError::PoolNotFound(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::ConnectionNotFound)
            }
            ApiError::NameTaken(_) => (StatusCode::BAD_REQUEST, ErrorCode::DuplicateName),
            ApiError::CapReached(_) => (StatusCode::BAD_REQUEST, ErrorCode::QuotaExceeded),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::InvalidRequest(error.0)
    }
}

impl From<CheckRefusal> for ApiError {
    fn from(refusal: CheckRefusal) -> Self {
        match refusal {
            CheckRefusal::TooFast {
                project,
                retry_after,
            } => ApiError::TooManyRequests {
                message: format!(
                    "project {project} is starting checks faster than allowed; try again later"
                ),
                retry_after,
            },
            CheckRefusal::MoreThanBudget { checks } => ApiError::InvalidRequest(format!(
                "one request may dial at most the project's per-minute check budget of addresses, \
                 not {checks}; name fewer endpoints"
            )),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::QuotaExceeded { quota } => ApiError::QuotaExceeded(quota),
            // The handler knows the name; this arm only guards a missed mapping.
            StoreError::DuplicateName => ApiError::DuplicateName(String::new()),
            StoreError::UnknownQueue(queue) => ApiError::QueueNotFound(queue),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if let ApiError::Internal(source) = &self {
            // Logged once here, inside the request span; the client learns nothing of it.
            tracing::error!(
                error = format!("{source:#}"),
                "request failed with an internal error"
            );
            "internal error; the server log has the details under this request's X-Request-Id"
                .to_owned()
        } else {
            let message = self.to_string();
            // Debug-quoted: the message may hold client text (e.g. a decoded path).
            tracing::debug!(error.code = code.as_str(), error = ?message, "request refused");
            message
        };
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after, .. } => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        let body = ErrorBody {
            error_code: code,
            error_msg: message.clone(),
            is_success: false,
            message,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// DLI.0001 invalid body, field, query, JSON, content type or project id; DLI.0002
/// unknown connection (or one of another project, or not a UUID), queue ("There is no
/// queue named <q>") or elastic resource pool; DLI.0006 duplicate name; DLI.0007 not
/// allowed in the connection's state (or the queue `default`, or deleting a bound or
/// declared queue); DLI.1028 project quota or cap reached.
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorBody);

/// APIG.0301: missing, malformed, unknown, revoked, expired or forged credentials; clock
/// skew over 15 minutes; a signature for a host not in `--allowed-hosts`.
#[derive(ToResponse)]
pub struct Unauthorized(pub ErrorBody);

/// APIG.0302: the credential or token may not use the path's project, or `X-Project-Id`
/// differs from it.
#[derive(ToResponse)]
pub struct Forbidden(pub ErrorBody);

/// APIG.0101: unknown path or method (also a path whose parameters cannot be matched,
/// e.g. an empty `project_id`).
#[derive(ToResponse)]
pub struct NotFound(pub ErrorBody);

/// APIG.0201: the body is larger than `--max-body-bytes`; refused before authentication.
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorBody);

/// APIG.0308: the caller sends requests faster than `--rate-limit`, the project starts
/// checks faster than `--checks-per-minute` (creates, bindings, reactivations, tests), or
/// the client address failed authentication more often than `--auth-failure-burst` and
/// `--auth-failures-per-second` allow.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = i64, description = "Seconds to wait before retrying")))]
pub struct TooManyRequests(pub ErrorBody);

/// DLI.0999: internal error; the details are only in the server log, under the
/// response's `X-Request-Id`.
#[derive(ToResponse)]
pub struct InternalError(pub ErrorBody);

/// DLI.0999: the request did not finish within `--request-timeout`, or (`/readyz`) the
/// store does not answer.
#[derive(ToResponse)]
pub struct Unavailable(pub ErrorBody);

/// References to the shared error responses (registered in the document's components),
/// by status.
fn error_responses(
    statuses: &[(&str, &str)],
) -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
    statuses
        .iter()
        .map(|(status, name)| {
            (
                (*status).to_owned(),
                RefOr::Ref(Ref::from_response_name(*name)),
            )
        })
        .collect()
}

/// The errors of an authenticated request on a project: listed once here instead of on
/// every handler's `responses(...)`.
pub struct ErrorResponses;

impl IntoResponses for ErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[
            ("400", BadRequest::response().0),
            ("401", Unauthorized::response().0),
            ("403", Forbidden::response().0),
            ("404", NotFound::response().0),
            ("413", PayloadTooLarge::response().0),
            ("429", TooManyRequests::response().0),
            ("500", InternalError::response().0),
            ("503", Unavailable::response().0),
        ])
    }
}

/// The errors of an authenticated request on no project (`whoami`).
pub struct CallerErrorResponses;

impl IntoResponses for CallerErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[
            ("401", Unauthorized::response().0),
            ("413", PayloadTooLarge::response().0),
            ("429", TooManyRequests::response().0),
            ("500", InternalError::response().0),
            ("503", Unavailable::response().0),
        ])
    }
}

/// The errors of a request that needs no credentials (health, metrics, the document).
pub struct ServiceErrorResponses;

impl IntoResponses for ServiceErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[
            ("500", InternalError::response().0),
            ("503", Unavailable::response().0),
        ])
    }
}

/// How many characters of a client-supplied value an error message repeats.
const EXCERPT_CHARS: usize = 8;

/// A client-supplied value as error messages may repeat it: the first few characters,
/// then `...` if there were more. Echoing whole values would hand back whatever a client
/// sent (a 15 KB access key) and confirm more than needed.
pub fn excerpt(value: &str) -> String {
    crate::domain::text::clean(value, EXCERPT_CHARS)
}

/// A message that may contain client input (e.g. a parser's error, an agent's words),
/// bounded and without control or bidi characters.
pub fn bounded(message: &str) -> String {
    const MAX_CHARS: usize = 160;
    crate::domain::text::clean(message, MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_keep_short_values_and_cut_long_ones() {
        assert_eq!(excerpt("HPUA"), "HPUA");
        assert_eq!(excerpt("12345678"), "12345678");
        assert_eq!(excerpt(&"A".repeat(15_000)), "AAAAAAAA...");
        assert_eq!(excerpt("环境环境环境环境环境"), "环境环境环境环境...");
        assert_eq!(bounded(&"x".repeat(1000)).chars().count(), 163);
        assert_eq!(bounded("a\u{1b}[2Jb\nc"), "a\u{FFFD}[2Jb c");
    }

    #[test]
    fn error_codes_serialise_as_their_documented_spelling() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).ok(), Some(code.as_str().into()));
        }
    }
}
