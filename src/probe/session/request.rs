//! The public types of the credentialed stages: what a check needs and what each stage
//! reports.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::domain::PrivilegeRequest;

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
