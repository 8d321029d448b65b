//! The SQL toolkit both backends share, written once.
//!
//! Statements use `$N` placeholders, which both drivers bind by position. What really
//! differs is behind two small traits each backend implements: [`Dialect`] (SQL that is
//! spelled differently, the claims among it) and [`Backend`] (pools, and how transactions
//! begin, where the locking differs). The `impl_*_store!` macros (the classic store in
//! [`super::classic`], the enhanced one, ...) then write each store trait's
//! implementation for a backend: generic code over sqlx's `Database` needs a bound per
//! bound type, per statement, so one macro expanding the same code for each backend's
//! concrete types reads better.

use async_trait::async_trait;
use sqlx::{Pool, Transaction};

pub(super) use super::commits::{Change, Commits};
pub(super) use super::events::Event;
pub(super) use super::group_commit::GroupCommit;
use super::records::QueueBinding;
use super::terms::ClaimTerms;
use super::{CreateNamedOutcome, Result, StoreError};
use crate::domain::{ConnectionState, ProjectId};

/// SQL that the two databases spell differently.
pub(super) trait Dialect {
    type Db: sqlx::Database;
    /// A list of text values travelling as one parameter, so that every length is the
    /// same statement (a list of n placeholders would prepare, and cache in every
    /// connection, one statement per length).
    type TextList: Send;
    fn text_list<S: AsRef<str>>(values: &[S]) -> Self::TextList;
    /// What goes around a text-list parameter to test `column` for membership.
    const IN_TEXT_LIST: (&'static str, &'static str);
    /// What goes around a parameter to test whether `name` contains it, ignoring ASCII
    /// case.
    const NAME_CONTAINS: (&'static str, &'static str);
    /// What LIMIT is bound to for "no limit".
    const NO_LIMIT: Option<i64>;
    /// Appended to the read of a connection's state before its bindings change: holds
    /// off a concurrent delete until the transaction ends ("" where the one writer
    /// already does).
    const LOCK_FOR_SHARE: &'static str;
    /// Appended to a claim's read of the rows it takes (aliased `w`): locks them and
    /// skips those another claimer holds ("" where the one writer already serialises).
    const CLAIM_LOCK: &'static str;
    /// Appended to the read of a queue before it is deleted: holds off concurrent binds
    /// (which read it [`Self::LOCK_FOR_SHARE`]) until the delete ends.
    const LOCK_FOR_UPDATE: &'static str;
    /// Inserts CREATING bindings, skipping queues already bound (or listed twice):
    /// $1 connection id, $2 time, $3 peer ids and $4 queue names as text lists.
    const INSERT_BINDINGS: &'static str;
    /// Inserts a connection's tags: $1 connection id, $2 project, $3 keys and $4 values
    /// as text lists.
    const INSERT_TAGS: &'static str;

    // The claims bind $1 owner, $2 lease end, $3 now and $4 limit, and each takes its
    // rows in one statement, so that two claimers never take the same one.

    /// Claims CREATING connections, oldest first: `id, project_id, service, destination`.
    const CLAIM_CREATING: &'static str;
    /// Claims CREATING bindings of live connections whose queue has no agent heard from
    /// since $5: `peer_id, queue_name, update_time` and their connection's `id,
    /// project_id, service, destination`.
    const CLAIM_BINDINGS: &'static str;
    /// Claims ACTIVE connections whose re-check is due, as [`Self::CLAIM_CREATING`].
    const CLAIM_RECHECKS: &'static str;

    /// Whether a unique violation is the one of a live name taken.
    fn is_duplicate_name(error: &dyn sqlx::error::DatabaseError) -> bool;

    /// `IN` a text list given as `parameter` (`$1`).
    fn in_text_list(parameter: &str) -> String {
        let (open, close) = Self::IN_TEXT_LIST;
        format!("{open}{parameter}{close}")
    }
}

