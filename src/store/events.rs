//! The audit trail (issue 28): what a write or a state change records, who made it, and
//! how the trail is read.
//!
//! A store write builds its [`Event`]s in the caller's task (so they carry the caller's
//! [`Actor`], which the API sets per request) and hands them to its transaction's commit
//! point, which inserts them just before it commits: an event commits with its change or
//! not at all. Secrets never reach an event: a field that holds one is recorded as
//! [`MASK`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{NewConnection, NewEnhancedConnection, Result};
use crate::domain::{ConnectionState, ProjectId, ProjectScope, QueueName, Tags, now_millis};

static RECORDING: AtomicBool = AtomicBool::new(true);

/// Turns the recording of events off for the process: only for the benchmark's baseline
/// (`--bench-without-events`), so that the cost of the audit trail can be measured.
pub fn stop_recording_for_benchmark() {
    RECORDING.store(false, Ordering::Relaxed);
}

/// Whether events are recorded (always, outside a benchmark's baseline).
pub(super) fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// What a secret field's value is recorded as.
pub const MASK: &str = "***";

/// Who made a change: `ak:<access key>`, `token:<id>`, `agent:<id>`, `anonymous`
/// (`--auth none`) or `system` (the worker), and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    /// The client's address, for a change made by a request.
    pub client: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

tokio::task_local! {
    static ACTOR: Arc<Actor>;
}

static SYSTEM: LazyLock<Arc<Actor>> = LazyLock::new(|| {
    Arc::new(Actor {
        name: "system".to_owned(),
        client: None,
        request_id: None,
    })
});

impl Actor {
    /// Runs `work` with `self` as the actor of every event it records.
    pub async fn act<F: Future>(self, work: F) -> F::Output {
        ACTOR.scope(Arc::new(self), work).await
    }

    /// An operator's admin command on the host (`dsconn credential`, `dsconn token`):
    /// `cli:<login name>`.
    pub fn admin_command() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            name: format!("cli:{user}"),
            client: None,
            request_id: None,
        }
    }

    /// The server's own doing (its worker, its watchers).
    pub fn system() -> Arc<Self> {
        Arc::clone(&SYSTEM)
    }

    /// The actor of the running task: the request's, or `system` outside a request.
    pub fn current() -> Arc<Self> {
        ACTOR
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Arc::clone(&SYSTEM))
    }
}

/// One change, as recorded.
#[derive(Debug, Clone)]
pub struct Event {
    pub time: i64,
    /// None: a change outside any project (a credential, a token).
    pub project: Option<String>,
    pub actor: Arc<Actor>,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub action: &'static str,
    /// The members of a JSON object, field name to `{"before": .., "after": ..}` (either
    /// side left out when it has none: a create has no before, a delete no after),
    /// written as they are added: no value tree is built for what is only stored.
    changes: Vec<u8>,
}

impl Event {
    /// An event of the running task's actor, now.
    pub fn new(
        project: Option<&str>,
        resource_type: &'static str,
        resource_id: impl Into<String>,
        action: &'static str,
    ) -> Self {
        Self {
            time: now_millis(),
            project: project.map(str::to_owned),
            actor: Actor::current(),
            resource_type,
            resource_id: resource_id.into(),
            action,
            changes: Vec::with_capacity(256),
        }
    }

    /// An event in `project`.
    pub fn in_project(
        project: &ProjectId,
        resource_type: &'static str,
        resource_id: impl Into<String>,
        action: &'static str,
    ) -> Self {
        Self::new(Some(project.as_str()), resource_type, resource_id, action)
    }

    /// `field` now holds `value` (a create's or an update's).
    #[must_use]
    pub fn after(self, field: &str, value: impl Serialize) -> Self {
        self.member(field, &[("after", &value)])
    }

    /// `field` held `value` (a delete's, or the old side of a change).
    #[must_use]
    pub fn before(self, field: &str, value: impl Serialize) -> Self {
        self.member(field, &[("before", &value)])
    }

