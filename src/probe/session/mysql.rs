//! MySQL and MariaDB (RDS): `tls` when the server's greeting offers it, then one login
//! with sqlx (mysql_native_password or caching_sha2_password, TLS `PREFERRED`),
//! `SELECT 1`, and the requested privileges from information_schema.
//!
//! Privileges are read for `CURRENT_USER()` (the account the server matched, e.g.
//! `'app'@'%'`) from USER_PRIVILEGES (global), SCHEMA_PRIVILEGES (database, whose names
//! may be LIKE patterns as in GRANT) and TABLE_PRIVILEGES (table). Privileges through
//! roles are not followed. An unqualified table is in the login database. MySQL hides
//! from a user the tables it has no privilege on, so a missing privilege on a table the
//! user cannot see says the table may also not exist.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::privileges::{self, Finding};
use super::sql::SqlEngine;
use super::stages::{Step, Verdict};
use super::{SessionRequest, tls};
use crate::domain::{Privilege, PrivilegeRequest};

/// Greeting capability: the server can switch to TLS.
const CLIENT_SSL: u32 = 0x0800;
const CLIENT_PROTOCOL_41: u32 = 0x0200;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
/// A greeting is far smaller; more is not a MySQL server.
const MAX_GREETING_BYTES: usize = 1024;
/// utf8mb4_general_ci, the collation the TLS request names.
const UTF8MB4: u8 = 45;

/// MySQL's stages, for [`super::sql::run`] (its close is a COM_QUIT).
pub(super) struct MySql;

impl SqlEngine for MySql {
    type Connection = MySqlConnection;

    fn tls_stage(request: &SessionRequest) -> impl Future<Output = Step<bool>> + Send {
        tls_stage(request)
    }

    fn login(
        request: &SessionRequest,
        tls: bool,
    ) -> impl Future<Output = Step<MySqlConnection>> + Send {
        login(request, tls)
    }

    fn query(connection: &mut MySqlConnection) -> impl Future<Output = Step<()>> + Send {
        query(connection)
    }

    fn check_privileges(
        connection: &mut MySqlConnection,
        request: &SessionRequest,
    ) -> impl Future<Output = Step<()>> + Send {
        check_privileges(connection, request)
    }
}

/// Reads the greeting on a short connection of its own that never logs in; when it
/// offers TLS, asks for it, shakes hands and judges the certificate.
/// True when the server offers TLS (and the stage passed).
async fn tls_stage(request: &SessionRequest) -> Step<bool> {
    let greeted = async {
        let mut stream = TcpStream::connect(request.address).await?;
        let greeting = read_packet(&mut stream).await?;
        Ok::<_, std::io::Error>((stream, greeting))
    };
    let (mut stream, greeting) = match greeted.await {
        Ok(greeted) => greeted,
        Err(error) => {
            return Step::fail(
                "TLS_FAILED",
                format!("reading {}'s greeting failed: {error}", request.address),
            );
        }
    };
    // An error packet (host not allowed, too many connections) is the login's to report.
    if capabilities(&greeting).is_none_or(|flags| flags & CLIENT_SSL == 0) {
        return Step::Absent(false);
    }
    let mut ssl_request = vec![32, 0, 0, 1];
    ssl_request.extend_from_slice(
        &(CLIENT_SSL | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION).to_le_bytes(),
    );
    ssl_request.extend_from_slice(&16_777_216u32.to_le_bytes());
    ssl_request.push(UTF8MB4);
    ssl_request.extend_from_slice(&[0; 23]);
    if let Err(error) = stream.write_all(&ssl_request).await {
        return Step::fail("TLS_FAILED", format!("asking for TLS failed: {error}"));
    }
    match tls::handshake(stream, request).await {
        Ok(presented) => tls::judge(&presented, request).map(|()| true),
        Err(message) => Step::fail("TLS_FAILED", message),
    }
}

