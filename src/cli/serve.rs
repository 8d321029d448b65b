use std::io::Write;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::Application;
use crate::config::{AuthMode, ServeConfig};
use crate::issuing;

/// A token cancelled at the first SIGINT or SIGTERM. Installed before anything is
/// announced, so a supervisor that signals right after start-up still gets a graceful
/// stop.
pub fn cancelled_on_signal() -> anyhow::Result<CancellationToken> {
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received, shutting down"),
            _ = terminate.recv() => info!("SIGTERM received, shutting down"),
        }
        on_signal.cancel();
    });
    Ok(shutdown)
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let shutdown = cancelled_on_signal()?;

    let application = Application::build(&config).await?;
    let address = application.local_addr()?;
    let base = base_url(address, application.tls_enabled());
    match config.auth {
        AuthMode::None => warn!(
            "authentication is off (--auth none): every request is accepted; use this only for local emulation"
        ),
        AuthMode::Required => bootstrap_first_credential(&application, &base).await?,
    }
    if config.auth == AuthMode::None {
        // Nothing is signed, so there is no host to check.
    } else if config.allowed_hosts.is_empty() {
        warn!(
            "--allowed-hosts is not set: signed requests made for any Host are accepted, so a \
             request signed for another deployment can be replayed here within 15 minutes"
        );
    } else {
        let hosts: Vec<String> = config
            .allowed_hosts
            .iter()
            .map(ToString::to_string)
            .collect();
        info!(allowed_hosts = %hosts.join(","), "signed requests must be made for one of these hosts");
    }
    info!(
        listen = %address,
        tls = application.tls_enabled(),
        console = %format!("{base}{}", crate::api::console::BASE_PATH),
        store = %crate::app::store_location(&config.storage),
        check_timeout = %humantime::format_duration(config.probe.check_timeout),
        "dsconn is serving"
    );
    application
        .run(shutdown)
        .await
        .context("dsconn stopped with an error")?;
    info!("dsconn stopped");
    Ok(())
}

/// The server's URL on `address` (`https` with TLS); an unspecified address (`0.0.0.0`,
/// `::`) is reachable on loopback from this machine.
pub fn base_url(address: std::net::SocketAddr, tls: bool) -> String {
    let mut shown = address;
    if address.ip().is_unspecified() {
        shown.set_ip(if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{shown}")
}

/// On a store without any credential, creates one for a new project and prints it on
/// standard output (never in the log), once.
async fn bootstrap_first_credential(
    application: &Application,
    base_url: &str,
) -> anyhow::Result<()> {
    let store = application.store();
    if store.count_credentials().await? > 0 {
        return Ok(());
    }
    let project = uuid::Uuid::new_v4().simple().to_string();
    let scope = issuing::scope_of(std::slice::from_ref(&project), false)?;
    let issued = issuing::create_credential(&store, application.secrets(), scope).await?;
    info!(access_key = %issued.access_key, project.id = %project, "created the first credential");
    // Not `outln!`: a server whose standard output is closed keeps serving.
    let shown = writeln!(
        std::io::stdout().lock(),
        "dsconn: no credential existed, so one was created. It is shown only now:\n\
         \x20 project id: {project}\n\
         \x20 access key: {ak}\n\
         \x20 secret key: {sk}\n\
         Use it with any Huawei Cloud SDK (endpoint {base_url}) or the dsconn CLI:\n\
         \x20 HUAWEICLOUD_SDK_AK={ak} HUAWEICLOUD_SDK_SK={sk} HUAWEICLOUD_SDK_PROJECT_ID={project} dsconn list --endpoint {base_url}",
        ak = issued.access_key,
        sk = issued.secret_key.expose(),
    );
    if shown.is_err() {
        warn!(
            access_key = %issued.access_key,
            "the first credential could not be printed (standard output is closed); create \
             one with dsconn credential create"
        );
    }
    Ok(())
}

/// `dsconn migrate`: opens the store, which applies pending migrations, and closes it.
pub async fn migrate(storage: crate::store::StorageArgs) -> anyhow::Result<()> {
    let store = storage
        .open(crate::store::OpenFor::Admin)
        .await
        .with_context(|| format!("migrating {}", crate::app::store_location(&storage)))?;
    store.close().await;
    super::output::outln!(
        "migrations applied to {}",
        crate::app::store_location(&storage)
    );
    Ok(())
}
