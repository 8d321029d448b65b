//! The API's middleware: authentication (with the body read, bounded, and the rate
//! limits of `limits`) and the request deadline.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{Principal, PrincipalKind, Refusal};
use super::error::ApiError;
use super::state::AppState;
use crate::store::Actor;

/// The middleware: reads the body (bounded in size and time), authenticates, and hands
/// the request on with its [`Principal`](super::auth::Principal). A failure spends the client address's budget
/// of failures; over it, the answer is 429 (and the log line is skipped).
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.settings.max_body_bytes;
    let (mut parts, body) = request.into_parts();
    let declared_length = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > u64::from(limit)) {
        return ApiError::PayloadTooLarge(limit).into_response();
    }
    let body = match read_body(body, limit, state.settings.body_read_timeout).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    match state.auth.authenticate(&parts, &body).await {
        Ok(principal) => {
            if let Err(error) = state.request_limiter.check(&principal.rate_key()) {
                return error.into_response();
            }
            let actor = actor_of(&principal, &parts);
            parts.extensions.insert(principal);
            // The request's writes record it as their actor (see store::events).
            actor
                .act(next.run(Request::from_parts(parts, Body::from(body))))
                .await
        }
        Err(Refusal {
            error,
            reason: None,
            ..
        }) => error.into_response(),
        Err(Refusal {
            error,
            reason: Some(reason),
            access_key,
        }) => {
            let client = client_address(&parts);
            if let Err(limited) = state
                .auth_failures
                .charge(crate::server::client_key(client))
            {
                crate::telemetry::metrics::record_auth_failure("rate_limited");
                tracing::debug!(client = %client, reason, "authentication failure rate-limited");
                return limited.into_response();
            }
            crate::telemetry::metrics::record_auth_failure(reason);
            tracing::warn!(
                client = %client,
                access_key = ?access_key.unwrap_or_default(),
                reason,
                "authentication failed"
            );
            error.into_response()
        }
    }
}

/// Who the audit trail records as making a request's changes, and from where.
fn actor_of(principal: &Principal, parts: &Parts) -> Actor {
    let name = match &principal.kind {
        PrincipalKind::Anonymous => "anonymous".to_owned(),
        PrincipalKind::AccessKey(access_key) => format!("ak:{access_key}"),
        PrincipalKind::Token(id) => format!("token:{id}"),
    };
    Actor {
        name,
        client: Some(client_address(parts).to_string()),
        request_id: parts
            .headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
    }
}

/// The peer's address as the server loop recorded it (unspecified when the router runs
/// without it, e.g. in unit tests).
pub(super) fn client_address(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}

/// Reads the whole body within `timeout`: only a body over `limit` is 413; one that ends
/// early or is malformed (e.g. bad chunking) is 400, a slow one 408.
async fn read_body(body: Body, limit: u32, timeout: Duration) -> Result<Bytes, ApiError> {
    let max = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => Err(ApiError::BodyReadTimeout(timeout)),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) if is_length_limit(&error) => Err(ApiError::PayloadTooLarge(limit)),
        Ok(Err(error)) => {
            tracing::debug!(error = %error, "reading a request body failed");
            Err(ApiError::BodyUnreadable)
        }
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// Answers a request that runs longer than the configured deadline with an error.
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.settings.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout(limit).into_response(),
    }
}
