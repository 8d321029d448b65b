//! Against a private PostgreSQL cluster: md5 and SCRAM logins, one login attempt per
//! check in the server's log, the catalog's privileges, and the TLS stage.

use std::time::Duration;

use super::super::test_support::{
    PgCluster, assert_no_secret, assert_stage, checked, failed, passed, request, shape, test_pki,
};
use super::super::{Engine, SessionRequest, SessionStage, SessionVerdict, check_session};

const MD5_PASSWORD: &str = "md5-S3cret!pw";
const SCRAM_PASSWORD: &str = "scram-S3cret!pw";
const WRONG_PASSWORD: &str = "not-the-Right-one";

/// A cluster with a database `shop` holding `public.orders` and `public.items`, and
/// users `md5_app` and `scram_app` that may connect and SELECT only from `items`.
fn shop() -> Option<PgCluster> {
    let cluster = PgCluster::start()?;
    cluster.sql("postgres", "CREATE DATABASE shop");
    cluster.sql(
        "shop",
        &format!(
            "SET password_encryption = 'md5'; \
             CREATE ROLE md5_app LOGIN PASSWORD '{MD5_PASSWORD}'; \
             SET password_encryption = 'scram-sha-256'; \
             CREATE ROLE scram_app LOGIN PASSWORD '{SCRAM_PASSWORD}'; \
             CREATE TABLE public.orders (id int); CREATE TABLE public.items (id int); \
             GRANT CONNECT ON DATABASE shop TO md5_app, scram_app; \
             GRANT SELECT ON public.items TO md5_app, scram_app;"
        ),
    );
    Some(cluster)
}

fn shop_request(cluster: &PgCluster, user: &str, password: &str) -> SessionRequest {
    request(
        Engine::Postgres,
        cluster.address(),
        user,
        password,
        Some("shop"),
        &["SELECT:orders", "select:public.items", "CREATE"],
    )
}

#[tokio::test]
async fn md5_and_scram_users_log_in_and_query_and_the_missing_privileges_are_named() {
    let Some(cluster) = shop() else { return };
    for (user, password) in [("md5_app", MD5_PASSWORD), ("scram_app", SCRAM_PASSWORD)] {
        let request = shop_request(&cluster, user, password);
        let reports = checked(
            &request,
            "tls:PASSED login:PASSED query:PASSED privileges:FAILED",
        )
        .await;
        let login = passed(&reports, SessionStage::Login);
        assert!(
            login.starts_with(&format!(
                "logged in as {user} to database shop (PostgreSQL 1"
            )),
            "{login}"
        );
        let privileges = failed(&reports, SessionStage::Privileges, "PRIVILEGE_MISSING");
        // PostgreSQL 15 no longer lets everyone create in `public`.
        assert!(
            privileges.starts_with(
                "missing: SELECT on public.orders, CREATE in schema public; held: SELECT on \
                 public.items"
            ),
            "{user}: {privileges}"
        );
        assert_no_secret(&reports, &request, password);
        // One login, in the server's own words.
        let authorized = format!("connection authorized: user={user} database=shop");
        assert_eq!(
            cluster.count_in_log(&authorized, 1).await,
            1,
            "{}",
            cluster.log()
        );
    }
}

#[tokio::test]
async fn a_wrong_password_fails_the_login_once_and_skips_the_rest() {
    let Some(cluster) = shop() else { return };
    for user in ["md5_app", "scram_app"] {
        let request = shop_request(&cluster, user, WRONG_PASSWORD);
        let reports = checked(
            &request,
            "tls:PASSED login:FAILED query:SKIPPED privileges:SKIPPED",
        )
        .await;
        let login = failed(&reports, SessionStage::Login, "AUTH_FAILED");
        assert_eq!(
            login,
            format!(
                "password authentication failed for user {user}; check the auth info's user \
                 name and password"
            )
        );
        for skipped in [SessionStage::Query, SessionStage::Privileges] {
            let message = assert_stage(
                &reports,
                skipped,
                SessionVerdict::Skipped,
                "EARLIER_STAGE_FAILED",
            );
            assert_eq!(message, "not run: the login stage failed");
        }
        assert_no_secret(&reports, &request, WRONG_PASSWORD);
        let failed = format!("password authentication failed for user \"{user}\"");
        assert_eq!(
            cluster.count_in_log(&failed, 1).await,
            1,
            "{}",
            cluster.log()
        );
        let authorized = format!("connection authorized: user={user}");
        assert_eq!(cluster.log().matches(&authorized).count(), 0);
    }
}

#[tokio::test]
async fn an_unknown_database_is_named() {
    let Some(cluster) = shop() else { return };
    let mut request = shop_request(&cluster, "scram_app", SCRAM_PASSWORD);
    request.database = Some("no_such_db".to_owned());
    let reports = check_session(&request).await;
    let login = failed(&reports, SessionStage::Login, "UNKNOWN_DATABASE");
    assert!(
        login.contains("database no_such_db does not exist"),
        "{login}"
    );
    // No database given: the user's own, as libpq does.
    request.database = None;
    let reports = check_session(&request).await;
    let login = failed(&reports, SessionStage::Login, "UNKNOWN_DATABASE");
    assert!(
        login.contains("database scram_app does not exist"),
        "{login}"
    );
}

