//! Logging set-up: one place, used by `main`.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How the log is written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `human` when standard error is a terminal, else `json`.
    Auto,
    /// One short line per event a person needs (start, stop, warnings, agents joining
    /// and leaving); no access log.
    Human,
    /// Every event with its spans, as text (the access log included).
    Pretty,
    /// One JSON object per line, the access log included.
    Json,
}

/// What the `human` format shows unless `DSCONN_LOG` or `RUST_LOG` says otherwise:
/// warnings and errors from anywhere, and the start, stop and agent events (agents
/// registering and leaving, an agent's own start and stop); not the access log.
pub const HUMAN_FILTER: &str =
    "warn,dsconn::cli::serve=info,dsconn::api::agents=info,dsconn::cli::agent=info";

/// The format `auto` stands for: `human` when standard error is a terminal (a person
/// reads it), else `json` (a service manager or a log shipper reads it).
pub fn resolve(format: LogFormat, stderr_is_terminal: bool) -> LogFormat {
    match format {
        LogFormat::Auto if stderr_is_terminal => LogFormat::Human,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    }
}

/// Installs the global subscriber. The level filter comes from `DSCONN_LOG`, then
/// `RUST_LOG`, else `info` (`human`: [`HUMAN_FILTER`]).
/// Keeps the log's writer thread; dropping it writes out what is still queued.
#[must_use = "the log's last lines are written when this is dropped"]
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

pub fn init(format: LogFormat) -> LogGuard {
    let terminal = std::io::stderr().is_terminal();
    let format = resolve(format, terminal);
    let default_filter = if format == LogFormat::Human {
        HUMAN_FILTER
    } else {
        "info"
    };
    let filter = std::env::var("DSCONN_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|raw| EnvFilter::try_new(raw).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    // Lines are formatted where they happen and written by a thread of their own, in
    // batches (one write for what queued meanwhile): a request never waits for a write
    // to standard error. Over 128,000 queued lines, new ones are dropped (counted by
    // nothing: a log that slow is already lost), never the request. Write errors (a
    // closed pipe) are dropped there too.
    let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        64 * 1024,
        std::io::stderr(),
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(writer)
        // A line that cannot be written is dropped. tracing-subscriber would otherwise
        // report the failure with `eprintln!`, which panics when standard error is the
        // very thing that is closed: an agent or server whose log pipe closes would
        // exit 101 instead of working on without its log (issue 24).
        .log_internal_errors(false);
    // A second call (e.g. from tests) is harmless: the first subscriber stays.
    let installed = match format {
        LogFormat::Human => builder.event_format(human::Human).try_init(),
        LogFormat::Pretty | LogFormat::Auto => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .fmt_fields(json_lines::SpanFields)
            .event_format(json_lines::JsonLines::default())
            .try_init(),
    };
    LogGuard {
        _writer: installed.is_ok().then_some(guard),
    }
}

/// The `human` line: local time, level, message and the event's own fields, without
/// targets or request spans: `14:02:11  INFO dsconn is serving listen=127.0.0.1:8080`.
pub(crate) mod human {
    use std::fmt::{self, Write as _};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
    use tracing_subscriber::registry::LookupSpan;

    pub struct Human;

    /// The message, then ` key=value` for every other field.
    #[derive(Default)]
    struct Line {
        message: String,
        fields: String,
    }

    impl Visit for Line {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.message.push_str(value);
            } else {
                let _ = write!(self.fields, " {}={value}", field.name());
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.message, "{value:?}");
            } else if !field.name().starts_with("log.") {
                let _ = write!(self.fields, " {}={value:?}", field.name());
            }
        }
    }

    impl<S, N> FormatEvent<S, N> for Human
    where
        S: Subscriber + for<'lookup> LookupSpan<'lookup>,
        N: for<'writer> FormatFields<'writer> + 'static,
    {
        fn format_event(
            &self,
            _context: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let mut line = Line::default();
            event.record(&mut line);
            let level = *event.metadata().level();
            let (colour, reset) = if writer.has_ansi_escapes() {
                let colour = match level {
                    Level::ERROR => "\x1b[31m",
                    Level::WARN => "\x1b[33m",
                    _ => "\x1b[32m",
                };
                (colour, "\x1b[0m")
            } else {
                ("", "")
            };
            writeln!(
                writer,
                "{} {colour}{level:>5}{reset} {}{}",
                chrono::Local::now().format("%H:%M:%S"),
                line.message,
                line.fields
            )
        }
    }
}

