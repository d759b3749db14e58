//! File transfers that behave well with large objects: constant memory, parallel multipart
//! uploads, and downloads that never leave a partial file under the final name.
//!
//! These are the Rust counterparts of boto3's `upload_file` and `download_file`.
//!
//! * [`upload_file`] sends a file in one `PutObject` below [`TransferOptions::multipart_threshold`]
//!   and as a multipart upload above it, with up to [`TransferOptions::concurrency`] parts in
//!   flight. Each part streams from the file, so memory does not grow with the file. A failed
//!   multipart upload is aborted, so no orphaned parts are left to be billed.
//! * [`download_to_file`] streams `GetObject`'s body chunk by chunk into a temp file beside the
//!   target, syncs it, and renames it into place. A crash or error leaves the old file (if any)
//!   untouched and removes the temp file.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

const MIB: u64 = 1024 * 1024;
/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;
/// S3's smallest part size (except the last part).
const MIN_PART_SIZE: u64 = 5 * MIB;

/// How transfers are done.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Files at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// Size of each part (raised when a file would need more than 10,000 parts).
    pub part_size: u64,
    /// Parts in flight at once.
    pub concurrency: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Draw the bar in this group, for several transfers at once (each bar then starts with the
    /// key), instead of on its own.
    pub progress_group: Option<indicatif::MultiProgress>,
}

impl Default for TransferOptions {
    /// 16 MiB threshold, 8 MiB parts, 4 in flight; a progress bar when stderr is a terminal.
    fn default() -> Self {
        Self {
            multipart_threshold: 16 * MIB,
            part_size: 8 * MIB,
            concurrency: 4,
            progress: std::io::stderr().is_terminal(),
            progress_group: None,
        }
    }
}

/// What a transfer failed on.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A local file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// S3 refused a request, or could not be reached.
    #[error("{operation} s3://{bucket}/{key} failed")]
    S3 {
        /// The S3 operation.
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The SDK's error, with its AWS error code.
        source: Box<aws_sdk_s3::Error>,
    },
    /// The object's body could not be read.
    #[error("reading the body of s3://{bucket}/{key}: {source}")]
    Body {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What broke.
        source: aws_sdk_s3::primitives::ByteStreamError,
    },
    /// The object's body ended before the length S3 announced.
    #[error("the body of s3://{bucket}/{key} ended after {got} of {expected} bytes")]
    Truncated {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
}

