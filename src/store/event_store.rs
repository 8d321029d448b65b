//! The audit trail's reads and purge, written once for both backends (the records and
//! statements are in [`super::events`]).

/// Writes `impl EventStore for $store`, as [`super::classic::impl_store`] does.
macro_rules! impl_event_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::store::Result;
            use $crate::store::events::{
                EventQuery, EventRecord, EventRow, EventStore, PURGE_EVENTS, select_events,
            };
            use $crate::store::sql::Backend;

            #[async_trait::async_trait]
            impl EventStore for $store {
                async fn list_events(&self, query: &EventQuery) -> Result<Vec<EventRecord>> {
                    let statement = select_events(query.project.is_none(), query.oldest_first);
                    let rows: Vec<EventRow> = sqlx::query_as(statement)
                        .bind(query.project.as_ref().map(|project| project.as_str()))
                        .bind(query.after)
                        .bind(query.before)
                        .bind(query.resource_type.as_deref())
                        .bind(query.resource_id.as_deref())
                        .bind(query.action.as_deref())
                        .bind(query.actor.as_deref())
                        .bind(query.since)
                        .bind(query.until)
                        .bind(i64::from(query.limit))
                        .fetch_all(self.reader())
                        .await?;
                    Ok(rows.into_iter().map(EventRecord::from).collect())
                }

                async fn purge_events(&self, before: i64, limit: u32) -> Result<u64> {
                    Ok(sqlx::query(PURGE_EVENTS)
                        .bind(before)
                        .bind(i64::from(limit))
                        .execute(self.writer())
                        .await?
                        .rows_affected())
                }
            }
        };
    };
}

pub(super) use impl_event_store;
