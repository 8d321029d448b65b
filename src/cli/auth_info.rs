//! `dsconn auth-info create | list | show | update | delete`: DLI's datasource
//! authentication (named credentials for jobs). Passwords are read from a prompt,
//! standard input or a file, never from the command line (where `ps` and the shell's
//! history would keep them), and are never shown: the server does not answer them.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::exit::{self, CliError};
use super::output::{
    ClientOutput, details_table, local_time, or_dash, print_json, print_table, table,
};
use super::output::{errln, outln};
use super::remote::{CommonArgs, Explained, connect, delete_each};
use crate::api::auth_infos::types::AuthInfoItem;
use crate::domain::auth_info::DatasourceType;

#[derive(Debug, Subcommand)]
pub enum AuthInfoCommand {
    /// Create an auth info; the password is asked for on a terminal, or read with
    /// --password-stdin or --password-file.
    Create(CreateAuthInfoArgs),
    /// List the project's auth infos (never their passwords).
    List(ListAuthInfosArgs),
    /// Show one auth info by name.
    Show(ShowAuthInfoArgs),
    /// Change the fields given; a new password only with --password-prompt,
    /// --password-stdin or --password-file.
    Update(UpdateAuthInfoArgs),
    /// Delete auth infos by name.
    Delete(DeleteAuthInfosArgs),
}

/// Where the `password` field comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from standard input (its first line), e.g. from a secret store.
    #[arg(long, conflicts_with_all = ["password_file", "password_prompt"])]
    pub password_stdin: bool,
    /// Read the password from this file (its first line); keep the file readable only by you.
    #[arg(long, value_name = "PATH", conflicts_with = "password_prompt")]
    pub password_file: Option<PathBuf>,
    /// Ask for the password on the terminal, without echo (create does so by default
    /// for `passwd` and `CSS` when standard input is a terminal).
    #[arg(long)]
    pub password_prompt: bool,
}

/// The fields an auth info has besides its name, type and `password`.
#[derive(Debug, Args)]
pub struct AuthInfoFields {
    /// The user name (`passwd` and `CSS`: required on create; `KRB`: optional).
    #[arg(long)]
    pub user_name: Option<String>,
    /// `CSS`: obs:// path of the cluster's certificate (.cer).
    #[arg(long, value_name = "OBS_PATH")]
    pub certificate_location: Option<String>,
    /// `KRB`: obs:// path of krb5.conf.
    #[arg(long, value_name = "OBS_PATH")]
    pub krb5_conf: Option<String>,
    /// `KRB`: obs:// path of the keytab.
    #[arg(long, value_name = "OBS_PATH")]
    pub keytab: Option<String>,
    /// `Kafka_SSL`: obs:// path of the truststore.
    #[arg(long, value_name = "OBS_PATH")]
    pub truststore_location: Option<String>,
    /// `Kafka_SSL`: a file holding the truststore's password.
    #[arg(long, value_name = "PATH")]
    pub truststore_password_file: Option<PathBuf>,
    /// `Kafka_SSL`: obs:// path of the keystore.
    #[arg(long, value_name = "OBS_PATH")]
    pub keystore_location: Option<String>,
    /// `Kafka_SSL`: a file holding the keystore's password.
    #[arg(long, value_name = "PATH")]
    pub keystore_password_file: Option<PathBuf>,
    /// `Kafka_SSL`: a file holding the key's password.
    #[arg(long, value_name = "PATH")]
    pub key_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct CreateAuthInfoArgs {
    /// 1-128 letters, digits and `_`, unique in the project.
    pub name: String,
    /// `passwd` (DWS, RDS, DDS, DCS), `CSS`, `KRB` (MRS Kerberos) or `Kafka_SSL`.
    #[arg(long = "type", value_name = "TYPE")]
    pub datasource_type: String,
    #[command(flatten)]
    pub fields: AuthInfoFields,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct UpdateAuthInfoArgs {
    /// The auth info's name.
    pub name: String,
    #[command(flatten)]
    pub fields: AuthInfoFields,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ListAuthInfosArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ShowAuthInfoArgs {
    /// The auth info's name.
    pub name: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DeleteAuthInfosArgs {
    /// Auth info names.
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub async fn run(command: AuthInfoCommand) -> Result<(), CliError> {
    match command {
        AuthInfoCommand::Create(args) => create(args).await,
        AuthInfoCommand::List(args) => list(args).await,
        AuthInfoCommand::Show(args) => show(args).await,
        AuthInfoCommand::Update(args) => update(args).await,
        AuthInfoCommand::Delete(args) => delete(args).await,
    }
}

/// The first line of `text`, without its line end.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn read_secret_file(flag: &str, path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        CliError::usage(format!("{flag}: cannot read {}: {error}", path.display()))
    })?;
    Ok(first_line(&text).to_owned())
}

fn read_stdin_line() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| CliError::usage(format!("--password-stdin: {error}")))?;
    Ok(first_line(&line).to_owned())
}

