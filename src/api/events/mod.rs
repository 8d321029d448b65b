//! The audit trail's API (issue 28): the list of a project's recorded changes, and the
//! same as a live stream of Server-Sent Events.

pub mod feed;
pub mod types;

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use self::types::{EventItem, EventsQuery, ListEventsResponse, StreamEvent};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ApiResult, ErrorResponses};
use crate::api::extract::params::ProjectPath;
use crate::api::extract::{DliPath, parse_query};
use crate::api::state::AppState;
use crate::domain::{ProjectScope, ValidationError, now_millis};
use crate::store::{Actor, DynStore, EventQuery, EventRecord};

/// Most events one page answers.
const MAX_PAGE: u32 = 1_000;
/// Events a stream reads from the store at a time.
const STREAM_BATCH: u32 = 200;

/// `GET /dsconn/v1/{project_id}/events`
#[utoipa::path(
    get,
    path = "/dsconn/v1/{project_id}/events",
    operation_id = "ListEvents",
    tag = "events",
    summary = "The project's recorded changes: who changed what, when and from where",
    params(ProjectPath, EventsQuery),
    responses((status = 200, body = ListEventsResponse), ErrorResponses),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(project): DliPath<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<ListEventsResponse>> {
    let project = principal.authorize(&project)?;
    let asked: EventsQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let mut query = store_query(&principal, project, &asked)?;
    query.limit = match asked.limit {
        None => 100,
        Some(limit @ 1..=MAX_PAGE) => limit,
        Some(_) => return Err(ValidationError::new("limit must be 1 to 1000").into()),
    };
    query.oldest_first = match asked.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ValidationError::new("order must be asc or desc").into()),
    };
    // One more than the page tells whether there is a next one.
    let page = query.limit as usize;
    query.limit += 1;
    let mut events = state.store.list_events(&query).await?;
    let next = (events.len() > page).then(|| events[page - 1].id);
    events.truncate(page);
    Ok(Json(ListEventsResponse {
        is_success: true,
        message: String::new(),
        count: events.len(),
        events: events.into_iter().map(EventItem::from).collect(),
        next,
    }))
}

/// The store's query for what a caller asked (without the page's size and order).
fn store_query(
    principal: &Principal,
    project: crate::domain::ProjectId,
    asked: &EventsQuery,
) -> Result<EventQuery, ApiError> {
    let every_project = asked.all_projects.unwrap_or(false);
    if every_project && principal.scope != ProjectScope::All {
        return Err(ApiError::Forbidden(
            "all_projects=true needs a credential that covers every project".to_owned(),
        ));
    }
    Ok(EventQuery {
        project: (!every_project).then_some(project),
        after: asked.after,
        before: asked.before,
        resource_type: asked.resource_type.clone(),
        resource_id: asked.resource_id.clone(),
        action: asked.action.clone(),
        actor: asked.actor.clone(),
        since: asked
            .since
            .as_deref()
            .map(|raw| time_bound("since", raw))
            .transpose()?,
        until: asked
            .until
            .as_deref()
            .map(|raw| time_bound("until", raw))
            .transpose()?,
        limit: STREAM_BATCH,
        oldest_first: true,
    })
}

