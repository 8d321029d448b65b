//! DLI's datasource authentication (auth infos): named credentials that Spark and Flink
//! jobs refer to, created, listed, updated and deleted on `/v3/{project_id}/datasource/
//! auth-infos` and on the deprecated `/v2.0/...` twins, which behave the same.
//!
//! The passwords (`password`, `truststore_password`, `keystore_password`,
//! `key_password`) are write-only: sealed at rest with the server's key file as one JSON
//! object bound to the project and name, never answered, logged or shown by `Debug`.
//! Only an update opens them, to merge the fields it changes into the ones it keeps.

pub mod types;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;

use self::types::{
    AuthInfoItem, AuthInfoPath, AuthInfoRequest, ListAuthInfosQuery, ListAuthInfosResponse,
    SecretInput,
};

use crate::api::auth::{Principal, PrincipalKind};
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{DliPath, JsonBody, NamedTarget, ProjectTarget, parse_query};
use crate::api::state::AppState;
use crate::api::types::SuccessResponse;
use crate::credentials::{Secret, SecretBox, auth_info_sealing_context};
use crate::domain::auth_info::{
    DatasourceType, Field, Fields, MAX_FIELD_CHARS, MAX_NAME_CHARS, parse_name, parse_type,
    plain_field, plain_fields, valid_name,
};
use crate::domain::{ProjectId, ValidationError, now_millis};
use crate::store::{
    AuthInfoChange, AuthInfoQuery, AuthInfoRecord, AuthInfoUpdateOutcome, CreateNamedOutcome,
    NewAuthInfo,
};

/// Most auth infos one project may have.
pub const MAX_AUTH_INFOS_PER_PROJECT: u32 = 1000;
/// The page size of a list without `limit`.
const DEFAULT_PAGE_SIZE: u64 = 100;
/// Tries of an update whose record another update changed between read and write.
const UPDATE_ATTEMPTS: usize = 3;
/// The answer of an update, as DLI words it.
const UPDATE_MESSAGE: &str = "Update success.";

// ---- Validation ----

fn not_found(name: &str) -> ApiError {
    ApiError::InvalidRequest(format!(
        "auth info {} does not exist",
        name.chars().take(MAX_NAME_CHARS).collect::<String>()
    ))
}

/// A secret field: None when not given (null or `""`). Its value is never quoted.
fn secret_field(
    field: Field,
    value: &Option<SecretInput>,
) -> Result<Option<Secret>, ValidationError> {
    let name = field.name();
    match value {
        None => Ok(None),
        Some(SecretInput(None)) => Err(ValidationError::new(format!("{name} must be a string"))),
        Some(SecretInput(Some(secret))) if secret.expose().is_empty() => Ok(None),
        Some(SecretInput(Some(secret))) => {
            if secret.expose().chars().count() > MAX_FIELD_CHARS {
                return Err(ValidationError::new(format!(
                    "{name} must be at most {MAX_FIELD_CHARS} characters"
                )));
            }
            Ok(Some(secret.clone()))
        }
    }
}

/// The fields a body gives, each checked on its own.
fn fields_of(body: &AuthInfoRequest) -> Result<Fields<Secret>, ValidationError> {
    let mut fields = Fields::default();
    let user_name = plain_field(Field::UserName, &body.user_name)?;
    let username = plain_field(Field::UserName, &body.username)?;
    let user = match (user_name, username) {
        (Some(a), Some(b)) if a != b => {
            return Err(ValidationError::new(
                "user_name and username (its v2.0 name) differ; give one of them",
            ));
        }
        (a, b) => a.or(b),
    };
    if let Some(user) = user {
        fields.plain.insert(Field::UserName, user);
    }
    let plain = [
        (Field::CertificateLocation, &body.certificate_location),
        (Field::Krb5Conf, &body.krb5_conf),
        (Field::Keytab, &body.keytab),
        (Field::TruststoreLocation, &body.truststore_location),
        (Field::KeystoreLocation, &body.keystore_location),
    ];
    for (field, value) in plain {
        if let Some(text) = plain_field(field, value)? {
            fields.plain.insert(field, text);
        }
    }
    let secret = [
        (Field::Password, &body.password),
        (Field::TruststorePassword, &body.truststore_password),
        (Field::KeystorePassword, &body.keystore_password),
        (Field::KeyPassword, &body.key_password),
    ];
    for (field, value) in secret {
        if let Some(secret) = secret_field(field, value)? {
            fields.secret.insert(field, secret);
        }
    }
    Ok(fields)
}

