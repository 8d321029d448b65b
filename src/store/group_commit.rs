//! Group commit for the one SQLite writer (issue 19): writes that arrive together share
//! one transaction, so one commit and one fsync, instead of paying one each.
//!
//! A write is a job on a channel. One task takes the jobs waiting (at most
//! [`MAX_BATCH`]), runs each inside a savepoint of one `BEGIN IMMEDIATE` transaction and
//! commits. A job whose work fails is rolled back to its savepoint alone: a duplicate
//! name or a full quota fails that create, not the others. Each caller hears its
//! result only after the commit that holds its write, so nothing acknowledged can be
//! lost; a failed commit fails every job of the batch, none of which was acknowledged.
//! Jobs run in the order they arrived, each seeing the writes of the jobs before it
//! (a quota fills in arrival order, as with one commit each).
//!
//! No batch waits to fill: the task takes what is queued and commits at once, so a lone
//! write is as fast as before, and writes that queue during a commit form the next batch.
//!
//! The audit events of a batch's writes are inserted together, in one statement just
//! before the commit (a write that rolls back to its savepoint takes its events with
//! it): one statement per event was one more round trip to the database thread per
//! write, which the writer pays in series.
//!
//! PostgreSQL groups its creates here too (issue 29), with one difference: every create
//! must hold its project's advisory lock (see `PgStore::begin_create`), and a batch may
//! hold creates of several projects while another replica's batch holds others. So a
//! writer started with [`GroupCommit::start_locking`] takes its batch up front (what is
//! queued, up to [`MAX_BATCH`]), then takes the locks of all the batch's projects in one
//! order every replica shares (see `lock_projects` in `postgres.rs`), before running any
//! job: a batch waits for a lock holding only locks that sort before it, never a row lock
//! of its own, so no two batches (nor a batch and a one-project transaction) can wait on
//! each other in a cycle. The events go in last, as on SQLite, so the event-order lock is
//! the last lock a batch takes, as for every other writer.

use std::cell::RefCell;
use std::collections::VecDeque;

use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};
use tokio::sync::{mpsc, oneshot};

use super::events::Event;
use super::{Result, StoreError};

/// Most writes in one transaction: bounds how long a batch holds the write lock.
pub(super) const MAX_BATCH: usize = 256;
/// Writes waiting for the writer task; a full queue makes writers wait (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// What the writer task tells a job after its batch's commit.
type Ack = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// One write: runs on the writer's connection, inside its savepoint; says whether it
/// succeeded (false: roll back to the savepoint) and how to answer after the commit.
type Job<DB> = Box<
    dyn for<'c> FnOnce(&'c mut <DB as Database>::Connection) -> BoxFuture<'c, (bool, Ack)> + Send,
>;

/// Locks, on the batch's connection right after its BEGIN, what the batch's jobs said
/// they need (their lock keys, each once, in no particular order).
pub(super) type LockKeys<DB> = for<'c> fn(
    &'c mut <DB as Database>::Connection,
    Vec<String>,
) -> BoxFuture<'c, std::result::Result<(), sqlx::Error>>;

/// A job as queued: its work and the key it must hold the lock of (writers started with
/// [`GroupCommit::start_locking`]; others ignore it).
struct Queued<DB: Database> {
    lock: Option<String>,
    job: Job<DB>,
}

/// Inserts a batch's events on its connection, before its commit.
pub(super) type FlushEvents<DB> = for<'c> fn(
    &'c mut <DB as Database>::Connection,
    Vec<Event>,
)
    -> BoxFuture<'c, std::result::Result<(), sqlx::Error>>;

tokio::task_local! {
    /// The events of the batch being run, in the writer task.
    static PENDING_EVENTS: RefCell<Vec<Event>>;
}

/// Inside a grouped write: keeps `events` for the batch's one insert before its commit,
/// and says true. Elsewhere (a transaction of its own): false, the caller inserts them.
pub(super) fn defer_events(events: &[Event]) -> bool {
    PENDING_EVENTS
        .try_with(|pending| pending.borrow_mut().extend_from_slice(events))
        .is_ok()
}

fn pending_events() -> usize {
    PENDING_EVENTS
        .try_with(|pending| pending.borrow().len())
        .unwrap_or(0)
}

/// Forgets the pending events past the first `keep` (a write that rolled back).
fn forget_events_after(keep: usize) {
    let _ = PENDING_EVENTS.try_with(|pending| pending.borrow_mut().truncate(keep));
}

fn take_events() -> Vec<Event> {
    PENDING_EVENTS
        .try_with(|pending| std::mem::take(&mut *pending.borrow_mut()))
        .unwrap_or_default()
}

/// The sending side, kept by the store.
pub(super) struct GroupCommit<DB: Database> {
    jobs: mpsc::Sender<Queued<DB>>,
}

