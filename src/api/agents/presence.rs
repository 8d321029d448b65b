//! Agents going offline: there is no request when an agent goes quiet, so a watcher
//! notices it, logs it and records it in the audit trail.

use std::time::Duration;

use super::OFFLINE_WATCH_INTERVAL;
use crate::api::state::AppState;
use crate::domain::now_millis;
use crate::store::{Actor, Event};

/// The event of `agent` going offline: at its last word plus the timeout, so that every
/// replica makes the same one.
fn went_offline(agent: &crate::store::queue_work::QuietAgent, timeout: Duration) -> Event {
    let timeout = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    let mut event = Event::new(Some(&agent.project_id), "agent", &agent.agent_id, "offline")
        .after("name", &agent.name)
        .changed("online", true, false)
        .after("last_seen", agent.last_seen);
    event.time = agent.last_seen.saturating_add(timeout);
    event.actor = Actor::system();
    event
}

/// Logs each agent that goes offline (not heard from within `--agent-timeout`) once, as
/// it crosses that line: registering and leaving are logged by their requests, going
/// quiet has no request of its own. Every process that serves the API logs it.
pub async fn log_agents_going_offline(
    state: AppState,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let pipeline = &state.checks.pipeline;
    // Agents that were already offline at the start are not news.
    let mut watched_from = pipeline.online_since(now_millis());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(OFFLINE_WATCH_INTERVAL) => {}
        }
        let threshold = pipeline.online_since(now_millis());
        match state.store.quiet_agents(watched_from, threshold).await {
            Ok(quiet) => {
                let mut offline = Vec::with_capacity(quiet.len());
                for agent in quiet {
                    tracing::info!(agent.name = %agent.name, agent.id = %agent.agent_id,
                                   project = %agent.project_id, agent.last_seen = agent.last_seen,
                                   "agent offline: not heard from within --agent-timeout");
                    offline.push(went_offline(&agent, pipeline.agent_timeout()));
                }
                // Every replica watches: the event is recorded once, at the moment the
                // agent crossed the line, whichever replica saw it first.
                if let Err(error) = state.store.record_events_once(&offline).await {
                    tracing::warn!(error = %error, "recording agents going offline failed");
                }
                watched_from = threshold;
            }
            Err(error) => {
                tracing::warn!(error = %error, "the agents that went offline could not be read");
            }
        }
    }
}
