//! The audit trail's reads and purge, written once for both backends (the records and
//! statements are in [`super::events`]).

/// Writes `impl EventStore for $store`, as [`super::classic::impl_store`] does.
macro_rules! impl_event_store {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::store::Result;
            use $crate::store::events::{
                EVENT_RECORDED, Event, EventQuery, EventRecord, EventRow, EventStore, PURGE_EVENTS,
                select_events,
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

                async fn record_events_once(&self, events: &[Event]) -> Result<()> {
                    if events.is_empty() {
                        return Ok(());
                    }
                    let mut transaction = self.begin_write().await?;
                    // Before the look: a replica recording the same event waits for it.
                    Self::order_events(&mut *transaction).await?;
                    let mut new = Vec::with_capacity(events.len());
                    for event in events {
                        let found: Option<i32> = sqlx::query_scalar(EVENT_RECORDED)
                            .bind(event.resource_type)
                            .bind(&event.resource_id)
                            .bind(event.action)
                            .bind(event.time)
                            .fetch_optional(&mut *transaction)
                            .await?;
                        if found.is_none() {
                            new.push(event.clone());
                        }
                    }
                    // No store change to announce beyond the events themselves.
                    self.commit(transaction, $crate::store::Change::Access, &new)
                        .await
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