impl TransferError {
    fn s3<E>(operation: &'static str, bucket: &str, key: &str) -> impl FnOnce(E) -> Self
    where
        aws_sdk_s3::Error: From<E>,
    {
        move |err| Self::S3 {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source: Box::new(aws_sdk_s3::Error::from(err)),
        }
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { action, path, source }
    }

    /// The AWS error code (`NoSuchKey`, `AccessDenied`, …), when S3 answered with one.
    pub fn code(&self) -> Option<&str> {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        match self {
            Self::S3 { source, .. } => source.code(),
            _ => None,
        }
    }
}

/// The result of an upload.
#[derive(Debug, Clone)]
pub struct UploadSummary {
    /// Bytes sent.
    pub bytes: u64,
    /// The ETag S3 gave the object.
    pub e_tag: Option<String>,
    /// Number of parts; 0 for a single `PutObject`.
    pub parts: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// The result of a download.
#[derive(Debug, Clone)]
pub struct DownloadSummary {
    /// Where the file now is.
    pub path: PathBuf,
    /// Bytes written.
    pub bytes: u64,
    /// The object's ETag.
    pub e_tag: Option<String>,
    /// The object's content type.
    pub content_type: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Throughput in MiB/s of `bytes` over `elapsed`.
pub fn mib_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64().max(1e-9);
    bytes as f64 / MIB as f64 / secs
}

impl UploadSummary {
    /// Throughput in MiB/s.
    pub fn mib_per_sec(&self) -> f64 {
        mib_per_sec(self.bytes, self.elapsed)
    }
}

impl DownloadSummary {
    /// Throughput in MiB/s.
    pub fn mib_per_sec(&self) -> f64 {
        mib_per_sec(self.bytes, self.elapsed)
    }
}

/// A content type for a file name, from its extension; `application/octet-stream` if unknown.
pub fn content_type_for(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("geojson") => "application/geo+json",
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("nc") => "application/x-netcdf",
        Some("tif" | "tiff") => "image/tiff",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Where a download of `key` goes, as `cp` decides: `dest` itself, or inside it when it is a
/// directory (or ends with `/`); with no `dest`, the key's file name in the working directory.
/// `None` when the key's file name is needed and it has none (`a/b/`).
pub fn download_destination(dest: Option<&Path>, key: &str) -> Option<PathBuf> {
    let file_name = || Path::new(key).file_name().map(PathBuf::from);
    match dest {
        None => file_name(),
        Some(dest) if dest.is_dir() || dest.as_os_str().to_string_lossy().ends_with('/') => {
            Some(dest.join(file_name()?))
        }
        Some(dest) => Some(dest.to_path_buf()),
    }
}

/// Uploads the file at `path` to `s3://bucket/key`.
pub async fn upload_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    options: &TransferOptions,
) -> Result<UploadSummary, TransferError> {
    let started = Instant::now();
    let size = tokio::fs::metadata(path).await.map_err(TransferError::io("reading", path))?.len();
    let progress = progress_bar(options, size, key);
    let content_type = content_type_for(path);

    if size < options.multipart_threshold.max(MIN_PART_SIZE) {
        let body = ByteStream::from_path(path).await.map_err(|e| TransferError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        let output = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(TransferError::s3("PutObject", bucket, key))?;
        progress.inc(size);
        progress.finish_and_clear();
        return Ok(UploadSummary { bytes: size, e_tag: output.e_tag, parts: 0, elapsed: started.elapsed() });
    }

    let part_size = options.part_size.max(MIN_PART_SIZE).max(size.div_ceil(MAX_PARTS));
    let part_count = size.div_ceil(part_size);
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(TransferError::s3("CreateMultipartUpload", bucket, key))?;
    let upload_id = upload.upload_id.unwrap_or_default();

    let parts = futures::stream::iter(1..=part_count)
        .map(|number| {
            let offset = (number - 1) * part_size;
            let length = part_size.min(size - offset);
            let (upload_id, progress) = (&upload_id, &progress);
            async move {
                let body = ByteStream::read_from()
                    .path(path)
                    .offset(offset)
                    .length(Length::Exact(length))
                    .build()
                    .await
                    .map_err(|e| TransferError::Io {
                        action: "reading",
                        path: path.to_path_buf(),
                        source: std::io::Error::other(e),
                    })?;
                let part_number = i32::try_from(number).unwrap_or(i32::MAX);
                let output = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(body)
                    .send()
                    .await
                    .map_err(TransferError::s3("UploadPart", bucket, key))?;
                progress.inc(length);
                Ok::<_, TransferError>(
                    CompletedPart::builder()
                        .part_number(part_number)
                        .set_e_tag(output.e_tag)
                        .set_checksum_crc32(output.checksum_crc32)
                        .build(),
                )
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;

    let mut parts = match parts {
        Ok(parts) => parts,
        Err(err) => {
            abort_upload(client, bucket, key, &upload_id).await;
            progress.abandon();
            return Err(err);
        }
    };
    parts.sort_by_key(|p| p.part_number);
    let completed = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await;
    progress.finish_and_clear();
    match completed {
        Ok(output) => Ok(UploadSummary {
            bytes: size,
            e_tag: output.e_tag,
            parts: usize::try_from(part_count).unwrap_or(usize::MAX),
            elapsed: started.elapsed(),
        }),
        Err(err) => {
            abort_upload(client, bucket, key, &upload_id).await;
            Err(TransferError::s3("CompleteMultipartUpload", bucket, key)(err))
        }
    }
}

async fn abort_upload(client: &Client, bucket: &str, key: &str, upload_id: &str) {
    let aborted = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id).send().await;
    if let Err(err) = aborted {
        tracing::warn!(bucket, key, error = %aws_sdk_s3::Error::from(err), "could not abort the multipart upload");
    }
}

/// Downloads `s3://bucket/key` to `path`, through a temp file in the same directory that is
/// renamed into place once complete and synced.
pub async fn download_to_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    options: &TransferOptions,
) -> Result<DownloadSummary, TransferError> {
    download_pinned_to_file(client, bucket, key, &Pinned::default(), path, options).await
}

/// Which bytes of a key a download must get: a version (`versionId`), or the current object
/// only while its ETag is this one (`If-Match`, so a newer upload fails the download with S3's
/// `PreconditionFailed` instead of being fetched in its place). Neither: the current object.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pinned<'a> {
    /// The version to fetch.
    pub version_id: Option<&'a str>,
    /// The ETag the object must still have, quoted as S3 writes it (`"…"`).
    pub if_match: Option<&'a str>,
}

/// [`download_to_file`] of the bytes `pinned` names.
pub async fn download_pinned_to_file(
    client: &Client,
    bucket: &str,
    key: &str,
    pinned: &Pinned<'_>,
    path: &Path,
    options: &TransferOptions,
) -> Result<DownloadSummary, TransferError> {
    let started = Instant::now();
    let output = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(pinned.version_id.map(str::to_owned))
        .set_if_match(pinned.if_match.map(str::to_owned))
        .send()
        .await
        .map_err(TransferError::s3("GetObject", bucket, key))?;
    let progress = progress_bar(options, output.content_length.unwrap_or(0).try_into().unwrap_or(0), key);

    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tokio::fs::create_dir_all(&dir).await.map_err(TransferError::io("creating", &dir))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The temp file's name says whose it is (`.<name>.<pid>.<random>.part`), so that after a
    // crash [`remove_dead_temp_files`] can tell a dead process's leftovers from a live one's.
    let prefix = format!(".{file_name}.{}.", std::process::id());
    let mut temp = tempfile::Builder::new();
    temp.prefix(&prefix).suffix(".part");
    // tempfile creates files readable by the owner only; a download should get the usual
    // permissions (0666 less the umask), like any file the user creates.
    #[cfg(unix)]
    temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = temp.tempfile_in(&dir).map_err(TransferError::io("creating a temp file in", &dir))?;
    // The TempPath deletes the temp file when dropped, so an error below leaves nothing behind.
    let (file, temp_path) = temp.into_parts();
    let total = u64::try_from(output.content_length.unwrap_or(0)).unwrap_or(0);
    let file = tokio::fs::File::from_std(file);
    file.set_len(total).await.map_err(TransferError::io("sizing", &temp_path))?;

    // A large object comes down in ranges, several at once, each written at its offset: this
    // first response supplies the first range, and the rest are asked for with `If-Match` on its
    // ETag, so a file replaced mid-download fails instead of mixing two versions.
    let part_size = options.part_size.max(MIN_PART_SIZE);
    let ranged = total >= options.multipart_threshold.max(MIN_PART_SIZE) && options.concurrency > 1;
    let first_len = if ranged { part_size.min(total) } else { total };
    let mut writer = tokio::io::BufWriter::with_capacity(MIB as usize, file);
    let mut body = output.body;
    let mut bytes = copy_body(&mut body, &mut writer, first_len, &progress, bucket, key, &temp_path).await?;
    drop(body); // the rest of the first response is fetched in ranges below
    if ranged {
        let ranges = (first_len..total).step_by(usize::try_from(part_size).unwrap_or(usize::MAX));
        let e_tag = output.e_tag.as_deref();
        let (temp_path, progress) = (&temp_path, &progress);
        let fetched: Vec<u64> = futures::stream::iter(ranges)
            .map(|start| async move {
                let len = part_size.min(total - start);
                let range = client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .range(format!("bytes={start}-{}", start + len - 1))
                    .set_version_id(pinned.version_id.map(str::to_owned))
                    .set_if_match(e_tag.map(str::to_owned))
                    .send()
                    .await
                    .map_err(TransferError::s3("GetObject (range)", bucket, key))?;
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(temp_path)
                    .await
                    .map_err(TransferError::io("opening", temp_path))?;
                file.seek(std::io::SeekFrom::Start(start)).await.map_err(TransferError::io("seeking in", temp_path))?;
                let mut writer = tokio::io::BufWriter::with_capacity(MIB as usize, file);
                let mut body = range.body;
                let n = copy_body(&mut body, &mut writer, len, progress, bucket, key, temp_path).await?;
                writer.flush().await.map_err(TransferError::io("writing", temp_path))?;
                Ok::<_, TransferError>(n)
            })
            .buffer_unordered(options.concurrency)
            .try_collect()
            .await?;
        bytes += fetched.iter().sum::<u64>();
    }
    writer.flush().await.map_err(TransferError::io("writing", &temp_path))?;
    writer.into_inner().sync_all().await.map_err(TransferError::io("syncing", &temp_path))?;
    temp_path.persist(path).map_err(|e| TransferError::Io {
        action: "renaming into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    progress.finish_and_clear();

    Ok(DownloadSummary {
        path: path.to_path_buf(),
        bytes,
        e_tag: output.e_tag,
        content_type: output.content_type,
        elapsed: started.elapsed(),
    })
}

/// The process id in the name of a download's temp file (`.<name>.<pid>.<random>.part`), if
/// `name` is one.
pub fn temp_file_owner(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".part")?;
    let (rest, random) = stem.rsplit_once('.')?;
    let (_, pid) = rest.rsplit_once('.')?;
    (!random.is_empty()).then_some(())?;
    pid.parse().ok()
}

/// Whether process `pid` is running. Where that cannot be told (no `/proc`), it is taken as
/// running, so nothing of a live process is ever removed.
pub fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    pid == std::process::id() || proc.join(pid.to_string()).exists()
}

/// Removes, below `dir`, the temp files of downloads whose process is no longer running (killed
/// mid-download); a running process's are left alone. Returns how many were removed.
pub fn remove_dead_temp_files(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                pending.push(entry.path());
            } else if file_type.is_file()
                && let Some(pid) = temp_file_owner(&entry.file_name().to_string_lossy())
                && !process_alive(pid)
            {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
        }
    }
    Ok(removed)
}

/// Copies exactly `len` bytes of `body` into `writer` (stopping there even if the body goes on),
/// and fails if the body ends before.
async fn copy_body(
    body: &mut ByteStream,
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    len: u64,
    progress: &ProgressBar,
    bucket: &str,
    key: &str,
    temp_path: &Path,
) -> Result<u64, TransferError> {
    let mut copied = 0u64;
    while copied < len {
        let chunk = body.try_next().await.map_err(|source| TransferError::Body {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source,
        })?;
        let Some(chunk) = chunk else {
            return Err(TransferError::Truncated {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                expected: len,
                got: copied,
            });
        };
        let take = usize::try_from(len - copied).unwrap_or(usize::MAX).min(chunk.len());
        writer.write_all(&chunk[..take]).await.map_err(TransferError::io("writing", temp_path))?;
        copied += take as u64;
        progress.inc(take as u64);
    }
    Ok(copied)
}

fn progress_bar(options: &TransferOptions, len: u64, key: &str) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = if options.progress_group.is_some() {
        "{prefix} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    } else {
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    match &options.progress_group {
        Some(group) => {
            bar.set_prefix(key.to_owned());
            group.add(bar)
        }
        None => bar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_names_say_whose_they_are() {
        assert_eq!(temp_file_owner(".SWE 2024.geojson.4242.aB3dE9.part"), Some(4242));
        assert_eq!(temp_file_owner(".x.1.r.part"), Some(1));
        for other in ["SWE.geojson", ".x.part", ".x.abc.r.part", "x.1.r.part", ".x.1.r.partial", ".x.sos.json"] {
            assert_eq!(temp_file_owner(other), None, "{other}");
        }
    }

    #[test]
    fn a_dead_process_temp_files_are_removed_and_a_live_one_kept() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        // A pid beyond any Linux pid_max is never running.
        let dead = dir.path().join("sub/.f.bin.4194999.abcdef.part");
        let mine = dir.path().join(format!(".f.bin.{}.abcdef.part", std::process::id()));
        let other = dir.path().join("f.bin");
        for file in [&dead, &mine, &other] {
            std::fs::write(file, b"x").expect("write");
        }
        if !Path::new("/proc/self").exists() {
            return;
        }
        assert_eq!(remove_dead_temp_files(dir.path()).expect("sweep"), 1);
        assert!(!dead.exists() && mine.exists() && other.exists());
    }
}