/// Seals the secret fields as one object bound to the auth info's project and name.
fn seal(
    secrets: &SecretBox,
    project: &ProjectId,
    name: &str,
    fields: &BTreeMap<Field, Secret>,
) -> Vec<u8> {
    secrets.seal_fields(
        fields.iter().map(|(field, secret)| (field.name(), secret)),
        &auth_info_sealing_context(project, name),
    )
}

/// Opens a record's sealed secret fields (for an update to merge into).
fn open(
    secrets: &SecretBox,
    project: &ProjectId,
    record: &AuthInfoRecord,
) -> ApiResult<BTreeMap<Field, Secret>> {
    if record.sealed_secrets.is_empty() {
        return Ok(BTreeMap::new());
    }
    let opened = secrets
        .open_fields(
            &record.sealed_secrets,
            &auth_info_sealing_context(project, &record.name),
        )
        .map_err(|error| {
            ApiError::Internal(
                anyhow::Error::new(error)
                    .context(format!("the sealed secrets of auth info {}", record.name)),
            )
        })?;
    Ok(opened
        .into_iter()
        .filter_map(|(key, secret)| Some((Field::from_name(&key)?, secret)))
        .filter(|(field, _)| field.is_secret())
        .collect())
}

fn secret_box(state: &AppState) -> ApiResult<&SecretBox> {
    state.auth.secrets().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "no key file to seal auth info secrets with"
        ))
    })
}

/// Who a new auth info is answered as belonging to.
fn owner_of(principal: &Principal, project: &ProjectId) -> String {
    match &principal.kind {
        PrincipalKind::AccessKey(access_key) => access_key.clone(),
        PrincipalKind::Token(id) => id.clone(),
        PrincipalKind::Anonymous => project.as_str().to_owned(),
    }
}

fn item_of(record: AuthInfoRecord) -> ApiResult<AuthInfoItem> {
    let datasource_type = DatasourceType::parse(&record.datasource_type).ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "auth info {} has an unknown stored type",
            record.name
        ))
    })?;
    let mut plain = plain_fields(&record.attributes);
    let mut take = |field: Field| plain.remove(&field);
    Ok(AuthInfoItem {
        user_name: take(Field::UserName),
        certificate_location: take(Field::CertificateLocation),
        krb5_conf: take(Field::Krb5Conf),
        keytab: take(Field::Keytab),
        truststore_location: take(Field::TruststoreLocation),
        keystore_location: take(Field::KeystoreLocation),
        auth_info_name: record.name,
        datasource_type,
        create_time: record.create_time,
        update_time: record.update_time,
        owner: record.owner,
    })
}

fn parse_count(field: &str, raw: Option<&str>, max: u64, default: u64) -> ApiResult<u64> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!("{field} must be a whole number from 0 to {max}"))
            }),
    }
}

// ---- Handlers (one implementation each; the v3 and v2.0 routes both call it) ----

async fn create_auth_info(
    state: &AppState,
    principal: &Principal,
    project: &str,
    body: &JsonBody,
) -> ApiResult<(StatusCode, Json<SuccessResponse>)> {
    let project = principal.authorize(project)?;
    let body: AuthInfoRequest = body.parse_or_empty()?;
    let name = parse_name(&body.auth_info_name)?;
    let kind = match &body.datasource_type {
        None | Some(Value::Null) => {
            return Err(ValidationError::new("datasource_type is required").into());
        }
        Some(value) => parse_type(value)?,
    };
    let fields = fields_of(&body)?;
    fields.check(kind)?;
    let now = now_millis();
    let new = NewAuthInfo {
        sealed_secrets: seal(secret_box(state)?, &project, &name, &fields.secret),
        attributes: fields.attributes(),
        owner: owner_of(principal, &project),
        datasource_type: kind.as_str().to_owned(),
        name,
        project_id: project,
        create_time: now,
    };
    match state
        .store
        .create_auth_info(&new, MAX_AUTH_INFOS_PER_PROJECT)
        .await?
    {
        CreateNamedOutcome::Created => {}
        CreateNamedOutcome::AlreadyExists => {
            return Err(ApiError::NameTaken(format!(
                "an auth info named {} already exists",
                new.name
            )));
        }
        CreateNamedOutcome::CapReached => {
            return Err(ApiError::CapReached(format!(
                "the project already has the maximum of {MAX_AUTH_INFOS_PER_PROJECT} auth \
                 infos; delete some first"
            )));
        }
    }
    tracing::info!(
        project.id = %new.project_id,
        auth_info.name = new.name.as_str(),
        auth_info.datasource_type = kind.as_str(),
        "auth info created"
    );
    Ok((StatusCode::CREATED, Json(SuccessResponse::ok())))
}

