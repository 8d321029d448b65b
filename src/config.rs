//! Server settings: defaults, `DSCONN_*` environment variables and flags (flags win),
//! validated before anything starts.

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches, ValueEnum};
use ipnet::IpNet;

use crate::probe::simulate::SimulationRule;
use crate::probe::{OutboundPolicy, ProbeMode, Prober, Resolver, Simulator};
use crate::store::StorageArgs;
pub use crate::telemetry::LogFormat;

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Every request must carry an AK/SK signature or an `X-Auth-Token`.
    Required,
    /// Accept every request as anonymous: for throwaway local emulation only.
    None,
}

/// Which parts of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    All,
    Api,
    Worker,
}

/// Everything `dsconn serve` needs. Each field is a flag and an environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "DSCONN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve HTTPS with this PEM certificate chain (leaf first; with --tls-key).
    /// Without both, plain HTTP: then credentials go only to agents on loopback.
    #[arg(
        long,
        env = "DSCONN_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key (PKCS#8, RSA or SEC1) of --tls-cert.
    #[arg(
        long,
        env = "DSCONN_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub probe: ProbeArgs,

    /// How often ACTIVE connections are re-checked (jittered by 10 %).
    #[arg(long, env = "DSCONN_RECHECK_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub recheck_interval: Duration,

    /// Addresses that requests of one project may have dialled per minute (creates,
    /// bindings, reactivations, tests; each address of a name counts): keeps the
    /// service from being used as a port scanner.
    #[arg(long, env = "DSCONN_CHECKS_PER_MINUTE", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub checks_per_minute: u32,

    /// What this process runs: the API and the worker, or one of them.
    #[arg(long, env = "DSCONN_ROLE", value_enum, default_value = "all")]
    pub role: Role,

    /// How long a claim on a check outlives the slowest possible check before another
    /// worker (e.g. on another replica) may take the work over.
    #[arg(long, env = "DSCONN_LEASE_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub lease_grace: Duration,

    /// An agent not heard from for this long is offline: its queues' checks run on
    /// the server again (or wait, with --require-agents).
    #[arg(long, env = "DSCONN_AGENT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub agent_timeout: Duration,

    /// Checks of a queue without an online agent wait for one instead of running on the
    /// server (the binding stays CREATING, saying so).
    #[arg(long, env = "DSCONN_REQUIRE_AGENTS")]
    pub require_agents: bool,

    /// How long DELETED connections stay listed before they are purged.
    #[arg(long, env = "DSCONN_DELETED_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub deleted_retention: Duration,

    /// How long the audit trail keeps an event before the worker purges it.
    #[arg(long, env = "DSCONN_EVENT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub event_retention: Duration,

    /// Most open event streams of one project.
    #[arg(long, env = "DSCONN_EVENT_STREAMS_PER_PROJECT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub event_streams_per_project: u32,

    /// Most open event streams from one client address.
    #[arg(long, env = "DSCONN_EVENT_STREAMS_PER_CLIENT", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub event_streams_per_client: u32,

    /// An event stream without events sends a heartbeat comment this often.
    #[arg(long, env = "DSCONN_EVENT_HEARTBEAT", default_value = "15s", value_parser = parse_duration)]
    pub event_heartbeat: Duration,

    /// How often open event streams look for events other replicas committed (this
    /// server's own commits wake them at once).
    #[arg(long, env = "DSCONN_EVENT_POLL", default_value = "250ms", value_parser = parse_duration)]
    pub event_poll: Duration,

    /// An event stream ends after this long (clients reconnect with Last-Event-ID and
    /// lose nothing), so that no connection is held for ever through proxies.
    #[arg(long, env = "DSCONN_EVENT_STREAM_LIFETIME", default_value = "1h", value_parser = parse_duration)]
    pub event_stream_lifetime: Duration,

    /// Benchmarks only: records no audit events, for the baseline that the cost of
    /// recording them is measured against (bench/run). Never in production.
    #[arg(long, hide = true, env = "DSCONN_BENCH_WITHOUT_EVENTS")]
    pub bench_without_events: bool,

    /// Frames an event stream holds for a slow reader before it drops it.
    #[arg(long, env = "DSCONN_EVENT_STREAM_BUFFER", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(2..=65_536))]
    pub event_stream_buffer: u32,

    /// Most live (non-DELETED) connections one project may have.
    #[arg(long, env = "DSCONN_CONNECTION_QUOTA", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub connection_quota: u32,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DSCONN_MAX_BODY_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub max_body_bytes: u32,

    /// Most open client connections; more wait in the listen backlog.
    #[arg(long, env = "DSCONN_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_connections: u32,

    /// Most open connections from one client address (IPv6: one /64); further
    /// connections from it are closed at once. Keeps one client from taking every slot.
    #[arg(long, env = "DSCONN_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_connections_per_client: u32,

    /// How long a client may take to send a request's headers.
    #[arg(long, env = "DSCONN_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a client may take to send a request's body, which is read before the
    /// request is authenticated (408 beyond).
    #[arg(long, env = "DSCONN_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_read_timeout: Duration,

    /// Largest request head (request line and headers), in bytes (431 beyond).
    #[arg(long, env = "DSCONN_MAX_HEADER_BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(8192..=1024 * 1024))]
    pub max_header_bytes: u32,

    /// Longest a request may take before it is answered with an error.
    #[arg(long, env = "DSCONN_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Requests per second one credential or token may make (0 = unlimited); a burst
    /// of twice that is allowed. Beyond: 429 APIG.0308 with Retry-After.
    #[arg(long, env = "DSCONN_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,

    /// Failed authentication attempts one client address (IPv6: one /64) may make per
    /// second once its burst is spent (0 = unlimited). Beyond: 429 APIG.0308. A correctly
    /// authenticated request is never refused by this limit.
    #[arg(long, env = "DSCONN_AUTH_FAILURES_PER_SECOND", default_value_t = 1)]
    pub auth_failures_per_second: u32,

    /// Failed authentication attempts one client address may make in a burst.
    #[arg(long, env = "DSCONN_AUTH_FAILURE_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failure_burst: u32,

    /// Hosts (`host` or `host:port`, comma-separated) that signed requests must be made
    /// for: a request whose signed `Host` is not one of them is refused (401). When
    /// unset, a signature for any host is accepted.
    #[arg(long = "allowed-hosts", env = "DSCONN_ALLOWED_HOSTS", value_delimiter = ',',
          value_parser = parse_allowed_host)]
    pub allowed_hosts: Vec<AllowedHost>,

    /// How long list and show answers are served from memory (0 = never). This process's
    /// writes invalidate them at once; other replicas' writes show within this time.
    #[arg(long, env = "DSCONN_READ_CACHE_TTL", default_value = "250ms", value_parser = parse_duration)]
    pub read_cache_ttl: Duration,

    /// A queue present in every project without being created (repeat, or
    /// comma-separate in the environment): for emulating an account whose queues exist.
    /// Declared queues can be bound, are listed and shown, and cannot be deleted.
    #[arg(long = "queue", env = "DSCONN_QUEUES", value_delimiter = ',',
          value_parser = parse_declared_queue)]
    pub queues: Vec<crate::domain::QueueName>,

    /// How requests are authenticated.
    #[arg(long, env = "DSCONN_AUTH", value_enum, default_value = "required")]
    pub auth: AuthMode,

    /// Log format: `auto` is `human` on a terminal and `json` otherwise (services).
    #[arg(long, env = "DSCONN_LOG_FORMAT", value_enum, default_value = "auto")]
    pub log_format: LogFormat,
}

