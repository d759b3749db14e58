//! The import of a data directory written by an earlier sandbox, whose S3 storage (s3s-fs) kept
//! a folder per bucket and a file per key (`<data dir>/<bucket>/<key>`), with the stored headers
//! and user metadata in `.bucket-<b64 bucket>.object-<b64 key>.metadata.json` and the ETag and
//! checksums in `.bucket-….object-….internal.json` beside them (base64url without padding).
//!
//! Each file is hard-linked into the blob folder (no byte is copied), and every bucket and object
//! row is inserted in one transaction that also marks the store as ready, so an interrupted
//! import leaves the earlier layout as it was (the links it made are swept at the next start) and
//! runs again. Once that transaction commits, the earlier layout is removed. Multipart uploads the
//! earlier sandbox had in progress are not carried over (they are listed in the log).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rusqlite::params;
use serde::Deserialize;

use super::{Data, NULL_VERSION, ObjectError, ObjectMeta, ObjectStore, Piece, STORE_READY, as_i64};

/// The meta key listing the earlier layout's entries still to remove (JSON array of names).
const LEFTOVERS: &str = "s3-import-leftovers";

/// The headers s3s-fs stored (`….metadata.json`).
#[derive(Debug, Default, Deserialize)]
struct EarlierAttributes {
    user_metadata: Option<std::collections::BTreeMap<String, String>>,
    content_encoding: Option<String>,
    content_type: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<String>,
    website_redirect_location: Option<String>,
}

/// The ETag and checksums s3s-fs stored (`….internal.json`).
#[derive(Debug, Default, Deserialize)]
struct EarlierInternal {
    e_tag: Option<String>,
    checksum_crc32: Option<String>,
    checksum_crc32c: Option<String>,
    checksum_sha1: Option<String>,
    checksum_sha256: Option<String>,
    checksum_crc64nvme: Option<String>,
}

