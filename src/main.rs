use std::process::ExitCode;

use clap::Parser;

use dsconn::cli::{Cli, Command};
use dsconn::config::LogFormat;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(config) => {
            dsconn::telemetry::init(config.log_format);
            dsconn::cli::serve::run(config).await
        }
        Command::Credential { command } => {
            dsconn::telemetry::init(LogFormat::Pretty);
            dsconn::cli::admin::run_credential(command).await
        }
        Command::Token { command } => {
            dsconn::telemetry::init(LogFormat::Pretty);
            dsconn::cli::admin::run_token(command).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dsconn: {error:#}");
            ExitCode::FAILURE
        }
    }
}
