//! The OpenAPI 3.1 description of the whole HTTP surface, generated from the wire types
//! (`types.rs`, `error.rs`) and the handlers' `#[utoipa::path]` annotations, and served
//! at `GET /openapi.json`. `docs/openapi.snap` (an insta snapshot) is the committed copy;
//! the integration test `openapi` fails when the two differ (regenerate: see there).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{HeaderBuilder, Object, RefOr, Type};
use utoipa::{Modify, OpenApi, ToResponse};

use super::error::ErrorBody;
use super::types::{
    ConnectionResponse, CreateConnectionRequest, CreateConnectionResponse, EndpointCheck,
    ListConnectionsResponse, QueueInfo, QueuesRequest, SuccessResponse, TagInput,
    TestDefinitionRequest, TestResponse,
};

/// Name of the `X-Auth-Token` security scheme.
pub const TOKEN_SCHEME: &str = "auth_token";
/// Name of the AK/SK signature security scheme.
pub const SIGNATURE_SCHEME: &str = "aksk_signature";

/// The document: every route of [`super::router::router`], its bodies and its errors.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dsconn",
        description = "A self-hosted, wire-compatible implementation of Huawei Cloud DLI's \
            classic datasource-connection API v2.0, with dsconn's extensions (queue \
            bindings, reactivation, checks on demand, whoami, health and metrics).\n\n\
            Every response carries `X-Request-Id` (a client-supplied one is kept). Times are \
            epoch milliseconds, UTC. Errors answer DLI's error body `ErrorBody`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::connections::create,
        super::connections::list,
        super::connections::show,
        super::connections::delete,
        super::actions::associate,
        super::actions::disassociate,
        super::actions::reactivate,
        super::actions::test_connection,
        super::actions::test_definition,
        super::router::whoami,
        super::router::healthz,
        super::router::readyz,
        super::router::metrics,
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
            schemas::SortOrder,
            schemas::WhoamiResponse,
            schemas::HealthResponse,
            schemas::ReadyResponse,
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
        (name = "service", description = "Identity, health, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// The document as served, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
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
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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

/// DLI.0001 invalid body, field, query, JSON, content type or project id; DLI.0002
/// unknown connection (or one of another project, or not a UUID); DLI.0006 duplicate
/// name; DLI.0007 not allowed in the connection's state (or the queue `default`);
/// DLI.1028 project quota reached.
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

/// Path parameters.
pub mod params {
    use utoipa::IntoParams;

    /// `/v2.0/{project_id}/...`
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct ProjectPath {
        /// The project: 1-64 letters, digits, `_` and `-`.
        #[param(
            min_length = 1,
            max_length = 64,
            pattern = r"^[A-Za-z0-9_-]{1,64}$",
            example = "5f0c1e2d3b4a49588776655443322110"
        )]
        pub project_id: String,
    }

    /// `/v2.0/{project_id}/datasource-connection/{connection_id}/...`
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct ConnectionPath {
        /// The project: 1-64 letters, digits, `_` and `-`.
        #[param(
            min_length = 1,
            max_length = 64,
            pattern = r"^[A-Za-z0-9_-]{1,64}$",
            example = "5f0c1e2d3b4a49588776655443322110"
        )]
        pub project_id: String,
        /// The connection's id. Anything that is not a UUID names no connection and is
        /// answered like an unknown id (400, DLI.0002).
        #[param(format = Uuid)]
        pub connection_id: String,
    }
}

/// Schemas of values that the code keeps as text or builds as JSON by hand: the
/// document names their exact vocabularies. Unit tests keep them equal to the domain's.
pub mod schemas {
    use serde::Serialize;
    use utoipa::ToSchema;

