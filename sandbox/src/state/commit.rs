//! The group commit: the one writer thread of the database, through which S3's object writes
//! and every SQS and SNS change go.
//!
//! A caller hands [`GroupCommit::run`] a job (a function of the open transaction) and waits on
//! what it returns. The writer takes every job waiting, runs them one after the other in one
//! transaction, each inside a savepoint of its own, commits, and then answers each caller.
//! Sixteen concurrent writes cost one commit instead of sixteen, and each is still answered
//! only after it is on disk. A job that fails rolls back its savepoint only: the jobs it shared
//! the transaction with still land. Jobs run in the order they were submitted, and each sees
//! the writes of the jobs before it, so a check in one (S3's `If-None-Match: *`) is made against
//! everything submitted before it.
//!
//! Messaging submits [`Change`](super::Change) lists ([`GroupCommit::submit`]), changed in its
//! working copy in memory under its own lock before it lets go of that lock, so that the order
//! of the changes on disk is the order of the changes in memory. Whoever sees a change before it
//! commits (a receive that takes a message just sent) has its own change queued behind it, so
//! its answer too comes after both are on disk.

use std::sync::{Arc, Condvar, Mutex, mpsc};

use rusqlite::Connection;

use super::{Change, StoreError, Writer};

/// Why a commit failed, shared by every job of the transaction.
type Failure = Arc<String>;

/// Where the writer leaves a job's answer: waited on by an async caller (`notify`) or a
/// blocking one (`ready`).
#[derive(Debug)]
struct Slot<T> {
    answer: Mutex<Option<T>>,
    ready: Condvar,
    notify: tokio::sync::Notify,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self { answer: Mutex::new(None), ready: Condvar::new(), notify: tokio::sync::Notify::new() }
    }

    fn fill(&self, answer: T) {
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
        self.ready.notify_all();
        // Stores a permit when nobody waits yet, so a waiter that comes later does not miss it.
        self.notify.notify_one();
    }

    fn take(&self) -> Option<T> {
        self.answer.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    async fn wait(&self) -> T {
        loop {
            if let Some(answer) = self.take() {
                return answer;
            }
            self.notify.notified().await;
        }
    }

    fn wait_blocking(&self) -> T {
        let mut guard = self.answer.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(answer) = guard.take() {
                return answer;
            }
            guard = self.ready.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// How to tell a job's caller how its transaction ended.
type Tell = Box<dyn FnOnce(Result<(), Failure>) + Send>;

/// What a job leaves once it has run: whether its writes stay, and how to tell its caller.
struct Ran {
    keep: bool,
    tell: Tell,
}

/// A job as the writer runs it.
type Job = Box<dyn FnOnce(&Writer<'_>) -> Ran + Send>;

/// The caller's side of a job: filled once, by the writer, or with an error when the job is
/// dropped without having run.
struct Answer<T>(Option<Arc<Slot<Result<T, Failure>>>>);

impl<T> Answer<T> {
    fn give(mut self, answer: Result<T, Failure>) {
        if let Some(slot) = self.0.take() {
            slot.fill(answer);
        }
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.fill(Err(Arc::new("the store's writer stopped before this write ran".to_owned())));
        }
    }
}

/// A job submitted and its answer to come: its own result once its transaction has committed,
/// or why the commit (or the writer) failed.
#[derive(Debug)]
#[must_use = "a write is acknowledged only once it is committed"]
pub struct Pending<R>(Arc<Slot<Result<R, Failure>>>);

fn failed(failure: &Failure) -> StoreError {
    StoreError::Io(std::io::Error::other(failure.to_string()))
}

impl<R> Pending<R> {
    /// Waits until the job's transaction has ended: the job's own result, or the store's error.
    pub async fn wait(self) -> Result<R, StoreError> {
        self.0.wait().await.map_err(|failure| failed(&failure))
    }

    /// [`wait`](Self::wait), blocking this thread: for callers outside async code.
    pub fn wait_blocking(self) -> Result<R, StoreError> {
        self.0.wait_blocking().map_err(|failure| failed(&failure))
    }
}

/// Submitted messaging changes; resolves once they are committed.
#[derive(Debug)]
#[must_use = "a change is acknowledged only once it is committed"]
pub struct Committed(Option<Pending<Result<(), StoreError>>>);

impl Committed {
    /// A batch with nothing to write: resolves at once.
    pub fn nothing() -> Self {
        Self(None)
    }

    /// Waits until the changes are on disk.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0 {
            Some(pending) => pending.wait().await?,
            None => Ok(()),
        }
    }

    /// Blocks this thread until the changes are on disk: for callers outside async code (and
    /// the sandbox's synchronous entry points, whose callers accept the wait).
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        match self.0 {
            Some(pending) => pending.wait_blocking()?,
            None => Ok(()),
        }
    }
}

/// The writer of the database (see the module documentation). Cloning gives another handle on
/// the same writer; it stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

/// Most jobs one transaction takes: enough to amortise the commit, few enough that the first
/// caller of a burst is not kept waiting long.
const MAX_JOBS_PER_COMMIT: usize = 512;

