//! The S3 object store: buckets, objects (every version of them), multipart uploads and their
//! parts as rows of the sandbox's SQLite store, and the bytes either inline in the object's row
//! (small objects) or in files named by a random id ([`blobs`]), never by the key.
//!
//! **Rows.** `s3_objects` holds one row per object version: bucket, key, version id (`null` for
//! the null version, the only one an unversioned bucket has), whether it is the key's current
//! version, whether it is a delete marker, size, ETag, last-modified time, the stored headers and
//! user metadata and checksums (`meta`, JSON), tags (JSON), and the bytes: `inline` or `pieces`
//! (the files, in order — a completed multipart upload keeps its parts' files as its pieces, so
//! completing one writes no object byte a second time). `s3_uploads` and `s3_parts` hold uploads
//! in progress; `s3_completed` remembers recent completions so a retried
//! `CompleteMultipartUpload` gets the first answer; `s3_outbox` ([`outbox`]) holds the events of
//! writes until they are delivered.
//!
//! **Durability.** A new object's file is written (and, with [`Durability::Fsync`], synced) before
//! the transaction that inserts its row commits, so a row never names a missing file; a file no
//! row names (a crash between the two, or between deleting a row and its file) is removed by the
//! sweep at start. A write and the events it causes commit in one transaction.
//!
//! **Concurrency.** Every change is one short transaction on the store's one connection. A
//! reader takes a [`blobs::Lease`] on the files of the version it read, under the same lock, so
//! a concurrent overwrite or delete removes those files only once the reader is done.
//!
//! The store checks what must hold at the moment of the write — the bucket exists, a write's
//! preconditions (`If-Match`, `If-None-Match`), a completion's parts — and answers with
//! [`ObjectError`]; the wire protocol and the rest of S3's rules are the S3 service's.

pub mod blobs;
pub mod bucket_config;
mod import;
pub mod listing;
pub mod outbox;
pub mod tagging;
pub mod versions;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rusqlite::{OptionalExtension as _, Row, params};
use serde::{Deserialize, Serialize};

pub use self::blobs::{Blobs, Lease, PayloadWriter};
use super::{Durability, Store, StoreError, Writer};

/// The version id of the null version: the only version of an object in a bucket that never had
/// versioning enabled.
pub const NULL_VERSION: &str = "null";

/// The largest object kept inline in its row rather than in a file of its own. Chosen by
/// measurement (`sos-store-bench`, 16 tasks at once, on 2 cores shared with other builds): up to
/// 16 KiB an inline put was 3 to 6 times as fast as one into a file (one commit instead of a file
/// creation and a commit) and reads as fast or faster; at 32 KiB puts were still 2 to 3 times as
/// fast and reads even; from 64 KiB on, reads from files won (an inline read copies the bytes
/// out of SQLite under the store's lock) and puts evened out.
pub const DEFAULT_INLINE_MAX: usize = 32 * 1024;

/// The smallest part S3 accepts in a completed multipart upload, but for the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// How many completed uploads are remembered for retried completions.
const REMEMBERED_COMPLETIONS: i64 = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS s3_buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    versioning TEXT,
    tags TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS s3_objects (
    seq INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    latest INTEGER NOT NULL,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    meta TEXT NOT NULL,
    tags TEXT,
    inline BLOB,
    pieces TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS s3_objects_current ON s3_objects (bucket, key) WHERE latest = 1;
CREATE INDEX IF NOT EXISTS s3_objects_history ON s3_objects (bucket, key, seq);
CREATE TABLE IF NOT EXISTS s3_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL,
    meta TEXT NOT NULL,
    tags TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS s3_uploads_by_key ON s3_uploads (bucket, key, initiated_ms);
CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    checksums TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS s3_completed (
    seq INTEGER PRIMARY KEY,
    upload_id TEXT NOT NULL UNIQUE,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    etag TEXT NOT NULL,
    version_id TEXT NOT NULL
);
";

/// The meta key set once the store's tables hold every object (after the import of an earlier
/// data directory, or on a new one).
const STORE_READY: &str = "s3-object-store";

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn as_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Why the store refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The bucket does not exist.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// The bucket holds objects.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// The key has no current version (or its current version is a delete marker).
    #[error("the key does not exist")]
    NoSuchKey,
    /// The version id names no version of the key.
    #[error("the version does not exist")]
    NoSuchVersion,
    /// No such upload in progress (for this bucket and key).
    #[error("the upload does not exist")]
    NoSuchUpload,
    /// A write's precondition did not hold.
    #[error("a precondition did not hold")]
    PreconditionFailed,
    /// A part of a completion is missing or its ETag (or checksum) differs.
    #[error("part {0} was not uploaded, or its ETag or checksum differs")]
    InvalidPart(i32),
    /// A completion's parts are not in ascending order.
    #[error("the parts are not in ascending order")]
    InvalidPartOrder,
    /// A part but the last is smaller than [`MIN_PART_SIZE`].
    #[error("part {number} is {size} bytes, smaller than the 5 MiB minimum")]
    EntityTooSmall {
        /// The part.
        number: i32,
        /// Its size.
        size: u64,
    },
    /// A file of the store could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ObjectError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sqlite(err))
    }
}

