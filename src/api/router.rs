use std::any::Any;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::endpoints::{Access, endpoints};
use super::error::ApiError;
use super::service::healthz;
use super::state::AppState;
use super::{console, middleware};

/// The whole HTTP surface, with request ids, tracing and DLI-shaped fallbacks.
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.settings.max_body_bytes).unwrap_or(usize::MAX);
    let authenticate =
        axum::middleware::from_fn_with_state(state.clone(), middleware::authenticate);
    let api = endpoints()
        .into_iter()
        .fold(Router::new(), |api, (access, routes)| {
            let routes = Router::from(routes);
            api.merge(match access {
                Access::Public => routes,
                Access::Credentials => routes.route_layer(authenticate.clone()),
            })
        })
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::deadline,
        ))
        .layer(axum::middleware::from_fn(count_request))
        .with_state(state);

    api.layer(
        ServiceBuilder::new()
            .map_request(drop_unsafe_request_id)
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default();
                        let route = request
                            .extensions()
                            .get::<axum::extract::MatchedPath>()
                            .map_or("", axum::extract::MatchedPath::as_str);
                        // The id is a safe token (see drop_unsafe_request_id) and the
                        // method one of a fixed list; the path comes from the client, so
                        // it is Debug-quoted. Nothing is copied or allocated for them.
                        tracing::info_span!(
                            "request",
                            request.id = %request_id,
                            http.method = %method_label(request.method()),
                            http.route = %route,
                            http.path = ?request.uri().path(),
                        )
                    })
                    .on_request(())
                    // The one line per request, with numbers, not formatted durations.
                    .on_response(
                        |response: &Response<_>,
                         latency: std::time::Duration,
                         _: &tracing::Span| {
                            tracing::info!(
                                status = response.status().as_u16(),
                                latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                                "finished processing request"
                            );
                        },
                    ),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::custom(panic_response)),
    )
}

/// Only `/healthz`: what a worker-only process serves.
pub fn health_only() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(tower::util::MapRequestLayer::new(drop_unsafe_request_id))
}

/// Longest client `X-Request-Id` that is kept.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Keeps a client's `X-Request-Id` only if it is a short token of `A-Za-z0-9._-`;
/// otherwise removes it, so that one is generated. The id goes into every log line of
/// the request, where spaces, `=` or quotes could forge fields.
fn drop_unsafe_request_id(mut request: Request<axum::body::Body>) -> Request<axum::body::Body> {
    let safe = |value: &axum::http::HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    };
    let headers = request.headers_mut();
    let values: Vec<_> = headers.get_all("x-request-id").iter().collect();
    if values.len() > 1 || values.first().is_some_and(|value| !safe(value)) {
        headers.remove("x-request-id");
    }
    request
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Counts every request by its route template (not its path: ids would explode the
/// label space), method and status.
async fn count_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
    // A cheap clone (the template is shared), kept because `next` takes the request.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let response = next.run(request).await;
    crate::telemetry::metrics::record_request(
        method,
        route
            .as_ref()
            .map_or("unmatched", axum::extract::MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// A request's method as a metrics label: the standard methods by name, any other as
/// `OTHER`, so that clients inventing methods cannot grow the label space.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response<axum::body::Body> {
    ApiError::Internal(anyhow::anyhow!("a request handler panicked")).into_response()
}
