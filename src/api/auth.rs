//! Who is calling, and whether they may touch a project.
//!
//! A middleware authenticates every API request (an AK/SK signature or an
//! `X-Auth-Token`) and puts the [`Principal`] in the request; handlers then call
//! [`Principal::authorize`] with the path's project.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use http::HeaderMap;
use moka::sync::Cache;

use super::error::{ApiError, excerpt};
use crate::config::{AllowedHost, AuthMode, split_host_port};
use crate::credentials::{Secret, SecretBox, hash_token};
use crate::domain::{ProjectId, ProjectScope, now_millis};
use crate::signing::{self, Authorization, RequestParts, SigningError};
use crate::store::{CredentialRecord, DynStore};

/// How far `X-Sdk-Date` may be from the server's clock.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// How stale a cached credential or token may be: revocations made by the CLI or another
/// replica take effect within this.
const CACHE_TTL: Duration = Duration::from_secs(1);
/// Bound on cached entries, so random keys cannot grow memory.
const CACHE_MAX_ENTRIES: u64 = 10_000;
pub const TOKEN_HEADER: &str = "x-auth-token";
const PROJECT_HEADER: &str = "x-project-id";
/// What an unknown or revoked access key's request is verified against, so that it costs
/// the same HMAC work as a known key's and answers in the same time. The length of the
/// secret keys dsconn issues.
const DUMMY_SECRET_KEY: &str = "dsconn-dummy-secret-key-for-unknown-keys";

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
                "X-Project-Id {:?} does not match the project {project} in the path",
                excerpt(declared)
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

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "route is not behind the authentication layer"
            ))
        })
    }
}

#[derive(Clone)]
struct CredentialEntry {
    secret_key: Secret,
    scope: ProjectScope,
    revoked: bool,
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
    /// By access key; `None` remembers an unknown key, so floods of them stay cheap.
    credentials: Cache<String, Option<CredentialEntry>>,
    /// By token hash; `None` likewise.
    tokens: Cache<String, Option<TokenEntry>>,
    /// `--allowed-hosts`; empty: signatures for any host are accepted.
    allowed_hosts: Vec<AllowedHost>,
}

/// A cache whose entries live at most [`CACHE_TTL`] from their lookup, at most
/// [`CACHE_MAX_ENTRIES`] of them.
fn lookup_cache<V: Clone + Send + Sync + 'static>() -> Cache<String, V> {
    Cache::builder()
        .max_capacity(CACHE_MAX_ENTRIES)
        .time_to_live(CACHE_TTL)
        .build()
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(message.into())
}

impl From<SigningError> for ApiError {
    fn from(error: SigningError) -> Self {
        // Client-supplied parts are cut to an excerpt before they are echoed.
        let message = match error {
            SigningError::SignedHeaderMissing(name) => {
                SigningError::SignedHeaderMissing(excerpt(&name)).to_string()
            }
            SigningError::MalformedDate(raw) => {
                SigningError::MalformedDate(excerpt(&raw)).to_string()
            }
            other => other.to_string(),
        };
        ApiError::Unauthorized(message)
    }
}

/// Why a request was not authenticated: the answer for the client and, for the log and
/// the metrics, a fixed reason and an excerpt of the access key.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    /// A fixed label (`no_credentials`, `malformed`, `date`, `host`, `signature`, `token`);
    /// `None` when the service itself failed (e.g. the store did not answer), which is
    /// not the client's failure.
    pub reason: Option<&'static str>,
    /// The first characters of the access key the request names, if any.
    pub access_key: Option<String>,
}

impl Refusal {
    fn new(reason: &'static str, error: ApiError) -> Self {
        Self {
            error,
            reason: Some(reason),
            access_key: None,
        }
    }

    fn naming(mut self, access_key: &str) -> Self {
        self.access_key = Some(excerpt(access_key));
        self
    }
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        let reason = matches!(error, ApiError::Unauthorized(_)).then_some("malformed");
        Self {
            error,
            reason,
            access_key: None,
        }
    }
}

impl From<SigningError> for Refusal {
    fn from(error: SigningError) -> Self {
        let reason = match error {
            SigningError::SignatureMismatch | SigningError::BodyHashMismatch => "signature",
            SigningError::MalformedDate(_) => "date",
            _ => "malformed",
        };
        Self::new(reason, error.into())
    }
}

/// The one answer to a signature that is not accepted, whether the access key is unknown,
/// revoked or the signature is wrong: a stranger must not learn which keys exist.
fn rejected_signature(access_key: &str) -> Refusal {
    Refusal::new(
        "signature",
        unauthorized(format!(
            "access key {} is unknown or revoked, or the signature does not match: check the \
             access key and the secret key, and that nothing changed the request after it was signed",
            excerpt(access_key)
        )),
    )
}

impl Authenticator {
    pub fn new(mode: AuthMode, store: DynStore, secrets: Option<SecretBox>) -> Self {
        Self {
            mode,
            store,
            secrets,
            credentials: lookup_cache(),
            tokens: lookup_cache(),
            allowed_hosts: Vec::new(),
        }
    }

