//! The store's half of DLI's datasource authentication (auth infos): named records of a
//! project, their non-secret fields as a JSON object and their secret ones sealed.
//!
//! The store never sees a secret in clear: the API seals them (one JSON object, bound to
//! the project and name) before they get here. An update is a compare-and-set on
//! `update_time`, which every update moves forward, so that the API's read, merge and
//! write of one record cannot lose a concurrent update.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{CreateNamedOutcome, Result};
use crate::domain::ProjectId;

/// An auth info to create: every field already validated, its secrets sealed.
#[derive(Debug, Clone)]
pub struct NewAuthInfo {
    pub project_id: ProjectId,
    pub name: String,
    pub datasource_type: String,
    /// The non-secret fields (`user_name`, the OBS locations), by wire name.
    pub attributes: Map<String, Value>,
    /// The secret fields as one JSON object, sealed with the server's key file.
    pub sealed_secrets: Vec<u8>,
    /// Who created it, as the list answers in `owner`.
    pub owner: String,
    pub create_time: i64,
}

/// An auth info as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthInfoRecord {
    pub name: String,
    pub datasource_type: String,
    pub attributes: Map<String, Value>,
    /// Empty when the row has none (rows are always written with some).
    pub sealed_secrets: Vec<u8>,
    pub owner: String,
    pub create_time: i64,
    pub update_time: i64,
}

/// Which auth infos of a project to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInfoQuery {
    /// Only the one of exactly this name.
    pub name: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// One page of a list, and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthInfoPage {
    pub total: u64,
    pub items: Vec<AuthInfoRecord>,
}

/// An update's new state of a record read at `read_update_time`.
#[derive(Debug, Clone)]
pub struct AuthInfoChange {
    pub attributes: Map<String, Value>,
    pub sealed_secrets: Vec<u8>,
    /// The record's `update_time` when it was read: the write happens only if it is
    /// still that.
    pub read_update_time: i64,
    /// Must be more than `read_update_time`.
    pub update_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthInfoUpdateOutcome {
    Updated,
    NotFound,
    /// Another update (or a delete and create) came between the read and this write.
    ChangedMeanwhile,
}

#[async_trait]
pub trait AuthInfoStore: Send + Sync {
    /// Stores a new auth info unless the project has one of that name or already `cap`.
    async fn create_auth_info(&self, new: &NewAuthInfo, cap: u32) -> Result<CreateNamedOutcome>;

    async fn get_auth_info(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> Result<Option<AuthInfoRecord>>;

    /// The project's auth infos by `create_time`, then name (stable for offset paging).
    async fn list_auth_infos(
        &self,
        project: &ProjectId,
        query: &AuthInfoQuery,
    ) -> Result<AuthInfoPage>;

    async fn update_auth_info(
        &self,
        project: &ProjectId,
        name: &str,
        change: &AuthInfoChange,
    ) -> Result<AuthInfoUpdateOutcome>;

    /// Removes an auth info; false if there is none of that name.
    async fn delete_auth_info(&self, project: &ProjectId, name: &str) -> Result<bool>;
}

/// One statement checks the cap and inserts ($1 project, $2 name, $3 type, $4
/// attributes, $5 sealed secrets, $6 owner, $7 time, $8 cap), as queues' does.
pub(super) const INSERT_AUTH_INFO: &str = "INSERT INTO auth_infos \
         (project_id, name, datasource_type, attributes, sealed_secrets, owner, \
          create_time, update_time) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $7 \
     WHERE (SELECT COUNT(*) FROM auth_infos WHERE project_id = $1) < $8";

const AUTH_INFO_COLUMNS: &str =
    "name, datasource_type, attributes, sealed_secrets, owner, create_time, update_time";

pub(super) static SELECT_AUTH_INFO: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {AUTH_INFO_COLUMNS} FROM auth_infos WHERE project_id = $1 AND name = $2")
});

/// A page: $1 project, $2 name or NULL for all, $3 limit, $4 offset.
pub(super) static SELECT_AUTH_INFO_PAGE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        format!(
            "SELECT {AUTH_INFO_COLUMNS} FROM auth_infos \
             WHERE project_id = $1 AND ($2 IS NULL OR name = $2) \
             ORDER BY create_time, name LIMIT $3 OFFSET $4"
        )
    });

pub(super) const COUNT_AUTH_INFOS: &str =
    "SELECT COUNT(*) FROM auth_infos WHERE project_id = $1 AND ($2 IS NULL OR name = $2)";

/// $1 attributes, $2 sealed secrets, $3 new time, $4 project, $5 name, $6 time read.
pub(super) const UPDATE_AUTH_INFO: &str = "UPDATE auth_infos \
     SET attributes = $1, sealed_secrets = $2, update_time = $3 \
     WHERE project_id = $4 AND name = $5 AND update_time = $6";

pub(super) const AUTH_INFO_EXISTS: &str =
    "SELECT 1 FROM auth_infos WHERE project_id = $1 AND name = $2";

pub(super) const DELETE_AUTH_INFO: &str =
    "DELETE FROM auth_infos WHERE project_id = $1 AND name = $2";

/// A stored row, as [`AUTH_INFO_COLUMNS`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct AuthInfoRow {
    name: String,
    datasource_type: String,
    attributes: String,
    sealed_secrets: Option<Vec<u8>>,
    owner: String,
    create_time: i64,
    update_time: i64,
}

impl TryFrom<AuthInfoRow> for AuthInfoRecord {
    type Error = super::StoreError;

