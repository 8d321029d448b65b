//! A test before saving, run from named queues (issue 26): the unsaved test with
//! `queues` makes one queue connection test of the whole proposed definition per queue
//! (run where that queue's checks run: its agent, else the server) and waits for their
//! answers, so a definition is tried from where its jobs will run before it is saved.

use std::time::Duration;

use rand::Rng;

use super::error::{ApiError, ApiResult};
use super::queue_lookup::{parse_queues, require_existing};
use super::queue_tests::{CHECKING, MAX_TASK_ID, task_answer};
use super::state::AppState;
use super::types::QueueTestAnswer;
use crate::check::InlineLogin;
use crate::credentials::Secret;
use crate::domain::{ProjectId, Service, now_millis};
use crate::store::NewTask;

/// Most queues one unsaved test may be run from.
pub const MAX_TEST_QUEUES: usize = 10;
/// How often the answers are read while the tests run.
const POLL: Duration = Duration::from_millis(100);
/// Beyond the longest a claimed test may take, how long the request waits for a claim.
const CLAIM_WAIT: Duration = Duration::from_secs(5);

/// A proposed definition, validated, as each queue's test stores it (no secret).
pub(super) struct Definition {
    /// The normalized endpoints.
    pub url: String,
    pub service: Service,
    pub session: Option<String>,
    pub hosts: Option<String>,
    /// An inline auth info: held for each queue's test until it ends, never stored.
    pub inline: Option<InlineLogin>,
}

/// Tests `definition` from each of `queues` and answers each queue's result, in the
/// order given; a test that has not ended when the wait is over answers `CHECKING`
/// with its task id (read it with ShowConnectivityTask).
pub(super) async fn from_queues(
    state: &AppState,
    project: &ProjectId,
    queues: &[String],
    definition: Definition,
) -> ApiResult<Vec<QueueTestAnswer>> {
    let queues = parse_queues(Some(&queues.to_vec()))?;
    if queues.len() > MAX_TEST_QUEUES {
        return Err(ApiError::InvalidRequest(format!(
            "a test runs from at most {MAX_TEST_QUEUES} queues, got {}",
            queues.len()
        )));
    }
    require_existing(state, project, &queues).await?;
    let count = u32::try_from(queues.len()).unwrap_or(u32::MAX);
    state.checks.budget.spend(project.as_str(), count)?;
    let logins = state.checks.pipeline.logins();
    let mut tests = Vec::with_capacity(queues.len());
    for queue in &queues {
        let task_id = rand::thread_rng().gen_range(1..MAX_TASK_ID);
        if let Some(inline) = &definition.inline {
            logins.hold_inline(
                task_id,
                InlineLogin {
                    kind: inline.kind,
                    user: inline.user.clone(),
                    password: Secret::new(inline.password.expose().to_owned()),
                },
            );
        }
        let created = state
            .store
            .create_task(&NewTask {
                task_id,
                project_id: project.clone(),
                queue_name: queue.as_str().to_owned(),
                address: definition.url.clone(),
                now: now_millis(),
                service: Some(definition.service),
                session: definition.session.clone(),
                hosts: definition.hosts.clone(),
            })
            .await;
        if let Err(error) = created {
            logins.forget_inline(task_id);
            return Err(error.into());
        }
        tests.push((queue.as_str().to_owned(), task_id));
    }
    state.work_arrived_for(
        project.as_str(),
        tests.iter().map(|(queue, _)| queue.as_str()),
    );
    let give_up = tokio::time::Instant::now() + state.checks.pipeline.test_lease() + CLAIM_WAIT;
    let mut answers: Vec<Option<QueueTestAnswer>> = vec![None; tests.len()];
    loop {
        for ((queue, task_id), answer) in tests.iter().zip(answers.iter_mut()) {
            if answer
                .as_ref()
                .is_some_and(|done| done.connectivity != CHECKING)
            {
                continue;
            }
            let Some(task) = state.store.get_task(project, queue, *task_id).await? else {
                continue;
            };
            let shown = task_answer(task, *task_id);
            *answer = Some(QueueTestAnswer {
                queue: queue.clone(),
                task_id: *task_id,
                connectivity: shown.connectivity,
                detail: shown.detail,
                checked_from: shown.checked_from,
                verified: shown.verified,
                stages: shown.stages,
            });
        }
        let running = answers.iter().any(|answer| {
            answer
                .as_ref()
                .is_none_or(|done| done.connectivity == CHECKING)
        });
        if !running || tokio::time::Instant::now() + POLL > give_up {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(tests
        .into_iter()
        .zip(answers)
        .map(|((queue, task_id), answer)| {
            answer.unwrap_or_else(|| QueueTestAnswer {
                queue,
                task_id,
                connectivity: CHECKING.to_owned(),
                detail: String::new(),
                checked_from: None,
                verified: false,
                stages: Vec::new(),
            })
        })
        .collect())
}
