//! The logins of an agent's credentialed checks: its own copies of auth infos
//! (`--auth-info NAME=FILE`), which never leave its network and are used first, else the
//! one the server sent inside the claim (only over TLS or loopback).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::api::agents::types::AgentSession;
use crate::check::{Login, LoginSource, NoLogin, SessionTarget};
use crate::credentials::Secret;
use crate::domain::SessionCheck;
use crate::domain::auth_info::{self, DatasourceType};

/// Largest auth info file read: a user name and password fit in far less.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// An auth info file: `{"user_name": "...", "password": "...", "datasource_type":
/// "passwd"}` (the type is optional: `passwd` or `CSS`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthInfoFile {
    #[serde(default)]
    datasource_type: Option<String>,
    user_name: String,
    password: String,
}

/// One auth info the agent holds.
struct Held {
    kind: DatasourceType,
    user: String,
    password: Secret,
}

/// The auth infos an agent holds, by name.
#[derive(Default)]
pub struct LocalLogins {
    held: BTreeMap<String, Held>,
}

impl LocalLogins {
    /// Reads every `NAME=FILE`; Err names the flag and file, never the file's content.
    pub fn load(flags: &[String]) -> Result<Self, String> {
        let mut held = BTreeMap::new();
        for flag in flags {
            let (name, path) = flag.split_once('=').ok_or_else(|| {
                format!("--auth-info {flag:?}: write NAME=FILE (a JSON file with user_name and password)")
            })?;
            let name = auth_info::valid_name(name).ok_or_else(|| {
                format!(
                    "--auth-info: {name:?} is not an auth info name (1-128 letters, digits and _)"
                )
            })?;
            held.insert(name.to_owned(), read_file(name, Path::new(path))?);
        }
        Ok(Self { held })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.held.keys().map(String::as_str)
    }

    /// The stages a claimed piece of work asks for, with the login to use: this agent's
    /// own copy of the named auth info first, else the server's (only if `takes_sent`:
    /// the agent asked for credentials), else why there is none.
    pub fn session_target(
        &self,
        session: Option<&AgentSession>,
        takes_sent: bool,
    ) -> Option<Arc<SessionTarget>> {
        let session = session?;
        let check = SessionCheck {
            auth_info_name: session.auth_info_name.clone(),
            inline: false,
            database: session.database.clone(),
            privileges: session.privileges.clone(),
        };
        // A login the server says FAILED last time is not tried again with any copy.
        let locked_out =
            session.withheld_reason.as_deref() == Some(crate::check::LAST_LOGIN_FAILED);
        let own = session
            .auth_info_name
            .as_deref()
            .filter(|_| !locked_out)
            .and_then(|name| self.held.get(name));
        let sent = session.login.as_ref().filter(|_| takes_sent);
        let login = match (own, sent) {
            (Some(held), _) => Ok(Login {
                source: LoginSource::Agent,
                kind: held.kind,
                user: held.user.clone(),
                password: Secret::new(held.password.expose().to_owned()),
            }),
            (None, Some(sent)) => match DatasourceType::parse(&sent.datasource_type) {
                Some(kind) => Ok(Login {
                    source: if sent.source == "inline" {
                        LoginSource::Inline
                    } else {
                        LoginSource::Server
                    },
                    kind,
                    user: sent.user_name.clone(),
                    password: Secret::new(sent.password.clone()),
                }),
                None => Err(NoLogin {
                    reason: "CREDENTIALS_UNAVAILABLE",
                    message: format!(
                        "the server sent an auth info of the unknown type {:?}",
                        sent.datasource_type
                    ),
                }),
            },
            (None, None) => Err(NoLogin {
                reason: withheld_reason(session.withheld_reason.as_deref()),
                message: session.withheld.clone().unwrap_or_else(|| {
                    "no login was sent and this agent holds no copy of the auth info".to_owned()
                }),
            }),
        };
        Some(Arc::new(SessionTarget { check, login }))
    }
}

/// The server's reason for sending no login, as one of the words an answer may say.
fn withheld_reason(sent: Option<&str>) -> &'static str {
    match sent {
        Some("CREDENTIALS_UNAVAILABLE") => "CREDENTIALS_UNAVAILABLE",
        Some("UNKNOWN_AUTH_INFO") => "UNKNOWN_AUTH_INFO",
        Some("NOT_CHECKED") => "NOT_CHECKED",
        Some(crate::check::LAST_LOGIN_FAILED) => crate::check::LAST_LOGIN_FAILED,
        _ => "CREDENTIALS_WITHHELD",
    }
}

fn read_file(name: &str, path: &Path) -> Result<Held, String> {
    let unreadable = |why: String| format!("--auth-info {name}={}: {why}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|error| unreadable(error.to_string()))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(unreadable(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|error| unreadable(error.to_string()))?;
    // serde's message may quote the content: only its position is told.
    let file: AuthInfoFile = serde_json::from_str(&text).map_err(|error| {
        unreadable(format!(
            "not a JSON object with user_name and password (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let kind = match file.datasource_type.as_deref() {
        None => DatasourceType::Passwd,
        Some(raw) => match DatasourceType::parse(raw) {
            Some(kind @ (DatasourceType::Passwd | DatasourceType::Css)) => kind,
            _ => {
                return Err(unreadable(
                    "datasource_type must be passwd or CSS".to_owned(),
                ));
            }
        },
    };
    if file.user_name.is_empty() || file.password.is_empty() {
        return Err(unreadable(
            "user_name and password must not be empty".to_owned(),
        ));
    }
    Ok(Held {
        kind,
        user: file.user_name,
        password: Secret::new(file.password),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_without_telling_its_content() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.json");
        std::fs::write(&path, r#"{"user_name": "app", "password": "s3cret-Value"}"#)
            .expect("write");
        let logins = LocalLogins::load(&[format!("db_app={}", path.display())]).expect("load");
        assert_eq!(logins.names().collect::<Vec<_>>(), ["db_app"]);
        std::fs::write(&path, r#"{"user_name": "app", "pasword": "s3cret-Value"}"#).expect("write");
        let Err(refused) = LocalLogins::load(&[format!("db_app={}", path.display())]) else {
            panic!("a misspelt field is refused");
        };
        assert!(!refused.contains("s3cret"), "{refused}");
    }

    #[test]
    fn the_agents_own_copy_comes_first() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.json");
        std::fs::write(&path, r#"{"user_name": "local", "password": "x"}"#).expect("write");
        let logins = LocalLogins::load(&[format!("db_app={}", path.display())]).expect("load");
        let session = AgentSession {
            auth_info_name: Some("db_app".into()),
            database: None,
            privileges: Vec::new(),
            login: Some(crate::api::agents::types::AgentLogin {
                datasource_type: "passwd".into(),
                user_name: "sent".into(),
                password: "y".into(),
                source: "server".into(),
            }),
            withheld: None,
            withheld_reason: None,
        };
        let target = logins.session_target(Some(&session), true).expect("target");
        let login = target.login.as_ref().expect("login");
        assert_eq!(
            (login.user.as_str(), login.source),
            ("local", LoginSource::Agent)
        );
        let withheld = AgentSession {
            auth_info_name: Some("other".into()),
            login: None,
            withheld: Some("plain HTTP".into()),
            withheld_reason: None,
            ..session
        };
        let target = logins
            .session_target(Some(&withheld), true)
            .expect("target");
        let none = target.login.as_ref().expect_err("no login");
        assert_eq!(none.reason, "CREDENTIALS_WITHHELD");
    }
}
