//! `dsconn list | show | create | delete | wait`: the day-to-day client commands.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use comfy_table::{Table, presets};

use super::exit::{self, CliError};
use super::output::{errln, outln};
use super::settings::{ClientSettings, ConnectionArgs};
use crate::api::connections::types::{ConnectionResponse, CreateConnectionRequest};
use crate::api::types::TagInput;
use crate::client::{Answer, Client, ClientError, ListFilter};
use crate::domain::{ConnectionState, FailureReason, Reachability, Service};

/// How much of a message `list -o wide` shows (`show` has all of it).
const WIDE_MESSAGE_CHARS: usize = 80;

/// How often `wait` asks for the connection's state.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ClientOutput {
    /// A readable table.
    #[default]
    Table,
    /// The table with more columns.
    Wide,
    /// The server's JSON, for scripts.
    Json,
}

/// What every client command takes: how to print, and which server as whom.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// How to print the result: `table`, `wide` (the table with more columns, e.g. ids,
    /// tags and messages) or `json` (the server's JSON, for scripts).
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: ClientOutput,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only connections with this tag; `key=value` or a bare `key` (repeat: all must match).
    #[arg(long = "tag", value_name = "KEY[=VALUE]")]
    pub tags: Vec<String>,
    /// Only connections in these states: CREATING, ACTIVE, FAILED or DELETED (repeat or
    /// comma-separate; any case).
    #[arg(long = "state", value_delimiter = ',', value_parser = parse_state)]
    pub states: Vec<String>,
    /// Only connections whose name contains this (case-insensitive).
    #[arg(long)]
    pub name: Option<String>,
    /// Only connections to this service.
    #[arg(long)]
    pub service: Option<String>,
    /// At most this many connections.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many connections first.
    #[arg(long)]
    pub offset: Option<u32>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The connection's name: 1-64 letters, digits and `_`, starting with a letter or digit.
    #[arg(long)]
    pub name: String,
    /// CloudTable, CloudTable.OpenTSDB, MRS.OpenTSDB, DWS, RDS or CSS.
    #[arg(long)]
    pub service: String,
    /// Comma-separated host[:port] endpoints.
    #[arg(long)]
    pub url: String,
    /// The security group of the data source (stored and echoed: dsconn checks from its own
    /// network, or from an agent's).
    #[arg(long)]
    pub security_group_id: String,
    /// The subnet of the data source (stored and echoed, like --security-group-id).
    #[arg(long)]
    pub network_id: String,
    /// A tag as key=value (repeat for more).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// A queue to bind (repeat for more).
    #[arg(long = "queue", value_name = "QUEUE")]
    pub queues: Vec<String>,
    /// Wait until the check has finished, showing progress.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to wait before giving up with exit code 4, e.g. 30s, 5m.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Connection ids or names.
    #[arg(required = true, value_name = "ID|NAME")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A saved connection (id or name) to check now; or give --service and --url instead.
    #[arg(value_name = "ID|NAME", conflicts_with_all = ["service", "url"], required_unless_present_all = ["service", "url"])]
    pub id: Option<String>,
    /// Service of a definition to check before saving it.
    #[arg(long, requires = "url")]
    pub service: Option<String>,
    /// Endpoints of a definition to check before saving it.
    #[arg(long, requires = "service")]
    pub url: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct BindArgs {
    /// Connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    /// A queue of the project (repeat for more).
    #[arg(long = "queue", value_name = "QUEUE", required = true)]
    pub queues: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

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

/// Connects using the resolved settings.
pub(super) fn connect(args: &ConnectionArgs) -> Result<(Client, ClientSettings), CliError> {
    let settings = args.resolve()?;
    let client = Client::new(&settings.endpoint, &settings.project, settings.auth.clone())
        .map_err(|error| CliError::usage(error.to_string()))?;
    Ok((client, settings))
}

/// Turns a client error into advice and an exit code.
pub(super) fn explain(error: ClientError, settings: &ClientSettings) -> CliError {
    match error {
        ClientError::Api {
            status,
            code,
            message,
            request_id,
        } => {
            let mut text = format!("{code}: {message}");
            if status == 401 {
                text.push_str(&format!("\n  credentials used: {}", settings.auth_source));
            }
            if status == 403 {
                text.push_str(&format!(
                    "\n  project: {}; credentials used: {}",
                    settings.project, settings.auth_source
                ));
            }
            if let Some(id) = request_id {
                text.push_str(&format!("\n  request id: {id}"));
            }
            CliError::new(exit::SERVER_REFUSED, text)
        }
        ClientError::Unreachable { endpoint, detail } => CliError::new(
            exit::UNREACHABLE,
            format!(
                "could not reach dsconn at {endpoint}: {detail}\n  \
                 is the server running there? Set the address with --endpoint or DSCONN_ENDPOINT."
            ),
        ),
        ClientError::Protocol { .. } => CliError::new(
            exit::UNREACHABLE,
            format!("{error}\n  is --endpoint really a dsconn or DLI server?"),
        ),
        ClientError::Settings(message) => CliError::usage(message),
    }
}

pub(super) fn print_json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

pub(super) fn local_time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| {
            time.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".to_owned())
}

/// `--state`'s values, checked before anything is sent.
fn parse_state(raw: &str) -> Result<String, String> {
    raw.parse::<ConnectionState>()
        .map(|state| state.as_str().to_owned())
        .map_err(|_| "must be CREATING, ACTIVE, FAILED or DELETED".to_owned())
}

fn percent(process: f64) -> String {
    format!("{:.0}%", (process.clamp(0.0, 1.0) * 100.0).floor())
}

pub(super) fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

/// A DELETED connection has no progress to show.
fn progress_text(connection: &ConnectionResponse) -> String {
    if connection.state == ConnectionState::Deleted {
        "-".to_owned()
    } else {
        percent(connection.process)
    }
}

fn tags_text(connection: &ConnectionResponse) -> String {
    tag_pairs(&connection.tags)
}

/// `key=value,...` of tags, `-` for none.
pub(super) fn tag_pairs(tags: &[crate::domain::Tag]) -> String {
    or_dash(
        &tags
            .iter()
            .map(|tag| format!("{}={}", tag.key, tag.value))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The first line of a message, at most `chars` characters of it.
pub(super) fn message_start(message: &str, chars: usize) -> String {
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() > chars {
        let mut start: String = line.chars().take(chars.saturating_sub(3)).collect();
        start.push_str("...");
        start
    } else {
        or_dash(line)
    }
}

/// The connectivity of the last check, which the server itself ran: a queue's agent
/// may still reach the data source (see the bindings' CHECKED FROM).
fn connectivity_text(connection: &ConnectionResponse) -> String {
    match connection.connectivity {
        None => "- (not checked yet)".to_owned(),
        Some(reachability) => match connection.failure_reason {
            Some(reason) => format!("{reachability} ({reason}), as the server sees it"),
            None => format!("{reachability}, as the server sees it"),
        },
    }
}

/// Prints a table without the padding comfy-table leaves at the end of each line.
pub(super) fn print_table(table: &Table) {
    for line in table.to_string().lines() {
        outln!("{}", line.trim_end());
    }
}

pub(super) fn table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table
}

fn connections_table(connections: &[ConnectionResponse], wide: bool) -> Table {
    let mut table = table();
    let mut header = vec![
        "ID",
        "NAME",
        "STATE",
        "SERVICE",
        "DESTINATION",
        "QUEUES",
        "PROGRESS",
        "CREATED",
    ];
    if wide {
        header.extend(["REASON", "CONNECTION URL", "TAGS", "MESSAGE"]);
    }
    table.set_header(header);
    for connection in connections {
        let mut row = vec![
            connection.connection_id.clone(),
            connection.name.clone(),
            connection.state.to_string(),
            connection.service.to_string(),
            connection.destination.clone(),
            or_dash(&connection.queue_list.join(",")),
            progress_text(connection),
            local_time(connection.create_time),
        ];
        if wide {
            row.extend([
                connection
                    .failure_reason
                    .map_or_else(|| "-".to_owned(), |reason| reason.to_string()),
                or_dash(&connection.connection_url),
                tags_text(connection),
                message_start(&connection.message, WIDE_MESSAGE_CHARS),
            ]);
        }
        table.add_row(row);
    }
    table
}

fn connection_details(connection: &ConnectionResponse, wide: bool) -> Table {
    let mut table = table();
    let queues = or_dash(&connection.queue_list.join(","));
    let mut rows = vec![
        ("Name", connection.name.clone()),
        ("ID", connection.connection_id.clone()),
        ("State", connection.state.to_string()),
        ("Progress", progress_text(connection)),
        ("Connectivity", connectivity_text(connection)),
        ("Service", connection.service.to_string()),
        ("Destination", connection.destination.clone()),
        ("Connection URL", or_dash(&connection.connection_url)),
        ("Queues", queues),
        ("Security group", or_dash(&connection.security_group_id)),
        ("Network", or_dash(&connection.network_id)),
        ("Tags", tags_text(connection)),
        ("Created", local_time(connection.create_time)),
        ("Message", or_dash(&connection.message)),
    ];
    if wide {
        rows.extend([
            ("Updated", local_time(connection.update_time)),
            (
                "Last checked",
                connection
                    .last_checked_at
                    .map_or_else(|| "-".to_owned(), local_time),
            ),
        ]);
    }
    for (label, value) in rows {
        table.add_row(vec![format!("{label}:"), value]);
    }
    table
}

pub async fn list(args: ListArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let filter = ListFilter {
        tags: args.tags,
        states: args.states,
        name: args.name,
        service: args.service,
        limit: args.limit,
        offset: args.offset,
    };
    let answer = client
        .list(&filter)
        .await
        .map_err(|error| explain(error, &settings))?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        output => {
            let list = answer.value;
            if list.connections.is_empty() {
                errln!("no connections in project {}", settings.project);
            } else {
                print_table(&connections_table(
                    &list.connections,
                    output == ClientOutput::Wide,
                ));
            }
            let shown = list.connections.len() as u64;
            if shown < list.count {
                errln!("showing {shown} of {} connections", list.count);
            }
        }
    }
    Ok(())
}

pub async fn show(args: ShowArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve_connection(&client, &settings, &args.id).await?;
    let answer = client
        .show(&id)
        .await
        .map_err(|error| explain(error, &settings))?;
    let wide = args.common.output == ClientOutput::Wide;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => {
            print_table(&connection_details(&answer.value, wide));
            if !answer.value.available_queue_info.is_empty() {
                outln!();
                print_table(&bindings_table(&answer.value));
            }
            let endpoints = answer.value.endpoints.as_deref().unwrap_or_default();
            if wide && !endpoints.is_empty() {
                outln!();
                print_table(&endpoints_table(endpoints, "server"));
            }
        }
    }
    Ok(())
}

