//! Extractors whose rejections are DLI errors, so that malformed JSON, a wrong content
//! type or an oversized body get the same error body as every other client mistake.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::auth::Principal;
use super::error::{ApiError, ApiResult, bounded};
use super::state::AppState;
use crate::domain::{ConnectionId, ProjectId};

/// A JSON body, read but not yet parsed: handlers parse it after authorizing, so that a
/// caller without access learns nothing from a 400 about the body.
pub struct JsonBody {
    content_type: String,
    bytes: Bytes,
}

/// JSON of the operation's shape, or a DLI error quoting (bounded) what serde said.
fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        // Bounded: serde's messages quote the offending input.
        ApiError::InvalidRequest(format!(
            "the request body is not valid JSON for this operation: {}",
            bounded(&error.to_string())
        ))
    })
}

impl JsonBody {
    /// Requires `Content-Type: application/json` and JSON of the operation's shape.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let is_json = self
            .content_type
            .split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::InvalidRequest(
                "Content-Type must be application/json".into(),
            ));
        }
        from_json(&self.bytes)
    }

    /// As [`parse`](Self::parse), but an empty body (what the SDK sends when a request's
    /// optional body is left unset) reads as `{}`, whatever the content type.
    pub fn parse_or_empty<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return from_json(b"{}");
        }
        self.parse()
    }
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let limit = state.settings.max_body_bytes;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(limit)
                } else {
                    ApiError::InvalidRequest(format!(
                        "the request body could not be read: {}",
                        bounded(&rejection.to_string())
                    ))
                }
            })?;
        Ok(Self {
            content_type,
            bytes,
        })
    }
}

/// Parses a query string; handlers call it after authorizing.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|error| {
        ApiError::InvalidRequest(format!(
            "the query string is invalid: {}",
            bounded(&error.to_string())
        ))
    })
}

/// Path parameters.
pub struct DliPath<T>(pub T);

impl<T> FromRequestParts<AppState> for DliPath<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| DliPath(value))
            .map_err(|rejection| {
                ApiError::InvalidRequest(format!(
                    "the request path is invalid: {}",
                    bounded(&rejection.to_string())
                ))
            })
    }
}

/// The client's address as the server loop recorded it (unspecified when the router
/// runs without it, e.g. in unit tests).
pub struct ClientAddress(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(super::middleware::client_address(parts)))
    }
}

/// How a request reached the server: from which peer, and whether over TLS.
pub struct Transported {
    pub peer: std::net::IpAddr,
    pub tls: bool,
}

impl Transported {
    /// Whether a secret may come (or go) this way: over TLS, or from loopback.
    pub fn carries_secrets(&self) -> bool {
        self.tls || crate::server::is_loopback(self.peer)
    }
}

impl FromRequestParts<AppState> for Transported {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self {
            peer: super::middleware::client_address(parts),
            tls: parts
                .extensions
                .get::<crate::server::Transport>()
                .is_some_and(|transport| transport.tls),
        })
    }
}

/// The parameters of a `/{project_id}/...` path, for a caller allowed to use that
/// project: the project (a malformed path is 400, another project 403) and the other
/// parameters by name. What every target below starts from; a handler that reads a body
/// takes [`Principal`] and the path instead and authorizes after reading it, so that a
/// body error (413) keeps coming before a 403.
pub struct ProjectTarget {
    pub project: ProjectId,
    pub rest: HashMap<String, String>,
}

impl ProjectTarget {
    /// The path parameter `name` as given (empty if the route has none).
    pub fn take(&mut self, name: &str) -> String {
        self.rest.remove(name).unwrap_or_default()
    }
}

impl FromRequestParts<AppState> for ProjectTarget {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (principal, mut rest) = caller_and_path(parts, state).await?;
        let project = principal.authorize(&rest.remove("project_id").unwrap_or_default())?;
        Ok(Self { project, rest })
    }
}

/// The caller and a path's parameters by name, in the order the handlers always read
/// them: the credentials (401), then the path (400).
async fn caller_and_path(
    parts: &mut Parts,
    state: &AppState,
) -> ApiResult<(Principal, HashMap<String, String>)> {
    let principal = Principal::from_request_parts(parts, state).await?;
    let DliPath(params) =
        DliPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
    Ok((principal, params))
}

/// [`ProjectTarget`] with the request's body, read before the project is authorized (as
/// a handler taking `Principal`, the path and [`JsonBody`] does, so that a body error
/// keeps coming before a 403) and parsed by the handler after.
pub struct ProjectRequest {
    pub project: ProjectId,
    pub rest: HashMap<String, String>,
    pub body: JsonBody,
}

impl FromRequest<AppState> for ProjectRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let (principal, mut rest) = caller_and_path(&mut parts, state).await?;
        let body = JsonBody::from_request(Request::from_parts(parts, body), state).await?;
        let project = principal.authorize(&rest.remove("project_id").unwrap_or_default())?;
        Ok(Self {
            project,
            rest,
            body,
        })
    }
}

