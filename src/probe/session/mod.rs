//! Placeholder until the hsession branch lands (its version replaces this file).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::PrivilegeRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    MySql,
    Postgres,
    Search,
}

pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug)]
pub struct SessionRequest {
    pub engine: Engine,
    pub address: SocketAddr,
    pub server_name: String,
    pub user: String,
    pub password: Secret,
    pub database: Option<String>,
    pub privileges: Vec<PrivilegeRequest>,
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    Tls,
    Login,
    Query,
    Privileges,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionVerdict {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStageReport {
    pub stage: SessionStage,
    pub verdict: SessionVerdict,
    pub reason: &'static str,
    pub message: String,
    pub elapsed_ms: u64,
}

pub async fn check_session(request: &SessionRequest) -> Vec<SessionStageReport> {
    let _ = request;
    vec![SessionStageReport {
        stage: SessionStage::Login,
        verdict: SessionVerdict::Skipped,
        reason: "NOT_CHECKED",
        message: "not built yet".to_owned(),
        elapsed_ms: 0,
    }]
}
