//! Who is calling, and whether they may touch a project.
//!
//! A middleware authenticates every API request (an AK/SK signature or an
//! `X-Auth-Token`) and puts the [`Principal`] in the request; handlers then call
//! [`Principal::authorize`] with the path's project.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use super::error::ApiError;
use super::state::AppState;
use crate::config::AuthMode;
use crate::credentials::{Secret, SecretBox, hash_token};
use crate::domain::{ProjectId, ProjectScope, now_millis};
use crate::signing::{self, Authorization, RequestParts, SigningError};
use crate::store::{CredentialRecord, DynStore};

/// How far `X-Sdk-Date` may be from the server's clock.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// Failures in a row an access key may have; one more locks it.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 5;
/// How long a lock lasts.
pub const LOCKOUT: Duration = Duration::from_secs(5 * 60);
/// How stale a cached credential or token may be: revocations and locks made by the CLI
/// or another replica take effect within this.
const CACHE_TTL: Duration = Duration::from_secs(1);
/// Bound on cached entries, so random keys cannot grow memory.
const CACHE_MAX_ENTRIES: usize = 10_000;
pub const TOKEN_HEADER: &str = "x-auth-token";
const PROJECT_HEADER: &str = "x-project-id";

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub scope: ProjectScope,
    /// `X-Project-Id`, which must name the path's project when present.
    pub declared_project: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `--auth none`: local emulation, every project open.
    Anonymous,
    AccessKey(String),
    Token(String),
}

impl Principal {
    /// Whose request budget a request spends.
    pub fn rate_key(&self) -> String {
        match &self.kind {
            PrincipalKind::Anonymous => "anonymous callers".to_owned(),
            PrincipalKind::AccessKey(access_key) => format!("access key {access_key}"),
            PrincipalKind::Token(id) => format!("token {id}"),
        }
    }

    /// Parses the path's project and checks that this caller may use it.
    pub fn authorize(&self, raw_project: &str) -> Result<ProjectId, ApiError> {
        let project = ProjectId::parse(raw_project)?;
        if let Some(declared) = &self.declared_project
            && declared != project.as_str()
        {
            return Err(ApiError::Forbidden(format!(
                "X-Project-Id {declared:?} does not match the project {project} in the path"
            )));
        }
        if !self.scope.allows(&project) {
            let who = match &self.kind {
                PrincipalKind::Anonymous => "this caller".to_owned(),
                PrincipalKind::AccessKey(access_key) => format!("access key {access_key}"),
                PrincipalKind::Token(id) => format!("token {id}"),
            };
            return Err(ApiError::Forbidden(format!(
                "{who} may not use project {project}"
            )));
        }
        Ok(project)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "route is not behind the authentication layer"
            ))
        })
    }
}

struct Cached<T> {
    fetched: Instant,
    value: T,
}

#[derive(Clone)]
struct CredentialEntry {
    secret_key: Secret,
    scope: ProjectScope,
    revoked: bool,
    consecutive_failures: u32,
    locked_until: Option<i64>,
}

#[derive(Clone)]
struct TokenEntry {
    id: String,
    scope: ProjectScope,
    expires_at: i64,
    revoked: bool,
}

/// Authenticates requests against the store, with a short-lived cache in front.
pub struct Authenticator {
    mode: AuthMode,
    store: DynStore,
    secrets: Option<SecretBox>,
    credentials: Mutex<HashMap<String, Cached<Option<CredentialEntry>>>>,
    tokens: Mutex<HashMap<String, Cached<Option<TokenEntry>>>>,
}

fn fresh<T: Clone>(cache: &Mutex<HashMap<String, Cached<T>>>, key: &str) -> Option<T> {
    let cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .get(key)
        .filter(|entry| entry.fetched.elapsed() < CACHE_TTL)
        .map(|entry| entry.value.clone())
}

fn remember<T>(cache: &Mutex<HashMap<String, Cached<T>>>, key: &str, value: T) {
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if cache.len() >= CACHE_MAX_ENTRIES {
        cache.retain(|_, entry| entry.fetched.elapsed() < CACHE_TTL);
        if cache.len() >= CACHE_MAX_ENTRIES {
            cache.clear();
        }
    }
    cache.insert(
        key.to_owned(),
        Cached {
            fetched: Instant::now(),
            value,
        },
    );
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(message.into())
}

impl From<SigningError> for ApiError {
    fn from(error: SigningError) -> Self {
        ApiError::Unauthorized(error.to_string())
    }
}