/// An extractor made from another one: the inner extractor's checks first (credentials,
/// path, project, body), then `build`'s own on what it gave; the rejection is an
/// [`ApiError`] as everywhere. `parts` for one from the request's parts, `request` for one
/// that reads the body.
macro_rules! extract_from {
    (parts $target:ty = $inner:ty, |$from:pat_param, $state:pat_param| $build:expr) => {
        impl axum::extract::FromRequestParts<$crate::api::state::AppState> for $target {
            type Rejection = $crate::api::error::ApiError;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                state: &$crate::api::state::AppState,
            ) -> Result<Self, Self::Rejection> {
                let $from = <$inner as axum::extract::FromRequestParts<_>>::from_request_parts(
                    parts, state,
                )
                .await?;
                let $state = state;
                $build
            }
        }
    };
    (request<$($param:ident: $bound:path),*> $target:ty = $inner:ty,
     |$from:pat_param, $state:pat_param| $build:expr) => {
        impl<$($param: $bound),*> axum::extract::FromRequest<$crate::api::state::AppState>
            for $target
        {
            type Rejection = $crate::api::error::ApiError;

            async fn from_request(
                request: axum::extract::Request,
                state: &$crate::api::state::AppState,
            ) -> Result<Self, Self::Rejection> {
                let $from =
                    <$inner as axum::extract::FromRequest<_>>::from_request(request, state).await?;
                let $state = state;
                $build
            }
        }
    };
    (request $target:ty = $inner:ty, |$from:pat_param, $state:pat_param| $build:expr) => {
        $crate::api::extract::extract_from!(
            request<> $target = $inner, |$from, $state| $build
        );
    };
}
pub(crate) use extract_from;

/// A request body type as a handler reads it from [`JsonBody`]: JSON of its shape, or
/// (in [`OrEmpty`]) also nothing, read as `{}`.
pub trait FromJsonBody: Sized {
    fn from_json_body(body: &JsonBody) -> ApiResult<Self>;
}

impl<T: DeserializeOwned> FromJsonBody for T {
    fn from_json_body(body: &JsonBody) -> ApiResult<Self> {
        body.parse()
    }
}

/// A body that may be empty ([`JsonBody::parse_or_empty`]).
pub struct OrEmpty<T>(pub T);

impl<T: DeserializeOwned> FromJsonBody for OrEmpty<T> {
    fn from_json_body(body: &JsonBody) -> ApiResult<Self> {
        body.parse_or_empty().map(OrEmpty)
    }
}

/// [`NamedTarget`] with the request's body, as [`ProjectRequest`].
pub struct NamedRequest {
    pub project: ProjectId,
    pub name: String,
    pub body: JsonBody,
}

extract_from!(request NamedRequest = ProjectRequest, |request, _| {
    // The routes of a named resource have one parameter after the project.
    let name = request.rest.into_values().next().unwrap_or_default();
    Ok(Self {
        project: request.project,
        name,
        body: request.body,
    })
});

/// The project and the name of a `/{project_id}/.../{name}` path (a queue, a pool, an
/// auth info), as [`ProjectTarget`]: the name as given, for each resource to check with
/// its own rule.
pub struct NamedTarget {
    pub project: ProjectId,
    pub name: String,
}

extract_from!(parts NamedTarget = ProjectTarget, |ProjectTarget { project, rest }, _| {
    // The routes of a named resource have one parameter after the project.
    let name = rest.into_values().next().unwrap_or_default();
    Ok(Self { project, name })
});

/// The project and connection of a `/{project_id}/datasource-connection/{connection_id}`
/// path, as [`ProjectTarget`]: what every handler of one connection starts from. An id
/// that is not a UUID is answered like an unknown one.
pub struct ConnectionTarget {
    pub project: ProjectId,
    pub id: ConnectionId,
}

extract_from!(parts ConnectionTarget = ProjectTarget, |mut target, _| {
    let id = connection_id(&target.take("connection_id"))?;
    Ok(Self {
        project: target.project,
        id,
    })
});

/// A path's connection id. Anything that is not a UUID names no connection: answered
/// like an unknown id.
pub fn connection_id(raw: &str) -> ApiResult<ConnectionId> {
    ConnectionId::parse(raw)
        .ok_or_else(|| ApiError::ConnectionNotFound(raw.chars().take(64).collect()))
}

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

    /// `.../datasource-connection/{connection_id}/...`, after [`ProjectPath`]: handlers
    /// of one connection list both, `params(ProjectPath, ConnectionPath)`.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct ConnectionPath {
        /// The connection's id. Anything that is not a UUID names no connection and is
        /// answered like an unknown id (400, DLI.0002).
        #[param(format = Uuid)]
        pub connection_id: String,
    }
}