/// The JSON log line, written without re-parsing span fields (issue 19: the request log
/// line was a sixth of an uncached show).
///
/// The line is byte for byte that of tracing-subscriber's `json().flatten_event(true)`
/// format (timestamp, level, the event's fields, target, the current span and the list
/// of spans), whose formatter parses every span's stored fields back from JSON into a
/// `serde_json::Value` and serialises them again, twice per line (`span` and `spans`).
/// Here the stored JSON object is copied in as it is. Lines the copy cannot stand for
/// (events bridged from the `log` crate, a span whose fields are not a JSON object) are
/// left to the stock formatter. The tests hold the two to each other.
pub(crate) mod json_lines {
    use std::fmt;

    use tracing::field::{Field, Visit};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::fmt::format::{Format, Json, Writer};
    use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
    use tracing_subscriber::registry::{LookupSpan, SpanRef};

    /// The event formatter; `T` is the clock (fixed in the tests).
    pub struct JsonLines<T = SystemTime> {
        timer: T,
        stock: Format<Json, T>,
    }

    impl Default for JsonLines<SystemTime> {
        fn default() -> Self {
            Self::with_timer(SystemTime)
        }
    }

    impl<T: FormatTime + Clone> JsonLines<T> {
        pub fn with_timer(timer: T) -> Self {
            let stock = tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_timer(timer.clone());
            Self { timer, stock }
        }
    }

    /// A span's fields as the JSON object the lines embed (keys sorted, as the stock
    /// `JsonFields` writes them), written with the events' visitor instead of through a
    /// `serde_json` map per span: that map was a fifth of a request's fixed cost.
    pub struct SpanFields;

    impl<'writer> FormatFields<'writer> for SpanFields {
        fn format_fields<R: tracing_subscriber::field::RecordFields>(
            &self,
            mut writer: Writer<'writer>,
            fields: R,
        ) -> fmt::Result {
            let mut entries = Entries::default();
            fields.record(&mut entries);
            entries.values.sort_by_key(|(name, _)| *name);
            writer.write_char('{')?;
            for (index, (name, value)) in entries.values.iter().enumerate() {
                if index > 0 {
                    writer.write_char(',')?;
                }
                string(&mut writer, name)?;
                writer.write_char(':')?;
                writer.write_str(value)?;
            }
            writer.write_char('}')
        }