    /// `field` went from `before` to `after`.
    #[must_use]
    pub fn changed(self, field: &str, before: impl Serialize, after: impl Serialize) -> Self {
        self.member(field, &[("before", &before), ("after", &after)])
    }

    /// `field`, a secret, was set: recorded as [`MASK`], never its value.
    #[must_use]
    pub fn secret_set(self, field: &str) -> Self {
        self.after(field, MASK)
    }

    /// Appends `"field": {"side": value, ...}`. Each field is added once (`changed`
    /// writes both of its sides).
    fn member(mut self, field: &str, sides: &[(&str, &dyn erased::Serialize)]) -> Self {
        let changes = &mut self.changes;
        if !changes.is_empty() {
            changes.push(b',');
        }
        write_json(changes, &field);
        changes.extend_from_slice(b":{");
        for (index, (side, value)) in sides.iter().enumerate() {
            if index > 0 {
                changes.push(b',');
            }
            write_json(changes, side);
            changes.push(b':');
            // A value that does not serialize (none of the store's do) is recorded as
            // null rather than failing the write it describes.
            let before = changes.len();
            if value.serialize_into(changes).is_err() {
                changes.truncate(before);
                changes.extend_from_slice(b"null");
            }
        }
        changes.push(b'}');
        self
    }

    /// `changes` as the stored JSON text (an object).
    pub fn changes_json(&self) -> String {
        let mut text = String::with_capacity(self.changes.len() + 2);
        text.push('{');
        text.push_str(&String::from_utf8_lossy(&self.changes));
        text.push('}');
        text
    }
}

/// Writes a string as JSON (quoted, escaped).
fn write_json(out: &mut Vec<u8>, text: &&str) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// `Serialize` as a trait object, so that one `member` writes values of any type.
mod erased {
    pub trait Serialize {
        fn serialize_into(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
    }

