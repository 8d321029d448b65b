//! PostgreSQL (DWS, RDS for PostgreSQL): `tls` when the server answers the SSLRequest
//! with 'S', then one login with sqlx (md5 or SCRAM-SHA-256; `sslmode=require` when it
//! offered TLS, else `prefer`), `SELECT 1`, and the requested privileges from the catalog.
//!
//! Privileges: on a table, `has_table_privilege` (the name as `to_regclass` reads it, so
//! an unqualified one follows the search path); CREATE means "can create tables": CREATE
//! on the table's schema, or on `current_schema()` when no schema is named; SELECT,
//! INSERT, UPDATE or DELETE without a table means on every table of `current_schema()`.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::privileges::{self, Finding};
use super::sql::SqlEngine;
use super::stages::{Step, Verdict};
use super::{SessionRequest, tls};
use crate::domain::{Privilege, PrivilegeRequest};

/// PostgreSQL's SSLRequest: length 8, then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// Tables named when some in a schema lack a privilege.
const TABLES_SHOWN: i64 = 5;
/// The catalog's answer for a name with invalid syntax (e.g. `a-b` unquoted).
const INVALID_NAME: &str = "42602";

/// PostgreSQL's stages, for [`super::sql::run`] (its close is a Terminate).
pub(super) struct Postgres;

impl SqlEngine for Postgres {
    type Connection = PgConnection;

    fn tls_stage(request: &SessionRequest) -> impl Future<Output = Step<bool>> + Send {
        tls_stage(request)
    }

    fn login(
        request: &SessionRequest,
        tls: bool,
    ) -> impl Future<Output = Step<PgConnection>> + Send {
        login(request, tls)
    }

    fn query(connection: &mut PgConnection) -> impl Future<Output = Step<()>> + Send {
        query(connection)
    }

    fn check_privileges(
        connection: &mut PgConnection,
        request: &SessionRequest,
    ) -> impl Future<Output = Step<()>> + Send {
        check_privileges(connection, &request.privileges)
    }
}

/// Asks whether the server offers TLS on a short connection of its own that never
/// logs in; when it does, shakes hands and judges the certificate.
/// True when the server offers TLS (and the stage passed).
async fn tls_stage(request: &SessionRequest) -> Step<bool> {
    let asked = async {
        let mut stream = TcpStream::connect(request.address).await?;
        stream.write_all(&SSL_REQUEST).await?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await?;
        Ok::<_, std::io::Error>((stream, answer[0]))
    };
    let stream = match asked.await {
        Ok((stream, b'S')) => stream,
        // 'N' (or an old server's error): no TLS here, so no tls stage.
        Ok(_) => return Step::Absent(false),
        Err(error) => {
            return Step::fail(
                "TLS_FAILED",
                format!(
                    "asking {} whether it offers TLS failed: {error}",
                    request.address
                ),
            );
        }
    };
    match tls::handshake(stream, request).await {
        Ok(presented) => tls::judge(&presented, request).map(|()| true),
        Err(message) => Step::fail("TLS_FAILED", message),
    }
}

/// The one login attempt of the check.
async fn login(request: &SessionRequest, tls: bool) -> Step<PgConnection> {
    // As libpq: with no database named, the user's own.
    let database = request.database.as_deref().unwrap_or(&request.user);
    // Not `new()`: a password from a .pgpass file must never stand in for the given one.
    let options = PgConnectOptions::new_without_pgpass()
        .host(&request.address.ip().to_string())
        .port(request.address.port())
        .username(&request.user)
        .password(request.password.expose())
        .database(database)
        .ssl_mode(if tls {
            PgSslMode::Require
        } else {
            PgSslMode::Prefer
        })
        .application_name("dsconn-check")
        .disable_statement_logging();
    let connection = match PgConnection::connect_with(&options).await {
        Ok(connection) => connection,
        Err(error) => return login_failure(&error, request, database),
    };
    let version = connection
        .server_version_num()
        .map(|number| format!(" (PostgreSQL {}.{})", number / 10_000, number % 10_000))
        .unwrap_or_default();
    Step::Done(
        connection,
        Verdict::passed(format!(
            "logged in as {} to database {database}{version}",
            request.user
        )),
    )
}