        /// Fields recorded after the span began (rare): merged as the stock formatter
        /// merges them.
        fn add_fields(
            &self,
            current: &'writer mut FormattedFields<Self>,
            fields: &tracing::span::Record<'_>,
        ) -> fmt::Result {
            let mut entries = Entries::default();
            fields.record(&mut entries);
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&current.fields).unwrap_or_default();
            for (name, value) in entries.values {
                let value = serde_json::from_str(&value).map_err(|_| fmt::Error)?;
                object.insert(name.to_owned(), value);
            }
            current.fields = serde_json::to_string(&object).map_err(|_| fmt::Error)?;
            Ok(())
        }
    }

    /// A span's fields as (name, JSON value) pairs.
    #[derive(Default)]
    struct Entries {
        values: Vec<(&'static str, String)>,
    }

    impl Entries {
        fn push(&mut self, field: &Field, value: impl serde::Serialize) {
            if let Ok(json) = serde_json::to_string(&value) {
                self.values.push((field.name(), json));
            }
        }
    }

    impl Visit for Entries {
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.push(field, value);
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.push(field, value);
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.push(field, value);
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.push(field, value);
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.push(field, value);
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.push(field, format!("{value:?}"));
        }
    }

    /// A JSON string as serde_json writes it.
    fn string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
        let needs_escape = text.bytes().fold(false, |found, byte| {
            found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
        });
        if needs_escape {
            let quoted = serde_json::to_string(text).map_err(|_| fmt::Error)?;
            writer.write_str(&quoted)
        } else {
            writer.write_char('"')?;
            writer.write_str(text)?;
            writer.write_char('"')
        }
    }

    /// A span's stored fields without their braces, if they are a JSON object.
    fn object_body<S, N>(span: &SpanRef<'_, S>) -> Option<String>
    where
        S: for<'lookup> LookupSpan<'lookup>,
        N: for<'writer> FormatFields<'writer> + 'static,
    {
        let extensions = span.extensions();
        let fields = extensions.get::<FormattedFields<N>>()?;
        let body = fields.fields.strip_prefix('{')?.strip_suffix('}')?;
        Some(body.to_owned())
    }

    /// `{<fields>,"name":"<span name>"}`, as the stock formatter writes a span.
    fn span_object(writer: &mut Writer<'_>, body: &str, name: &str) -> fmt::Result {
        writer.write_char('{')?;
        if !body.is_empty() {
            writer.write_str(body)?;
            writer.write_char(',')?;
        }
        writer.write_str("\"name\":")?;
        string(writer, name)?;
        writer.write_char('}')
    }

    /// The event's fields as `,"name":value` entries (what tracing-serde's map visitor
    /// writes for a flattened event).
    struct Fields<'a, 'w> {
        writer: &'a mut Writer<'w>,
        result: fmt::Result,
    }

    impl Fields<'_, '_> {
        /// Writes `,"name":` then the value with `write_value`, unless a write failed.
        fn write_entry(
            &mut self,
            field: &Field,
            write_value: impl FnOnce(&mut Writer<'_>) -> fmt::Result,
        ) {
            if self.result.is_err() {
                return;
            }
            self.result = (|| {
                self.writer.write_char(',')?;
                string(self.writer, field.name())?;
                self.writer.write_char(':')?;
                write_value(self.writer)
            })();
        }

        fn entry(&mut self, field: &Field, value: impl serde::Serialize) {
            self.write_entry(field, |writer| {
                let value = serde_json::to_string(&value).map_err(|_| fmt::Error)?;
                writer.write_str(&value)
            });
        }
    }

    impl Visit for Fields<'_, '_> {
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.entry(field, value);
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.entry(field, value);
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.entry(field, value);
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.entry(field, value);
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.write_entry(field, |writer| string(writer, value));
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.record_str(field, &format!("{value:?}"));
        }
    }

    impl<S, N, T> FormatEvent<S, N> for JsonLines<T>
    where
        S: Subscriber + for<'lookup> LookupSpan<'lookup>,
        N: for<'writer> FormatFields<'writer> + 'static,
        T: FormatTime,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            use tracing_log::NormalizeEvent;
            if event.normalized_metadata().is_some() {
                return self.stock.format_event(ctx, writer, event);
            }
            let current = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            let mut spans = Vec::new();
            let mut current_body = None;
            if let Some(span) = &current {
                let Some(body) = object_body::<S, N>(span) else {
                    return self.stock.format_event(ctx, writer, event);
                };
                current_body = Some((body, span.metadata().name()));
                if let Some(leaf) = ctx.lookup_current() {
                    for span in leaf.scope().from_root() {
                        let Some(body) = object_body::<S, N>(&span) else {
                            return self.stock.format_event(ctx, writer, event);
                        };
                        spans.push((body, span.metadata().name()));
                    }
                }
            }
            let mut timestamp = String::new();
            self.timer.format_time(&mut Writer::new(&mut timestamp))?;
            let meta = event.metadata();
            writer.write_str("{\"timestamp\":")?;
            string(&mut writer, &timestamp)?;
            writer.write_str(",\"level\":\"")?;
            writer.write_str(meta.level().as_str())?;
            writer.write_char('"')?;
            let mut fields = Fields {
                writer: &mut writer,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
            writer.write_str(",\"target\":")?;
            string(&mut writer, meta.target())?;
            if let Some((body, name)) = &current_body {
                writer.write_str(",\"span\":")?;
                span_object(&mut writer, body, name)?;
                writer.write_str(",\"spans\":[")?;
                for (index, (body, name)) in spans.iter().enumerate() {
                    if index > 0 {
                        writer.write_char(',')?;
                    }
                    span_object(&mut writer, body, name)?;
                }
                writer.write_char(']')?;
            }
            writer.write_str("}\n")
        }
    }
}

