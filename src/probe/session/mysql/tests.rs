//! Against the machine's MariaDB: a database and a user of the test's own, with SELECT
//! on one table only, dropped afterwards.

use std::process::Command;

use super::super::test_support::{
    assert_no_secret, checked, failed, missing_service, passed, request, shape,
};
use super::super::{Engine, SessionRequest, SessionStage, check_session};

const MARIADB: &str = "127.0.0.1:3306";
const PASSWORD: &str = "Maria-S3cret!pw";

/// A database with `orders` and `items`, and a user with SELECT on `items` only; both
/// dropped on drop.
struct Shop {
    database: String,
    user: String,
}

fn root_sql(sql: &str) -> Result<String, String> {
    let output = Command::new("mysql")
        .args(["-h127.0.0.1", "-P3306", "-uroot", "-N", "-B", "-e", sql])
        .output()
        .map_err(|error| format!("mysql client: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl Shop {
    fn create() -> Option<Self> {
        if let Err(error) = std::net::TcpStream::connect(MARIADB) {
            missing_service("MariaDB", &format!("nothing listens on {MARIADB}: {error}"));
            return None;
        }
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let shop = Self {
            database: format!("dsconn_s_{}", &unique[..12]),
            user: format!("dsconn_u_{}", &unique[..12]),
        };
        let (database, user) = (&shop.database, &shop.user);
        root_sql(&format!(
            "CREATE DATABASE {database}; \
             CREATE TABLE {database}.orders (id int); CREATE TABLE {database}.items (id int); \
             CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
             GRANT SELECT ON {database}.items TO '{user}'@'127.0.0.1';"
        ))
        .unwrap_or_else(|error| panic!("setting up MariaDB: {error}"));
        Some(shop)
    }

    fn request(&self, password: &str, privileges: &[&str]) -> SessionRequest {
        let address = MARIADB.parse().expect("address");
        request(
            Engine::MySql,
            address,
            &self.user,
            password,
            Some(&self.database),
            privileges,
        )
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = root_sql(&format!(
            "DROP USER IF EXISTS '{}'@'127.0.0.1'; DROP DATABASE IF EXISTS {};",
            self.user, self.database
        ));
    }
}

/// The shape without a tls stage, which only a MariaDB with TLS on has.
fn shape_after_tls(reports: &[super::super::SessionStageReport]) -> Vec<String> {
    shape(reports)
        .into_iter()
        .filter(|stage| stage != "tls:PASSED")
        .collect()
}

fn access_denied_errors() -> u64 {
    root_sql("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'")
        .ok()
        .and_then(|line| line.split_whitespace().last()?.parse().ok())
        .expect("Access_denied_errors")
}

#[tokio::test]
async fn a_user_with_select_on_one_table_logs_in_and_the_missing_privileges_are_named() {
    let Some(shop) = Shop::create() else { return };
    let request = shop.request(
        PASSWORD,
        &["SELECT:items", "SELECT:orders", "insert:items", "CREATE"],
    );
    let reports = check_session(&request).await;
    assert_eq!(
        shape_after_tls(&reports),
        ["login:PASSED", "query:PASSED", "privileges:FAILED"],
        "{reports:#?}"
    );
    let login = passed(&reports, SessionStage::Login);
    assert_eq!(
        login,
        format!("logged in as {} to database {}", shop.user, shop.database)
    );
    let query = passed(&reports, SessionStage::Query);
    assert!(
        query.starts_with("SELECT 1 answered 1 (MariaDB 10."),
        "{query}"
    );
    let privileges = failed(&reports, SessionStage::Privileges, "PRIVILEGE_MISSING");
    let db = &shop.database;
    assert!(
        privileges.starts_with(&format!(
            "missing: SELECT on {db}.orders (if it exists: MySQL hides tables a user has no \
             privilege on), INSERT on {db}.items, CREATE on database {db}; held: SELECT on \
             {db}.items"
        )),
        "{privileges}"
    );
    assert_no_secret(&reports, &request, PASSWORD);

    root_sql(&format!(
        "GRANT INSERT, CREATE ON {db}.* TO '{}'@'127.0.0.1'; GRANT SELECT ON {db}.orders TO '{}'@'127.0.0.1'",
        shop.user, shop.user
    ))
    .expect("grant");
    let reports = check_session(&request).await;
    let privileges = passed(&reports, SessionStage::Privileges);
    assert_eq!(
        privileges,
        format!(
            "held: SELECT on {db}.items, SELECT on {db}.orders, INSERT on {db}.items, CREATE \
             on database {db}"
        )
    );
}

#[tokio::test]
async fn a_wrong_password_fails_the_login_once_and_skips_the_rest() {
    let Some(shop) = Shop::create() else { return };
    let request = shop.request("wrong-Pass-word", &["SELECT:items"]);
    let denied_before = access_denied_errors();
    let reports = check_session(&request).await;
    assert_eq!(
        shape_after_tls(&reports),
        ["login:FAILED", "query:SKIPPED", "privileges:SKIPPED"],
        "{reports:#?}"
    );
    let login = failed(&reports, SessionStage::Login, "AUTH_FAILED");
    assert!(
        login.starts_with(&format!("access denied for user {}", shop.user)),
        "{login}"
    );
    // One login attempt, as the server counted it.
    assert_eq!(access_denied_errors(), denied_before + 1);
    assert_no_secret(&reports, &request, "wrong-Pass-word");
}

#[tokio::test]
async fn an_unknown_database_is_named() {
    let Some(shop) = Shop::create() else { return };
    let mut request = shop.request(PASSWORD, &[]);
    request.database = Some("dsconn_no_such_db".to_owned());
    let reports = check_session(&request).await;
    assert_eq!(
        shape_after_tls(&reports),
        ["login:FAILED", "query:SKIPPED"],
        "{reports:#?}"
    );
    let login = failed(&reports, SessionStage::Login, "UNKNOWN_DATABASE");
    assert!(login.contains("database dsconn_no_such_db"), "{login}");
    assert_no_secret(&reports, &request, PASSWORD);
}

#[tokio::test]
async fn an_unqualified_table_without_a_database_is_not_checked_and_says_why() {
    let Some(shop) = Shop::create() else { return };
    let mut request = shop.request(PASSWORD, &["SELECT:items"]);
    request.database = None;
    let reports = check_session(&request).await;
    let message = failed(&reports, SessionStage::Privileges, "QUERY_FAILED");
    assert!(message.contains("no database named"), "{message}");
}

#[test]
fn the_greeting_s_capabilities_are_read() {
    // Protocol 10, "5.7.0\0", id, 8 bytes of auth data, filler, flags 0x0800 | 0x8000.
    let mut greeting = vec![10];
    greeting.extend_from_slice(b"5.7.0\0");
    greeting.extend_from_slice(&[1, 0, 0, 0]);
    greeting.extend_from_slice(&[0; 8]);
    greeting.push(0);
    greeting.extend_from_slice(&[0x00, 0x88]);
    greeting.extend_from_slice(&[45, 2, 0]);
    greeting.extend_from_slice(&[0x01, 0x00]);
    assert_eq!(super::capabilities(&greeting), Some(0x0001_8800));
    // An error packet is no greeting.
    assert_eq!(super::capabilities(&[0xff, 0x69, 0x04]), None);
}

/// A scripted MySQL server that offers TLS: a greeting with CLIENT_SSL, then, after the
/// client's SSLRequest, a real TLS handshake with the test certificate, then it closes.
async fn mysql_offering_tls(pki: &super::super::test_support::TestPki) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let config = pki.server_config();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut payload = vec![10];
                payload.extend_from_slice(b"8.0.36\0");
                payload.extend_from_slice(&[1, 0, 0, 0]);
                payload.extend_from_slice(b"abcdefgh\0");
                payload.extend_from_slice(&[0x00, 0xaa, 45, 2, 0, 0xff, 0x01, 21]);
                payload.extend_from_slice(&[0; 10]);
                payload.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
                let mut packet = vec![u8::try_from(payload.len()).expect("short"), 0, 0, 0];
                packet.extend_from_slice(&payload);
                let mut ssl_request = [0u8; 36];
                if stream.write_all(&packet).await.is_ok()
                    && stream.read_exact(&mut ssl_request).await.is_ok()
                {
                    let _ = acceptor.accept(stream).await;
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn a_server_offering_tls_gets_a_tls_stage_judged_against_the_given_ca() {
    let pki = super::super::test_support::test_pki("dsconn test CA");
    let address = mysql_offering_tls(&pki).await;
    let mut request = request(Engine::MySql, address, "app", PASSWORD, None, &[]);
    request.ca_pem = Some(pki.ca_pem.clone().into_bytes());
    let reports = check_session(&request).await;
    let tls = passed(&reports, SessionStage::Tls);
    assert!(
        tls.contains("chain trusted by the given CA, host name matches, expires in"),
        "{tls}"
    );
    // The scripted server closes after the handshake: the login fails, and says so.
    failed(&reports, SessionStage::Login, "LOGIN_FAILED");
    request.ca_pem = Some(
        super::super::test_support::test_pki("another CA")
            .ca_pem
            .into_bytes(),
    );
    let reports = checked(&request, "tls:FAILED login:SKIPPED query:SKIPPED").await;
    failed(&reports, SessionStage::Tls, "TLS_UNTRUSTED");
    assert_no_secret(&reports, &request, PASSWORD);
}
