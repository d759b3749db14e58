//! S3 versioning in the store: a bucket's versioning state, version ids, reads of one version,
//! and deletes as S3 does them — a delete marker on a versioned bucket, the removal of one
//! version by id (the next newest becoming current), the null version replaced while versioning
//! is suspended.
//!
//! A bucket is unversioned until versioning is first enabled (its `versioning` column is NULL);
//! after that it is `Enabled` or `Suspended`, never unversioned again. Every version is a row of
//! `s3_objects`; the newest row of a key is its current version (`latest`).

use rusqlite::{OptionalExtension as _, params};

use super::{
    Data, Lease, NULL_VERSION, ObjectError, ObjectMeta, ObjectStore, ObjectVersion, Piece, StoreError, VERSION_COLUMNS,
    WriteCondition, Writer, as_i64, bucket_row, current_version, now_ms,
};

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: every write replaces the null version.
    Unversioned,
    /// Every write makes a new version with its own id.
    Enabled,
    /// Writes replace the null version; earlier versions stay.
    Suspended,
}

/// A bucket's versioning configuration, as GetBucketVersioning shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersioningConfig {
    /// The state.
    pub status: Versioning,
    /// Whether MFA Delete was configured (recorded and shown; the sandbox does not ask for the
    /// MFA code on deletes).
    pub mfa_delete: bool,
}

const MFA_DELETE_SUFFIX: &str = ",MFADelete";

impl VersioningConfig {
    fn parse(column: Option<&str>) -> Self {
        let column = column.unwrap_or_default();
        let (status, mfa_delete) = match column.strip_suffix(MFA_DELETE_SUFFIX) {
            Some(status) => (status, true),
            None => (column, false),
        };
        let status = match status {
            "Enabled" => Versioning::Enabled,
            "Suspended" => Versioning::Suspended,
            _ => Versioning::Unversioned,
        };
        Self { status, mfa_delete }
    }

    fn column(self) -> Option<String> {
        let status = match self.status {
            Versioning::Unversioned => return None,
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        };
        Some(format!("{status}{}", if self.mfa_delete { MFA_DELETE_SUFFIX } else { "" }))
    }
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum Deletion {
    /// Nothing: no such version (S3 answers success all the same).
    Nothing,
    /// This version was removed for good (it may have been a delete marker).
    Removed(ObjectVersion),
    /// This delete marker became the key's current version.
    Marker(ObjectVersion),
}

/// A new version id: 32 characters of S3's alphabet for them (letters, digits, `.` and `_`).
pub(super) fn new_version_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        let seed = now_ms().wrapping_mul(6_364_136_223_846_793_005);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 8) * 8)) as u8 ^ (i as u8);
        }
    }
    bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// The versioning state of `bucket` (which must exist).
pub(super) fn status(conn: &rusqlite::Connection, bucket: &str) -> rusqlite::Result<Versioning> {
    Ok(config_row(conn, bucket)?.map_or(Versioning::Unversioned, |c| c.status))
}

fn config_row(conn: &rusqlite::Connection, bucket: &str) -> rusqlite::Result<Option<VersioningConfig>> {
    conn.prepare_cached("SELECT versioning FROM s3_buckets WHERE name = ?1")?
        .query_row([bucket], |row| row.get::<_, Option<String>>(0))
        .optional()
        .map(|found| found.map(|column| VersioningConfig::parse(column.as_deref())))
}

/// Removes the null version of `key`, if any; returns its files.
pub(super) fn remove_null_version(w: &Writer<'_>, bucket: &str, key: &str) -> Result<Vec<String>, ObjectError> {
    let mut replaced = Vec::new();
    let mut statement = w
        .0
        .prepare_cached("DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 RETURNING pieces")?;
    for pieces in statement.query_map(params![bucket, key, NULL_VERSION], |row| row.get::<_, Option<String>>(0))? {
        if let Some(pieces) = pieces? {
            let pieces: Vec<Piece> = serde_json::from_str(&pieces)?;
            replaced.extend(pieces.into_iter().map(|p| p.blob));
        }
    }
    Ok(replaced)
}

/// Makes the newest remaining version of `key` its current one (after the current was removed).
fn promote_newest(w: &Writer<'_>, bucket: &str, key: &str) -> rusqlite::Result<()> {
    w.0.prepare_cached(
        "UPDATE s3_objects SET latest = 1 WHERE seq = \
         (SELECT MAX(seq) FROM s3_objects WHERE bucket = ?1 AND key = ?2) AND NOT EXISTS \
         (SELECT 1 FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND latest = 1)",
    )?
    .execute(params![bucket, key])?;
    Ok(())
}

