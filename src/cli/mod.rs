//! The command line: `dsconn serve` and the commands that follow it.

use clap::{Parser, Subcommand};

use crate::config::ServeConfig;

pub mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "dsconn",
    version,
    about = "DLI-compatible datasource-connection service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server and the background worker.
    Serve(ServeConfig),
}
