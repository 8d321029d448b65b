//! Wire types of DLI's datasource authentication (auth infos), v3 and the v2.0 twins.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::credentials::Secret;
use crate::domain::auth_info::DatasourceType;

/// A secret field of a request body: any JSON value is accepted by the parser (so that
/// its error messages, which quote values, never see one), and only a string is kept.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct SecretInput(pub(super) Option<Secret>);

impl SecretInput {
    pub fn new(value: &str) -> Self {
        Self(Some(Secret::new(value.to_owned())))
    }
}

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretInput(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SecretInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(match Value::deserialize(deserializer)? {
            Value::String(text) => Some(Secret::new(text)),
            _ => None,
        }))
    }
}

/// Create and update body of `/v3/{project_id}/datasource/auth-infos` (and `/v2.0`).
/// Every field is optional here so that errors name what is missing; unknown fields
/// are ignored; a field that is null or `""` counts as not given.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(example = json!({
    "auth_info_name": "orders_db_login",
    "datasource_type": "passwd",
    "user_name": "etl",
    "password": "********"
}))]
pub struct AuthInfoRequest {
    /// 1-128 letters, digits and `_`; unique in the project (case-sensitive). Selects
    /// the record on update.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9_]{1,128}$")]
    pub auth_info_name: Option<Value>,
    /// Required on create; on update only the stored type (it cannot change).
    #[serde(default)]
    #[schema(value_type = Option<DatasourceType>)]
    pub datasource_type: Option<Value>,
    /// `passwd`, `CSS` (required) and `KRB` (optional). At most 1,024 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub user_name: Option<Value>,
    /// The v2.0 name of `user_name`, accepted on both versions; giving both with
    /// different values is refused.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub username: Option<Value>,
    /// `passwd`, `CSS` (required). Write-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only, max_length = 1024)]
    pub password: Option<SecretInput>,
    /// `CSS` only: `obs://` path of the cluster's `.cer`. Cannot change on update.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024, example = "obs://bucket/css/cert.cer")]
    pub certificate_location: Option<Value>,
    /// `KRB` (required, with `keytab`): `obs://` path of `krb5.conf`.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub krb5_conf: Option<Value>,
    /// `KRB` (required, with `krb5_conf`): `obs://` path of the keytab.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub keytab: Option<Value>,
    /// `Kafka_SSL` (required): `obs://` path; requires the four fields below.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub truststore_location: Option<Value>,
    /// `Kafka_SSL`. Write-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only, max_length = 1024)]
    pub truststore_password: Option<SecretInput>,
    /// `Kafka_SSL`: `obs://` path.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1024)]
    pub keystore_location: Option<Value>,
    /// `Kafka_SSL`. Write-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only, max_length = 1024)]
    pub keystore_password: Option<SecretInput>,
    /// `Kafka_SSL`. Write-only; cannot change on update.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password, write_only, max_length = 1024)]
    pub key_password: Option<SecretInput>,
}

/// One auth info of a list. Passwords are never answered; fields not set are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthInfoItem {
    pub auth_info_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_location: Option<String>,
    pub datasource_type: DatasourceType,
    /// Epoch milliseconds.
    pub create_time: i64,
    /// Epoch milliseconds; moves forward with every update.
    pub update_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krb5_conf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keytab: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truststore_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keystore_location: Option<String>,
    /// Who created it: the access key or token id it was created with, or the project
    /// id under `--auth none`.
    pub owner: String,
}

/// `GET /v3/{project_id}/datasource/auth-infos`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListAuthInfosResponse {
    pub is_success: bool,
    pub message: String,
    /// How many match the filter in all, before `offset` and `limit`.
    pub count: u64,
    pub auth_infos: Vec<AuthInfoItem>,
}

/// `GET /v3/{project_id}/datasource/auth-infos` query, kept as text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAuthInfosQuery {
    /// Only the auth info of exactly this name (a miss is an empty list); empty: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_info_name: Option<String>,
    /// Matches to skip (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
    /// Page size, 0-1000 (default 100); 0 means all (at most the per-project cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i32>, minimum = 0, maximum = 1000)]
    pub limit: Option<String>,
}

/// `auth_info_name` path parameter.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AuthInfoPath {
    /// The auth info's name.
    pub auth_info_name: String,
}
