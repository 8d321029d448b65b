//! `dsconn pool create | list | show | delete | add-queue`: DLI's elastic resource pools,
//! which, like queues, must exist before an enhanced connection can bind them.

use clap::{Args, Subcommand};
use serde_json::json;

use super::exit::{self, CliError};
use super::output::{
    ClientOutput, details_table, local_time, or_dash, print_json, print_table, table,
};
use super::output::{errln, outln};
use super::remote::{CommonArgs, Explained, connect, delete_named};
use crate::api::pools::types::{CreatePoolRequest, PoolItem};

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create an elastic resource pool.
    Create(CreatePoolArgs),
    /// List the project's pools.
    List(ListPoolsArgs),
    /// Show one pool, with its queues and their scaling policies.
    Show(ShowPoolArgs),
    /// Delete pools that no enhanced connection has bound.
    Delete(DeletePoolsArgs),
    /// Move a queue that is in no pool into a pool.
    AddQueue(AddQueueArgs),
}

#[derive(Debug, Args)]
pub struct CreatePoolArgs {
    /// 1-128 letters, digits and `_` (stored in lower case).
    pub name: String,
    /// The least CUs (16-32000; stored and echoed).
    #[arg(long, default_value_t = 16)]
    pub min_cu: i64,
    /// The most CUs (16-32000, at least --min-cu).
    #[arg(long, default_value_t = 64)]
    pub max_cu: i64,
    /// The pool's network (default 172.16.0.0/12): it must not overlap the networks its
    /// enhanced connections reach.
    #[arg(long)]
    pub cidr: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ListPoolsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ShowPoolArgs {
    pub name: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DeletePoolsArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct AddQueueArgs {
    pub pool: String,
    pub queue: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn run(command: PoolCommand) -> Result<(), CliError> {
    match command {
        PoolCommand::Create(args) => create(args).await,
        PoolCommand::List(args) => list(args).await,
        PoolCommand::Show(args) => show(args).await,
        PoolCommand::Delete(args) => delete(args).await,
        PoolCommand::AddQueue(args) => add_queue(args).await,
    }
}

async fn create(args: CreatePoolArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let request = CreatePoolRequest {
        elastic_resource_pool_name: Some(json!(args.name)),
        min_cu: Some(json!(args.min_cu)),
        max_cu: Some(json!(args.max_cu)),
        cidr_in_vpc: args.cidr.map(|cidr| json!(cidr)),
        description: args.description.map(|text| json!(text)),
        ..CreatePoolRequest::default()
    };
    let answer = client.create_pool(&request).await.explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!(
            "created elastic resource pool {}",
            answer.value.elastic_resource_pool_name
        ),
    }
    Ok(())
}

/// Every pool of the project (pages of 100), and the raw pages.
async fn all_pools(
    client: &crate::client::Client,
    settings: &crate::cli::settings::ClientSettings,
    name: Option<&str>,
) -> Result<(Vec<PoolItem>, Vec<serde_json::Value>), CliError> {
    let mut pools = Vec::new();
    let mut raw = Vec::new();
    loop {
        let answer = client
            .list_pools(name, pools.len())
            .await
            .explained(settings)?;
        let page = answer.value.elastic_resource_pools;
        let done = page.is_empty() || pools.len() + page.len() >= answer.value.count as usize;
        pools.extend(page);
        raw.push(answer.raw);
        if done {
            return Ok((pools, raw));
        }
    }
}

async fn list(args: ListPoolsArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let (pools, raw) = all_pools(&client, &settings, None).await?;
    if args.common.output == ClientOutput::Json {
        let all: Vec<serde_json::Value> = raw
            .iter()
            .flat_map(|page| {
                page["elastic_resource_pools"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        print_json(&serde_json::Value::Array(all));
        return Ok(());
    }
    if pools.is_empty() {
        errln!("no elastic resource pools in project {}", settings.project);
        return Ok(());
    }
    let wide = args.common.output == ClientOutput::Wide;
    let mut table = table();
    let mut header = vec!["NAME", "STATUS", "CU", "CIDR", "QUEUES", "CREATED"];
    if wide {
        header.extend(["RESOURCE ID", "DESCRIPTION"]);
    }
    table.set_header(header);
    for pool in pools {
        let mut row = vec![
            pool.elastic_resource_pool_name,
            pool.status,
            format!("{}-{}", pool.min_cu, pool.max_cu),
            pool.cidr_in_vpc,
            or_dash(&pool.queues.join(",")),
            local_time(pool.create_time),
        ];
        if wide {
            row.extend([
                pool.resource_id,
                or_dash(pool.description.as_deref().unwrap_or_default()),
            ]);
        }
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

async fn show(args: ShowPoolArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let wanted = args.name.to_ascii_lowercase();
    let (pools, _) = all_pools(&client, &settings, Some(&wanted)).await?;
    let Some(pool) = pools
        .into_iter()
        .find(|pool| pool.elastic_resource_pool_name == wanted)
    else {
        return Err(CliError::new(
            exit::SERVER_REFUSED,
            format!("There is no elastic resource pool named {wanted}"),
        ));
    };
    let queues = client
        .list_pool_queues(&wanted)
        .await
        .explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        let mut shown = serde_json::to_value(&pool).unwrap_or_default();
        shown["pool_queues"] = queues.raw["queues"].clone();
        print_json(&shown);
        return Ok(());
    }
    let policies = |policies: &[crate::api::pools::types::QueueScalingPolicy]| {
        if policies.is_empty() {
            return "no scaling policies".to_owned();
        }
        policies
            .iter()
            .map(|p| {
                format!(
                    "{}-{} {}-{} CU (priority {})",
                    p.impact_start_time, p.impact_stop_time, p.min_cu, p.max_cu, p.priority
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let rows = [
        ("Name", pool.elastic_resource_pool_name.clone()),
        ("Status", pool.status.clone()),
        ("CU", format!("{}-{}", pool.min_cu, pool.max_cu)),
        ("CIDR", pool.cidr_in_vpc.clone()),
        ("Resource id", pool.resource_id.clone()),
        (
            "Description",
            or_dash(pool.description.as_deref().unwrap_or_default()),
        ),
        ("Created", local_time(pool.create_time)),
        (
            "Queues",
            if queues.value.queues.is_empty() {
                "none".to_owned()
            } else {
                queues
                    .value
                    .queues
                    .iter()
                    .map(|queue| {
                        format!(
                            "{} ({})",
                            queue.queue_name,
                            policies(&queue.queue_scaling_policies)
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

async fn delete(args: DeletePoolsArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    delete_named(
        &args.names,
        args.common.output,
        &settings,
        ("elastic resource pool", "pool(s)"),
        |name| client.delete_pool(name),
    )
    .await
}

async fn add_queue(args: AddQueueArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client
        .add_pool_queue(&args.pool, &args.queue)
        .await
        .explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!(
            "queue {} is in elastic resource pool {}",
            args.queue.to_ascii_lowercase(),
            args.pool.to_ascii_lowercase()
        ),
    }
    Ok(())
}