    impl<T: serde::Serialize> Serialize for T {
        fn serialize_into(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
            serde_json::to_writer(out, self)
        }
    }
}

/// A scope as recorded: `"*"` for every project, else the projects.
pub fn scope_value(scope: &ProjectScope) -> Value {
    match scope {
        ProjectScope::All => Value::from("*"),
        ProjectScope::Projects(projects) => Value::from(projects.clone()),
    }
}

/// Stored JSON text as a value (text that is not JSON stays a string).
pub fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

/// Queue names as recorded.
pub fn queue_names(queues: &[QueueName]) -> Vec<&str> {
    queues.iter().map(QueueName::as_str).collect()
}

/// A classic connection's create.
/// Fields a create left empty are not recorded.
pub(super) fn connection_created(new: &NewConnection) -> Event {
    let mut event = Event::in_project(&new.project_id, "connection", new.id.to_string(), "create")
        .after("name", &new.name)
        .after("service", new.service.as_str())
        .after("destination", &new.destination)
        .after("state", "CREATING");
    if !new.queues.is_empty() {
        event = event.after("queues", queue_names(&new.queues));
    }
    if !new.tags.as_slice().is_empty() {
        event = event.after("tags", tag_map(&new.tags));
    }
    if let Some(session) = &new.session {
        event = event.after("session", stored_json(session));
    }
    event
}

/// What the audit trail calls an enhanced connection.
pub const ENHANCED: &str = "enhanced_connection";

/// An enhanced connection's create.
pub(super) fn enhanced_created(new: &NewEnhancedConnection) -> Event {
    Event::in_project(&new.project_id, ENHANCED, new.id.to_string(), "create")
        .after("name", &new.name)
        .after("dest_vpc_id", &new.dest_vpc_id)
        .after("dest_network_id", &new.dest_network_id)
        .after("routetable_id", &new.routetable_id)
        .after("hosts", &new.hosts)
        .after("tags", tag_map(&new.tags))
        .after("queues", queue_names(&new.queues))
        .after("pools", queue_names(&new.pools))
}

/// Tags as recorded: key to value.
fn tag_map(tags: &Tags) -> Map<String, Value> {
    tags.as_slice()
        .iter()
        .map(|tag| (tag.key.clone(), Value::from(tag.value.as_str())))
        .collect()
}

/// A check's end: a connection CREATING before, `state` after.
pub(super) fn state_event(project: &str, id: &str, state: ConnectionState, message: &str) -> Event {
    Event::new(Some(project), "connection", id, "state")
        .changed("state", ConnectionState::Creating.as_str(), state.as_str())
        .after("message", message)
}

/// The statement that records one event: $1 time, $2 project, $3 actor, $4 client,
/// $5 request id, $6 resource type, $7 resource id, $8 action, $9 changes.
pub(super) const INSERT_EVENT: &str = "INSERT INTO events (time, project_id, actor, client, \
     request_id, resource_type, resource_id, action, changes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Binds an [`Event`] to [`INSERT_EVENT`].
macro_rules! bind_event {
    ($query:expr, $event:expr) => {{
        let event: &$crate::store::events::Event = $event;
        $query
            .bind(event.time)
            .bind(event.project.as_deref())
            .bind(event.actor.name.as_str())
            .bind(event.actor.client.as_deref())
            .bind(event.actor.request_id.as_deref())
            .bind(event.resource_type)
            .bind(event.resource_id.as_str())
            .bind(event.action)
            .bind(event.changes_json())
    }};
}

/// Inserts `events` one statement each on `connection` and counts them (as written into
/// the transaction: a rare rolled-back one included); both backends' `insert_events`.
macro_rules! insert_each_event {
    ($connection:expr, $events:expr) => {{
        let events: &[$crate::store::events::Event] = $events;
        for event in events {
            $crate::store::events::bind_event!(
                sqlx::query($crate::store::events::INSERT_EVENT),
                event
            )
            .execute(&mut *$connection)
            .await?;
        }
        $crate::telemetry::metrics::record_events_written(events.len());
    }};
}

pub(super) use {bind_event, insert_each_event};

/// A recorded event, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub time: i64,
    pub project_id: Option<String>,
    pub actor: String,
    pub client: Option<String>,
    pub request_id: Option<String>,
    pub resource_type: String,
    pub resource_id: String,
    pub action: String,
    pub changes: Value,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// None: every project's (and the events outside any project).
    pub project: Option<ProjectId>,
    /// Only ids above this.
    pub after: Option<i64>,
    /// Only ids below this.
    pub before: Option<i64>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// Only events at or after this time (milliseconds).
    pub since: Option<i64>,
    /// Only events before this time (milliseconds).
    pub until: Option<i64>,
    pub limit: u32,
    /// Ascending ids (a follower's order); else newest first.
    pub oldest_first: bool,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// The events `query` asks for, in its order.
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<EventRecord>>;

    /// Records each of `events` that is not recorded yet (the same resource, action and
    /// time): for what several replicas notice at once, such as an agent going offline.
    async fn record_events_once(&self, events: &[Event]) -> Result<()>;

    /// Deletes, of the oldest `limit` events, those older than `before` (milliseconds);
    /// how many went. Small batches, so the purge never holds the writers long.
    async fn purge_events(&self, before: i64, limit: u32) -> Result<u64>;
}

/// The read of [`EventQuery`]: `$1` project (bound NULL for every project's), `$2` after, `$3`
/// before, `$4` resource type, `$5` resource id, `$6` action, `$7` actor, `$8` since,
/// `$9` until, `$10` limit.
pub(super) fn select_events(every_project: bool, oldest_first: bool) -> &'static str {
    macro_rules! select {
        ($project:literal, $order:literal) => {
            concat!(
                "SELECT id, time, project_id, actor, client, request_id, resource_type, \
                 resource_id, action, changes FROM events WHERE ",
                $project,
                " AND ($2 IS NULL OR id > $2) AND ($3 IS NULL OR id < $3) \
                 AND ($4 IS NULL OR resource_type = $4) AND ($5 IS NULL OR resource_id = $5) \
                 AND ($6 IS NULL OR action = $6) AND ($7 IS NULL OR actor = $7) \
                 AND ($8 IS NULL OR time >= $8) AND ($9 IS NULL OR time < $9) \
                 ORDER BY id ",
                $order,
                " LIMIT $10"
            )
        };
    }
    match (every_project, oldest_first) {
        (false, true) => select!("project_id = $1", "ASC"),
        (false, false) => select!("project_id = $1", "DESC"),
        (true, true) => select!("($1 IS NULL OR project_id = $1)", "ASC"),
        (true, false) => select!("($1 IS NULL OR project_id = $1)", "DESC"),
    }
}

