//! What the agent API sends and takes for credentialed checks (issue 26): a claimed
//! test's or binding's session, with its login only where a password may travel (and
//! none while a binding's last login FAILED), and the stages of a
//! test that an agent from before stages reported.

use super::types::{AgentLogin, AgentSession, ClaimRequest};
use crate::api::error::ApiResult;
use crate::api::extract::Transported;
use crate::api::state::AppState;
use crate::check::LoginSource;
use crate::domain::{ProjectId, SessionCheck};
use crate::probe::CheckReport;
use crate::store::QueueWork;

/// Most names of auth infos an agent holds that a claim reads.
const MAX_HELD_NAMES: usize = 64;

/// What one claim may send its agent: a login only when the agent asked for credentials
/// and the claim came over TLS or from loopback (so a password never crosses a network
/// in clear), and never one of an auth info the agent holds itself.
pub(super) struct Sending<'a> {
    /// Err: why no login is sent.
    sendable: Result<(), String>,
    held: &'a [String],
}

impl<'a> Sending<'a> {
    pub(super) fn new(request: &'a ClaimRequest, transported: &Transported) -> Self {
        let sendable = if !request.credentials {
            Err(
                "the agent takes no credentials from the server: it reaches the server \
                 over plain HTTP, not TLS, to another host (serve with --tls-cert/--tls-key \
                 and give the agent an https:// endpoint, or give the agent the auth info \
                 itself with --auth-info NAME=FILE), or it is older than credentialed checks"
                    .to_owned(),
            )
        } else if transported.carries_secrets() {
            Ok(())
        } else {
            Err(format!(
                "the server sends credentials only over TLS or loopback, and this agent \
                 ({}) reaches it over plain HTTP: serve with --tls-cert/--tls-key, or give \
                 the agent the auth info itself with --auth-info NAME=FILE",
                transported.peer
            ))
        };
        let held = &request.held_auth_infos;
        Self {
            sendable,
            held: &held[..held.len().min(MAX_HELD_NAMES)],
        }
    }

    /// A claimed test's credentialed stages for the agent, with the login when it may
    /// be sent.
    pub(super) async fn session(
        &self,
        state: &AppState,
        project: &ProjectId,
        work: &QueueWork,
    ) -> Option<AgentSession> {
        let (sendable, held) = (&self.sendable, self.held);
        let check: SessionCheck =
            serde_json::from_str(work.session.as_deref()?).unwrap_or_default();
        let mut session = AgentSession {
            auth_info_name: check.auth_info_name.clone(),
            database: check.database.clone(),
            privileges: check.privileges.clone(),
            login: None,
            withheld: None,
            withheld_reason: None,
        };
        let logins = state.checks.pipeline.logins();
        // A binding's login that FAILED is not tried again, from either copy, until the
        // server's auth info is updated after it (or the connection's is set again).
        if let Some(failed_at) = work.login_failed_at
            && !logins
                .changed_since(&state.store, project.as_str(), &check, failed_at)
                .await
        {
            let skipped = crate::check::last_login_failed(failed_at);
            session.withheld = Some(skipped.message);
            session.withheld_reason = Some(skipped.reason.to_owned());
            return Some(session);
        }
        // The agent's own copy is used first: the server's need not travel.
        if check
            .auth_info_name
            .as_ref()
            .is_some_and(|name| held.contains(name))
        {
            return Some(session);
        }
        if let Err(why) = sendable {
            session.withheld = Some(why.clone());
            session.withheld_reason = Some("CREDENTIALS_WITHHELD".to_owned());
            return Some(session);
        }
        let task_id = match work.kind {
            crate::domain::QueueWorkKind::Test => work.key.parse().ok(),
            _ => None,
        };
        match logins
            .login(&state.store, project.as_str(), task_id, &check, None)
            .await
        {
            Ok(login) => {
                session.login = Some(AgentLogin {
                    datasource_type: login.kind.as_str().to_owned(),
                    user_name: login.user,
                    password: login.password.expose().to_owned(),
                    source: match login.source {
                        LoginSource::Inline => "inline",
                        _ => "server",
                    }
                    .to_owned(),
                });
            }
            Err(none) => {
                session.withheld = Some(none.message);
                session.withheld_reason = Some(none.reason.to_owned());
            }
        }
        Some(session)
    }
}

/// The stages of a test reported by an agent from before stages: built here from its
/// report and what the test asked (its login SKIPPED: that agent cannot log in).
pub(super) async fn old_agents_stages(
    state: &AppState,
    project: &ProjectId,
    queue: &str,
    key: &str,
    report: &CheckReport,
) -> ApiResult<Vec<crate::domain::StageResult>> {
    let Ok(task_id) = key.parse::<i64>() else {
        return Ok(Vec::new());
    };
    let Some(task) = state.store.get_task(project, queue, task_id).await? else {
        return Ok(Vec::new());
    };
    let service = task
        .service
        .as_deref()
        .and_then(|raw| crate::domain::Service::parse(raw).ok());
    let check: Option<SessionCheck> = task
        .session
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let asked = crate::check::Asked {
        session: check.is_some(),
        privileges: check.is_some_and(|check| !check.privileges.is_empty()),
    };
    Ok(crate::check::stages_of_old_agent(report, service, asked))
}
