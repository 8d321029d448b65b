//! The real servers some tests need (PostgreSQL, MariaDB, ZooKeeper) and what happens
//! when one is missing: the test says so and what starts it, then returns early (a
//! skip), so that a plain `cargo test` works on a machine without them. With
//! `DSCONN_REQUIRE_SERVICES=1` (scripts/test sets it) a missing service fails the test.
//!
//! PostgreSQL comes from `DSCONN_TEST_POSTGRES_URL` (an admin URL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use std::net::SocketAddr;
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

/// Set to 1 to make every missing service a test failure instead of a skip.
pub const REQUIRE_SERVICES: &str = "DSCONN_REQUIRE_SERVICES";
/// MariaDB on this machine, as `scripts/ensure-services` starts it.
pub const MARIADB: &str = "127.0.0.1:3306";
/// PostgreSQL on this machine, as `scripts/ensure-services` starts it.
pub const POSTGRES: &str = "127.0.0.1:5432";

pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES).is_ok_and(|value| value == "1")
}

/// Reports that `service` is missing: fails the test when services are required, else
/// prints a skip line with the command that starts it.
pub fn missing(service: &str, why: &str) {
    assert!(
        !services_required(),
        "{service} is needed and not available ({why}). Run scripts/ensure-services to \
         start it ({REQUIRE_SERVICES}=1 is set, so this is a failure, not a skip)."
    );
    eprintln!(
        "SKIPPED: {service} is not available ({why}). Run scripts/ensure-services to start \
         it; {REQUIRE_SERVICES}=1 makes this a failure."
    );
}

/// Whether something listens at `address` (one TCP connect on loopback); reports a
/// miss with [`missing`].
pub async fn listening(service: &str, address: &str) -> bool {
    let address: SocketAddr = address.parse().expect("a socket address");
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            missing(service, &format!("nothing listens on {address}: {error}"));
            false
        }
        Err(_) => {
            missing(service, &format!("{address} did not answer within 5s"));
            false
        }
    }
}

/// MariaDB's address, or None (after [`missing`]) when it is not up.
pub async fn mariadb() -> Option<&'static str> {
    listening("MariaDB", MARIADB).await.then_some(MARIADB)
}

/// PostgreSQL's address, or None (after [`missing`]) when it is not up.
pub async fn postgres() -> Option<&'static str> {
    listening("PostgreSQL", POSTGRES).await.then_some(POSTGRES)
}

// ---------------------------------------------------------------------------------------
// A fresh PostgreSQL database per test
// ---------------------------------------------------------------------------------------

/// The admin URL when `DSCONN_TEST_POSTGRES_URL` is unset (trust authentication).
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Tried when the default user does not exist on this machine.
const FALLBACK_ADMIN_URL: &str = "postgres://root@127.0.0.1:5432/postgres";
const ADMIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database of its own on the test PostgreSQL server, dropped by [`drop_now`]
/// (or, best effort, when dropped). Other databases on the server are never touched.
///
/// [`drop_now`]: TestDatabase::drop_now
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    /// A URL for the database, for `PgStore::connect` or `dsconn --database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, ending any sessions still connected to it.
    pub async fn drop_now(mut self) {
        self.dropped = true;
        if let Err(error) = drop_database(&self.admin_url, &self.name).await {
            panic!("dropping test database {}: {error}", self.name);
        }
    }
}

impl Drop for TestDatabase {
    /// Best effort for a test that panicked before `drop_now`: on a thread of its own,
    /// since this may run inside (or outside) a runtime.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let _ = runtime.block_on(drop_database(&admin_url, &name));
        });
        let _ = dropper.join();
    }
}

/// Connects as the admin user; None (after saying so) when PostgreSQL is not there and
/// services are not required.
pub async fn admin_connection() -> Option<(PgConnection, String)> {
    let candidates = match std::env::var("DSCONN_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => vec![url.trim().to_owned()],
        _ => vec![DEFAULT_ADMIN_URL.to_owned(), FALLBACK_ADMIN_URL.to_owned()],
    };
    let mut failures = Vec::new();
    for url in candidates {
        match tokio::time::timeout(ADMIN_CONNECT_TIMEOUT, PgConnection::connect(&url)).await {
            Ok(Ok(connection)) => return Some((connection, url)),
            Ok(Err(error)) => {
                failures.push(format!("{}: {error}", dsconn::store::redact_url(&url)))
            }
            Err(_) => failures.push(format!(
                "{}: no answer within {ADMIN_CONNECT_TIMEOUT:?}",
                dsconn::store::redact_url(&url)
            )),
        }
    }
    missing(
        "PostgreSQL",
        &format!(
            "{}; or point DSCONN_TEST_POSTGRES_URL at an admin URL",
            failures.join("; ")
        ),
    );
    None
}

/// Creates `dsconn_test_<random>` on the test server; None when PostgreSQL is missing
/// and services are not required (the test then returns early: a skip).
pub async fn fresh_postgres_database() -> Option<TestDatabase> {
    let (mut admin, admin_url) = admin_connection().await?;
    let name = format!("dsconn_test_{}", uuid::Uuid::new_v4().simple());
    let mut attempt = 0;
    // CREATE DATABASE can fail while another session is briefly connected to template1.
    loop {
        attempt += 1;
        match admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
        {
            Ok(_) => break,
            Err(error) if attempt < 5 => {
                eprintln!("CREATE DATABASE {name} failed ({error}), retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("CREATE DATABASE {name}: {error}"),
        }
    }
    let _ = admin.close().await;
    let mut url = reqwest::Url::parse(&admin_url).expect("the admin URL is a URL");
    url.set_path(&name);
    Some(TestDatabase {
        admin_url,
        name,
        url: url.into(),
        dropped: false,
    })
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(admin_url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    admin.close().await
}
