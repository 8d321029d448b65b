//! `dsconn credential ...` and `dsconn token ...`: administration straight on the data
//! dir. A running server sees every change within a second (its cache's lifetime).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{OutputFormat, errln, outln};
use crate::domain::{ProjectScope, now_millis};
use crate::issuing;
use crate::store::{CredentialRecord, DynStore, OpenFor, StorageArgs, TokenRecord};

#[derive(Debug, Clone, Args)]
pub struct DataDirArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// A project the credential may use (repeat for more).
    #[arg(long = "project", value_name = "PROJECT_ID")]
    pub projects: Vec<String>,
    /// Every project: an administrator's credential.
    #[arg(long, conflicts_with = "projects")]
    pub all_projects: bool,
}

/// `-o/--output` of the admin commands.
#[derive(Debug, Clone, Args)]
pub struct AdminOutput {
    /// How to print the result: `text`, or `json` for scripts.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// What `list` and `revoke` take: how to print, and which data dir.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub output: AdminOutput,
    #[command(flatten)]
    pub data: DataDirArgs,
}

/// How `create` prints a new secret.
#[derive(Debug, Clone, Args)]
pub struct SecretOutput {
    #[command(flatten)]
    pub format: AdminOutput,
    /// Print only the secret on standard output, nothing else (the default when standard
    /// output is not a terminal, e.g. in `$(...)`; the labels then go to standard error).
    #[arg(long, short)]
    pub quiet: bool,
}

impl SecretOutput {
    /// True when stdout gets the bare secret: asked for, or stdout is not a terminal.
    fn bare(&self) -> bool {
        self.quiet || !std::io::stdout().is_terminal()
    }
}

/// What `create` takes: the projects the new secret opens, how to print it, and which
/// data dir.
#[derive(Debug, Clone, Args)]
pub struct IssueArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub output: SecretOutput,
    #[command(flatten)]
    pub data: DataDirArgs,
}

impl IssueArgs {
    /// The scope asked for, and the store of the data dir.
    async fn scope_and_store(&self) -> anyhow::Result<(ProjectScope, DynStore)> {
        let scope = issuing::scope_of(&self.scope.projects, self.scope.all_projects)?;
        Ok((scope, open_store(&self.data).await?))
    }
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Create an AK/SK pair; the secret key is printed once and never again. Standard
    /// output gets `ACCESS_KEY SECRET_KEY` alone when it is not a terminal, or with --quiet.
    Create(IssueArgs),
    /// List credentials (never their secret keys).
    List(AdminArgs),
    /// Revoke a credential by its access key.
    Revoke {
        access_key: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for X-Auth-Token; it is printed once and only its hash is kept.
    /// Standard output gets the token alone when it is not a terminal, or with --quiet.
    Create {
        /// How long the token is valid, e.g. 30m, 12h, 7d.
        #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        #[command(flatten)]
        issue: IssueArgs,
    },
    /// List tokens (ids and expiry; the tokens themselves are not stored).
    List(AdminArgs),
    /// Revoke a token by its id.
    Revoke {
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

async fn open_store(data: &DataDirArgs) -> anyhow::Result<DynStore> {
    data.storage.open(OpenFor::Admin).await.with_context(|| {
        format!(
            "opening the store ({})",
            crate::app::store_location(&data.storage)
        )
    })
}

fn scope_json(scope: &ProjectScope) -> serde_json::Value {
    match scope {
        ProjectScope::All => json!({"projects": [], "all_projects": true}),
        ProjectScope::Projects(projects) => json!({"projects": projects, "all_projects": false}),
    }
}

fn scope_text(scope: &ProjectScope) -> String {
    match scope {
        ProjectScope::All => "all projects".to_owned(),
        ProjectScope::Projects(projects) => projects.join(", "),
    }
}

fn time_text(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| millis.to_string())
}

/// One row of `credential list` or `token list`: its JSON (the scope is added to it),
/// and its text columns before PROJECTS.
struct Listed<'a> {
    json: serde_json::Value,
    columns: [String; 3],
    scope: &'a ProjectScope,
}

fn print_listing(
    output: OutputFormat,
    header: [&str; 3],
    widths: [usize; 3],
    rows: Vec<Listed<'_>>,
) {
    match output {
        OutputFormat::Json => {
            let items: Vec<_> = rows
                .into_iter()
                .map(|row| merge(row.json, scope_json(row.scope)))
                .collect();
            outln!("{}", serde_json::Value::Array(items));
        }
        OutputFormat::Text => {
            let [a, b, c] = widths;
            outln!(
                "{:<a$} {:<b$} {:<c$} PROJECTS",
                header[0],
                header[1],
                header[2]
            );
            for row in &rows {
                let [first, second, third] = &row.columns;
                outln!(
                    "{first:<a$} {second:<b$} {third:<c$} {}",
                    scope_text(row.scope)
                );
            }
        }
    }
}

fn report_revoked(
    revoked: bool,
    missing: String,
    done: String,
    output: &AdminOutput,
    json: serde_json::Value,
) -> anyhow::Result<()> {
    if !revoked {
        anyhow::bail!(missing);
    }
    match output.output {
        OutputFormat::Json => outln!("{json}"),
        OutputFormat::Text => outln!("{done}"),
    }
    Ok(())
}

fn listed_credential(credential: &CredentialRecord) -> Listed<'_> {
    let status = match credential.revoked_at {
        Some(_) => "revoked",
        None => "active",
    };
    Listed {
        json: json!({
            "access_key": credential.access_key,
            "status": status,
            "created_at": credential.created_at,
            "revoked_at": credential.revoked_at,
        }),
        columns: [
            credential.access_key.clone(),
            status.to_owned(),
            time_text(credential.created_at),
        ],
        scope: &credential.scope,
    }
}

