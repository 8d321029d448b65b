//! What every client command that talks to a server shares: its common flags, connecting,
//! advice for errors, a resource named by id or name, and the delete loops.

use clap::Args;

use super::exit::{self, CliError};
use super::output::{ClientOutput, errln, outln, print_json};
use super::settings::{ClientSettings, ConnectionArgs};
use crate::api::connections::types::ConnectionResponse;
use crate::api::types::TagInput;
use crate::client::{Answer, Client, ClientError, ListFilter};
use crate::domain::ConnectionState;

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

/// Connects using the resolved settings.
pub(super) fn connect(args: &ConnectionArgs) -> Result<(Client, ClientSettings), CliError> {
    let settings = args.resolve()?;
    let client = Client::new(
        &settings.endpoint,
        &settings.project,
        settings.auth.clone(),
        settings.ca_cert.as_deref(),
    )
    .map_err(|error| CliError::usage(error.to_string()))?;
    Ok((client, settings))
}

/// `--limit` and `--offset` of a list.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// At most this many (for enhanced connections the server's default is 100; 0 means
    /// all).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many first.
    #[arg(long)]
    pub offset: Option<u32>,
}

/// `.explained(&settings)?` on a client call: its error as advice and an exit code.
pub(super) trait Explained<T> {
    fn explained(self, settings: &ClientSettings) -> Result<T, CliError>;
}

impl<T> Explained<T> for Result<T, ClientError> {
    fn explained(self, settings: &ClientSettings) -> Result<T, CliError> {
        self.map_err(|error| explain(error, settings))
    }
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

/// The id of a connection given by id or by name. A UUID is taken as an id; a name
/// must match exactly one connection that is not DELETED (or, if all are DELETED,
/// exactly one connection); otherwise the error lists the candidates' ids.
pub(super) async fn resolve_connection(
    client: &Client,
    settings: &ClientSettings,
    raw: &str,
) -> Result<String, CliError> {
    id_or_name(raw, settings, "connection", || async {
        let filter = ListFilter {
            name: Some(raw.to_owned()),
            ..ListFilter::default()
        };
        let listed = client.list(&filter).await.explained(settings)?.value;
        let named: Vec<&ConnectionResponse> = listed
            .connections
            .iter()
            .filter(|connection| connection.name == raw)
            .collect();
        let live: Vec<&ConnectionResponse> = named
            .iter()
            .copied()
            .filter(|connection| connection.state != ConnectionState::Deleted)
            .collect();
        let candidates = if live.is_empty() { named } else { live };
        Ok(candidates
            .iter()
            .map(|connection| {
                (
                    connection.connection_id.clone(),
                    connection.state.to_string(),
                )
            })
            .collect())
    })
    .await
}

/// `raw` itself when it is a UUID (an id), else the id of the one `(id, state)` that
/// `named` lists for the name `raw`.
pub(super) async fn id_or_name<Fut>(
    raw: &str,
    settings: &ClientSettings,
    noun: &str,
    named: impl FnOnce() -> Fut,
) -> Result<String, CliError>
where
    Fut: std::future::Future<Output = Result<Vec<(String, String)>, CliError>>,
{
    if uuid::Uuid::parse_str(raw).is_ok() {
        return Ok(raw.to_owned());
    }
    let candidates = named().await?;
    the_one_named(
        raw,
        settings,
        noun,
        candidates
            .iter()
            .map(|(id, state)| (id.as_str(), state.as_str())),
    )
}

/// The id of the one candidate `(id, state)` that has the name `raw`; an error naming
/// the project when there is none, listing the ids when there are several.
fn the_one_named<'a>(
    raw: &str,
    settings: &ClientSettings,
    noun: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<String, CliError> {
    let candidates: Vec<(&str, &str)> = candidates.collect();
    match candidates.as_slice() {
        [] => Err(CliError::new(
            exit::SERVER_REFUSED,
            format!(
                "no {noun} has the id or name {raw:?} in project {}",
                settings.project
            ),
        )),
        [(id, _)] => Ok((*id).to_owned()),
        many => Err(ambiguous(raw, many.iter().copied())),
    }
}

/// The error of a name that several resources have.
fn ambiguous<'a>(name: &str, candidates: impl Iterator<Item = (&'a str, &'a str)>) -> CliError {
    let ids: Vec<String> = candidates
        .map(|(id, state)| format!("  {id} ({state})"))
        .collect();
    CliError::usage(format!(
        "{} connections are named {name:?}; give one of their ids:\n{}",
        ids.len(),
        ids.join("\n")
    ))
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

/// Every `--tag key=value` of a create.
pub(super) fn parse_tags(raw: &[String]) -> Result<Vec<TagInput>, CliError> {
    raw.iter().map(|raw| parse_tag(raw)).collect()
}

/// A `--tag key=value`.
fn parse_tag(raw: &str) -> Result<TagInput, CliError> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| CliError::usage(format!("--tag {raw:?} must be key=value")))?;
    Ok(TagInput {
        key: Some(key.to_owned()),
        value: Some(value.to_owned()),
    })
}
