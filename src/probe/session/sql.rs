//! The session every SQL engine runs: the tls stage on a short connection of its own
//! that never logs in, one login (over TLS when the server offered it: a connection
//! stripped of it would carry the password in the clear), `SELECT 1`, the requested
//! privileges, and a polite, bounded close (so the server counts no aborted connection).

use std::future::Future;

use sqlx::Connection;

use super::stages::{Stages, Step, Stopped};
use super::{SessionRequest, SessionStage};

/// An SQL engine's stages; [`run`] puts them in order.
pub(super) trait SqlEngine {
    type Connection: Connection;

    /// True when the server offers TLS (and the stage passed).
    fn tls_stage(request: &SessionRequest) -> impl Future<Output = Step<bool>> + Send;

    /// The one login attempt of the check.
    fn login(
        request: &SessionRequest,
        tls: bool,
    ) -> impl Future<Output = Step<Self::Connection>> + Send;

    fn query(connection: &mut Self::Connection) -> impl Future<Output = Step<()>> + Send;

    /// Runs only when privileges were asked for.
    fn check_privileges(
        connection: &mut Self::Connection,
        request: &SessionRequest,
    ) -> impl Future<Output = Step<()>> + Send;
}

pub(super) async fn run<E: SqlEngine>(
    request: &SessionRequest,
    stages: &mut Stages<'_>,
) -> Result<(), Stopped> {
    let tls = stages.run(SessionStage::Tls, E::tls_stage(request)).await?;
    let mut connection = stages
        .run(SessionStage::Login, E::login(request, tls))
        .await?;
    let result = after_login::<E>(request, stages, &mut connection).await;
    let _ = tokio::time::timeout(request.timeout, connection.close()).await;
    result
}

async fn after_login<E: SqlEngine>(
    request: &SessionRequest,
    stages: &mut Stages<'_>,
    connection: &mut E::Connection,
) -> Result<(), Stopped> {
    stages
        .run(SessionStage::Query, E::query(connection))
        .await?;
    if !request.privileges.is_empty() {
        stages
            .run(
                SessionStage::Privileges,
                E::check_privileges(connection, request),
            )
            .await?;
    }
    Ok(())
}
