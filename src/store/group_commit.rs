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

use std::cell::RefCell;

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
    jobs: mpsc::Sender<Job<DB>>,
}

impl<DB: Database> GroupCommit<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Starts the writer task on `writer` (a pool of one connection, shared with the
    /// writes that are not grouped; each batch holds it only while it runs).
    pub(super) fn start(writer: Pool<DB>, begin: &'static str, flush: FlushEvents<DB>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(PENDING_EVENTS.scope(
            RefCell::new(Vec::new()),
            run_writer(writer, begin, flush, queue),
        ));
        Self { jobs }
    }

    /// Runs `work` in the next batch; its result once that batch has committed.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
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
            .send(job)
            .await
            .map_err(|_| StoreError::GroupCommit("the writer has stopped".to_owned()))?;
        answered.await.map_err(|_| {
            StoreError::GroupCommit("the writer stopped before committing".to_owned())
        })?
    }
}

async fn run_writer<DB: Database>(
    writer: Pool<DB>,
    begin: &'static str,
    flush: FlushEvents<DB>,
    mut queue: mpsc::Receiver<Job<DB>>,
) where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    // Ends when the store, and with it the sender, is dropped.
    while let Some(first) = queue.recv().await {
        let mut batch = Batch {
            queue: &mut queue,
            acks: Vec::new(),
        };
        let outcome = batch.run(&writer, begin, flush, first).await;
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
    queue: &'q mut mpsc::Receiver<Job<DB>>,
    acks: Vec<Ack>,
}

impl<DB: Database> Batch<'_, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// One transaction: `first`, then whatever is queued meanwhile, up to [`MAX_BATCH`].
    /// On any error the transaction is rolled back, so the writer is left usable.
    async fn run(
        &mut self,
        writer: &Pool<DB>,
        begin: &'static str,
        flush: FlushEvents<DB>,
        first: Job<DB>,
    ) -> std::result::Result<(), sqlx::Error> {
        // A failed acquire drops `first`, whose caller then hears that nothing committed.
        let mut pooled: PoolConnection<DB> = writer.acquire().await?;
        let connection: &mut DB::Connection = &mut pooled;
        (&mut *connection).execute(begin).await?;
        let outcome = match self.run_jobs(&mut *connection, first).await {
            Ok(()) => match flush(&mut *connection, take_events()).await {
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

    async fn run_jobs(
        &mut self,
        connection: &mut DB::Connection,
        first: Job<DB>,
    ) -> std::result::Result<(), sqlx::Error> {
        let mut next = Some(first);
        while let Some(job) = next.take() {
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
            if self.acks.len() < MAX_BATCH {
                next = self.queue.try_recv().ok();
            }
        }
        Ok(())
    }
}
