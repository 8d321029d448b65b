//! The OpenAPI 3.1 description of the whole HTTP surface, generated from the wire types
//! (`types.rs`, `error.rs`) and the handlers' `#[utoipa::path]` annotations, and served
//! at `GET /openapi.json`. `docs/openapi.snap` (an insta snapshot) is the committed copy;
//! the integration test `openapi` fails when the two differ (regenerate: see there).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{HeaderBuilder, Object, RefOr, Type};
use utoipa::{Modify, OpenApi};

use super::error::{
    BadRequest, ErrorBody, Forbidden, InternalError, NotFound, PayloadTooLarge,
    ServiceErrorResponses, TooManyRequests, Unauthorized, Unavailable,
};
use super::types::{
    ConnectionResponse, CreateConnectionRequest, CreateConnectionResponse, EndpointCheck,
    HealthResponse, ListConnectionsResponse, QueueInfo, QueuesRequest, ReadyResponse, SortOrder,
    SuccessResponse, TagInput, TestDefinitionRequest, TestResponse, WhoamiResponse,
};
use super::types::{
    CreatePoolRequest, CreatePoolResponse, CreateQueueRequest, CreateQueueResponse,
    ListPoolsResponse, ListQueuesResponse, PoolItem, QueueEcho, QueueItem, ShowQueueResponse,
};

/// Name of the `X-Auth-Token` security scheme.
pub const TOKEN_SCHEME: &str = "auth_token";
/// Name of the AK/SK signature security scheme.
pub const SIGNATURE_SCHEME: &str = "aksk_signature";