async fn list_auth_infos(
    state: &AppState,
    project: &ProjectId,
    query: Option<&str>,
) -> ApiResult<Json<ListAuthInfosResponse>> {
    let query: ListAuthInfosQuery = parse_query(query.unwrap_or_default())?;
    let offset = parse_count("offset", query.offset.as_deref(), u64::from(u32::MAX), 0)?;
    let limit = match parse_count(
        "limit",
        query.limit.as_deref(),
        u64::from(MAX_AUTH_INFOS_PER_PROJECT),
        DEFAULT_PAGE_SIZE,
    )? {
        0 => u64::from(MAX_AUTH_INFOS_PER_PROJECT),
        limit => limit,
    };
    let name = query.auth_info_name.filter(|name| !name.is_empty());
    let empty = || {
        Json(ListAuthInfosResponse {
            is_success: true,
            message: String::new(),
            count: 0,
            auth_infos: Vec::new(),
        })
    };
    // A name no auth info can have matches none.
    if name
        .as_deref()
        .is_some_and(|name| valid_name(name).is_none())
    {
        return Ok(empty());
    }
    let page = state
        .store
        .list_auth_infos(
            project,
            &AuthInfoQuery {
                name,
                offset,
                limit,
            },
        )
        .await?;
    Ok(Json(ListAuthInfosResponse {
        is_success: true,
        message: String::new(),
        count: page.total,
        auth_infos: page
            .items
            .into_iter()
            .map(item_of)
            .collect::<ApiResult<_>>()?,
    }))
}

async fn update_auth_info(
    state: &AppState,
    principal: &Principal,
    project: &str,
    body: &JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    let project = principal.authorize(project)?;
    let body: AuthInfoRequest = body.parse_or_empty()?;
    let name = parse_name(&body.auth_info_name)?;
    let given_type = match &body.datasource_type {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) if raw.is_empty() => None,
        Some(value) => Some(parse_type(value)?),
    };
    let given = fields_of(&body)?;
    let secrets = secret_box(state)?;
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(record) = state.store.get_auth_info(&project, &name).await? else {
            return Err(not_found(&name));
        };
        let kind = DatasourceType::parse(&record.datasource_type).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "auth info {name} has an unknown stored type"
            ))
        })?;
        if given_type.is_some_and(|given| given != kind) {
            return Err(ApiError::InvalidRequest(format!(
                "datasource_type cannot be updated (auth info {name} is {}); delete it and \
                 create it again",
                kind.as_str()
            )));
        }
        let mut merged = Fields::<Secret> {
            plain: plain_fields(&record.attributes),
            secret: open(secrets, &project, &record)?,
        };
        // Fields DLI's update does not take: refused when they would change.
        let unchanged_plain = merged.plain.get(&Field::CertificateLocation);
        if given
            .plain
            .get(&Field::CertificateLocation)
            .is_some_and(|value| Some(value) != unchanged_plain)
        {
            return Err(ValidationError::new(
                "certificate_location cannot be updated; delete the auth info and create it again",
            )
            .into());
        }
        let unchanged_secret = merged.secret.get(&Field::KeyPassword);
        if given
            .secret
            .get(&Field::KeyPassword)
            .is_some_and(|value| Some(value) != unchanged_secret)
        {
            return Err(ValidationError::new(
                "key_password cannot be updated; delete the auth info and create it again",
            )
            .into());
        }
        merged.plain.extend(given.plain.clone());
        merged.secret.extend(given.secret.clone());
        merged.check(kind)?;
        // Every update moves update_time forward, even within one millisecond: it is
        // also what the write compares against.
        let change = AuthInfoChange {
            attributes: merged.attributes(),
            sealed_secrets: seal(secrets, &project, &name, &merged.secret),
            read_update_time: record.update_time,
            update_time: now_millis().max(record.update_time.saturating_add(1)),
        };
        match state
            .store
            .update_auth_info(&project, &name, &change)
            .await?
        {
            AuthInfoUpdateOutcome::Updated => {
                tracing::info!(project.id = %project, auth_info.name = name.as_str(), "auth info updated");
                return Ok(Json(SuccessResponse::new(UPDATE_MESSAGE)));
            }
            AuthInfoUpdateOutcome::NotFound => return Err(not_found(&name)),
            AuthInfoUpdateOutcome::ChangedMeanwhile => {}
        }
    }
    Err(ApiError::StateConflict(format!(
        "auth info {name} kept changing while this update was applied; try again"
    )))
}

