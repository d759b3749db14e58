//! S3's event outbox: each event a write causes is a row of `s3_outbox`, inserted in the write's
//! own transaction, so an acknowledged write always has its events on disk. The delivery task
//! reads the rows that are due, delivers them, and deletes them once the destination took them;
//! a failed delivery is tried again later. Rows survive restarts.

use rusqlite::params;

use super::{as_i64, as_u64};
use crate::state::{Store, StoreError, Writer};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS s3_outbox (
    seq INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    destination TEXT NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS s3_outbox_due ON s3_outbox (next_attempt_ms);
";

/// An event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its row.
    pub seq: i64,
    /// When the write that caused it committed (ms since the epoch).
    pub created_ms: u64,
    /// Where it goes (an ARN, as the notification configuration names it).
    pub destination: String,
    /// The event, as it will be sent.
    pub event: String,
    /// How many deliveries failed so far.
    pub attempts: u32,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The destination took it: the row goes.
    Delivered(i64),
    /// Try again at this time (ms since the epoch).
    Retry(i64, u64),
    /// Given up on (logged by the caller): the row goes.
    Dropped(i64),
}

impl Outcome {
    /// The event's row.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Delivered(seq) | Self::Retry(seq, _) | Self::Dropped(seq) => *seq,
        }
    }
}

impl Writer<'_> {
    /// Adds an event for `destination` to the outbox, due at once.
    pub fn enqueue_event(&self, destination: &str, event: &str, now_ms: u64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO s3_outbox (created_ms, destination, event, attempts, next_attempt_ms) \
                 VALUES (?1, ?2, ?3, 0, ?1)",
            )?
            .execute(params![as_i64(now_ms), destination, event])?;
        Ok(())
    }
}

/// The outbox of a store.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: std::sync::Arc<Store>,
}

impl Outbox {
    /// The outbox table of `store` (created when missing).
    pub fn open(store: std::sync::Arc<Store>) -> Result<Self, StoreError> {
        store.lock().execute_batch(SCHEMA)?;
        Ok(Self { store })
    }

    /// Up to `limit` events due at `now_ms`, oldest first.
    pub fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let conn = self.store.lock();
        let mut statement = conn.prepare_cached(
            "SELECT seq, created_ms, destination, event, attempts FROM s3_outbox WHERE next_attempt_ms <= ?1 \
             ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![as_i64(now_ms), i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok(Pending {
                seq: row.get(0)?,
                created_ms: as_u64(row.get(1)?),
                destination: row.get(2)?,
                event: row.get(3)?,
                attempts: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the next event is due (ms since the epoch), if any is waiting.
    pub fn next_due_ms(&self) -> Result<Option<u64>, StoreError> {
        let conn = self.store.lock();
        let next: Option<i64> =
            conn.prepare_cached("SELECT MIN(next_attempt_ms) FROM s3_outbox")?.query_row([], |row| row.get(0))?;
        Ok(next.map(as_u64))
    }

    /// How many events wait.
    pub fn len(&self) -> Result<u64, StoreError> {
        let conn = self.store.lock();
        let count: i64 = conn.prepare_cached("SELECT COUNT(*) FROM s3_outbox")?.query_row([], |row| row.get(0))?;
        Ok(as_u64(count))
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Records the outcomes of a round of deliveries, in one transaction.
    pub fn settle(&self, outcomes: &[Outcome]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        self.store.write(|w| {
            for outcome in outcomes {
                match outcome {
                    Outcome::Delivered(seq) | Outcome::Dropped(seq) => {
                        w.0.prepare_cached("DELETE FROM s3_outbox WHERE seq = ?1")?.execute([seq])?;
                    }
                    Outcome::Retry(seq, at) => {
                        w.0.prepare_cached(
                            "UPDATE s3_outbox SET attempts = attempts + 1, next_attempt_ms = ?2 WHERE seq = ?1",
                        )?
                        .execute(params![seq, as_i64(*at)])?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Durability;

    #[test]
    fn events_wait_until_delivered_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = std::sync::Arc::new(Store::open(dir.path(), Durability::Process).expect("store"));
            let outbox = Outbox::open(store.clone()).expect("outbox");
            store
                .write(|w| {
                    w.enqueue_event("arn:a", "one", 10)?;
                    w.enqueue_event("arn:b", "two", 11)
                })
                .expect("enqueue");
            let due = outbox.due(100, 10).expect("due");
            assert_eq!(due.iter().map(|p| p.event.as_str()).collect::<Vec<_>>(), ["one", "two"]);
            outbox.settle(&[Outcome::Delivered(due[0].seq), Outcome::Retry(due[1].seq, 500)]).expect("settle");
            assert!(outbox.due(100, 10).expect("due").is_empty(), "the retry is not due yet");
            assert_eq!(outbox.next_due_ms().expect("next"), Some(500));
        }
        let store = std::sync::Arc::new(Store::open(dir.path(), Durability::Process).expect("store"));
        let outbox = Outbox::open(store).expect("outbox");
        let due = outbox.due(500, 10).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].event.as_str(), due[0].attempts), ("two", 1));
        outbox.settle(&[Outcome::Dropped(due[0].seq)]).expect("settle");
        assert!(outbox.is_empty().expect("empty"));
    }
}