impl From<serde_json::Error> for ObjectError {
    fn from(err: serde_json::Error) -> Self {
        Self::Store(StoreError::Json(err))
    }
}

/// An object's checksums, base64 as S3 shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    /// CRC32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    /// CRC32C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    /// SHA-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// CRC64NVME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE` (a multipart upload's checksum of its parts' checksums).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl Checksums {
    /// Whether no checksum is set.
    pub fn is_empty(&self) -> bool {
        self.crc32.is_none()
            && self.crc32c.is_none()
            && self.sha1.is_none()
            && self.sha256.is_none()
            && self.crc64nvme.is_none()
    }

    /// The algorithm of the (first) checksum set: `CRC32`, `CRC32C`, `SHA1`, `SHA256`, `CRC64NVME`.
    pub fn algorithm(&self) -> Option<&'static str> {
        [
            (self.crc32.is_some(), "CRC32"),
            (self.crc32c.is_some(), "CRC32C"),
            (self.sha1.is_some(), "SHA1"),
            (self.sha256.is_some(), "SHA256"),
            (self.crc64nvme.is_some(), "CRC64NVME"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// What S3 keeps of a write besides the bytes: the headers it stores and returns, user metadata,
/// checksums, and the part sizes of a multipart object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Cache-Control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
    /// `x-amz-storage-class` (`STANDARD` when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// `x-amz-meta-*`, names in lower case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// Checksums.
    #[serde(default, skip_serializing_if = "Checksums::is_empty")]
    pub checksums: Checksums,
    /// For a multipart upload in progress: the checksum algorithm asked for at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// For a completed multipart upload: the size of each part, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
}

/// One file of an object's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// Its blob id.
    pub blob: String,
    /// Its size.
    pub size: u64,
}

/// An object's bytes as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// In the row.
    Inline(Bytes),
    /// In files, in order.
    Pieces(Vec<Piece>),
}

impl Data {
    /// The blob ids of the files, if any.
    pub fn blobs(&self) -> Vec<String> {
        match self {
            Self::Inline(_) => Vec::new(),
            Self::Pieces(pieces) => pieces.iter().map(|p| p.blob.clone()).collect(),
        }
    }

    fn columns(&self) -> Result<(Option<&[u8]>, Option<String>), serde_json::Error> {
        Ok(match self {
            Self::Inline(bytes) => (Some(bytes.as_ref()), None),
            Self::Pieces(pieces) => (None, Some(serde_json::to_string(pieces)?)),
        })
    }
}

/// An object version as stored.
#[derive(Debug, Clone)]
pub struct ObjectVersion {
    /// Write order: a newer version has a larger number.
    pub seq: i64,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id ([`NULL_VERSION`] for the null version).
    pub version_id: String,
    /// Whether it is the key's current version.
    pub latest: bool,
    /// Whether it is a delete marker.
    pub delete_marker: bool,
    /// Size in bytes.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: String,
    /// When it was written (ms since the epoch).
    pub last_modified_ms: u64,
    /// Stored headers, metadata, checksums.
    pub meta: ObjectMeta,
    /// Tags (JSON), if any.
    pub tags: Option<String>,
    /// The bytes.
    pub data: Data,
}

const VERSION_COLUMNS: &str =
    "seq, bucket, key, version_id, latest, delete_marker, size, etag, last_modified_ms, meta, tags, inline, pieces";

impl ObjectVersion {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let json_error = |index, err: serde_json::Error| {
            rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
        };
        let meta: String = row.get(9)?;
        let meta = serde_json::from_str(&meta).map_err(|err| json_error(9, err))?;
        let inline: Option<Vec<u8>> = row.get(11)?;
        let pieces: Option<String> = row.get(12)?;
        let data = match (inline, pieces) {
            (_, Some(pieces)) => Data::Pieces(serde_json::from_str(&pieces).map_err(|err| json_error(12, err))?),
            (Some(bytes), None) => Data::Inline(Bytes::from(bytes)),
            (None, None) => Data::Inline(Bytes::new()),
        };
        Ok(Self {
            seq: row.get(0)?,
            bucket: row.get(1)?,
            key: row.get(2)?,
            version_id: row.get(3)?,
            latest: row.get(4)?,
            delete_marker: row.get(5)?,
            size: as_u64(row.get(6)?),
            etag: row.get(7)?,
            last_modified_ms: as_u64(row.get(8)?),
            meta,
            tags: row.get(10)?,
            data,
        })
    }
}