async fn delete_auth_info(
    state: &AppState,
    project: &ProjectId,
    name: &str,
) -> ApiResult<Json<SuccessResponse>> {
    let Some(name) = valid_name(name) else {
        return Err(not_found(name));
    };
    if !state.store.delete_auth_info(project, name).await? {
        return Err(not_found(name));
    }
    tracing::info!(project.id = %project, auth_info.name = name, "auth info deleted");
    Ok(Json(SuccessResponse::ok()))
}

// ---- Routes: v3 ----

/// `POST /v3/{project_id}/datasource/auth-infos`
#[utoipa::path(
    post,
    path = "/v3/{project_id}/datasource/auth-infos",
    operation_id = "CreateJobAuthInfo",
    tag = "datasource-auth",
    summary = "Create a datasource authentication (its passwords are sealed, write-only)",
    params(ProjectPath),
    request_body(content = AuthInfoRequest, content_type = "application/json"),
    responses((status = 201, description = "Created", body = SuccessResponse), ErrorResponses),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(project): DliPath<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<SuccessResponse>)> {
    create_auth_info(&state, &principal, &project, &body).await
}

/// `GET /v3/{project_id}/datasource/auth-infos`
#[utoipa::path(
    get,
    path = "/v3/{project_id}/datasource/auth-infos",
    operation_id = "ListJobAuthInfos",
    tag = "datasource-auth",
    summary = "List the project's datasource authentications (never their passwords)",
    params(ProjectPath, ListAuthInfosQuery),
    responses((status = 200, description = "The matching auth infos, oldest first", body = ListAuthInfosResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    ProjectTarget { project, .. }: ProjectTarget,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListAuthInfosResponse>> {
    list_auth_infos(&state, &project, query.as_deref()).await
}

/// `PUT /v3/{project_id}/datasource/auth-infos`
#[utoipa::path(
    put,
    path = "/v3/{project_id}/datasource/auth-infos",
    operation_id = "UpdateJobAuthInfo",
    tag = "datasource-auth",
    summary = "Update a datasource authentication: only the fields given change",
    params(ProjectPath),
    request_body(content = AuthInfoRequest, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = SuccessResponse), ErrorResponses),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(project): DliPath<String>,
    body: JsonBody,
) -> ApiResult<Json<SuccessResponse>> {
    update_auth_info(&state, &principal, &project, &body).await
}

/// `DELETE /v3/{project_id}/datasource/auth-infos/{auth_info_name}`
#[utoipa::path(
    delete,
    path = "/v3/{project_id}/datasource/auth-infos/{auth_info_name}",
    operation_id = "DeleteJobAuthInfo",
    tag = "datasource-auth",
    summary = "Delete a datasource authentication",
    params(ProjectPath, AuthInfoPath),
    responses((status = 200, description = "Deleted", body = SuccessResponse), ErrorResponses),
)]
pub async fn delete(
    State(state): State<AppState>,
    NamedTarget { project, name }: NamedTarget,
) -> ApiResult<Json<SuccessResponse>> {
    delete_auth_info(&state, &project, &name).await
}

// ---- Routes: the deprecated v2.0 twins ----

