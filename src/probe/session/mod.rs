//! The credentialed stages of a check (issue 26): `tls`, `login`, `query` and
//! `privileges`, run after the protocol stage when a check has credentials.
//!
//! Each stage gets its own bound ([`SessionRequest::timeout`]); the first FAILED stage
//! stops the check and every stage after it is SKIPPED with `EARLIER_STAGE_FAILED`.
//!
//! Decisions:
//! - **No second resolution.** Drivers get the IP literal the connect stage resolved and
//!   the policy allowed; the written host name is only used for TLS (SNI, the name check)
//!   and HTTP's `Host`.
//! - **One login attempt per call**, never retried, so a check cannot lock an account out.
//!   The `tls` stage opens its own short connection before the login, which never
//!   authenticates (PostgreSQL: an SSLRequest and a handshake, then close).
//! - **TLS judgement.** The handshake accepts any certificate (its signature is still
//!   checked), then the stage judges the leaf: expired is always FAILED (`TLS_EXPIRED`).
//!   An untrusted chain (`TLS_UNTRUSTED`) or a name the certificate does not cover
//!   (`TLS_NAME_MISMATCH`) is FAILED only when a CA was given (`ca_pem`), since that says
//!   the job verifies against it; with no CA the stage PASSES and its message says "not
//!   trusted by this machine's roots" or that the name does not match, as a job with
//!   `sslmode=require` would not check either. The login itself uses TLS when the server
//!   offers it (PostgreSQL `sslmode=prefer`, MySQL `PREFERRED`) without verifying, since
//!   the `tls` stage already reported on the certificate.
//! - **Secrets.** The password lives in a [`Secret`] (redacted in `Debug`/`Display`,
//!   zeroed on drop), and every message is scrubbed of it before it is reported, whatever
//!   a driver or server put in its errors.
//! - **Search** (Elasticsearch/OpenSearch): see [`search`](self) for its stages.

mod mysql;
mod postgres;
mod privileges;
mod search;
mod stages;
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::domain::PrivilegeRequest;
use stages::Stages;

/// The kind of server the credentials are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// MySQL or MariaDB (RDS).
    MySql,
    /// PostgreSQL (DWS, RDS for PostgreSQL).
    Postgres,
    /// Elasticsearch/OpenSearch over HTTP(S) (CSS).
    Search,
}

/// A password that never prints: `Debug` and `Display` show "[redacted]", and the text is
/// zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The password itself, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a credentialed check needs.
#[derive(Clone)]
pub struct SessionRequest {
    pub engine: Engine,
    /// The address the connect stage already resolved and the outbound policy allowed. The
    /// driver must get this IP literal: no second DNS resolution, ever.
    pub address: SocketAddr,
    /// The endpoint's host as written (TLS SNI / host-name verification / HTTP Host).
    pub server_name: String,
    pub user: String,
    pub password: Secret,
    /// The database to log in to (MySQL: optional; PostgreSQL: default = user name, as libpq).
    pub database: Option<String>,
    pub privileges: Vec<PrivilegeRequest>,
    /// PEM of the CA the source's certificate should chain to; None: this machine's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Bound for each stage (connect+TLS, login, query, privileges each get this).
    pub timeout: Duration,
}

impl fmt::Debug for SessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRequest")
            .field("engine", &self.engine)
            .field("address", &self.address)
            .field("server_name", &self.server_name)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("database", &self.database)
            .field("privileges", &self.privileges)
            .field("ca_pem_bytes", &self.ca_pem.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One credentialed stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    Tls,
    Login,
    Query,
    Privileges,
}

impl SessionStage {
    /// The wire spelling: `tls`, `login`, `query`, `privileges`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStage::Tls => "tls",
            SessionStage::Login => "login",
            SessionStage::Query => "query",
            SessionStage::Privileges => "privileges",
        }
    }
}

impl fmt::Display for SessionStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionVerdict {
    Passed,
    Failed,
    Skipped,
}

impl SessionVerdict {
    /// The wire spelling: `PASSED`, `FAILED`, `SKIPPED`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionVerdict::Passed => "PASSED",
            SessionVerdict::Failed => "FAILED",
            SessionVerdict::Skipped => "SKIPPED",
        }
    }
}

impl fmt::Display for SessionVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stage's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStageReport {
    pub stage: SessionStage,
    pub verdict: SessionVerdict,
    /// Machine-readable, SCREAMING_SNAKE: e.g. AUTH_FAILED, UNKNOWN_DATABASE, PRIVILEGE_MISSING,
    /// QUERY_FAILED, TIMEOUT, TLS_UNTRUSTED, TLS_NAME_MISMATCH, TLS_EXPIRED, TLS_FAILED,
    /// LOGIN_FAILED (other), EARLIER_STAGE_FAILED (skipped). Empty when PASSED with nothing to say.
    pub reason: &'static str,
    /// A sentence a person can act on. NEVER contains the password.
    pub message: String,
    pub elapsed_ms: u64,
}

/// Runs tls (only when the source offers/uses TLS; absent from the list otherwise), login,
/// query (`SELECT 1`), privileges (only when `privileges` is non-empty; absent otherwise),
/// stopping at the first FAILED one (the rest SKIPPED with reason EARLIER_STAGE_FAILED).
/// Exactly ONE login attempt per call (never retry a login: it must not lock accounts out).
pub async fn check_session(request: &SessionRequest) -> Vec<SessionStageReport> {
    let mut stages = Stages::new(request);
    // Err only says a stage failed; the failure is already in the reports.
    let _ = match request.engine {
        Engine::Postgres => postgres::run(request, &mut stages).await,
        Engine::MySql => mysql::run(request, &mut stages).await,
        Engine::Search => search::run(request, &mut stages).await,
    };
    stages.finish()
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