/// What each backend does its own way: its pools and how its transactions begin.
#[async_trait]
pub(super) trait Backend: Dialect + Send + Sync + 'static {
    fn migrator() -> &'static sqlx::migrate::Migrator;
    /// Where reads go.
    fn reader(&self) -> &Pool<Self::Db>;
    /// Where writes go.
    fn writer(&self) -> &Pool<Self::Db>;
    async fn close_pools(&self);
    /// A transaction that reads, then writes on what it read.
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>>;
    /// A read-only transaction whose statements see one snapshot.
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Self::Db>>;
    /// The transaction of a create in `project`: the quota's count and the insert must
    /// not interleave with another create's.
    async fn begin_create(&self, project: &ProjectId) -> Result<Transaction<'static, Self::Db>>;
    /// Where the hot writes (creates, check progress and results, re-check results, the
    /// worker's claims of new connections and re-checks) are grouped into shared commits;
    /// None: each commits on its own.
    fn group_commit(&self) -> Option<&GroupCommit<Self::Db>> {
        None
    }
    /// Where connection creates are grouped into shared commits, each holding its
    /// project's create lock (see [`Self::begin_create`]) where the backend takes one:
    /// the hot writes' group where there is one.
    fn create_group(&self) -> Option<&GroupCommit<Self::Db>> {
        self.group_commit()
    }
    /// Who hears of this store's committed changes.
    fn subscribers(&self) -> &Commits;

    /// Makes the writers of events take turns from here to their commit, so that ids
    /// commit in order (a no-op where one writer already serialises).
    async fn order_events(
        _connection: &mut <Self::Db as sqlx::Database>::Connection,
    ) -> Result<()> {
        Ok(())
    }

    /// Records `events` on `connection` (inside the transaction of the change they
    /// describe), in the deployment's event order.
    async fn insert_events(
        connection: &mut <Self::Db as sqlx::Database>::Connection,
        events: &[Event],
    ) -> Result<()>;

    /// The one commit point of a transaction: records `events` in it, commits it, then
    /// announces `change` (see [`super::commits`]).
    async fn commit(
        &self,
        mut transaction: Transaction<'static, Self::Db>,
        change: Change<'_>,
        events: &[Event],
    ) -> Result<()> {
        Self::insert_events(&mut *transaction, events).await?;
        transaction.commit().await?;
        self.announce(change);
        Ok(())
    }

    /// Ends a capped insert (a queue's, a pool's, an auth info's) made in `transaction`
    /// (`inserted`: the rows it inserted): committed, announcing `change`, if its row
    /// went in (with `event`); rolled back if the cap was reached (no row) or the name
    /// is taken.
    async fn finish_capped_insert(
        &self,
        transaction: Transaction<'static, Self::Db>,
        inserted: std::result::Result<u64, sqlx::Error>,
        change: Change<'_>,
        event: Event,
    ) -> Result<CreateNamedOutcome> {
        let outcome = match inserted {
            Ok(0) => CreateNamedOutcome::CapReached,
            Ok(_) => CreateNamedOutcome::Created,
            // The primary key is (project, name): the only unique one.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                CreateNamedOutcome::AlreadyExists
            }
            Err(error) => return Err(error.into()),
        };
        if outcome == CreateNamedOutcome::Created {
            self.commit(transaction, change, &[event]).await?;
        } else {
            transaction.rollback().await?;
        }
        Ok(outcome)
    }

    /// Announces a change that committed without a transaction of the caller's (one
    /// statement on its own, or a write inside a grouped commit that has completed).
    fn announce(&self, change: Change<'_>) {
        self.subscribers().announce(change);
    }
}

/// What every claim binds.
pub(super) struct Claim<'a> {
    pub owner: &'a str,
    pub lease_until: i64,
    pub now: i64,
    pub limit: i64,
}

impl<'a> From<ClaimTerms<'a>> for Claim<'a> {
    fn from(terms: ClaimTerms<'a>) -> Self {
        let lease = i64::try_from(terms.lease.as_millis()).unwrap_or(i64::MAX);
        Self {
            owner: terms.owner,
            lease_until: terms.now.saturating_add(lease),
            now: terms.now,
            limit: i64::from(terms.limit),
        }
    }
}

