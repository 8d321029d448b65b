//! What the client reads from every answer: its request id and a DLI error body.

use serde_json::Value;

use super::ClientError;

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