/// Asks on the terminal with echo off (the answer is not shown as it is typed).
fn prompt_secret(label: &str) -> Result<String, CliError> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::usage(
            "standard input is not a terminal: give the password with --password-stdin or --password-file",
        ));
    }
    eprint!("{label}: ");
    let original = tcgetattr(&stdin)
        .map_err(|error| CliError::usage(format!("cannot read the terminal: {error}")))?;
    let mut quiet = original.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|error| CliError::usage(format!("cannot turn echo off: {error}")))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    // Echo comes back whatever the read did.
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &original);
    read.map_err(|error| CliError::usage(format!("cannot read the password: {error}")))?;
    Ok(first_line(&line).to_owned())
}

/// The password, if one was asked for; `default_prompt` prompts when no source is
/// given and standard input is a terminal.
pub(super) fn password(
    args: &PasswordArgs,
    default_prompt: bool,
) -> Result<Option<String>, CliError> {
    if args.password_stdin {
        return read_stdin_line().map(Some);
    }
    if let Some(path) = &args.password_file {
        return read_secret_file("--password-file", path).map(Some);
    }
    if args.password_prompt || (default_prompt && std::io::stdin().is_terminal()) {
        return prompt_secret("password").map(Some);
    }
    Ok(None)
}

/// The request body of the fields given (`auth_info_name` and the type are added by
/// the caller). Every file is read before anything is sent.
fn body(fields: &AuthInfoFields, password: Option<String>) -> Result<Map<String, Value>, CliError> {
    let mut body = Map::new();
    let mut text = |key: &str, value: &Option<String>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), json!(value));
        }
    };
    text("user_name", &fields.user_name);
    text("certificate_location", &fields.certificate_location);
    text("krb5_conf", &fields.krb5_conf);
    text("keytab", &fields.keytab);
    text("truststore_location", &fields.truststore_location);
    text("keystore_location", &fields.keystore_location);
    text("password", &password);
    let files = [
        (
            "truststore_password",
            "--truststore-password-file",
            &fields.truststore_password_file,
        ),
        (
            "keystore_password",
            "--keystore-password-file",
            &fields.keystore_password_file,
        ),
        (
            "key_password",
            "--key-password-file",
            &fields.key_password_file,
        ),
    ];
    for (key, flag, path) in files {
        if let Some(path) = path {
            body.insert(key.to_owned(), json!(read_secret_file(flag, path)?));
        }
    }
    Ok(body)
}

async fn create(args: CreateAuthInfoArgs) -> Result<(), CliError> {
    let kind = DatasourceType::parse(&args.datasource_type).ok_or_else(|| {
        CliError::usage(format!(
            "--type {:?} must be passwd, CSS, KRB or Kafka_SSL",
            args.datasource_type
        ))
    })?;
    let wants_password = matches!(kind, DatasourceType::Passwd | DatasourceType::Css);
    let password = password(&args.fields.password, wants_password)?;
    if wants_password && password.is_none() {
        return Err(CliError::usage(format!(
            "a {} auth info needs a password: give --password-stdin, --password-file or \
             --password-prompt (it is never taken from the command line)",
            kind.as_str()
        )));
    }
    let mut body = body(&args.fields, password)?;
    body.insert("auth_info_name".to_owned(), json!(args.name));
    body.insert("datasource_type".to_owned(), json!(kind.as_str()));
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client
        .create_auth_info(&Value::Object(body))
        .await
        .explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!("created auth info {}", args.name),
    }
    Ok(())
}

async fn update(args: UpdateAuthInfoArgs) -> Result<(), CliError> {
    let password = password(&args.fields.password, false)?;
    let mut body = body(&args.fields, password)?;
    if body.is_empty() {
        return Err(CliError::usage(
            "nothing to change: give the fields to update (see dsconn auth-info update --help)",
        ));
    }
    body.insert("auth_info_name".to_owned(), json!(args.name));
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client
        .update_auth_info(&Value::Object(body))
        .await
        .explained(&settings)?;
    match args.common.output {
        ClientOutput::Json => print_json(&answer.raw),
        _ => outln!("updated auth info {}", args.name),
    }
    Ok(())
}