impl GroupCommit {
    /// Starts the writer thread of `conn`.
    pub(super) fn start(conn: Arc<Mutex<Connection>>) -> Result<Self, StoreError> {
        let (jobs, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sandbox-commit".into())
            .spawn(move || write_batches(&conn, &receiver))
            .map_err(StoreError::Io)?;
        Ok(Self { jobs })
    }

    /// Queues `job` for the next transaction; its writes stay if it returns `Ok`, and its result
    /// is answered once that transaction has committed.
    pub fn run<R, E>(&self, job: impl FnOnce(&Writer<'_>) -> Result<R, E> + Send + 'static) -> Pending<Result<R, E>>
    where
        R: Send + 'static,
        E: Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        let answer = Answer(Some(slot.clone()));
        let job: Job = Box::new(move |w| {
            // A job that panics is a failed job, not a dead writer.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(w)));
            let keep = matches!(result, Ok(Ok(_)));
            let tell = Box::new(move |committed: Result<(), Failure>| {
                answer.give(committed.and_then(|()| result.map_err(|_| Arc::new("a write failed".to_owned()))));
            });
            Ran { keep, tell }
        });
        // A job the writer never runs (it stopped, or its transaction failed first) answers
        // as it is dropped.
        let _ = self.jobs.send(job);
        Pending(slot)
    }

    /// Queues messaging `changes` for the next commit; wait on the result before acknowledging
    /// them.
    pub fn submit(&self, changes: Vec<Change>) -> Committed {
        if changes.is_empty() {
            return Committed::nothing();
        }
        Committed(Some(self.run(move |w| changes.iter().try_for_each(|change| change.apply(w)))))
    }
}

fn write_batches(conn: &Mutex<Connection>, receiver: &mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        let (tells, outcome) = run_batch(&mut conn, jobs);
        drop(conn);
        let outcome = outcome.map_err(|err| {
            tracing::error!(%err, "the store could not commit a transaction");
            Arc::new(err.to_string())
        });
        for tell in tells {
            tell(outcome.clone());
        }
    }
}

/// Runs `jobs` in one transaction, each in its own savepoint, and commits. Returns how to tell
/// each job that has run (a job not run, after a failure of the transaction itself, answers
/// its caller as it is dropped) and the transaction's outcome.
fn run_batch(conn: &mut Connection, jobs: Vec<Job>) -> (Vec<Tell>, Result<(), rusqlite::Error>) {
    let mut tells = Vec::with_capacity(jobs.len());
    let outcome = (|| {
        let tx = conn.transaction()?;
        let w = Writer(&tx);
        for job in jobs {
            tx.prepare_cached("SAVEPOINT job")?.execute([])?;
            let ran = job(&w);
            tells.push(ran.tell);
            if !ran.keep {
                tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            tx.prepare_cached("RELEASE job")?.execute([])?;
        }
        tx.commit()
    })();
    (tells, outcome)
}

#[cfg(test)]
mod tests {
    use super::super::messaging::tests::message;
    use super::super::{Durability, Store};
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_submissions_are_each_committed_before_they_resolve() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path(), Durability::Process).expect("open"));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let id = format!("m{i}");
                    let committed = store.group_commit().submit(vec![Change::InsertMessage(message(&id, "q"))]);
                    committed.wait().await.expect("committed");
                    // Resolved means written: a fresh read sees it.
                    assert!(store.messages().expect("read").iter().any(|m| m.id == id), "{id} not yet written");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(store.messages().expect("messages").len(), 64);
    }

    #[test]
    fn a_failing_job_does_not_fail_the_jobs_it_shared_a_transaction_with() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), Durability::Process).expect("open");
        let commit = store.group_commit();
        // Queued back to back, so the writer most likely takes them into one transaction.
        let first = commit.submit(vec![Change::InsertMessage(message("m1", "q"))]);
        let duplicate = commit.submit(vec![Change::InsertMessage(message("m1", "q"))]);
        // A job that writes and then fails leaves none of its writes.
        let half = commit.submit(vec![
            Change::InsertMessage(message("m3", "q")),
            Change::InsertMessage(message("m2", "q")),
            Change::InsertMessage(message("m2", "q")),
        ]);
        let next = commit.submit(vec![Change::InsertMessage(message("m2", "q"))]);
        first.wait_blocking().expect("first");
        assert!(duplicate.wait_blocking().is_err(), "a duplicate id is refused");
        assert!(half.wait_blocking().is_err(), "a job with a duplicate id is refused");
        next.wait_blocking().expect("the next one still lands");
        let ids: Vec<String> = store.messages().expect("messages").into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["m1", "m2"]);
    }

    #[test]
    fn each_job_sees_the_writes_of_the_jobs_before_it_and_answers_its_own_result() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), Durability::Process).expect("open");
        let commit = store.group_commit();
        let write = commit.run(|w| w.put("kind", "a", &1).map(|()| "written"));
        let read = commit.run(|w| {
            w.0.query_row("SELECT value FROM records WHERE kind = 'kind' AND key = 'a'", [], |row| {
                row.get::<_, String>(0)
            })
        });
        assert_eq!(write.wait_blocking().expect("committed").expect("the job"), "written");
        assert_eq!(read.wait_blocking().expect("committed").expect("the job"), "1");
    }
}
