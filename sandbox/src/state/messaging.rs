//! The messaging part of the durable store: SQS messages (body, attributes, receive count,
//! visibility deadline, and their FIFO and dead-letter details), FIFO deduplication entries,
//! and the [`Change`]s SQS and SNS hand to the group commit ([`super::GroupCommit::submit`]).
//!
//! Tables: `messages` (one row per message, its mutable part as JSON in `state`, its immutable
//! FIFO and redrive details as JSON in `meta`) and `sqs_dedup` (FIFO deduplication ids within
//! their 5-minute window). Queues, topics, subscriptions and message move tasks are records of
//! the store's `records` table (kinds `sqs-queue`, `sqs-move-task`, `sns-topic`,
//! `sns-subscription`). Every schema change here is idempotent, so any older data directory opens.

use std::sync::Arc;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Writer, as_i64};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL,
    body TEXT NOT NULL, attributes TEXT, sent_ms INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, seq);
CREATE TABLE IF NOT EXISTS sqs_dedup (
    queue TEXT NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL, sequence TEXT,
    expires_ms INTEGER NOT NULL, PRIMARY KEY (queue, key));
";

/// Creates the messaging tables, and adds the columns that older data directories lack.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    let has_meta = conn
        .prepare("SELECT name FROM pragma_table_info('messages')")?
        .query_map([], |row| row.get::<_, String>(0))?
        .filter_map(Result::ok)
        .any(|name| name == "meta");
    if !has_meta {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN meta TEXT")?;
    }
    Ok(())
}

/// The part of an SQS message that changes after it was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    /// How many times it was received.
    pub receive_count: u32,
    /// When it was first received (ms since the epoch).
    pub first_received_ms: Option<u64>,
    /// When it may be received again (ms since the epoch).
    pub visible_at_ms: u64,
    /// The receipt handles of its latest receives, newest last.
    pub receipt_handles: Vec<String>,
}

/// What is fixed about a message once sent, besides its body and attributes: its FIFO details
/// and where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// FIFO: its message group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// FIFO: its deduplication id (given, or the SHA-256 of the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<String>,
    /// FIFO: its sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// The X-Ray trace header it was sent with (`AWSTraceHeader`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
    /// The queue it was sent to, before any dead-letter move: where a redrive without a
    /// destination takes it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The ARN of the queue it was dead-lettered from (`DeadLetterQueueSourceArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_source: Option<String>,
    /// When its retention period started, when that is not its sent time (a FIFO message moved
    /// to its dead-letter queue starts again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enqueued_ms: Option<u64>,
}

/// An SQS message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Message id.
    pub id: String,
    /// The queue's name.
    pub queue: String,
    /// The body.
    pub body: Arc<str>,
    /// The message attributes, as the SQS service encodes them (JSON).
    pub attributes: Option<String>,
    /// When it was sent (ms since the epoch).
    pub sent_ms: u64,
    /// What changes.
    pub state: MessageState,
    /// What does not.
    pub meta: MessageMeta,
}

/// A FIFO deduplication entry: a deduplication id seen on a queue, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupEntry {
    /// The queue's name.
    pub queue: String,
    /// The deduplication key (the id, with the message group when the scope is the group).
    pub key: String,
    /// The message the first send created.
    pub message_id: String,
    /// Its sequence number.
    pub sequence: Option<String>,
    /// When the window closes (ms since the epoch).
    pub expires_ms: u64,
}

