//! `dsconn list | show | create | delete | wait`: the day-to-day client commands.

use std::time::Duration;

use clap::Args;
use comfy_table::Table;

use super::exit::{self, CliError};
use super::output::{
    ClientOutput, details_table, errln, local_time, message_start, or_dash, outln, percent,
    print_json, print_table, table, tag_pairs,
};
use super::remote::{
    CommonArgs, Explained, PageArgs, connect, delete_each, parse_tags, resolve_connection,
};
use super::wait::{WaitFor, report_final, settled_outcome, wait_until};
use crate::api::connections::types::{ConnectionResponse, CreateConnectionRequest};
use crate::client::ListFilter;
use crate::domain::{ConnectionState, FailureReason, Reachability};

/// How much of a message `list -o wide` shows (`show` has all of it).
const WIDE_MESSAGE_CHARS: usize = 80;

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
    #[command(flatten)]
    pub page: PageArgs,
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
    /// An auth info of the project: every check from the connection's queues, and their
    /// re-checks, also log in (login, query, privileges stages); a binding whose login
    /// FAILED is FAILED. RDS, DWS and CSS.
    #[arg(long = "auth-info", value_name = "NAME")]
    pub auth_info: Option<String>,
    /// With --auth-info: the database to log in to.
    #[arg(long, requires = "auth_info")]
    pub database: Option<String>,
    /// With --auth-info: a privilege the jobs need, e.g. `SELECT:orders` (repeatable).
    #[arg(long = "privilege", requires = "auth_info", value_parser = crate::domain::PrivilegeRequest::parse)]
    pub privileges: Vec<crate::domain::PrivilegeRequest>,
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
    /// Also log in (from the server) with this auth info of the project: adds the
    /// login, query and privileges stages.
    #[arg(long = "auth-info", requires = "url", conflicts_with = "user")]
    pub auth_info: Option<String>,
    /// Log in as this user instead, with the password from --password-stdin,
    /// --password-file or a prompt: used once, never stored.
    #[arg(long, requires = "url")]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: super::auth_info::PasswordArgs,
    /// The database to log in to.
    #[arg(long, requires = "url")]
    pub database: Option<String>,
    /// A privilege the job needs, e.g. `SELECT:orders` or `CREATE` (repeatable).
    #[arg(long = "privilege", requires = "url", value_parser = crate::domain::PrivilegeRequest::parse)]
    pub privileges: Vec<crate::domain::PrivilegeRequest>,
    /// NAME=IP: resolve NAME to this IPv4 address in this test, before DNS (and each
    /// queue's hosts file) (repeatable).
    #[arg(long = "host", value_name = "NAME=IP", requires = "url", value_parser = super::queue::parse_host)]
    pub hosts: Vec<crate::api::enhanced::types::EnhancedConnectionHost>,
    /// Test from this queue (where its checks run: its agent, else the server) instead of
    /// from the server (repeatable, at most 10).
    #[arg(long = "queue", value_name = "QUEUE", requires = "url")]
    pub queues: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct SetAuthInfoArgs {
    /// Connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    /// The auth info every check of the connection from its queues, and every re-check,
    /// logs in with; setting it again lets re-checks retry a login that failed.
    #[arg(
        long = "auth-info",
        value_name = "NAME",
        required_unless_present = "none"
    )]
    pub auth_info: Option<String>,
    /// With --auth-info: the database to log in to.
    #[arg(long, requires = "auth_info")]
    pub database: Option<String>,
    /// With --auth-info: a privilege the jobs need, e.g. `SELECT:orders` (repeatable).
    #[arg(long = "privilege", requires = "auth_info", value_parser = crate::domain::PrivilegeRequest::parse)]
    pub privileges: Vec<crate::domain::PrivilegeRequest>,
    /// Name no auth info any more: the checks prove reachability only.
    #[arg(long, conflicts_with = "auth_info")]
    pub none: bool,
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

/// `--state`'s values, checked before anything is sent.
fn parse_state(raw: &str) -> Result<String, String> {
    raw.parse::<ConnectionState>()
        .map(|state| state.as_str().to_owned())
        .map_err(|_| "must be CREATING, ACTIVE, FAILED or DELETED".to_owned())
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
    // The auth info its checks from queues log in with (issue 26), when it names one.
    if let Some(name) = &connection.auth_info_name {
        let database = connection
            .database
            .as_deref()
            .map(|database| format!(" (database {database})"))
            .unwrap_or_default();
        rows.push(("Auth info", format!("{name}{database}")));
    }
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
    details_table(rows)
}

pub async fn list(args: ListArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let filter = ListFilter {
        tags: args.tags,
        states: args.states,
        name: args.name,
        service: args.service,
        limit: args.page.limit,
        offset: args.page.offset,
    };
    let answer = client.list(&filter).await.explained(&settings)?;
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
    let answer = client.show(&id).await.explained(&settings)?;
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
                print_table(&endpoints_table(endpoints, Some("server")));
            }
        }
    }
    Ok(())
}

