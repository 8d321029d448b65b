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
//!   `sslmode=require` would not check either. The login uses TLS without verifying it, since
//!   the `tls` stage already reported on the certificate, and insists on it when that
//!   stage found TLS (PostgreSQL `sslmode=require`, MySQL `REQUIRED`; else `prefer`), so
//!   a connection stripped of TLS cannot carry the password in the clear.
//! - **Secrets.** The password lives in a [`Secret`] (redacted in `Debug`/`Display`,
//!   zeroed on drop), and every message is scrubbed of it before it is reported, whatever
//!   a driver or server put in its errors.
//! - **Search** (Elasticsearch/OpenSearch, CSS): the scheme is found by the `tls` stage
//!   (a TLS handshake on its own connection: https when it completes, else plain http with
//!   no tls stage); the stages are described in `search.rs`.

mod mysql;
mod postgres;
mod privileges;
mod request;
mod search;
mod sql;
mod stages;
mod tls;

pub use request::{
    Engine, Secret, SessionRequest, SessionStage, SessionStageReport, SessionVerdict,
};
use stages::Stages;

/// Runs tls (only when the source offers/uses TLS; absent from the list otherwise), login,
/// query (`SELECT 1`), privileges (only when `privileges` is non-empty; absent otherwise),
/// stopping at the first FAILED one (the rest SKIPPED with reason EARLIER_STAGE_FAILED).
/// Exactly ONE login attempt per call (never retry a login: it must not lock accounts out).
pub async fn check_session(request: &SessionRequest) -> Vec<SessionStageReport> {
    let mut stages = Stages::new(request);
    // Err only says a stage failed; the failure is already in the reports.
    let _ = match request.engine {
        Engine::Postgres => sql::run::<postgres::Postgres>(request, &mut stages).await,
        Engine::MySql => sql::run::<mysql::MySql>(request, &mut stages).await,
        Engine::Search => search::run(request, &mut stages).await,
    };
    stages.finish()
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