/// The document: every route of the router, its bodies and its errors.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dsconn",
        description = "A self-hosted, wire-compatible implementation of Huawei Cloud DLI's \
            classic datasource-connection API v2.0, with dsconn's extensions (queue \
            bindings, reactivation, checks on demand, whoami, health and metrics), and DLI's \
            queues and elastic resource pools.\n\n\
            Every response carries `X-Request-Id` (a client-supplied one is kept). Times are \
            epoch milliseconds, UTC. Errors answer DLI's error body `ErrorBody`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::connections::create,
        super::connections::list,
        super::connections::show,
        super::connections::delete,
        super::bindings::associate,
        super::bindings::disassociate,
        super::reactivate::reactivate,
        super::checks::test_connection,
        super::checks::test_definition,
        super::queues::create,
        super::queues::list,
        super::queues::show,
        super::queues::delete,
        super::pools::create,
        super::pools::list,
        super::pools::delete,
        super::queue_changes::action,
        super::queue_changes::update_cidr,
        super::queue_properties::list,
        super::queue_properties::create,
        super::queue_properties::update,
        super::queue_properties::delete,
        super::pool_queues::list,
        super::pool_queues::associate,
        super::pool_queues::update_policies,
        super::pool_queues::update_pool,
        super::quotas::show,
        super::agency::create,
        super::agency::show,
        super::enhanced::connections::create,
        super::enhanced::connections::list,
        super::enhanced::connections::show,
        super::enhanced::connections::delete,
        super::enhanced::connections::associate,
        super::enhanced::connections::disassociate,
        super::enhanced::connections::update,
        super::enhanced::routes::create_v3,
        super::enhanced::routes::delete_v3,
        super::enhanced::routes::create_v2,
        super::enhanced::routes::delete_v2,
        super::service::whoami,
        super::service::healthz,
        super::service::readyz,
        super::service::metrics,
        openapi_json,
    ),
    components(
        schemas(
            CreateConnectionRequest,
            TagInput,
            CreateConnectionResponse,
            ListConnectionsResponse,
            ConnectionResponse,
            QueueInfo,
            EndpointCheck,
            QueuesRequest,
            TestDefinitionRequest,
            TestResponse,
            SuccessResponse,
            ErrorBody,
            SortOrder,
            WhoamiResponse,
            HealthResponse,
            ReadyResponse,
            CreateQueueRequest,
            CreateQueueResponse,
            ListQueuesResponse,
            QueueItem,
            QueueEcho,
            ShowQueueResponse,
            CreatePoolRequest,
            CreatePoolResponse,
            ListPoolsResponse,
            PoolItem,
            super::queue_pool_types::QueueScalingPolicy,
            super::queue_pool_types::PoolQueueItem,
            super::queue_pool_types::ListPoolQueuesResponse,
            super::queue_pool_types::AssociatePoolQueueRequest,
            super::queue_pool_types::UpdatePoolQueueRequest,
            super::queue_pool_types::UpdatePoolRequest,
            super::queue_pool_types::QueueActionRequest,
            super::queue_pool_types::QueueActionResponse,
            super::queue_pool_types::UpdateQueueCidrRequest,
            super::queue_pool_types::QueueProperty,
            super::queue_pool_types::ListQueuePropertiesResponse,
            super::queue_pool_types::PutQueuePropertiesRequest,
            super::queue_pool_types::DeleteQueuePropertiesRequest,
            super::queue_pool_types::QuotaResource,
            super::queue_pool_types::Quotas,
            super::queue_pool_types::ShowQuotaResponse,
            super::queue_pool_types::CreateAgencyRequest,
            super::queue_pool_types::ShowAgencyResponse,
            super::enhanced::types::CreateEnhancedConnectionRequest,
            super::enhanced::types::CreateEnhancedConnectionResponse,
            super::enhanced::types::EnhancedConnectionHost,
            super::enhanced::types::EnhancedConnectionRoute,
            super::enhanced::types::EnhancedConnectionResource,
            super::enhanced::types::EnhancedConnection,
            super::enhanced::types::ListEnhancedConnectionsResponse,
            super::enhanced::types::ShowEnhancedConnectionResponse,
            super::enhanced::types::EnhancedBindingsRequest,
            super::enhanced::types::UpdateEnhancedConnectionRequest,
            super::enhanced::types::CreateEnhancedRouteRequest,
        ),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            TooManyRequests,
            InternalError,
            Unavailable,
        ),
    ),
    modifiers(&SecuritySchemes, &RequestIdHeader),
    tags(
        (name = "connections", description = "DLI's classic datasource-connection operations"),
        (name = "extensions", description = "dsconn's extensions on connections"),
        (name = "queues", description = "DLI's queues and elastic resource pools: they must exist to be bound"),
        (name = "enhanced", description = "DLI's enhanced datasource connections: bindings of queues and pools, hosts, routes"),
        (name = "service", description = "Identity, health, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// Queues in other networks: the agent API and DLI's queue connection test.
#[derive(OpenApi)]
#[openapi(
    paths(
        super::queue_tests::create,
        super::queue_tests::show,
        super::agents::register,
        super::agents::list,
        super::agents::heartbeat,
        super::agents::deregister,
        super::agents::claim,
        super::agents::report,
        super::agents::hosts_file,
    ),
    components(schemas(
        super::queue_tests::CreateConnectivityTaskRequest,
        super::queue_tests::CreateConnectivityTaskResponse,
        super::queue_tests::ShowConnectivityTaskResponse,
        super::agent_types::RegisterAgentRequest,
        super::agent_types::RegisterAgentResponse,
        super::agent_types::ClaimRequest,
        super::agent_types::ClaimResponse,
        super::agent_types::AgentWorkItem,
        super::agent_types::AgentResultRequest,
        super::agent_types::AgentResultResponse,
        super::agent_types::QueueAgent,
        super::agent_types::AgentItem,
        super::agent_types::ListAgentsResponse,
        super::agent_types::HostsFileResponse,
    )),
    tags(
        (name = "agents", description = "dsconn's agents: checks from a queue's own network"),
    ),
)]
struct QueueNetworkDoc;

