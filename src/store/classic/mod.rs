//! The classic store (connections, their queue bindings, queues, pools, credentials and
//! tokens), written once for both backends by [`impl_store!`].

pub(in crate::store) mod statements;
mod steps;

pub(super) use steps::impl_classic_steps;

/// Writes `impl Store for $store` from the [`statements`], the steps and the backend's
/// [`Dialect`](super::sql::Dialect) and [`Backend`](super::sql::Backend); `$db` is its
/// sqlx database.
macro_rules! impl_store {
    ($store:ident, $db:ty) => {
        $crate::store::sql::impl_sql_access!($store, $db);
        $crate::store::classic::impl_classic_steps!($store, $db);

        const _: () = {
            use std::sync::LazyLock;

            use sqlx::QueryBuilder;

            use $crate::domain::{ConnectionId, ConnectionState, ProjectId, QueueName};
            use $crate::store::classic::statements as shared;
            use $crate::store::events::queue_names;
            use $crate::store::queue_settings::NamedTable;
            use $crate::store::rows::{
                self, ConnectionRow, CredentialRow, PendingBindingRow, QueueRow, TokenRow,
            };
            use $crate::store::sql::{Backend, BindingsByConnection, Change, Claim, Dialect};
            use $crate::store::terms::{
                ClaimTerms, ConnectionKey, ConnectivityOf, HeldCheck, HeldWork, QueuesToBind,
            };
            use $crate::store::{
                BindingOutcome, BindingResult, CheckResult, ConnectionPage, ConnectionRecord,
                Connectivity, CreateNamedOutcome, CredentialRecord, DeleteNamedOutcome,
                DeleteOutcome, Event, ListQuery, NewConnection, NewCredential, NewPool, NewQueue,
                NewToken, PendingBinding, PendingCheck, PoolRecord, QueueRecord, ReactivateOutcome,
                Result, SortOrder, Store, StoreStats, TokenRecord,
            };

            #[async_trait::async_trait]
            impl Store for $store {
                async fn close(&self) {
                    self.close_pools().await;
                }

                fn commits(&self) -> &$crate::store::Commits {
                    self.subscribers()
                }

                async fn create_connection(&self, new: &NewConnection, quota: u32) -> Result<()> {
                    let change = Change::Project(new.project_id.as_str());
                    let event = $crate::store::events::connection_created(new);
                    if let Some(group) = self.create_group() {
                        let project = Some(new.project_id.as_str().to_owned());
                        let new = new.clone();
                        group
                            .run_holding(project, move |connection| {
                                Box::pin(async move {
                                    Self::insert_connection(connection, &new, quota).await?;
                                    Self::insert_events(connection, &[event]).await
                                })
                            })
                            .await?;
                        self.announce(change);
                        return Ok(());
                    }
                    let mut transaction = self.begin_create(&new.project_id).await?;
                    Self::insert_connection(&mut transaction, new, quota).await?;
                    self.commit(transaction, change, &[event]).await
                }

                async fn get_connection(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<ConnectionRecord>> {
                    let id = id.to_string();
                    let select = || {
                        sqlx::query_as::<_, rows::ConnectionRowWith<Option<String>>>(
                            shared::SELECT_CONNECTION,
                        )
                        .bind(id.as_str())
                        .bind(project.as_str())
                    };
                    // One statement is one snapshot: enough for a connection without
                    // bindings (most), and no BEGIN and COMMIT round trips.
                    let Some(shown) = select().fetch_optional(self.reader()).await? else {
                        return Ok(None);
                    };
                    if !shown.row.has_bindings {
                        let mut record = ConnectionRecord::from(shown.row);
                        record.check_report = shown.extra;
                        return Ok(Some(record));
                    }
                    // The row and its bindings from one snapshot, so a delete in between
                    // cannot show a live row without its bindings: read again inside one.
                    let mut transaction = self.begin_snapshot().await?;
                    let Some(shown) = select().fetch_optional(&mut *transaction).await? else {
                        transaction.commit().await?;
                        return Ok(None);
                    };
                    let mut record = ConnectionRecord::from(shown.row);
                    record.check_report = shown.extra;
                    let ids = std::slice::from_ref(&id);
                    let mut bindings = Self::bindings_for(&mut transaction, ids).await?;
                    record.queues = bindings.remove(&id).unwrap_or_default();
                    transaction.commit().await?;
                    Ok(Some(record))
                }

                async fn find_live_connection_by_name(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<Option<ConnectionRecord>> {
                    let select = sqlx::query_as::<_, ConnectionRow>(shared::SELECT_LIVE_BY_NAME);
                    let row = select
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(row.map(ConnectionRecord::from))
                }

                async fn ping(&self) -> Result<()> {
                    let applied: Vec<rows::MigrationRow> =
                        sqlx::query_as($crate::store::sql::APPLIED_MIGRATIONS)
                            .fetch_all(self.reader())
                            .await?;
                    $crate::store::sql::check_migrations(Self::migrator(), &applied)
                }

                async fn stats(&self) -> Result<StoreStats> {
                    let now = $crate::domain::now_millis();
                    let counts: Vec<rows::StateCountRow> = sqlx::query_as(shared::STATS_BY_STATE)
                        .fetch_all(self.reader())
                        .await?;
                    let work: rows::WorkCountsRow = sqlx::query_as(shared::STATS_WORK)
                        .bind(now)
                        .fetch_one(self.reader())
                        .await?;
                    let count = |n: i64| u64::try_from(n).unwrap_or_default();
                    Ok(StoreStats {
                        connections: counts
                            .into_iter()
                            .map(|row| (row.state, row.service, count(row.n)))
                            .collect(),
                        pending_checks: count(work.pending),
                        leased_checks: count(work.leased),
                    })
                }

                async fn list_connections(
                    &self,
                    project: &ProjectId,
                    query: &ListQuery,
                ) -> Result<ConnectionPage> {
                    let unpaged = query.limit.is_none() && query.offset == 0;
                    // The page with the count of all matches in one statement (one
                    // snapshot, so the count never disagrees with the page beside it):
                    // an uncorrelated subquery, evaluated once.
                    let page_statement = || {
                        let mut select = QueryBuilder::new(shared::SELECT_CONNECTIONS);
                        if unpaged {
                            select.push("CAST(0 AS BIGINT)");
                        } else {
                            Self::push_list_total(&mut select, project, query);
                        }
                        select.push(" FROM connections");
                        Self::push_list_filters(&mut select, project, query);
                        let direction = match query.order {
                            SortOrder::Ascending => "ASC",
                            SortOrder::Descending => "DESC",
                        };
                        select.push(format!(
                            " ORDER BY create_time {direction}, id {direction} LIMIT "
                        ));
                        select.push_bind(query.limit.map(i64::from).or(Self::NO_LIMIT));
                        select.push(" OFFSET ").push_bind(i64::from(query.offset));
                        select
                    };
                    let mut select = page_statement();
                    let mut rows: Vec<rows::ConnectionRowWith<i64>> =
                        select.build_query_as().fetch_all(self.reader()).await?;
                    let mut bindings = BindingsByConnection::new();
                    if rows.iter().any(|page_row| page_row.row.has_bindings) {
                        // The page and its bindings from one snapshot (a delete in between
                        // must not show a live row without its bindings): read the page
                        // again inside one. Only pages with bindings pay for it.
                        let mut transaction = self.begin_snapshot().await?;
                        let mut select = page_statement();
                        rows = select.build_query_as().fetch_all(&mut *transaction).await?;
                        let ids: Vec<String> = rows
                            .iter()
                            .filter(|page_row| page_row.row.has_bindings)
                            .map(|page_row| page_row.row.id().to_string())
                            .collect();
                        bindings = Self::bindings_for(&mut transaction, &ids).await?;
                        transaction.commit().await?;
                    }
                    let counted = rows.first().map(|page_row| page_row.extra);
                    let mut connections: Vec<ConnectionRecord> = rows
                        .into_iter()
                        .map(|page_row| ConnectionRecord::from(page_row.row))
                        .collect();
                    if !bindings.is_empty() {
                        for connection in &mut connections {
                            if let Some(queues) = bindings.remove(&connection.id.to_string()) {
                                connection.queues = queues;
                            }
                        }
                    }
                    let total = match counted {
                        _ if unpaged => connections.len() as u64,
                        Some(total) => u64::try_from(total).unwrap_or_default(),
                        // An empty first page of at least one row: nothing matches.
                        None if query.offset == 0 && query.limit != Some(0) => 0,
                        // An empty page past the end (or of no rows): no row carried
                        // the count.
                        None => {
                            let mut count = QueryBuilder::new("SELECT ");
                            Self::push_list_total(&mut count, project, query);
                            let total: i64 =
                                count.build_query_scalar().fetch_one(self.reader()).await?;
                            u64::try_from(total).unwrap_or_default()
                        }
                    };
                    Ok(ConnectionPage { total, connections })
                }

                async fn delete_connection(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    now: i64,
                ) -> Result<DeleteOutcome> {
                    let id = id.to_string();
                    // A check may finish between the update and the look-up; one retry
                    // covers it, since a finished connection stays finished until deleted.
                    for _ in 0..2 {
                        let mut transaction = self.begin_write().await?;
                        // The update waits for a check that is recording its result (the
                        // row lock, or the one writer), then decides on the state it left.
                        let deleted = sqlx::query(&shared::MARK_DELETED)
                            .bind(now)
                            .bind(&id)
                            .bind(project.as_str())
                            .execute(&mut *transaction)
                            .await?;
                        if deleted.rows_affected() > 0 {
                            sqlx::query(shared::DELETE_BINDINGS_OF)
                                .bind(&id)
                                .execute(&mut *transaction)
                                .await?;
                            sqlx::query(shared::COUNT_DELETED)
                                .bind(project.as_str())
                                .execute(&mut *transaction)
                                .await?;
                            let event = Event::in_project(project, "connection", &id, "delete")
                                .after("state", ConnectionState::Deleted.as_str());
                            self.commit(transaction, Change::Project(project.as_str()), &[event])
                                .await?;
                            return Ok(DeleteOutcome::Deleted);
                        }
                        transaction.rollback().await?;
                        let state = Self::state_of(self.reader(), project, &id, "").await?;
                        if let Some(outcome) = shared::delete_refused(state) {
                            return Ok(outcome);
                        }
                    }
                    Ok(DeleteOutcome::StillCreating)
                }

                async fn claim_pending_checks(
                    &self,
                    terms: ClaimTerms<'_>,
                ) -> Result<Vec<PendingCheck>> {
                    self.claim_checks(Self::CLAIM_CREATING, Claim::from(terms))
                        .await
                }

                async fn record_progress(
                    &self,
                    held: HeldCheck<'_>,
                    process: f64,
                    now: i64,
                ) -> Result<()> {
                    let (id, owner) = (held.id.to_string(), held.owner.to_owned());
                    let project = self
                        .grouped_or_alone(move |c| {
                            Box::pin(async move {
                                Self::update_progress(c, &id, &owner, process, now).await
                            })
                        })
                        .await?;
                    self.announce_on(project);
                    Ok(())
                }

                async fn record_check_result(
                    &self,
                    held: HeldCheck<'_>,
                    result: &CheckResult,
                    now: i64,
                ) -> Result<bool> {
                    let (id, owner) = (held.id.to_string(), held.owner);
                    if result.state == ConnectionState::Failed {
                        return self.record_failed_check(&id, owner, result, now).await;
                    }
                    let (owner, result) = (owner.to_owned(), result.clone());
                    let project = self
                        .grouped_or_alone(move |c| {
                            Box::pin(async move {
                                Self::update_check_result(c, &id, &owner, &result, now).await
                            })
                        })
                        .await?;
                    Ok(self.announce_on(project))
                }

                async fn purge_deleted(&self, deleted_before: i64) -> Result<u64> {
                    let purged = self
                        .write(sqlx::query(shared::PURGE_DELETED).bind(deleted_before))
                        .await?;
                    if purged > 0 {
                        self.announce(Change::Everything);
                    }
                    Ok(purged)
                }

                async fn claim_pending_bindings(
                    &self,
                    terms: ClaimTerms<'_>,
                    online_since: i64,
                ) -> Result<Vec<PendingBinding>> {
                    let claim = Claim::from(terms);
                    let mut rows: Vec<PendingBindingRow> = sqlx::query_as(Self::CLAIM_BINDINGS)
                        .bind(claim.owner)
                        .bind(claim.lease_until)
                        .bind(claim.now)
                        .bind(claim.limit)
                        .bind(online_since)
                        .fetch_all(self.writer())
                        .await?;
                    // Oldest first (SQLite's RETURNING has no order).
                    rows.sort_by(|a, b| {
                        (a.update_time, &a.peer_id).cmp(&(b.update_time, &b.peer_id))
                    });
                    rows.into_iter().map(PendingBinding::try_from).collect()
                }

                async fn set_connection_session(
                    &self,
                    key: ConnectionKey<'_>,
                    session: Option<&str>,
                    now: i64,
                ) -> Result<bool> {
                    let ConnectionKey { project, id } = key;
                    let mut transaction = self.begin_write().await?;
                    let id = id.to_string();
                    let found: Option<String> = sqlx::query_scalar(shared::SET_SESSION)
                        .bind(session)
                        .bind(now)
                        .bind(&id)
                        .bind(project.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if found.is_none() {
                        transaction.rollback().await?;
                        return Ok(false);
                    }
                    sqlx::query(shared::RESCHEDULE_BINDINGS)
                        .bind(&id)
                        .bind(now)
                        .bind(i64::from(session.is_some()))
                        .execute(&mut *transaction)
                        .await?;
                    let event = Event::in_project(project, "connection", &id, "update")
                        .after("session", session.map($crate::store::events::stored_json));
                    self.commit(transaction, Change::Project(project.as_str()), &[event])
                        .await?;
                    Ok(true)
                }

                async fn record_binding_result(
                    &self,
                    held: HeldWork<'_, &str>,
                    result: &BindingResult,
                    now: i64,
                ) -> Result<bool> {
                    let status = if result.active {
                        crate::domain::BindingStatus::Active
                    } else {
                        crate::domain::BindingStatus::Failed
                    };
                    let connectivity =
                        crate::domain::Reachability::from_reachable(result.reachable).as_str();
                    let (keep_failure, failed_at) = result.credentials.login.columns();
                    let mut transaction = self.begin_write().await?;
                    let connection_id: Option<String> =
                        sqlx::query_scalar(shared::RECORD_BINDING_RESULT)
                            .bind(status.as_str())
                            .bind(&result.err_msg)
                            .bind(result.failure_reason.as_deref())
                            .bind(connectivity)
                            .bind(now)
                            .bind(held.key)
                            .bind(held.owner)
                            .bind(&result.checked_from)
                            .bind(result.next_check_at)
                            .bind(held.queue)
                            .bind(result.credentials.stages.as_deref())
                            .bind(i64::from(result.credentials.failed))
                            .bind(keep_failure)
                            .bind(failed_at)
                            .fetch_optional(&mut *transaction)
                            .await?;
                    let Some(connection_id) = connection_id else {
                        transaction.rollback().await?;
                        return Ok(false);
                    };
                    Self::settle_awaiting(
                        &mut transaction,
                        &connection_id,
                        now,
                        result.next_check_at,
                    )
                    .await?;
                    let project: Option<String> = sqlx::query_scalar(shared::SELECT_PROJECT_OF)
                        .bind(&connection_id)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    self.commit_on(transaction, project, |project| {
                        let binding = format!("{connection_id}/{}", held.queue);
                        Some(
                            Event::new(Some(project), "binding", binding, "status")
                                .changed("status", "CREATING", status.as_str())
                                .after("err_msg", &result.err_msg),
                        )
                    })
                    .await?;
                    Ok(true)
                }

                async fn claim_due_rechecks(
                    &self,
                    terms: ClaimTerms<'_>,
                ) -> Result<Vec<PendingCheck>> {
                    self.claim_checks(Self::CLAIM_RECHECKS, Claim::from(terms))
                        .await
                }

                async fn record_connectivity(
                    &self,
                    of: ConnectivityOf<'_>,
                    connectivity: &Connectivity,
                    now: i64,
                ) -> Result<bool> {
                    let (id, owner) = (of.id().to_string(), of.owner());
                    if let Some(group) = self.group_commit() {
                        // A sweep's re-checks finish together: they share commits.
                        let owner = owner.map(str::to_owned);
                        let connectivity = connectivity.clone();
                        let project = group
                            .run(move |c| {
                                Box::pin(async move {
                                    Self::update_connectivity(
                                        c,
                                        &id,
                                        owner.as_deref(),
                                        &connectivity,
                                        now,
                                    )
                                    .await
                                })
                            })
                            .await?;
                        return Ok(self.announce_on(project));
                    }
                    let mut transaction = self.begin_write().await?;
                    let project =
                        Self::update_connectivity(&mut transaction, &id, owner, connectivity, now)
                            .await?;
                    // update_connectivity recorded its event, if it changed.
                    self.commit_on(transaction, project, |_| None).await
                }

                async fn reactivate_connection(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    now: i64,
                ) -> Result<ReactivateOutcome> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let reactivated = sqlx::query(&shared::REACTIVATE)
                        .bind(now)
                        .bind(&id)
                        .bind(project.as_str())
                        .execute(&mut *transaction)
                        .await?;
                    if reactivated.rows_affected() > 0 {
                        sqlx::query(shared::RECHECK_FAILED_BINDINGS)
                            .bind(now)
                            .bind(&id)
                            .execute(&mut *transaction)
                            .await?;
                        let event = Event::in_project(project, "connection", &id, "reactivate")
                            .changed("state", "FAILED", "CREATING");
                        self.commit(transaction, Change::Project(project.as_str()), &[event])
                            .await?;
                        return Ok(ReactivateOutcome::Reactivated);
                    }
                    transaction.rollback().await?;
                    Ok(
                        match Self::state_of(self.reader(), project, &id, "").await? {
                            None => ReactivateOutcome::NotFound,
                            Some(state) => ReactivateOutcome::NotFailed(state),
                        },
                    )
                }

                async fn associate_queues(
                    &self,
                    key: ConnectionKey<'_>,
                    queues: QueuesToBind<'_>,
                    now: i64,
                ) -> Result<BindingOutcome> {
                    let ConnectionKey { project, id } = key;
                    let QueuesToBind { queues, declared } = queues;
                    let id = id.to_string();
                    let mut transaction = match self.begin_binding_change(project, &id).await? {
                        Ok(transaction) => transaction,
                        Err(outcome) => return Ok(outcome),
                    };
                    Self::require_queues(&mut transaction, project, queues, declared).await?;
                    let added = Self::insert_bindings(&mut transaction, &id, queues, now).await?;
                    let event = Event::in_project(project, "connection", &id, "bind")
                        .after("queues", queue_names(queues));
                    self.commit(transaction, Change::Project(project.as_str()), &[event])
                        .await?;
                    Ok(BindingOutcome::Changed(added))
                }

                async fn disassociate_queues(
                    &self,
                    key: ConnectionKey<'_>,
                    queues: &[QueueName],
                    now: i64,
                ) -> Result<BindingOutcome> {
                    let ConnectionKey { project, id } = key;
                    static DELETE: LazyLock<String> = LazyLock::new(|| {
                        let names = $store::in_text_list("$2");
                        format!(
                            "DELETE FROM queue_bindings \
                             WHERE connection_id = $1 AND queue_name {names}"
                        )
                    });
                    let id = id.to_string();
                    let mut transaction = match self.begin_binding_change(project, &id).await? {
                        Ok(transaction) => transaction,
                        Err(outcome) => return Ok(outcome),
                    };
                    let names: Vec<&str> = queues.iter().map(QueueName::as_str).collect();
                    let deleted = sqlx::query(&DELETE)
                        .bind(&id)
                        .bind(Self::text_list(&names))
                        .execute(&mut *transaction)
                        .await?;
                    // A connection waiting for the unbound queues waits no more.
                    Self::settle_awaiting(&mut transaction, &id, now, now).await?;
                    let event = Event::in_project(project, "connection", &id, "unbind")
                        .before("queues", queue_names(queues));
                    self.commit(transaction, Change::Project(project.as_str()), &[event])
                        .await?;
                    Ok(BindingOutcome::Changed($crate::store::sql::affected(
                        deleted.rows_affected(),
                    )))
                }

                async fn create_queue(
                    &self,
                    new: &NewQueue,
                    cap: u32,
                ) -> Result<CreateNamedOutcome> {
                    self.insert_named(NamedTable::Queues, new, cap).await
                }

                async fn list_queues(&self, project: &ProjectId) -> Result<Vec<QueueRecord>> {
                    let select = sqlx::query_as::<_, QueueRow>(shared::SELECT_QUEUES);
                    self.read_all(select.bind(project.as_str())).await
                }

                async fn get_queue(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<Option<QueueRecord>> {
                    let select = sqlx::query_as::<_, QueueRow>(shared::SELECT_QUEUE);
                    self.read_one(select.bind(project.as_str()).bind(name))
                        .await
                }

                async fn queue_exists(&self, project: &ProjectId, name: &str) -> Result<bool> {
                    let found: Option<i32> = sqlx::query_scalar(
                        "SELECT 1 FROM queues WHERE project_id = $1 AND name = $2",
                    )
                    .bind(project.as_str())
                    .bind(name)
                    .fetch_optional(self.reader())
                    .await?;
                    Ok(found.is_some())
                }

                async fn delete_queue(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<DeleteNamedOutcome> {
                    self.delete_named(NamedTable::Queues, project, name).await
                }

                async fn create_pool(&self, new: &NewPool, cap: u32) -> Result<CreateNamedOutcome> {
                    self.insert_named(NamedTable::Pools, new, cap).await
                }

                async fn list_pools(&self, project: &ProjectId) -> Result<Vec<PoolRecord>> {
                    let select = sqlx::query_as::<_, QueueRow>(shared::SELECT_POOLS);
                    self.read_all(select.bind(project.as_str())).await
                }

                async fn delete_pool(
                    &self,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<DeleteNamedOutcome> {
                    self.delete_named(NamedTable::Pools, project, name).await
                }

                async fn insert_credential(&self, credential: &NewCredential) -> Result<()> {
                    let (all_projects, projects) = rows::scope_columns(&credential.scope);
                    let statement = sqlx::query(shared::INSERT_CREDENTIAL)
                        .bind(&credential.access_key)
                        .bind(&credential.sealed_secret_key)
                        .bind(all_projects)
                        .bind(projects)
                        .bind(credential.created_at);
                    let event = Event::new(None, "credential", &credential.access_key, "create")
                        .after(
                            "scope",
                            $crate::store::events::scope_value(&credential.scope),
                        )
                        .secret_set("secret_key");
                    self.write_recorded(statement, Change::Access, &[event])
                        .await?;
                    Ok(())
                }

                async fn find_credential(
                    &self,
                    access_key: &str,
                ) -> Result<Option<CredentialRecord>> {
                    let select = sqlx::query_as::<_, CredentialRow>(shared::SELECT_CREDENTIAL);
                    self.read_one(select.bind(access_key)).await
                }

                async fn list_credentials(&self) -> Result<Vec<CredentialRecord>> {
                    self.read_all(sqlx::query_as::<_, CredentialRow>(
                        shared::SELECT_CREDENTIALS,
                    ))
                    .await
                }

                async fn revoke_credential(&self, access_key: &str, now: i64) -> Result<bool> {
                    let revoke = sqlx::query(shared::REVOKE_CREDENTIAL).bind(now);
                    let event = Event::new(None, "credential", access_key, "revoke");
                    let revoked = self
                        .write_recorded(revoke.bind(access_key), Change::Access, &[event])
                        .await?;
                    Ok(revoked > 0)
                }

                async fn count_credentials(&self) -> Result<u64> {
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials")
                        .fetch_one(self.reader())
                        .await?;
                    Ok(u64::try_from(count).unwrap_or_default())
                }

                async fn insert_token(&self, token: &NewToken) -> Result<()> {
                    let (all_projects, projects) = rows::scope_columns(&token.scope);
                    let statement = sqlx::query(shared::INSERT_TOKEN)
                        .bind(&token.id)
                        .bind(&token.token_hash)
                        .bind(all_projects)
                        .bind(projects)
                        .bind(token.created_at)
                        .bind(token.expires_at);
                    let event = Event::new(None, "token", &token.id, "create")
                        .after("scope", $crate::store::events::scope_value(&token.scope))
                        .after("expires_at", token.expires_at)
                        .secret_set("token");
                    self.write_recorded(statement, Change::Access, &[event])
                        .await?;
                    Ok(())
                }

                async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
                    let select = sqlx::query_as::<_, TokenRow>(shared::SELECT_TOKEN);
                    self.read_one(select.bind(token_hash)).await
                }

                async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
                    self.read_all(sqlx::query_as::<_, TokenRow>(shared::SELECT_TOKENS))
                        .await
                }

                async fn revoke_token(&self, id: &str, now: i64) -> Result<bool> {
                    let revoke = sqlx::query(shared::REVOKE_TOKEN).bind(now).bind(id);
                    let event = Event::new(None, "token", id, "revoke");
                    let revoked = self
                        .write_recorded(revoke, Change::Access, &[event])
                        .await?;
                    Ok(revoked > 0)
                }

                async fn release_recheck(
                    &self,
                    id: ConnectionId,
                    owner: &str,
                    next_check_at: i64,
                ) -> Result<bool> {
                    let project: Option<String> = sqlx::query_scalar(shared::RELEASE_RECHECK)
                        .bind(next_check_at)
                        .bind(id.to_string())
                        .bind(owner)
                        .fetch_optional(self.writer())
                        .await?;
                    Ok(self.announce_on(project))
                }

                async fn key_check(&self, candidate: &[u8]) -> Result<Vec<u8>> {
                    self.write(sqlx::query(shared::INSERT_KEY_CHECK).bind(candidate))
                        .await?;
                    let stored: Vec<u8> =
                        sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 1")
                            .fetch_one(self.writer())
                            .await?;
                    Ok(stored)
                }
            }
        };
    };
}

pub(super) use impl_store;