/// A new version's content.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// Stored headers, metadata, checksums.
    pub meta: ObjectMeta,
    /// The bytes.
    pub data: Data,
    /// Their size.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: String,
    /// Tags (JSON), if any.
    pub tags: Option<String>,
}

/// The preconditions of a write, checked against the key's current version when it commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteCondition {
    /// `If-Match`: the current version's ETag (without quotes), or `*` for any; a key with no
    /// current version fails with [`ObjectError::NoSuchKey`].
    pub if_match: Option<String>,
    /// `If-None-Match: *`: the key must have no current version.
    pub if_none_match: bool,
}

impl WriteCondition {
    fn check(&self, current: Option<&ObjectVersion>) -> Result<(), ObjectError> {
        let live = current.filter(|v| !v.delete_marker);
        if self.if_none_match && live.is_some() {
            return Err(ObjectError::PreconditionFailed);
        }
        if let Some(expected) = &self.if_match {
            let live = live.ok_or(ObjectError::NoSuchKey)?;
            if expected != "*" && expected.trim_matches('"') != live.etag {
                return Err(ObjectError::PreconditionFailed);
            }
        }
        Ok(())
    }
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// When it was created (ms since the epoch).
    pub created_ms: u64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Its id.
    pub upload_id: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// When it was created (ms since the epoch).
    pub initiated_ms: u64,
    /// The headers and metadata the object will have.
    pub meta: ObjectMeta,
    /// The tags it will have (JSON).
    pub tags: Option<String>,
}

impl Upload {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let meta: String = row.get(4)?;
        let meta = serde_json::from_str(&meta)
            .map_err(|err| rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(err)))?;
        Ok(Self {
            upload_id: row.get(0)?,
            bucket: row.get(1)?,
            key: row.get(2)?,
            initiated_ms: as_u64(row.get(3)?),
            meta,
            tags: row.get(5)?,
        })
    }
}

const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, initiated_ms, meta, tags";

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Part number (1 to 10,000).
    pub number: i32,
    /// Size.
    pub size: u64,
    /// ETag, without quotes (the MD5 of the part).
    pub etag: String,
    /// When it was uploaded (ms since the epoch).
    pub last_modified_ms: u64,
    /// Its checksums.
    pub checksums: Checksums,
    /// Its file.
    pub blob: String,
}

impl Part {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let checksums: String = row.get(4)?;
        let checksums = serde_json::from_str(&checksums)
            .map_err(|err| rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(err)))?;
        Ok(Self {
            number: row.get(0)?,
            size: as_u64(row.get(1)?),
            etag: row.get(2)?,
            last_modified_ms: as_u64(row.get(3)?),
            checksums,
            blob: row.get(5)?,
        })
    }
}

const PART_COLUMNS: &str = "part_number, size, etag, last_modified_ms, checksums, blob";

/// A part as a completion names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChosenPart {
    /// Part number.
    pub number: i32,
    /// ETag as sent (quotes allowed).
    pub etag: String,
    /// Checksums as sent, which must match the uploaded part's.
    pub checksums: Checksums,
}

/// What a completion made: the object's version, or — for a retried completion of an upload
/// completed before — the answer the first completion got.
#[derive(Debug, Clone)]
pub enum Completion {
    /// The new object version.
    New(Box<ObjectVersion>),
    /// The upload was completed before: its key, ETag and version id.
    Before {
        /// ETag.
        etag: String,
        /// Version id.
        version_id: String,
    },
}

/// The S3 object store.
#[derive(Debug)]
pub struct ObjectStore {
    store: Arc<Store>,
    blobs: Blobs,
    outbox: outbox::Outbox,
    inline_max: usize,
    /// The names of the buckets, as the database has them: every S3 request asks whether its
    /// bucket exists, and a read of the database would wait for the writer's transaction.
    /// Changed only while the connection is held, right after the change commits.
    bucket_names: std::sync::RwLock<HashSet<String>>,
}

impl ObjectStore {
    /// The object store of `data_dir`, in `store`'s database: creates its tables, imports the
    /// buckets and objects of an earlier sandbox's layout (a folder per bucket, a file per key)
    /// the first time, and removes files no row names.
    pub fn open(store: Arc<Store>, data_dir: &Path) -> Result<Self, ObjectError> {
        store.lock().execute_batch(SCHEMA)?;
        store.lock().execute_batch(bucket_config::SCHEMA)?;
        let outbox = outbox::Outbox::open(store.clone())?;
        let blobs = Blobs::open(&data_dir.join(".s3"), store.durability() == Durability::Fsync)?;
        let bucket_names = std::sync::RwLock::default();
        let this = Self { store, blobs, outbox, inline_max: DEFAULT_INLINE_MAX, bucket_names };
        if this.store.meta(STORE_READY)?.is_none() {
            import::import_earlier_layout(&this, data_dir)?;
        }
        import::remove_leftovers(&this, data_dir)?;
        *this.names() = this.buckets()?.into_iter().map(|b| b.name).collect();
        let referenced = this.referenced_blobs()?;
        let swept = this.blobs.sweep(&referenced)?;
        if swept > 0 {
            tracing::info!("removed {swept} object files that no object named (left by an interrupted write)");
        }
        Ok(this)
    }

