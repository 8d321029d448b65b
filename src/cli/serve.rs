use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::Application;
use crate::config::{AuthMode, ServeConfig};

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    // Signal handlers go in before anything is announced, so a supervisor that signals
    // right after start-up still gets a graceful stop.
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

    let application = Application::build(&config).await?;
    let address = application.local_addr()?;
    if config.auth == AuthMode::None {
        warn!(
            "authentication is off (--auth none): every request is accepted; use this only for local emulation"
        );
    }
    info!(
        listen = %address,
        data_dir = %config.data_dir.display(),
        check_timeout = %humantime::format_duration(config.check_timeout),
        "dsconn is serving"
    );
    application
        .run(shutdown)
        .await
        .context("dsconn stopped with an error")?;
    info!("dsconn stopped");
    Ok(())
}