fn login_failure<T>(error: &sqlx::Error, request: &SessionRequest, database: &str) -> Step<T> {
    let user = &request.user;
    if let Some(server) = error.as_database_error() {
        let code = server.code().unwrap_or_default();
        let said = server.message();
        return match code.as_ref() {
            "28P01" => Step::fail(
                "AUTH_FAILED",
                format!(
                    "password authentication failed for user {user}; check the auth info's \
                     user name and password"
                ),
            ),
            "28000" => Step::fail(
                "AUTH_FAILED",
                format!(
                    "the server refused user {user}: {said}; check the user name, and that \
                     the server's pg_hba.conf admits it from this network"
                ),
            ),
            "3D000" => Step::fail(
                "UNKNOWN_DATABASE",
                format!("database {database} does not exist on the server; name an existing one"),
            ),
            _ => Step::fail(
                "LOGIN_FAILED",
                format!("login as {user} failed: {said} (SQLSTATE {code})"),
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

async fn query(connection: &mut PgConnection) -> Step<()> {
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(connection)
        .await
    {
        Ok(1) => Step::Done((), Verdict::passed("SELECT 1 answered 1")),
        Ok(other) => Step::fail("QUERY_FAILED", format!("SELECT 1 answered {other}")),
        Err(error) => Step::fail("QUERY_FAILED", format!("SELECT 1 failed: {error}")),
    }
}

async fn check_privileges(connection: &mut PgConnection, wanted: &[PrivilegeRequest]) -> Step<()> {
    let mut findings = Vec::with_capacity(wanted.len());
    for request in wanted {
        let finding = match (request.privilege, request.table.as_deref()) {
            (Privilege::Create, table) => {
                let schema =
                    table.and_then(|table| table.rsplit_once('.').map(|(schema, _)| schema));
                create_in_schema(connection, schema).await
            }
            (privilege, Some(table)) => on_table(connection, privilege, table).await,
            (privilege, None) => on_every_table(connection, privilege).await,
        };
        findings.push(finding);
    }
    privileges::verdict(&findings)
}

async fn on_table(connection: &mut PgConnection, privilege: Privilege, table: &str) -> Finding {
    let answer: Result<Option<(String, bool)>, _> = sqlx::query_as(
        "SELECT n.nspname || '.' || c.relname, has_table_privilege(current_user, c.oid, $2) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = to_regclass($1)::oid",
    )
    .bind(table)
    .bind(privilege.as_str())
    .fetch_optional(connection)
    .await;
    match answer {
        Ok(Some((name, true))) => Finding::Held(format!("{privilege} on {name}")),
        Ok(Some((name, false))) => Finding::Missing(format!("{privilege} on {name}")),
        Ok(None) => Finding::UnknownTable(table.to_owned()),
        Err(error) if sqlstate(&error).as_deref() == Some(INVALID_NAME) => {
            Finding::UnknownTable(table.to_owned())
        }
        Err(error) => Finding::NotChecked(format!("{privilege} on {table}: {error}")),
    }
}

/// CREATE in `schema`, or in `current_schema()` when None.
async fn create_in_schema(connection: &mut PgConnection, schema: Option<&str>) -> Finding {
    // Unquoted names fold to lower case, as the server reads them.
    let schema = schema.map(str::to_ascii_lowercase);
    let answer: Result<Option<(String, bool)>, _> = sqlx::query_as(
        "SELECT n.nspname::text, has_schema_privilege(current_user, n.oid, 'CREATE') \
         FROM pg_namespace n WHERE n.nspname = coalesce($1, current_schema())",
    )
    .bind(schema.as_deref())
    .fetch_optional(connection)
    .await;
    match (answer, schema) {
        (Ok(Some((name, true))), _) => Finding::Held(format!("CREATE in schema {name}")),
        (Ok(Some((name, false))), _) => Finding::Missing(format!("CREATE in schema {name}")),
        (Ok(None), Some(schema)) => Finding::UnknownTable(format!("{schema} (no such schema)")),
        (Ok(None), None) => Finding::Missing(
            "CREATE: no schema on the user's search_path exists to create tables in".to_owned(),
        ),
        (Err(error), _) => Finding::NotChecked(format!("CREATE: {error}")),
    }
}

/// `privilege` on every table of `current_schema()`, naming the first few that lack it.
async fn on_every_table(connection: &mut PgConnection, privilege: Privilege) -> Finding {
    let schema: Result<Option<String>, _> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *connection)
        .await;
    let schema = match schema {
        Ok(Some(schema)) => schema,
        Ok(None) => {
            return Finding::Missing(format!(
                "{privilege}: no schema on the user's search_path exists"
            ));
        }
        Err(error) => return Finding::NotChecked(format!("{privilege}: {error}")),
    };
    let lacking: Result<Vec<String>, _> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
         AND NOT has_table_privilege(current_user, c.oid, $2) ORDER BY 1 LIMIT $3",
    )
    .bind(&schema)
    .bind(privilege.as_str())
    .bind(TABLES_SHOWN + 1)
    .fetch_all(connection)
    .await;
    match lacking {
        Ok(tables) if tables.is_empty() => {
            Finding::Held(format!("{privilege} on every table in schema {schema}"))
        }
        Ok(mut tables) => {
            let more = tables.len() > usize::try_from(TABLES_SHOWN).unwrap_or(usize::MAX);
            tables.truncate(usize::try_from(TABLES_SHOWN).unwrap_or(usize::MAX));
            let names: Vec<String> = tables
                .iter()
                .map(|table| format!("{schema}.{table}"))
                .collect();
            let more = if more { " and more" } else { "" };
            Finding::Missing(format!("{privilege} on {}{more}", names.join(", ")))
        }
        Err(error) => Finding::NotChecked(format!("{privilege} in schema {schema}: {error}")),
    }
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|server| server.code())
        .map(|code| code.into_owned())
}

#[cfg(test)]
mod tests;