/// Per-address results of a check, labelled with where it ran when that is known.
fn endpoints_table(
    endpoints: &[crate::api::types::EndpointCheck],
    checked_from: Option<&str>,
) -> Table {
    let mut table = table();
    let mut header = vec!["ENDPOINT", "ADDRESS", "OUTCOME", "REASON", "LATENCY"];
    header.extend(checked_from.map(|_| "CHECKED FROM"));
    header.push("MESSAGE");
    table.set_header(header);
    for check in endpoints {
        let mut row = vec![
            check.endpoint.clone(),
            check.address.clone().unwrap_or_else(|| "-".to_owned()),
            check.outcome.to_string(),
            check
                .reason
                .map_or_else(|| "-".to_owned(), |reason| reason.to_string()),
            format!("{} ms", check.latency_ms),
        ];
        row.extend(checked_from.map(str::to_owned));
        row.push(check.message.clone());
        table.add_row(row);
    }
    table
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

pub async fn create(args: CreateArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let tags = parse_tags(&args.tags)?;
    let request = CreateConnectionRequest {
        name: Some(args.name.clone()),
        service: Some(args.service.clone()),
        security_group_id: Some(args.security_group_id.clone()),
        network_id: Some(args.network_id.clone()),
        url: Some(args.url.clone()),
        tags: (!tags.is_empty()).then_some(tags),
        queues: (!args.queues.is_empty()).then(|| args.queues.clone()),
        auth_info_name: args.auth_info.clone(),
        database: args.database.clone(),
        privileges: args.privileges.clone(),
    };
    let answer = client.create(&request).await.explained(&settings)?;
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
    .explained(&settings)?;
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

/// Each queue's result of a test run from queues; exit 0 only when every queue verified
/// the definition (with a login) or reached it (without).
fn report_queue_tests(
    queues: &[crate::api::types::QueueTestAnswer],
    output: ClientOutput,
    raw: &serde_json::Value,
    logged_in: bool,
) -> Result<(), CliError> {
    if output == ClientOutput::Json {
        print_json(raw);
    } else {
        for queue in queues {
            outln!(
                "queue {} (checked from {}): {} {}",
                queue.queue,
                queue.checked_from.as_deref().unwrap_or("-"),
                queue.connectivity,
                queue.detail
            );
            if !queue.stages.is_empty() {
                print_table(&super::output::stages_table(&queue.stages));
            }
        }
    }
    let failed: Vec<&str> = queues
        .iter()
        .filter(|queue| {
            if logged_in {
                !queue.verified
            } else {
                queue.connectivity != Reachability::Reachable.as_str()
            }
        })
        .map(|queue| queue.queue.as_str())
        .collect();
    CliError::refused_if_any(&failed, |failed| {
        let what = if logged_in { "verified" } else { "reached" };
        format!("not {what} from: {}", failed.join(", "))
    })
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
            let auth_info =
                super::auth_info::inline_auth_info(&client, args.user.as_deref(), &args.password)?;
            client
                .test_definition(&crate::api::types::TestDefinitionRequest {
                    service: args.service.clone(),
                    url: args.url.clone(),
                    auth_info_name: args.auth_info.clone(),
                    auth_info,
                    database: args.database.clone(),
                    privileges: args.privileges.clone(),
                    hosts: args.hosts.clone(),
                    queues: args.queues.clone(),
                })
                .await
        }
    }
    .explained(&settings)?;
    let logged_in = args.auth_info.is_some() || args.user.is_some();
    if !answer.value.queues.is_empty() {
        return report_queue_tests(
            &answer.value.queues,
            args.common.output,
            &answer.raw,
            logged_in,
        );
    }
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
    } else {
        print_table(&endpoints_table(&answer.value.endpoints, None));
        if !answer.value.message.is_empty() {
            outln!("{}", answer.value.message);
        }
        if logged_in {
            print_table(&super::output::stages_table(&answer.value.stages));
        }
    }
    if logged_in {
        return match answer
            .value
            .stages
            .iter()
            .find(|stage| stage.verdict != crate::domain::StageVerdict::Passed)
        {
            None => Ok(()),
            Some(stage) => Err(CliError::new(
                exit::SERVER_REFUSED,
                format!(
                    "not verified: {} {}: {}",
                    stage.stage.as_str(),
                    stage.verdict.as_str(),
                    stage.message
                ),
            )),
        };
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

/// `dsconn set-auth-info`: the auth info a connection's checks from its queues log in
/// with (`PUT .../auth-info`); its bindings are re-checked at once.
pub async fn set_auth_info(args: SetAuthInfoArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve_connection(&client, &settings, &args.id).await?;
    let path = format!(
        "v2.0/{}/datasource-connection/{}/auth-info",
        crate::signing::encode(client.project()),
        crate::signing::encode(&id)
    );
    let body = crate::api::connections::types::SetConnectionAuthInfoRequest {
        auth_info_name: args.auth_info.clone(),
        database: args.database.clone(),
        privileges: args.privileges.clone(),
    };
    let answer: crate::client::Answer<crate::api::types::SuccessResponse> = client
        .request(reqwest::Method::PUT, &path, Some(&body))
        .await
        .explained(&settings)?;
    match (args.common.output, &args.auth_info) {
        (ClientOutput::Json, _) => print_json(&answer.raw),
        (_, Some(name)) => outln!(
            "{} now logs in with auth info {name} from its queues; its bindings are re-checked now",
            args.id
        ),
        (_, None) => outln!(
            "{} logs in no more: its checks prove reachability only",
            args.id
        ),
    }
    Ok(())
}