/// How checks are made, shared by `serve` and `agent` (an agent checks with the same code
/// and the same flags, in its queue's network).
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Time limit for each DNS lookup and each TCP connect of a reachability check.
    #[arg(long, env = "DSCONN_CHECK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub check_timeout: Duration,

    /// DNS server (IP:PORT) for resolving endpoints; the system resolver when unset.
    #[arg(long, env = "DSCONN_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,

    /// How checks reach destinations: full (TCP + protocol handshake), tcp (connect
    /// only), or simulate (no network traffic; outcomes from --simulate-rule).
    #[arg(long, env = "DSCONN_PROBE_MODE", value_enum, default_value = "full")]
    pub probe_mode: ProbeMode,

    /// Simulation: how long a check takes (progress advances meanwhile).
    #[arg(long, env = "DSCONN_SIMULATE_DURATION", default_value = "2s", value_parser = parse_duration)]
    pub simulate_duration: Duration,

    /// Simulation rule `HOST_GLOB=fail:REASON[:message]` or `HOST_GLOB=delay:DURATION`
    /// (repeat; in the environment, separate with ';'). The first match wins.
    #[arg(
        long = "simulate-rule",
        env = "DSCONN_SIMULATE_RULES",
        value_delimiter = ';'
    )]
    pub simulate_rules: Vec<SimulationRule>,

    /// Address ranges checks may dial even if denied by default (repeat or comma-separate).
    /// When given, every other address is refused.
    #[arg(long = "allow-cidr", env = "DSCONN_ALLOW_CIDRS", value_delimiter = ',',
          value_parser = parse_cidr_setting)]
    pub allow_cidrs: Vec<IpNet>,

    /// Address ranges checks must never dial, on top of link-local, multicast and
    /// unspecified addresses and, when listening beyond loopback, this host's own
    /// addresses and loopback (repeat or comma-separate).
    #[arg(long = "deny-cidr", env = "DSCONN_DENY_CIDRS", value_delimiter = ',',
          value_parser = parse_cidr_setting)]
    pub deny_cidrs: Vec<IpNet>,

    /// Outbound sockets open at once, over every check of this process (worker checks,
    /// bindings, re-checks and both test endpoints): each dial holds one from its
    /// connect to the end of its protocol check, each name lookup two. Also the most
    /// checks the worker runs at once.
    #[arg(long, env = "DSCONN_MAX_CONCURRENT_CHECKS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrent_checks: u32,
}