/// Per-address results of a check, labelled with where it ran.
fn endpoints_table(endpoints: &[crate::api::types::EndpointCheck], checked_from: &str) -> Table {
    let mut table = table();
    table.set_header(vec![
        "ENDPOINT",
        "ADDRESS",
        "OUTCOME",
        "REASON",
        "LATENCY",
        "CHECKED FROM",
        "MESSAGE",
    ]);
    for check in endpoints {
        table.add_row(vec![
            check.endpoint.clone(),
            check.address.clone().unwrap_or_else(|| "-".to_owned()),
            check.outcome.to_string(),
            check
                .reason
                .map_or_else(|| "-".to_owned(), |reason| reason.to_string()),
            format!("{} ms", check.latency_ms),
            checked_from.to_owned(),
            check.message.clone(),
        ]);
    }
    table
}

/// The id of a connection given by id or by name. A UUID is taken as an id; a name
/// must match exactly one connection that is not DELETED (or, if all are DELETED,
/// exactly one connection); otherwise the error lists the candidates' ids.
pub(super) async fn resolve_connection(
    client: &Client,
    settings: &ClientSettings,
    raw: &str,
) -> Result<String, CliError> {
    if uuid::Uuid::parse_str(raw).is_ok() {
        return Ok(raw.to_owned());
    }
    let filter = ListFilter {
        name: Some(raw.to_owned()),
        ..ListFilter::default()
    };
    let listed = client
        .list(&filter)
        .await
        .map_err(|error| explain(error, settings))?
        .value
        .connections;
    let named: Vec<&ConnectionResponse> = listed
        .iter()
        .filter(|connection| connection.name == raw)
        .collect();
    let live: Vec<&ConnectionResponse> = named
        .iter()
        .copied()
        .filter(|connection| connection.state != ConnectionState::Deleted)
        .collect();
    let candidates = if live.is_empty() { named } else { live };
    match candidates.as_slice() {
        [] => Err(CliError::new(
            exit::SERVER_REFUSED,
            format!(
                "no connection has the id or name {raw:?} in project {}",
                settings.project
            ),
        )),
        [one] => Ok(one.connection_id.clone()),
        many => Err(ambiguous(
            raw,
            many.iter()
                .map(|connection| (connection.connection_id.as_str(), connection.state.as_str())),
        )),
    }
}