    /// Refuses signatures made for hosts other than these (none given: any host).
    pub fn with_allowed_hosts(mut self, allowed_hosts: Vec<AllowedHost>) -> Self {
        self.allowed_hosts = allowed_hosts;
        self
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The key file's box that seals secrets at rest (secret keys, auth info passwords).
    pub fn secrets(&self) -> Option<&SecretBox> {
        self.secrets.as_ref()
    }

    async fn credential(&self, access_key: &str) -> Result<Option<CredentialEntry>, ApiError> {
        if let Some(cached) = self.credentials.get(access_key) {
            return Ok(cached);
        }
        let record = self.store.find_credential(access_key).await?;
        let entry = match record {
            None => None,
            Some(record) => Some(self.open_credential(record)?),
        };
        self.credentials
            .insert(access_key.to_owned(), entry.clone());
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
        })
    }

    async fn token(&self, token: &str) -> Result<Option<TokenEntry>, ApiError> {
        let hash = hash_token(token);
        if let Some(cached) = self.tokens.get(&hash) {
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
        self.tokens.insert(hash, entry.clone());
        Ok(entry)
    }

    /// Decides who sent a request. `body` is the whole body, for the signature.
    pub async fn authenticate(&self, parts: &Parts, body: &[u8]) -> Result<Principal, Refusal> {
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
                let scope = self
                    .verify_signature(&authorization, parts, body)
                    .await
                    .map_err(|refusal| refusal.naming(&authorization.access_key))?;
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
                    .ok_or_else(|| {
                        Refusal::new(
                            "token",
                            unauthorized("the X-Auth-Token is unknown or revoked"),
                        )
                    })?;
                if entry.expires_at <= now_millis() {
                    return Err(Refusal::new(
                        "token",
                        unauthorized(format!(
                            "the X-Auth-Token {} expired at {}; create a new one",
                            entry.id,
                            format_time(entry.expires_at)
                        )),
                    ));
                }
                (PrincipalKind::Token(entry.id), entry.scope)
            } else {
                return Err(Refusal::new(
                    "no_credentials",
                    unauthorized(
                        "the request has no credentials: sign it with an access key \
                         (Authorization: SDK-HMAC-SHA256 ...) or send an X-Auth-Token",
                    ),
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
    ) -> Result<ProjectScope, Refusal> {
        signing::require_signed(authorization)?;
        let sdk_date = sdk_date(&parts.headers)?;
        let signed_at = signing::parse_sdk_date(&sdk_date)?;
        let skew = (chrono::Utc::now() - signed_at).abs();
        if skew.to_std().unwrap_or(Duration::MAX) > MAX_CLOCK_SKEW {
            return Err(Refusal::new(
                "date",
                unauthorized(format!(
                    "X-Sdk-Date {} is more than 15 minutes from the server's time ({}); \
                     check the client's clock",
                    excerpt(&sdk_date),
                    chrono::Utc::now().format(signing::DATE_FORMAT)
                )),
            ));
        }
        self.check_host(&parts.headers)?;
        let access_key = authorization.access_key.as_str();
        let entry = self
            .credential(access_key)
            .await?
            .filter(|entry| !entry.revoked);
        let request = RequestParts {
            method: &parts.method,
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body,
        };
        // An unknown key is verified too (against a dummy secret), so both cases do the
        // same work and get the same answer.
        let secret_key = entry
            .as_ref()
            .map_or(DUMMY_SECRET_KEY, |entry| entry.secret_key.expose());
        match (
            signing::verify(authorization, secret_key, &request, &sdk_date),
            entry,
        ) {
            (Ok(()), Some(entry)) => Ok(entry.scope),
            (Ok(()) | Err(SigningError::SignatureMismatch), _) => {
                Err(rejected_signature(access_key))
            }
            (Err(error), _) => Err(error.into()),
        }
    }

    /// With `--allowed-hosts`, the (signed) `Host` must be one of them, so that a request
    /// signed for another deployment cannot be replayed here.
    fn check_host(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if self.allowed_hosts.is_empty() {
            return Ok(());
        }
        let mut values = headers.get_all(http::header::HOST).iter();
        let host = match (values.next(), values.next()) {
            (Some(value), None) => String::from_utf8_lossy(value.as_bytes()).trim().to_owned(),
            _ => String::new(),
        };
        let allowed = split_host_port(&host).is_some_and(|(name, port)| {
            self.allowed_hosts
                .iter()
                .any(|allowed| allowed.matches(&name, port))
        });
        if allowed {
            return Ok(());
        }
        Err(Refusal::new(
            "host",
            unauthorized(format!(
                "the request is signed for the host {:?}, which this service does not serve; \
                 sign it for the host name the service is reached at",
                excerpt(&host)
            )),
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_caches_expire_after_the_ttl_and_stay_bounded() {
        let cache = lookup_cache::<Option<u8>>();
        assert_eq!(cache.policy().time_to_live(), Some(CACHE_TTL));
        assert_eq!(cache.policy().max_capacity(), Some(CACHE_MAX_ENTRIES));
        // Random keys (unknown access keys, say) never hold more than the bound.
        for index in 0..CACHE_MAX_ENTRIES + 500 {
            cache.insert(format!("key-{index}"), None);
        }
        cache.run_pending_tasks();
        assert!(
            cache.entry_count() <= CACHE_MAX_ENTRIES,
            "{} entries",
            cache.entry_count()
        );
    }
}
