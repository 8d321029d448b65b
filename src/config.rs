//! Server settings: defaults, `DSCONN_*` environment variables and flags (flags win),
//! validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Every request must carry an AK/SK signature or an `X-Auth-Token`.
    Required,
    /// Accept every request as anonymous: for throwaway local emulation only.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Everything `dsconn serve` needs. Each field is a flag and an environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "DSCONN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database (created if missing).
    #[arg(long, env = "DSCONN_DATA_DIR", default_value = "dsconn-data")]
    pub data_dir: PathBuf,

    /// Time limit for each DNS lookup and each TCP connect of a reachability check.
    #[arg(long, env = "DSCONN_CHECK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub check_timeout: Duration,

    /// DNS server (IP:PORT) for resolving endpoints; the system resolver when unset.
    #[arg(long, env = "DSCONN_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,

    /// How long DELETED connections stay listed before they are purged.
    #[arg(long, env = "DSCONN_DELETED_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub deleted_retention: Duration,

    /// Most live (non-DELETED) connections one project may have.
    #[arg(long, env = "DSCONN_CONNECTION_QUOTA", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub connection_quota: u32,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DSCONN_MAX_BODY_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub max_body_bytes: u32,

    /// How requests are authenticated.
    #[arg(long, env = "DSCONN_AUTH", value_enum, default_value = "required")]
    pub auth: AuthMode,

    /// Log line format.
    #[arg(long, env = "DSCONN_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
}

/// The longest check timeout allowed: a check holds a worker slot that long.
const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(300);

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|error| format!("{error} (examples: 500ms, 5s, 7d)"))
}

impl ServeConfig {
    /// Checks what clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.check_timeout.is_zero() || self.check_timeout > MAX_CHECK_TIMEOUT {
            return Err(format!(
                "--check-timeout must be more than 0 and at most {}",
                humantime::format_duration(MAX_CHECK_TIMEOUT)
            ));
        }
        Ok(())
    }

    /// Defaults with a given data dir and an OS-chosen port: for tests and embedding.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            check_timeout: Duration::from_secs(5),
            dns_server: None,
            deleted_retention: Duration::from_secs(7 * 24 * 3600),
            connection_quota: 1000,
            max_body_bytes: 64 * 1024,
            auth: AuthMode::Required,
            log_format: LogFormat::Pretty,
        }
    }
}
