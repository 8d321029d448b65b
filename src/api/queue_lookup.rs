//! What several resources ask about queues: valid names to bind, whether they exist,
//! and their online agents. Below `agents`, `bindings`, `queues` and `connections`, so
//! none of them needs another for it (no import cycle among them).

use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::domain::{ProjectId, QueueName, now_millis};
use crate::store::AgentRecord;

/// Most queues one request may name.
const MAX_QUEUES_PER_REQUEST: usize = 100;

/// Validates queue names; `default` is DLI's shared queue and can never be bound.
pub fn parse_queues(raw: Option<&Vec<String>>) -> Result<Vec<QueueName>, ApiError> {
    let raw = raw.map(Vec::as_slice).unwrap_or_default();
    if raw.len() > MAX_QUEUES_PER_REQUEST {
        return Err(ApiError::InvalidRequest(format!(
            "at most {MAX_QUEUES_PER_REQUEST} queues per request, got {}",
            raw.len()
        )));
    }
    let mut queues: Vec<QueueName> = Vec::with_capacity(raw.len());
    for name in raw {
        let queue = QueueName::parse(name)?;
        if queue.is_default() {
            return Err(ApiError::StateConflict(
                "the queue \"default\" is shared and cannot be bound to a datasource connection"
                    .into(),
            ));
        }
        if !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    Ok(queues)
}

pub(super) fn declared_queue<'a>(state: &'a AppState, name: &QueueName) -> Option<&'a QueueName> {
    state
        .settings
        .declared_queues
        .iter()
        .find(|queue| *queue == name)
}

/// Refuses (DLI.0002) the first queue that is neither declared nor stored in the
/// project. The binding transaction checks again, atomically with a delete; this one
/// answers before anything (the check budget) is spent.
pub async fn require_existing(
    state: &AppState,
    project: &ProjectId,
    queues: &[QueueName],
) -> ApiResult<()> {
    for queue in queues {
        if declared_queue(state, queue).is_none()
            && !state.store.queue_exists(project, queue.as_str()).await?
        {
            return Err(ApiError::QueueNotFound(queue.as_str().to_owned()));
        }
    }
    Ok(())
}

/// The online agents of each of the project's queues, for the queue API.
pub async fn online_agents(state: &AppState, project: &ProjectId) -> ApiResult<Vec<AgentRecord>> {
    let online_since = state.checks.pipeline.online_since(now_millis());
    Ok(state.store.online_agents(project, online_since).await?)
}