/// Rows affected as a count of queues.
pub(super) fn affected(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

/// States as an SQL list, `('ACTIVE', 'FAILED')`. The names are fixed upper-case words,
/// so they need no escaping.
pub(super) fn sql_states(states: &[ConnectionState]) -> String {
    let quoted: Vec<String> = states
        .iter()
        .map(|state| format!("'{}'", state.as_str()))
        .collect();
    format!("({})", quoted.join(", "))
}

/// Queue bindings by connection id.
pub(super) type BindingsByConnection = std::collections::HashMap<String, Vec<QueueBinding>>;

/// Groups `(connection id, binding)` rows by connection, keeping their order.
pub(super) fn group_bindings(
    rows: impl IntoIterator<Item = Result<(String, QueueBinding)>>,
) -> Result<BindingsByConnection> {
    let mut by_connection = BindingsByConnection::new();
    for row in rows {
        let (connection_id, binding) = row?;
        by_connection
            .entry(connection_id)
            .or_default()
            .push(binding);
    }
    Ok(by_connection)
}

/// The query that lists a database's applied migrations (sqlx's own table).
pub(super) const APPLIED_MIGRATIONS: &str =
    "SELECT version, success FROM _sqlx_migrations ORDER BY version";

/// Checks that the applied migrations (`version`, `success`) are exactly the ones this
/// build knows: none missing, none failed, none from a newer build.
pub(super) fn check_migrations(
    known: &sqlx::migrate::Migrator,
    applied: &[super::rows::MigrationRow],
) -> Result<()> {
    let expected: std::collections::BTreeSet<i64> = known
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .map(|migration| migration.version)
        .collect();
    if let Some(failed) = applied.iter().find(|migration| !migration.success) {
        return Err(StoreError::SchemaNotCurrent(format!(
            "migration {} failed part-way; fix the database, then restart",
            failed.version
        )));
    }
    let present: std::collections::BTreeSet<i64> =
        applied.iter().map(|migration| migration.version).collect();
    if let Some(unknown) = present.difference(&expected).next() {
        return Err(StoreError::SchemaNotCurrent(format!(
            "migration {unknown} was applied by a newer dsconn; upgrade this replica"
        )));
    }
    if let Some(missing) = expected.difference(&present).next() {
        return Err(StoreError::SchemaNotCurrent(format!(
            "migration {missing} is not applied; run `dsconn migrate` or restart"
        )));
    }
    Ok(())
}

/// Writes the statement runners every store of a backend uses (`$db` is its sqlx
/// database): a write on its own, reads decoded into records through their row's
/// `TryFrom`, and the claims (grouped into shared commits where the backend groups).
macro_rules! impl_sql_access {
    ($store:ident, $db:ty) => {
        const _: () = {
            use sqlx::query::{Query, QueryAs};

            use $crate::store::sql::{Backend, Claim};
            use $crate::store::{Result, StoreError};

            type Arguments<'q> = <$db as sqlx::Database>::Arguments<'q>;
            type Connection = <$db as sqlx::Database>::Connection;
            type Row = <$db as sqlx::Database>::Row;

            impl $store {
                /// Runs `work` in the next grouped commit where the backend groups
                /// writes, else in a transaction of its own: either way its statements
                /// (a change and its events) commit together.
                async fn grouped_or_alone<T, F>(&self, work: F) -> Result<T>
                where
                    T: Send + 'static,
                    F: for<'c> FnOnce(
                            &'c mut Connection,
                        ) -> futures::future::BoxFuture<'c, Result<T>>
                        + Send
                        + 'static,
                {
                    match self.group_commit() {
                        Some(group) => group.run(work).await,
                        None => {
                            let mut transaction = self.writer().begin().await?;
                            let done = work(&mut *transaction).await?;
                            transaction.commit().await?;
                            Ok(done)
                        }
                    }
                }

                /// Runs a write on its own; how many rows it changed.
                async fn write<'q>(&self, statement: Query<'q, $db, Arguments<'q>>) -> Result<u64> {
                    Ok(statement.execute(self.writer()).await?.rows_affected())
                }

                /// Runs a write with the `events` it records, committed together if it
                /// changed a row (announcing `change`); how many rows it changed.
                async fn write_recorded<'q>(
                    &self,
                    statement: Query<'q, $db, Arguments<'q>>,
                    change: $crate::store::Change<'_>,
                    events: &[$crate::store::Event],
                ) -> Result<u64> {
                    let mut transaction = self.begin_write().await?;
                    let changed = statement.execute(&mut *transaction).await?.rows_affected();
                    if changed == 0 {
                        transaction.rollback().await?;
                    } else {
                        self.commit(transaction, change, events).await?;
                    }
                    Ok(changed)
                }

                /// Runs a write of one row that answers the row's project (`RETURNING
                /// project_id, ...`) and records the event `event` makes of that project
                /// and the returned row (if any) with it, then announces the change to
                /// that project; whether a row changed.
                async fn write_in_project<'q>(
                    &self,
                    statement: Query<'q, $db, Arguments<'q>>,
                    event: impl FnOnce(&str, &Row) -> Option<$crate::store::Event> + Send,
                ) -> Result<bool> {
                    use sqlx::Row as _;
                    let mut transaction = self.begin_write().await?;
                    let Some(row) = statement.fetch_optional(&mut *transaction).await? else {
                        transaction.rollback().await?;
                        return Ok(false);
                    };
                    let project: String = row.try_get(0)?;
                    let events: Vec<_> = event(&project, &row).into_iter().collect();
                    self.commit(
                        transaction,
                        $crate::store::Change::Project(&project),
                        &events,
                    )
                    .await?;
                    Ok(true)
                }

                /// Reads at most one row, as a record.
                async fn read_one<'q, R, T>(
                    &self,
                    statement: QueryAs<'q, $db, R, Arguments<'q>>,
                ) -> Result<Option<T>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                    T: TryFrom<R, Error = StoreError>,
                {
                    let row = statement.fetch_optional(self.reader()).await?;
                    row.map(T::try_from).transpose()
                }

                /// Reads every row, as records.
                async fn read_all<'q, R, T>(
                    &self,
                    statement: QueryAs<'q, $db, R, Arguments<'q>>,
                ) -> Result<Vec<T>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                    T: TryFrom<R, Error = StoreError>,
                {
                    let rows = statement.fetch_all(self.reader()).await?;
                    rows.into_iter().map(T::try_from).collect()
                }

                /// Runs one of the dialect's claim statements.
                async fn claim<R>(
                    &self,
                    statement: &'static str,
                    claim: Claim<'_>,
                ) -> Result<Vec<R>>
                where
                    R: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin + 'static,
                {
                    let Some(group) = self.group_commit() else {
                        return Ok(sqlx::query_as(statement)
                            .bind(claim.owner)
                            .bind(claim.lease_until)
                            .bind(claim.now)
                            .bind(claim.limit)
                            .fetch_all(self.writer())
                            .await?);
                    };
                    // The worker claims as checks finish, a few at a time: its claims
                    // share commits with the results being recorded (one commit each
                    // would be one more fsync per check).
                    let Claim {
                        owner,
                        lease_until,
                        now,
                        limit,
                    } = claim;
                    let owner = owner.to_owned();
                    group
                        .run(move |c| {
                            Box::pin(async move {
                                Ok(sqlx::query_as(statement)
                                    .bind(owner)
                                    .bind(lease_until)
                                    .bind(now)
                                    .bind(limit)
                                    .fetch_all(c)
                                    .await?)
                            })
                        })
                        .await
                }
            }
        };
    };
}

