//! The one error type of the API, answered in DLI's error body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

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
    #[schema(value_type = super::openapi::schemas::ErrorCode)]
    pub error_code: &'static str,
    /// What went wrong, for people.
    pub error_msg: String,
    /// Always false.
    pub is_success: bool,
    /// The same text as `error_msg`.
    pub message: String,
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "DLI.0001"),
            ApiError::ConnectionNotFound(_) => (StatusCode::BAD_REQUEST, "DLI.0002"),
            ApiError::DuplicateName(_) => (StatusCode::BAD_REQUEST, "DLI.0006"),
            ApiError::StateConflict(_) => (StatusCode::BAD_REQUEST, "DLI.0007"),
            ApiError::QuotaExceeded(_) => (StatusCode::BAD_REQUEST, "DLI.1028"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "APIG.0301"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "APIG.0302"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "APIG.0308"),
            ApiError::RequestTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "DLI.0999"),
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "DLI.0999"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "APIG.0101"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "APIG.0201"),
            ApiError::BodyReadTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "APIG.0201"),
            ApiError::BodyUnreadable => (StatusCode::BAD_REQUEST, "APIG.0201"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "DLI.0999"),
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
            tracing::debug!(error.code = code, error = ?message, "request refused");
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

/// How many characters of a client-supplied value an error message repeats.
const EXCERPT_CHARS: usize = 8;

/// A client-supplied value as error messages may repeat it: the first few characters,
/// then `...` if there were more. Echoing whole values would hand back whatever a client
/// sent (a 15 KB access key) and confirm more than needed.
pub fn excerpt(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// A message that may contain client input (e.g. a parser's error), bounded.
pub fn bounded(message: &str) -> String {
    const MAX_CHARS: usize = 160;
    let mut chars = message.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
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
    }
}
