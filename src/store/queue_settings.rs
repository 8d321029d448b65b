//! What changes on a queue or an elastic resource pool after its create (issue 27): its
//! stored DLI fields (CU count, CIDR, scaling policies, properties, pool membership),
//! DLI's service agency, and the counts that `GET /v3/{project_id}/quotas` answers.
//!
//! A queue's or pool's fields are one JSON object; a change is a compare-and-swap on its
//! text, so that two concurrent changes of one queue never lose one of them: the loser
//! reads again and re-applies its change.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::Result;
use crate::domain::ProjectId;

/// A queue's (`queues`) or a pool's (`elastic_resource_pools`) table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedTable {
    Queues,
    Pools,
}

impl NamedTable {
    /// What the audit trail calls its rows.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::Queues => "queue",
            Self::Pools => "pool",
        }
    }
}

/// One stored queue or pool of a project.
#[derive(Debug, Clone, Copy)]
pub struct NamedKey<'a> {
    pub table: NamedTable,
    pub project: &'a ProjectId,
    pub name: &'a str,
}

/// DLI's service agency of a project: the roles granted to DLI, and a version that
/// changes on every update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyRecord {
    pub roles: Vec<String>,
    pub version: String,
    pub update_time: i64,
}

/// The project's live resources, for the quotas answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectUsage {
    pub queues: u64,
    pub pools: u64,
    pub connections: u64,
    pub enhanced_connections: u64,
    pub auth_infos: u64,
}

#[async_trait]
pub trait QueueSettingsStore: Send + Sync {
    /// Replaces the fields of a stored queue or pool if they are still `expected`; false
    /// if it is gone or was changed since it was read (read again, then retry).
    async fn swap_named_attributes(
        &self,
        key: NamedKey<'_>,
        expected: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<bool>;

    /// How many live enhanced connections bind this queue (`kind` `queue`) or pool
    /// (`pool`) of the project.
    async fn count_enhanced_bound(
        &self,
        project: &ProjectId,
        kind: &str,
        name: &str,
    ) -> Result<u64>;

    /// The project's agency; None before the first create.
    async fn get_agency(&self, project: &ProjectId) -> Result<Option<AgencyRecord>>;

    /// Stores the project's agency (replacing the roles); the record as stored.
    async fn put_agency(
        &self,
        project: &ProjectId,
        roles: &[String],
        now: i64,
    ) -> Result<AgencyRecord>;

    /// The project's live resources.
    async fn project_usage(&self, project: &ProjectId) -> Result<ProjectUsage>;

    /// The projects that hold a live resource (a connection, an enhanced connection, a
    /// queue, a pool, an auth info or an agent), in order, at most `limit`: what an
    /// all-projects caller may pick from.
    async fn known_projects(&self, limit: u32) -> Result<Vec<String>>;
}

/// [`QueueSettingsStore::known_projects`]: $1 the limit. Each branch reads an index
/// that leads with `project_id`.
pub(super) const KNOWN_PROJECTS: &str = "SELECT project_id FROM ( \
         SELECT project_id FROM connections WHERE state <> 'DELETED' \
         UNION SELECT project_id FROM enhanced_connections WHERE status <> 'DELETED' \
         UNION SELECT project_id FROM queues \
         UNION SELECT project_id FROM elastic_resource_pools \
         UNION SELECT project_id FROM auth_infos \
         UNION SELECT project_id FROM agents) AS known \
     ORDER BY project_id LIMIT $1";

pub(super) const SWAP_QUEUE: &str = "UPDATE queues SET attributes = $4 \
     WHERE project_id = $1 AND name = $2 AND attributes = $3";

pub(super) const SWAP_POOL: &str = "UPDATE elastic_resource_pools SET attributes = $4 \
     WHERE project_id = $1 AND name = $2 AND attributes = $3";

pub(super) const SELECT_AGENCY: &str = "SELECT roles, version, update_time \
     FROM dli_agencies WHERE project_id = $1";

/// Upsert; the version counts the updates.
pub(super) const UPSERT_AGENCY: &str = "INSERT INTO dli_agencies \
         (project_id, roles, version, update_time) VALUES ($1, $2, 1, $3) \
     ON CONFLICT (project_id) DO UPDATE \
         SET roles = excluded.roles, version = dli_agencies.version + 1, \
             update_time = excluded.update_time";

pub(super) const COUNT_USAGE: &str = "SELECT \
       (SELECT COUNT(*) FROM queues WHERE project_id = $1) AS queues, \
       (SELECT COUNT(*) FROM elastic_resource_pools WHERE project_id = $1) AS pools, \
       (SELECT COUNT(*) FROM connections WHERE project_id = $1 AND state <> 'DELETED') \
         AS connections, \
       (SELECT COUNT(*) FROM enhanced_connections WHERE project_id = $1 AND status <> 'DELETED') \
         AS enhanced_connections, \
       (SELECT COUNT(*) FROM auth_infos WHERE project_id = $1) AS auth_infos";

/// A stored roles list.
pub(super) fn roles_of(raw: &str) -> Result<Vec<String>> {
    serde_json::from_str(raw).map_err(|error| {
        super::StoreError::Corrupt(format!("agency roles are not a JSON list: {error}"))
    })
}

fn count(raw: i64) -> u64 {
    u64::try_from(raw).unwrap_or_default()
}

/// The counts [`COUNT_USAGE`] reads.
#[derive(sqlx::FromRow)]
pub(super) struct UsageRow {
    queues: i64,
    pools: i64,
    connections: i64,
    enhanced_connections: i64,
    auth_infos: i64,
}

impl From<UsageRow> for ProjectUsage {
    fn from(row: UsageRow) -> Self {
        Self {
            queues: count(row.queues),
            pools: count(row.pools),
            connections: count(row.connections),
            enhanced_connections: count(row.enhanced_connections),
            auth_infos: count(row.auth_infos),
        }
    }
}

/// An agency row, as [`SELECT_AGENCY`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct AgencyRow {
    roles: String,
    version: i64,
    update_time: i64,
}