impl<DB: Database> GroupCommit<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Starts the writer task on `writer` (a pool of one connection, shared with the
    /// writes that are not grouped; each batch holds it only while it runs).
    pub(super) fn start(writer: Pool<DB>, begin: &'static str, flush: FlushEvents<DB>) -> Self {
        Self::spawn(writer, begin, flush, None)
    }

    /// As [`Self::start`], for writers whose jobs each hold a lock (see the module's
    /// documentation): each batch is taken up front, and `lock` takes its jobs' locks
    /// right after its BEGIN. `writer` may be a pool of many connections: one writer
    /// task takes one of them per batch.
    pub(super) fn start_locking(
        writer: Pool<DB>,
        begin: &'static str,
        flush: FlushEvents<DB>,
        lock: LockKeys<DB>,
    ) -> Self {
        Self::spawn(writer, begin, flush, Some(lock))
    }

    fn spawn(
        writer: Pool<DB>,
        begin: &'static str,
        flush: FlushEvents<DB>,
        lock: Option<LockKeys<DB>>,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer {
            pool: writer,
            begin,
            flush,
            lock,
        };
        tokio::spawn(PENDING_EVENTS.scope(RefCell::new(Vec::new()), run_writer(writer, queue)));
        Self { jobs }
    }

    /// Runs `work` in the next batch; its result once that batch has committed.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.run_holding(None, work).await
    }

    /// Runs `work` in the next batch, which holds the lock of `key` (where the writer
    /// locks: [`Self::start_locking`]) from before the first of its jobs runs.
    pub(super) async fn run_holding<T, F>(&self, key: Option<String>, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut DB::Connection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T>>();
        let job: Job<DB> = Box::new(move |connection| {
            Box::pin(async move {
                let result = work(connection).await;
                let succeeded = result.is_ok();
                let ack: Ack = Box::new(move |committed| {
                    let result = match committed {
                        Ok(()) => result,
                        // The write was rolled back with its batch: not acknowledged.
                        Err(error) => result.and(Err(StoreError::GroupCommit(error))),
                    };
                    // The caller may have gone (a cancelled request): nothing to tell.
                    let _ = answer.send(result);
                });
                (succeeded, ack)
            })
        });
        self.jobs
            .send(Queued { lock: key, job })
            .await
            .map_err(|_| StoreError::GroupCommit("the writer has stopped".to_owned()))?;
        answered.await.map_err(|_| {
            StoreError::GroupCommit("the writer stopped before committing".to_owned())
        })?
    }
}

/// How the writer task writes.
struct Writer<DB: Database> {
    pool: Pool<DB>,
    begin: &'static str,
    flush: FlushEvents<DB>,
    /// Some: batches are taken up front and their jobs' locks taken first.
    lock: Option<LockKeys<DB>>,
}

async fn run_writer<DB: Database>(writer: Writer<DB>, mut queue: mpsc::Receiver<Queued<DB>>)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    // Ends when the store, and with it the sender, is dropped.
    while let Some(first) = queue.recv().await {
        let mut taken = VecDeque::from([first]);
        if writer.lock.is_some() {
            while taken.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => taken.push_back(job),
                    Err(_) => break,
                }
            }
        }
        let mut batch = Batch {
            queue: &mut queue,
            taken,
            acks: Vec::new(),
        };
        let outcome = batch.run(&writer).await;
        // Committed or not, the batch's events are done with.
        drop(take_events());
        let acks = batch.acks;
        let committed = outcome.map_err(|error| error.to_string());
        if let Err(error) = &committed {
            tracing::warn!(error = %error, writes = acks.len(), "a grouped commit failed");
        }
        for ack in acks {
            ack(committed.clone());
        }
    }
}

/// One grouped transaction being run: where more jobs come from, and the acks of the
/// jobs taken so far (each told of the commit, or of its failure, once it is over).
struct Batch<'q, DB: Database> {
    queue: &'q mut mpsc::Receiver<Queued<DB>>,
    /// Jobs taken and not yet run (all of a locking writer's batch, taken up front).
    taken: VecDeque<Queued<DB>>,
    acks: Vec<Ack>,
}

impl<DB: Database> Batch<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// One transaction: the jobs taken, then (unless the writer locks) whatever is
    /// queued meanwhile, up to [`MAX_BATCH`]. On any error the transaction is rolled
    /// back, so the writer is left usable.
    async fn run(&mut self, writer: &Writer<DB>) -> std::result::Result<(), sqlx::Error> {
        // A failed acquire drops the jobs taken, whose callers then hear that nothing
        // committed.
        let mut pooled: PoolConnection<DB> = writer.pool.acquire().await?;
        let connection: &mut DB::Connection = &mut pooled;
        (&mut *connection).execute(writer.begin).await?;
        let outcome = match self.lock_and_run(&mut *connection, writer.lock).await {
            Ok(()) => match (writer.flush)(&mut *connection, take_events()).await {
                Ok(()) => (&mut *connection).execute("COMMIT").await.map(|_| ()),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        if outcome.is_err() {
            // Best effort: the connection may already be outside a transaction.
            let _ = (&mut *connection).execute("ROLLBACK").await;
        }
        outcome
    }

    async fn lock_and_run(
        &mut self,
        connection: &mut DB::Connection,
        lock: Option<LockKeys<DB>>,
    ) -> std::result::Result<(), sqlx::Error> {
        if let Some(lock) = lock {
            let mut keys: Vec<String> = self.taken.iter().filter_map(|q| q.lock.clone()).collect();
            keys.sort_unstable();
            keys.dedup();
            if !keys.is_empty() {
                lock(&mut *connection, keys).await?;
            }
        }
        let pull_more = lock.is_none();
        while let Some(Queued { job, .. }) = self.taken.pop_front() {
            (&mut *connection)
                .execute("SAVEPOINT grouped_write")
                .await?;
            let events_before = pending_events();
            let (succeeded, ack) = job(&mut *connection).await;
            self.acks.push(ack);
            if !succeeded {
                forget_events_after(events_before);
                (&mut *connection)
                    .execute("ROLLBACK TO grouped_write")
                    .await?;
            }
            (&mut *connection).execute("RELEASE grouped_write").await?;
            if pull_more && self.acks.len() < MAX_BATCH {
                self.taken.extend(self.queue.try_recv().ok());
            }
        }
        Ok(())
    }
}
