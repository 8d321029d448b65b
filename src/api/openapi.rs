//! The frame of the OpenAPI 3.1 description of the whole HTTP surface: its title, tags,
//! security schemes, shared components and the `X-Request-Id` header. The entries of the
//! endpoints come from their handlers' `#[utoipa::path]` annotations, collected where
//! each endpoint is routed (`endpoints.rs`, which serves the document at
//! `GET /openapi.json`). `docs/openapi.snap` (an insta snapshot) is the committed copy;
//! the integration test `openapi` fails when the two differ (regenerate: see there).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{HeaderBuilder, Object, RefOr, Type};
use utoipa::{Modify, OpenApi};

use super::bindings::types::QueuesRequest;
use super::connections::types::{
    ConnectionResponse, CreateConnectionRequest, CreateConnectionResponse, ListConnectionsResponse,
    QueueInfo, SortOrder,
};
use super::error::{
    BadRequest, ErrorBody, Forbidden, InternalError, NotFound, PayloadTooLarge, TooManyRequests,
    Unauthorized, Unavailable,
};
use super::pools::types::{CreatePoolRequest, CreatePoolResponse, ListPoolsResponse, PoolItem};
use super::queues::types::{
    CreateQueueRequest, CreateQueueResponse, ListQueuesResponse, QueueEcho, QueueItem,
    ShowQueueResponse,
};
use super::service::types::{HealthResponse, ReadyResponse, WhoamiResponse};
use super::types::{EndpointCheck, SuccessResponse, TagInput, TestDefinitionRequest, TestResponse};

/// Name of the `X-Auth-Token` security scheme.
pub const TOKEN_SCHEME: &str = "auth_token";
/// Name of the AK/SK signature security scheme.
pub const SIGNATURE_SCHEME: &str = "aksk_signature";

/// The document's frame: everything but the endpoints' entries.
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
            super::pools::types::QueueScalingPolicy,
            super::pools::types::PoolQueueItem,
            super::pools::types::ListPoolQueuesResponse,
            super::pools::types::AssociatePoolQueueRequest,
            super::pools::types::UpdatePoolQueueRequest,
            super::pools::types::UpdatePoolRequest,
            super::queues::types::QueueActionRequest,
            super::queues::types::QueueActionResponse,
            super::queues::types::UpdateQueueCidrRequest,
            super::queues::types::QueueProperty,
            super::queues::types::ListQueuePropertiesResponse,
            super::queues::types::PutQueuePropertiesRequest,
            super::queues::types::DeleteQueuePropertiesRequest,
            super::quotas::types::QuotaResource,
            super::quotas::types::Quotas,
            super::quotas::types::ShowQuotaResponse,
            super::agency::types::CreateAgencyRequest,
            super::agency::types::ShowAgencyResponse,
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
        super::sharing::types::AuthorizationRequest,
        super::sharing::types::PrivilegeInput,
        super::sharing::types::ConnectionPrivilegesResponse,
        super::sharing::types::ConnectionPrivilege,
        super::sharing::types::AuthorizationPrivilegesResponse,
        super::sharing::types::AuthorizationPrivilege,
        super::resource_tags::types::ResourceTagsRequest,
        super::resource_tags::types::ResourceTagInput,
        super::resource_tags::types::ResourceTagsResponse,
        super::resource_tags::types::ProjectTagsResponse,
        super::resource_tags::types::TagWithValues,
        super::resource_tags::types::ResourceFilterRequest,
        super::resource_tags::types::TagValuesInput,
        super::resource_tags::types::MatchInput,
        super::resource_tags::types::ResourceFilterResponse,
        super::resource_tags::types::TaggedResource,
        super::resource_tags::types::ResourceCountResponse,
        crate::domain::Tag,
            super::auth_infos::types::AuthInfoRequest,
            super::auth_infos::types::AuthInfoItem,
            super::auth_infos::types::ListAuthInfosResponse,
            crate::domain::auth_info::DatasourceType,
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
        (name = "agents", description = "dsconn's agents: checks from a queue's own network"),
        (name = "sharing", description = "Sharing enhanced connections with other projects (BIND_QUEUE)"),
        (name = "tags", description = "DLI's v3 tag API for enhanced connections (dli_enhanced_datasource)"),
        (name = "datasource-auth", description = "DLI's datasource authentication (auth infos)"),
    ),
)]
pub struct ApiDoc;

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
        let responses = operations(&mut openapi.paths)
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

/// Every operation of `paths`.
fn operations(
    paths: &mut utoipa::openapi::path::Paths,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    paths
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
}

/// Marks every operation of `openapi` as needing a token or a signature: the one place
/// the document says so, for the endpoints `authenticate` runs before.
pub fn require_credentials(openapi: &mut utoipa::openapi::OpenApi) {
    let either = [TOKEN_SCHEME, SIGNATURE_SCHEME]
        .map(|scheme| SecurityRequirement::new(scheme, Vec::<String>::new()));
    for operation in operations(&mut openapi.paths) {
        operation.security = Some(either.to_vec());
    }
}

/// Documents `X-Request-Id` on every response of `openapi`, including those added after
/// the frame was made.
pub fn with_request_id_header(openapi: &mut utoipa::openapi::OpenApi) {
    RequestIdHeader.modify(openapi);
}
