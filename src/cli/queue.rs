//! `dsconn queue create | list | show | delete`: DLI's queues, which must exist before a
//! connection can bind them.

use clap::{Args, Subcommand};
use serde_json::json;

use super::exit::{self, CliError};
use super::output::{
    ClientOutput, details_table, local_time, or_dash, print_json, print_table, table,
};
use super::output::{errln, outln};
use super::remote::{CommonArgs, Explained, connect, delete_named, parse_tags};
use crate::api::queues::types::CreateQueueRequest;

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Create a queue.
    Create(CreateQueueArgs),
    /// List the project's queues (every type unless --type says otherwise).
    List(ListQueuesArgs),
    /// Show one queue.
    Show(ShowQueueArgs),
    /// Delete queues that no connection has bound.
    Delete(DeleteQueuesArgs),
    /// Test whether HOST:PORT is reachable from a queue (where its checks run: one of
    /// its agents, else the server); waits for the answer, exit code 1 if unreachable.
    Test(TestQueueArgs),
}

#[derive(Debug, Args)]
pub struct TestQueueArgs {
    pub queue: String,
    /// `host:port`: an IPv4 address, a domain name or `[IPv6]`, with its port.
    pub address: String,
    /// The source's service (RDS, DWS, CSS, ...): adds the protocol stage.
    #[arg(long)]
    pub service: Option<String>,
    /// Log in with this auth info of the project (adds login, query, privileges).
    #[arg(long = "auth-info", conflicts_with = "user")]
    pub auth_info: Option<String>,
    /// Log in as this user instead (test before saving), with the password from
    /// --password-stdin, --password-file or a prompt: used for this test only, never
    /// stored.
    #[arg(long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: super::auth_info::PasswordArgs,
    /// The database to log in to.
    #[arg(long)]
    pub database: Option<String>,
    /// A privilege the job needs, e.g. `SELECT:orders` or `CREATE` (repeatable).
    #[arg(long = "privilege", value_parser = parse_privilege)]
    pub privileges: Vec<crate::domain::PrivilegeRequest>,
    /// NAME=IP: resolve NAME to this IPv4 address in this test, before the queue's hosts
    /// file and DNS (repeatable; try a route before saving it).
    #[arg(long = "host", value_name = "NAME=IP", value_parser = parse_host)]
    pub hosts: Vec<crate::api::enhanced::types::EnhancedConnectionHost>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_privilege(raw: &str) -> Result<crate::domain::PrivilegeRequest, String> {
    crate::domain::PrivilegeRequest::parse(raw)
}

/// `NAME=IP` (the server checks both).
pub(super) fn parse_host(
    raw: &str,
) -> Result<crate::api::enhanced::types::EnhancedConnectionHost, String> {
    let (name, ip) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=IP, got {raw:?}"))?;
    Ok(crate::api::enhanced::types::EnhancedConnectionHost {
        name: name.trim().to_owned(),
        ip: ip.trim().to_owned(),
    })
}

#[derive(Debug, Args)]
pub struct CreateQueueArgs {
    /// 1-128 letters, digits and `_` (stored in lower case).
    pub name: String,
    /// The queue's CUs (stored and echoed).
    #[arg(long, default_value_t = 16)]
    pub cu_count: i64,
    /// `sql` or `general`.
    #[arg(long = "type", default_value = "sql")]
    pub queue_type: String,
    #[arg(long)]
    pub description: Option<String>,
    /// The elastic resource pool it belongs to (stored and echoed).
    #[arg(long)]
    pub pool: Option<String>,
    /// A tag as key=value (repeat for more).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ListQueuesArgs {
    /// `sql`, `general` or `all`.
    #[arg(long = "type", default_value = "all")]
    pub queue_type: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ShowQueueArgs {
    pub name: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DeleteQueuesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn run(command: QueueCommand) -> Result<(), CliError> {
    match command {
        QueueCommand::Create(args) => create(args).await,
        QueueCommand::List(args) => list(args).await,
        QueueCommand::Show(args) => show(args).await,
        QueueCommand::Delete(args) => delete(args).await,
        QueueCommand::Test(args) => test(args).await,
    }
}

async fn create(args: CreateQueueArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let tags = parse_tags(&args.tags)?;
    let request = CreateQueueRequest {
        queue_name: Some(json!(args.name)),
        cu_count: Some(json!(args.cu_count)),
        queue_type: Some(json!(args.queue_type)),
        description: args.description.map(|text| json!(text)),
        elastic_resource_pool_name: args.pool.map(|pool| json!(pool)),
        tags: (!tags.is_empty()).then(|| json!(tags)),
        ..CreateQueueRequest::default()
    };
    let answer = client.create_queue(&request).await.explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!("created queue {}", answer.value.queue_name),
    }
    Ok(())
}

async fn list(args: ListQueuesArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client
        .list_queues(&args.queue_type)
        .await
        .explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
        return Ok(());
    }
    let queues = answer.value.queues;
    if queues.is_empty() {
        errln!("no queues in project {}", settings.project);
        return Ok(());
    }
    let wide = args.common.output == ClientOutput::Wide;
    let mut table = table();
    let mut header = vec!["NAME", "TYPE", "CU", "DECLARED", "CREATED"];
    if wide {
        header.extend(["POOL", "RESOURCE ID", "DESCRIPTION"]);
    }
    table.set_header(header);
    for queue in queues {
        let mut row = vec![
            queue.queue_name,
            queue.queue_type,
            queue
                .cu_count
                .map_or_else(|| "-".to_owned(), |cu| cu.to_string()),
            if queue.declared { "yes" } else { "no" }.to_owned(),
            if queue.declared {
                "-".to_owned()
            } else {
                local_time(queue.create_time)
            },
        ];
        if wide {
            row.extend([
                or_dash(
                    queue
                        .echo
                        .elastic_resource_pool_name
                        .as_deref()
                        .unwrap_or_default(),
                ),
                or_dash(queue.resource_id.as_deref().unwrap_or_default()),
                or_dash(queue.echo.description.as_deref().unwrap_or_default()),
            ]);
        }
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

async fn show(args: ShowQueueArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client.show_queue(&args.name).await.explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
        return Ok(());
    }
    let queue = answer.value;
    let text = |value: Option<&str>| or_dash(value.unwrap_or_default());
    let rows = [
        ("Name", queue.queue_name.clone()),
        ("Type", queue.queue_type.clone()),
        (
            "CU",
            queue
                .cu_count
                .map_or_else(|| "-".to_owned(), |cu| cu.to_string()),
        ),
        (
            "Declared",
            if queue.declared {
                "yes (--queue)"
            } else {
                "no"
            }
            .to_owned(),
        ),
        ("Owner", queue.owner.clone()),
        ("Resource id", text(queue.resource_id.as_deref())),
        ("Pool", text(queue.elastic_resource_pool_name.as_deref())),
        ("Description", text(queue.description.as_deref())),
        (
            "Created",
            if queue.declared {
                "-".to_owned()
            } else {
                local_time(queue.create_time)
            },
        ),
        (
            "Agents",
            if queue.agents.is_empty() {
                "none: the server checks this queue".to_owned()
            } else {
                queue
                    .agents
                    .iter()
                    .map(|agent| {
                        format!(
                            "{} ({}, {}, last seen {})",
                            agent.name,
                            agent.version,
                            agent.address,
                            local_time(agent.last_seen)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            },
        ),
    ];
    print_table(&details_table(rows));
    Ok(())
}

async fn delete(args: DeleteQueuesArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    delete_named(
        &args.names,
        args.common.output,
        &settings,
        ("queue", "queue(s)"),
        |name| client.delete_queue(name),
    )
    .await
}

/// How often `queue test` reads the answer while the test runs.
const TEST_POLL: std::time::Duration = std::time::Duration::from_millis(250);

async fn test(args: TestQueueArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let auth_info =
        super::auth_info::inline_auth_info(&client, args.user.as_deref(), &args.password)?;
    let body = crate::api::queue_tests::CreateConnectivityTaskRequest {
        address: args.address.clone(),
        service: args.service.clone(),
        auth_info_name: args.auth_info.clone(),
        auth_info,
        database: args.database.clone(),
        privileges: args.privileges.clone(),
        hosts: args.hosts.clone(),
    };
    let created = client
        .create_queue_test(&args.queue, &body)
        .await
        .explained(&settings)?;
    let task_id = created.value.task_id;
    let give_up = tokio::time::Instant::now() + args.timeout;
    let answer = loop {
        let answer = client
            .show_queue_test(&args.queue, task_id)
            .await
            .explained(&settings)?;
        if answer.value.connectivity != crate::api::queue_tests::CHECKING {
            break answer;
        }
        if tokio::time::Instant::now() >= give_up {
            let why = or_dash(&answer.value.detail);
            return Err(CliError::new(
                exit::TIMED_OUT,
                format!(
                    "no answer within {:?} (task {task_id}): {why}",
                    args.timeout
                ),
            ));
        }
        tokio::time::sleep(TEST_POLL).await;
    };
    let test = &answer.value;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
    } else {
        outln!(
            "{} from queue {}: {} ({})",
            test.address,
            args.queue,
            test.connectivity,
            or_dash(test.checked_from.as_deref().unwrap_or_default())
        );
        outln!("{}", test.detail);
        if !test.stages.is_empty() {
            print_table(&super::output::stages_table(&test.stages));
        }
    }
    // With stages, success is every stage passing; DLI's plain test, reachability.
    let staged = !test.stages.is_empty();
    if staged && test.verified {
        Ok(())
    } else if staged {
        let failed = test
            .stages
            .iter()
            .find(|stage| stage.verdict == crate::domain::StageVerdict::Failed);
        Err(CliError::new(
            exit::SERVER_REFUSED,
            match failed {
                Some(stage) => format!(
                    "{} from queue {} is not verified: {} failed: {}",
                    test.address,
                    args.queue,
                    stage.stage.as_str(),
                    stage.message
                ),
                None => format!(
                    "{} from queue {} is not verified: some stages did not run",
                    test.address, args.queue
                ),
            },
        ))
    } else if test.connectivity == "REACHABLE" {
        Ok(())
    } else {
        Err(CliError::new(
            exit::SERVER_REFUSED,
            format!(
                "{} is not reachable from queue {}",
                test.address, args.queue
            ),
        ))
    }
}
