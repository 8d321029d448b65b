//! What the client reads from every answer: its request id and a DLI error body, and
//! the errors a call ends in.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a DLI error body.
    #[error("{code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("could not reach dsconn at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "the server at {endpoint} answered {status} with a body that is not the API's: {detail}"
    )]
    Protocol {
        endpoint: String,
        status: u16,
        detail: String,
    },
    #[error("invalid client settings: {0}")]
    Settings(String),
}

/// A response's `X-Request-Id`, for error messages.
pub(super) fn request_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// A DLI error body (already cleaned) as [`ClientError::Api`]; `fallback` is the message
/// when it has no `error_msg`.
pub(super) fn api_error(
    status: u16,
    raw: &Value,
    request_id: Option<String>,
    fallback: impl FnOnce() -> String,
) -> ClientError {
    let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
    ClientError::Api {
        status,
        code: text("error_code").unwrap_or_else(|| status.to_string()),
        message: text("error_msg").unwrap_or_else(fallback),
        request_id,
    }
}
