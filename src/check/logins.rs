//! Where a credentialed check's login comes from: the project's auth info, opened with
//! the server's key only when a check needs it; or an inline auth info given with a
//! test, held in this process's memory until the test ends (never stored).

use std::sync::Arc;
use std::time::Duration;

use super::credentials::LAST_LOGIN_FAILED;
use super::session::{Login, LoginSource, NoLogin, SessionTarget};
use crate::credentials::{Secret, SecretBox, auth_info_sealing_context};
use crate::domain::{ProjectId, SessionCheck, auth_info::DatasourceType};
use crate::store::DynStore;

/// How long an inline auth info waits for its test to be claimed and run; the test's
/// login is SKIPPED after (the test must be made again).
pub const INLINE_LOGIN_TTL: Duration = Duration::from_secs(15 * 60);
/// Most inline auth infos held at once (each at most about 2 KiB): past it the least
/// recently held is dropped, and its test's login is SKIPPED (`CREDENTIALS_UNAVAILABLE`).
const MAX_INLINE_LOGINS: u64 = 10_000;

/// An auth info given with one test.
#[derive(Debug)]
pub struct InlineLogin {
    pub kind: DatasourceType,
    pub user: String,
    pub password: Secret,
}

/// Opens the logins credentialed checks need.
pub struct Logins {
    secrets: Option<SecretBox>,
    inline: moka::sync::Cache<i64, Arc<InlineLogin>>,
}

impl Default for Logins {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Logins {
    /// `secrets` opens the project's auth infos; None: a server without the key, whose
    /// checks say their login was not available.
    pub fn new(secrets: Option<SecretBox>) -> Self {
        Self {
            secrets,
            inline: moka::sync::Cache::builder()
                .max_capacity(MAX_INLINE_LOGINS)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(INLINE_LOGIN_TTL)
                .build(),
        }
    }

    /// Holds `login` for test `task_id` until [`Self::forget_inline`] or its TTL.
    pub fn hold_inline(&self, task_id: i64, login: InlineLogin) {
        self.inline.insert(task_id, Arc::new(login));
    }

    /// Drops test `task_id`'s inline auth info (its test ended).
    pub fn forget_inline(&self, task_id: i64) {
        self.inline.invalidate(&task_id);
    }

    /// The credentialed stages of test `task_id` (None: not a test), as `session_json`
    /// (the stored [`SessionCheck`]) asks; None when it asks for none. `last_failed`: when
    /// a binding's last login FAILED (see [`Self::login`]).
    pub async fn session_target(
        &self,
        store: &DynStore,
        project: &str,
        task_id: Option<i64>,
        session_json: Option<&str>,
        last_failed: Option<i64>,
    ) -> Option<Arc<SessionTarget>> {
        let check: SessionCheck = match serde_json::from_str(session_json?) {
            Ok(check) => check,
            Err(error) => {
                tracing::warn!(error = %error, "a test's stored session does not parse; its login is skipped");
                SessionCheck::default()
            }
        };
        let login = self
            .login(store, project, task_id, &check, last_failed)
            .await;
        Some(Arc::new(SessionTarget { check, login }))
    }

    /// The login `check` names: its inline auth info, or the project's auth info. A
    /// re-check's login whose last one FAILED at `last_failed` is not tried again while
    /// the auth info is unchanged since (no lockouts): Err with [`LAST_LOGIN_FAILED`].
    pub async fn login(
        &self,
        store: &DynStore,
        project: &str,
        task_id: Option<i64>,
        check: &SessionCheck,
        last_failed: Option<i64>,
    ) -> Result<Login, NoLogin> {
        if check.inline {
            let held = task_id.and_then(|id| self.inline.get(&id));
            return match held {
                Some(held) => Ok(Login {
                    source: LoginSource::Inline,
                    kind: held.kind,
                    user: held.user.clone(),
                    password: Secret::new(held.password.expose().to_owned()),
                }),
                None => Err(NoLogin {
                    reason: "CREDENTIALS_UNAVAILABLE",
                    message: "the auth info given with the test is no longer held (the \
                              server restarted, or the test waited too long, or another \
                              replica took it); make the test again"
                        .to_owned(),
                }),
            };
        }
        let Some(name) = check.auth_info_name.as_deref() else {
            return Err(NoLogin {
                reason: "NOT_CHECKED",
                message: "no auth info was named".to_owned(),
            });
        };
        self.stored_login(store, project, name, last_failed).await
    }