impl TryFrom<AgencyRow> for AgencyRecord {
    type Error = super::StoreError;

    fn try_from(row: AgencyRow) -> Result<Self> {
        Ok(AgencyRecord {
            roles: roles_of(&row.roles)?,
            version: row.version.to_string(),
            update_time: row.update_time,
        })
    }
}

/// Writes `impl QueueSettingsStore for $store`, as [`super::classic::impl_store`] does.
macro_rules! impl_queue_settings_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use serde_json::{Map, Value};
            use $crate::domain::ProjectId;
            use $crate::store::Result;
            use $crate::store::queue_settings::{
                self as settings, AgencyRecord, AgencyRow, NamedKey, NamedTable, ProjectUsage,
                QueueSettingsStore, UsageRow,
            };
            use $crate::store::sql::Backend;

            #[async_trait::async_trait]
            impl QueueSettingsStore for $store {
                async fn swap_named_attributes(
                    &self,
                    key: NamedKey<'_>,
                    expected: &Map<String, Value>,
                    new: &Map<String, Value>,
                ) -> Result<bool> {
                    let NamedKey {
                        table,
                        project,
                        name,
                    } = key;
                    let statement = match table {
                        NamedTable::Queues => settings::SWAP_QUEUE,
                        NamedTable::Pools => settings::SWAP_POOL,
                    };
                    let event = $crate::store::Event::in_project(
                        project,
                        table.resource_type(),
                        name,
                        "update",
                    )
                    .changed("attributes", expected, new);
                    let expected = Value::Object(expected.clone()).to_string();
                    let new = Value::Object(new.clone()).to_string();
                    let swap = sqlx::query(statement)
                        .bind(project.as_str())
                        .bind(name)
                        .bind(&expected)
                        .bind(&new);
                    let change = $crate::store::Change::Project(project.as_str());
                    Ok(self.write_recorded(swap, change, &[event]).await? > 0)
                }

                async fn count_enhanced_bound(
                    &self,
                    project: &ProjectId,
                    kind: &str,
                    name: &str,
                ) -> Result<u64> {
                    let bound: i64 =
                        sqlx::query_scalar($crate::store::enhanced::COUNT_ENHANCED_BOUND)
                            .bind(project.as_str())
                            .bind(kind)
                            .bind(name)
                            .fetch_one(self.reader())
                            .await?;
                    Ok(u64::try_from(bound).unwrap_or_default())
                }

                async fn get_agency(&self, project: &ProjectId) -> Result<Option<AgencyRecord>> {
                    let row: Option<AgencyRow> = sqlx::query_as(settings::SELECT_AGENCY)
                        .bind(project.as_str())
                        .fetch_optional(self.reader())
                        .await?;
                    row.map(AgencyRecord::try_from).transpose()
                }

                async fn put_agency(
                    &self,
                    project: &ProjectId,
                    roles: &[String],
                    now: i64,
                ) -> Result<AgencyRecord> {
                    let text = serde_json::to_string(roles).map_err(|error| {
                        $crate::store::StoreError::Corrupt(format!(
                            "cannot write agency roles: {error}"
                        ))
                    })?;
                    let mut transaction = self.begin_write().await?;
                    sqlx::query(settings::UPSERT_AGENCY)
                        .bind(project.as_str())
                        .bind(&text)
                        .bind(now)
                        .execute(&mut *transaction)
                        .await?;
                    let row: AgencyRow = sqlx::query_as(settings::SELECT_AGENCY)
                        .bind(project.as_str())
                        .fetch_one(&mut *transaction)
                        .await?;
                    let event = $crate::store::Event::in_project(
                        project,
                        "agency",
                        project.as_str(),
                        "update",
                    )
                    .after("roles", roles);
                    self.commit(
                        transaction,
                        $crate::store::Change::Project(project.as_str()),
                        &[event],
                    )
                    .await?;
                    AgencyRecord::try_from(row)
                }

                async fn known_projects(&self, limit: u32) -> Result<Vec<String>> {
                    Ok(sqlx::query_scalar(settings::KNOWN_PROJECTS)
                        .bind(i64::from(limit))
                        .fetch_all(self.reader())
                        .await?)
                }

                async fn project_usage(&self, project: &ProjectId) -> Result<ProjectUsage> {
                    let row: UsageRow = sqlx::query_as(settings::COUNT_USAGE)
                        .bind(project.as_str())
                        .fetch_one(self.reader())
                        .await?;
                    Ok(ProjectUsage::from(row))
                }
            }
        };
    };
}
pub(super) use impl_queue_settings_store;