/// Whether an event of $1 resource type, $2 resource id, $3 action at $4 time exists.
pub(super) const EVENT_RECORDED: &str = "SELECT 1 FROM events WHERE resource_id = $2 \
     AND resource_type = $1 AND action = $3 AND time = $4";

/// Deletes old events from the oldest `$2` by id, those older than `$1` (milliseconds),
/// never the newest event (the next id is above it: SQLite gives max + 1). No index on
/// the time: ids follow commits, so the oldest ids are the oldest events; one a little
/// out of order goes with a later batch.
pub(super) const PURGE_EVENTS: &str = "DELETE FROM events WHERE id IN \
     (SELECT id FROM events ORDER BY id LIMIT $2) \
     AND time < $1 AND id < (SELECT MAX(id) FROM events)";

/// The row of [`select_events`].
#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    id: i64,
    time: i64,
    project_id: Option<String>,
    actor: String,
    client: Option<String>,
    request_id: Option<String>,
    resource_type: String,
    resource_id: String,
    action: String,
    changes: String,
}

impl From<EventRow> for EventRecord {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            time: row.time,
            project_id: row.project_id,
            actor: row.actor,
            client: row.client,
            request_id: row.request_id,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            action: row.action,
            changes: stored_json(&row.changes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_carries_its_tasks_actor_and_system_outside_a_request() {
        let outside = Event::new(Some("p"), "queue", "q1", "create");
        assert_eq!(outside.actor.name, "system");
        let actor = Actor {
            name: "ak:AK1".to_owned(),
            client: Some("127.0.0.1".to_owned()),
            request_id: Some("r-1".to_owned()),
        };
        let inside = actor
            .clone()
            .act(async { Event::new(Some("p"), "queue", "q1", "create") })
            .await;
        assert_eq!(*inside.actor, actor);
    }

    #[tokio::test]
    async fn the_purge_takes_old_events_but_never_the_newest_so_ids_keep_rising() {
        use crate::store::{SqliteStore, Store};
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).await.expect("store");
        let at = |time: i64| {
            let mut event = Event::new(Some("p"), "queue", format!("q{time}"), "create");
            event.time = time;
            event
        };
        let ids = |events: Vec<EventRecord>| -> Vec<i64> {
            events.into_iter().map(|event| event.id).collect()
        };
        let every = EventQuery {
            limit: 100,
            oldest_first: true,
            ..EventQuery::default()
        };
        store
            .record_events_once(&[at(1), at(2), at(3), at(50)])
            .await
            .expect("recorded");
        // Older than 10: the first three. A batch of two takes two of them.
        assert_eq!(store.purge_events(10, 2).await.expect("purged"), 2);
        assert_eq!(
            ids(store.list_events(&every).await.expect("listed")),
            [3, 4]
        );
        assert_eq!(store.purge_events(10, 1_000).await.expect("purged"), 1);
        // Everything is old now, but the newest stays: the next id is above it.
        assert_eq!(store.purge_events(100, 1_000).await.expect("purged"), 0);
        store.record_events_once(&[at(60)]).await.expect("recorded");
        assert_eq!(
            ids(store.list_events(&every).await.expect("listed")),
            [4, 5]
        );
        store.close().await;
    }

    #[test]
    fn changes_keep_both_sides_of_a_field_and_mask_secrets() {
        let event = Event::new(None, "auth_info", "a", "update")
            .changed("user_name", "old", "new")
            .secret_set("password");
        assert_eq!(
            event.changes_json(),
            r#"{"user_name":{"before":"old","after":"new"},"password":{"after":"***"}}"#
        );
    }
}