    /// Whether the auth info `check` names was updated after `failed_at` (a login that
    /// FAILED then may be tried again). An auth info the server cannot read (or does not
    /// hold: an agent's own copy) has not changed.
    pub async fn changed_since(
        &self,
        store: &DynStore,
        project: &str,
        check: &SessionCheck,
        failed_at: i64,
    ) -> bool {
        let (Ok(project_id), Some(name)) =
            (ProjectId::parse(project), check.auth_info_name.as_deref())
        else {
            return false;
        };
        match store.get_auth_info(&project_id, name).await {
            Ok(Some(record)) => !still_failed(record.update_time, failed_at),
            _ => false,
        }
    }

    async fn stored_login(
        &self,
        store: &DynStore,
        project: &str,
        name: &str,
        last_failed: Option<i64>,
    ) -> Result<Login, NoLogin> {
        let unavailable = |message: String| NoLogin {
            reason: "CREDENTIALS_UNAVAILABLE",
            message,
        };
        let project_id = ProjectId::parse(project)
            .map_err(|_| unavailable(format!("the project {project:?} is not valid")))?;
        let record = store
            .get_auth_info(&project_id, name)
            .await
            .map_err(|error| {
                tracing::warn!(error = %error, auth_info = %name, "reading an auth info failed");
                unavailable(format!("auth info {name} could not be read; test again"))
            })?
            .ok_or_else(|| NoLogin {
                reason: "UNKNOWN_AUTH_INFO",
                message: format!("the project has no auth info named {name} (deleted?)"),
            })?;
        if let Some(failed_at) = last_failed.filter(|at| still_failed(record.update_time, *at)) {
            return Err(last_login_failed(failed_at));
        }
        let kind = DatasourceType::parse(&record.datasource_type).ok_or_else(|| {
            unavailable(format!(
                "auth info {name} has the unknown type {:?}",
                record.datasource_type
            ))
        })?;
        let user = record
            .attributes
            .get("user_name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let secrets = self.secrets.as_ref().ok_or_else(|| {
            unavailable("this server holds no key to open auth infos with".to_owned())
        })?;
        let fields = secrets
            .open_fields(
                &record.sealed_secrets,
                &auth_info_sealing_context(&project_id, &record.name),
            )
            .map_err(|_| {
                unavailable(format!(
                    "auth info {name} cannot be opened with this server's key"
                ))
            })?;
        let password = fields
            .into_iter()
            .find(|(field, _)| field == "password")
            .map(|(_, secret)| secret);
        match (kind, password) {
            (DatasourceType::Passwd | DatasourceType::Css, None) => Err(NoLogin {
                reason: "CREDENTIALS_UNAVAILABLE",
                message: format!("auth info {name} has no password"),
            }),
            (_, password) => Ok(Login {
                source: LoginSource::Server,
                kind,
                user,
                password: password.unwrap_or_else(|| Secret::new(String::new())),
            }),
        }
    }
}

/// Whether a login that FAILED at `failed_at` still stands for an auth info last updated
/// at `updated_at`: it was not updated after the failure.
fn still_failed(updated_at: i64, failed_at: i64) -> bool {
    updated_at <= failed_at
}

/// Why a login is not tried again: the last one FAILED at `failed_at` (ms) and the auth
/// info has not changed since.
pub fn last_login_failed(failed_at: i64) -> NoLogin {
    let when = chrono::DateTime::from_timestamp_millis(failed_at)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| failed_at.to_string());
    NoLogin {
        reason: LAST_LOGIN_FAILED,
        message: format!(
            "last login failed at {when}; update the auth info or test again (a re-check \
             does not repeat a failed login, so that it cannot lock the user out)"
        ),
    }
}