/// Sharing enhanced connections with other projects, and their tags (DLI's v3 tag API).
#[derive(OpenApi)]
#[openapi(
    paths(
        super::sharing::run_authorization_action,
        super::sharing::list_authorization_privileges,
        super::sharing::show_connection_privileges,
        super::resource_tags::batch_create,
        super::resource_tags::batch_delete,
        super::resource_tags::show,
        super::resource_tags::list_project_tags,
        super::resource_tags::filter,
        super::resource_tags::count_filtered,
    ),
    components(schemas(
        super::sharing_types::AuthorizationRequest,
        super::sharing_types::PrivilegeInput,
        super::sharing_types::ConnectionPrivilegesResponse,
        super::sharing_types::ConnectionPrivilege,
        super::sharing_types::AuthorizationPrivilegesResponse,
        super::sharing_types::AuthorizationPrivilege,
        super::sharing_types::ResourceTagsRequest,
        super::sharing_types::ResourceTagInput,
        super::sharing_types::ResourceTagsResponse,
        super::sharing_types::ProjectTagsResponse,
        super::sharing_types::TagWithValues,
        super::sharing_types::ResourceFilterRequest,
        super::sharing_types::TagValuesInput,
        super::sharing_types::MatchInput,
        super::sharing_types::ResourceFilterResponse,
        super::sharing_types::TaggedResource,
        super::sharing_types::ResourceCountResponse,
        crate::domain::Tag,
    )),
    tags(
        (name = "sharing", description = "Sharing enhanced connections with other projects (BIND_QUEUE)"),
        (name = "tags", description = "DLI's v3 tag API for enhanced connections (dli_enhanced_datasource)"),
    ),
)]
struct SharingDoc;

/// The whole document: DLI's operations and the extensions.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(QueueNetworkDoc::openapi());
    document.merge(SharingDoc::openapi());
    document.merge(super::auth_infos::AuthInfoDoc::openapi());
    // The merged paths answer with a request id too.
    RequestIdHeader.modify(&mut document);
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
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object),
        ServiceErrorResponses,
    ),
)]
pub async fn openapi_json() -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A token issued by `dsconn token create`, scoped to some projects or to all.",
            ))),
        );
        components.add_security_scheme(
            SIGNATURE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An access key signature exactly as the official Huawei Cloud SDKs make it: \
                 `Authorization: SDK-HMAC-SHA256 Access=<access key>, SignedHeaders=<names>, \
                 Signature=<hex>`, with the signing time in `X-Sdk-Date` \
                 (`YYYYMMDDTHHMMSSZ`, at most 15 minutes from the server's clock). The \
                 signature is HMAC-SHA256 with the secret key over `SDK-HMAC-SHA256\\n` + \
                 `X-Sdk-Date` + `\\n` + hex SHA-256 of the canonical request (method, path \
                 with a trailing `/`, sorted query, signed headers, and the body's hex SHA-256 or \
                 `X-Sdk-Content-Sha256`). \
                 When both this and `X-Auth-Token` are sent, the signature is checked.",
            ))),
        );
    }
}

/// `X-Request-Id` on every response, documented once here rather than on each.
struct RequestIdHeader;

impl Modify for RequestIdHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = HeaderBuilder::new()
            .schema(Some(Object::with_type(Type::String)))
            .description(Some(
                "The request's id: the client's `X-Request-Id` when it sent one, a new UUID \
                 otherwise. The server log has the request under it.",
            ))
            .build();
        let responses = openapi
            .paths
            .paths
            .values_mut()
            .flat_map(|item| {
                [
                    item.get.as_mut(),
                    item.put.as_mut(),
                    item.post.as_mut(),
                    item.delete.as_mut(),
                    item.options.as_mut(),
                    item.head.as_mut(),
                    item.patch.as_mut(),
                    item.trace.as_mut(),
                ]
            })
            .flatten()
            .flat_map(|operation| operation.responses.responses.values_mut())
            .filter_map(|response| match response {
                RefOr::T(response) => Some(response),
                RefOr::Ref(_) => None,
            });
        let components = openapi
            .components
            .iter_mut()
            .flat_map(|components| components.responses.values_mut())
            .filter_map(|response| match response {
                RefOr::T(response) => Some(response),
                RefOr::Ref(_) => None,
            });
        for response in responses.chain(components) {
            response
                .headers
                .insert("X-Request-Id".to_owned(), RefOr::T(header.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1() {
        let document = serde_json::to_value(document()).expect("serialises");
        assert_eq!(document["openapi"], "3.1.0");
    }
}