async fn list(args: ListAuthInfosArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client.list_auth_infos(None).await.explained(&settings)?;
    if args.common.output == ClientOutput::Json {
        print_json(&answer.raw);
        return Ok(());
    }
    let items = answer.value.auth_infos;
    if items.is_empty() {
        errln!(
            "no auth infos in project {}; create one with dsconn auth-info create",
            settings.project
        );
        return Ok(());
    }
    let wide = args.common.output == ClientOutput::Wide;
    let mut table = table();
    let mut header = vec!["NAME", "TYPE", "USER", "CREATED", "UPDATED"];
    if wide {
        header.extend(["OWNER", "LOCATIONS"]);
    }
    table.set_header(header);
    for item in &items {
        let mut row = vec![
            item.auth_info_name.clone(),
            item.datasource_type.as_str().to_owned(),
            or_dash(item.user_name.as_deref().unwrap_or_default()),
            local_time(item.create_time),
            local_time(item.update_time),
        ];
        if wide {
            row.extend([item.owner.clone(), or_dash(&locations(item).join(","))]);
        }
        table.add_row(row);
    }
    print_table(&table);
    Ok(())
}

/// The obs:// paths an auth info refers to.
fn locations(item: &AuthInfoItem) -> Vec<String> {
    [
        &item.certificate_location,
        &item.krb5_conf,
        &item.keytab,
        &item.truststore_location,
        &item.keystore_location,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect()
}

async fn show(args: ShowAuthInfoArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    let answer = client
        .list_auth_infos(Some(&args.name))
        .await
        .explained(&settings)?;
    let Some(item) = answer.value.auth_infos.first() else {
        return Err(CliError::new(
            exit::SERVER_REFUSED,
            format!(
                "no auth info is named {:?} in project {}",
                args.name, settings.project
            ),
        ));
    };
    if args.common.output == ClientOutput::Json {
        print_json(&serde_json::to_value(item).unwrap_or_default());
        return Ok(());
    }
    let text = |value: &Option<String>| or_dash(value.as_deref().unwrap_or_default());
    let rows = [
        ("Name", item.auth_info_name.clone()),
        ("Type", item.datasource_type.as_str().to_owned()),
        ("User", text(&item.user_name)),
        ("Passwords", "write-only: never shown".to_owned()),
        ("Certificate", text(&item.certificate_location)),
        ("krb5.conf", text(&item.krb5_conf)),
        ("Keytab", text(&item.keytab)),
        ("Truststore", text(&item.truststore_location)),
        ("Keystore", text(&item.keystore_location)),
        ("Owner", item.owner.clone()),
        ("Created", local_time(item.create_time)),
        ("Updated", local_time(item.update_time)),
    ];
    print_table(&details_table(rows));
    Ok(())
}

async fn delete(args: DeleteAuthInfosArgs) -> Result<(), CliError> {
    let (client, settings) = connect(&args.common.connection)?;
    delete_each(&args.names, args.common.output, &settings, |name| {
        client.delete_auth_info(name)
    })
    .await
}

/// A test's inline auth info (`--user` and a password from --password-stdin,
/// --password-file or a prompt), or None without `--user`. Refused before the password
/// is read when `client` would send it over plain HTTP to another host.
pub(super) fn inline_auth_info(
    client: &crate::client::Client,
    user: Option<&str>,
    password_args: &PasswordArgs,
) -> Result<Option<crate::api::queue_tests::InlineAuthInfo>, CliError> {
    let Some(user) = user else {
        return Ok(None);
    };
    let endpoint = reqwest::Url::parse(client.endpoint())
        .map_err(|error| CliError::usage(format!("the endpoint is not a URL: {error}")))?;
    crate::client::secrets_may_travel(&endpoint)
        .map_err(|why| CliError::usage(format!("--user: {why}")))?;
    let password = password(password_args, true)?.ok_or_else(|| {
        CliError::usage("--user needs a password: --password-stdin, --password-file or a terminal")
    })?;
    Ok(Some(crate::api::queue_tests::InlineAuthInfo {
        datasource_type: None,
        user_name: user.to_owned(),
        password,
    }))
}