pub(super) use impl_sql_access;

/// The CREATING bindings of live connections whose queue no agent heard from since $5
/// serves, and (of connections that name an auth info) the ACTIVE ones and those FAILED
/// for their credentials whose re-check is due, with a free or expired lease ($3 now),
/// oldest first, at most $4: what `CLAIM_BINDINGS` of each dialect leases. The
/// candidates come from the CREATING bindings' partial index and from the bindings of
/// the connections that name an auth info (a partial index of those; CROSS JOIN keeps
/// SQLite reading them first), not a scan of every binding.
macro_rules! select_due_server_bindings {
    () => {
        "SELECT b.peer_id FROM queue_bindings b \
         JOIN connections c ON c.id = b.connection_id \
         WHERE c.state <> 'DELETED' \
           AND b.peer_id IN ( \
                SELECT peer_id FROM queue_bindings WHERE status = 'CREATING' \
                UNION ALL SELECT cb.peer_id FROM connections cs \
                CROSS JOIN queue_bindings cb \
                WHERE cs.session IS NOT NULL AND cb.connection_id = cs.id \
                  AND cb.next_check_at <= $3) \
           AND (b.status = 'CREATING' \
                OR (c.session IS NOT NULL \
                    AND (b.status = 'ACTIVE' OR b.credentials_failed = 1))) \
           AND (b.lease_until IS NULL OR b.lease_until < $3) \
           AND NOT EXISTS (SELECT 1 FROM agent_queues aq \
                JOIN agents a ON a.agent_id = aq.agent_id \
                WHERE aq.project_id = c.project_id AND aq.kind = 'queue' \
                  AND aq.queue_name = b.queue_name AND a.last_seen >= $5) \
         ORDER BY b.update_time LIMIT $4"
    };
}

pub(super) use select_due_server_bindings;

#[cfg(test)]
mod tests {
    use super::*;

    static KNOWN: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

    fn applied(version: i64, success: bool) -> super::super::rows::MigrationRow {
        super::super::rows::MigrationRow { version, success }
    }

    fn all_applied() -> Vec<super::super::rows::MigrationRow> {
        KNOWN.iter().map(|m| applied(m.version, true)).collect()
    }

    #[test]
    fn the_schema_is_current_only_with_exactly_the_known_migrations() {
        check_migrations(&KNOWN, &all_applied()).expect("current");

        let mut missing = all_applied();
        missing.pop();
        let error = check_migrations(&KNOWN, &missing).expect_err("one missing");
        assert!(error.to_string().contains("is not applied"), "{error}");

        let mut newer = all_applied();
        newer.push(applied(99_990_101_000_000, true));
        let error = check_migrations(&KNOWN, &newer).expect_err("one unknown");
        assert!(error.to_string().contains("newer dsconn"), "{error}");

        let mut failed = all_applied();
        failed[0].success = false;
        let error = check_migrations(&KNOWN, &failed).expect_err("one failed");
        assert!(error.to_string().contains("failed part-way"), "{error}");
    }
}