/// A time as milliseconds since the epoch, given as such or in RFC 3339.
fn time_bound(name: &str, raw: &str) -> Result<i64, ValidationError> {
    if let Ok(millis) = raw.parse::<i64>() {
        return Ok(millis);
    }
    let time = humantime::parse_rfc3339_weak(raw).map_err(|_| {
        ValidationError::new(format!(
            "{name} must be milliseconds since the epoch or an RFC 3339 time, e.g. 2026-12-06T10:00:00Z"
        ))
    })?;
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

/// `GET /dsconn/v1/{project_id}/events/stream`
#[utoipa::path(
    get,
    path = "/dsconn/v1/{project_id}/events/stream",
    operation_id = "StreamEvents",
    tag = "events",
    summary = "The project's changes as they commit, as Server-Sent Events",
    description = "A `text/event-stream`. It opens with an `event: ready` whose data is \
        `{\"after\": <id>}`: events after that id follow, each as `id: <id>`, \
        `event: change` and `data: <the event as JSON, as in ListEvents>`, in id order, \
        whichever replica committed them. Without `Last-Event-ID` or `after`, the stream \
        starts at the newest event. A comment line `: heartbeat` comes after \
        `--event-heartbeat` without events. A reader that falls more than \
        `--event-stream-buffer` frames behind gets `event: dropped` and the end of the \
        stream; it resumes without gaps or duplicates by reconnecting with \
        `Last-Event-ID`, as after the server ends a stream older than \
        `--event-stream-lifetime` (1 h). The filters of ListEvents apply (not `order`, `before` or \
        `limit`).",
    params(ProjectPath, EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "The stream: each Server-Sent Event as a StreamEvent",
            content_type = "text/event-stream", body = StreamEvent),
        ErrorResponses,
    ),
)]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    DliPath(project): DliPath<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let project = principal.authorize(&project)?;
    let asked: EventsQuery = parse_query(query.as_deref().unwrap_or_default())?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .ok_or_else(|| ValidationError::new("Last-Event-ID must be an event id"))?,
        ),
    };
    let client = Actor::current().client.clone().unwrap_or_default();
    let slot = state.events.open(project.as_str(), &client)?;
    let mut query = store_query(&principal, project, &asked)?;
    query.after = match last_event_id.or(asked.after) {
        Some(after) => Some(after),
        None => newest_id(&state.store, &query).await?,
    };
    let (frames, body) = mpsc::channel::<Bytes>(state.events.settings.buffer.max(2));
    let follower = Follower {
        store: state.store.clone(),
        wake: state.events.subscribe(),
        settings: state.events.settings.clone(),
        stopping: state.stopping.clone(),
        frames,
        query,
    };
    tokio::spawn(async move {
        let _slot = slot;
        follower.run().await;
    });
    let body = Body::from_stream(futures::stream::unfold(body, |mut body| async move {
        body.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), body))
    }));
    let mut response = body.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) would otherwise hold the frames back.
    response_headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The newest matching event's id (the stream starts after it), None if there is none.
async fn newest_id(store: &DynStore, query: &EventQuery) -> ApiResult<Option<i64>> {
    let newest = EventQuery {
        limit: 1,
        oldest_first: false,
        ..query.clone()
    };
    Ok(store
        .list_events(&newest)
        .await?
        .first()
        .map(|event| event.id))
}

/// One stream's reader: sends what the store holds after its last event, then waits
/// for the feed to say there may be more.
struct Follower {
    store: DynStore,
    wake: tokio::sync::watch::Receiver<u64>,
    settings: feed::StreamSettings,
    stopping: tokio_util::sync::CancellationToken,
    frames: mpsc::Sender<Bytes>,
    query: EventQuery,
}

/// Why a stream ended.
enum Ended {
    /// The client went, or the server is stopping.
    Gone,
    /// The client read too slowly.
    TooSlow,
}

impl Follower {
    async fn run(mut self) {
        let ready = format!(
            "retry: 1000\nevent: ready\ndata: {{\"after\":{}}}\n\n",
            self.query.after.unwrap_or(0)
        );
        if self.send(Bytes::from(ready)).is_err() {
            return;
        }
        match self.follow().await {
            Ended::Gone => {}
            Ended::TooSlow => {
                crate::telemetry::metrics::record_event_stream_dropped();
                // The last free frame was kept for this.
                let _ = self.frames.try_send(Bytes::from_static(
                    b"event: dropped\ndata: {\"reason\":\"the client read too slowly; \
                      reconnect with Last-Event-ID to resume\"}\n\n",
                ));
            }
        }
    }

    async fn follow(&mut self) -> Ended {
        let mut quiet_since = tokio::time::Instant::now();
        let ends_at = quiet_since + self.settings.lifetime;
        loop {
            // Marks the wake-up seen before reading, so a commit during the read wakes
            // the next wait.
            self.wake.borrow_and_update();
            let events = match self.store.list_events(&self.query).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(error = %error, "reading events for a stream failed");
                    Vec::new()
                }
            };
            let full_batch = events.len() >= STREAM_BATCH as usize;
            for event in events {
                self.query.after = Some(event.id);
                if let Err(ended) = self.send(change_frame(event)) {
                    return ended;
                }
                quiet_since = tokio::time::Instant::now();
            }
            if full_batch {
                continue;
            }
            tokio::select! {
                () = self.stopping.cancelled() => return Ended::Gone,
                // Its time is up: the client reconnects with Last-Event-ID.
                () = tokio::time::sleep_until(ends_at) => return Ended::Gone,
                () = self.frames.closed() => return Ended::Gone,
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        return Ended::Gone;
                    }
                }
                () = tokio::time::sleep_until(quiet_since + self.settings.heartbeat) => {
                    if let Err(ended) = self.send(Bytes::from_static(b": heartbeat\n\n")) {
                        return ended;
                    }
                    quiet_since = tokio::time::Instant::now();
                }
            }
        }
    }

    /// Queues a frame unless that would leave no room for the `dropped` one.
    fn send(&self, frame: Bytes) -> Result<(), Ended> {
        if self.frames.is_closed() {
            return Err(Ended::Gone);
        }
        if self.frames.capacity() <= 1 {
            return Err(Ended::TooSlow);
        }
        self.frames.try_send(frame).map_err(|_| Ended::Gone)
    }
}

