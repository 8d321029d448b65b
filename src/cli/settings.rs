//! Where the client commands find the server, the project and the credentials: flags,
//! then environment variables, then a profile in `$XDG_CONFIG_HOME/dsconn/config.toml`.
//! Each setting remembers where it came from, so errors can say so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::exit::CliError;
use crate::client::ClientAuth;
use crate::signing::Algorithm;

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";
const DEFAULT_PROFILE: &str = "default";

/// Connection flags shared by every client command.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Server URL [env: DSCONN_ENDPOINT; default: http://127.0.0.1:8080]
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Project id [env: HUAWEICLOUD_SDK_PROJECT_ID]
    #[arg(long)]
    pub project: Option<String>,
    /// Access key, used with --sk [env: HUAWEICLOUD_SDK_AK]
    #[arg(long)]
    pub ak: Option<String>,
    /// Secret key, used with --ak [env: HUAWEICLOUD_SDK_SK]
    #[arg(long)]
    pub sk: Option<String>,
    /// Token for X-Auth-Token, instead of --ak/--sk [env: DSCONN_TOKEN]
    #[arg(long)]
    pub token: Option<String>,
    /// How --ak/--sk requests are signed: SDK-HMAC-SHA256, SDK-HMAC-SM3,
    /// SDK-ECDSA-P256-SHA256, SDK-SM2-SM3 or V11-HMAC-SHA256
    /// [env: DSCONN_SIGNING_ALGORITHM; default: SDK-HMAC-SHA256]
    #[arg(long)]
    pub signing_algorithm: Option<String>,
    /// Profile in the config file [env: DSCONN_PROFILE; default: default]
    #[arg(long)]
    pub profile: Option<String>,
    /// PEM file of CA certificates to trust for an https:// server, besides the
    /// built-in roots [env: DSCONN_CA_CERT]
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    endpoint: Option<String>,
    project: Option<String>,
    ak: Option<String>,
    sk: Option<String>,
    token: Option<String>,
    signing_algorithm: Option<String>,
    ca_cert: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The settings a client command runs with.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub endpoint: String,
    pub project: String,
    pub auth: ClientAuth,
    /// Where the credentials came from, for advice on a 401.
    pub auth_source: String,
    /// CAs trusted besides the built-in roots.
    pub ca_cert: Option<PathBuf>,
}

/// The config file's path: `$XDG_CONFIG_HOME/dsconn/config.toml`, else
/// `$HOME/.config/dsconn/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("dsconn").join("config.toml"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn load_profile(args: &ConnectionArgs) -> Result<(Profile, String), CliError> {
    let explicit = args.profile.clone().or_else(|| env("DSCONN_PROFILE"));
    let name = explicit
        .clone()
        .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let Some(path) = config_path() else {
        return Ok((Profile::default(), name));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if explicit.is_some() {
                return Err(CliError::usage(format!(
                    "profile {name:?} was asked for, but {} does not exist",
                    path.display()
                )));
            }
            return Ok((Profile::default(), name));
        }
        Err(error) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    let mut file: ConfigFile = toml::from_str(&text)
        .map_err(|error| CliError::usage(format!("{} is not valid: {error}", path.display())))?;
    match file.profiles.remove(&name) {
        Some(profile) => Ok((profile, format!("profile {name:?} in {}", path.display()))),
        None if explicit.is_some() => Err(CliError::usage(format!(
            "there is no [profiles.{name}] in {}",
            path.display()
        ))),
        None => Ok((Profile::default(), name)),
    }
}

