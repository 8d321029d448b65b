//! A queue's hosts file: the hosts of the enhanced connections bound to it, with a
//! version that names its content.

use async_trait::async_trait;
use sha2::Digest;

use crate::domain::ProjectId;
use crate::store::Result;

/// A queue's hosts file as read in one snapshot: its version and its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHosts {
    /// [`hosts_version`] of the file; None when it is empty.
    pub version: Option<String>,
    /// `(name, ip)` as stored, oldest connection first, at most
    /// [`crate::domain::MAX_HOSTS_FILE_ENTRIES`].
    pub entries: Vec<(String, String)>,
}

/// A connection a queue's hosts file is merged from, as its version counts it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostsStampRow {
    pub id: String,
    pub update_time: i64,
}

/// The version of a queue's hosts file, from the `(id, update_time)` of the connections
/// it is merged from, in their order: the file is a function of those (a change of a
/// connection's hosts moves its `update_time` forward, see [`super::enhanced`]), so equal
/// versions are equal files, in any project, and any change gives a new version. None for
/// an empty file. A hash, so that it is short and says nothing of the connections.
pub fn hosts_version(stamps: &[HostsStampRow]) -> Option<String> {
    if stamps.is_empty() {
        return None;
    }
    let mut hash = sha2::Sha256::new();
    for stamp in stamps {
        hash.update(stamp.id.as_bytes());
        hash.update(b":");
        hash.update(stamp.update_time.to_be_bytes());
        hash.update(b";");
    }
    Some(hex::encode(&hash.finalize()[..12]))
}

/// One stored host entry, as enhanced_connections.hosts holds them.
#[derive(Debug, Clone, serde::Deserialize)]
pub(in crate::store) struct StoredHost {
    pub name: String,
    pub ip: String,
}

/// The entries of a stored hosts column; a corrupt one counts as none (and is logged).
pub(in crate::store) fn stored_hosts(raw: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<Vec<StoredHost>>(raw) {
        Ok(hosts) => hosts.into_iter().map(|host| (host.name, host.ip)).collect(),
        Err(error) => {
            tracing::error!(error = %error, "an enhanced connection's stored hosts do not parse");
            Vec::new()
        }
    }
}

/// The hosts files of queues' checks.
#[async_trait]
pub trait QueueHostsStore: Send + Sync {
    /// The hosts file of a queue's checks with its version, read in one snapshot: the
    /// hosts of the live enhanced connections with an ACTIVE binding of the queue, oldest
    /// connection first, at most [`crate::domain::MAX_HOSTS_FILE_ENTRIES`] of them.
    async fn queue_hosts(&self, project: &ProjectId, queue: &str) -> Result<QueueHosts>;

    /// The version of a queue's hosts file (None: empty), without reading the hosts.
    async fn queue_hosts_version(&self, project: &ProjectId, queue: &str)
    -> Result<Option<String>>;
}

/// The connections a queue's hosts file is merged from: $1 project, $2 queue.
const QUEUE_HOSTS_FROM: &str = "FROM enhanced_bindings b \
     JOIN enhanced_connections c ON c.id = b.connection_id \
     WHERE b.project_id = $1 AND b.kind = 'queue' AND b.name = $2 AND b.status = 'ACTIVE' \
       AND c.status = 'ACTIVE' AND c.hosts <> '[]' \
     ORDER BY c.create_time, c.id";

/// The hosts columns of a queue's ACTIVE enhanced bindings: $1 project, $2 queue.
pub(in crate::store) static SELECT_QUEUE_HOSTS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT c.hosts {QUEUE_HOSTS_FROM}"));

/// What [`hosts_version`] is computed from: $1 project, $2 queue.
pub(in crate::store) static SELECT_QUEUE_HOSTS_STAMPS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT c.id, c.update_time {QUEUE_HOSTS_FROM}"));

/// Writes `impl QueueHostsStore for $store`, as [`crate::store::shared::impl_store`] does.
macro_rules! impl_hosts {
    ($store:ident, $db:ty) => {
        const _: () = {
            use $crate::domain::ProjectId;
            use $crate::store::Result;
            use $crate::store::queue_work::QueueHosts;
            use $crate::store::queue_work::hosts::{self as work, QueueHostsStore};
            use $crate::store::shared::Backend;

            #[async_trait::async_trait]
            impl QueueHostsStore for $store {
                async fn queue_hosts(
                    &self,
                    project: &ProjectId,
                    queue: &str,
                ) -> Result<QueueHosts> {
                    use futures::TryStreamExt;
                    let cap = $crate::domain::MAX_HOSTS_FILE_ENTRIES;
                    let mut transaction = self.begin_snapshot().await?;
                    let stamps: Vec<work::HostsStampRow> =
                        sqlx::query_as(&work::SELECT_QUEUE_HOSTS_STAMPS)
                            .bind(project.as_str())
                            .bind(queue)
                            .fetch_all(&mut *transaction)
                            .await?;
                    let mut entries = Vec::new();
                    if !stamps.is_empty() {
                        let mut rows = sqlx::query_scalar::<_, String>(&work::SELECT_QUEUE_HOSTS)
                            .bind(project.as_str())
                            .bind(queue)
                            .fetch(&mut *transaction);
                        while let Some(raw) = rows.try_next().await? {
                            entries.extend(work::stored_hosts(&raw));
                            if entries.len() >= cap {
                                entries.truncate(cap);
                                break;
                            }
                        }
                    }
                    transaction.commit().await?;
                    Ok(QueueHosts {
                        version: work::hosts_version(&stamps),
                        entries,
                    })
                }

                async fn queue_hosts_version(
                    &self,
                    project: &ProjectId,
                    queue: &str,
                ) -> Result<Option<String>> {
                    let stamps: Vec<work::HostsStampRow> =
                        sqlx::query_as(&work::SELECT_QUEUE_HOSTS_STAMPS)
                            .bind(project.as_str())
                            .bind(queue)
                            .fetch_all(self.reader())
                            .await?;
                    Ok(work::hosts_version(&stamps))
                }
            }
        };
    };
}

pub(in crate::store) use impl_hosts;