/// An event as an SSE frame.
fn change_frame(event: EventRecord) -> Bytes {
    let lag = now_millis().saturating_sub(event.time);
    crate::telemetry::metrics::record_event_stream_lag(Duration::from_millis(
        u64::try_from(lag).unwrap_or(0),
    ));
    let id = event.id;
    let data = serde_json::to_string(&EventItem::from(event)).unwrap_or_default();
    // JSON has no raw line breaks, so the data is one line.
    Bytes::from(format!("id: {id}\nevent: change\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{ProjectId, QueueName};
    use crate::store::{NewQueue, SqliteStore};

    /// A store holding `count` events of project `p` (queue creates).
    async fn store_with_events(dir: &std::path::Path, count: usize) -> DynStore {
        let store: DynStore = Arc::new(SqliteStore::open(dir).await.expect("store"));
        for index in 0..count {
            let new = NewQueue {
                project_id: ProjectId::parse("p").expect("project"),
                name: QueueName::parse(&format!("q{index}")).expect("queue"),
                resource_id: format!("r{index}"),
                attributes: serde_json::Map::new(),
                create_time: now_millis(),
            };
            store.create_queue(&new, 100).await.expect("queue created");
        }
        store
    }

    fn follower(store: DynStore, buffer: usize) -> (Follower, mpsc::Receiver<Bytes>) {
        let feed = feed::EventFeed::new(feed::StreamSettings::default());
        let (frames, received) = mpsc::channel(buffer);
        let follower = Follower {
            store,
            wake: feed.subscribe(),
            settings: feed.settings.clone(),
            stopping: tokio_util::sync::CancellationToken::new(),
            frames,
            query: EventQuery {
                project: Some(ProjectId::parse("p").expect("project")),
                after: Some(0),
                limit: STREAM_BATCH,
                oldest_first: true,
                ..EventQuery::default()
            },
        };
        (follower, received)
    }

    fn frames(mut received: mpsc::Receiver<Bytes>) -> Vec<String> {
        let mut frames = Vec::new();
        while let Ok(frame) = received.try_recv() {
            frames.push(String::from_utf8_lossy(&frame).into_owned());
        }
        frames
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_dropped_with_a_final_frame_not_buffered() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_with_events(dir.path(), 10).await;
        let (follower, received) = follower(store, 4);
        // Nobody reads: the follower must end on its own, not wait for room.
        tokio::time::timeout(Duration::from_secs(5), follower.run())
            .await
            .expect("the follower ended");
        let frames = frames(received);
        assert_eq!(frames.len(), 4, "{frames:?}");
        assert!(frames[0].contains("event: ready"), "{frames:?}");
        assert!(
            frames[1].starts_with("id: 1\nevent: change\n"),
            "{frames:?}"
        );
        assert!(frames[2].starts_with("id: 2\n"), "{frames:?}");
        assert!(frames[3].starts_with("event: dropped\n"), "{frames:?}");
    }

    #[tokio::test]
    async fn a_reader_that_keeps_up_gets_every_event_in_order_then_waits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store_with_events(dir.path(), 10).await;
        let (follower, received) = follower(store, 64);
        // With room for all, it sends them and waits for more (until stopped).
        let stopping = follower.stopping.clone();
        let running = tokio::spawn(follower.run());
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopping.cancel();
        running.await.expect("ended");
        let frames = frames(received);
        let ids: Vec<&str> = frames
            .iter()
            .filter_map(|frame| frame.strip_prefix("id: "))
            .map(|rest| rest.split('\n').next().unwrap_or_default())
            .collect();
        let expected: Vec<String> = (1..=10).map(|id| id.to_string()).collect();
        assert_eq!(ids, expected, "{frames:?}");
        assert!(!frames.iter().any(|frame| frame.contains("dropped")));
    }
}
