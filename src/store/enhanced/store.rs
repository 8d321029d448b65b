//! The enhanced store, written once for both backends.

/// A change only the owner of a live connection may make: begins it (or answers why
/// `$viewer` may not), runs `$work` on the transaction, then commits what was done or
/// rolls back what was refused. For use inside [`impl_enhanced_store`] only.
macro_rules! owner_change {
    ($store:expr, $viewer:expr, $id:expr, $event:expr, |$transaction:ident| $work:block) => {{
        let mut $transaction = match $store.begin_owner_change($viewer, $id).await? {
            Ok(transaction) => transaction,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let outcome = $work;
        $store.settle($transaction, $viewer, outcome, $event).await
    }};
}

/// Writes `impl EnhancedStore for $store`, as [`crate::store::classic::impl_store`] does.
macro_rules! impl_enhanced_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use std::sync::LazyLock;

            use sqlx::{FromRow, QueryBuilder};

            use $crate::domain::{ConnectionId, ProjectId, QueueName};
            use $crate::store::Event;
            use $crate::store::events::{ENHANCED, queue_names};
            use $crate::store::terms::ConnectionKey;
            use $crate::store::enhanced::{
                self as enhanced, BindingKind, BindingRow, ConnectionRow, EnhancedAccess, EnhancedBind,
                EnhancedStatus, ListedConnectionRow,
                EnhancedConnectionRecord, EnhancedLimits, EnhancedListQuery, EnhancedRefusal,
                EnhancedStore, EnhancedView, HostEntry, NewEnhancedConnection, NewRoute,
                RouteRow,
            };
            use $crate::store::sql::{Backend, Change, Dialect};
            use $crate::store::enhanced::rows::{BoundNameRow, OwnerRow, RouteCidrRow};
            use $crate::store::{Refusable, Result, StoreError};

            type Connection = <$db as sqlx::Database>::Connection;

            /// How a project may reach a connection, read with the dialect's share lock.
            enum Reach {
                Missing,
                Reached {
                    access: EnhancedAccess,
                    deleted: bool,
                },
            }

            impl $store {
                /// Commits a change that was done; any other outcome is a refusal, which
                /// leaves nothing behind.
                async fn settle(
                    &self,
                    transaction: sqlx::Transaction<'static, $db>,
                    project: &ProjectId,
                    outcome: std::result::Result<(), EnhancedRefusal>,
                    event: $crate::store::Event,
                ) -> Refusable<(), EnhancedRefusal> {
                    if outcome.is_ok() {
                        self.commit(transaction, Change::Project(project.as_str()), &[event])
                            .await?;
                    } else {
                        transaction.rollback().await?;
                    }
                    Ok(outcome)
                }

                /// Begins a change only the owner of a live connection may make: its
                /// transaction, or why `viewer` may not (nothing left behind). Hosts and
                /// routes are the owner's: BIND_QUEUE lets a grantee bind its own queues
                /// and pools, not steer the owner's traffic.
                async fn begin_owner_change(
                    &self,
                    viewer: &ProjectId,
                    id: &str,
                ) -> Refusable<sqlx::Transaction<'static, $db>, EnhancedRefusal> {
                    let mut transaction = self.begin_write().await?;
                    let refusal = match Self::enhanced_reach(&mut transaction, viewer, id).await? {
                        Reach::Missing => EnhancedRefusal::NotFound,
                        Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            ..
                        } => EnhancedRefusal::OwnerOnly,
                        Reach::Reached { deleted: true, .. } => EnhancedRefusal::Deleted,
                        Reach::Reached { .. } => return Ok(Ok(transaction)),
                    };
                    transaction.rollback().await?;
                    Ok(Err(refusal))
                }

                /// Reads the connection row with `LOCK_FOR_UPDATE` (changes to one
                /// connection take turns, so counts against its limits hold) and, for a
                /// grantee, its grant row with `LOCK_FOR_SHARE` (a concurrent revoke
                /// waits for this transaction, or this one sees its end).
                async fn enhanced_reach(
                    connection: &mut Connection,
                    viewer: &ProjectId,
                    id: &str,
                ) -> Result<Reach> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", enhanced::SELECT_STATUS_OWNER, $store::LOCK_FOR_UPDATE)
                    });
                    static GRANT: LazyLock<String> = LazyLock::new(|| {
                        format!("{}{}", enhanced::SELECT_GRANT, $store::LOCK_FOR_SHARE)
                    });
                    let row: Option<OwnerRow> = sqlx::query_as(&SELECT)
                        .bind(id)
                        .fetch_optional(&mut *connection)
                        .await?;
                    let Some(row) = row else {
                        return Ok(Reach::Missing);
                    };
                    let deleted = row.status()? == EnhancedStatus::Deleted;
                    if row.project_id == viewer.as_str() {
                        return Ok(Reach::Reached {
                            access: EnhancedAccess::Owner,
                            deleted,
                        });
                    }
                    let grant: Option<String> = sqlx::query_scalar(&GRANT)
                        .bind(id)
                        .bind(viewer.as_str())
                        .fetch_optional(&mut *connection)
                        .await?;
                    Ok(match grant {
                        Some(_) => Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            deleted,
                        },
                        None => Reach::Missing,
                    })
                }

                /// The first of `names` that is not a stored queue (kind queue) or pool
                /// of the project, reading the found ones with `LOCK_FOR_SHARE` so that
                /// a concurrent DeleteQueue/DeletePool waits for this transaction.
                async fn enhanced_missing(
                    connection: &mut Connection,
                    project: &ProjectId,
                    kind: BindingKind,
                    names: &[QueueName],
                    declared: &[QueueName],
                ) -> Result<Option<String>> {
                    static QUEUES: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT name FROM queues WHERE project_id = $1 AND name {}{}",
                            $store::in_text_list("$2"),
                            $store::LOCK_FOR_SHARE
                        )
                    });
                    static POOLS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT name FROM elastic_resource_pools \
                             WHERE project_id = $1 AND name {}{}",
                            $store::in_text_list("$2"),
                            $store::LOCK_FOR_SHARE
                        )
                    });
                    let wanted: Vec<&str> = names
                        .iter()
                        .filter(|name| kind == BindingKind::Pool || !declared.contains(name))
                        .map(QueueName::as_str)
                        .collect();
                    if wanted.is_empty() {
                        return Ok(None);
                    }
                    let select = match kind {
                        BindingKind::Queue => &*QUEUES,
                        BindingKind::Pool => &*POOLS,
                    };
                    let found: Vec<String> = sqlx::query_scalar(select)
                        .bind(project.as_str())
                        .bind(Self::text_list(&wanted))
                        .fetch_all(&mut *connection)
                        .await?;
                    Ok(wanted
                        .iter()
                        .find(|name| !found.iter().any(|f| f == *name))
                        .map(|name| (*name).to_owned()))
                }

                /// Checks the queues and pools exist, then binds them all; an outcome
                /// other than `Done` means nothing may be committed.
                async fn enhanced_bind_in(
                    connection: &mut Connection,
                    project: &ProjectId,
                    id: &str,
                    request: EnhancedBind<'_>,
                ) -> Refusable<(), EnhancedRefusal> {
                    let EnhancedBind {
                        queues,
                        pools,
                        declared,
                        limits,
                        now,
                    } = request;
                    if let Some(missing) = Self::enhanced_missing(
                        connection,
                        project,
                        BindingKind::Queue,
                        queues,
                        declared,
                    )
                    .await?
                    {
                        return Ok(Err(EnhancedRefusal::UnknownQueue(missing)));
                    }
                    if let Some(missing) =
                        Self::enhanced_missing(connection, project, BindingKind::Pool, pools, &[])
                            .await?
                    {
                        return Ok(Err(EnhancedRefusal::UnknownPool(missing)));
                    }
                    let wanted = queues
                        .iter()
                        .map(|name| (BindingKind::Queue, name))
                        .chain(pools.iter().map(|name| (BindingKind::Pool, name)));
                    for (kind, name) in wanted {
                        sqlx::query(enhanced::UPSERT_BINDING)
                            .bind(id)
                            .bind(kind.as_str())
                            .bind(project.as_str())
                            .bind(name.as_str())
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(now)
                            .execute(&mut *connection)
                            .await?;
                    }
                    // Counted after the inserts: re-binding what is bound adds nothing.
                    let bound: i64 = sqlx::query_scalar(enhanced::COUNT_BINDINGS)
                        .bind(id)
                        .fetch_one(&mut *connection)
                        .await?;
                    if bound > i64::from(limits.bindings_per_connection) {
                        return Ok(Err(EnhancedRefusal::TooManyBindings(
                            limits.bindings_per_connection,
                        )));
                    }
                    Ok(Ok(()))
                }

                /// Bindings and routes of these connections, each in one statement.
                async fn enhanced_details(
                    connection: &mut Connection,
                    records: &mut [EnhancedConnectionRecord],
                    only_project: Option<&ProjectId>,
                ) -> Result<()> {
                    static BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {} FROM enhanced_bindings WHERE connection_id {} \
                             ORDER BY kind DESC, project_id, name",
                            enhanced::BINDING_COLUMNS,
                            $store::in_text_list("$1")
                        )
                    });
                    static OWN_BINDINGS: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {} FROM enhanced_bindings WHERE connection_id {} \
                             AND project_id = $2 ORDER BY kind DESC, project_id, name",
                            enhanced::BINDING_COLUMNS,
                            $store::in_text_list("$1")
                        )
                    });
                    static ROUTES: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT connection_id, name, cidr, create_time FROM enhanced_routes \
                             WHERE connection_id {} ORDER BY create_time, name",
                            $store::in_text_list("$1")
                        )
                    });
                    if records.is_empty() {
                        return Ok(());
                    }
                    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
                    let bindings: Vec<BindingRow> = match only_project {
                        None => {
                            sqlx::query_as(&BINDINGS)
                                .bind(Self::text_list(&ids))
                                .fetch_all(&mut *connection)
                                .await?
                        }
                        Some(project) => {
                            sqlx::query_as(&OWN_BINDINGS)
                                .bind(Self::text_list(&ids))
                                .bind(project.as_str())
                                .fetch_all(&mut *connection)
                                .await?
                        }
                    };
                    let routes: Vec<RouteRow> = sqlx::query_as(&ROUTES)
                        .bind(Self::text_list(&ids))
                        .fetch_all(&mut *connection)
                        .await?;
                    enhanced::attach(records, bindings, routes)
                }
            }

            #[async_trait::async_trait]
            impl EnhancedStore for $store {
                async fn create_enhanced(
                    &self,
                    new: &NewEnhancedConnection,
                    declared: &[QueueName],
                    limits: &EnhancedLimits,
                ) -> Refusable<(), EnhancedRefusal> {
                    let project = &new.project_id;
                    let id = new.id.to_string();
                    let hosts = serde_json::to_string(&new.hosts)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    let tags = serde_json::to_string(new.tags.as_slice())
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    let mut transaction = self.begin_create(project).await?;
                    let live: i64 = sqlx::query_scalar(enhanced::COUNT_LIVE)
                        .bind(project.as_str())
                        .fetch_one(&mut *transaction)
                        .await?;
                    if live >= i64::from(limits.connections_per_project) {
                        transaction.rollback().await?;
                        return Ok(Err(EnhancedRefusal::QuotaReached(
                            limits.connections_per_project,
                        )));
                    }
                    let taken: Option<String> = sqlx::query_scalar(enhanced::SELECT_LIVE_NAME)
                        .bind(project.as_str())
                        .bind(&new.name)
                        .fetch_optional(&mut *transaction)
                        .await?;
                    if taken.is_some() {
                        transaction.rollback().await?;
                        return Ok(Err(EnhancedRefusal::NameTaken));
                    }
                    let inserted = sqlx::query(enhanced::INSERT_CONNECTION)
                        .bind(&id)
                        .bind(project.as_str())
                        .bind(&new.name)
                        .bind(&new.dest_vpc_id)
                        .bind(&new.dest_network_id)
                        .bind(new.routetable_id.as_deref())
                        .bind(&hosts)
                        .bind(&tags)
                        .bind(new.now)
                        .execute(&mut *transaction)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::NameTaken));
                        }
                        Err(error) => return Err(error.into()),
                    }
                    for tag in new.tags.as_slice() {
                        sqlx::query(enhanced::INSERT_TAG)
                            .bind(&id)
                            .bind(project.as_str())
                            .bind(&tag.key)
                            .bind(&tag.value)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let outcome = Self::enhanced_bind_in(
                        &mut transaction,
                        project,
                        &id,
                        EnhancedBind {
                            queues: &new.queues,
                            pools: &new.pools,
                            declared,
                            limits,
                            now: new.now,
                        },
                    )
                    .await?;
                    let event = $crate::store::events::enhanced_created(new);
                    self.settle(transaction, project, outcome, event)
                        .await
                }

                async fn list_enhanced(
                    &self,
                    project: &ProjectId,
                    query: &EnhancedListQuery,
                ) -> Result<Vec<EnhancedConnectionRecord>> {
                    let mut builder: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {} FROM enhanced_connections c WHERE c.project_id = ",
                        *enhanced::LIST_CONNECTION_COLUMNS
                    ));
                    builder.push_bind(project.as_str());
                    builder
                        .push(" AND c.status = ")
                        .push_bind(query.status.as_str());
                    if let Some(name) = &query.name {
                        builder.push(" AND c.name = ").push_bind(name.as_str());
                    }
                    for term in query.tags.terms() {
                        builder
                            .push(
                                " AND EXISTS (SELECT 1 FROM enhanced_tags t \
                                 WHERE t.connection_id = c.id AND t.key = ",
                            )
                            .push_bind(term.key.as_str());
                        if let Some(value) = &term.value {
                            builder.push(" AND t.value = ").push_bind(value.as_str());
                        }
                        builder.push(")");
                    }
                    builder
                        .push(" ORDER BY c.create_time, c.id LIMIT ")
                        .push_bind(i64::from(query.limit))
                        .push(" OFFSET ")
                        .push_bind(i64::from(query.offset));
                    let mut transaction = self.begin_snapshot().await?;
                    let rows: Vec<<$db as sqlx::Database>::Row> =
                        builder.build().fetch_all(&mut *transaction).await?;
                    let mut records = Vec::with_capacity(rows.len());
                    let mut listed = 0_u64;
                    for row in &rows {
                        let listed_row = ListedConnectionRow::from_row(row)?;
                        let count = u64::try_from(listed_row.hosts_count).unwrap_or(0);
                        let mut record = EnhancedConnectionRecord::try_from(listed_row.row)?;
                        let fits = count <= enhanced::LIST_HOSTS_PER_CONNECTION
                            && listed + count <= enhanced::LIST_HOSTS_PER_PAGE;
                        if fits {
                            listed += count;
                        } else if count > 0 {
                            record.hosts = Vec::new();
                            record.hosts_left_out = Some(count);
                        }
                        records.push(record);
                    }
                    drop(rows);
                    Self::enhanced_details(&mut transaction, &mut records, None).await?;
                    transaction.commit().await?;
                    Ok(records)
                }

                async fn get_enhanced(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                ) -> Result<Option<EnhancedView>> {
                    static SELECT: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {} FROM enhanced_connections c WHERE c.id = $1 \
                             AND (c.project_id = $2 OR EXISTS (SELECT 1 FROM enhanced_grants g \
                                  WHERE g.connection_id = c.id AND g.grantee_project_id = $2))",
                            enhanced::CONNECTION_COLUMNS
                        )
                    });
                    let mut transaction = self.begin_snapshot().await?;
                    let row: Option<ConnectionRow> = sqlx::query_as(&SELECT)
                        .bind(id.to_string())
                        .bind(viewer.as_str())
                        .fetch_optional(&mut *transaction)
                        .await?;
                    let Some(row) = row else {
                        transaction.commit().await?;
                        return Ok(None);
                    };
                    let record = EnhancedConnectionRecord::try_from(row)?;
                    let access = if record.project_id == viewer.as_str() {
                        EnhancedAccess::Owner
                    } else {
                        EnhancedAccess::Grantee
                    };
                    let mut records = [record];
                    let only = (access == EnhancedAccess::Grantee).then_some(viewer);
                    Self::enhanced_details(&mut transaction, &mut records, only).await?;
                    transaction.commit().await?;
                    let [connection] = records;
                    Ok(Some(EnhancedView { access, connection }))
                }

                async fn delete_enhanced(
                    &self,
                    project: &ProjectId,
                    id: ConnectionId,
                    now: i64,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    match Self::enhanced_reach(&mut transaction, project, &id).await? {
                        Reach::Missing => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::NotFound));
                        }
                        Reach::Reached {
                            access: EnhancedAccess::Grantee,
                            ..
                        } => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::OwnerOnly));
                        }
                        Reach::Reached { deleted: true, .. } => {
                            transaction.rollback().await?;
                            return Ok(Ok(()));
                        }
                        Reach::Reached { .. } => {}
                    }
                    for statement in [
                        enhanced::DELETE_BINDINGS_OF,
                        enhanced::DELETE_GRANTS_OF,
                        enhanced::DELETE_TAGS_OF,
                    ] {
                        sqlx::query(statement)
                            .bind(&id)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    sqlx::query(enhanced::MARK_DELETED)
                        .bind(&id)
                        .bind(now)
                        .execute(&mut *transaction)
                        .await?;
                    let event = Event::in_project(project, ENHANCED, &id, "delete");
                    self.settle(transaction, project, Ok(()), event).await
                }

                async fn bind_enhanced(
                    &self,
                    key: ConnectionKey<'_>,
                    bind: EnhancedBind<'_>,
                ) -> Refusable<(), EnhancedRefusal> {
                    let ConnectionKey { project: viewer, id } = key;
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    let outcome = match Self::enhanced_reach(&mut transaction, viewer, &id).await?
                    {
                        Reach::Missing => Err(EnhancedRefusal::NotFound),
                        Reach::Reached { deleted: true, .. } => Err(EnhancedRefusal::Deleted),
                        Reach::Reached { .. } => {
                            Self::enhanced_bind_in(&mut transaction, viewer, &id, bind).await?
                        }
                    };
                    let event = Event::in_project(viewer, ENHANCED, &id, "bind")
                        .after("queues", queue_names(bind.queues))
                        .after("pools", queue_names(bind.pools));
                    self.settle(transaction, viewer, outcome, event)
                        .await
                }

                async fn unbind_enhanced(
                    &self,
                    key: ConnectionKey<'_>,
                    queues: &[QueueName],
                    pools: &[QueueName],
                ) -> Refusable<(), EnhancedRefusal> {
                    let ConnectionKey { project: viewer, id } = key;
                    let id = id.to_string();
                    let mut transaction = self.begin_write().await?;
                    match Self::enhanced_reach(&mut transaction, viewer, &id).await? {
                        Reach::Missing => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::NotFound));
                        }
                        Reach::Reached { deleted: true, .. } => {
                            transaction.rollback().await?;
                            return Ok(Err(EnhancedRefusal::Deleted));
                        }
                        Reach::Reached { .. } => {}
                    }
                    let bound: Vec<BoundNameRow> =
                        sqlx::query_as(enhanced::SELECT_BOUND_NAMES)
                            .bind(&id)
                            .bind(viewer.as_str())
                            .fetch_all(&mut *transaction)
                            .await?;
                    let wanted: Vec<(BindingKind, &QueueName)> = queues
                        .iter()
                        .map(|name| (BindingKind::Queue, name))
                        .chain(pools.iter().map(|name| (BindingKind::Pool, name)))
                        .collect();
                    let not_bound = wanted.iter().find(|(kind, name)| {
                        !bound
                            .iter()
                            .any(|b| b.kind == kind.as_str() && b.name == name.as_str())
                    });
                    if let Some((kind, name)) = not_bound {
                        transaction.rollback().await?;
                        return Ok(Err(EnhancedRefusal::NotBound {
                            kind: *kind,
                            name: name.as_str().to_owned(),
                        }));
                    }
                    for (kind, name) in wanted {
                        sqlx::query(enhanced::DELETE_BINDING)
                            .bind(&id)
                            .bind(kind.as_str())
                            .bind(viewer.as_str())
                            .bind(name.as_str())
                            .execute(&mut *transaction)
                            .await?;
                    }
                    let event = Event::in_project(viewer, ENHANCED, &id, "unbind")
                        .before("queues", queue_names(queues))
                        .before("pools", queue_names(pools));
                    self.settle(transaction, viewer, Ok(()), event).await
                }

                async fn replace_enhanced_hosts(
                    &self,
                    key: ConnectionKey<'_>,
                    hosts: &[HostEntry],
                    now: i64,
                ) -> Refusable<(), EnhancedRefusal> {
                    let ConnectionKey { project, id } = key;
                    let id = id.to_string();
                    let event = Event::in_project(project, ENHANCED, &id, "update")
                        .after("hosts", hosts);
                    let hosts = serde_json::to_string(hosts)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                    $crate::store::enhanced::owner_change!(self, project, &id, event, |transaction| {
                        sqlx::query(enhanced::UPDATE_HOSTS)
                            .bind(&id)
                            .bind(&hosts)
                            .bind(now)
                            .execute(&mut *transaction)
                            .await?;
                        Ok(())
                    })
                }

                async fn add_enhanced_route(
                    &self,
                    key: ConnectionKey<'_>,
                    route: &NewRoute,
                    limits: &EnhancedLimits,
                ) -> Refusable<(), EnhancedRefusal> {
                    let ConnectionKey { project: viewer, id } = key;
                    let id = id.to_string();
                    let event = Event::in_project(viewer, ENHANCED, &id, "add_route")
                        .after("route", serde_json::json!({"name": route.name, "cidr": route.cidr}));
                    $crate::store::enhanced::owner_change!(self, viewer, &id, event, |transaction| {
                        let routes: Vec<RouteCidrRow> =
                            sqlx::query_as(enhanced::SELECT_ROUTES_OF)
                                .bind(&id)
                                .fetch_all(&mut *transaction)
                                .await?;
                        if routes.iter().any(|taken| taken.name == route.name) {
                            Err(EnhancedRefusal::RouteNameTaken(route.name.clone()))
                        } else if let Some(taken) =
                            routes.iter().find(|taken| taken.cidr == route.cidr)
                        {
                            Err(EnhancedRefusal::RouteCidrTaken {
                                cidr: route.cidr.clone(),
                                route: taken.name.clone(),
                            })
                        } else if routes.len() >= limits.routes_per_connection as usize {
                            Err(EnhancedRefusal::TooManyRoutes(limits.routes_per_connection))
                        } else {
                            sqlx::query(enhanced::INSERT_ROUTE)
                                .bind(&id)
                                .bind(&route.name)
                                .bind(&route.cidr)
                                .bind(route.now)
                                .execute(&mut *transaction)
                                .await?;
                            Ok(())
                        }
                    })
                }

                async fn delete_enhanced_route(
                    &self,
                    viewer: &ProjectId,
                    id: ConnectionId,
                    name: &str,
                ) -> Refusable<(), EnhancedRefusal> {
                    let id = id.to_string();
                    let event = Event::in_project(viewer, ENHANCED, &id, "delete_route")
                        .before("route", name);
                    $crate::store::enhanced::owner_change!(self, viewer, &id, event, |transaction| {
                        let deleted = sqlx::query(enhanced::DELETE_ROUTE)
                            .bind(&id)
                            .bind(name)
                            .execute(&mut *transaction)
                            .await?;
                        if deleted.rows_affected() == 0 {
                            Err(EnhancedRefusal::UnknownRoute(name.to_owned()))
                        } else {
                            Ok(())
                        }
                    })
                }

                async fn purge_deleted_enhanced(&self, deleted_before: i64) -> Result<u64> {
                    let purged = sqlx::query(enhanced::PURGE_DELETED)
                        .bind(deleted_before)
                        .execute(self.writer())
                        .await?
                        .rows_affected();
                    if purged > 0 {
                        self.announce(Change::Everything);
                    }
                    Ok(purged)
                }
            }
        };
    };
}

pub(in crate::store) use {impl_enhanced_store, owner_change};