/// The error of a name that several resources have.
pub(super) fn ambiguous<'a>(
    name: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
) -> CliError {
    let ids: Vec<String> = candidates
        .map(|(id, state)| format!("  {id} ({state})"))
        .collect();
    CliError::usage(format!(
        "{} connections are named {name:?}; give one of their ids:\n{}",
        ids.len(),
        ids.join("\n")
    ))
}

/// Each binding's status and where it was checked.
fn bindings_table(connection: &ConnectionResponse) -> Table {
    let mut table = table();
    table.set_header(vec!["QUEUE", "STATUS", "CHECKED FROM", "UPDATED", "ERROR"]);
    for binding in &connection.available_queue_info {
        table.add_row(vec![
            binding.name.clone(),
            binding.status.to_string(),
            or_dash(binding.checked_from.as_deref().unwrap_or_default()),
            local_time(binding.update_time),
            or_dash(&binding.err_msg),
        ]);
    }
    table
}

fn parse_tag(raw: &str) -> Result<TagInput, CliError> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| CliError::usage(format!("--tag {raw:?} must be key=value")))?;
    Ok(TagInput {
        key: Some(key.to_owned()),
        value: Some(value.to_owned()),
    })
}

pub async fn create(args: CreateArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let tags = args
        .tags
        .iter()
        .map(|raw| parse_tag(raw))
        .collect::<Result<Vec<_>, _>>()?;
    let request = CreateConnectionRequest {
        name: Some(args.name.clone()),
        service: Some(args.service.clone()),
        security_group_id: Some(args.security_group_id.clone()),
        network_id: Some(args.network_id.clone()),
        url: Some(args.url.clone()),
        tags: (!tags.is_empty()).then_some(tags),
        queues: (!args.queues.is_empty()).then(|| args.queues.clone()),
    };
    let answer = client
        .create(&request)
        .await
        .map_err(|error| explain(error, &settings))?;
    let id = answer.value.connection_id.clone();
    if !args.wait {
        match args.common.output {
            ClientOutput::Json => print_json(&answer.raw),
            _ => outln!("created {} ({id})", args.name),
        }
        return Ok(());
    }
    if args.common.output != ClientOutput::Json {
        errln!("created {} ({id}); checking it", args.name);
    }
    let connection = wait_until(&client, &settings, &id, WaitFor::Settled, args.timeout).await?;
    report_final(&client, &settings, &connection, args.common.output).await?;
    settled_outcome(&connection)
}

