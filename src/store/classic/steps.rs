//! The classic store's inner steps, shared by its trait methods: statements inside a
//! caller's transaction, and the rules for a connection that waits for its queues.

/// Writes the classic store's inherent helpers for a backend (`$db` its sqlx database).
macro_rules! impl_classic_steps {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;

            use sqlx::QueryBuilder;

            use $crate::domain::{ConnectionState, ProjectId, QueueName};
            use $crate::store::classic::statements as shared;
            use $crate::store::events::state_event;
            use $crate::store::queue_settings::NamedTable;
            use $crate::store::rows::{self, BindingRow, PendingRow};
            use $crate::store::sql::{Backend, BindingsByConnection, Change, Claim, Dialect};
            use $crate::store::{
                BindingOutcome, CheckResult, Connectivity, CreateNamedOutcome, DeleteNamedOutcome,
                Event, ListQuery, NewConnection, NewQueue, PendingCheck, Result, StoreError,
            };

            type Connection = <$db as sqlx::Database>::Connection;

            impl $store {
                /// Runs one of the claims of connections (new ones, or re-checks).
                async fn claim_checks(
                    &self,
                    statement: &'static str,
                    claim: Claim<'_>,
                ) -> Result<Vec<PendingCheck>> {
                    let rows: Vec<PendingRow> = self.claim(statement, claim).await?;
                    rows.into_iter().map(PendingCheck::try_from).collect()
                }

                /// The bindings of these connections, in one query, by connection id.
                async fn bindings_for(
                    connection: &mut Connection,
                    connection_ids: &[String],
                ) -> Result<BindingsByConnection> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        let ids = $store::in_text_list("$1");
                        let select = shared::SELECT_BINDINGS;
                        format!("{select} WHERE connection_id {ids} ORDER BY queue_name")
                    });
                    if connection_ids.is_empty() {
                        return Ok(BindingsByConnection::new());
                    }
                    // One query per page, never one per row.
                    let rows: Vec<BindingRow> = sqlx::query_as(&SELECT)
                        .bind(Self::text_list(connection_ids))
                        .fetch_all(connection)
                        .await?;
                    let rows = rows
                        .into_iter()
                        .map(|row| Ok((row.connection_id, row.binding.try_into()?)));
                    $crate::store::sql::group_bindings(rows)
                }

                /// A connection's state (None: no such connection in the project),
                /// read with `lock`.
                async fn state_of<'e>(
                    executor: impl sqlx::Executor<'e, Database = $db>,
                    project: &ProjectId,
                    id: &str,
                    lock: &str,
                ) -> Result<Option<ConnectionState>> {
                    let select = format!("{}{lock}", shared::SELECT_CONNECTION_STATE);
                    let state: Option<String> = sqlx::query_scalar(&select)
                        .bind(id)
                        .bind(project.as_str())
                        .fetch_optional(executor)
                        .await?;
                    state.as_deref().map(rows::parse_state).transpose()
                }

                /// Inserts CREATING bindings for the queues not yet bound; how many were new.
                async fn insert_bindings(
                    connection: &mut Connection,
                    connection_id: &str,
                    queues: &[QueueName],
                    now: i64,
                ) -> Result<usize> {
                    if queues.is_empty() {
                        return Ok(0);
                    }
                    let peer_ids: Vec<String> = queues
                        .iter()
                        .map(|_| uuid::Uuid::new_v4().to_string())
                        .collect();
                    let names: Vec<&str> = queues.iter().map(QueueName::as_str).collect();
                    let inserted = sqlx::query(Self::INSERT_BINDINGS)
                        .bind(connection_id)
                        .bind(now)
                        .bind(Self::text_list(&peer_ids))
                        .bind(Self::text_list(&names))
                        .execute(connection)
                        .await?;
                    Ok($crate::store::sql::affected(inserted.rows_affected()))
                }

                /// Appends the WHERE clause of a list query (project scope first, so the
                /// project index serves every filter).
                fn push_list_filters<'q>(
                    builder: &mut QueryBuilder<'q, $db>,
                    project: &'q ProjectId,
                    query: &'q ListQuery,
                ) {
                    builder
                        .push(" WHERE project_id = ")
                        .push_bind(project.as_str());
                    if let Some(name) = &query.name_contains {
                        let (open, close) = Self::NAME_CONTAINS;
                        builder.push(open).push_bind(name.as_str()).push(close);
                    }
                    if !query.states.is_empty() {
                        let states: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
                        let (open, close) = Self::IN_TEXT_LIST;
                        builder.push(" AND state ").push(open);
                        builder.push_bind(Self::text_list(&states)).push(close);
                    }
                    if let Some(service) = query.service {
                        builder.push(" AND service = ").push_bind(service.as_str());
                    }
                    for term in query.tags.terms() {
                        builder
                            .push(
                                " AND EXISTS (SELECT 1 FROM connection_tags t \
                                 WHERE t.connection_id = connections.id AND t.key = ",
                            )
                            .push_bind(term.key.as_str());
                        if let Some(value) = &term.value {
                            builder.push(" AND t.value = ").push_bind(value.as_str());
                        }
                        builder.push(")");
                    }
                }

                /// The count of a list's matches, as a scalar subquery. Without filters it
                /// is the project's live count plus its DELETED rows (few, and indexed by
                /// project), not a count over every row of the project: the first page of
                /// a project of 100,000 would count them all.
                fn push_list_total<'q>(
                    builder: &mut QueryBuilder<'q, $db>,
                    project: &'q ProjectId,
                    query: &'q ListQuery,
                ) {
                    let unfiltered = query.name_contains.is_none()
                        && query.states.is_empty()
                        && query.service.is_none()
                        && query.tags.is_empty();
                    if unfiltered {
                        builder
                            .push(
                                "CAST(COALESCE((SELECT live_connections FROM project_counts \
                                 WHERE project_id = ",
                            )
                            .push_bind(project.as_str())
                            .push(
                                "), 0) + (SELECT COUNT(*) FROM connections \
                                 WHERE state = 'DELETED' AND project_id = ",
                            )
                            .push_bind(project.as_str())
                            .push(") AS BIGINT)");
                    } else {
                        builder.push("(SELECT COUNT(*) FROM connections");
                        Self::push_list_filters(builder, project, query);
                        builder.push(")");
                    }
                }

                /// A FAILED check of a connection's own: ACTIVE after all if one of its
                /// queues reached the destination, waiting while some are still being
                /// checked, FAILED (with their reasons) otherwise.
                async fn record_failed_check(
                    &self,
                    id: &str,
                    owner: &str,
                    result: &CheckResult,
                    now: i64,
                ) -> Result<bool> {
                    let mut transaction = self.begin_write().await?;
                    let rows::BindingCountsRow { active, creating } =
                        Self::binding_counts(&mut transaction, id).await?;
                    let (state, url, message) = if active > 0 {
                        (
                            ConnectionState::Active,
                            result.normalized_url.clone(),
                            String::new(),
                        )
                    } else if creating > 0 {
                        let project: Option<String> =
                            sqlx::query_scalar(shared::RECORD_AWAITING_QUEUES)
                                .bind(result.process)
                                .bind(&result.message)
                                .bind(&result.report)
                                .bind(now)
                                .bind(result.failure_reason.as_deref())
                                .bind(id)
                                .bind(owner)
                                .fetch_optional(&mut *transaction)
                                .await?;
                        // Still CREATING, waiting for its queues: no state change yet.
                        return self.commit_on(transaction, project, |_| None).await;
                    } else {
                        let message =
                            Self::failed_everywhere(&mut transaction, id, &result.message).await?;
                        (ConnectionState::Failed, String::new(), message)
                    };
                    let reached = state == ConnectionState::Active;
                    let project: Option<String> = sqlx::query_scalar(shared::RECORD_CHECK_RESULT)
                        .bind(state.as_str())
                        .bind(result.process)
                        .bind(url)
                        .bind(message)
                        .bind(&result.report)
                        .bind(now)
                        .bind(if reached {
                            None
                        } else {
                            result.failure_reason.as_deref()
                        })
                        .bind("UNREACHABLE")
                        .bind(if reached { result.next_check_at } else { None })
                        .bind(id)
                        .bind(owner)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    self.commit_on(transaction, project, |project| {
                        Some(state_event(project, id, state, &result.message))
                    })
                    .await
                }

                /// Commits a transaction whose write changed a row of `project` (None:
                /// it changed nothing, its claim being lost), with the event `event`
                /// makes of that project; whether it changed one.
                async fn commit_on(
                    &self,
                    transaction: sqlx::Transaction<'static, $db>,
                    project: Option<String>,
                    event: impl FnOnce(&str) -> Option<Event> + Send,
                ) -> Result<bool> {
                    match &project {
                        Some(project) => {
                            let events: Vec<Event> = event(project).into_iter().collect();
                            self.commit(transaction, Change::Project(project), &events)
                                .await?;
                        }
                        None => transaction.commit().await?,
                    }
                    Ok(project.is_some())
                }

                /// Announces a change to `project` made by a write that has committed
                /// (None: the write changed nothing); whether there was one.
                fn announce_on(&self, project: Option<String>) -> bool {
                    if let Some(project) = &project {
                        self.announce(Change::Project(project));
                    }
                    project.is_some()
                }

                /// How many of a connection's bindings are ACTIVE and CREATING.
                async fn binding_counts(
                    connection: &mut Connection,
                    connection_id: &str,
                ) -> Result<rows::BindingCountsRow> {
                    Ok(sqlx::query_as(shared::COUNT_BINDINGS_BY_STATUS)
                        .bind(connection_id)
                        .fetch_one(connection)
                        .await?)
                }

                /// The message of a connection reached from nowhere: the server's own
                /// check's, then its queues'.
                async fn failed_everywhere(
                    connection: &mut Connection,
                    connection_id: &str,
                    server_message: &str,
                ) -> Result<String> {
                    let failures: Vec<String> = sqlx::query_scalar(shared::SELECT_BINDING_FAILURES)
                        .bind(connection_id)
                        .fetch_all(connection)
                        .await?;
                    Ok(shared::unreached_message(server_message, &failures))
                }

                /// Decides a connection that waits for its queues' checks, once one is
                /// ACTIVE (ACTIVE) or none is left CREATING (FAILED).
                async fn settle_awaiting(
                    connection: &mut Connection,
                    connection_id: &str,
                    now: i64,
                    next_check_at: i64,
                ) -> Result<()> {
                    let waiting: Option<rows::AwaitingRow> =
                        sqlx::query_as(shared::SELECT_AWAITING)
                            .bind(connection_id)
                            .fetch_optional(&mut *connection)
                            .await?;
                    let Some(rows::AwaitingRow {
                        service,
                        destination,
                        message,
                    }) = waiting
                    else {
                        return Ok(());
                    };
                    let rows::BindingCountsRow { active, creating } =
                        Self::binding_counts(connection, connection_id).await?;
                    if active > 0 {
                        let url = shared::normalized_url(&service, &destination);
                        sqlx::query(shared::SETTLE_ACTIVE)
                            .bind(url)
                            .bind(now)
                            .bind(next_check_at)
                            .bind(connection_id)
                            .execute(connection)
                            .await?;
                    } else if creating == 0 {
                        let message =
                            Self::failed_everywhere(connection, connection_id, &message).await?;
                        sqlx::query(shared::SETTLE_FAILED)
                            .bind(message)
                            .bind(now)
                            .bind(connection_id)
                            .execute(connection)
                            .await?;
                    }
                    Ok(())
                }

                /// Fails with [`StoreError::UnknownQueue`] (the first in `queues` order)
                /// unless every queue is declared or a stored queue of the project; the
                /// stored ones are read with [`Dialect::LOCK_FOR_SHARE`], so that a
                /// concurrent delete waits for this transaction.
                async fn require_queues(
                    connection: &mut Connection,
                    project: &ProjectId,
                    queues: &[QueueName],
                    declared: &[QueueName],
                ) -> Result<()> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        let names = $store::in_text_list("$2");
                        let lock = $store::LOCK_FOR_SHARE;
                        format!(
                            "SELECT name FROM queues WHERE project_id = $1 AND name {names}{lock}"
                        )
                    });
                    let wanted: Vec<&str> = queues
                        .iter()
                        .filter(|queue| !declared.contains(queue))
                        .map(QueueName::as_str)
                        .collect();
                    if wanted.is_empty() {
                        return Ok(());
                    }
                    let found: Vec<String> = sqlx::query_scalar(&SELECT)
                        .bind(project.as_str())
                        .bind(Self::text_list(&wanted))
                        .fetch_all(connection)
                        .await?;
                    match wanted.iter().find(|name| !found.iter().any(|f| f == *name)) {
                        Some(missing) => Err(StoreError::UnknownQueue((*missing).to_owned())),
                        None => Ok(()),
                    }
                }

                /// Deletes a queue or pool that no live connection (classic or enhanced)
                /// has bound. Atomic with binding: the row is read with
                /// `LOCK_FOR_UPDATE`, so a bind that commits first makes the delete
                /// refused, and one that commits after finds no queue or pool.
                async fn delete_named(
                    &self,
                    table: NamedTable,
                    project: &ProjectId,
                    name: &str,
                ) -> Result<DeleteNamedOutcome> {
                    static SELECT_QUEUE: LazyLock<String> = LazyLock::new(|| {
                        let lock = $store::LOCK_FOR_UPDATE;
                        format!("SELECT name FROM queues WHERE project_id = $1 AND name = $2{lock}")
                    });
                    static SELECT_POOL: LazyLock<String> = LazyLock::new(|| {
                        let lock = $store::LOCK_FOR_UPDATE;
                        format!(
                            "SELECT name FROM elastic_resource_pools \
                             WHERE project_id = $1 AND name = $2{lock}"
                        )
                    });
                    let (select, delete, kind) = match table {
                        NamedTable::Queues => (
                            SELECT_QUEUE.as_str(),
                            shared::DELETE_QUEUE,
                            $crate::store::enhanced::KIND_QUEUE,
                        ),
                        NamedTable::Pools => (
                            SELECT_POOL.as_str(),
                            shared::DELETE_POOL,
                            $crate::store::enhanced::KIND_POOL,
                        ),
                    };
                    let mut transaction = self.begin_write().await?;
                    let found: Option<String> = sqlx::query_scalar(select)
                        .bind(project.as_str())
                        .bind(name)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if found.is_none() {
                        transaction.rollback().await?;
                        return Ok(DeleteNamedOutcome::NotFound);
                    }
                    // Read after the lock: sees every bind committed before it.
                    let mut bound: i64 =
                        sqlx::query_scalar($crate::store::enhanced::COUNT_ENHANCED_BOUND)
                            .bind(project.as_str())
                            .bind(kind)
                            .bind(name)
                            .fetch_one(&mut *transaction)
                            .await?;
                    if table == NamedTable::Queues {
                        // Only queues are bound to classic connections.
                        let classic: i64 = sqlx::query_scalar(shared::COUNT_BOUND_CONNECTIONS)
                            .bind(project.as_str())
                            .bind(name)
                            .fetch_one(&mut *transaction)
                            .await?;
                        bound = bound.saturating_add(classic);
                    }
                    if bound > 0 {
                        transaction.rollback().await?;
                        return Ok(DeleteNamedOutcome::Bound(
                            u64::try_from(bound).unwrap_or_default(),
                        ));
                    }
                    sqlx::query(delete)
                        .bind(project.as_str())
                        .bind(name)
                        .execute(&mut *transaction)
                        .await?;
                    let event = Event::in_project(project, table.resource_type(), name, "delete");
                    self.commit(transaction, Change::Project(project.as_str()), &[event])
                        .await?;
                    Ok(DeleteNamedOutcome::Deleted)
                }

                /// Inserts a queue or pool in the project's create transaction.
                async fn insert_named(
                    &self,
                    table: NamedTable,
                    new: &NewQueue,
                    cap: u32,
                ) -> Result<CreateNamedOutcome> {
                    let insert = match table {
                        NamedTable::Queues => shared::INSERT_QUEUE,
                        NamedTable::Pools => shared::INSERT_POOL,
                    };
                    let attributes = serde_json::Value::Object(new.attributes.clone()).to_string();
                    let mut transaction = self.begin_create(&new.project_id).await?;
                    let inserted = sqlx::query(insert)
                        .bind(new.project_id.as_str())
                        .bind(new.name.as_str())
                        .bind(&new.resource_id)
                        .bind(&attributes)
                        .bind(new.create_time)
                        .bind(i64::from(cap))
                        .execute(&mut *transaction)
                        .await
                        .map(|done| done.rows_affected());
                    let change = Change::Project(new.project_id.as_str());
                    let event = Event::in_project(
                        &new.project_id,
                        table.resource_type(),
                        new.name.as_str(),
                        "create",
                    )
                    .after("resource_id", &new.resource_id)
                    .after("attributes", &new.attributes);
                    self.finish_capped_insert(transaction, inserted, change, event)
                        .await
                }

                /// A create's writes, in the caller's transaction: the quota, the row, its
                /// count, tags and bindings.
                async fn insert_connection(
                    connection: &mut Connection,
                    new: &NewConnection,
                    quota: u32,
                ) -> Result<()> {
                    let tags_json =
                        serde_json::to_string(new.tags.as_slice()).map_err(|error| {
                            StoreError::Corrupt(format!("tags do not serialise: {error}"))
                        })?;
                    let id = new.id.to_string();
                    let project = new.project_id.as_str();
                    let inserted = sqlx::query(shared::INSERT_CONNECTION)
                        .bind(&id)
                        .bind(project)
                        .bind(&new.name)
                        .bind(new.service.as_str())
                        .bind(&new.destination)
                        .bind(&new.security_group_id)
                        .bind(&new.network_id)
                        .bind(&tags_json)
                        .bind(new.create_time)
                        .bind(i64::from(quota))
                        .bind(new.session.as_deref())
                        .execute(&mut *connection)
                        .await
                        .map_err(|error| match &error {
                            sqlx::Error::Database(db) if Self::is_duplicate_name(&**db) => {
                                StoreError::DuplicateName
                            }
                            _ => StoreError::Database(error),
                        })?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::QuotaExceeded { quota });
                    }
                    sqlx::query(shared::COUNT_CREATED)
                        .bind(project)
                        .execute(&mut *connection)
                        .await?;
                    // After the insert, which took the write lock on SQLite's writer.
                    Self::require_queues(
                        &mut *connection,
                        &new.project_id,
                        &new.queues,
                        &new.declared_queues,
                    )
                    .await?;
                    let tags = new.tags.as_slice();
                    if !tags.is_empty() {
                        let keys: Vec<&str> = tags.iter().map(|tag| tag.key.as_str()).collect();
                        let values: Vec<&str> = tags.iter().map(|tag| tag.value.as_str()).collect();
                        sqlx::query(Self::INSERT_TAGS)
                            .bind(&id)
                            .bind(project)
                            .bind(Self::text_list(&keys))
                            .bind(Self::text_list(&values))
                            .execute(&mut *connection)
                            .await?;
                    }
                    Self::insert_bindings(connection, &id, &new.queues, new.create_time).await?;
                    Ok(())
                }

                /// Records a claimed check's progress (nothing if the claim was lost).
                async fn update_progress(
                    connection: &mut Connection,
                    id: &str,
                    owner: &str,
                    process: f64,
                    now: i64,
                ) -> Result<Option<String>> {
                    Ok(sqlx::query_scalar(shared::RECORD_PROGRESS)
                        .bind(process)
                        .bind(now)
                        .bind(id)
                        .bind(owner)
                        .fetch_optional(connection)
                        .await?)
                }

                /// Records the end of a claimed check that did not fail; its project,
                /// None if the claim was lost.
                async fn update_check_result(
                    connection: &mut Connection,
                    id: &str,
                    owner: &str,
                    result: &CheckResult,
                    now: i64,
                ) -> Result<Option<String>> {
                    let connectivity = crate::domain::Reachability::from_reachable(
                        result.state == ConnectionState::Active,
                    )
                    .as_str();
                    let project: Option<String> = sqlx::query_scalar(shared::RECORD_CHECK_RESULT)
                        .bind(result.state.as_str())
                        .bind(result.process)
                        .bind(&result.connection_url)
                        .bind(&result.message)
                        .bind(&result.report)
                        .bind(now)
                        .bind(result.failure_reason.as_deref())
                        .bind(connectivity)
                        .bind(result.next_check_at)
                        .bind(id)
                        .bind(owner)
                        .fetch_optional(&mut *connection)
                        .await?;
                    if let Some(project) = &project {
                        let event = state_event(project, id, result.state, &result.message);
                        Self::insert_events(connection, &[event]).await?;
                    }
                    Ok(project)
                }

                /// Records a re-check's result (and, for the server's, its bindings'); its
                /// project, None if the connection is no longer ACTIVE or the claim was
                /// lost (then nothing changed).
                async fn update_connectivity(
                    connection: &mut Connection,
                    id: &str,
                    owner: Option<&str>,
                    connectivity: &Connectivity,
                    now: i64,
                ) -> Result<Option<String>> {
                    let before: Option<String> =
                        sqlx::query_scalar("SELECT connectivity FROM connections WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&mut *connection)
                            .await?
                            .flatten();
                    let project: Option<String> = sqlx::query_scalar(shared::RECORD_CONNECTIVITY)
                        .bind(connectivity.label())
                        .bind(now)
                        .bind(&connectivity.report)
                        .bind(connectivity.next_check_at)
                        .bind(id)
                        .bind(owner)
                        .fetch_optional(&mut *connection)
                        .await?;
                    let Some(project) = project else {
                        return Ok(None);
                    };
                    let after = connectivity.label();
                    if before.as_deref() != Some(after) {
                        let event = Event::new(Some(&project), "connection", id, "connectivity")
                            .changed("connectivity", before, after);
                        Self::insert_events(&mut *connection, &[event]).await?;
                    }
                    if let Some(online_since) = connectivity.server_bindings {
                        sqlx::query(shared::RECORD_BINDINGS_CONNECTIVITY)
                            .bind(connectivity.label())
                            .bind(now)
                            .bind(id)
                            .bind(online_since)
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(Some(project))
                }

                /// Begins the transaction that changes a connection's bindings, its state
                /// read with [`Dialect::LOCK_FOR_SHARE`]; the outcome instead if the
                /// connection takes no bindings.
                async fn begin_binding_change(
                    &self,
                    project: &ProjectId,
                    id: &str,
                ) -> Result<std::result::Result<sqlx::Transaction<'static, $db>, BindingOutcome>>
                {
                    let mut transaction = self.begin_write().await?;
                    let lock = Self::LOCK_FOR_SHARE;
                    Ok(
                        match Self::state_of(&mut *transaction, project, id, lock).await? {
                            None => Err(BindingOutcome::NotFound),
                            Some(state) if !state.is_bindable() => Err(BindingOutcome::Deleted),
                            Some(_) => Ok(transaction),
                        },
                    )
                }
            }
        };
    };
}

pub(crate) use impl_classic_steps;
