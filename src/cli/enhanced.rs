//! `dsconn enhanced list | show | create | delete | bind | unbind | hosts | route | share |
//! unshare | privileges`: DLI's enhanced datasource connections (a resource apart from
//! the classic connections).

use clap::{Args, Subcommand};

use super::exit::CliError;
use super::output::{ClientOutput, local_time, or_dash, print_json, print_table, table, tag_pairs};
use super::output::{errln, outln};
use super::remote::{CommonArgs, Explained, PageArgs, connect, delete_each, explain, id_or_name};
use crate::api::enhanced::types::{
    CreateEnhancedConnectionRequest, CreateEnhancedRouteRequest, EnhancedBindingsRequest,
    EnhancedConnection, EnhancedConnectionHost, EnhancedConnectionResource,
    UpdateEnhancedConnectionRequest,
};
use crate::api::sharing::types::{AuthorizationRequest, PrivilegeInput};
use crate::api::types::TagInput;
use crate::cli::settings::ClientSettings;
use crate::client::{Client, EnhancedListFilter};

#[derive(Debug, Subcommand)]
pub enum EnhancedCommand {
    /// List the project's enhanced connections (ACTIVE ones unless --status says otherwise).
    List(ListEnhancedArgs),
    /// Show one enhanced connection: its bindings, hosts and routes.
    Show(EnhancedIdArgs),
    /// Create an enhanced connection; each --route is added after it, one call each.
    Create(CreateEnhancedArgs),
    /// Delete enhanced connections (their bindings go with them).
    Delete(DeleteEnhancedArgs),
    /// Bind queues and/or elastic resource pools of the project.
    Bind(BindingsArgs),
    /// Unbind queues and/or elastic resource pools of the project, whatever their status.
    Unbind(BindingsArgs),
    /// Replace the connection's host entries (no --host clears them).
    Hosts(HostsArgs),
    /// Add or delete a custom route.
    Route {
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// Let other projects bind their queues to this connection (BIND_QUEUE).
    Share(ShareArgs),
    /// Take back what `share` gave the projects.
    Unshare(ShareArgs),
    /// List the projects the connection is shared with.
    Privileges(EnhancedIdArgs),
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// Enhanced connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    /// A project to share with, or to take the share back from (repeat for more).
    #[arg(long = "project-id", value_name = "PROJECT_ID", required = true)]
    pub projects: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Add a route: NAME (1-64 of letters, digits, `_`, `-`) to CIDR.
    Add(AddRouteArgs),
    /// Delete a route by name.
    Delete(DeleteRouteArgs),
}

#[derive(Debug, Args)]
pub struct ListEnhancedArgs {
    /// `ACTIVE` (the server's default) or `DELETED` (any case).
    #[arg(long, value_parser = parse_status)]
    pub status: Option<String>,
    /// Only the connection with exactly this name.
    #[arg(long)]
    pub name: Option<String>,
    /// Only connections with this tag, as key=value (repeat: all must match). Deleted
    /// connections have no tags, so this cannot be combined with `--status DELETED`.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct EnhancedIdArgs {
    /// Enhanced connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DeleteEnhancedArgs {
    /// Enhanced connection ids or names.
    #[arg(required = true, value_name = "ID|NAME")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CreateEnhancedArgs {
    /// 1-64 letters, digits, `_` and `-`; unique among the project's live ones.
    pub name: String,
    /// The data source's VPC id.
    #[arg(long)]
    pub vpc: String,
    /// The data source's subnet id.
    #[arg(long)]
    pub subnet: String,
    /// A queue to bind (repeat for more).
    #[arg(long = "queue", value_name = "QUEUE")]
    pub queues: Vec<String>,
    /// An elastic resource pool to bind (repeat for more).
    #[arg(long = "pool", value_name = "POOL")]
    pub pools: Vec<String>,
    /// A host entry as name=ip (repeat for more).
    #[arg(long = "host", value_name = "NAME=IP")]
    pub hosts: Vec<String>,
    /// A custom route as name=cidr (repeat for more), added after the create.
    #[arg(long = "route", value_name = "NAME=CIDR")]
    pub routes: Vec<String>,
    /// A tag as key=value (repeat for more).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// The route table of the data source's subnet.
    #[arg(long)]
    pub routetable: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct BindingsArgs {
    /// Enhanced connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    /// A queue of the project (repeat for more).
    #[arg(long = "queue", value_name = "QUEUE")]
    pub queues: Vec<String>,
    /// An elastic resource pool of the project (repeat for more).
    #[arg(long = "pool", value_name = "POOL")]
    pub pools: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct HostsArgs {
    /// Enhanced connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    /// A host entry as name=ip (repeat for more); none clears the list.
    #[arg(long = "host", value_name = "NAME=IP")]
    pub hosts: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct AddRouteArgs {
    /// Enhanced connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    pub name: String,
    /// An IPv4 or IPv6 network, e.g. 10.169.0.0/24 (a bare address is a /32 or /128).
    pub cidr: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DeleteRouteArgs {
    /// Enhanced connection id or name.
    #[arg(value_name = "ID|NAME")]
    pub id: String,
    pub name: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `--status`'s values, checked before anything is sent.
fn parse_status(raw: &str) -> Result<String, String> {
    match raw.to_ascii_uppercase().as_str() {
        status @ ("ACTIVE" | "DELETED") => Ok(status.to_owned()),
        _ => Err("must be ACTIVE or DELETED".to_owned()),
    }
}

/// The id of an enhanced connection given by id or by name: a UUID is an id; a name
/// must be that of exactly one live connection of the project.
async fn resolve(
    client: &Client,
    settings: &ClientSettings,
    raw: &str,
) -> Result<String, CliError> {
    id_or_name(raw, settings, "live enhanced connection", || async {
        let filter = EnhancedListFilter {
            name: Some(raw.to_owned()),
            limit: Some(0),
            ..EnhancedListFilter::default()
        };
        let listed = client.list_enhanced(&filter).await.explained(settings)?;
        Ok(listed
            .value
            .connections
            .iter()
            .filter(|connection| connection.name == raw)
            .map(|connection| (connection.id.clone(), connection.status.clone()))
            .collect())
    })
    .await
}

pub async fn run(command: EnhancedCommand) -> Result<(), CliError> {
    match command {
        EnhancedCommand::List(args) => list(args).await,
        EnhancedCommand::Show(args) => show(args).await,
        EnhancedCommand::Create(args) => create(args).await,
        EnhancedCommand::Delete(args) => delete(args).await,
        EnhancedCommand::Bind(args) => bindings(args, Change::Bind).await,
        EnhancedCommand::Unbind(args) => bindings(args, Change::Unbind).await,
        EnhancedCommand::Hosts(args) => hosts(args).await,
        EnhancedCommand::Route {
            command: RouteCommand::Add(args),
        } => add_route(args).await,
        EnhancedCommand::Route {
            command: RouteCommand::Delete(args),
        } => delete_route(args).await,
        EnhancedCommand::Share(args) => share(args, true).await,
        EnhancedCommand::Unshare(args) => share(args, false).await,
        EnhancedCommand::Privileges(args) => privileges(args).await,
    }
}

/// `key=value` of a flag, split at the first `=`.
fn pair<'a>(flag: &str, raw: &'a str, shape: &str) -> Result<(&'a str, &'a str), CliError> {
    raw.split_once('=')
        .ok_or_else(|| CliError::usage(format!("{flag} {raw:?} must be {shape}")))
}

fn parse_hosts(raw: &[String]) -> Result<Vec<EnhancedConnectionHost>, CliError> {
    raw.iter()
        .map(|entry| {
            let (name, ip) = pair("--host", entry, "name=ip")?;
            Ok(EnhancedConnectionHost {
                name: name.to_owned(),
                ip: ip.to_owned(),
            })
        })
        .collect()
}

fn parse_tags(raw: &[String]) -> Result<Vec<TagInput>, CliError> {
    raw.iter()
        .map(|entry| {
            let (key, value) = pair("--tag", entry, "key=value")?;
            Ok(TagInput {
                key: Some(key.to_owned()),
                value: Some(value.to_owned()),
            })
        })
        .collect()
}

/// `name:STATUS,...` of bindings, `-` for none.
fn bindings_text(bindings: &[EnhancedConnectionResource]) -> String {
    or_dash(
        &bindings
            .iter()
            .map(|binding| format!("{}:{}", binding.name, binding.status))
            .collect::<Vec<_>>()
            .join(","),
    )
}

async fn list(args: ListEnhancedArgs) -> Result<(), CliError> {
    if args.status.as_deref() == Some("DELETED") && !args.tags.is_empty() {
        return Err(CliError::usage(
            "--tag cannot match with --status DELETED: an enhanced connection's tags are \
             deleted with it (list DELETED ones by --name instead)",
        ));
    }
    let (client, settings) = connect(&args.common.connection)?;
    let filter = EnhancedListFilter {
        status: args.status,
        name: args.name,
        tags: args.tags,
        limit: args.page.limit,
        offset: args.page.offset,
    };
    let answer = client.list_enhanced(&filter).await.explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
        return Ok(());
    }
    let connections = answer.value.connections;
    if connections.is_empty() {
        errln!("no enhanced connections in project {}", settings.project);
        return Ok(());
    }
    let wide = args.common.output == ClientOutput::Wide;
    let mut table = table();
    let mut header = vec![
        "ID", "NAME", "STATUS", "QUEUES", "POOLS", "HOSTS", "ROUTES", "CREATED",
    ];
    if wide {
        header.extend(["VPC", "SUBNET", "SHARED", "TAGS"]);
    }
    table.set_header(header);
    for connection in &connections {
        let mut row = vec![
            connection.id.clone(),
            connection.name.clone(),
            connection.status.clone(),
            bindings_text(&connection.available_queue_info),
            bindings_text(&connection.elastic_resource_pools),
            connection
                .hosts_omitted
                .unwrap_or(connection.hosts.len() as u64)
                .to_string(),
            connection.routes.len().to_string(),
            local_time(connection.create_time),
        ];
        if wide {
            // One tag call per connection: only the wide table pays for it.
            let tags = if connection.status == "DELETED" {
                "-".to_owned()
            } else {
                tags_text(&client, &settings, &connection.id).await?
            };
            row.extend([
                or_dash(&connection.dest_vpc_id),
                or_dash(&connection.dest_network_id),
                shared_text(connection).to_owned(),
                tags,
            ]);
        }
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

/// The connection's tags as `key=value,...` (DLI's v3 tag API).
async fn tags_text(
    client: &Client,
    settings: &ClientSettings,
    id: &str,
) -> Result<String, CliError> {
    let answer = client.enhanced_tags(id).await.explained(settings)?;
    Ok(tag_pairs(&answer.value.tags))
}

fn shared_text(connection: &EnhancedConnection) -> &'static str {
    match connection.is_privis {
        Some(true) => "no",
        Some(false) => "yes, with other projects",
        // Only a grantee is told nothing about the owner's grants.
        None => "-",
    }
}

fn connection_details(connection: &EnhancedConnection, tags: String) -> comfy_table::Table {
    let shared = shared_text(connection);
    let rows = [
        ("Name", connection.name.clone()),
        ("ID", connection.id.clone()),
        ("Status", connection.status.clone()),
        ("VPC", or_dash(&connection.dest_vpc_id)),
        ("Subnet", or_dash(&connection.dest_network_id)),
        ("Shared", shared.to_owned()),
        ("Tags", tags),
        ("Created", local_time(connection.create_time)),
    ];
    super::output::details_table(rows)
}

fn resources_table(connection: &EnhancedConnection) -> comfy_table::Table {
    let mut table = table();
    table.set_header(vec!["KIND", "NAME", "STATUS", "CHECKED FROM", "ERROR"]);
    let kinds = [
        ("queue", &connection.available_queue_info),
        ("pool", &connection.elastic_resource_pools),
    ];
    for (kind, bindings) in kinds {
        for binding in bindings {
            table.add_row(vec![
                kind.to_owned(),
                binding.name.clone(),
                binding.status.clone(),
                or_dash(binding.checked_from.as_deref().unwrap_or_default()),
                or_dash(&binding.err_msg),
            ]);
        }
    }
    table
}

async fn show(args: EnhancedIdArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let answer = client.show_enhanced(&id).await.explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
        return Ok(());
    }
    let connection = &answer.value.connection;
    // A grantee may not read the owner's tags: it sees `-`.
    let tags = match client.enhanced_tags(&id).await {
        Ok(answer) => tag_pairs(&answer.value.tags),
        Err(_) => "-".to_owned(),
    };
    print_table(&connection_details(connection, tags));
    if args.common.output == ClientOutput::Wide {
        let privileges = match client.enhanced_privileges(&id).await {
            Ok(answer) => or_dash(
                &answer
                    .value
                    .privileges
                    .iter()
                    .map(|grant| grant.project_id.clone())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Err(_) => "-".to_owned(),
        };
        let mut extra = table();
        extra.add_row(vec!["Shared with:".to_owned(), privileges]);
        print_table(&extra);
    }
    outln!();
    if connection.available_queue_info.is_empty() && connection.elastic_resource_pools.is_empty() {
        outln!("no bound queues or pools");
    } else {
        print_table(&resources_table(connection));
    }
    outln!();
    if connection.hosts.is_empty() {
        outln!("no host entries");
    } else {
        let mut hosts = table();
        hosts.set_header(vec!["HOST", "IP"]);
        for host in &connection.hosts {
            hosts.add_row(vec![host.name.clone(), host.ip.clone()]);
        }
        print_table(&hosts);
    }
    outln!();
    if connection.routes.is_empty() {
        outln!("no routes");
    } else {
        let mut routes = table();
        routes.set_header(vec!["ROUTE", "CIDR", "CREATED"]);
        for route in &connection.routes {
            routes.add_row(vec![
                route.name.clone(),
                route.cidr.clone(),
                local_time(route.create_time),
            ]);
        }
        print_table(&routes);
    }
    Ok(())
}

async fn create(args: CreateEnhancedArgs) -> Result<(), CliError> {
    // Every flag is read before anything is sent: a typo changes nothing.
    let hosts = parse_hosts(&args.hosts)?;
    let tags = parse_tags(&args.tags)?;
    let routes = args
        .routes
        .iter()
        .map(|raw| pair("--route", raw, "name=cidr"))
        .collect::<Result<Vec<_>, _>>()?;
    let (client, settings) = connect(&args.common.connection)?;
    let request = CreateEnhancedConnectionRequest {
        name: Some(args.name.clone()),
        dest_vpc_id: Some(args.vpc),
        dest_network_id: Some(args.subnet),
        elastic_resource_pools: (!args.pools.is_empty()).then_some(args.pools),
        queues: (!args.queues.is_empty()).then_some(args.queues),
        routetable_id: args.routetable,
        hosts: (!hosts.is_empty()).then_some(hosts),
        tags: (!tags.is_empty()).then_some(tags),
    };
    let answer = client
        .create_enhanced(&request)
        .await
        .explained(&settings)?;
    let id = answer.value.connection_id.clone();
    let json = args.common.output == ClientOutput::Json;
    if json {
        print_json(&answer.raw);
    } else {
        outln!("created {} ({id})", args.name);
    }
    // As Terraform does: one E8 call per route once the connection exists.
    let mut failed = Vec::new();
    for (name, cidr) in &routes {
        let route = CreateEnhancedRouteRequest {
            name: Some((*name).to_owned()),
            cidr: Some((*cidr).to_owned()),
        };
        match client.add_enhanced_route(&id, &route).await {
            Ok(_) if !json => outln!("added route {name} ({cidr})"),
            Ok(_) => {}
            Err(error) => {
                let error = explain(error, &settings);
                errln!("dsconn: route {name}: {error}");
                failed.push(*name);
            }
        }
    }
    CliError::refused_if_any(&failed, |failed| {
        format!(
            "connection {id} was created, but {} of {} route(s) were not added: {}",
            failed.len(),
            routes.len(),
            failed.join(", ")
        )
    })
}

async fn delete(args: DeleteEnhancedArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let mut ids = Vec::with_capacity(args.ids.len());
    for raw in &args.ids {
        ids.push(resolve(&client, &settings, raw).await?);
    }
    delete_each(&ids, args.common.output, &settings, |id| {
        client.delete_enhanced(id)
    })
    .await
}

/// `share` grants BIND_QUEUE to each project, `unshare` revokes it: one call per
/// project (RunAuthorizationAction names one project).
async fn share(args: ShareArgs, grant: bool) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let mut answers = Vec::new();
    for project in &args.projects {
        let request = AuthorizationRequest {
            project_id: Some(project.clone()),
            user_name: None,
            action: Some(if grant { "grant" } else { "revoke" }.to_owned()),
            privileges: Some(vec![PrivilegeInput {
                object: Some(format!("edsconnections.{id}")),
                privileges: Some(vec!["BIND_QUEUE".to_owned()]),
            }]),
        };
        let answer = client.authorize(&request).await.explained(&settings)?;
        match args.common.output {
            ClientOutput::Json => answers.push(answer.raw),
            _ if grant => outln!("shared {} with project {project}", args.id),
            _ => outln!("unshared {} from project {project}", args.id),
        }
    }
    if args.common.output == ClientOutput::Json {
        print_json(&serde_json::Value::Array(answers));
    }
    Ok(())
}

async fn privileges(args: EnhancedIdArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let answer = client.enhanced_privileges(&id).await.explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
        return Ok(());
    }
    if answer.value.privileges.is_empty() {
        errln!(
            "{} is not shared; share it with dsconn enhanced share {} --project-id PROJECT",
            args.id,
            args.id
        );
        return Ok(());
    }
    let mut table = table();
    table.set_header(vec!["PROJECT", "PRIVILEGES"]);
    for grant in &answer.value.privileges {
        table.add_row(vec![grant.project_id.clone(), grant.privileges.join(",")]);
    }
    print_table(&table);
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Bind,
    Unbind,
}

async fn bindings(args: BindingsArgs, change: Change) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let names = args
        .queues
        .iter()
        .map(|queue| format!("queue {queue}"))
        .chain(args.pools.iter().map(|pool| format!("pool {pool}")))
        .collect::<Vec<_>>()
        .join(", ");
    // Empty lists are sent as they are: the server says what is missing.
    let request = EnhancedBindingsRequest {
        queues: Some(args.queues),
        elastic_resource_pools: Some(args.pools),
    };
    let answer = match change {
        Change::Bind => client.bind_enhanced(&id, &request).await,
        Change::Unbind => client.unbind_enhanced(&id, &request).await,
    }
    .explained(&settings)?;
    match (args.common.output, change) {
        (ClientOutput::Json, _) => print_json(&answer.raw),
        (_, Change::Bind) => outln!("bound {names} to {}", args.id),
        (_, Change::Unbind) => outln!("unbound {names} from {}", args.id),
    }
    Ok(())
}

async fn hosts(args: HostsArgs) -> Result<(), CliError> {
    let hosts = parse_hosts(&args.hosts)?;
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let count = hosts.len();
    let request = UpdateEnhancedConnectionRequest { hosts: Some(hosts) };
    let answer = client
        .update_enhanced_hosts(&id, &request)
        .await
        .explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ if count == 0 => outln!("cleared the host entries of {}", args.id),
        _ => outln!("{} now has {count} host entries", args.id),
    }
    Ok(())
}

async fn add_route(args: AddRouteArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let request = CreateEnhancedRouteRequest {
        name: Some(args.name.clone()),
        cidr: Some(args.cidr.clone()),
    };
    let answer = client
        .add_enhanced_route(&id, &request)
        .await
        .explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!("added route {} ({}) to {}", args.name, args.cidr, args.id),
    }
    Ok(())
}

async fn delete_route(args: DeleteRouteArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let id = resolve(&client, &settings, &args.id).await?;
    let answer = client
        .delete_enhanced_route(&id, &args.name)
        .await
        .explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!("deleted route {} of {}", args.name, args.id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{pair, parse_hosts};

    #[test]
    fn flag_pairs_split_at_the_first_equals_sign_and_need_one() {
        assert_eq!(
            pair("--route", "r1=10.0.0.0/8", "name=cidr").ok(),
            Some(("r1", "10.0.0.0/8"))
        );
        assert_eq!(pair("--tag", "k=a=b", "key=value").ok(), Some(("k", "a=b")));
        let error = parse_hosts(&["db".to_owned()]).expect_err("no ip");
        assert_eq!(error.code, crate::cli::exit::USAGE);
        assert!(
            error.message.contains("--host \"db\" must be name=ip"),
            "{}",
            error.message
        );
    }
}