twin! {
    /// `POST /v2.0/{project_id}/datasource/auth-infos` (deprecated; as v3)
    #[utoipa::path(
        post,
        path = "/v2.0/{project_id}/datasource/auth-infos",
        operation_id = "CreateAuthInfo",
        tag = "datasource-auth",
        summary = "Create a datasource authentication (deprecated v2.0 path; as v3)",
        params(ProjectPath),
        request_body(content = AuthInfoRequest, content_type = "application/json"),
        responses((status = 201, description = "Created", body = SuccessResponse), ErrorResponses),
    )]
    #[deprecated]
    pub async fn create_v2 = create(
        state: State<AppState>,
        principal: Principal,
        project: DliPath<String>,
        body: JsonBody,
    ) -> ApiResult<(StatusCode, Json<SuccessResponse>)>;
}

twin! {
    /// `GET /v2.0/{project_id}/datasource/auth-infos` (deprecated; as v3)
    #[utoipa::path(
        get,
        path = "/v2.0/{project_id}/datasource/auth-infos",
        operation_id = "ListAuthInfo",
        tag = "datasource-auth",
        summary = "List datasource authentications (deprecated v2.0 path; as v3)",
        params(ProjectPath, ListAuthInfosQuery),
        responses((status = 200, description = "The matching auth infos, oldest first", body = ListAuthInfosResponse), ErrorResponses),
    )]
    #[deprecated]
    pub async fn list_v2 = list(
        state: State<AppState>,
        target: ProjectTarget,
        query: RawQuery,
    ) -> ApiResult<Json<ListAuthInfosResponse>>;
}

twin! {
    /// `PUT /v2.0/{project_id}/datasource/auth-infos` (deprecated; as v3)
    #[utoipa::path(
        put,
        path = "/v2.0/{project_id}/datasource/auth-infos",
        operation_id = "UpdateAuthInfo",
        tag = "datasource-auth",
        summary = "Update a datasource authentication (deprecated v2.0 path; as v3)",
        params(ProjectPath),
        request_body(content = AuthInfoRequest, content_type = "application/json"),
        responses((status = 200, description = "Updated", body = SuccessResponse), ErrorResponses),
    )]
    #[deprecated]
    pub async fn update_v2 = update(
        state: State<AppState>,
        principal: Principal,
        project: DliPath<String>,
        body: JsonBody,
    ) -> ApiResult<Json<SuccessResponse>>;
}

