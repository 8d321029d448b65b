//! The command line: `dsconn serve`, and the admin commands that work on a data dir.

use clap::{Parser, Subcommand};

use crate::config::ServeConfig;

pub mod admin;
pub mod agent;
pub mod auth_info;
pub mod connection;
pub mod enhanced;
pub mod events;
pub mod exit;
pub mod output;
pub mod pool;
pub mod queue;
pub mod remote;
pub mod serve;
pub mod settings;
pub mod wait;

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
    /// Run a queue's checks from the queue's own network (no database, no inbound port).
    Agent(agent::AgentArgs),
    /// Manage AK/SK credentials (works on the data dir, server running or not).
    Credential {
        #[command(subcommand)]
        command: admin::CredentialCommand,
    },
    /// Manage X-Auth-Token tokens (works on the data dir, server running or not).
    Token {
        #[command(subcommand)]
        command: admin::TokenCommand,
    },
    /// List the project's connections.
    List(connection::ListArgs),
    /// Show one connection.
    Show(connection::ShowArgs),
    /// Create a connection (and optionally wait for its check).
    Create(connection::CreateArgs),
    /// Delete connections.
    Delete(connection::DeleteArgs),
    /// Who changed what, when and from where (the audit trail); --follow for live.
    Events(events::EventsArgs),
    /// Wait until a connection reaches a state.
    Wait(wait::WaitArgs),
    /// Check a saved connection, or a definition (--service, --url), now.
    Test(connection::TestArgs),
    /// Bind queues to a connection (DLI's associate-queue); each is then checked from it.
    Bind(connection::BindArgs),
    /// Unbind queues from a connection (DLI's disassociate-queue).
    Unbind(connection::BindArgs),
    /// Name the auth info a connection's checks from its queues log in with (--none: no
    /// login); its bindings are re-checked at once.
    SetAuthInfo(connection::SetAuthInfoArgs),
    /// Manage datasource authentication (auth infos): named credentials for jobs.
    AuthInfo {
        #[command(subcommand)]
        command: auth_info::AuthInfoCommand,
    },
    /// Manage DLI queues: a queue must exist before a connection can bind it.
    Queue {
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// Manage DLI elastic resource pools and their queues: a pool must exist before an
    /// enhanced connection can bind it.
    Pool {
        #[command(subcommand)]
        command: pool::PoolCommand,
    },
    /// Manage enhanced datasource connections: bind queues and pools, hosts, routes.
    Enhanced {
        #[command(subcommand)]
        command: enhanced::EnhancedCommand,
    },
    /// Apply database migrations and exit (serve applies them too, when needed).
    Migrate(crate::store::StorageArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks over every command and flag (as crates.io has).
    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