    /// The same store keeping objects up to `inline_max` bytes inline (measurements, tests).
    #[must_use]
    pub fn with_inline_max(mut self, inline_max: usize) -> Self {
        self.inline_max = inline_max;
        self
    }

    /// The events waiting for delivery.
    pub fn outbox(&self) -> &outbox::Outbox {
        &self.outbox
    }

    /// The files of the store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// A writer for a new object's bytes (inline when small).
    pub fn object_writer(&self) -> PayloadWriter {
        self.blobs.payload_writer(self.inline_max)
    }

    /// A writer for a part's bytes (always a file: a part becomes a piece of its object).
    pub fn part_writer(&self) -> PayloadWriter {
        self.blobs.payload_writer(0)
    }

    /// Runs `f` in one transaction: all of its writes land, or none.
    fn transaction<R>(&self, f: impl FnOnce(&Writer<'_>) -> Result<R, ObjectError>) -> Result<R, ObjectError> {
        self.transaction_then(f, |_| {})
    }

    /// [`transaction`](Self::transaction), then `after` once it has committed, still holding
    /// the connection: what `after` changes in memory changes in the order of the commits.
    fn transaction_then<R>(
        &self,
        f: impl FnOnce(&Writer<'_>) -> Result<R, ObjectError>,
        after: impl FnOnce(&R),
    ) -> Result<R, ObjectError> {
        let mut conn = self.store.lock();
        let tx = conn.transaction()?;
        let result = f(&Writer(&tx))?;
        tx.commit()?;
        after(&result);
        Ok(result)
    }

    /// Every blob a row names.
    fn referenced_blobs(&self) -> Result<HashSet<String>, ObjectError> {
        let conn = self.store.lock();
        let mut referenced = HashSet::new();
        let mut statement = conn.prepare("SELECT pieces FROM s3_objects WHERE pieces IS NOT NULL")?;
        for pieces in statement.query_map([], |row| row.get::<_, String>(0))? {
            let pieces: Vec<Piece> = serde_json::from_str(&pieces?)?;
            referenced.extend(pieces.into_iter().map(|p| p.blob));
        }
        let mut statement = conn.prepare("SELECT blob FROM s3_parts")?;
        for blob in statement.query_map([], |row| row.get::<_, String>(0))? {
            referenced.insert(blob?);
        }
        Ok(referenced)
    }

    // ---- buckets ----

    /// Every bucket, by name.
    pub fn buckets(&self) -> Result<Vec<Bucket>, ObjectError> {
        let conn = self.store.lock();
        let mut statement = conn.prepare_cached("SELECT name, created_ms FROM s3_buckets ORDER BY name")?;
        let rows = statement.query_map([], |row| Ok(Bucket { name: row.get(0)?, created_ms: as_u64(row.get(1)?) }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Bucket `name`, if it exists.
    pub fn bucket(&self, name: &str) -> Result<Option<Bucket>, ObjectError> {
        let conn = self.store.lock();
        Ok(bucket_row(&conn, name)?)
    }

    /// Whether bucket `name` exists (without a read of the database).
    pub fn bucket_exists(&self, name: &str) -> bool {
        self.bucket_names.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(name)
    }

    fn names(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<String>> {
        self.bucket_names.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates bucket `name`; `false` when it existed already.
    pub fn create_bucket(&self, name: &str) -> Result<bool, ObjectError> {
        self.transaction_then(
            |w| {
                let created = w
                    .0
                    .prepare_cached("INSERT INTO s3_buckets (name, created_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                    .execute(params![name, as_i64(now_ms())])?;
                Ok(created == 1)
            },
            |_| {
                self.names().insert(name.to_owned());
            },
        )
    }

    /// Deletes bucket `name`, which must hold no object version; uploads in progress go with it.
    pub fn delete_bucket(&self, name: &str) -> Result<(), ObjectError> {
        let blobs = self.transaction_then(
            |w| {
                if bucket_row(w.0, name)?.is_none() {
                    return Err(ObjectError::NoSuchBucket);
                }
                let any: Option<i64> =
                    w.0.prepare_cached("SELECT 1 FROM s3_objects WHERE bucket = ?1 LIMIT 1")?
                        .query_row([name], |row| row.get(0))
                        .optional()?;
                if any.is_some() {
                    return Err(ObjectError::BucketNotEmpty);
                }
                let mut blobs = Vec::new();
                let mut statement = w.0.prepare_cached(
                    "DELETE FROM s3_parts WHERE upload_id IN (SELECT upload_id FROM s3_uploads WHERE bucket = ?1) \
                     RETURNING blob",
                )?;
                for blob in statement.query_map([name], |row| row.get::<_, String>(0))? {
                    blobs.push(blob?);
                }
                w.0.prepare_cached("DELETE FROM s3_uploads WHERE bucket = ?1")?.execute([name])?;
                w.0.prepare_cached("DELETE FROM s3_buckets WHERE name = ?1")?.execute([name])?;
                bucket_config::forget(w, name)?;
                Ok(blobs)
            },
            |_| {
                self.names().remove(name);
            },
        )?;
        self.blobs.remove_later(blobs);
        Ok(())
    }

    // ---- objects ----

    /// The current version of `key` (a delete marker included), with a lease on its files so
    /// that they outlive a concurrent overwrite while the caller reads them.
    pub fn current(&self, bucket: &str, key: &str) -> Result<Option<(ObjectVersion, Lease)>, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        let Some(version) = current_version(&conn, bucket, key)? else { return Ok(None) };
        let lease = self.blobs.lease(version.data.blobs());
        Ok(Some((version, lease)))
    }

    /// Writes a new current version of `key` if `condition` holds, and lets `announce` add the
    /// events of the write in the same transaction; returns the version and what `announce`
    /// returned. On an unversioned bucket the new version replaces the null version. On failure
    /// the new version's files are removed. The write goes through the store's group commit, so
    /// concurrent writes share a transaction, each answered once that transaction has committed.
    pub async fn put<A: Send + 'static>(
        &self,
        bucket: &str,
        key: &str,
        new: NewObject,
        condition: WriteCondition,
        announce: impl FnOnce(&ObjectVersion, &Writer<'_>) -> Result<A, StoreError> + Send + 'static,
    ) -> Result<(ObjectVersion, A), ObjectError> {
        let new_blobs = new.data.blobs();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let job = self.store.group_commit().run(move |w| {
            if bucket_row(w.0, &bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            let current = current_version(w.0, &bucket, &key)?;
            condition.check(current.as_ref())?;
            let (version, replaced) = write_version(w, &bucket, &key, new)?;
            let announced = announce(&version, w)?;
            Ok((version, announced, replaced))
        });
        match job.wait().await.map_err(ObjectError::from).and_then(|result| result) {
            Ok((version, announced, replaced)) => {
                let keep: HashSet<&String> = new_blobs.iter().collect();
                self.blobs.remove_later(replaced.into_iter().filter(|b| !keep.contains(b)).collect());
                Ok((version, announced))
            }
            Err(err) => {
                self.blobs.remove_later(new_blobs);
                Err(err)
            }
        }
    }

    /// Deletes the current version of `key` (on an unversioned bucket, the null version) if
    /// `condition` holds (`If-Match`), and lets `announce` add the events in the same transaction. Returns the removed version, or
    /// `None` when there was none (which S3 answers with success too).
    pub fn delete(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
        announce: impl FnOnce(&ObjectVersion, &Writer<'_>) -> Result<(), StoreError>,
    ) -> Result<Option<ObjectVersion>, ObjectError> {
        let removed = self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            condition.check(current_version(w.0, bucket, key)?.as_ref())?;
            let removed =
                w.0.prepare_cached(&format!(
                    "DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 \
                     RETURNING {VERSION_COLUMNS}"
                ))?
                .query_row(params![bucket, key, NULL_VERSION], ObjectVersion::from_row)
                .optional()?;
            if let Some(removed) = &removed {
                announce(removed, w)?;
            }
            Ok(removed)
        })?;
        if let Some(removed) = &removed {
            self.blobs.remove_later(removed.data.blobs());
        }
        Ok(removed)
    }

    /// One page of the bucket's current objects in key order (S3's ListObjects rules).
    pub fn list(&self, bucket: &str, query: &listing::Query<'_>) -> Result<listing::Page<ObjectVersion>, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        let mut source = listing::CurrentObjects::new(&conn, bucket, query);
        Ok(listing::page(&mut source, query)?)
    }

    /// One page of the bucket's object versions, key order then newest first (S3's
    /// ListObjectVersions rules); `version_marker` continues after that version of the marker key.
    pub fn list_versions(
        &self,
        bucket: &str,
        query: &listing::Query<'_>,
        version_marker: Option<&str>,
    ) -> Result<listing::Page<ObjectVersion>, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        let mut source = listing::Versions::new(&conn, bucket, query, version_marker)?;
        Ok(listing::page(&mut source, query)?)
    }

    /// The bytes of blobs `ids`, copied into new blobs in the kernel (for CopyObject). Blocking.
    pub fn copy_data(&self, data: &Data) -> Result<Data, ObjectError> {
        match data {
            Data::Inline(bytes) => Ok(Data::Inline(bytes.clone())),
            Data::Pieces(pieces) => {
                let mut copied: Vec<Piece> = Vec::with_capacity(pieces.len());
                for piece in pieces {
                    match self.blobs.copy_range(&piece.blob, 0, piece.size) {
                        Ok(blob) => copied.push(Piece { blob, size: piece.size }),
                        Err(err) => {
                            self.blobs.remove_later(copied.into_iter().map(|p| p.blob).collect());
                            return Err(err.into());
                        }
                    }
                }
                Ok(Data::Pieces(copied))
            }
        }
    }

    // ---- multipart uploads ----

    /// Starts a multipart upload of `key`; returns its id.
    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        tags: Option<&str>,
    ) -> Result<String, ObjectError> {
        let upload_id = upload_id();
        let meta = serde_json::to_string(meta)?;
        self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            w.0.prepare_cached(
                "INSERT INTO s3_uploads (upload_id, bucket, key, initiated_ms, meta, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![upload_id, bucket, key, as_i64(now_ms()), meta, tags])?;
            Ok(())
        })?;
        Ok(upload_id)
    }

    /// Upload `upload_id` of `key` in `bucket`.
    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        upload_row(&conn, bucket, key, upload_id)
    }

    /// Records part `number` of an upload (replacing an earlier upload of the same number). On
    /// failure the part's file is removed.
    pub fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part: Part) -> Result<(), ObjectError> {
        let blob = part.blob.clone();
        let result = self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            upload_row(w.0, bucket, key, upload_id)?;
            let replaced: Option<String> =
                w.0.prepare_cached("DELETE FROM s3_parts WHERE upload_id = ?1 AND part_number = ?2 RETURNING blob")?
                    .query_row(params![upload_id, part.number], |row| row.get(0))
                    .optional()?;
            w.0.prepare_cached(&format!(
                "INSERT INTO s3_parts (upload_id, {PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                upload_id,
                part.number,
                as_i64(part.size),
                part.etag,
                as_i64(part.last_modified_ms),
                serde_json::to_string(&part.checksums)?,
                part.blob
            ])?;
            Ok(replaced)
        });
        match result {
            Ok(replaced) => {
                self.blobs.remove_later(replaced.into_iter().collect());
                Ok(())
            }
            Err(err) => {
                self.blobs.remove_later(vec![blob]);
                Err(err)
            }
        }
    }

