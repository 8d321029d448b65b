//! Logging set-up: one place, used by `main`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. The level filter comes from `DSCONN_LOG`, then
/// `RUST_LOG`, else `info`.
pub fn init(format: LogFormat) {
    let filter = std::env::var("DSCONN_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|raw| EnvFilter::try_new(raw).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second call (e.g. from tests) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Prometheus metrics: one recorder per process, installed on first use.
pub mod metrics {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;

    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    use crate::probe::CheckReport;

    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

    /// Latency buckets in seconds: from a cached list (sub-millisecond) to a slow check.
    const LATENCY_BUCKETS: [f64; 14] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
    ];

    /// The handle that renders the metrics; None if another recorder was installed first.
    pub fn handle() -> Option<&'static PrometheusHandle> {
        HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                    .ok()?
                    .build_recorder();
                let handle = recorder.handle();
                ::metrics::set_global_recorder(recorder).ok()?;
                register_descriptions();
                spawn_upkeep(handle.clone());
                Some(handle)
            })
            .as_ref()
    }

    /// How often recorded histogram samples are folded into their buckets.
    const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

    /// Folds histogram samples into buckets every few seconds. The recorder keeps every
    /// sample until a render or an upkeep drains it, so a server nobody scrapes grew by
    /// every request it answered (the soak's RSS growth). A plain thread, so it runs
    /// whatever runtime (or none) the process has.
    fn spawn_upkeep(handle: PrometheusHandle) {
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    handle.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread; histogram samples are drained only when /metrics is scraped");
        }
    }

    /// Gives every metric its help text.
    fn register_descriptions() {
        ::metrics::describe_counter!(
            "dsconn_http_requests_total",
            "HTTP requests by route, method and status"
        );
        ::metrics::describe_histogram!(
            "dsconn_http_request_duration_seconds",
            "HTTP request latency"
        );
        ::metrics::describe_counter!(
            "dsconn_checks_total",
            "Reachability checks by kind, outcome and reason"
        );
        ::metrics::describe_histogram!(
            "dsconn_check_duration_seconds",
            "Reachability check latency"
        );
        ::metrics::describe_counter!(
            "dsconn_checks_by_place_total",
            "Checks by where they ran: server (its own host) or agent (a queue's network)"
        );
        ::metrics::describe_histogram!(
            "dsconn_agent_claim_to_result_seconds",
            "From an agent's claim of a check to the server recording its result"
        );
        ::metrics::describe_gauge!(
            "dsconn_online_agents",
            "Agents heard from within --agent-timeout, by project and queue"
        );
        ::metrics::describe_counter!(
            "dsconn_check_panics_total",
            "Checks that panicked; each is logged with its connection id"
        );
        ::metrics::describe_gauge!("dsconn_connections", "Connections by state and service");
        ::metrics::describe_gauge!(
            "dsconn_pending_checks",
            "Checks waiting to be claimed (new connections and bindings)"
        );
        ::metrics::describe_gauge!(
            "dsconn_leased_checks",
            "Checks claimed by a worker right now"
        );
        ::metrics::describe_counter!(
            "dsconn_connections_refused_total",
            "Client connections closed at once, by reason"
        );
        ::metrics::describe_counter!(
            "dsconn_auth_failures_total",
            "Requests refused by authentication, by reason (rate_limited: refused with 429)"
        );
    }

    /// A client connection closed at once; `reason` is a fixed label, e.g. per_client_limit.
    pub fn record_refused_connection(reason: &'static str) {
        ::metrics::counter!("dsconn_connections_refused_total", "reason" => reason).increment(1);
    }

    /// A request refused by authentication; `reason` is a fixed label that never tells
    /// an unknown access key from a wrong signature (`/metrics` needs no credentials).
    pub fn record_auth_failure(reason: &'static str) {
        ::metrics::counter!("dsconn_auth_failures_total", "reason" => reason).increment(1);
    }

    pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        ::metrics::counter!("dsconn_http_requests_total", &labels).increment(1);
        ::metrics::histogram!(
            "dsconn_http_request_duration_seconds",
            "method" => method.to_owned(),
            "route" => route.to_owned()
        )
        .record(elapsed.as_secs_f64());
    }

    /// The (state, service) pairs of `dsconn_connections` set by the last scrape.
    static REPORTED_PAIRS: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

    fn connections_gauge(state: &str, service: &str) -> ::metrics::Gauge {
        ::metrics::gauge!(
            "dsconn_connections",
            "state" => state.to_owned(),
            "service" => service.to_owned()
        )
    }

    /// Sets the gauges describing the stored state. The store counts only the pairs it
    /// has, so a pair that dropped to zero since the last scrape is set to 0 here, or it
    /// would keep its last count forever.
    pub fn record_store_stats(stats: &crate::store::StoreStats) {
        let present: BTreeSet<(String, String)> = stats
            .connections
            .iter()
            .map(|(state, service, _)| (state.clone(), service.clone()))
            .collect();
        // Held while setting, so concurrent scrapes cannot zero each other's counts.
        let mut reported = REPORTED_PAIRS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (state, service) in reported.difference(&present) {
            connections_gauge(state, service).set(0.0);
        }
        for (state, service, count) in &stats.connections {
            connections_gauge(state, service).set(*count as f64);
        }
        *reported = present;
        ::metrics::gauge!("dsconn_pending_checks").set(stats.pending_checks as f64);
        ::metrics::gauge!("dsconn_leased_checks").set(stats.leased_checks as f64);
    }

    /// Counts a check by where it ran: `server` or `agent`.
    pub fn record_check_place(place: &'static str) {
        ::metrics::counter!("dsconn_checks_by_place_total", "place" => place).increment(1);
    }

    /// From an agent's claim to its result being recorded.
    pub fn record_agent_claim_to_result(elapsed: Duration) {
        ::metrics::histogram!("dsconn_agent_claim_to_result_seconds").record(elapsed.as_secs_f64());
    }

    /// The online agents of each (project, queue), set at each scrape; a queue whose
    /// agents all went offline since the last scrape is set to 0.
    pub fn record_online_agents(counts: &[(String, String, u64)]) {
        static REPORTED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
        let present: BTreeSet<(String, String)> = counts
            .iter()
            .map(|(project, queue, _)| (project.clone(), queue.clone()))
            .collect();
        let mut reported = REPORTED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let gauge = |project: &str, queue: &str| {
            ::metrics::gauge!(
                "dsconn_online_agents",
                "project" => project.to_owned(),
                "queue" => queue.to_owned()
            )
        };
        for (project, queue) in reported.difference(&present) {
            gauge(project, queue).set(0.0);
        }
        for (project, queue, count) in counts {
            gauge(project, queue).set(*count as f64);
        }
        *reported = present;
    }

    /// Counts a check that panicked (and was contained by the worker).
    pub fn record_check_panic(kind: &'static str) {
        ::metrics::counter!("dsconn_check_panics_total", "kind" => kind).increment(1);
    }

    /// Records one check: `kind` is create, bind, recheck or test.
    pub fn record_check(kind: &'static str, report: &CheckReport, elapsed: Duration) {
        let (outcome, reason) = if report.any_reachable() {
            ("reachable", "none")
        } else {
            (
                "unreachable",
                report
                    .failure_reason()
                    .map_or("UNKNOWN", |reason| reason.as_str()),
            )
        };
        ::metrics::counter!(
            "dsconn_checks_total",
            "kind" => kind,
            "outcome" => outcome,
            "reason" => reason
        )
        .increment(1);
        ::metrics::histogram!("dsconn_check_duration_seconds", "kind" => kind)
            .record(elapsed.as_secs_f64());
    }
}
