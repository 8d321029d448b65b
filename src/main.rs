use clap::Parser;

use dsconn::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            dsconn::telemetry::init(config.log_format);
            dsconn::cli::serve::run(config).await
        }
    }
}
