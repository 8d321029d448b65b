//! The credentialed stages of a check (issue 26).
//!
//! After the protocol stage passed, a check that names an auth info logs in with its
//! user and password, runs a query and checks the privileges the job needs, from where
//! the check runs (the server, or the queue's agent), against the first address that
//! answered: the driver is given that address, which the outbound policy already
//! allowed, so nothing is resolved twice.

use std::net::SocketAddr;
use std::time::Duration;

use crate::credentials::Secret;
use crate::domain::{Service, SessionCheck, auth_info::DatasourceType};
use crate::probe::CheckReport;
use crate::probe::session::{
    Engine, SessionRequest, SessionStage, SessionStageReport, SessionVerdict, check_session,
};

/// Whose copy of the credentials a check logged in with, as its stages say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginSource {
    /// The project's auth info, sent by the server.
    Server,
    /// The agent's own copy (`dsconn agent --auth-info NAME=FILE`), which never leaves
    /// its network.
    Agent,
    /// An auth info given with the request, used once and never stored.
    Inline,
}

impl LoginSource {
    pub fn described(self) -> &'static str {
        match self {
            LoginSource::Server => "the server's copy of the auth info",
            LoginSource::Agent => "the agent's own copy of the auth info",
            LoginSource::Inline => "the auth info given with the request",
        }
    }
}

/// A user and password to log in with.
#[derive(Debug)]
pub struct Login {
    pub source: LoginSource,
    pub kind: DatasourceType,
    pub user: String,
    pub password: Secret,
}

/// Why a check has no login to try here; its login stage is SKIPPED with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoLogin {
    /// Machine-readable, e.g. `CREDENTIALS_WITHHELD`, `UNKNOWN_AUTH_INFO`, `NOT_CHECKED`.
    pub reason: &'static str,
    pub message: String,
}

/// What a credentialed check needs besides its endpoints.
#[derive(Debug)]
pub struct SessionTarget {
    pub check: SessionCheck,
    pub login: Result<Login, NoLogin>,
}

/// Whether dsconn checks a login for `service` (RDS, DWS, CSS; not CloudTable or OpenTSDB).
pub fn logs_in(service: Service) -> bool {
    engine(service).is_some()
}

/// The engine a service logs in with; None: dsconn checks no login for it.
fn engine(service: Service) -> Option<Engine> {
    match service {
        Service::Rds => Some(Engine::MySql),
        Service::Dws => Some(Engine::Postgres),
        Service::Css => Some(Engine::Search),
        Service::CloudTable | Service::CloudTableOpenTsdb | Service::MrsOpenTsdb => None,
    }
}

pub(super) fn skipped(
    stage: SessionStage,
    reason: &'static str,
    message: String,
) -> SessionStageReport {
    SessionStageReport {
        stage,
        verdict: SessionVerdict::Skipped,
        reason,
        message,
        elapsed_ms: 0,
    }
}

/// Runs the credentialed stages against the first address of `report` that answered as
/// `service` should. Exactly one login attempt, or none (the stage says why).
pub async fn run_session(
    service: Option<Service>,
    report: &CheckReport,
    target: &SessionTarget,
    timeout: Duration,
) -> Vec<SessionStageReport> {
    let Some(service) = service else {
        return vec![skipped(
            SessionStage::Login,
            "NOT_CHECKED",
            "a login needs the source's service (RDS, DWS or CSS)".to_owned(),
        )];
    };
    let Some(engine) = engine(service) else {
        return vec![skipped(
            SessionStage::Login,
            "NOT_CHECKED",
            format!(
                "dsconn checks no login for {} sources (only RDS, DWS and CSS)",
                service.as_str()
            ),
        )];
    };
    let login = match &target.login {
        Ok(login) => login,
        Err(none) => {
            return vec![skipped(
                SessionStage::Login,
                none.reason,
                none.message.clone(),
            )];
        }
    };
    if login.kind == DatasourceType::KafkaSsl {
        return vec![skipped(
            SessionStage::Login,
            "NOT_CHECKED",
            "a Kafka_SSL auth info holds a truststore and keystore, not a login of this \
             service: not checked"
                .to_owned(),
        )];
    }
    if login.kind == DatasourceType::Krb {
        return vec![skipped(
            SessionStage::Login,
            "NOT_CHECKED",
            "Kerberos login is not checked: dsconn does not run a KDC exchange; the job's \
             own kinit is the first to try it"
                .to_owned(),
        )];
    }
    let Some((address, server_name)) = answered(report) else {
        return Vec::new();
    };
    let request = SessionRequest {
        engine,
        address,
        server_name,
        user: login.user.clone(),
        password: crate::probe::session::Secret::new(login.password.expose().to_owned()),
        database: target.check.database.clone(),
        privileges: target.check.privileges.clone(),
        ca_pem: None,
        timeout,
    };
    let mut reports = check_session(&request).await;
    if let Some(login_report) = reports
        .iter_mut()
        .find(|report| report.stage == SessionStage::Login)
    {
        login_report.message = format!(
            "{} (with {})",
            login_report.message,
            login.source.described()
        );
    }
    reports
}

/// The first address that answered, and its endpoint's host as written.
fn answered(report: &CheckReport) -> Option<(SocketAddr, String)> {
    let check = report
        .checks
        .iter()
        .find(|check| check.reachable && check.address.is_some())?;
    let address = check.address?;
    Some((address, host_of(&check.endpoint)))
}

/// The host of `host:port` / `[v6]:port` as written.
fn host_of(endpoint: &str) -> String {
    let host = match endpoint.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => endpoint,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_as_written() {
        assert_eq!(host_of("db.example:3306"), "db.example");
        assert_eq!(host_of("[::1]:5432"), "::1");
    }
}