/// An object found in the earlier layout.
struct Found {
    bucket: String,
    key: String,
    path: PathBuf,
    size: u64,
    modified_ms: u64,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn modified_ms(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether `name` is an entry of the earlier layout's own (not a bucket folder).
fn earlier_file(name: &str) -> bool {
    (name.starts_with(".bucket-") && name.ends_with(".json"))
        || (name.starts_with(".upload-") && name.ends_with(".json"))
        || name.starts_with(".upload_id-")
        || (name.starts_with(".tmp.") && name.ends_with(".internal.part"))
}

/// The folders of `data_dir` that are buckets of the earlier layout: every folder whose name
/// does not start with a dot.
fn bucket_folders(data_dir: &Path) -> std::io::Result<Vec<(String, std::fs::Metadata)>> {
    let mut buckets = Vec::new();
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        buckets.push((name, entry.metadata()?));
    }
    buckets.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(buckets)
}

/// Every file under `folder`, with its key (its path below the folder, `/`-separated).
fn files_below(bucket: &str, folder: &Path, found: &mut Vec<Found>) -> std::io::Result<()> {
    let mut stack = vec![(folder.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!("skipping {}: its name is not UTF-8", entry.path().display());
                continue;
            };
            let key = format!("{prefix}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((entry.path(), format!("{key}/")));
            } else if kind.is_file() {
                let meta = entry.metadata()?;
                found.push(Found {
                    bucket: bucket.to_owned(),
                    key,
                    path: entry.path(),
                    size: meta.len(),
                    modified_ms: modified_ms(&meta),
                });
            }
        }
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> T {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// The MD5 of a file, hex (for an object the earlier layout kept no ETag for).
fn md5_file(path: &Path) -> std::io::Result<String> {
    use md5::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Imports the earlier layout of `data_dir` (if any) and marks the store ready.
pub(super) fn import_earlier_layout(store: &ObjectStore, data_dir: &Path) -> Result<(), ObjectError> {
    let folders = bucket_folders(data_dir)?;
    let mut found = Vec::new();
    for (bucket, _) in &folders {
        files_below(bucket, &data_dir.join(bucket), &mut found)?;
    }
    let mut rows = Vec::with_capacity(found.len());
    for object in &found {
        let stem = format!(".bucket-{}.object-{}", b64(&object.bucket), b64(&object.key));
        let attributes: EarlierAttributes = read_json(&data_dir.join(format!("{stem}.metadata.json")));
        let internal: EarlierInternal = read_json(&data_dir.join(format!("{stem}.internal.json")));
        let etag = match internal.e_tag {
            Some(etag) => etag.trim_matches('"').to_owned(),
            None => md5_file(&object.path)?,
        };
        let meta = ObjectMeta {
            content_type: attributes.content_type,
            content_encoding: attributes.content_encoding,
            content_disposition: attributes.content_disposition,
            content_language: attributes.content_language,
            cache_control: attributes.cache_control,
            expires: attributes.expires,
            website_redirect_location: attributes.website_redirect_location,
            user: attributes.user_metadata.unwrap_or_default(),
            checksums: super::Checksums {
                crc32: internal.checksum_crc32,
                crc32c: internal.checksum_crc32c,
                sha1: internal.checksum_sha1,
                sha256: internal.checksum_sha256,
                crc64nvme: internal.checksum_crc64nvme,
                kind: None,
            },
            ..ObjectMeta::default()
        };
        let blob = store.blobs.adopt(&object.path)?;
        rows.push((object, meta, etag, Data::Pieces(vec![Piece { blob, size: object.size }])));
    }
    let uploads: Vec<String> = std::fs::read_dir(data_dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(".upload-") && name.ends_with(".json"))
        .collect();
    let mut leftovers: Vec<String> = folders.iter().map(|(name, _)| name.clone()).collect();
    leftovers.extend(
        std::fs::read_dir(data_dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| earlier_file(name)),
    );
    store.transaction(|w| {
        for (bucket, meta) in &folders {
            w.0.prepare_cached("INSERT INTO s3_buckets (name, created_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                .execute(params![bucket, as_i64(modified_ms(meta))])?;
        }
        for (object, meta, etag, data) in &rows {
            let (inline, pieces) = data.columns()?;
            w.0.prepare_cached("DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2")?
                .execute(params![object.bucket, object.key])?;
            w.0.prepare_cached(
                "INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, size, etag, \
                 last_modified_ms, meta, tags, inline, pieces) VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?6, ?7, NULL, ?8, ?9)",
            )?
            .execute(params![
                object.bucket,
                object.key,
                NULL_VERSION,
                as_i64(object.size),
                etag,
                as_i64(object.modified_ms),
                serde_json::to_string(meta)?,
                inline,
                pieces
            ])?;
        }
        w.0.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![STORE_READY, "1"])?;
        if !leftovers.is_empty() {
            w.0.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![LEFTOVERS, serde_json::to_string(&leftovers)?])?;
        }
        Ok(())
    })?;
    if !folders.is_empty() {
        tracing::info!(
            "imported {} buckets and {} objects from the earlier data directory layout",
            folders.len(),
            rows.len()
        );
    }
    if !uploads.is_empty() {
        tracing::warn!(
            "{} multipart uploads in progress in the earlier data directory layout were not carried over: {}",
            uploads.len(),
            uploads.join(", ")
        );
    }
    Ok(())
}

/// Removes what an import left of the earlier layout (after its transaction committed).
pub(super) fn remove_leftovers(store: &ObjectStore, data_dir: &Path) -> Result<(), ObjectError> {
    let Some(leftovers) = store.store.meta(LEFTOVERS)? else { return Ok(()) };
    let leftovers: Vec<String> = serde_json::from_str(&leftovers)?;
    for name in leftovers {
        // Only plain names of the data directory itself.
        if name.contains('/') || name == "." || name == ".." || name.is_empty() {
            continue;
        }
        let path = data_dir.join(&name);
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        };
        removed?;
    }
    store.store.lock().execute("DELETE FROM meta WHERE key = ?1", [LEFTOVERS])?;
    Ok(())
}
