//! The store's half of sharing enhanced connections with other projects (DLI's
//! `edsconnections.<id>` privileges) and of their tags after create (the v3 tag API).
//!
//! Every change reads the owner's live connection with the dialect's row lock first
//! (`FOR UPDATE` on PostgreSQL; SQLite's one writer needs none), so that a change never
//! interleaves with a delete of the connection or with another change of its grants or
//! tags. The tags live twice: `enhanced_tags` (indexed rows) and the JSON copy
//! `enhanced_connections.tags` that reads answer from; both are written in one
//! transaction.

use async_trait::async_trait;

use super::terms::ConnectionKey;
use super::{Result, StoreError};
use crate::domain::{ConnectionId, ProjectId, Tag};

/// The one privilege an enhanced connection can be granted with.
pub const BIND_QUEUE: &str = "BIND_QUEUE";

/// Most projects one connection may be granted to.
pub const MAX_GRANTEES_PER_CONNECTION: u32 = 100;

/// How a project may see an enhanced connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionAccess {
    /// The project owns it and it is ACTIVE.
    OwnerLive,
    /// The project owns it and it is DELETED (not yet purged).
    OwnerDeleted,
    /// Another project owns it and has granted it to this one.
    Grantee,
}

/// DLI's `action` of RunAuthorizationAction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantAction {
    /// Adds the privileges to what the grantee has.
    Grant,
    /// Takes the privileges away from what the grantee has.
    Revoke,
    /// Replaces what the grantee has (an empty list revokes everything).
    Update,
}

impl GrantAction {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "grant" => Some(Self::Grant),
            "revoke" => Some(Self::Revoke),
            "update" => Some(Self::Update),
            _ => None,
        }
    }
}

/// One connection's part of a grant request.
#[derive(Debug, Clone)]
pub struct GrantChange {
    pub connection_id: ConnectionId,
    /// Validated privilege names (only [`BIND_QUEUE`] exists), without duplicates.
    pub privileges: Vec<String>,
}

/// A RunAuthorizationAction on enhanced connections: all of `changes` or none.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub owner: ProjectId,
    pub grantee: ProjectId,
    pub action: GrantAction,
    pub changes: Vec<GrantChange>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    Applied,
    /// This connection is not a live connection of the owner: nothing was changed.
    NotFound(ConnectionId),
    /// This connection is already granted to the most projects allowed: nothing changed.
    TooManyGrantees(ConnectionId),
}

/// One project's grant on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub grantee_project_id: String,
    pub privileges: Vec<String>,
    pub create_time: i64,
    pub update_time: i64,
}

