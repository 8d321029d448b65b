//! Every endpoint of the API, each declared once. `routes!` reads a handler's path and
//! methods from its `#[utoipa::path]`, so its route and its OpenAPI entry come from the
//! same place; who may call it comes from the group it is in ([`Access`]), which decides
//! both whether `authenticate` runs before it and the security its entry shows. The
//! groups and the endpoints in them are in the order of the document.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ServiceErrorResponses;
use super::openapi::{ApiDoc, require_credentials, with_request_id_header};
use super::state::AppState;
use super::{
    agency, agents, auth_infos, bindings, checks, connections, enhanced, events, pools,
    queue_tests, queues, quotas, reactivate, resource_tags, service, sharing,
};

/// Who may call a group of endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: liveness, readiness, metrics and this document.
    Public,
    /// A caller with an `X-Auth-Token` or an AK/SK signature.
    Credentials,
}

/// The endpoints, grouped by who may call them, in the document's order.
#[expect(
    deprecated,
    reason = "the deprecated v2.0 twins of auth infos are still served"
)]
pub fn endpoints() -> [(Access, OpenApiRouter<AppState>); 3] {
    let classic_queues_and_enhanced = OpenApiRouter::new()
        // DLI's classic datasource connections and dsconn's extensions on them.
        .routes(routes!(connections::create, connections::list))
        .routes(routes!(connections::show, connections::delete))
        .routes(routes!(bindings::associate))
        .routes(routes!(bindings::disassociate))
        .routes(routes!(reactivate::reactivate))
        .routes(routes!(connections::credentials::set_auth_info))
        .routes(routes!(checks::test_connection))
        .routes(routes!(checks::test_definition))
        // Queues and elastic resource pools.
        .routes(routes!(queues::create, queues::list))
        .routes(routes!(
            queues::show,
            queues::delete,
            queues::changes::update_cidr
        ))
        .routes(routes!(pools::create, pools::list))
        .routes(routes!(pools::delete, pools::queues::update_pool))
        .routes(routes!(queues::changes::action))
        .routes(routes!(
            queues::properties::list,
            queues::properties::create,
            queues::properties::update,
            queues::properties::delete
        ))
        .routes(routes!(pools::queues::list, pools::queues::associate))
        .routes(routes!(pools::queues::update_policies))
        .routes(routes!(quotas::show))
        .routes(routes!(agency::create, agency::show))
        // Enhanced datasource connections (E1-E9, and the v2.0 route twins).
        .routes(routes!(
            enhanced::connections::create,
            enhanced::connections::list
        ))
        .routes(routes!(
            enhanced::connections::show,
            enhanced::connections::delete,
            enhanced::connections::update
        ))
        .routes(routes!(enhanced::connections::associate))
        .routes(routes!(enhanced::connections::disassociate))
        .routes(routes!(enhanced::routes::create_v3))
        .routes(routes!(enhanced::routes::delete_v3))
        .routes(routes!(enhanced::routes::create_v2))
        .routes(routes!(enhanced::routes::delete_v2))
        .routes(routes!(service::whoami))
        .routes(routes!(service::projects))
        // The audit trail: recorded changes, listed and followed.
        .routes(routes!(events::list))
        .routes(routes!(events::stream));
    let service = OpenApiRouter::new()
        .routes(routes!(service::healthz))
        .routes(routes!(service::readyz))
        .routes(routes!(service::metrics))
        .routes(routes!(openapi_json));
    let agents_sharing_tags_and_auth_infos = OpenApiRouter::new()
        // Queues in other networks: DLI's queue connection test and the agent API.
        .routes(routes!(queue_tests::create))
        .routes(routes!(queue_tests::show))
        .routes(routes!(agents::register, agents::list))
        .routes(routes!(agents::heartbeat))
        .routes(routes!(agents::deregister))
        .routes(routes!(agents::claim))
        .routes(routes!(agents::report))
        .routes(routes!(agents::hosts_file))
        // Sharing enhanced connections with other projects.
        .routes(routes!(sharing::run_authorization_action))
        .routes(routes!(sharing::list_authorization_privileges))
        .routes(routes!(sharing::show_connection_privileges))
        // DLI's v3 tag API, for enhanced connections.
        .routes(routes!(resource_tags::batch_create))
        .routes(routes!(resource_tags::batch_delete))
        .routes(routes!(resource_tags::show))
        .routes(routes!(resource_tags::list_project_tags))
        .routes(routes!(resource_tags::filter))
        .routes(routes!(resource_tags::count_filtered))
        // Datasource authentication, v3 and the deprecated v2.0 twins.
        .routes(routes!(
            auth_infos::create,
            auth_infos::list,
            auth_infos::update
        ))
        .routes(routes!(auth_infos::delete))
        .routes(routes!(
            auth_infos::create_v2,
            auth_infos::list_v2,
            auth_infos::update_v2
        ))
        .routes(routes!(auth_infos::delete_v2));
    [
        (Access::Credentials, classic_queues_and_enhanced),
        (Access::Public, service),
        (Access::Credentials, agents_sharing_tags_and_auth_infos),
    ]
}

/// The whole document: the frame of [`ApiDoc`] and every endpoint's entry, with the
/// credentials its group needs.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for (access, routes) in endpoints() {
        let mut part = routes.into_openapi();
        if access == Access::Credentials {
            require_credentials(&mut part);
        }
        document.merge(part);
    }
    with_request_id_header(&mut document);
    document
}

/// The document as served, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
});

/// `GET /openapi.json`: this API's OpenAPI 3.1 document. No credentials needed.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "GetOpenApiDocument",
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object), ServiceErrorResponses),
)]
pub async fn openapi_json() -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1() {
        let document = serde_json::to_value(document()).expect("serialises");
        assert_eq!(document["openapi"], "3.1.0");
    }

    #[test]
    fn only_the_public_group_is_served_without_credentials() {
        let document = serde_json::to_value(document()).expect("serialises");
        let public = ["/healthz", "/readyz", "/metrics", "/openapi.json"];
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                assert_eq!(
                    operation.get("security").is_none(),
                    public.contains(&path.as_str()),
                    "{method} {path}"
                );
            }
        }
    }
}
