//! `dsconn wait`, and the waiting of `create --wait`: progress on a terminal or as lines,
//! until the connection reaches the wanted state or the time is up (exit 4).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::exit::{self, CliError};
use super::output::{ClientOutput, errln, outln, percent, print_json};
use super::remote::{CommonArgs, Explained, connect, explain, resolve_connection};
use super::settings::ClientSettings;
use crate::api::connections::types::ConnectionResponse;
use crate::api::events::types::EventsQuery;
use crate::client::{Client, ClientError, EventStream, StreamFrame};
use crate::domain::{ConnectionState, Service};

/// How often `wait` asks for the connection's state when the server has no event
/// stream.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitFor {
    /// Until the check has finished, ACTIVE or FAILED.
    Settled,
    Active,
    Failed,
    Deleted,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    /// The state to wait for.
    #[arg(long = "for", value_enum, default_value = "settled")]
    pub target: WaitFor,
    /// How long to wait before giving up with exit code 4, e.g. 30s, 5m.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn wait(args: WaitArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve_connection(&client, &settings, &args.id).await?;
    let connection = wait_until(&client, &settings, &id, args.target, args.timeout).await?;
    report_final(&client, &settings, &connection, args.common.output).await?;
    match args.target {
        WaitFor::Settled => settled_outcome(&connection),
        _ => Ok(()),
    }
}

/// A settled connection that FAILED ends the command with exit code 1, quietly: the
/// final line (or the JSON) already said so.
pub(super) fn settled_outcome(connection: &ConnectionResponse) -> Result<(), CliError> {
    if connection.state == ConnectionState::Failed {
        return Err(CliError::quiet(exit::SERVER_REFUSED));
    }
    Ok(())
}

pub(super) async fn report_final(
    client: &Client,
    settings: &ClientSettings,
    connection: &ConnectionResponse,
    output: ClientOutput,
) -> Result<(), CliError> {
    match output {
        ClientOutput::Json => {
            // The server's own JSON of the final state.
            let answer = client
                .show(&connection.connection_id)
                .await
                .explained(settings);
            match answer {
                Ok(answer) => print_json(&answer.raw),
                Err(_) => print_json(&last_known_json(connection)),
            }
        }
        _ if connection.state == ConnectionState::Failed => {
            outln!("{}: FAILED: {}", connection.name, connection.message);
        }
        _ => outln!("{}: {}", connection.name, connection.state),
    }
    Ok(())
}

/// Shows progress while waiting: a bar on a terminal, a line per change otherwise.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { last: Option<(String, String)> },
}

