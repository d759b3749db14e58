//! The durable store: everything the sandbox acknowledges besides object bytes — STS sessions,
//! queues, messages (with receive counts and visibility deadlines), topics, subscriptions and
//! bucket notification settings — in one SQLite database, `<data dir>/.sandbox.db`.
//!
//! SQLite runs in WAL mode. With the default durability (`synchronous=NORMAL`) a committed
//! transaction is in the write-ahead log before the service answers, so it survives the sandbox
//! process being killed at any moment; a power loss may lose the last moments. [`Durability::Fsync`]
//! (`sandbox --fsync`) makes every commit wait for the disk as well.
//!
//! The store knows nothing of the services: it keeps typed records (JSON values by kind and key)
//! and, in [`messaging`], SQS messages, whose mutable part ([`MessageState`]) is rewritten
//! without the body. The services keep a working copy in memory and write here, inside their own
//! locks, before they answer; at start they load it back.

mod commit;
mod messaging;

pub mod objects;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use commit::{Committed, GroupCommit, Pending};
pub use messaging::{Change, DedupEntry, MessageMeta, MessageState, StoredMessage};

/// The database's file name inside the data directory.
pub const DB_FILE: &str = ".sandbox.db";

/// How hard each commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives a crash of the sandbox process (SQLite WAL, `synchronous=NORMAL`).
    #[default]
    Process,
    /// Survives a power loss too: every commit is synced (`synchronous=FULL`).
    Fsync,
}

/// Why the store could not read or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A record could not be encoded or decoded.
    #[error("a stored record is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// The database file could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The database. One connection behind a lock: every write is a short transaction, and the
/// frequent ones (object writes, messaging) go through its one writer thread, [`GroupCommit`],
/// which commits many at once.
#[derive(Debug)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    durability: Durability,
    group_commit: GroupCommit,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key));
";

impl Store {
    /// Opens (creating when missing, readable by the owner only: it holds session secrets) the
    /// database of `data_dir`.
    pub fn open(data_dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(&path)?;
        }
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let synchronous = match durability {
            Durability::Process => "NORMAL",
            Durability::Fsync => "FULL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        messaging::migrate(&conn)?;
        let conn = Arc::new(Mutex::new(conn));
        let group_commit = GroupCommit::start(conn.clone())?;
        Ok(Self { conn, durability, group_commit })
    }

    /// How hard each commit tries to reach the disk.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The writer thread that commits concurrent writes together.
    pub fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.lock();
        Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()?)
    }

    /// Sets a value of the `meta` table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Every record of `kind`, in the order they were first written.
    pub fn records<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<(String, T)>, StoreError> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached("SELECT key, value FROM records WHERE kind = ?1 ORDER BY rowid")?;
        let rows = statement.query_map([kind], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, value) = row?;
            out.push((key, serde_json::from_str(&value)?));
        }
        Ok(out)
    }

    /// Runs `f` in one transaction: all of its writes land, or none.
    pub fn write<R>(&self, f: impl FnOnce(&Writer<'_>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let result = f(&Writer(&tx))?;
        tx.commit()?;
        Ok(result)
    }
}

/// The writes of one transaction.
#[derive(Debug)]
pub struct Writer<'a>(&'a rusqlite::Transaction<'a>);

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Writer<'_> {
    /// Creates or replaces record `key` of `kind`.
    pub fn put<T: Serialize + ?Sized>(&self, kind: &str, key: &str, value: &T) -> Result<(), StoreError> {
        self.put_raw(kind, key, &serde_json::to_string(value)?)
    }

    /// Creates or replaces record `key` of `kind` with `value`, already JSON.
    pub fn put_raw(&self, kind: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO records (kind, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![kind, key, value])?;
        Ok(())
    }

    /// Deletes record `key` of `kind`, if there is one.
    pub fn delete(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.0.prepare_cached("DELETE FROM records WHERE kind = ?1 AND key = ?2")?.execute(params![kind, key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::messaging::tests::message;
    use super::*;

    #[test]
    fn what_was_written_reads_back_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = Store::open(dir.path(), Durability::Process).expect("open");
            store.set_meta("seeded", "1").expect("meta");
            store
                .write(|w| {
                    w.put("queue", "b", &serde_json::json!({ "n": 2 }))?;
                    w.put("queue", "a", &serde_json::json!({ "n": 1 }))?;
                    w.put("queue", "b", &serde_json::json!({ "n": 3 }))
                })
                .expect("write");
        }
        let store = Store::open(dir.path(), Durability::Process).expect("reopen");
        assert_eq!(store.meta("seeded").expect("meta").as_deref(), Some("1"));
        let queues: Vec<(String, serde_json::Value)> = store.records("queue").expect("records");
        assert_eq!(queues, [("b".into(), serde_json::json!({ "n": 3 })), ("a".into(), serde_json::json!({ "n": 1 }))]);
    }

    #[test]
    fn a_failed_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), Durability::Process).expect("open");
        let result = store.write(|w| {
            w.insert_message(&message("m1", "a"))?;
            w.insert_message(&message("m1", "a")) // duplicate id: refused
        });
        assert!(result.is_err());
        assert!(store.messages().expect("messages").is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn the_database_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let _store = Store::open(dir.path(), Durability::Fsync).expect("open");
        let mode = std::fs::metadata(dir.path().join(DB_FILE)).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