impl Authenticator {
    pub fn new(mode: AuthMode, store: DynStore, secrets: Option<SecretBox>) -> Self {
        Self {
            mode,
            store,
            secrets,
            credentials: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    async fn credential(&self, access_key: &str) -> Result<Option<CredentialEntry>, ApiError> {
        if let Some(cached) = fresh(&self.credentials, access_key) {
            return Ok(cached);
        }
        let record = self.store.find_credential(access_key).await?;
        let entry = match record {
            None => None,
            Some(record) => Some(self.open_credential(record)?),
        };
        remember(&self.credentials, access_key, entry.clone());
        Ok(entry)
    }

    fn open_credential(&self, record: CredentialRecord) -> Result<CredentialEntry, ApiError> {
        let secrets = self.secrets.as_ref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("no key to decrypt secret keys with"))
        })?;
        let secret_key = secrets
            .open(&record.sealed_secret_key, &record.access_key)
            .map_err(|error| ApiError::Internal(error.into()))?;
        Ok(CredentialEntry {
            secret_key,
            scope: record.scope,
            revoked: record.revoked_at.is_some(),
            consecutive_failures: record.consecutive_failures,
            locked_until: record.locked_until,
        })
    }

    async fn token(&self, token: &str) -> Result<Option<TokenEntry>, ApiError> {
        let hash = hash_token(token);
        if let Some(cached) = fresh(&self.tokens, &hash) {
            return Ok(cached);
        }
        let entry = self
            .store
            .find_token(&hash)
            .await?
            .map(|record| TokenEntry {
                id: record.id,
                scope: record.scope,
                expires_at: record.expires_at,
                revoked: record.revoked_at.is_some(),
            });
        remember(&self.tokens, &hash, entry.clone());
        Ok(entry)
    }

    /// Decides who sent a request. `body` is the whole body, for the signature.
    pub async fn authenticate(&self, parts: &Parts, body: &[u8]) -> Result<Principal, ApiError> {
        let declared_project = parts
            .headers
            .get(PROJECT_HEADER)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned());
        if self.mode == AuthMode::None {
            return Ok(Principal {
                kind: PrincipalKind::Anonymous,
                scope: ProjectScope::All,
                declared_project,
            });
        }
        let (kind, scope) =
            if let Some(authorization) = parts.headers.get(http::header::AUTHORIZATION) {
                let authorization: Authorization = authorization
                    .to_str()
                    .map_err(|_| unauthorized("the Authorization header is not ASCII"))?
                    .parse()?;
                let scope = self.verify_signature(&authorization, parts, body).await?;
                (PrincipalKind::AccessKey(authorization.access_key), scope)
            } else if let Some(token) = parts.headers.get(TOKEN_HEADER) {
                let token = token
                    .to_str()
                    .map_err(|_| unauthorized("the X-Auth-Token header is not ASCII"))?
                    .trim();
                let entry = self
                    .token(token)
                    .await?
                    .filter(|entry| !entry.revoked)
                    .ok_or_else(|| unauthorized("the X-Auth-Token is unknown or revoked"))?;
                if entry.expires_at <= now_millis() {
                    return Err(unauthorized(format!(
                        "the X-Auth-Token {} expired at {}; create a new one",
                        entry.id,
                        format_time(entry.expires_at)
                    )));
                }
                (PrincipalKind::Token(entry.id), entry.scope)
            } else {
                return Err(unauthorized(
                    "the request has no credentials: sign it with an access key \
                 (Authorization: SDK-HMAC-SHA256 ...) or send an X-Auth-Token",
                ));
            };
        Ok(Principal {
            kind,
            scope,
            declared_project,
        })
    }

    async fn verify_signature(
        &self,
        authorization: &Authorization,
        parts: &Parts,
        body: &[u8],
    ) -> Result<ProjectScope, ApiError> {
        signing::require_signed(authorization)?;
        let sdk_date = sdk_date(&parts.headers)?;
        let signed_at = signing::parse_sdk_date(&sdk_date)?;
        let skew = (chrono::Utc::now() - signed_at).abs();
        if skew.to_std().unwrap_or(Duration::MAX) > MAX_CLOCK_SKEW {
            return Err(unauthorized(format!(
                "X-Sdk-Date {sdk_date} is more than 15 minutes from the server's time ({}); \
                 check the client's clock",
                chrono::Utc::now().format(signing::DATE_FORMAT)
            )));
        }
        let access_key = authorization.access_key.as_str();
        let entry = self
            .credential(access_key)
            .await?
            .filter(|entry| !entry.revoked)
            .ok_or_else(|| {
                unauthorized(format!("access key {access_key} is unknown or revoked"))
            })?;
        let now = now_millis();
        if let Some(locked_until) = entry.locked_until
            && locked_until > now
        {
            return Err(unauthorized(format!(
                "access key {access_key} is locked until {} after more than \
                 {MAX_CONSECUTIVE_FAILURES} bad signatures in a row",
                format_time(locked_until)
            )));
        }
        let request = RequestParts {
            method: &parts.method,
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body,
        };
        match signing::verify(
            authorization,
            entry.secret_key.expose(),
            &request,
            &sdk_date,
        ) {
            Ok(()) => {
                if entry.consecutive_failures > 0 {
                    self.store.clear_signature_failures(access_key).await?;
                    self.update_cached_failures(access_key, 0, entry.locked_until);
                }
                Ok(entry.scope)
            }
            Err(error) => {
                let count = self
                    .store
                    .record_signature_failure(access_key, now, MAX_CONSECUTIVE_FAILURES, LOCKOUT)
                    .await?;
                self.update_cached_failures(
                    access_key,
                    count.consecutive_failures,
                    count.locked_until,
                );
                tracing::warn!(
                    access_key,
                    failures = count.consecutive_failures,
                    "bad signature"
                );
                Err(error.into())
            }
        }
    }

    fn update_cached_failures(&self, access_key: &str, failures: u32, locked_until: Option<i64>) {
        let mut cache = self
            .credentials
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(Cached {
            value: Some(entry), ..
        }) = cache.get_mut(access_key)
        {
            entry.consecutive_failures = failures;
            entry.locked_until = locked_until;
        }
    }
}

fn sdk_date(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(signing::DATE_HEADER)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
        .ok_or_else(|| unauthorized("the X-Sdk-Date header is missing"))
}

fn format_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| millis.to_string())
}

/// The middleware: reads the body (bounded), authenticates, and hands the request on
/// with its [`Principal`].
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
    let body: Bytes =
        match axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX)).await {
            Ok(bytes) => bytes,
            Err(_) => return ApiError::PayloadTooLarge(limit).into_response(),
        };
    match state.auth.authenticate(&parts, &body).await {
        Ok(principal) => {
            if let Err(error) = state.request_limiter.check(&principal.rate_key()) {
                return error.into_response();
            }
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, Body::from(body))).await
        }
        Err(error) => error.into_response(),
    }
}

/// Shared handle, as the router state holds it.
pub type SharedAuthenticator = Arc<Authenticator>;