    fn try_from(row: AuthInfoRow) -> Result<Self> {
        let Ok(Value::Object(attributes)) = serde_json::from_str(&row.attributes) else {
            return Err(super::StoreError::Corrupt(format!(
                "auth info {}: attributes are not a JSON object",
                row.name
            )));
        };
        Ok(AuthInfoRecord {
            name: row.name,
            datasource_type: row.datasource_type,
            attributes,
            sealed_secrets: row.sealed_secrets.unwrap_or_default(),
            owner: row.owner,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }
}

/// Writes `impl AuthInfoStore for $store`, as [`super::classic::impl_store`] does.
macro_rules! impl_auth_info_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::domain::ProjectId;
            use $crate::store::auth_infos::{
                self as auth, AuthInfoChange, AuthInfoPage, AuthInfoQuery, AuthInfoRecord,
                AuthInfoRow, AuthInfoStore, AuthInfoUpdateOutcome, NewAuthInfo,
            };
            use $crate::store::sql::Backend;
            use $crate::store::{CreateNamedOutcome, Event, Result};

            const AUTH_INFO: &str = "auth_info";

            #[async_trait::async_trait]
            impl AuthInfoStore for $store {
                async fn create_auth_info(
                    &self,
                    new: &NewAuthInfo,
                    cap: u32,
                ) -> Result<CreateNamedOutcome> {
                    let attributes = serde_json::Value::Object(new.attributes.clone()).to_string();
                    let mut transaction = self.begin_create(&new.project_id).await?;
                    let inserted = sqlx::query(auth::INSERT_AUTH_INFO)
                        .bind(new.project_id.as_str())
                        .bind(&new.name)
                        .bind(&new.datasource_type)
                        .bind(&attributes)
                        .bind(&new.sealed_secrets)
                        .bind(&new.owner)
                        .bind(new.create_time)
                        .bind(i64::from(cap))
                        .execute(&mut *transaction)
                        .await
                        .map(|done| done.rows_affected());
                    let change = $crate::store::Change::Project(new.project_id.as_str());
                    let event = Event::in_project(&new.project_id, AUTH_INFO, &new.name, "create")
                        .after("datasource_type", &new.datasource_type)
                        .after("attributes", &new.attributes)
                        .secret_set("secrets");
                    self.finish_capped_insert(transaction, inserted, change, event)
                        .await
                }

                async fn get_auth_info(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<Option<AuthInfoRecord>> {
                    let row: Option<AuthInfoRow> = sqlx::query_as(&auth::SELECT_AUTH_INFO)
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_optional(self.reader())
                        .await?;
                    row.map(AuthInfoRecord::try_from).transpose()
                }

                async fn list_auth_infos(
                    &self,
                    project: &ProjectId,
                    query: &AuthInfoQuery,
                ) -> Result<AuthInfoPage> {
                    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
                    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
                    // One snapshot: the total and the page agree.
                    let mut transaction = self.begin_snapshot().await?;
                    let total: i64 = sqlx::query_scalar(auth::COUNT_AUTH_INFOS)
                        .bind(project.as_str())
                        .bind(query.name.as_deref())
                        .fetch_one(&mut *transaction)
                        .await?;
                    let rows: Vec<AuthInfoRow> = sqlx::query_as(&auth::SELECT_AUTH_INFO_PAGE)
                        .bind(project.as_str())
                        .bind(query.name.as_deref())
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(&mut *transaction)
                        .await?;
                    transaction.commit().await?;
                    Ok(AuthInfoPage {
                        total: u64::try_from(total).unwrap_or(0),
                        items: rows
                            .into_iter()
                            .map(AuthInfoRecord::try_from)
                            .collect::<Result<_>>()?,
                    })
                }

                async fn update_auth_info(
                    &self,
                    project: &ProjectId,
                    name: &str,
                    change: &AuthInfoChange,
                ) -> Result<AuthInfoUpdateOutcome> {
                    let attributes_after = serde_json::Value::Object(change.attributes.clone());
                    let attributes = attributes_after.to_string();
                    let mut transaction = self.begin_write().await?;
                    let updated = sqlx::query(auth::UPDATE_AUTH_INFO)
                        .bind(&attributes)
                        .bind(&change.sealed_secrets)
                        .bind(change.update_time)
                        .bind(project.as_str())
                        .bind(name)
                        .bind(change.read_update_time)
                        .execute(&mut *transaction)
                        .await?;
                    if updated.rows_affected() == 1 {
                        let change = $crate::store::Change::Project(project.as_str());
                        let event = Event::in_project(project, AUTH_INFO, name, "update")
                            .after("attributes", &attributes_after)
                            .secret_set("secrets");
                        self.commit(transaction, change, &[event]).await?;
                        return Ok(AuthInfoUpdateOutcome::Updated);
                    }
                    let exists: Option<i32> = sqlx::query_scalar(auth::AUTH_INFO_EXISTS)
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    transaction.rollback().await?;
                    Ok(if exists.is_some() {
                        AuthInfoUpdateOutcome::ChangedMeanwhile
                    } else {
                        AuthInfoUpdateOutcome::NotFound
                    })
                }

                async fn delete_auth_info(&self, project: &ProjectId, name: &str) -> Result<bool> {
                    let delete = sqlx::query(auth::DELETE_AUTH_INFO)
                        .bind(project.as_str())
                        .bind(name);
                    let change = $crate::store::Change::Project(project.as_str());
                    let event = Event::in_project(project, AUTH_INFO, name, "delete");
                    Ok(self.write_recorded(delete, change, &[event]).await? > 0)
                }
            }
        };
    };
}

pub(super) use impl_auth_info_store;