/// One level of credentials: a token, or an AK with its SK.
fn credentials_at(
    level: &str,
    token: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    algorithm: Algorithm,
) -> Result<Option<ClientAuth>, CliError> {
    match (token, access_key, secret_key) {
        (None, None, None) => Ok(None),
        (Some(token), None, None) => Ok(Some(ClientAuth::Token(token))),
        (None, Some(access_key), Some(secret_key)) => Ok(Some(ClientAuth::AccessKey {
            access_key,
            secret_key,
            algorithm,
        })),
        (Some(_), _, _) => Err(CliError::usage(format!(
            "{level} gives both a token and an access key: use one"
        ))),
        (None, Some(_), None) => Err(CliError::usage(format!(
            "{level} gives an access key without its secret key"
        ))),
        (None, None, Some(_)) => Err(CliError::usage(format!(
            "{level} gives a secret key without its access key"
        ))),
    }
}

impl ConnectionArgs {
    pub fn resolve(&self) -> Result<ClientSettings, CliError> {
        let (profile, profile_source) = load_profile(self)?;
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| env("DSCONN_ENDPOINT"))
            .or(profile.endpoint.clone())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let project = self
            .project
            .clone()
            .or_else(|| env("HUAWEICLOUD_SDK_PROJECT_ID"))
            .or(profile.project.clone())
            .ok_or_else(|| {
                CliError::usage(
                    "no project: give --project, set HUAWEICLOUD_SDK_PROJECT_ID, \
                     or add `project` to a profile",
                )
            })?;
        let algorithm = self.signing_algorithm(&profile, &profile_source)?;
        let ca_cert = self
            .ca_cert
            .clone()
            .or_else(|| env("DSCONN_CA_CERT").map(PathBuf::from))
            .or(profile.ca_cert.clone());
        let levels = [
            (
                "--token/--ak/--sk".to_owned(),
                credentials_at(
                    "the command line",
                    self.token.clone(),
                    self.ak.clone(),
                    self.sk.clone(),
                    algorithm,
                )?,
            ),
            (
                "DSCONN_TOKEN/HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK".to_owned(),
                credentials_at(
                    "the environment",
                    env("DSCONN_TOKEN"),
                    env("HUAWEICLOUD_SDK_AK"),
                    env("HUAWEICLOUD_SDK_SK"),
                    algorithm,
                )?,
            ),
            (
                profile_source.clone(),
                credentials_at(
                    &profile_source,
                    profile.token,
                    profile.ak,
                    profile.sk,
                    algorithm,
                )?,
            ),
        ];
        let (auth, auth_source) = levels
            .into_iter()
            .find_map(|(source, auth)| auth.map(|auth| (auth, source)))
            .unwrap_or((ClientAuth::None, "no credentials".to_owned()));
        let auth_source = match &auth {
            ClientAuth::None => auth_source,
            ClientAuth::Token(_) => format!("a token from {auth_source}"),
            ClientAuth::AccessKey {
                access_key,
                algorithm,
                ..
            } if *algorithm == Algorithm::HmacSha256 => {
                format!("access key {access_key} from {auth_source}")
            }
            ClientAuth::AccessKey {
                access_key,
                algorithm,
                ..
            } => format!("access key {access_key} ({algorithm}) from {auth_source}"),
        };
        Ok(ClientSettings {
            endpoint,
            project,
            auth,
            auth_source,
            ca_cert,
        })
    }

    /// `--signing-algorithm`, then `DSCONN_SIGNING_ALGORITHM`, then the profile's
    /// `signing_algorithm`, else SDK-HMAC-SHA256.
    fn signing_algorithm(
        &self,
        profile: &Profile,
        profile_source: &str,
    ) -> Result<Algorithm, CliError> {
        let chosen = [
            (self.signing_algorithm.clone(), "--signing-algorithm"),
            (env("DSCONN_SIGNING_ALGORITHM"), "DSCONN_SIGNING_ALGORITHM"),
            (profile.signing_algorithm.clone(), profile_source),
        ]
        .into_iter()
        .find_map(|(value, source)| value.map(|value| (value, source)));
        let Some((name, source)) = chosen else {
            return Ok(Algorithm::HmacSha256);
        };
        name.parse().map_err(|_| {
            let accepted: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            CliError::usage(format!(
                "the signing algorithm {name:?} from {source} is not one of {}",
                accepted.join(", ")
            ))
        })
    }
}
