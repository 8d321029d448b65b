use std::any::Any;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::ApiError;
use super::service::{healthz, metrics, readyz, whoami};
use super::state::AppState;
use super::{
    agency, agents, auth_infos, bindings, checks, connections, enhanced, middleware, pool_queues,
    pools, queue_changes, queue_properties, queue_tests, queues, quotas, reactivate, resource_tags,
    sharing,
};

/// The whole HTTP surface, with request ids, tracing and DLI-shaped fallbacks.
pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.settings.max_body_bytes).unwrap_or(usize::MAX);
    let api = Router::new()
        .route(
            "/v2.0/{project_id}/datasource-connection",
            get(connections::list).post(connections::create),
        )
        .route(
            "/v2.0/{project_id}/datasource-connection/{connection_id}",
            get(connections::show).delete(connections::delete),
        )
        .route(
            "/v2.0/{project_id}/datasource-connection/test",
            post(checks::test_definition),
        )
        .route(
            "/v2.0/{project_id}/datasource-connection/{connection_id}/associate-queue",
            post(bindings::associate),
        )
        .route(
            "/v2.0/{project_id}/datasource-connection/{connection_id}/disassociate-queue",
            post(bindings::disassociate),
        )
        .route(
            "/v2.0/{project_id}/datasource-connection/{connection_id}/reactivate",
            post(reactivate::reactivate),
        )
        .route(
            "/v2.0/{project_id}/datasource-connection/{connection_id}/test",
            post(checks::test_connection),
        )
        .route(
            "/v1.0/{project_id}/queues/{queue_name}/connection-test",
            post(queue_tests::create),
        )
        .route(
            "/v1.0/{project_id}/queues/{queue_name}/connection-test/{task_id}",
            get(queue_tests::show),
        )
        .route(
            "/dsconn/v1/{project_id}/agents",
            get(agents::list).post(agents::register),
        )
        .route(
            "/dsconn/v1/{project_id}/agents/{agent_id}",
            axum::routing::delete(agents::deregister),
        )
        .route(
            "/dsconn/v1/{project_id}/agents/{agent_id}/heartbeat",
            post(agents::heartbeat),
        )
        .route(
            "/dsconn/v1/{project_id}/agents/{agent_id}/claim",
            post(agents::claim),
        )
        .route(
            "/dsconn/v1/{project_id}/agents/{agent_id}/results",
            post(agents::report),
        )
        .route(
            "/dsconn/v1/{project_id}/agents/{agent_id}/hosts-files/{queue_name}",
            get(agents::hosts_file),
        )
        // Queues and elastic resource pools.
        .route(
            "/v1.0/{project_id}/queues",
            get(queues::list).post(queues::create),
        )
        .route(
            "/v1.0/{project_id}/queues/{queue_name}",
            get(queues::show)
                .delete(queues::delete)
                .put(queue_changes::update_cidr),
        )
        .route(
            "/v1.0/{project_id}/queues/{queue_name}/action",
            put(queue_changes::action),
        )
        .route(
            "/v3/{project_id}/queues/{queue_name}/properties",
            get(queue_properties::list)
                .post(queue_properties::create)
                .put(queue_properties::update)
                .delete(queue_properties::delete),
        )
        .route(
            "/v3/{project_id}/elastic-resource-pools",
            get(pools::list).post(pools::create),
        )
        .route(
            "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}",
            delete(pools::delete).put(pool_queues::update_pool),
        )
        .route(
            "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}/queues",
            get(pool_queues::list).post(pool_queues::associate),
        )
        .route(
            "/v3/{project_id}/elastic-resource-pools/{elastic_resource_pool_name}/queues/{queue_name}",
            put(pool_queues::update_policies),
        )
        .route("/v3/{project_id}/quotas", get(quotas::show))
        .route(
            "/v2/{project_id}/agency",
            get(agency::show).post(agency::create),
        )
        // Enhanced datasource connections (E1-E9, and the v2.0 route twins).
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections",
            get(enhanced::connections::list).post(enhanced::connections::create),
        )
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}",
            get(enhanced::connections::show)
                .delete(enhanced::connections::delete)
                .put(enhanced::connections::update),
        )
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/associate-queue",
            post(enhanced::connections::associate),
        )
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/disassociate-queue",
            post(enhanced::connections::disassociate),
        )
        .route(
            "/v3/{project_id}/datasource/enhanced-connections/{connection_id}/routes",
            post(enhanced::routes::create_v3),
        )
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/routes",
            post(enhanced::routes::create_v2),
        )
        .route(
            "/v3/{project_id}/datasource/enhanced-connections/{connection_id}/routes/{name}",
            delete(enhanced::routes::delete_v3),
        )
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/routes/{name}",
            delete(enhanced::routes::delete_v2),
        )
        // Sharing enhanced connections with other projects.
        .route(
            "/v1.0/{project_id}/authorization",
            put(sharing::run_authorization_action),
        )
        .route(
            "/v1.0/{project_id}/authorization/privileges",
            get(sharing::list_authorization_privileges),
        )
        .route(
            "/v2.0/{project_id}/datasource/enhanced-connections/{connection_id}/privileges",
            get(sharing::show_connection_privileges),
        )
        // DLI's v3 tag API, for enhanced connections.
        .route(
            "/v3/{project_id}/{resource_type}/{resource_id}/tags/create",
            post(resource_tags::batch_create),
        )
        .route(
            "/v3/{project_id}/{resource_type}/{resource_id}/tags/delete",
            post(resource_tags::batch_delete),
        )
        .route(
            "/v3/{project_id}/{resource_type}/{resource_id}/tags",
            get(resource_tags::show),
        )
        .route(
            "/v3/{project_id}/{resource_type}/tags",
            get(resource_tags::list_project_tags),
        )
        .route(
            "/v3/{project_id}/{resource_type}/resource-instances/filter",
            post(resource_tags::filter),
        )
        .route(
            "/v3/{project_id}/{resource_type}/resource-instances/count",
            post(resource_tags::count_filtered),
        )
        // Datasource authentication, v3 and the deprecated v2.0 twins.
        .merge(auth_infos::routes())
        .route("/dsconn/v1/whoami", get(whoami))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(super::openapi::openapi_json))
        .merge(super::console::routes())
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
                            .map(|path| path.as_str().to_owned())
                            .unwrap_or_default();
                        // The id is a safe token (see drop_unsafe_request_id); the path
                        // and method come from the client, so they are Debug-quoted.
                        tracing::info_span!(
                            "request",
                            request.id = %request_id,
                            http.method = ?request.method().as_str(),
                            http.route = %route,
                            http.path = ?request.uri().path(),
                        )
                    })
                    .on_request(())
                    .on_response(
                        DefaultOnResponse::new()
                            .level(Level::INFO)
                            .latency_unit(tower_http::LatencyUnit::Millis),
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
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    crate::telemetry::metrics::record_request(
        &method,
        &route,
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
