//! Durable state behind an async [`Store`] trait, so that the API and the workers do not
//! care which database holds it. The backend is chosen from the configuration.
//!
//! Rooms: [`sql`] is the toolkit both backends share (`Dialect`, `Backend`, the
//! statement runners); [`classic`] the classic store; `enhanced*`, `auth_infos`,
//! `queue_settings` and `queue_work` the other store traits; [`records`] and
//! [`outcomes`] what they take and answer; [`open`] the flags that pick a backend.

pub mod auth_infos;
mod backends;
mod classic;
pub mod commits;
pub mod enhanced;
pub mod enhanced_sharing;
mod error;
mod event_store;
pub mod events;
mod group_commit;
mod open;
pub mod outcomes;
mod postgres;
pub mod queue_settings;
pub mod queue_work;
pub mod records;
mod rows;
mod sql;
mod sqlite;
mod tags;
pub mod terms;

/// The toolkit's former name, still used by `queue_work`'s macro.
use sql as shared;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{ConnectionId, ProjectId, QueueName};

pub use auth_infos::{
    AuthInfoChange, AuthInfoPage, AuthInfoQuery, AuthInfoRecord, AuthInfoStore,
    AuthInfoUpdateOutcome, NewAuthInfo,
};
pub use commits::{Change, Commits};
pub use enhanced::{
    BindingKind, EnhancedAccess, EnhancedBind, EnhancedBinding, EnhancedConnectionRecord,
    EnhancedLimits, EnhancedListQuery, EnhancedRefusal, EnhancedRoute, EnhancedStatus,
    EnhancedStore, EnhancedView, HostEntry, NewEnhancedConnection, NewRoute,
};
pub use enhanced_sharing::EnhancedSharingStore;
pub use error::{Result, StoreError};
pub use events::{Actor, Event, EventQuery, EventRecord, EventStore};
pub use open::{Backend, DEFAULT_DATA_DIR, OpenFor, StorageArgs, redact_url};
pub use outcomes::{
    BindingOutcome, CreateNamedOutcome, DeleteNamedOutcome, DeleteOutcome, ReactivateOutcome,
    Refusable,
};
pub use postgres::PgStore;
pub use queue_settings::{AgencyRecord, NamedKey, NamedTable, ProjectUsage, QueueSettingsStore};
pub use queue_work::{
    AgentRecord, BindingConnectivity, NewAgent, NewTask, QueueHosts, QueueWork, QueueWorkKind,
    QueueWorkStore, RegisterOutcome, SERVES_POOL, SERVES_QUEUE, SetupOutcome, SetupWork,
    TaskRecord, TaskResult, hosts_version,
};
pub use records::{
    BindingCredentials, BindingResult, BindingVerdict, CheckResult, ConnectionPage,
    ConnectionRecord, Connectivity, CredentialRecord, ListQuery, LoginMark, NewConnection,
    NewCredential, NewPool, NewQueue, NewToken, PendingBinding, PendingCheck, PoolRecord,
    QueueBinding, QueueRecord, SortOrder, StoreStats, TokenRecord,
};
pub use sqlite::{DATABASE_FILE, Durability, SqliteStore};
pub use tags::StoredTags;
pub use terms::{
    AgentClaim, AgentKey, ClaimTerms, ConnectionKey, ConnectivityOf, HeldCheck, HeldWork,
    QueuesToBind, agent_owner,
};