/// Prometheus metrics: one recorder per process, installed on first use.
pub mod metrics {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;

    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    /// What a check's metrics say of it; the checks' report implements it, so that
    /// telemetry, shared by every room, names none of them.
    pub trait CheckLabels {
        fn reachable(&self) -> bool;
        /// The reason of an unreachable check, as its metric label.
        fn failure_label(&self) -> Option<&'static str>;
    }

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
        ::metrics::describe_counter!(
            "dsconn_events_written_total",
            "Audit events committed with their changes"
        );
        ::metrics::describe_gauge!("dsconn_event_streams", "Event stream clients connected");
        ::metrics::describe_histogram!(
            "dsconn_event_stream_lag_seconds",
            "From an event's commit to its sending to a stream client"
        );
        ::metrics::describe_counter!(
            "dsconn_event_streams_dropped_total",
            "Event stream clients dropped for reading too slowly"
        );
    }

    /// Audit events committed.
    pub fn record_events_written(count: usize) {
        ::metrics::counter!("dsconn_events_written_total").increment(count as u64);
    }

    /// A stream client came (+1) or went (-1).
    pub fn record_event_stream(delta: f64) {
        ::metrics::gauge!("dsconn_event_streams").increment(delta);
    }

    /// An event sent to a stream client, `lag` after its commit.
    pub fn record_event_stream_lag(lag: Duration) {
        ::metrics::histogram!("dsconn_event_stream_lag_seconds").record(lag.as_secs_f64());
    }

    /// A stream client dropped for reading too slowly.
    pub fn record_event_stream_dropped() {
        ::metrics::counter!("dsconn_event_streams_dropped_total").increment(1);
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

    pub fn record_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let (requests, duration) = request_handles(method, route, status);
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
    }

    /// The handles of one route's request metrics, by method and status.
    #[derive(Default)]
    struct RouteHandles {
        requests: Vec<((&'static str, u16), ::metrics::Counter)>,
        durations: Vec<(&'static str, ::metrics::Histogram)>,
    }

    /// The request metrics' handles, kept by route: the registry's look-up (its labels
    /// hashed and the route copied into them) happens once per route, method and status,
    /// not per request. Bounded: routes are the router's templates (and `unmatched`),
    /// methods a fixed list, statuses below 1000.
    fn request_handles(
        method: &'static str,
        route: &str,
        status: u16,
    ) -> (::metrics::Counter, ::metrics::Histogram) {
        static HANDLES: std::sync::LazyLock<
            std::sync::RwLock<std::collections::HashMap<String, RouteHandles>>,
        > = std::sync::LazyLock::new(Default::default);
        let find = |handles: &RouteHandles| {
            let requests = handles
                .requests
                .iter()
                .find(|(key, _)| *key == (method, status))?;
            let duration = handles.durations.iter().find(|(key, _)| *key == method)?;
            Some((requests.1.clone(), duration.1.clone()))
        };
        {
            let known = HANDLES
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(found) = known.get(route).and_then(find) {
                return found;
            }
        }
        let mut known = HANDLES
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let handles = known.entry(route.to_owned()).or_default();
        if !handles
            .requests
            .iter()
            .any(|(key, _)| *key == (method, status))
        {
            let counter = ::metrics::counter!(
                "dsconn_http_requests_total",
                "method" => method,
                "route" => route.to_owned(),
                "status" => status_label(status)
            );
            handles.requests.push(((method, status), counter));
        }
        if !handles.durations.iter().any(|(key, _)| *key == method) {
            let histogram = ::metrics::histogram!(
                "dsconn_http_request_duration_seconds",
                "method" => method,
                "route" => route.to_owned()
            );
            handles.durations.push((method, histogram));
        }
        find(handles).unwrap_or_else(|| (::metrics::Counter::noop(), ::metrics::Histogram::noop()))
    }

    /// A status code as a label without formatting it per request.
    fn status_label(status: u16) -> &'static str {
        static LABELS: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| (0..1000_u16).map(|code| code.to_string()).collect());
        LABELS
            .get(usize::from(status))
            .map_or("other", String::as_str)
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

    /// What the store holds, for the gauges.
    pub struct StoredCounts<'a> {
        /// (state, service, count) for every combination that has connections.
        pub connections: &'a [(String, String, u64)],
        pub pending_checks: u64,
        pub leased_checks: u64,
    }

    /// Sets the gauges describing the stored state. The store counts only the pairs it
    /// has, so a pair that dropped to zero since the last scrape is set to 0 here, or it
    /// would keep its last count forever.
    pub fn record_store_stats(stats: &StoredCounts<'_>) {
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
        for (state, service, count) in stats.connections {
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
    pub fn record_check(kind: &'static str, report: &impl CheckLabels, elapsed: Duration) {
        let (outcome, reason) = if report.reachable() {
            ("reachable", "none")
        } else {
            ("unreachable", report.failure_label().unwrap_or("UNKNOWN"))
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

#[cfg(test)]
mod tests;
