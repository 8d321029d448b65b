//! What a check is: a [`Job`] is what it is for ([`Purpose`], which decides what its end
//! changes) and what it checks ([`Target`], which decides its stages), built from the
//! records and claimed work it comes from.

use std::sync::Arc;

use tracing::{Span, info_span};

use super::checker::Charging;
use super::stages::{SetupTarget, Target};
use crate::domain::{ConnectionId, EndpointList, ProjectId, QueueWorkKind, Service};
use crate::store::{PendingBinding, PendingCheck, QueueWork, SetupWork};

/// Where a check ran, as bindings and tests tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The dsconn server's own host.
    Server,
    /// An agent in the queue's network, by its name.
    Agent(String),
}

impl Place {
    /// `server` or `agent:<name>`, as `checked_from` says it.
    pub fn label(&self) -> String {
        match self {
            Place::Server => "server".to_owned(),
            Place::Agent(name) => format!("agent:{name}"),
        }
    }

    /// The `place` label of metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Place::Server => "server",
            Place::Agent(_) => "agent",
        }
    }

    /// How a message names it.
    pub(super) fn described(&self) -> String {
        match self {
            Place::Server => "the server".to_owned(),
            Place::Agent(name) => format!("agent {name}"),
        }
    }
}

/// What a check is for, which decides what its result changes. The worker's kinds carry
/// the claim (`owner`) that their write must still hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A new (or reactivated) connection in CREATING.
    Create { id: ConnectionId, owner: String },
    /// A queue binding in CREATING; its check is its own.
    Bind {
        id: ConnectionId,
        peer_id: String,
        queue: String,
        owner: String,
    },
    /// The health re-check of an ACTIVE connection.
    Recheck { id: ConnectionId, owner: String },
    /// An agent's re-check of an ACTIVE binding of its queue.
    RecheckBinding {
        peer_id: String,
        queue: String,
        owner: String,
    },
    /// DLI's queue connection test of one `host:port`.
    QueueTest {
        task_id: i64,
        queue: String,
        owner: String,
    },
    /// The set-up of a CREATING enhanced binding of queue or pool `name`: ACTIVE when
    /// the place's policy allows the connection's hosts and routes.
    Setup {
        peer_id: String,
        name: String,
        owner: String,
    },
    /// A test of a stored connection on request: an ACTIVE one takes the result.
    Test { id: ConnectionId },
    /// A test of a definition before it is saved: nothing is recorded.
    TestDefinition,
}

impl Purpose {
    /// A queue's piece of work of `kind` named by `key` (a binding's peer id, a test's
    /// task id) under `owner`'s claim; `connection` is a binding's connection, when known.
    pub fn of_queue_work(
        kind: QueueWorkKind,
        key: &str,
        queue: String,
        owner: String,
        connection: Option<ConnectionId>,
    ) -> Self {
        let peer_id = key.to_owned();
        match kind {
            QueueWorkKind::Bind => Purpose::Bind {
                id: connection.unwrap_or_else(ConnectionId::nil),
                peer_id,
                queue,
                owner,
            },
            QueueWorkKind::RecheckBinding => Purpose::RecheckBinding {
                peer_id,
                queue,
                owner,
            },
            QueueWorkKind::Test => Purpose::QueueTest {
                task_id: key.parse().unwrap_or_default(),
                queue,
                owner,
            },
            QueueWorkKind::Setup => Purpose::Setup {
                peer_id,
                name: queue,
                owner,
            },
        }
    }

    /// The `kind` label of metrics and logs. A set-up is a binding's, and counted so.
    pub fn label(&self) -> &'static str {
        match self {
            Purpose::Create { .. } => "create",
            Purpose::Bind { .. } | Purpose::Setup { .. } => "bind",
            Purpose::Recheck { .. } | Purpose::RecheckBinding { .. } => "recheck",
            Purpose::Test { .. } | Purpose::TestDefinition | Purpose::QueueTest { .. } => "test",
        }
    }

    pub fn charging(&self) -> Charging {
        match self {
            // A queue test's request paid its first dial, as a create's did.
            Purpose::Create { .. } | Purpose::Bind { .. } | Purpose::QueueTest { .. } => {
                Charging::Drain
            }
            // A set-up dials nothing.
            Purpose::Recheck { .. } | Purpose::RecheckBinding { .. } | Purpose::Setup { .. } => {
                Charging::Free
            }
            Purpose::Test { .. } | Purpose::TestDefinition => Charging::Upfront,
        }
    }

    /// The claim a write must hold: work the worker claimed; None for requests.
    pub(super) fn owner(&self) -> Option<&str> {
        match self {
            Purpose::Create { owner, .. }
            | Purpose::Bind { owner, .. }
            | Purpose::Recheck { owner, .. }
            | Purpose::RecheckBinding { owner, .. }
            | Purpose::QueueTest { owner, .. }
            | Purpose::Setup { owner, .. } => Some(owner),
            Purpose::Test { .. } | Purpose::TestDefinition => None,
        }
    }

    /// The queue whose hosts file its probe resolves with.
    pub(super) fn queue(&self) -> Option<String> {
        match self {
            Purpose::Bind { queue, .. }
            | Purpose::RecheckBinding { queue, .. }
            | Purpose::QueueTest { queue, .. } => Some(queue.clone()),
            _ => None,
        }
    }
}

