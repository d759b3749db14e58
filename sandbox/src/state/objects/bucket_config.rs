//! A bucket's configurations that the sandbox keeps as S3's XML, one of each kind per bucket:
//! its lifecycle rules and its CORS rules.

use rusqlite::{OptionalExtension as _, params};

use super::{ObjectError, ObjectStore, Writer, bucket_row};

/// The table of the configurations.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS s3_bucket_configs (
    bucket TEXT NOT NULL,
    kind TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (bucket, kind)
) WITHOUT ROWID;
";

/// Which configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The lifecycle configuration.
    Lifecycle,
    /// The CORS configuration.
    Cors,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Lifecycle => "lifecycle",
            Self::Cors => "cors",
        }
    }
}

/// Removes every configuration of a bucket being deleted.
pub(super) fn forget(w: &Writer<'_>, bucket: &str) -> rusqlite::Result<()> {
    w.0.prepare_cached("DELETE FROM s3_bucket_configs WHERE bucket = ?1")?.execute([bucket])?;
    Ok(())
}

impl ObjectStore {
    /// The `kind` configuration of `bucket` (S3's XML), if one is set.
    pub fn bucket_config(&self, bucket: &str, kind: Kind) -> Result<Option<String>, ObjectError> {
        let conn = self.store.lock();
        if bucket_row(&conn, bucket)?.is_none() {
            return Err(ObjectError::NoSuchBucket);
        }
        Ok(conn
            .prepare_cached("SELECT xml FROM s3_bucket_configs WHERE bucket = ?1 AND kind = ?2")?
            .query_row(params![bucket, kind.name()], |row| row.get(0))
            .optional()?)
    }

    /// Sets (`Some`) or removes (`None`) the `kind` configuration of `bucket`.
    pub fn set_bucket_config(&self, bucket: &str, kind: Kind, xml: Option<&str>) -> Result<(), ObjectError> {
        self.transaction(|w| {
            if bucket_row(w.0, bucket)?.is_none() {
                return Err(ObjectError::NoSuchBucket);
            }
            match xml {
                Some(xml) => {
                    w.0.prepare_cached(
                        "INSERT INTO s3_bucket_configs (bucket, kind, xml) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (bucket, kind) DO UPDATE SET xml = excluded.xml",
                    )?
                    .execute(params![bucket, kind.name(), xml])?;
                }
                None => {
                    w.0.prepare_cached("DELETE FROM s3_bucket_configs WHERE bucket = ?1 AND kind = ?2")?
                        .execute(params![bucket, kind.name()])?;
                }
            }
            Ok(())
        })
    }
}
