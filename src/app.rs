//! Wiring: open the store, bind the listener, run the API and the worker until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::api::auth::Authenticator;
use crate::api::events::feed::{EventFeed, StreamSettings};
use crate::api::limits::{AuthFailureLimiter, RequestLimiter};
use crate::api::state::{CheckService, Shared};
use crate::api::{self, ApiSettings, AppState};
use crate::check::{CheckPipeline, InProcess, Logins, PipelineSettings};
use crate::config::Role;
use crate::config::ServeConfig;
use crate::credentials::SecretBox;
use crate::probe::OutboundPolicy;
use crate::rate_limit::CheckBudget;
use crate::read_cache::ReadCache;
use crate::server::ServerLimits;
use crate::store::{Backend, DynStore, OpenFor, StorageArgs, redact_url};
use crate::worker::{LifecycleWorker, WorkerSettings};

pub struct Application {
    listener: TcpListener,
    store: DynStore,
    state: AppState,
    secrets: SecretBox,
    role: Role,
    limits: ServerLimits,
    tls: Option<TlsAcceptor>,
    worker_settings: WorkerSettings,
}

impl Application {
    /// Opens the store (migrating it) and binds the listen address. Nothing is served yet.
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        if config.bench_without_events {
            tracing::warn!(
                "--bench-without-events: no audit events are recorded (benchmarks only)"
            );
            crate::store::events::stop_recording_for_benchmark();
        }
        // Before the store is touched: a bad certificate stops nothing half-way.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::server::tls_acceptor(cert, key)
                    .map_err(|why| anyhow::anyhow!("--tls-cert/--tls-key: {why}"))?,
            ),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both or neither"),
        };
        // Install the metrics recorder before anything is counted.
        crate::telemetry::metrics::handle();
        let store = config
            .storage
            .open(OpenFor::Server)
            .await
            .with_context(|| format!("opening the store ({})", store_location(&config.storage)))?;
        let secrets = crate::issuing::open_secrets(&store, &config.storage.secret_key_path())
            .await
            .context("loading the key that encrypts secret keys")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let dyn_store: DynStore = store.clone();
        let read_cache = Arc::new(ReadCache::new(config.read_cache_ttl));
        // Every committed write tells the cache, before the write answers its request.
        dyn_store.commits().subscribe({
            let read_cache = Arc::clone(&read_cache);
            move |change| read_cache.committed(change)
        });
        let events = EventFeed::new(StreamSettings {
            per_project: config.event_streams_per_project,
            per_client: config.event_streams_per_client,
            heartbeat: config.event_heartbeat,
            poll: config.event_poll,
            buffer: usize::try_from(config.event_stream_buffer).unwrap_or(256),
            lifetime: config.event_stream_lifetime,
        });
        // Every commit may have recorded events: the open streams look.
        dyn_store.commits().subscribe({
            let events = Arc::clone(&events);
            move |_| events.committed()
        });
        // One limit for every outbound socket, and for the worker's checks in flight.
        let max_concurrent_checks = config.probe.max_open_sockets();
        // Judged by the bound address: a server reachable beyond loopback keeps checks
        // off its own host.
        let policy = OutboundPolicy::for_server(
            config.probe.allow_cidrs.clone(),
            config.probe.deny_cidrs.clone(),
            listener.local_addr()?.ip(),
        );
        let prober = config.probe.prober(policy).map_err(anyhow::Error::msg)?;
        // One budget: the API spends it at requests, the worker drains it as it dials.
        let check_budget = Arc::new(CheckBudget::per_minute(config.checks_per_minute));
        let pipeline = Arc::new(
            CheckPipeline::new(
                dyn_store.clone(),
                Arc::new(InProcess {
                    prober,
                    budget: Arc::clone(&check_budget),
                }),
                PipelineSettings {
                    recheck_interval: config.recheck_interval,
                    lease_grace: config.lease_grace,
                    agent_timeout: config.agent_timeout,
                    require_agents: config.require_agents,
                },
            )
            .with_logins(Logins::new(Some(secrets.clone()))),
        );
        let worker_settings = WorkerSettings {
            pipeline: Arc::clone(&pipeline),
            deleted_retention: config.deleted_retention,
            event_retention: config.event_retention,
            max_concurrent_checks,
        };
        let state = AppState::new(Shared {
            store: dyn_store.clone(),
            wake_worker: Arc::new(Notify::new()),
            claims: Arc::default(),
            presence: Arc::new(api::agents::heard::Presence::new(config.agent_timeout)),
            settings: Arc::new(ApiSettings {
                connection_quota: config.connection_quota,
                max_body_bytes: config.max_body_bytes,
                request_timeout: config.request_timeout,
                keep_alive_idle: config.header_read_timeout,
                body_read_timeout: config.body_read_timeout,
                declared_queues: config.queues.iter().fold(Vec::new(), |mut queues, queue| {
                    // Declared once each, whatever the flags repeat.
                    if !queues.contains(queue) {
                        queues.push(queue.clone());
                    }
                    queues
                }),
            }),
            request_limiter: Arc::new(RequestLimiter::per_second(config.rate_limit)),
            auth_failures: Arc::new(AuthFailureLimiter::new(
                config.auth_failures_per_second,
                config.auth_failure_burst,
            )),
            read_cache,
            events: Arc::clone(&events),
            stopping: CancellationToken::new(),
            auth: Arc::new(
                Authenticator::new(config.auth, dyn_store, Some(secrets.clone()))
                    .with_allowed_hosts(config.allowed_hosts.clone()),
            ),
            checks: Arc::new(CheckService {
                pipeline,
                budget: check_budget,
            }),
        });
        Ok(Self {
            listener,
            store,
            state,
            secrets,
            worker_settings,
            tls,
            role: config.role,
            limits: ServerLimits {
                max_connections: usize::try_from(config.max_connections).unwrap_or(1024),
                max_connections_per_client: usize::try_from(config.max_connections_per_client)
                    .unwrap_or(64),
                header_read_timeout: config.header_read_timeout,
                max_header_bytes: usize::try_from(config.max_header_bytes).unwrap_or(16 * 1024),
                drain_timeout: config.request_timeout,
            },
        })
    }

    pub fn store(&self) -> DynStore {
        self.state.store.clone()
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// Whether connections are served over TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// A worker over this application's store, for stepping with `run_once()` in tests.
    pub fn worker(&self) -> LifecycleWorker {
        LifecycleWorker::new(
            self.state.store.clone(),
            self.worker_settings.clone(),
            self.state.wake_worker.clone(),
        )
    }

    /// Serves until `shutdown` is cancelled, then lets requests and checks in flight
    /// finish and closes the database cleanly.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let worker = match self.role {
            Role::Api => tokio::spawn(async {}),
            Role::All | Role::Worker => tokio::spawn(self.worker().run(shutdown.clone())),
        };
        // Long polls end at the stop's first moment, so that the connections drain at
        // once (and a restart right after finds the data dir free).
        let stopping = self.state.stopping.clone();
        let stop_signal = shutdown.clone();
        tokio::spawn(async move {
            stop_signal.cancelled().await;
            stopping.cancel();
        });
        if !matches!(self.role, Role::Worker) {
            self.state
                .events
                .poll_for_replicas(self.state.store.clone(), self.state.stopping.clone());
            tokio::spawn(api::agents::presence::log_agents_going_offline(
                self.state.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(
                Arc::clone(&self.state.claims)
                    .look_for_work(self.state.store.clone(), self.state.stopping.clone()),
            );
            tokio::spawn(
                Arc::clone(&self.state.presence)
                    .keep_storing(self.state.store.clone(), self.state.stopping.clone()),
            );
        }
        // Agents' last words are stored until the end: after the last request is answered.
        let presence = Arc::clone(&self.state.presence);
        let store = self.state.store.clone();
        // A worker-only process answers /healthz and nothing else.
        let router = match self.role {
            Role::Worker => api::router::health_only(),
            Role::All | Role::Api => api::router(self.state),
        };
        crate::server::serve(
            self.listener,
            router,
            self.limits,
            self.tls,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        presence.flush(&store).await;
        worker.await.context("the lifecycle worker panicked")?;
        self.store.close().await;
        Ok(())
    }
}

/// Where the store is, for messages (never with a password).
pub fn store_location(storage: &StorageArgs) -> String {
    match storage.backend() {
        Ok(Backend::Sqlite(dir)) => format!("SQLite in {}", dir.display()),
        Ok(Backend::Postgres(url)) => format!("PostgreSQL at {}", redact_url(&url)),
        Err(error) => error,
    }
}