pub async fn delete(args: DeleteArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let mut ids = Vec::with_capacity(args.ids.len());
    for raw in &args.ids {
        ids.push(resolve_connection(&client, &settings, raw).await?);
    }
    delete_each(&ids, args.common.output, &settings, |id| client.delete(id)).await
}

/// `dsconn bind`: DLI's associate-queue of a classic connection.
pub async fn bind(args: BindArgs) -> Result<(), CliError> {
    change_queues(args, true).await
}

/// `dsconn unbind`: DLI's disassociate-queue of a classic connection.
pub async fn unbind(args: BindArgs) -> Result<(), CliError> {
    change_queues(args, false).await
}

async fn change_queues(args: BindArgs, bind: bool) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve_connection(&client, &settings, &args.id).await?;
    let answer = if bind {
        client.associate_queues(&id, &args.queues).await
    } else {
        client.disassociate_queues(&id, &args.queues).await
    }
    .map_err(|error| explain(error, &settings))?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => {
            let queues = args.queues.join(", ");
            if bind {
                outln!("bound {queues} to {} ({})", args.id, answer.value.message);
            } else {
                outln!(
                    "unbound {queues} from {} ({})",
                    args.id,
                    answer.value.message
                );
            }
        }
    }
    Ok(())
}

/// Deletes each id in turn with `delete`, printing each outcome (or, as JSON, every
/// answer in one array): stops at once if the server is unreachable, otherwise fails at
/// the end naming the ids whose delete was refused.
pub(super) async fn delete_each<'a, T, F, Fut>(
    ids: &'a [String],
    output: ClientOutput,
    settings: &ClientSettings,
    delete: F,
) -> Result<(), CliError>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<Answer<T>, ClientError>>,
{
    let mut failures = Vec::new();
    let mut answers = Vec::new();
    for id in ids {
        match delete(id).await {
            Ok(answer) if output == ClientOutput::Json => answers.push(answer.raw),
            Ok(_) => outln!("deleted {id}"),
            Err(error) => {
                let error = explain(error, settings);
                if error.code == exit::UNREACHABLE {
                    return Err(error);
                }
                errln!("dsconn: {id}: {error}");
                failures.push(id.as_str());
            }
        }
    }
    if output == ClientOutput::Json {
        print_json(&serde_json::Value::Array(answers));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(
            exit::SERVER_REFUSED,
            format!(
                "{} of {} deletes failed: {}",
                failures.len(),
                ids.len(),
                failures.join(", ")
            ),
        ))
    }
}

