//! Opening the store: the storage flags (shared by `serve`, `migrate` and the admin
//! commands) and the backend they select. Here rather than in `config` because opening
//! needs the concrete stores, and `config` may import `store`, never the other way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{DynStore, PgStore, Result, SqliteStore, StoreError, sqlite::Durability};

/// Where the state lives. Shared by `serve`, `migrate` and the admin commands.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Directory for the SQLite database and the secret-key file. `serve` creates it if
    /// missing; the admin commands (credential, token, migrate) need it to exist.
    #[arg(long, env = "DSCONN_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// `postgres://...` to keep the state in PostgreSQL (several replicas can share it);
    /// unset or `sqlite://DIR` for the embedded SQLite in a data dir.
    #[arg(long, env = "DSCONN_DATABASE_URL")]
    pub database_url: Option<String>,

    /// PostgreSQL: most pooled connections per process.
    #[arg(long, env = "DSCONN_DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// PostgreSQL: how long a request waits for a pooled connection before failing
    /// (keeps requests failing fast while the database is down).
    #[arg(long, env = "DSCONN_DATABASE_ACQUIRE_TIMEOUT", default_value = "3s",
          value_parser = humantime::parse_duration)]
    pub database_acquire_timeout: Duration,

    /// SQLite: what an acknowledged write survives. `power-loss` fsyncs every commit;
    /// `process-crash` survives a killed process but not a power cut, and is faster.
    #[arg(
        long,
        env = "DSCONN_SQLITE_DURABILITY",
        value_enum,
        default_value = "power-loss"
    )]
    pub sqlite_durability: Durability,

    /// The key file encrypting secret keys at rest [default: <data-dir>/secret.key].
    /// Every replica sharing a database needs the same file.
    #[arg(long, env = "DSCONN_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
}

/// Which database a configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Who opens the store: the server owns a SQLite data dir; admin commands share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFor {
    Server,
    Admin,
}

impl StorageArgs {
    pub fn backend(&self) -> std::result::Result<Backend, String> {
        match self.database_url.as_deref().map(str::trim) {
            None | Some("") => Ok(Backend::Sqlite(self.data_dir.clone())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Backend::Postgres(url.to_owned()))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(dir) if !dir.is_empty() => Ok(Backend::Sqlite(PathBuf::from(dir))),
                _ => Err(format!(
                    "--database-url must be postgres://... or sqlite://DIR, got {:?}",
                    redact_url(url)
                )),
            },
        }
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::credentials::SECRET_KEY_FILE))
    }

    /// Opens (and migrates) the configured store.
    pub async fn open(&self, purpose: OpenFor) -> Result<DynStore> {
        match self.backend().map_err(StoreError::Config)? {
            Backend::Sqlite(dir) => Ok(match purpose {
                OpenFor::Server => {
                    Arc::new(SqliteStore::open_with(&dir, self.sqlite_durability).await?)
                }
                OpenFor::Admin => {
                    require_data_dir(&dir)?;
                    Arc::new(SqliteStore::open_for_admin(&dir).await?)
                }
            }),
            Backend::Postgres(url) => {
                let store = PgStore::connect(
                    &url,
                    self.database_max_connections,
                    self.database_acquire_timeout,
                )
                .await?;
                // Safe when several replicas start at once: sqlx serialises migrations
                // with an advisory lock.
                store.migrate().await?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// The default `--data-dir`, relative to the current directory.
pub const DEFAULT_DATA_DIR: &str = "dsconn-data";

/// Admin commands work on an existing data dir only (issue 24): one run from another
/// directory would otherwise create a new, empty `./dsconn-data` and, say, print a token
/// the running server has never heard of. An existing directory, even an empty one that
/// a set-up script made before the first `serve`, is used as it is.
fn require_data_dir(dir: &std::path::Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let default = if dir == std::path::Path::new(DEFAULT_DATA_DIR) {
        " (the default: dsconn-data in the current directory)"
    } else {
        ""
    };
    Err(StoreError::Config(format!(
        "the data dir {}{default} does not exist, and admin commands never create one. \
         Point at the server's data dir with --data-dir DIR or DSCONN_DATA_DIR=DIR (or its \
         database with --database-url); to prepare a new one before the first serve, \
         create the directory first",
        shown.display()
    )))
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