    /// The parts of an upload numbered above `after`, at most `max` (plus whether more follow).
    pub fn parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: i32,
        max: usize,
    ) -> Result<(Upload, Vec<Part>, bool), ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        let upload = upload_row(&conn, bucket, key, upload_id)?;
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {PART_COLUMNS} FROM s3_parts WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3"
        ))?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX).saturating_add(1);
        let mut parts =
            statement.query_map(params![upload_id, after, limit], Part::from_row)?.collect::<Result<Vec<_>, _>>()?;
        let more = parts.len() > max;
        parts.truncate(max);
        Ok((upload, parts, more))
    }

    /// Ends an upload, removing its parts.
    pub fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), ObjectError> {
        let blobs = self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            upload_row(w.0, bucket, key, upload_id)?;
            let blobs = delete_upload(w, upload_id)?;
            Ok(blobs)
        })?;
        self.blobs.remove_later(blobs);
        Ok(())
    }

    /// Completes an upload with `chosen` parts (S3's checks: ascending order, each uploaded with
    /// that ETag, each but the last at least 5 MiB), if `condition` holds. The parts' files
    /// become the object's pieces; parts not chosen are removed. A retry of a completion that
    /// succeeded before gets [`Completion::Before`].
    pub fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[ChosenPart],
        condition: &WriteCondition,
        announce: impl FnOnce(&ObjectVersion, &Writer<'_>) -> Result<(), StoreError>,
    ) -> Result<Completion, ObjectError> {
        let result = self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            let upload = match upload_row(w.0, bucket, key, upload_id) {
                Ok(upload) => upload,
                Err(ObjectError::NoSuchUpload) => {
                    let before = w
                        .0
                        .prepare_cached(
                            "SELECT etag, version_id FROM s3_completed WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3",
                        )?
                        .query_row(params![upload_id, bucket, key], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()?;
                    return match before {
                        Some((etag, version_id)) => Ok((Completion::Before { etag, version_id }, Vec::new())),
                        None => Err(ObjectError::NoSuchUpload),
                    };
                }
                Err(err) => return Err(err),
            };
            let uploaded: Vec<Part> = w
                .0
                .prepare_cached(&format!("SELECT {PART_COLUMNS} FROM s3_parts WHERE upload_id = ?1 ORDER BY part_number"))?
                .query_map([upload_id], Part::from_row)?
                .collect::<Result<_, _>>()?;
            let parts = check_parts(chosen, &uploaded)?;
            condition.check(current_version(w.0, bucket, key)?.as_ref())?;

            let mut md5s = Vec::with_capacity(parts.len() * 16);
            for part in &parts {
                md5s.extend(hex::decode(&part.etag).unwrap_or_default());
            }
            let etag = format!("{}-{}", hex::encode(md5_of(&md5s)), parts.len());
            let mut meta = upload.meta.clone();
            meta.checksums = composite_checksum(meta.checksum_algorithm.as_deref(), &parts);
            meta.checksum_algorithm = None;
            meta.part_sizes = parts.iter().map(|p| p.size).collect();
            let new = NewObject {
                meta,
                size: parts.iter().map(|p| p.size).sum(),
                data: Data::Pieces(parts.iter().map(|p| Piece { blob: p.blob.clone(), size: p.size }).collect()),
                etag,
                tags: upload.tags.clone(),
            };
            let kept: HashSet<String> = parts.iter().map(|p| p.blob.clone()).collect();
            let mut unused: Vec<String> = delete_upload(w, upload_id)?.into_iter().filter(|b| !kept.contains(b)).collect();
            let (version, replaced) = write_version(w, bucket, key, new)?;
            unused.extend(replaced);
            w.0.prepare_cached(
                "INSERT INTO s3_completed (upload_id, bucket, key, etag, version_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![upload_id, bucket, key, version.etag, version.version_id])?;
            w.0.prepare_cached("DELETE FROM s3_completed WHERE seq <= (SELECT MAX(seq) FROM s3_completed) - ?1")?
                .execute([REMEMBERED_COMPLETIONS])?;
            announce(&version, w)?;
            Ok((Completion::New(Box::new(version)), unused))
        })?;
        let (completion, unused) = result;
        self.blobs.remove_later(unused);
        Ok(completion)
    }

    /// One page of the bucket's uploads in progress, by key then initiation time (S3's
    /// ListMultipartUploads rules); `upload_id_marker` continues after that upload of the
    /// marker key.
    pub fn list_uploads(
        &self,
        bucket: &str,
        query: &listing::Query<'_>,
        upload_id_marker: Option<&str>,
    ) -> Result<listing::Page<Upload>, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        let mut source = listing::Uploads::new(&conn, bucket, query, upload_id_marker)?;
        Ok(listing::page(&mut source, query)?)
    }
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(bytes).into()
}

