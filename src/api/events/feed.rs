//! What the event streams share: one wake-up for every stream when an event may have
//! committed, and the bounds on how many streams there are.
//!
//! A stream reads its events from the store, by id, after the last one it sent; it never
//! gets them handed from a writer. So a stream sees every event in id order whichever
//! replica wrote it, and resuming is a read after the `Last-Event-ID`. What the feed adds
//! is when to read: at once after a commit on this server (the store's commit point bumps
//! [`EventFeed::committed`]), and, for other replicas' commits, when one poll of the
//! newest id (every `--event-poll`, only while streams are open) finds it has grown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::error::ApiError;
use crate::store::{DynStore, EventQuery};

/// The bounds and pace of the streams.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Most open streams of one project.
    pub per_project: u32,
    /// Most open streams from one client address.
    pub per_client: u32,
    /// A comment line after this long without an event, so proxies and clients know
    /// the stream is alive.
    pub heartbeat: Duration,
    /// How often the newest id is polled for other replicas' events.
    pub poll: Duration,
    /// Frames waiting for a slow reader before it is dropped.
    pub buffer: usize,
    /// How long one stream lasts before the server ends it (the client resumes).
    pub lifetime: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            per_project: 256,
            per_client: 128,
            heartbeat: Duration::from_secs(15),
            poll: Duration::from_millis(250),
            buffer: 256,
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// The shared wake-up and the open streams' counts.
pub struct EventFeed {
    wake: watch::Sender<u64>,
    open: Mutex<OpenStreams>,
    pub settings: StreamSettings,
}

#[derive(Default)]
struct OpenStreams {
    by_project: HashMap<String, u32>,
    by_client: HashMap<String, u32>,
}

/// An open stream's place; gives it back when dropped.
pub struct StreamSlot {
    feed: Arc<EventFeed>,
    project: String,
    client: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .feed
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        release(&mut open.by_project, &self.project);
        release(&mut open.by_client, &self.client);
        crate::telemetry::metrics::record_event_stream(-1.0);
    }
}

fn release(counts: &mut HashMap<String, u32>, key: &str) {
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

impl EventFeed {
    pub fn new(settings: StreamSettings) -> Arc<Self> {
        Arc::new(Self {
            wake: watch::channel(0).0,
            open: Mutex::new(OpenStreams::default()),
            settings,
        })
    }

    /// Something committed on this server: every stream looks.
    pub fn committed(&self) {
        self.wake
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A receiver that changes whenever a stream should look again.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// A place for a new stream of `project` from `client`, or 429 if either is at its
    /// bound.
    pub fn open(self: &Arc<Self>, project: &str, client: &str) -> Result<StreamSlot, ApiError> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let of_project = open.by_project.get(project).copied().unwrap_or(0);
        let of_client = open.by_client.get(client).copied().unwrap_or(0);
        let refused = if of_project >= self.settings.per_project {
            Some(format!(
                "project {project} already has {of_project} event streams open, the most allowed"
            ))
        } else if of_client >= self.settings.per_client {
            Some(format!(
                "this client address already has {of_client} event streams open, the most allowed"
            ))
        } else {
            None
        };
        if let Some(message) = refused {
            return Err(ApiError::TooManyRequests {
                message,
                retry_after: Duration::from_secs(5),
            });
        }
        *open.by_project.entry(project.to_owned()).or_default() += 1;
        *open.by_client.entry(client.to_owned()).or_default() += 1;
        crate::telemetry::metrics::record_event_stream(1.0);
        Ok(StreamSlot {
            feed: Arc::clone(self),
            project: project.to_owned(),
            client: client.to_owned(),
        })
    }

    /// Polls the newest event id while streams are open, waking them when it grows (the
    /// events other replicas commit), until `stopping`.
    pub fn poll_for_replicas(self: &Arc<Self>, store: DynStore, stopping: CancellationToken) {
        let feed = Arc::clone(self);
        tokio::spawn(async move {
            let mut newest: Option<i64> = None;
            let newest_query = EventQuery {
                limit: 1,
                ..EventQuery::default()
            };
            loop {
                tokio::select! {
                    () = stopping.cancelled() => return,
                    () = tokio::time::sleep(feed.settings.poll) => {}
                }
                // No stream is open: nothing to wake.
                if feed.wake.receiver_count() == 0 {
                    newest = None;
                    continue;
                }
                match store.list_events(&newest_query).await {
                    Ok(events) => {
                        let now = events.first().map(|event| event.id);
                        if now != newest {
                            newest = now;
                            feed.committed();
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "polling the newest event failed");
                    }
                }
            }
        });
    }
}