/// A change of one connection's tags.
#[derive(Debug, Clone)]
pub enum TagChange {
    /// Adds these tags; a key already there gets the new value.
    Set(Vec<Tag>),
    /// Removes these keys; keys not there are ignored.
    Remove(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagsOutcome {
    Applied,
    /// Not a live connection of the project.
    NotFound,
    /// The change would leave the connection with this many tags, more than allowed.
    TooMany(usize),
}

/// A live connection with its tags, for the tag queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedConnection {
    pub id: String,
    pub name: String,
    pub tags: Vec<Tag>,
}

#[async_trait]
pub trait EnhancedSharingStore: Send + Sync {
    /// How `viewer` may see the connection `id`; None: not at all (unknown, another
    /// project's and not granted, or granted but deleted).
    async fn enhanced_access(
        &self,
        viewer: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionAccess>>;

    /// Applies a grant, revoke or update to every connection of the request in one
    /// transaction. A grant left without privileges is removed, and with it the grantee's
    /// bindings of that connection.
    async fn apply_grants(&self, request: &GrantRequest) -> Result<GrantOutcome>;

    /// The grants of a live connection of `owner`, by grantee; None if it is not one.
    async fn list_grants(
        &self,
        owner: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<Vec<GrantRecord>>>;

    /// Changes the tags of a live connection of its owner, keeping at most
    /// [`MAX_TAGS`](crate::domain::MAX_TAGS).
    async fn change_tags(
        &self,
        key: ConnectionKey<'_>,
        change: &TagChange,
        now: i64,
    ) -> Result<TagsOutcome>;

    /// The tags of a live connection of `owner`, in the order they were first set; None
    /// if it is not one.
    async fn connection_tags(
        &self,
        owner: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<Vec<Tag>>>;

    /// The project's live connections with their tags, by create time then id. Bounded
    /// by the per-project quota of enhanced connections.
    async fn tagged_connections(&self, owner: &ProjectId) -> Result<Vec<TaggedConnection>>;
}

/// What a grant leaves a grantee with, from what it had and the request's privileges.
pub fn granted_after(action: GrantAction, had: &[String], asked: &[String]) -> Vec<String> {
    match action {
        GrantAction::Grant => {
            let mut after = had.to_vec();
            for privilege in asked {
                if !after.contains(privilege) {
                    after.push(privilege.clone());
                }
            }
            after
        }
        GrantAction::Revoke => had
            .iter()
            .filter(|privilege| !asked.contains(privilege))
            .cloned()
            .collect(),
        GrantAction::Update => asked.to_vec(),
    }
}

/// What a tag change leaves a connection with: first-set order kept, a new value for
/// a key replaces the old one in place, new keys at the end.
pub fn tags_after(before: &[Tag], change: &TagChange) -> Vec<Tag> {
    match change {
        TagChange::Set(tags) => {
            let mut after = before.to_vec();
            for tag in tags {
                match after.iter_mut().find(|old| old.key == tag.key) {
                    Some(old) => old.value.clone_from(&tag.value),
                    None => after.push(tag.clone()),
                }
            }
            after
        }
        TagChange::Remove(keys) => before
            .iter()
            .filter(|tag| !keys.contains(&tag.key))
            .cloned()
            .collect(),
    }
}

pub(super) const SELECT_OWNED_STATUS: &str =
    "SELECT status FROM enhanced_connections WHERE id = $1 AND project_id = $2";

/// A grant of a connection still live ($1 connection, $2 grantee).
pub(super) const SELECT_GRANTED: &str = "SELECT g.grantee_project_id FROM enhanced_grants g \
     JOIN enhanced_connections c ON c.id = g.connection_id \
     WHERE g.connection_id = $1 AND g.grantee_project_id = $2 AND c.status = 'ACTIVE'";

pub(super) const SELECT_GRANT_PRIVILEGES: &str = "SELECT privileges FROM enhanced_grants \
     WHERE connection_id = $1 AND grantee_project_id = $2";

pub(super) const COUNT_GRANTS: &str =
    "SELECT COUNT(*) FROM enhanced_grants WHERE connection_id = $1";

pub(super) const UPSERT_GRANT: &str = "INSERT INTO enhanced_grants \
     (connection_id, grantee_project_id, privileges, create_time, update_time) \
     VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (connection_id, grantee_project_id) \
     DO UPDATE SET privileges = excluded.privileges, update_time = excluded.update_time";

pub(super) const DELETE_GRANT: &str =
    "DELETE FROM enhanced_grants WHERE connection_id = $1 AND grantee_project_id = $2";

/// The grantee's bindings go with its grant.
pub(super) const DELETE_GRANTEE_BINDINGS: &str =
    "DELETE FROM enhanced_bindings WHERE connection_id = $1 AND project_id = $2";

pub(super) const SELECT_GRANTS: &str = "SELECT grantee_project_id, privileges, create_time, \
     update_time FROM enhanced_grants WHERE connection_id = $1 ORDER BY grantee_project_id";

pub(super) const SELECT_LIVE_TAGS: &str = "SELECT tags FROM enhanced_connections \
     WHERE id = $1 AND project_id = $2 AND status = 'ACTIVE'";

pub(super) const UPDATE_TAGS_COPY: &str =
    "UPDATE enhanced_connections SET tags = $1, update_time = $2 WHERE id = $3";

pub(super) const DELETE_TAG_ROWS: &str = "DELETE FROM enhanced_tags WHERE connection_id = $1";

pub(super) const INSERT_TAG_ROW: &str = "INSERT INTO enhanced_tags \
     (connection_id, project_id, key, value) VALUES ($1, $2, $3, $4)";

pub(super) const SELECT_TAGGED: &str = "SELECT id, name, tags FROM enhanced_connections \
     WHERE project_id = $1 AND status = 'ACTIVE' ORDER BY create_time, id";

/// A grant row, as [`SELECT_GRANTS`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    grantee_project_id: String,
    privileges: String,
    create_time: i64,
    update_time: i64,
}

impl TryFrom<GrantRow> for GrantRecord {
    type Error = StoreError;

    fn try_from(row: GrantRow) -> Result<Self> {
        Ok(GrantRecord {
            privileges: privileges_of(&row.privileges)?,
            grantee_project_id: row.grantee_project_id,
            create_time: row.create_time,
            update_time: row.update_time,
        })
    }
}

/// A connection's tags, as [`SELECT_TAGGED`] reads them.
#[derive(sqlx::FromRow)]
pub(super) struct TaggedRow {
    id: String,
    name: String,
    tags: String,
}

impl TryFrom<TaggedRow> for TaggedConnection {
    type Error = StoreError;

    fn try_from(row: TaggedRow) -> Result<Self> {
        Ok(TaggedConnection {
            tags: tags_of(&row.tags)?,
            id: row.id,
            name: row.name,
        })
    }
}

/// Whether a connection's stored status (None: no such connection of the owner) is a
/// live one's.
pub(super) fn is_live(status: Option<&str>) -> bool {
    status.and_then(super::EnhancedStatus::parse) == Some(super::EnhancedStatus::Active)
}

/// A stored privileges list.
pub(super) fn privileges_of(raw: &str) -> Result<Vec<String>> {
    serde_json::from_str(raw).map_err(|error| {
        StoreError::Corrupt(format!("grant privileges are not a JSON list: {error}"))
    })
}

/// Stored tags text as tags.
pub(super) fn tags_of(raw: &str) -> Result<Vec<Tag>> {
    serde_json::from_str(raw).map_err(|error| {
        StoreError::Corrupt(format!("connection tags are not a JSON list: {error}"))
    })
}

/// Writes `impl EnhancedSharingStore for $store`, as [`super::classic::impl_store`] does.
macro_rules! impl_enhanced_sharing_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::domain::{ConnectionId, ProjectId, Tag};
            use $crate::store::enhanced_sharing::{
                self as sharing, ConnectionAccess, EnhancedSharingStore, GrantOutcome, GrantRecord,
                GrantRequest, GrantRow, TagChange, TaggedConnection, TaggedRow, TagsOutcome,
                privileges_of, tags_of,
            };
            use $crate::store::sql::{Backend, Change, Dialect};
            use $crate::store::terms::ConnectionKey;
            use $crate::store::{Result, StoreError};

            fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
                serde_json::to_string(value)
                    .map_err(|error| StoreError::Corrupt(format!("cannot write JSON: {error}")))
            }