/// Inserts a delete marker as the current version of `key`.
fn insert_marker(w: &Writer<'_>, bucket: &str, key: &str, version_id: String) -> Result<ObjectVersion, ObjectError> {
    w.0.prepare_cached("UPDATE s3_objects SET latest = 0 WHERE bucket = ?1 AND key = ?2 AND latest = 1")?
        .execute(params![bucket, key])?;
    let last_modified_ms = now_ms();
    let meta = serde_json::to_string(&ObjectMeta::default())?;
    w.0.prepare_cached(
        "INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, size, etag, last_modified_ms, meta) \
         VALUES (?1, ?2, ?3, 1, 1, 0, '', ?4, ?5)",
    )?
    .execute(params![bucket, key, version_id, as_i64(last_modified_ms), meta])?;
    Ok(ObjectVersion {
        seq: w.0.last_insert_rowid(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id,
        latest: true,
        delete_marker: true,
        size: 0,
        etag: String::new(),
        last_modified_ms,
        meta: ObjectMeta::default(),
        tags: None,
        data: Data::Inline(bytes::Bytes::new()),
    })
}

impl ObjectStore {
    /// The versioning configuration of `bucket`.
    pub fn versioning(&self, bucket: &str) -> Result<VersioningConfig, ObjectError> {
        let conn = self.store.lock();
        config_row(&conn, bucket)?.ok_or(ObjectError::NoSuchBucket)
    }

    /// Sets the versioning state of `bucket` (`Enabled` or `Suspended`).
    pub fn set_versioning(&self, bucket: &str, config: VersioningConfig) -> Result<(), ObjectError> {
        self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            w.0.prepare_cached("UPDATE s3_buckets SET versioning = ?2 WHERE name = ?1")?
                .execute(params![bucket, config.column()])?;
            Ok(())
        })
    }

    /// Version `version_id` of `key` (a delete marker included), with a lease on its files.
    pub fn version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<(ObjectVersion, Lease)>, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        let found = conn
            .prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
            ))?
            .query_row(params![bucket, key, version_id], ObjectVersion::from_row)
            .optional()?;
        Ok(found.map(|version| {
            let lease = self.blobs.lease(version.data.blobs());
            (version, lease)
        }))
    }

    /// Deletes as S3's DeleteObject does, if `condition` holds against the current version: with
    /// `version_id`, that version for good (the next newest becomes current); without, on an
    /// unversioned bucket the null version, on a versioned one a new delete marker (which
    /// replaces the null version while versioning is suspended). `announce` adds the events in
    /// the same transaction.
    pub fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        condition: &WriteCondition,
        announce: impl FnOnce(&Deletion, &Writer<'_>) -> Result<(), StoreError>,
    ) -> Result<Deletion, ObjectError> {
        let (deletion, unused) = self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            condition.check(current_version(w.0, bucket, key)?.as_ref())?;
            let versioning = status(w.0, bucket)?;
            let (deletion, unused) = match (version_id, versioning) {
                (Some(id), _) => remove_version(w, bucket, key, id)?,
                (None, Versioning::Unversioned) => remove_version(w, bucket, key, NULL_VERSION)?,
                (None, Versioning::Enabled) => {
                    (Deletion::Marker(insert_marker(w, bucket, key, new_version_id())?), vec![])
                }
                (None, Versioning::Suspended) => {
                    let unused = remove_null_version(w, bucket, key)?;
                    (Deletion::Marker(insert_marker(w, bucket, key, NULL_VERSION.to_owned())?), unused)
                }
            };
            if !matches!(deletion, Deletion::Nothing) {
                announce(&deletion, w)?;
            }
            Ok((deletion, unused))
        })?;
        self.blobs.remove_later(unused);
        Ok(deletion)
    }
}

/// Removes version `id` of `key` for good; returns it and its files.
fn remove_version(w: &Writer<'_>, bucket: &str, key: &str, id: &str) -> Result<(Deletion, Vec<String>), ObjectError> {
    let removed =
        w.0.prepare_cached(&format!(
            "DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 RETURNING {VERSION_COLUMNS}"
        ))?
        .query_row(params![bucket, key, id], ObjectVersion::from_row)
        .optional()?;
    let Some(removed) = removed else { return Ok((Deletion::Nothing, Vec::new())) };
    if removed.latest {
        promote_newest(w, bucket, key)?;
    }
    let blobs = removed.data.blobs();
    Ok((Deletion::Removed(removed), blobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_columns_read_back() {
        for config in [
            VersioningConfig { status: Versioning::Enabled, mfa_delete: false },
            VersioningConfig { status: Versioning::Enabled, mfa_delete: true },
            VersioningConfig { status: Versioning::Suspended, mfa_delete: false },
        ] {
            assert_eq!(VersioningConfig::parse(config.column().as_deref()), config);
        }
        assert_eq!(VersioningConfig::parse(None).status, Versioning::Unversioned);
    }

    #[test]
    fn version_ids_are_distinct_and_never_null() {
        let a = new_version_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_version_id());
        assert_ne!(a, NULL_VERSION);
    }
}
