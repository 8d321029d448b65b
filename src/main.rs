use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use dsconn::cli::exit::CliError;
use dsconn::cli::{Cli, Command, connection, output, wait};
use dsconn::store::Actor;

/// jemalloc instead of glibc's malloc, for C's allocations (SQLite) too: glibc's
/// per-thread arenas fragmented and the server's RSS kept growing under load. The
/// measurements behind the choice are in BENCHMARKS.md ("History").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held until the command ends: dropping it writes the log's last lines, before the
    // final error line below (so that line stays last).
    let mut log_guard = None;
    let outcome = match cli.command {
        Command::Serve(config) => {
            log_guard = Some(dsconn::telemetry::init(config.log_format));
            dsconn::cli::serve::run(config).await
        }
        Command::Agent(args) => {
            log_guard = Some(dsconn::telemetry::init(args.log_format));
            dsconn::cli::agent::run(args).await
        }
        // What an admin command changes is recorded as the operator's doing.
        Command::Credential { command } => {
            Actor::admin_command()
                .act(dsconn::cli::admin::run_credential(command))
                .await
        }
        Command::Token { command } => {
            Actor::admin_command()
                .act(dsconn::cli::admin::run_token(command))
                .await
        }
        Command::List(args) => connection::list(args).await.map_err(Into::into),
        Command::Show(args) => connection::show(args).await.map_err(Into::into),
        Command::Create(args) => connection::create(args).await.map_err(Into::into),
        Command::Delete(args) => connection::delete(args).await.map_err(Into::into),
        Command::Wait(args) => wait::wait(args).await.map_err(Into::into),
        Command::Events(args) => dsconn::cli::events::events(args).await.map_err(Into::into),
        Command::Test(args) => connection::test(args).await.map_err(Into::into),
        Command::Bind(args) => connection::bind(args).await.map_err(Into::into),
        Command::Unbind(args) => connection::unbind(args).await.map_err(Into::into),
        Command::SetAuthInfo(args) => connection::set_auth_info(args).await.map_err(Into::into),
        Command::AuthInfo { command } => dsconn::cli::auth_info::run(command)
            .await
            .map_err(Into::into),
        Command::Queue { command } => dsconn::cli::queue::run(command).await.map_err(Into::into),
        Command::Pool { command } => dsconn::cli::pool::run(command).await.map_err(Into::into),
        Command::Enhanced { command } => dsconn::cli::enhanced::run(command)
            .await
            .map_err(Into::into),
        Command::Migrate(storage) => dsconn::cli::serve::migrate(storage).await,
        Command::Completions { shell } => {
            // clap_complete panics on a failed write: it writes to memory, and the
            // script goes out with the commands' handling of a closed output.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dsconn", &mut script);
            output::stdout_bytes(&script);
            Ok(())
        }
    };
    drop(log_guard);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<CliError>() {
            Some(cli_error) => {
                if !cli_error.is_quiet() {
                    output::stderr_line(format_args!("dsconn: {error:#}"));
                }
                ExitCode::from(cli_error.code)
            }
            None => {
                output::stderr_line(format_args!("dsconn: {error:#}"));
                ExitCode::FAILURE
            }
        },
    }
}