/// Deletes queues or pools by name, one call each, as `delete_each` does for connections:
/// `deleted <noun> <name>` per success (or one JSON array), and exit 1 naming how many of
/// `plural` were not deleted.
pub(super) async fn delete_named<'a, T, F, Fut>(
    names: &'a [String],
    output: ClientOutput,
    settings: &ClientSettings,
    (noun, plural): (&str, &str),
    delete: F,
) -> Result<(), CliError>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<Answer<T>, ClientError>>,
{
    let mut failed = 0;
    let mut answers = Vec::new();
    for name in names {
        match delete(name).await {
            Ok(answer) if output == ClientOutput::Json => answers.push(answer.raw),
            Ok(_) => outln!("deleted {noun} {name}"),
            Err(error) => {
                let error = explain(error, settings);
                if error.code == exit::UNREACHABLE {
                    return Err(error);
                }
                errln!("dsconn: {name}: {error}");
                failed += 1;
            }
        }
    }
    if output == ClientOutput::Json {
        print_json(&serde_json::Value::Array(answers));
    }
    if failed > 0 {
        return Err(CliError::new(
            exit::SERVER_REFUSED,
            format!("{failed} of {} {plural} not deleted", names.len()),
        ));
    }
    Ok(())
}

/// `dsconn test`: exits 0 if any address is reachable, 1 otherwise.
pub async fn test(args: TestArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let answer = match &args.id {
        Some(raw) => {
            let id = resolve_connection(&client, &settings, raw).await?;
            client.test_connection(&id).await
        }
        None => {
            client
                .test_definition(&crate::api::types::TestDefinitionRequest {
                    service: args.service.clone(),
                    url: args.url.clone(),
                })
                .await
        }
    }
    .map_err(|error| explain(error, &settings))?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
    } else {
        let mut table = table();
        table.set_header(vec![
            "ENDPOINT", "ADDRESS", "OUTCOME", "REASON", "LATENCY", "MESSAGE",
        ]);
        for check in &answer.value.endpoints {
            table.add_row(vec![
                check.endpoint.clone(),
                check.address.clone().unwrap_or_else(|| "-".to_owned()),
                check.outcome.to_string(),
                check
                    .reason
                    .map_or_else(|| "-".to_owned(), |reason| reason.to_string()),
                format!("{} ms", check.latency_ms),
                check.message.clone(),
            ]);
        }
        print_table(&table);
        if !answer.value.message.is_empty() {
            outln!("{}", answer.value.message);
        }
    }
    if answer.value.connectivity == Reachability::Reachable {
        Ok(())
    } else {
        Err(CliError::new(
            exit::SERVER_REFUSED,
            format!(
                "unreachable ({})",
                answer
                    .value
                    .failure_reason
                    .map_or("no endpoint answered", FailureReason::as_str)
            ),
        ))
    }
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
fn settled_outcome(connection: &ConnectionResponse) -> Result<(), CliError> {
    if connection.state == ConnectionState::Failed {
        return Err(CliError::quiet(exit::SERVER_REFUSED));
    }
    Ok(())
}

async fn report_final(
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
                .map_err(|error| explain(error, settings));
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

async fn wait_until(
    client: &Client,
    settings: &ClientSettings,
    id: &str,
    target: WaitFor,
    timeout: Duration,
) -> Result<ConnectionResponse, CliError> {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new();
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
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    progress.finish();
    outcome
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
    }
}