/// A new upload id: 48 random hex digits.
fn upload_id() -> String {
    let mut bytes = [0u8; 24];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = now_ms().wrapping_mul(1_000_003);
        bytes[..8].copy_from_slice(&nanos.to_le_bytes());
    }
    hex::encode(bytes)
}

/// The parts of `uploaded` that `chosen` names, after S3's checks.
fn check_parts(chosen: &[ChosenPart], uploaded: &[Part]) -> Result<Vec<Part>, ObjectError> {
    let mut parts = Vec::with_capacity(chosen.len());
    let mut previous = 0;
    for choice in chosen {
        if choice.number <= previous {
            return Err(ObjectError::InvalidPartOrder);
        }
        previous = choice.number;
        let part = uploaded
            .iter()
            .find(|p| p.number == choice.number)
            .filter(|p| p.etag == choice.etag.trim().trim_matches('"'))
            .ok_or(ObjectError::InvalidPart(choice.number))?;
        let sent = &choice.checksums;
        let stored = &part.checksums;
        let differs = |sent: &Option<String>, stored: &Option<String>| sent.is_some() && sent != stored;
        if differs(&sent.crc32, &stored.crc32)
            || differs(&sent.crc32c, &stored.crc32c)
            || differs(&sent.sha1, &stored.sha1)
            || differs(&sent.sha256, &stored.sha256)
            || differs(&sent.crc64nvme, &stored.crc64nvme)
        {
            return Err(ObjectError::InvalidPart(choice.number));
        }
        parts.push(part.clone());
    }
    if let Some((_, but_last)) = parts.split_last()
        && let Some(small) = but_last.iter().find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(ObjectError::EntityTooSmall { number: small.number, size: small.size });
    }
    Ok(parts)
}

