//! The one check pipeline, for every check dsconn runs: the worker's (a new connection, a
//! queue binding, a health re-check, a queue test, an enhanced binding's set-up), the
//! API's tests, and what an agent reports. A check is a [`Job`]: what it is for
//! ([`Purpose`]) and what it checks ([`Target`]), whose plan is an ordered list of
//! [`Stage`]s run through a [`Checker`] (where the check runs: in this process, or an
//! agent's), stopping at the first that fails; then the pure [`outcome`] (what the stages
//! found and the purpose -> what to record), then [`CheckPipeline::record`], which writes
//! it (retrying claimed work while its lease lasts) and tells the API what changed.
//! Metrics and logs are written here too, once.
//!
//! Rooms: `job` (what a check is), `stages` (the stages and their runner, store-free so
//! an agent runs them too), `checker` (where the probing runs), `outcome` (the pure
//! rules), `pipeline` (budget, record with retries, the changed-callback), `hosts` (the
//! queues' hosts files shared by version).

mod checker;
mod credentials;
mod hosts;
mod job;
mod logins;
mod outcome;
mod pipeline;
mod session;
mod stage_results;
mod stages;

pub use checker::{Charging, CheckRequest, Checker, InProcess, NoProgress, Progress, extra_dials};
pub use credentials::LAST_LOGIN_FAILED;
pub use job::{Job, Place, Purpose, own_hosts};
pub use logins::{INLINE_LOGIN_TTL, InlineLogin, Logins, last_login_failed};
pub use outcome::{Circumstances, Held, Record, after_panic, check_result, outcome};
pub use pipeline::{CheckPipeline, Finished, PipelineSettings, with_own_hosts};
pub use session::{Login, LoginSource, NoLogin, SessionTarget, logs_in};
pub use stage_results::{Asked, bounded as bounded_stages, stage_results, stages_of_old_agent};
pub use stages::{
    Findings, SetupTarget, Stage, StageInputs, StageReport, Target, Verdict, run_stages,
    setup_verdict,
};