async fn read_packet(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if length > MAX_GREETING_BYTES {
        return Err(std::io::Error::other(
            "the greeting is too long for MySQL's",
        ));
    }
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

/// The greeting's capability flags (lower and upper halves); None for an error packet
/// or anything that is not a protocol-10 greeting.
fn capabilities(greeting: &[u8]) -> Option<u32> {
    let (&version, rest) = greeting.split_first()?;
    if version != 10 {
        return None;
    }
    let after_version = rest.iter().position(|&byte| byte == 0)? + 1;
    // Connection id (4), auth data part 1 (8), filler (1).
    let lower = rest.get(after_version + 13..after_version + 15)?;
    // Character set (1), status flags (2), then the upper half.
    let upper = rest
        .get(after_version + 18..after_version + 20)
        .unwrap_or(&[0, 0]);
    Some(
        u32::from(u16::from_le_bytes([lower[0], lower[1]]))
            | u32::from(u16::from_le_bytes([upper[0], upper[1]])) << 16,
    )
}

/// The one login attempt of the check.
async fn login(request: &SessionRequest, tls: bool) -> Step<MySqlConnection> {
    let mut options = MySqlConnectOptions::new()
        .host(&request.address.ip().to_string())
        .port(request.address.port())
        .username(&request.user)
        .password(request.password.expose())
        .ssl_mode(if tls {
            MySqlSslMode::Required
        } else {
            MySqlSslMode::Preferred
        })
        .disable_statement_logging();
    if let Some(database) = &request.database {
        options = options.database(database);
    }
    match MySqlConnection::connect_with(&options).await {
        Ok(connection) => {
            let database = match &request.database {
                Some(database) => format!(" to database {database}"),
                None => " (no database named)".to_owned(),
            };
            Step::Done(
                connection,
                Verdict::passed(format!("logged in as {}{database}", request.user)),
            )
        }
        Err(error) => login_failure(&error, request),
    }
}

fn login_failure<T>(error: &sqlx::Error, request: &SessionRequest) -> Step<T> {
    let user = &request.user;
    let database = request.database.as_deref().unwrap_or_default();
    if let Some(server) = error
        .as_database_error()
        .and_then(|server| server.try_downcast_ref::<MySqlDatabaseError>())
    {
        let said = server.message();
        return match server.number() {
            1045 => Step::fail(
                "AUTH_FAILED",
                format!(
                    "access denied for user {user} (wrong password, or the user may not log \
                     in from this address); check the auth info's user name and password"
                ),
            ),
            1049 => Step::fail(
                "UNKNOWN_DATABASE",
                format!("database {database} does not exist on the server; name an existing one"),
            ),
            // MySQL answers this also for a database that does not exist, to a user who
            // could not see it anyway.
            1044 => Step::fail(
                "UNKNOWN_DATABASE",
                format!(
                    "user {user} may not use database {database}, or it does not exist; grant \
                     the user privileges on it or name another"
                ),
            ),
            number => Step::fail(
                "LOGIN_FAILED",
                format!("login as {user} failed: {said} (error {number})"),
            ),
        };
    }
    let what = match error {
        sqlx::Error::Tls(error) => format!("TLS during the login failed: {error}"),
        sqlx::Error::Io(error) => format!("the connection failed during the login: {error}"),
        other => other.to_string(),
    };
    Step::fail("LOGIN_FAILED", format!("login as {user} failed: {what}"))
}

async fn query(connection: &mut MySqlConnection) -> Step<()> {
    let answered: Result<i64, _> = sqlx::query_scalar("SELECT CAST(1 AS SIGNED)")
        .fetch_one(&mut *connection)
        .await;
    match answered {
        Ok(1) => {}
        Ok(other) => return Step::fail("QUERY_FAILED", format!("SELECT 1 answered {other}")),
        Err(error) => return Step::fail("QUERY_FAILED", format!("SELECT 1 failed: {error}")),
    }
    let version: Option<String> = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(connection)
        .await
        .ok();
    let server = version
        .map(|version| {
            let product = if version.contains("MariaDB") {
                "MariaDB"
            } else {
                "MySQL"
            };
            format!(" ({product} {version})")
        })
        .unwrap_or_default();
    Step::Done((), Verdict::passed(format!("SELECT 1 answered 1{server}")))
}

const HAS_PRIVILEGE: &str = "SELECT CAST(\
    EXISTS(SELECT 1 FROM information_schema.USER_PRIVILEGES \
           WHERE GRANTEE = ? AND PRIVILEGE_TYPE = ?) \
    OR EXISTS(SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES \
           WHERE GRANTEE = ? AND ? LIKE TABLE_SCHEMA AND PRIVILEGE_TYPE = ?) \
    OR EXISTS(SELECT 1 FROM information_schema.TABLE_PRIVILEGES \
           WHERE GRANTEE = ? AND TABLE_SCHEMA = ? AND TABLE_NAME = ? AND PRIVILEGE_TYPE = ?) \
    AS SIGNED)";

const TABLE_VISIBLE: &str = "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.TABLES \
                             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";

async fn check_privileges(connection: &mut MySqlConnection, request: &SessionRequest) -> Step<()> {
    let account: Result<String, _> = sqlx::query_scalar("SELECT CURRENT_USER()")
        .fetch_one(&mut *connection)
        .await;
    let grantee = match account {
        // The account is `user@host`; the host never holds '@', the user may.
        Ok(account) => match account.rsplit_once('@') {
            Some((user, host)) => format!("'{user}'@'{host}'"),
            None => format!("'{account}'@'%'"),
        },
        Err(error) => {
            return Step::fail(
                "QUERY_FAILED",
                format!("SELECT CURRENT_USER() failed: {error}"),
            );
        }
    };
    let mut findings = Vec::with_capacity(request.privileges.len());
    for wanted in &request.privileges {
        findings.push(check_one(connection, &grantee, wanted, request.database.as_deref()).await);
    }
    privileges::verdict(&findings)
}

async fn check_one(
    connection: &mut MySqlConnection,
    grantee: &str,
    wanted: &PrivilegeRequest,
    login_database: Option<&str>,
) -> Finding {
    let privilege = wanted.privilege.as_str();
    let (database, table) = match wanted.table.as_deref().map(|table| table.split_once('.')) {
        Some(Some((database, table))) => (Some(database), Some(table)),
        Some(None) => (login_database, wanted.table.as_deref()),
        None => (login_database, None),
    };
    let Some(database) = database else {
        return Finding::NotChecked(format!(
            "{wanted}: no database named; write database.table or give the check a database"
        ));
    };
    let place = match table {
        Some(table) => format!("{privilege} on {database}.{table}"),
        None => format!("{privilege} on database {database}"),
    };
    let held: Result<i64, _> = sqlx::query_scalar(HAS_PRIVILEGE)
        .bind(grantee)
        .bind(privilege)
        .bind(grantee)
        .bind(database)
        .bind(privilege)
        .bind(grantee)
        .bind(database)
        .bind(table)
        .bind(privilege)
        .fetch_one(&mut *connection)
        .await;
    let held = match held {
        Ok(held) => held != 0,
        Err(error) => return Finding::NotChecked(format!("{place}: {error}")),
    };
    // A table to be created need not exist yet.
    let Some(table) = table.filter(|_| wanted.privilege != Privilege::Create) else {
        return if held {
            Finding::Held(place)
        } else {
            Finding::Missing(place)
        };
    };
    let visible: Result<i64, _> = sqlx::query_scalar(TABLE_VISIBLE)
        .bind(database)
        .bind(table)
        .fetch_one(connection)
        .await;
    match (held, visible) {
        (_, Err(error)) => Finding::NotChecked(format!("{place}: {error}")),
        (true, Ok(0)) => Finding::UnknownTable(format!("{database}.{table}")),
        (true, Ok(_)) => Finding::Held(place),
        (false, Ok(0)) => Finding::Missing(format!(
            "{place} (if it exists: MySQL hides tables a user has no privilege on)"
        )),
        (false, Ok(_)) => Finding::Missing(place),
    }
}

#[cfg(test)]
mod tests;