#[async_trait]
pub trait Store:
    QueueWorkStore
    + EnhancedStore
    + EnhancedSharingStore
    + AuthInfoStore
    + QueueSettingsStore
    + EventStore
    + Send
    + Sync
    + 'static
{
    /// Lets in-flight work finish and closes the connections.
    async fn close(&self) {}

    /// Where this store announces its committed changes (see [`commits`]).
    fn commits(&self) -> &Commits;

    /// Stores a new CREATING connection, unless the name is taken or the project's quota
    /// of live connections is full.
    async fn create_connection(&self, new: &NewConnection, quota: u32) -> Result<()>;

    async fn get_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>>;

    /// The project's live (not DELETED) connection with this name, if any, with its tags
    /// (for recognising a retried create).
    async fn find_live_connection_by_name(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> Result<Option<ConnectionRecord>>;

    /// Whether the database answers and has exactly the migrations this build knows
    /// (for readiness: a replica of an older build beside a newer schema is not ready).
    async fn ping(&self) -> Result<()>;

    /// Counts for the metrics: connections by state and service, and check work.
    async fn stats(&self) -> Result<StoreStats>;

    async fn list_connections(
        &self,
        project: &ProjectId,
        query: &ListQuery,
    ) -> Result<ConnectionPage>;

    /// Soft-deletes an ACTIVE or FAILED connection.
    async fn delete_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Result<DeleteOutcome>;

    /// Claims up to the terms' limit of CREATING connections whose lease is free or expired.
    async fn claim_pending_checks(&self, terms: ClaimTerms<'_>) -> Result<Vec<PendingCheck>>;

    /// Records how far a claimed check has got. Ignored if the claim was lost.
    async fn record_progress(&self, held: HeldCheck<'_>, process: f64, now: i64) -> Result<()>;

    /// Records the end of a claimed check; false if the claim was lost meanwhile.
    async fn record_check_result(
        &self,
        held: HeldCheck<'_>,
        result: &CheckResult,
        now: i64,
    ) -> Result<bool>;

    /// Removes DELETED connections deleted before the given time.
    async fn purge_deleted(&self, deleted_before: i64) -> Result<u64>;

    /// Claims CREATING queue bindings of live connections whose queue has no agent heard
    /// from since `online_since` (the agents check those).
    async fn claim_pending_bindings(
        &self,
        terms: ClaimTerms<'_>,
        online_since: i64,
    ) -> Result<Vec<PendingBinding>>;

    /// Records a binding's check (of the held queue: a result for another is refused); false
    /// if the claim was lost or the binding is gone.
    async fn record_binding_result(
        &self,
        held: HeldWork<'_, &str>,
        result: &BindingResult,
        now: i64,
    ) -> Result<bool>;

    /// Sets (or with None, clears) the credentialed stages of a live connection's checks
    /// from its queues: its bindings forget their last login failure and are re-checked
    /// at once. False if the project has no such live connection.
    async fn set_connection_session(
        &self,
        key: ConnectionKey<'_>,
        session: Option<&str>,
        now: i64,
    ) -> Result<bool>;

    /// Claims ACTIVE connections whose re-check is due.
    async fn claim_due_rechecks(&self, terms: ClaimTerms<'_>) -> Result<Vec<PendingCheck>>;

    /// Records the connectivity of an ACTIVE connection and its ACTIVE bindings. With an
    /// owner, only while that claim holds (and releases it); without, unconditionally.
    async fn record_connectivity(
        &self,
        of: ConnectivityOf<'_>,
        connectivity: &Connectivity,
        now: i64,
    ) -> Result<bool>;

    /// Moves a FAILED connection back to CREATING, to be checked again.
    async fn reactivate_connection(
        &self,
        project: &ProjectId,
        id: ConnectionId,
        now: i64,
    ) -> Result<ReactivateOutcome>;

    /// Binds queues (already bound ones are left as they are) as CREATING. Each must be
    /// a stored queue of the project or one of `declared` ([`StoreError::UnknownQueue`]
    /// otherwise, binding none).
    async fn associate_queues(
        &self,
        key: ConnectionKey<'_>,
        queues: QueuesToBind<'_>,
        now: i64,
    ) -> Result<BindingOutcome>;

    /// Unbinds queues (ones not bound are ignored).
    async fn disassociate_queues(
        &self,
        key: ConnectionKey<'_>,
        queues: &[QueueName],
        now: i64,
    ) -> Result<BindingOutcome>;

    /// Stores a new queue unless the project has one of that name or already has `cap`.
    async fn create_queue(&self, new: &NewQueue, cap: u32) -> Result<CreateNamedOutcome>;

    /// The project's stored queues, by name.
    async fn list_queues(&self, project: &ProjectId) -> Result<Vec<QueueRecord>>;

    async fn get_queue(&self, project: &ProjectId, name: &str) -> Result<Option<QueueRecord>>;

    /// Whether the project has this stored queue (declared queues are not stored: the
    /// caller checks those first).
    async fn queue_exists(&self, project: &ProjectId, name: &str) -> Result<bool>;

    /// Deletes a queue no live connection (classic or enhanced) has bound. Atomic with binding: a bind that
    /// commits first makes the delete refused, one that commits after finds no queue.
    async fn delete_queue(&self, project: &ProjectId, name: &str) -> Result<DeleteNamedOutcome>;

    /// Stores a new elastic resource pool, as [`Store::create_queue`].
    async fn create_pool(&self, new: &NewPool, cap: u32) -> Result<CreateNamedOutcome>;

    /// The project's elastic resource pools, by name.
    async fn list_pools(&self, project: &ProjectId) -> Result<Vec<PoolRecord>>;

    /// Deletes a pool no live enhanced connection has bound, atomic with binding as
    /// [`Store::delete_queue`].
    async fn delete_pool(&self, project: &ProjectId, name: &str) -> Result<DeleteNamedOutcome>;

    async fn insert_credential(&self, credential: &NewCredential) -> Result<()>;

    /// A credential by access key, revoked or not.
    async fn find_credential(&self, access_key: &str) -> Result<Option<CredentialRecord>>;

    async fn list_credentials(&self) -> Result<Vec<CredentialRecord>>;

    /// Revokes a live credential; false if there is none with that key.
    async fn revoke_credential(&self, access_key: &str, now: i64) -> Result<bool>;

    /// Every credential ever created, revoked ones included.
    async fn count_credentials(&self) -> Result<u64>;

    async fn insert_token(&self, token: &NewToken) -> Result<()>;

    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>>;

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>>;

    /// Revokes a live token; false if there is none with that id.
    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool>;

    /// Gives a claimed re-check back without a result (its check could not finish): the
    /// connection keeps its connectivity and is due again at `next_check_at`. False if
    /// the claim is no longer `owner`'s.
    async fn release_recheck(
        &self,
        id: ConnectionId,
        owner: &str,
        next_check_at: i64,
    ) -> Result<bool>;

    /// The database's key check: stores `candidate` if there is none yet (the first
    /// process to ask wins), and returns the stored one.
    async fn key_check(&self, candidate: &[u8]) -> Result<Vec<u8>>;
}

pub type DynStore = Arc<dyn Store>;