/// A test's stored host entries as (name, ip); a row that does not parse gives none
/// (logged), as the test then still resolves with the queue's file and DNS.
pub fn own_hosts(json: Option<&str>) -> Vec<(String, String)> {
    let Some(json) = json else {
        return Vec::new();
    };
    match serde_json::from_str::<Vec<crate::store::HostEntry>>(json) {
        Ok(entries) => entries
            .into_iter()
            .map(|entry| (entry.name, entry.ip))
            .collect(),
        Err(error) => {
            tracing::warn!(error = %error, "a test's stored hosts do not parse; left out");
            Vec::new()
        }
    }
}

/// One check to run through the pipeline.
#[derive(Debug, Clone)]
pub struct Job {
    pub purpose: Purpose,
    pub project: String,
    pub target: Target,
    /// Names it resolves before its queue's hosts file and DNS: a queue test's own
    /// `hosts` (name, ip), in order.
    pub own_hosts: Vec<(String, String)>,
}

impl Job {
    pub fn create(pending: &PendingCheck, owner: &str) -> Self {
        Self::claimed(
            pending,
            Purpose::Create {
                id: pending.id,
                owner: owner.to_owned(),
            },
        )
    }

    /// A claimed binding's check: its first (CREATING), or a re-check of one whose
    /// connection names an auth info.
    pub fn bind(binding: &PendingBinding, owner: &str) -> Self {
        let (peer_id, queue, owner) = (
            binding.peer_id.clone(),
            binding.queue_name.clone(),
            owner.to_owned(),
        );
        let purpose = match binding.status {
            crate::domain::BindingStatus::Creating => Purpose::Bind {
                id: binding.check.id,
                peer_id,
                queue,
                owner,
            },
            _ => Purpose::RecheckBinding {
                peer_id,
                queue,
                owner,
            },
        };
        Self::claimed(&binding.check, purpose)
    }

    pub fn recheck(pending: &PendingCheck, owner: &str) -> Self {
        Self::claimed(
            pending,
            Purpose::Recheck {
                id: pending.id,
                owner: owner.to_owned(),
            },
        )
    }

    fn claimed(pending: &PendingCheck, purpose: Purpose) -> Self {
        Self {
            own_hosts: Vec::new(),
            purpose,
            project: pending.project_id.clone(),
            target: Target::Endpoints {
                service: Some(pending.service),
                endpoints: pending.endpoints().map_err(|error| error.to_string()),
                session: None,
            },
        }
    }

    /// A queue's claimed work (by an agent, or by the server for a queue without one).
    pub fn queue_work(work: &QueueWork, owner: &str) -> Self {
        Self {
            own_hosts: own_hosts(work.hosts.as_deref()),
            purpose: Purpose::of_queue_work(
                work.kind,
                &work.key,
                work.queue_name.clone(),
                owner.to_owned(),
                work.connection_id,
            ),
            project: work.project_id.clone(),
            target: Target::endpoints(work.service, &work.destination),
        }
    }

    /// The set-up of an enhanced binding (of a queue or pool without an online agent).
    pub fn setup(work: &SetupWork, owner: &str) -> Self {
        Self {
            own_hosts: Vec::new(),
            purpose: Purpose::of_queue_work(
                QueueWorkKind::Setup,
                &work.peer_id,
                work.name.clone(),
                owner.to_owned(),
                None,
            ),
            project: work.project_id.clone(),
            target: Target::Setup(SetupTarget {
                hosts: Arc::clone(&work.hosts),
                routes: Arc::clone(&work.routes),
            }),
        }
    }

    /// A stored connection tested on request.
    pub fn test(
        id: ConnectionId,
        project: &ProjectId,
        service: Service,
        endpoints: EndpointList,
    ) -> Self {
        Self::requested(Purpose::Test { id }, project, service, endpoints)
    }

    /// A definition tested before it is saved.
    pub fn test_definition(project: &ProjectId, service: Service, endpoints: EndpointList) -> Self {
        Self::requested(Purpose::TestDefinition, project, service, endpoints)
    }

    fn requested(
        purpose: Purpose,
        project: &ProjectId,
        service: Service,
        endpoints: EndpointList,
    ) -> Self {
        Self {
            own_hosts: Vec::new(),
            purpose,
            project: project.as_str().to_owned(),
            target: Target::Endpoints {
                service: Some(service),
                endpoints: Ok(endpoints),
                session: None,
            },
        }
    }

    /// The service its probe verifies, if any.
    fn service(&self) -> Option<Service> {
        match &self.target {
            Target::Endpoints { service, .. } => *service,
            Target::Setup(_) => None,
        }
    }

    /// The span the worker's checks log in; requests (and set-ups) have their own.
    pub(super) fn span(&self) -> Span {
        match &self.purpose {
            Purpose::Create { id, .. } => info_span!(
                "check",
                connection.id = %id,
                project.id = %self.project,
                service = self.service().map(Service::as_str),
            ),
            Purpose::Bind {
                id, peer_id, queue, ..
            } => info_span!("bind", connection.id = %id, queue = %queue, peer.id = %peer_id),
            Purpose::Recheck { id, .. } => info_span!("recheck", connection.id = %id),
            Purpose::RecheckBinding { peer_id, queue, .. } => {
                info_span!("recheck", queue = %queue, peer.id = %peer_id)
            }
            Purpose::QueueTest { task_id, queue, .. } => {
                info_span!("queue_test", queue = %queue, task.id = task_id)
            }
            Purpose::Setup { .. } | Purpose::Test { .. } | Purpose::TestDefinition => Span::none(),
        }
    }
}