    /// The peer service. Requests match it case-insensitively; answers use this spelling.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    pub enum Service {
        #[serde(rename = "CloudTable")]
        CloudTable,
        #[serde(rename = "CloudTable.OpenTSDB")]
        CloudTableOpenTsdb,
        #[serde(rename = "MRS.OpenTSDB")]
        MrsOpenTsdb,
        #[serde(rename = "DWS")]
        Dws,
        #[serde(rename = "RDS")]
        Rds,
        #[serde(rename = "CSS")]
        Css,
    }

    /// A connection's life: CREATING -> ACTIVE | FAILED -> DELETED.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum ConnectionState {
        Creating,
        Active,
        Failed,
        Deleted,
    }

    /// A queue binding's status.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum QueueStatus {
        Creating,
        Active,
        Failed,
    }

    /// Whether a check reached the destination as the service should answer.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum Connectivity {
        Reachable,
        Unreachable,
    }

    /// Why an address (and so a connection or binding) failed its check: no route or
    /// another connect error is NETWORK_UNREACHABLE.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum FailureReason {
        DnsFailed,
        ConnectionRefused,
        Timeout,
        ProtocolMismatch,
        TlsError,
        DeniedByPolicy,
        NetworkUnreachable,
    }

    /// List order by `create_time`, then `connection_id`; matched case-insensitively.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum SortOrder {
        Asc,
        Desc,
    }

    /// DLI's and API Gateway's error codes.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
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

    /// A compute queue's name: 1-128 lower-case letters, digits and `_`.
    #[derive(ToSchema)]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[a-z0-9_]{1,128}$",
        example = "etl_queue"
    )]
    pub struct QueueName(pub String);

    /// A `{key, value}` label of a connection, as given at create.
    #[derive(ToSchema)]
    pub struct Tag {
        pub key: String,
        pub value: String,
    }

    /// How the caller authenticated.
    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum PrincipalKind {
        /// `--auth none`: local emulation.
        Anonymous,
        AccessKey,
        Token,
    }

    /// `GET /dsconn/v1/whoami`: who the caller is and which projects it may use.
    #[derive(ToSchema)]
    pub struct WhoamiResponse {
        pub is_success: bool,
        pub message: String,
        pub kind: PrincipalKind,
        /// The access key or the token's id; null when anonymous.
        #[schema(required = true)]
        pub id: Option<String>,
        /// Whether every project is open to the caller; `projects` is then empty.
        pub all_projects: bool,
        /// The projects the caller may use, unless `all_projects`.
        pub projects: Vec<String>,
    }

    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum HealthStatus {
        Ok,
    }

    /// `GET /healthz`: the process is alive.
    #[derive(ToSchema)]
    pub struct HealthResponse {
        #[schema(inline)]
        pub status: HealthStatus,
    }

    #[derive(Debug, Clone, Copy, Serialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum ReadyStatus {
        Ready,
    }

    /// `GET /readyz`: the store answers.
    #[derive(ToSchema)]
    pub struct ReadyResponse {
        #[schema(inline)]
        pub status: ReadyStatus,
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::super::error::ApiError;
    use super::*;
    use crate::domain;
    use crate::probe;

    fn names<T: Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|value| {
                serde_json::to_value(value)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("serialises");
        assert_eq!(document["openapi"], "3.1.0");
    }

    #[test]
    fn service_names_are_the_domains() {
        use schemas::Service as S;
        let documented = names(&[
            S::CloudTable,
            S::CloudTableOpenTsdb,
            S::MrsOpenTsdb,
            S::Dws,
            S::Rds,
            S::Css,
        ]);
        let domain: Vec<String> = domain::Service::ALL
            .iter()
            .map(|service| service.as_str().to_owned())
            .collect();
        assert_eq!(documented, domain);
    }

    #[test]
    fn failure_reasons_are_the_probes() {
        use schemas::FailureReason as F;
        let documented = names(&[
            F::DnsFailed,
            F::ConnectionRefused,
            F::Timeout,
            F::ProtocolMismatch,
            F::TlsError,
            F::DeniedByPolicy,
            F::NetworkUnreachable,
        ]);
        let probe: Vec<String> = probe::FailureReason::ALL
            .iter()
            .map(|reason| reason.as_str().to_owned())
            .collect();
        assert_eq!(documented, probe);
    }

    #[test]
    fn states_are_the_domains() {
        use schemas::ConnectionState as S;
        let documented = names(&[S::Creating, S::Active, S::Failed, S::Deleted]);
        let domain = names(&[
            domain::ConnectionState::Creating,
            domain::ConnectionState::Active,
            domain::ConnectionState::Failed,
            domain::ConnectionState::Deleted,
        ]);
        assert_eq!(documented, domain);
    }

    #[test]
    fn error_codes_cover_every_api_error() {
        use schemas::ErrorCode as E;
        let documented = names(&[
            E::InvalidRequest,
            E::ConnectionNotFound,
            E::DuplicateName,
            E::StateConflict,
            E::QuotaExceeded,
            E::Internal,
            E::NotFound,
            E::PayloadTooLarge,
            E::Unauthorized,
            E::Forbidden,
            E::TooManyRequests,
        ]);
        let errors = [
            ApiError::InvalidRequest(String::new()),
            ApiError::ConnectionNotFound(String::new()),
            ApiError::DuplicateName(String::new()),
            ApiError::StateConflict(String::new()),
            ApiError::QuotaExceeded(1),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::TooManyRequests {
                message: String::new(),
                retry_after: std::time::Duration::from_secs(1),
            },
            ApiError::RequestTimeout(std::time::Duration::from_secs(1)),
            ApiError::NotReady,
            ApiError::NotFound,
            ApiError::PayloadTooLarge(1),
            ApiError::BodyReadTimeout(std::time::Duration::from_secs(1)),
            ApiError::BodyUnreadable,
            ApiError::Internal(anyhow::anyhow!("test")),
        ];
        for error in errors {
            let (_, code) = error.status_and_code();
            assert!(documented.iter().any(|name| name == code), "{code}");
        }
    }
}