impl Store {
    /// Every message, oldest first.
    pub fn messages(&self) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.lock();
        let mut statement =
            conn.prepare_cached("SELECT id, queue, body, attributes, sent_ms, state, meta FROM messages ORDER BY seq")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, queue, body, attributes, sent_ms, state, meta) = row?;
            out.push(StoredMessage {
                id,
                queue,
                body: body.into(),
                attributes,
                sent_ms: sent_ms.try_into().unwrap_or(0),
                state: serde_json::from_str(&state)?,
                meta: meta.as_deref().map(serde_json::from_str).transpose()?.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// The deduplication entries whose window is still open at `now_ms`.
    pub fn dedup_entries(&self, now_ms: u64) -> Result<Vec<DedupEntry>, StoreError> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(
            "SELECT queue, key, message_id, sequence, expires_ms FROM sqs_dedup WHERE expires_ms > ?1",
        )?;
        let rows = statement.query_map([as_i64(now_ms)], |row| {
            Ok(DedupEntry {
                queue: row.get(0)?,
                key: row.get(1)?,
                message_id: row.get(2)?,
                sequence: row.get(3)?,
                expires_ms: row.get::<_, i64>(4)?.try_into().unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Writer<'_> {
    /// Adds a message.
    pub fn insert_message(&self, message: &StoredMessage) -> Result<(), StoreError> {
        let state = serde_json::to_string(&message.state)?;
        let meta =
            (message.meta != MessageMeta::default()).then(|| serde_json::to_string(&message.meta)).transpose()?;
        self.0
            .prepare_cached(
                "INSERT INTO messages (id, queue, body, attributes, sent_ms, state, meta) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                message.id,
                message.queue,
                &*message.body,
                message.attributes,
                as_i64(message.sent_ms),
                state,
                meta
            ])?;
        Ok(())
    }

    /// Records a message's new state, and its queue (a dead-letter move keeps the message).
    pub fn update_message(&self, id: &str, queue: &str, state: &MessageState) -> Result<(), StoreError> {
        let state = serde_json::to_string(state)?;
        self.0
            .prepare_cached("UPDATE messages SET queue = ?2, state = ?3 WHERE id = ?1")?
            .execute(params![id, queue, state])?;
        Ok(())
    }

    /// Moves a message to `queue` with a new state and new fixed details (a dead-letter move, a
    /// redrive).
    pub fn move_message(
        &self,
        id: &str,
        queue: &str,
        state: &MessageState,
        meta: &MessageMeta,
    ) -> Result<(), StoreError> {
        let state = serde_json::to_string(state)?;
        let meta = serde_json::to_string(meta)?;
        self.0
            .prepare_cached("UPDATE messages SET queue = ?2, state = ?3, meta = ?4 WHERE id = ?1")?
            .execute(params![id, queue, state, meta])?;
        Ok(())
    }

    /// Deletes a message.
    pub fn delete_message(&self, id: &str) -> Result<(), StoreError> {
        self.0.prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([id])?;
        Ok(())
    }

    /// Deletes every message of `queue`.
    pub fn delete_queue_messages(&self, queue: &str) -> Result<(), StoreError> {
        self.0.prepare_cached("DELETE FROM messages WHERE queue = ?1")?.execute([queue])?;
        Ok(())
    }

    /// Records a deduplication entry (replacing an expired one of the same key).
    pub fn put_dedup(&self, entry: &DedupEntry) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO sqs_dedup (queue, key, message_id, sequence, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (queue, key) DO UPDATE SET message_id = excluded.message_id, \
                 sequence = excluded.sequence, expires_ms = excluded.expires_ms",
            )?
            .execute(params![entry.queue, entry.key, entry.message_id, entry.sequence, as_i64(entry.expires_ms)])?;
        Ok(())
    }

    /// Forgets the deduplication entries of `queue` (deleted), or of every queue whose window
    /// closed before `now_ms`.
    pub fn delete_dedup(&self, queue: Option<&str>, now_ms: u64) -> Result<(), StoreError> {
        match queue {
            Some(queue) => self.0.prepare_cached("DELETE FROM sqs_dedup WHERE queue = ?1")?.execute([queue])?,
            None => self.0.prepare_cached("DELETE FROM sqs_dedup WHERE expires_ms <= ?1")?.execute([as_i64(now_ms)])?,
        };
        Ok(())
    }
}

/// One change for the group commit to write.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new message.
    InsertMessage(StoredMessage),
    /// A message's new state (and queue).
    UpdateMessage {
        /// Message id.
        id: String,
        /// Its queue.
        queue: String,
        /// Its state.
        state: MessageState,
    },
    /// A message moved to another queue, with new fixed details.
    MoveMessage {
        /// Message id.
        id: String,
        /// The queue it moves to.
        queue: String,
        /// Its state there.
        state: MessageState,
        /// Its fixed details there.
        meta: MessageMeta,
    },
    /// A message deleted.
    DeleteMessage(String),
    /// Every message of a queue deleted.
    DeleteQueueMessages(String),
    /// A record created or replaced (already JSON).
    PutRecord {
        /// Its kind.
        kind: &'static str,
        /// Its key.
        key: String,
        /// The JSON value.
        value: String,
    },
    /// A record deleted.
    DeleteRecord {
        /// Its kind.
        kind: &'static str,
        /// Its key.
        key: String,
    },
    /// A FIFO deduplication entry.
    PutDedup(DedupEntry),
    /// Deduplication entries forgotten: a queue's (`Some`), or every expired one.
    DeleteDedup {
        /// The queue, or `None` for every expired entry.
        queue: Option<String>,
        /// Now, for expiry.
        now_ms: u64,
    },
}

impl Change {
    /// A record change with `value` encoded as JSON.
    pub fn put_record<T: Serialize + ?Sized>(kind: &'static str, key: &str, value: &T) -> Result<Self, StoreError> {
        Ok(Self::PutRecord { kind, key: key.to_owned(), value: serde_json::to_string(value)? })
    }

    pub(super) fn apply(&self, w: &Writer<'_>) -> Result<(), StoreError> {
        match self {
            Self::InsertMessage(message) => w.insert_message(message),
            Self::UpdateMessage { id, queue, state } => w.update_message(id, queue, state),
            Self::MoveMessage { id, queue, state, meta } => w.move_message(id, queue, state, meta),
            Self::DeleteMessage(id) => w.delete_message(id),
            Self::DeleteQueueMessages(queue) => w.delete_queue_messages(queue),
            Self::PutRecord { kind, key, value } => w.put_raw(kind, key, value),
            Self::DeleteRecord { kind, key } => w.delete(kind, key),
            Self::PutDedup(entry) => w.put_dedup(entry),
            Self::DeleteDedup { queue, now_ms } => w.delete_dedup(queue.as_deref(), *now_ms),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::state::Durability;

    /// A message `id` on `queue`, for tests of the store.
    pub(crate) fn message(id: &str, queue: &str) -> StoredMessage {
        StoredMessage {
            id: id.into(),
            queue: queue.into(),
            body: format!("body of {id}").into(),
            attributes: None,
            sent_ms: 7,
            state: MessageState::default(),
            meta: MessageMeta::default(),
        }
    }

    #[test]
    fn what_was_written_reads_back_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Store::open(dir.path(), Durability::Process).expect("open");
            store
                .write(|w| {
                    w.insert_message(&message("m1", "a"))?;
                    w.insert_message(&message("m2", "a"))?;
                    w.insert_message(&message("m3", "b"))?;
                    w.delete_message("m2")?;
                    let state = MessageState { receive_count: 4, visible_at_ms: 99, ..MessageState::default() };
                    let meta =
                        MessageMeta { group: Some("g".into()), origin: Some("a".into()), ..MessageMeta::default() };
                    w.move_message("m1", "dlq", &state, &meta)?;
                    let entry = |key: &str, expires_ms| DedupEntry {
                        queue: "q.fifo".into(),
                        key: key.into(),
                        message_id: "m3".into(),
                        sequence: Some("1".into()),
                        expires_ms,
                    };
                    w.put_dedup(&entry("old", 10))?;
                    w.put_dedup(&entry("new", 1_000))
                })
                .expect("write");
        }
        let store = Store::open(dir.path(), Durability::Process).expect("reopen");
        let messages = store.messages().expect("messages");
        assert_eq!(messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m1", "m3"]);
        assert_eq!(messages[0].queue, "dlq");
        assert_eq!(messages[0].state.receive_count, 4);
        assert_eq!(messages[0].meta.group.as_deref(), Some("g"));
        assert_eq!(messages[1].meta, MessageMeta::default());
        let open: Vec<String> = store.dedup_entries(100).expect("dedup").into_iter().map(|e| e.key).collect();
        assert_eq!(open, ["new"], "an entry whose window closed is not loaded");
    }

    #[test]
    fn a_data_directory_without_the_meta_column_gains_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let conn = Connection::open(dir.path().join(crate::state::DB_FILE)).expect("db");
            conn.execute_batch(
                "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, \
                 queue TEXT NOT NULL, body TEXT NOT NULL, attributes TEXT, sent_ms INTEGER NOT NULL, \
                 state TEXT NOT NULL);
                 INSERT INTO messages (id, queue, body, sent_ms, state) VALUES ('old', 'q', 'kept', 5, \
                 '{\"receive_count\":2,\"first_received_ms\":null,\"visible_at_ms\":0,\"receipt_handles\":[]}');",
            )
            .expect("the old layout");
        }
        let store = Store::open(dir.path(), Durability::Process).expect("open");
        let messages = store.messages().expect("messages");
        assert_eq!((messages[0].id.as_str(), &*messages[0].body), ("old", "kept"));
        assert_eq!(messages[0].state.receive_count, 2);
        drop(store);
        Store::open(dir.path(), Durability::Process).expect("opening twice changes nothing more");
    }
}
