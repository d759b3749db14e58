//! Tags in the store: an object version's tags (its `tags` column) and a bucket's (the bucket
//! row's `tags` column), as JSON lists of key and value in the order they were given.

use rusqlite::{OptionalExtension as _, params};

use super::{ObjectError, ObjectStore, bucket_row};

/// A tag set: key and value pairs.
pub type Tags = Vec<(String, String)>;

/// `tags` as stored (`None` for no tags).
pub fn to_column(tags: &Tags) -> Result<Option<String>, ObjectError> {
    if tags.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(tags)?))
}

/// A stored tag set (none for `NULL` or a column that does not read).
pub fn from_column(column: Option<&str>) -> Tags {
    column.and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default()
}

impl ObjectStore {
    /// Replaces the tags of version `version_id` of `key` (which must exist).
    pub fn set_object_tags(&self, bucket: &str, key: &str, version_id: &str, tags: &Tags) -> Result<(), ObjectError> {
        let column = to_column(tags)?;
        self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            let changed = w
                .0
                .prepare_cached("UPDATE s3_objects SET tags = ?4 WHERE bucket = ?1 AND key = ?2 AND version_id = ?3")?
                .execute(params![bucket, key, version_id, column])?;
            if changed == 0 {
                return Err(ObjectError::NoSuchVersion);
            }
            Ok(())
        })
    }

    /// The tags of `bucket`.
    pub fn bucket_tags(&self, bucket: &str) -> Result<Tags, ObjectError> {
        let conn = self.store.lock();
        let column: Option<Option<String>> = conn
            .prepare_cached("SELECT tags FROM s3_buckets WHERE name = ?1")?
            .query_row([bucket], |row| row.get(0))
            .optional()?;
        let column = column.ok_or(ObjectError::NoSuchBucket)?;
        Ok(from_column(column.as_deref()))
    }

    /// Replaces the tags of `bucket` (none removes them).
    pub fn set_bucket_tags(&self, bucket: &str, tags: &Tags) -> Result<(), ObjectError> {
        let column = to_column(tags)?;
        self.transaction(|w| {
            let changed =
                w.0.prepare_cached("UPDATE s3_buckets SET tags = ?2 WHERE name = ?1")?
                    .execute(params![bucket, column])?;
            if changed == 0 {
                return Err(ObjectError::NoSuchBucket);
            }
            Ok(())
        })
    }
}