/// S3's composite checksum of a multipart object: the checksum of the parts' checksums (raw),
/// with `-N` for N parts. Only for the CRC and SHA algorithms an upload was created with.
fn composite_checksum(algorithm: Option<&str>, parts: &[Part]) -> Checksums {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let Some(algorithm) = algorithm else { return Checksums::default() };
    let field = |c: &Checksums| -> Option<String> {
        match algorithm {
            "CRC32" => c.crc32.clone(),
            "CRC32C" => c.crc32c.clone(),
            "SHA1" => c.sha1.clone(),
            "SHA256" => c.sha256.clone(),
            _ => None,
        }
    };
    let mut raw = Vec::new();
    for part in parts {
        let Some(value) = field(&part.checksums).and_then(|v| engine.decode(v).ok()) else {
            return Checksums::default();
        };
        raw.extend(value);
    }
    let mut hasher = s3s::checksum::ChecksumHasher::default();
    match algorithm {
        "CRC32" => hasher.crc32 = Some(Default::default()),
        "CRC32C" => hasher.crc32c = Some(Default::default()),
        "SHA1" => hasher.sha1 = Some(Default::default()),
        "SHA256" => hasher.sha256 = Some(Default::default()),
        _ => return Checksums::default(),
    }
    hasher.update(&raw);
    let sum = hasher.finalize();
    let suffix = |v: Option<String>| v.map(|v| format!("{v}-{}", parts.len()));
    Checksums {
        crc32: suffix(sum.checksum_crc32),
        crc32c: suffix(sum.checksum_crc32c),
        sha1: suffix(sum.checksum_sha1),
        sha256: suffix(sum.checksum_sha256),
        crc64nvme: None,
        kind: Some("COMPOSITE".to_owned()),
    }
}

