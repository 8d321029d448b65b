use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::Application;
use crate::config::{AuthMode, ServeConfig};

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
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
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    application
        .run(shutdown)
        .await
        .context("dsconn stopped with an error")?;
    info!("dsconn stopped");
    Ok(())
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => info!("SIGINT received, shutting down"),
        _ = terminate => info!("SIGTERM received, shutting down"),
    }
    shutdown.cancel();
}