impl Progress {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(100);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos:>3}% {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines { last: None }
        }
    }

    fn update(&mut self, connection: &ConnectionResponse) {
        let position = (connection.process.clamp(0.0, 1.0) * 100.0).floor() as u64;
        match self {
            Progress::Bar(bar) => {
                bar.set_prefix(connection.name.clone());
                bar.set_position(position);
                bar.set_message(connection.state.as_str());
            }
            Progress::Lines { last } => {
                let now = (connection.state.to_string(), percent(connection.process));
                if last.as_ref() != Some(&now) {
                    errln!("{}: {} {}", connection.name, now.0, now.1);
                    *last = Some(now);
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

pub(super) async fn wait_until(
    client: &Client,
    settings: &ClientSettings,
    id: &str,
    target: WaitFor,
    timeout: Duration,
) -> Result<ConnectionResponse, CliError> {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new();
    // Opened before the first look, so no change after it is missed.
    let mut changes = follow_changes(client, id, timeout).await;
    let outcome = loop {
        let connection = match client.show(id).await {
            Ok(answer) => answer.value,
            // Purged after deletion: as deleted as it gets.
            Err(ClientError::Api { code, .. })
                if code == "DLI.0002" && target == WaitFor::Deleted =>
            {
                break Ok(deleted_placeholder(id));
            }
            Err(error) => break Err(explain(error, settings)),
        };
        progress.update(&connection);
        let wanted = match target {
            WaitFor::Settled => (connection.state != ConnectionState::Creating).then_some(true),
            WaitFor::Active => final_or_wanted(&connection, ConnectionState::Active),
            WaitFor::Failed => final_or_wanted(&connection, ConnectionState::Failed),
            WaitFor::Deleted => {
                Some(connection.state == ConnectionState::Deleted).filter(|done| *done)
            }
        };
        match wanted {
            Some(true) => break Ok(connection),
            Some(false) => {
                break Err(CliError::new(
                    exit::SERVER_REFUSED,
                    format!(
                        "connection {} is {}, not the state waited for{}",
                        connection.name,
                        connection.state,
                        if connection.message.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", connection.message)
                        }
                    ),
                ));
            }
            None => {}
        }
        if Instant::now() >= deadline {
            break Err(CliError::new(
                exit::TIMED_OUT,
                format!(
                    "timed out after {} waiting for {id} (now {} at {})",
                    humantime::format_duration(timeout),
                    connection.state,
                    percent(connection.process)
                ),
            ));
        }
        match &mut changes {
            Some(stream) => {
                // Looks again when the connection changes (or at the deadline); a stream
                // that ends leaves the waiting to polling.
                let next = tokio::time::timeout_at(deadline.into(), next_change(stream)).await;
                if matches!(next, Ok(false)) {
                    changes = None;
                }
            }
            None => tokio::time::sleep(POLL_INTERVAL).await,
        }
    };
    progress.finish();
    outcome
}

/// The stream of the connection's events, or None where the server has none (an older
/// dsconn, or DLI itself): then `wait` polls.
async fn follow_changes(client: &Client, id: &str, timeout: Duration) -> Option<EventStream> {
    let query = EventsQuery {
        resource_id: Some(id.to_owned()),
        ..EventsQuery::default()
    };
    // A little past the wait's own deadline, so the stream outlives it.
    let stream = client
        .event_stream(&query, None, timeout + Duration::from_secs(5))
        .await
        .ok()?;
    Some(stream)
}

/// Waits for the next change event; false if the stream ended instead.
async fn next_change(stream: &mut EventStream) -> bool {
    loop {
        match stream.next().await {
            Ok(Some(StreamFrame::Change(_))) => return true,
            Ok(Some(StreamFrame::Ready { .. } | StreamFrame::Heartbeat)) => {}
            Ok(Some(StreamFrame::Dropped(_)) | None) | Err(_) => return false,
        }
    }
}

/// Some(true) when in the wanted state, Some(false) when in another final one, None
/// while still on the way.
fn final_or_wanted(connection: &ConnectionResponse, wanted: ConnectionState) -> Option<bool> {
    match connection.state {
        state if state == wanted => Some(true),
        ConnectionState::Creating => None,
        _ => Some(false),
    }
}

/// What is known of a connection the server no longer shows. A purged one (the
/// placeholder, created at 0) has no known service: it prints as "", not as one made up.
fn last_known_json(connection: &ConnectionResponse) -> serde_json::Value {
    let mut value = serde_json::to_value(connection).unwrap_or_default();
    if connection.create_time == 0
        && let Some(service) = value.get_mut("service")
    {
        *service = serde_json::Value::String(String::new());
    }
    value
}

fn deleted_placeholder(id: &str) -> ConnectionResponse {
    ConnectionResponse {
        is_success: true,
        message: String::new(),
        connection_id: id.to_owned(),
        destination: String::new(),
        state: ConnectionState::Deleted,
        process: 0.0,
        name: id.to_owned(),
        connection_url: String::new(),
        cluster_name: String::new(),
        // Unknown once purged; printed as "" (see last_known_json).
        service: Service::Rds,
        create_time: 0,
        available_queue_info: Vec::new(),
        queue_list: Vec::new(),
        security_group_id: String::new(),
        network_id: String::new(),
        tags: Vec::new(),
        update_time: 0,
        failure_reason: None,
        connectivity: None,
        last_checked_at: None,
        endpoints: None,
        not_checked: None,
        auth_info_name: None,
        database: None,
        privileges: Vec::new(),
    }
}