fn bucket_row(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<Option<Bucket>> {
    conn.prepare_cached("SELECT name, created_ms FROM s3_buckets WHERE name = ?1")?
        .query_row([name], |row| Ok(Bucket { name: row.get(0)?, created_ms: as_u64(row.get(1)?) }))
        .optional()
}

fn current_version(conn: &rusqlite::Connection, bucket: &str, key: &str) -> rusqlite::Result<Option<ObjectVersion>> {
    conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND latest = 1"
    ))?
    .query_row(params![bucket, key], ObjectVersion::from_row)
    .optional()
}

fn upload_row(conn: &rusqlite::Connection, bucket: &str, key: &str, upload_id: &str) -> Result<Upload, ObjectError> {
    conn.prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE upload_id = ?1"))?
        .query_row([upload_id], Upload::from_row)
        .optional()?
        .filter(|u| u.bucket == bucket && u.key == key)
        .ok_or(ObjectError::NoSuchUpload)
}

/// Deletes an upload and its parts; returns the parts' blobs.
fn delete_upload(w: &Writer<'_>, upload_id: &str) -> Result<Vec<String>, ObjectError> {
    let mut blobs = Vec::new();
    let mut statement = w.0.prepare_cached("DELETE FROM s3_parts WHERE upload_id = ?1 RETURNING blob")?;
    for blob in statement.query_map([upload_id], |row| row.get::<_, String>(0))? {
        blobs.push(blob?);
    }
    w.0.prepare_cached("DELETE FROM s3_uploads WHERE upload_id = ?1")?.execute([upload_id])?;
    Ok(blobs)
}

/// Inserts `new` as the current version of `key`: on a bucket with versioning enabled as a new
/// version with its own id; otherwise as the null version, replacing the one there. Returns the
/// version and the blobs of what it replaced.
fn write_version(
    w: &Writer<'_>,
    bucket: &str,
    key: &str,
    new: NewObject,
) -> Result<(ObjectVersion, Vec<String>), ObjectError> {
    let (version_id, replaced) = match versions::status(w.0, bucket)? {
        versions::Versioning::Enabled => (versions::new_version_id(), Vec::new()),
        versions::Versioning::Unversioned | versions::Versioning::Suspended => {
            (NULL_VERSION.to_owned(), versions::remove_null_version(w, bucket, key)?)
        }
    };
    w.0.prepare_cached("UPDATE s3_objects SET latest = 0 WHERE bucket = ?1 AND key = ?2 AND latest = 1")?
        .execute(params![bucket, key])?;
    let last_modified_ms = now_ms();
    let meta = serde_json::to_string(&new.meta)?;
    let (inline, pieces) = new.data.columns()?;
    w.0.prepare_cached(
        "INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, size, etag, last_modified_ms, meta, \
         tags, inline, pieces) VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        bucket,
        key,
        version_id,
        as_i64(new.size),
        new.etag,
        as_i64(last_modified_ms),
        meta,
        new.tags,
        inline,
        pieces
    ])?;
    let seq = w.0.last_insert_rowid();
    let version = ObjectVersion {
        seq,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id,
        latest: true,
        delete_marker: false,
        size: new.size,
        etag: new.etag,
        last_modified_ms,
        meta: new.meta,
        tags: new.tags,
        data: new.data,
    };
    Ok((version, replaced))
}