twin! {
    /// `DELETE /v2.0/{project_id}/datasource/auth-infos/{auth_info_name}` (deprecated; as v3)
    #[utoipa::path(
        delete,
        path = "/v2.0/{project_id}/datasource/auth-infos/{auth_info_name}",
        operation_id = "DeleteAuthInfo",
        tag = "datasource-auth",
        summary = "Delete a datasource authentication (deprecated v2.0 path; as v3)",
        params(ProjectPath, AuthInfoPath),
        responses((status = 200, description = "Deleted", body = SuccessResponse), ErrorResponses),
    )]
    #[deprecated]
    pub async fn delete_v2 = delete(
        state: State<AppState>,
        target: NamedTarget,
    ) -> ApiResult<Json<SuccessResponse>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: Value) -> AuthInfoRequest {
        serde_json::from_value(value).expect("a request body")
    }

    fn checked(value: Value) -> Result<(), String> {
        let body = request(value);
        let kind = parse_type(body.datasource_type.as_ref().expect("a type")).map_err(|e| e.0)?;
        fields_of(&body)
            .and_then(|fields| fields.check(kind))
            .map_err(|error| error.0)
    }

    #[test]
    fn secret_inputs_never_show_in_debug_output() {
        let body = request(serde_json::json!({
            "auth_info_name": "a", "datasource_type": "passwd", "user_name": "u",
            "password": "hunter2-secret", "key_password": 12345678
        }));
        let shown = format!("{body:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("12345678"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_secret_that_is_not_a_string_is_refused_without_quoting_it() {
        let error = checked(serde_json::json!({
            "datasource_type": "passwd", "user_name": "u", "password": 987654321
        }))
        .expect_err("refused");
        assert_eq!(error, "password must be a string");
    }

    #[test]
    fn terraforms_pairings_and_the_types_needs_are_enforced() {
        let kafka = serde_json::json!({
            "datasource_type": "Kafka_SSL",
            "truststore_location": "obs://b/t.jks", "truststore_password": "a",
            "keystore_location": "obs://b/k.jks", "keystore_password": "b", "key_password": "c"
        });
        assert_eq!(checked(kafka.clone()), Ok(()));
        let mut missing = kafka.clone();
        missing
            .as_object_mut()
            .expect("object")
            .remove("key_password");
        assert_eq!(
            checked(missing),
            Err("truststore_location requires key_password".into())
        );
        let mut with_user = kafka;
        with_user["user_name"] = "u".into();
        assert_eq!(
            checked(with_user),
            Err("user_name conflicts with truststore_location".into())
        );
        assert_eq!(
            checked(serde_json::json!({"datasource_type": "KRB", "krb5_conf": "obs://b/k"})),
            Err("krb5_conf requires keytab".into())
        );
        assert_eq!(
            checked(serde_json::json!({"datasource_type": "KRB", "keytab": "obs://b/k"})),
            Err("keytab requires krb5_conf".into())
        );
        assert_eq!(
            checked(serde_json::json!({
                "datasource_type": "KRB", "krb5_conf": "obs://b/k", "keytab": "obs://b/t",
                "certificate_location": "obs://b/c.cer"
            })),
            Err("certificate_location conflicts with krb5_conf".into())
        );
        assert_eq!(
            checked(serde_json::json!({"datasource_type": "passwd", "user_name": "u"})),
            Err("datasource_type passwd requires password".into())
        );
        assert_eq!(
            checked(serde_json::json!({
                "datasource_type": "passwd", "user_name": "u", "password": "p",
                "certificate_location": "obs://b/c.cer"
            })),
            Err("certificate_location does not apply to datasource_type passwd".into())
        );
        assert_eq!(
            checked(serde_json::json!({
                "datasource_type": "CSS", "user_name": "u", "password": "p",
                "certificate_location": "obs://b/c.cer"
            })),
            Ok(())
        );
        assert_eq!(
            checked(serde_json::json!({"datasource_type": "Kafka_SSL"})),
            Err("datasource_type Kafka_SSL requires truststore_location".into())
        );
    }

    #[test]
    fn locations_are_obs_paths_and_fields_are_bounded() {
        let krb = |krb5: Value| {
            checked(serde_json::json!({
                "datasource_type": "KRB", "krb5_conf": krb5, "keytab": "obs://b/t"
            }))
        };
        assert_eq!(krb("OBS://b/krb5.conf".into()), Ok(()));
        assert!(krb("/etc/krb5.conf".into()).is_err());
        assert!(krb("obs://".into()).is_err());
        assert!(krb(format!("obs://{}", "a".repeat(1018)).into()).is_ok());
        assert!(krb(format!("obs://{}", "a".repeat(1019)).into()).is_err());
        assert!(krb("obs://b/\nx".into()).is_err());
        assert!(krb(5.into()).is_err());
    }

    #[test]
    fn user_name_and_its_v2_name_must_agree() {
        let both = |a: &str, b: &str| {
            checked(serde_json::json!({
                "datasource_type": "passwd", "user_name": a, "username": b, "password": "p"
            }))
        };
        assert_eq!(both("u", "u"), Ok(()));
        assert!(both("u", "v").is_err());
        assert_eq!(
            checked(serde_json::json!({
                "datasource_type": "passwd", "username": "u", "password": "p"
            })),
            Ok(())
        );
    }

    #[test]
    fn sealed_secrets_open_only_for_their_project_and_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets = SecretBox::load_or_create(dir.path()).expect("key");
        let project = ProjectId::parse("p1").expect("project");
        let fields = BTreeMap::from([(Field::Password, Secret::new("s3cret-pw".into()))]);
        let sealed = seal(&secrets, &project, "a1", &fields);
        assert!(!sealed.windows(9).any(|w| w == b"s3cret-pw"));
        let record = |name: &str| AuthInfoRecord {
            name: name.into(),
            datasource_type: "passwd".into(),
            attributes: serde_json::Map::new(),
            sealed_secrets: sealed.clone(),
            owner: "o".into(),
            create_time: 1,
            update_time: 1,
        };
        let opened = open(&secrets, &project, &record("a1")).expect("opens");
        assert_eq!(opened[&Field::Password].expose(), "s3cret-pw");
        assert!(open(&secrets, &project, &record("a2")).is_err());
        let other = ProjectId::parse("p2").expect("project");
        assert!(open(&secrets, &other, &record("a1")).is_err());
    }
}