impl ProbeArgs {
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

    /// The prober these flags describe, under `policy`.
    pub fn prober(&self, policy: OutboundPolicy) -> Result<Prober, String> {
        let resolver = match self.dns_server {
            None => Resolver::System,
            Some(server) => Resolver::dns_server(server, self.check_timeout)?,
        };
        Ok(Prober::new(
            self.probe_mode,
            resolver,
            self.check_timeout,
            policy,
            Simulator {
                duration: self.simulate_duration,
                rules: self.simulate_rules.clone(),
            },
            self.max_open_sockets(),
        ))
    }

    /// Outbound sockets open at once (and checks a worker runs at once).
    pub fn max_open_sockets(&self) -> usize {
        usize::try_from(self.max_concurrent_checks).unwrap_or(64)
    }
}

/// The longest check timeout allowed: a check holds a worker slot that long.
const MAX_CHECK_TIMEOUT: Duration = Duration::from_secs(300);

fn parse_declared_queue(raw: &str) -> Result<crate::domain::QueueName, String> {
    let queue = crate::domain::QueueName::parse_new(raw.trim()).map_err(|error| error.0)?;
    if queue.is_default() {
        return Err("the queue \"default\" is DLI's shared queue and cannot be declared".into());
    }
    Ok(queue)
}

/// An `--allow-cidr`/`--deny-cidr` range, read by the one address parser (the same rule
/// as routes, hosts and urls); a bare address is its /32 (/128).
fn parse_cidr_setting(raw: &str) -> Result<IpNet, String> {
    crate::domain::parse_network(raw)
        .map_err(|why| format!("{raw:?} is not a network such as 10.0.0.0/8 or an address: {why}"))
}

fn parse_allowed_host(raw: &str) -> Result<AllowedHost, String> {
    AllowedHost::parse(raw)
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|error| format!("{error} (examples: 500ms, 5s, 7d)"))
}

impl ServeConfig {
    /// Checks what clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.request_timeout.is_zero()
            || self.header_read_timeout.is_zero()
            || self.body_read_timeout.is_zero()
        {
            return Err(
                "--request-timeout, --header-read-timeout and --body-read-timeout must be more than 0"
                    .into(),
            );
        }
        if self.recheck_interval.is_zero() {
            return Err("--recheck-interval must be more than 0".into());
        }
        if self.agent_timeout.is_zero() {
            return Err("--agent-timeout must be more than 0".into());
        }
        self.probe.validate()
    }

    /// Defaults with a given data dir and an OS-chosen port: for tests and embedding.
    /// The defaults are the flags' own (parsed by clap with environment variables
    /// ignored), so they cannot drift from `dsconn serve --help`.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let argv: [OsString; 5] = [
            "dsconn-serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.into().into_os_string(),
        ];
        let matches = defaults_command()
            .try_get_matches_from(argv)
            .expect("the serve flags' defaults parse");
        Self::from_arg_matches(&matches).expect("clap's matches fit ServeConfig")
    }
}

