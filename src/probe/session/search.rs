//! Stub: the search stages come next.

use super::stages::{Stages, Step, Stopped, Verdict};
use super::{SessionRequest, SessionStage};

pub(super) async fn run(_request: &SessionRequest, stages: &mut Stages<'_>) -> Result<(), Stopped> {
    stages
        .run(SessionStage::Login, async {
            Step::Done((), Verdict::skipped("NOT_CHECKED", "not built yet"))
        })
        .await
}