#[tokio::test]
async fn an_unknown_table_is_named_and_held_privileges_pass() {
    let Some(cluster) = shop() else { return };
    let mut request = shop_request(&cluster, "scram_app", SCRAM_PASSWORD);
    request.privileges = vec![
        "SELECT:public.nope".parse_privilege(),
        "SELECT:not-valid-unquoted".parse_privilege(),
    ];
    let reports = check_session(&request).await;
    let message = failed(&reports, SessionStage::Privileges, "UNKNOWN_TABLE");
    assert!(
        message.starts_with("unknown table: public.nope, not-valid-unquoted"),
        "{message}"
    );
    request.privileges = vec!["SELECT:items".parse_privilege()];
    let reports = check_session(&request).await;
    let message = passed(&reports, SessionStage::Privileges);
    assert_eq!(message, "held: SELECT on public.items");
    // Without a table: every table of the schema, naming those that lack it.
    request.privileges = vec!["SELECT".parse_privilege()];
    let reports = check_session(&request).await;
    let message = failed(&reports, SessionStage::Privileges, "PRIVILEGE_MISSING");
    assert!(
        message.starts_with("missing: SELECT on public.orders;"),
        "{message}"
    );
    cluster.sql("shop", "GRANT CREATE ON SCHEMA public TO scram_app");
    request.privileges = vec![
        "CREATE".parse_privilege(),
        "CREATE:public.new_table".parse_privilege(),
    ];
    let reports = check_session(&request).await;
    let message = passed(&reports, SessionStage::Privileges);
    assert_eq!(
        message,
        "held: CREATE in schema public, CREATE in schema public"
    );
}

#[tokio::test]
async fn the_tls_stage_reports_chain_name_and_expiry_and_judges_against_the_given_ca() {
    let Some(cluster) = shop() else { return };
    let days = (cluster.pki.not_after - chrono::Utc::now().date_naive()).num_days();
    let mut request = shop_request(&cluster, "scram_app", SCRAM_PASSWORD);

    // No CA given: the machine's roots do not know the test CA, which is said, not failed.
    let reports = check_session(&request).await;
    let tls = passed(&reports, SessionStage::Tls);
    assert!(
        tls.starts_with("TLS 1.3, not trusted by this machine's roots"),
        "{tls}"
    );

    request.ca_pem = Some(cluster.pki.ca_pem.clone().into_bytes());
    let reports = check_session(&request).await;
    let tls = passed(&reports, SessionStage::Tls);
    let expiry = format!("expires in {} days ({})", days - 1, cluster.pki.not_after);
    let expiry_today = format!("expires in {days} days ({})", cluster.pki.not_after);
    assert!(
        tls.starts_with("TLS 1.3, chain trusted by the given CA, host name matches, ")
            && (tls.contains(&expiry) || tls.contains(&expiry_today)),
        "{tls}"
    );
    assert!(tls.contains("issuer CN=dsconn test CA"), "{tls}");
    passed(&reports, SessionStage::Login);

    // Another CA: untrusted, and the login is not tried.
    request.ca_pem = Some(test_pki("another CA").ca_pem.into_bytes());
    let reports = check_session(&request).await;
    let tls = failed(&reports, SessionStage::Tls, "TLS_UNTRUSTED");
    assert!(tls.contains("does not chain to the given CA"), "{tls}");
    assert_eq!(
        shape(&reports),
        [
            "tls:FAILED",
            "login:SKIPPED",
            "query:SKIPPED",
            "privileges:SKIPPED"
        ]
    );

    // The right CA, but a name the certificate does not cover.
    request.ca_pem = Some(cluster.pki.ca_pem.clone().into_bytes());
    request.server_name = "db.example".to_owned();
    let reports = check_session(&request).await;
    let tls = failed(&reports, SessionStage::Tls, "TLS_NAME_MISMATCH");
    assert!(
        tls.contains("is for localhost, 127.0.0.1, not db.example"),
        "{tls}"
    );
    assert_no_secret(&reports, &request, SCRAM_PASSWORD);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_the_first_stage() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    // Accepts and holds connections, never answering.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut request = request(Engine::Postgres, address, "app", "pw-12345", None, &[]);
    request.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let reports = check_session(&request).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        shape(&reports),
        ["tls:FAILED", "login:SKIPPED", "query:SKIPPED"]
    );
    let message = failed(&reports, SessionStage::Tls, "TIMEOUT");
    assert!(message.contains("no answer within 300ms"), "{message}");
    holder.abort();
}

trait ParsePrivilege {
    fn parse_privilege(self) -> crate::domain::PrivilegeRequest;
}

impl ParsePrivilege for &str {
    fn parse_privilege(self) -> crate::domain::PrivilegeRequest {
        crate::domain::PrivilegeRequest::parse(self).expect("privilege")
    }
}