            #[async_trait::async_trait]
            impl EnhancedSharingStore for $store {
                async fn enhanced_access(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<ConnectionAccess>> {
                    let id = id.to_string();
                    let owned: Option<String> = sqlx::query_scalar(sharing::SELECT_OWNED_STATUS)
                        .bind(&id)
                        .bind(viewer.as_str())
                        .fetch_optional(self.reader())
                        .await?;
                    if let Some(status) = owned {
                        return Ok(Some(if sharing::is_live(Some(&status)) {
                            ConnectionAccess::OwnerLive
                        } else {
                            ConnectionAccess::OwnerDeleted
                        }));
                    }
                    let granted: Option<String> = sqlx::query_scalar(sharing::SELECT_GRANTED)
                        .bind(&id)
                        .bind(viewer.as_str())
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(granted.map(|_| ConnectionAccess::Grantee))
                }

                async fn apply_grants(&self, request: &GrantRequest) -> Result<GrantOutcome> {
                    let lock_owned =
                        format!("{}{}", sharing::SELECT_OWNED_STATUS, Self::LOCK_FOR_UPDATE);
                    let grantee = request.grantee.as_str();
                    let mut transaction = self.begin_write().await?;
                    let mut events = Vec::with_capacity(request.changes.len());
                    for change in &request.changes {
                        let id = change.connection_id.to_string();
                        let status: Option<String> = sqlx::query_scalar(&lock_owned)
                            .bind(&id)
                            .bind(request.owner.as_str())
                            .fetch_optional(&mut *transaction)
                            .await?;
                        if !sharing::is_live(status.as_deref()) {
                            transaction.rollback().await?;
                            return Ok(GrantOutcome::NotFound(change.connection_id));
                        }
                        let had: Option<String> =
                            sqlx::query_scalar(sharing::SELECT_GRANT_PRIVILEGES)
                                .bind(&id)
                                .bind(grantee)
                                .fetch_optional(&mut *transaction)
                                .await?;
                        let had = had.as_deref().map(privileges_of).transpose()?;
                        let after = sharing::granted_after(
                            request.action,
                            had.as_deref().unwrap_or_default(),
                            &change.privileges,
                        );
                        let action = if after.is_empty() { "revoke" } else { "grant" };
                        events.push(
                            $crate::store::Event::in_project(
                                &request.owner,
                                $crate::store::events::ENHANCED,
                                &id,
                                action,
                            )
                            .after("grantee", grantee)
                            .changed(
                                "privileges",
                                had.as_deref().unwrap_or_default(),
                                &after,
                            ),
                        );
                        if after.is_empty() {
                            if had.is_some() {
                                sqlx::query(sharing::DELETE_GRANT)
                                    .bind(&id)
                                    .bind(grantee)
                                    .execute(&mut *transaction)
                                    .await?;
                                sqlx::query(sharing::DELETE_GRANTEE_BINDINGS)
                                    .bind(&id)
                                    .bind(grantee)
                                    .execute(&mut *transaction)
                                    .await?;
                            }
                            continue;
                        }
                        if had.is_none() {
                            let grants: i64 = sqlx::query_scalar(sharing::COUNT_GRANTS)
                                .bind(&id)
                                .fetch_one(&mut *transaction)
                                .await?;
                            if grants >= i64::from(sharing::MAX_GRANTEES_PER_CONNECTION) {
                                transaction.rollback().await?;
                                return Ok(GrantOutcome::TooManyGrantees(change.connection_id));
                            }
                        }
                        sqlx::query(sharing::UPSERT_GRANT)
                            .bind(&id)
                            .bind(grantee)
                            .bind(json_text(&after)?)
                            .bind(request.now)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    // What the grantee sees changes as much as what the owner sees.
                    self.commit(
                        transaction,
                        Change::Project(request.owner.as_str()),
                        &events,
                    )
                    .await?;
                    self.announce(Change::Project(request.grantee.as_str()));
                    Ok(GrantOutcome::Applied)
                }

                async fn list_grants(
                    &self,
                    owner: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<Vec<GrantRecord>>> {
                    let id = id.to_string();
                    // One snapshot: the connection's state and its grants agree.
                    let mut transaction = self.begin_snapshot().await?;
                    let status: Option<String> = sqlx::query_scalar(sharing::SELECT_OWNED_STATUS)
                        .bind(&id)
                        .bind(owner.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if !sharing::is_live(status.as_deref()) {
                        transaction.rollback().await?;
                        return Ok(None);
                    }
                    let rows: Vec<GrantRow> = sqlx::query_as(sharing::SELECT_GRANTS)
                        .bind(&id)
                        .fetch_all(&mut *transaction)
                        .await?;
                    transaction.rollback().await?;
                    rows.into_iter()
                        .map(GrantRecord::try_from)
                        .collect::<Result<Vec<_>>>()
                        .map(Some)
                }

                async fn change_tags(
                    &self,
                    key: ConnectionKey<'_>,
                    change: &TagChange,
                    now: i64,
                ) -> Result<TagsOutcome> {
                    let ConnectionKey { project: owner, id } = key;
                    let max = $crate::domain::MAX_TAGS;
                    let lock_tags =
                        format!("{}{}", sharing::SELECT_LIVE_TAGS, Self::LOCK_FOR_UPDATE);
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let before: Option<String> = sqlx::query_scalar(&lock_tags)
                        .bind(&id)
                        .bind(owner.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(before) = before else {
                        transaction.rollback().await?;
                        return Ok(TagsOutcome::NotFound);
                    };
                    let before = tags_of(&before)?;
                    let after = sharing::tags_after(&before, change);
                    if after.len() > max {
                        transaction.rollback().await?;
                        return Ok(TagsOutcome::TooMany(after.len()));
                    }
                    sqlx::query(sharing::UPDATE_TAGS_COPY)
                        .bind(json_text(&after)?)
                        .bind(now)
                        .bind(&id)
                        .execute(&mut *transaction)
                        .await?;
                    sqlx::query(sharing::DELETE_TAG_ROWS)
                        .bind(&id)
                        .execute(&mut *transaction)
                        .await?;
                    // At most MAX_TAGS (20) rows.
                    for tag in &after {
                        sqlx::query(sharing::INSERT_TAG_ROW)
                            .bind(&id)
                            .bind(owner.as_str())
                            .bind(&tag.key)
                            .bind(&tag.value)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let event = $crate::store::Event::in_project(
                        owner,
                        $crate::store::events::ENHANCED,
                        &id,
                        "tag",
                    )
                    .changed("tags", &before, &after);
                    self.commit(transaction, Change::Project(owner.as_str()), &[event])
                        .await?;
                    Ok(TagsOutcome::Applied)
                }

                async fn connection_tags(
                    &self,
                    owner: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<Vec<Tag>>> {
                    let tags: Option<String> = sqlx::query_scalar(sharing::SELECT_LIVE_TAGS)
                        .bind(id.to_string())
                        .bind(owner.as_str())
                        .fetch_optional(self.reader())
                        .await?;
                    tags.as_deref().map(tags_of).transpose()
                }

                async fn tagged_connections(
                    &self,
                    owner: &ProjectId,
                ) -> Result<Vec<TaggedConnection>> {
                    let rows: Vec<TaggedRow> = sqlx::query_as(sharing::SELECT_TAGGED)
                        .bind(owner.as_str())
                        .fetch_all(self.reader())
                        .await?;
                    rows.into_iter().map(TaggedConnection::try_from).collect()
                }
            }
        };
    };
}

pub(super) use impl_enhanced_sharing_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag::parse(key, value).expect("valid tag")
    }

    #[test]
    fn grants_add_revokes_remove_and_updates_replace() {
        let had = names(&[BIND_QUEUE]);
        assert_eq!(
            granted_after(GrantAction::Grant, &had, &had),
            had,
            "granting twice keeps one"
        );
        assert!(granted_after(GrantAction::Revoke, &had, &had).is_empty());
        assert_eq!(granted_after(GrantAction::Grant, &[], &had), had);
        assert!(granted_after(GrantAction::Update, &had, &[]).is_empty());
        assert_eq!(granted_after(GrantAction::Update, &[], &had), had);
        assert!(granted_after(GrantAction::Revoke, &[], &had).is_empty());
    }

    #[test]
    fn setting_tags_overwrites_in_place_and_appends_new_keys() {
        let before = vec![tag("a", "1"), tag("b", "2")];
        let after = tags_after(&before, &TagChange::Set(vec![tag("c", "3"), tag("a", "9")]));
        assert_eq!(after, vec![tag("a", "9"), tag("b", "2"), tag("c", "3")]);
    }

    #[test]
    fn removing_tags_ignores_keys_that_are_not_there() {
        let before = vec![tag("a", "1"), tag("b", "2")];
        let after = tags_after(&before, &TagChange::Remove(names(&["a", "zzz"])));
        assert_eq!(after, vec![tag("b", "2")]);
    }

    #[test]
    fn only_the_three_actions_parse() {
        assert_eq!(GrantAction::parse("grant"), Some(GrantAction::Grant));
        assert_eq!(GrantAction::parse("revoke"), Some(GrantAction::Revoke));
        assert_eq!(GrantAction::parse("update"), Some(GrantAction::Update));
        assert_eq!(GrantAction::parse("Grant"), None);
        assert_eq!(GrantAction::parse(""), None);
    }
}