fn listed_token(token: &TokenRecord, now: i64) -> Listed<'_> {
    let status = match token.revoked_at {
        Some(_) => "revoked",
        None if token.expires_at <= now => "expired",
        None => "active",
    };
    Listed {
        json: json!({
            "id": token.id,
            "status": status,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
        }),
        columns: [
            token.id.clone(),
            status.to_owned(),
            time_text(token.expires_at),
        ],
        scope: &token.scope,
    }
}

fn merge(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    base
}

pub async fn run_credential(command: CredentialCommand) -> anyhow::Result<()> {
    match command {
        CredentialCommand::Create(issue) => {
            let (scope, store) = issue.scope_and_store().await?;
            let IssueArgs { output, data, .. } = issue;
            let secrets = issuing::open_secrets(&store, &data.storage.secret_key_path()).await?;
            let issued = issuing::create_credential(&store, &secrets, scope).await?;
            match output.format.output {
                OutputFormat::Json => outln!(
                    "{}",
                    merge(
                        json!({
                            "access_key": issued.access_key,
                            "secret_key": issued.secret_key.expose(),
                        }),
                        scope_json(&issued.scope),
                    )
                ),
                OutputFormat::Text if output.bare() => {
                    outln!("{} {}", issued.access_key, issued.secret_key.expose());
                    if !output.quiet {
                        errln!(
                            "dsconn: printed ACCESS_KEY SECRET_KEY (projects: {}); the secret \
                             key is shown only now",
                            scope_text(&issued.scope)
                        );
                    }
                }
                OutputFormat::Text => {
                    outln!("access key: {}", issued.access_key);
                    outln!("secret key: {}", issued.secret_key.expose());
                    outln!("projects:   {}", scope_text(&issued.scope));
                    outln!("The secret key is shown only now; keep it somewhere safe.");
                }
            }
        }
        CredentialCommand::List(admin) => {
            let store = open_store(&admin.data).await?;
            let credentials = store.list_credentials().await?;
            let rows = credentials.iter().map(listed_credential).collect();
            let header = ["ACCESS KEY", "STATUS", "CREATED"];
            print_listing(admin.output.output, header, [22, 8, 21], rows);
        }
        CredentialCommand::Revoke { access_key, admin } => {
            let store = open_store(&admin.data).await?;
            let revoked = store.revoke_credential(&access_key, now_millis()).await?;
            report_revoked(
                revoked,
                format!("no active credential has the access key {access_key}"),
                format!("revoked {access_key}"),
                &admin.output,
                json!({"access_key": access_key, "status": "revoked"}),
            )?;
        }
    }
    Ok(())
}

pub async fn run_token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { ttl, issue } => {
            let (scope, store) = issue.scope_and_store().await?;
            let output = issue.output;
            let issued = issuing::create_token(&store, scope, ttl).await?;
            match output.format.output {
                OutputFormat::Json => outln!(
                    "{}",
                    merge(
                        json!({
                            "id": issued.id,
                            "token": issued.token.expose(),
                            "expires_at": issued.expires_at,
                        }),
                        scope_json(&issued.scope),
                    )
                ),
                OutputFormat::Text if output.bare() => {
                    outln!("{}", issued.token.expose());
                    if !output.quiet {
                        errln!(
                            "dsconn: printed token {} (projects: {}, expires {}); send it as \
                             the X-Auth-Token header. It is shown only now.",
                            issued.id,
                            scope_text(&issued.scope),
                            time_text(issued.expires_at)
                        );
                    }
                }
                OutputFormat::Text => {
                    outln!("token:    {}", issued.token.expose());
                    outln!("id:       {}", issued.id);
                    outln!("projects: {}", scope_text(&issued.scope));
                    outln!("expires:  {}", time_text(issued.expires_at));
                    outln!("Send it as the X-Auth-Token header. It is shown only now.");
                }
            }
        }
        TokenCommand::List(admin) => {
            let store = open_store(&admin.data).await?;
            let now = now_millis();
            let tokens = store.list_tokens().await?;
            let rows = tokens.iter().map(|t| listed_token(t, now)).collect();
            let header = ["ID", "STATUS", "EXPIRES"];
            print_listing(admin.output.output, header, [37, 8, 21], rows);
        }
        TokenCommand::Revoke { id, admin } => {
            let store = open_store(&admin.data).await?;
            let revoked = store.revoke_token(&id, now_millis()).await?;
            report_revoked(
                revoked,
                format!("no active token has the id {id}"),
                format!("revoked token {id}"),
                &admin.output,
                json!({"id": id, "status": "revoked"}),
            )?;
        }
    }
    Ok(())
}