/// The `serve` flags without their environment variables: what [`ServeConfig::for_data_dir`]
/// parses, so a test's or embedder's environment cannot change it.
fn defaults_command() -> clap::Command {
    ServeConfig::augment_args(clap::Command::new("dsconn-serve")).mut_args(|arg| arg.env(None))
}

/// One entry of `--allowed-hosts`: a host name or address, with or without a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    /// None: any port.
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        split_host_port(raw.trim())
            .filter(|(host, _)| !host.is_empty() && !host.contains(char::is_whitespace))
            .map(|(host, port)| Self { host, port })
            .ok_or_else(|| format!("{raw:?} is not a host or host:port"))
    }

    pub(crate) fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && (self.port.is_none() || self.port == port)
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => write!(f, "{host}"),
        }
    }
}

/// A `Host` value as (lower-case host without a trailing dot, port).
pub(crate) fn split_host_port(raw: &str) -> Option<(String, Option<u16>)> {
    let normal = |host: &str| host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        return Some((normal(host), port));
    }
    match raw.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((normal(host), Some(port.parse().ok()?))),
        // No colon, or a bare IPv6 address.
        _ => Some((normal(raw), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_data_dir_is_the_flag_defaults_with_its_data_dir_and_any_port() {
        // Every other value is the flag's default; `dsconn serve --help` shows them.
        let config = ServeConfig::for_data_dir("/tmp/some-data-dir");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(config.storage.data_dir, PathBuf::from("/tmp/some-data-dir"));
        assert_eq!(config.storage.database_url, None);
        assert_eq!(config.auth, AuthMode::Required);
        assert_eq!(config.validate(), Ok(()));
    }

    /// The check policy's ranges are read as routes are (issue 24): loosely written ones
    /// are refused at start-up instead of meaning something else.
    #[test]
    fn policy_ranges_are_read_by_the_one_address_parser() {
        let parse = |value: &str| {
            defaults_command()
                .try_get_matches_from(["dsconn-serve", "--deny-cidr", value])
                .map(|matches| {
                    ServeConfig::from_arg_matches(&matches)
                        .expect("fits")
                        .probe
                        .deny_cidrs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                })
                .map_err(|error| error.to_string())
        };
        assert_eq!(
            parse("127.0.0.0/8,10.0.0.1"),
            Ok(vec!["127.0.0.0/8".to_owned(), "10.0.0.1/32".to_owned()])
        );
        for bad in ["127.000.0.0/8", "127.0.0.0/08", " 127.0.0.0/8"] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains("not a network"), "{bad}: {error}");
        }
    }

    #[test]
    fn for_data_dir_ignores_the_environment() {
        // The environment of a test run or an embedding process must not leak in.
        let command = defaults_command();
        let with_env: Vec<_> = command
            .get_arguments()
            .filter(|arg| arg.get_env().is_some())
            .map(|arg| arg.get_id().to_string())
            .collect();
        assert!(
            with_env.is_empty(),
            "still read from the environment: {with_env:?}"
        );
        assert!(command.get_arguments().count() > 20);
    }

    #[test]
    fn allowed_hosts_match_by_name_and_optionally_port() {
        let parse = |raw: &str| AllowedHost::parse(raw).expect("parses");
        let host = |raw: &str| split_host_port(raw).expect("splits");
        let any_port = parse("DLI.Example.com");
        let (name, port) = host("dli.example.com:8443");
        assert!(any_port.matches(&name, port));
        let (name, port) = host("dli.example.com.");
        assert!(any_port.matches(&name, port));
        let (name, port) = host("evil.example.com");
        assert!(!any_port.matches(&name, port));

        let one_port = parse("127.0.0.1:8080");
        let (name, port) = host("127.0.0.1:8080");
        assert!(one_port.matches(&name, port));
        let (name, port) = host("127.0.0.1:9090");
        assert!(!one_port.matches(&name, port));
        let (name, port) = host("127.0.0.1");
        assert!(!one_port.matches(&name, port));

        let v6 = parse("[::1]:8080");
        let (name, port) = host("[::1]:8080");
        assert!(v6.matches(&name, port));
        assert_eq!(v6.to_string(), "[::1]:8080");
        assert_eq!(parse("::1").to_string(), "[::1]");

        assert!(AllowedHost::parse("").is_err());
        assert!(AllowedHost::parse("host:notaport").is_err());
        assert!(AllowedHost::parse("[::1").is_err());
    }
}
