//! File transfers that behave well with large objects: constant memory, parallel multipart
//! uploads, downloads that never leave a partial file under the final name, and a Ctrl-C that
//! cleans up after itself.
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
//! * [`until_interrupted`] runs a program's work so that SIGINT (Ctrl-C) and SIGTERM stop a
//!   transfer cleanly: a multipart upload is aborted (`AbortMultipartUpload`, checked with
//!   `ListParts`), a download's temp file is removed, and the transfer returns
//!   [`TransferError::Interrupted`], whose message is the one line to print. Without it (a
//!   program that handles signals itself, such as the subscriber), signals do not touch transfers.

use std::future::Future;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

const MIB: u64 = 1024 * 1024;
/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;
/// S3's smallest part size (except the last part).
const MIN_PART_SIZE: u64 = 5 * MIB;
/// After a signal, how long the parts already on their way may take to arrive before they are
/// cut off: an abort that races a part still being stored could leave that part behind.
const PARTS_IN_FLIGHT_GRACE: Duration = Duration::from_secs(5);
/// How many times an abort is repeated while `ListParts` still shows parts (AWS: a part upload in
/// progress during the abort may still succeed, so abort again until none is listed).
const ABORT_ATTEMPTS: usize = 3;

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
    /// SIGINT or SIGTERM stopped the transfer (under [`until_interrupted`]); the message is the
    /// one line to show, saying what was cleaned up.
    #[error("{0}")]
    Interrupted(Interruption),
}

impl TransferError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { action, path, source }
    }

    /// A body that could not be read from the file at `path`.
    fn reading(path: &Path) -> impl FnOnce(aws_sdk_s3::primitives::ByteStreamError) -> Self {
        let path = path.to_path_buf();
        move |err| Self::Io { action: "reading", path, source: std::io::Error::other(err) }
    }

    /// The AWS error code (`NoSuchKey`, `AccessDenied`, …), when S3 answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::S3 { source, .. } => source.code(),
            _ => None,
        }
    }
}

// -- Signals ------------------------------------------------------------------------------------

/// A signal that stops transfers: SIGINT (Ctrl-C) or SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, what Ctrl-C sends.
    Interrupt,
    /// SIGTERM, what `kill` and process supervisors send.
    Terminate,
}

impl Signal {
    /// The exit code of a program the signal stopped: 128 + the signal's number, as a shell
    /// reports a process the signal killed (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// A transfer that a signal stopped, and what became of it.
#[derive(Debug)]
pub struct Interruption {
    /// The signal.
    pub signal: Signal,
    /// What was cleaned up.
    pub outcome: Cleanup,
}

/// What an interrupted transfer left behind.
#[derive(Debug)]
pub enum Cleanup {
    /// A multipart upload, aborted: no part is left on the server.
    Aborted {
        /// The local file.
        file: PathBuf,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// A single `PutObject`, stopped before S3 answered (S3 stores an object whole or not at all).
    Stopped {
        /// The local file.
        file: PathBuf,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// A multipart upload whose abort failed: its parts may still be on the server.
    AbortFailed {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The multipart upload's id.
        upload_id: String,
        /// Why the abort failed.
        reason: String,
    },
    /// A download: its temp file was removed, the target left as it was.
    Download {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Cleanup::Aborted { file, bucket, key } => write!(
                f,
                "Interrupted: the upload of {} to s3://{bucket}/{key} was aborted; nothing was left in the bucket.",
                file.display()
            ),
            Cleanup::Stopped { file, bucket, key } => write!(
                f,
                "Interrupted: the upload of {} to s3://{bucket}/{key} was stopped; S3 keeps nothing of an unfinished \
                 PutObject.",
                file.display()
            ),
            Cleanup::AbortFailed { bucket, key, upload_id, reason } => write!(
                f,
                "Interrupted: the upload to s3://{bucket}/{key} was stopped, but aborting it failed ({reason}); remove \
                 its parts with `aws s3api abort-multipart-upload --bucket {bucket} --key {key} --upload-id {upload_id}`."
            ),
            Cleanup::Download { bucket, key } => {
                write!(f, "Interrupted: the download of s3://{bucket}/{key} was stopped; no partial file was left.")
            }
        }
    }
}

/// The first signal received, once [`until_interrupted`] listens for them.
static SIGNALS: OnceLock<watch::Receiver<Option<Signal>>> = OnceLock::new();
/// How many transfers are running; [`until_interrupted`] lets them clean up before it stops.
static ACTIVE: LazyLock<watch::Sender<usize>> = LazyLock::new(|| watch::channel(0).0);

/// Runs `work` — an example's `run` — so that SIGINT (Ctrl-C) and SIGTERM end it cleanly.
///
/// A transfer in flight when the signal arrives cleans up (see the module's documentation) and
/// returns [`TransferError::Interrupted`], which `work` passes up as its error: print it with
/// [`crate::error::exit_code`], which exits with [`Signal::exit_code`]. A signal outside any
/// transfer ends the process at once with that exit code, as the default handler would; a
/// second signal too, even while a transfer is cleaning up.
pub async fn until_interrupted<T, E>(work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let Some(mut signals) = listen_for_signals() else { return work.await };
    let mut work = std::pin::pin!(work);
    let signal = tokio::select! {
        biased;
        result = &mut work => return result,
        Some(signal) = first_signal(&mut signals) => signal,
    };
    let idle = async {
        let _ = ACTIVE.subscribe().wait_for(|active| *active == 0).await;
    };
    tokio::select! {
        biased;
        // A transfer saw the signal too: this is its error, naming what it cleaned up.
        result = &mut work => result,
        () = idle => std::process::exit(i32::from(signal.exit_code())),
        second = another_signal(signal) => std::process::exit(i32::from(second.exit_code())),
    }
}

/// Starts listening for SIGINT and SIGTERM (once per process); `None` if they cannot be caught.
fn listen_for_signals() -> Option<watch::Receiver<Option<Signal>>> {
    if let Some(signals) = SIGNALS.get() {
        return Some(signals.clone());
    }
    let (tx, rx) = watch::channel(None);
    // Registered here, before the first poll, so that no signal slips past between the two.
    #[cfg(unix)]
    let received = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).ok()?;
        let mut terminate = signal(SignalKind::terminate()).ok()?;
        async move {
            tokio::select! {
                Some(()) = interrupt.recv() => Some(Signal::Interrupt),
                Some(()) = terminate.recv() => Some(Signal::Terminate),
                else => None,
            }
        }
    };
    #[cfg(not(unix))]
    let received = async { tokio::signal::ctrl_c().await.ok().map(|()| Signal::Interrupt) };
    tokio::spawn(async move {
        if let Some(signal) = received.await {
            let _ = tx.send(Some(signal));
            // Keep the sender, so that receivers see the signal rather than a closed channel.
            tx.closed().await;
        }
    });
    Some(SIGNALS.get_or_init(|| rx).clone())
}

/// The first signal, once it has come; `None` if no more can come.
async fn first_signal(signals: &mut watch::Receiver<Option<Signal>>) -> Option<Signal> {
    signals.wait_for(Option::is_some).await.ok().and_then(|signal| *signal)
}

/// The next SIGINT or SIGTERM after `first`.
async fn another_signal(first: Signal) -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut interrupt), Ok(mut terminate)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        {
            return tokio::select! {
                Some(()) = interrupt.recv() => Signal::Interrupt,
                Some(()) = terminate.recv() => Signal::Terminate,
                else => first,
            };
        }
    }
    match tokio::signal::ctrl_c().await {
        Ok(()) => Signal::Interrupt,
        Err(_) => std::future::pending().await,
    }
}

/// The signal that stops transfers, if [`until_interrupted`] listens and one has come.
fn signal_received() -> Option<Signal> {
    SIGNALS.get().and_then(|signals| *signals.borrow())
}

/// Waits for the signal that stops transfers; never returns unless [`until_interrupted`] listens.
async fn interrupted() -> Signal {
    match SIGNALS.get() {
        Some(signals) => match first_signal(&mut signals.clone()).await {
            Some(signal) => signal,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Counts a transfer as running while it lives, so that a signal lets it clean up.
struct ActiveTransfer;

impl ActiveTransfer {
    fn begin() -> Self {
        ACTIVE.send_modify(|active| *active += 1);
        Self
    }
}

impl Drop for ActiveTransfer {
    fn drop(&mut self) {
        ACTIVE.send_modify(|active| *active = active.saturating_sub(1));
    }
}

// -- Summaries ----------------------------------------------------------------------------------

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

/// A content type for a file name, from its extension (the `mime_guess` table);
/// `application/octet-stream` if unknown.
pub fn content_type_for(path: &Path) -> &'static str {
    mime_guess::from_path(path).first_raw().unwrap_or("application/octet-stream")
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

// -- Uploads ------------------------------------------------------------------------------------

/// The object a transfer reads or writes, and the client to reach it.
#[derive(Clone, Copy)]
struct Object<'a> {
    client: &'a Client,
    bucket: &'a str,
    key: &'a str,
}

impl Object<'_> {
    fn s3_error<E>(&self, operation: &'static str) -> impl FnOnce(E) -> TransferError + use<E>
    where
        aws_sdk_s3::Error: From<E>,
    {
        let (bucket, key) = (self.bucket.to_owned(), self.key.to_owned());
        move |err| TransferError::S3 { operation, bucket, key, source: Box::new(aws_sdk_s3::Error::from(err)) }
    }

    fn interrupted(&self, signal: Signal, outcome: impl FnOnce(String, String) -> Cleanup) -> TransferError {
        TransferError::Interrupted(Interruption {
            signal,
            outcome: outcome(self.bucket.to_owned(), self.key.to_owned()),
        })
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
    let _active = ActiveTransfer::begin();
    let started = Instant::now();
    let size = tokio::fs::metadata(path).await.map_err(TransferError::io("reading", path))?.len();
    let progress = progress_bar(options, size, key);
    let object = Object { client, bucket, key };
    let uploaded = if size < options.multipart_threshold.max(MIN_PART_SIZE) {
        put_whole(object, path, size, &progress).await
    } else {
        put_in_parts(object, path, size, options, &progress).await
    };
    match uploaded {
        Ok((e_tag, parts)) => {
            progress.finish_and_clear();
            Ok(UploadSummary { bytes: size, e_tag, parts, elapsed: started.elapsed() })
        }
        Err(err) => {
            progress.abandon();
            Err(err)
        }
    }
}

/// One `PutObject`; a signal drops the request. Returns the ETag and 0 parts.
async fn put_whole(
    object: Object<'_>,
    path: &Path,
    size: u64,
    progress: &ProgressBar,
) -> Result<(Option<String>, usize), TransferError> {
    let body = ByteStream::from_path(path).await.map_err(TransferError::reading(path))?;
    let put = object
        .client
        .put_object()
        .bucket(object.bucket)
        .key(object.key)
        .content_type(content_type_for(path))
        .body(body)
        .send();
    let output = tokio::select! {
        output = put => output.map_err(object.s3_error("PutObject"))?,
        signal = interrupted() => {
            let file = path.to_path_buf();
            return Err(object.interrupted(signal, |bucket, key| Cleanup::Stopped { file, bucket, key }));
        }
    };
    progress.inc(size);
    Ok((output.e_tag, 0))
}

// ANCHOR: multipart
/// A multipart upload: `CreateMultipartUpload`, the parts (several at once, each streamed from
/// its range of the file), then `CompleteMultipartUpload` with the parts' ETags and checksums.
/// On an error or a signal the upload is aborted, so that no part is left to be billed.
async fn put_in_parts(
    object: Object<'_>,
    path: &Path,
    size: u64,
    options: &TransferOptions,
    progress: &ProgressBar,
) -> Result<(Option<String>, usize), TransferError> {
    let part_size = options.part_size.max(MIN_PART_SIZE).max(size.div_ceil(MAX_PARTS));
    let part_count = size.div_ceil(part_size);
    let created = object
        .client
        .create_multipart_upload()
        .bucket(object.bucket)
        .key(object.key)
        .content_type(content_type_for(path))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(object.s3_error("CreateMultipartUpload"))?;
    let upload_id = created.upload_id.unwrap_or_default();
    let upload = MultipartUpload { object, upload_id: &upload_id, path, size, part_size, part_count };

    let parts = match upload.send_parts(options.concurrency.max(1), progress).await {
        Ok(parts) => parts,
        Err(err) => return Err(upload.abort_after(err).await),
    };
    let completed = object
        .client
        .complete_multipart_upload()
        .bucket(object.bucket)
        .key(object.key)
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await;
    match completed {
        Ok(output) => Ok((output.e_tag, usize::try_from(part_count).unwrap_or(usize::MAX))),
        Err(err) => Err(upload.abort_after(object.s3_error("CompleteMultipartUpload")(err)).await),
    }
}
// ANCHOR_END: multipart

/// A multipart upload under way.
struct MultipartUpload<'a> {
    object: Object<'a>,
    upload_id: &'a str,
    path: &'a Path,
    size: u64,
    part_size: u64,
    part_count: u64,
}

impl MultipartUpload<'_> {
    /// Uploads every part, `concurrency` at once, and returns them in order. After a signal no
    /// new part starts; those in flight get [`PARTS_IN_FLIGHT_GRACE`] to arrive (so that the
    /// abort does not race them), then the signal is the error.
    async fn send_parts(
        &self,
        concurrency: usize,
        progress: &ProgressBar,
    ) -> Result<Vec<CompletedPart>, TransferError> {
        let parts = futures::stream::iter(1..=self.part_count)
            .take_while(|_| std::future::ready(signal_received().is_none()))
            .map(|number| self.send_part(number, progress))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>();
        let cut_off = async {
            let signal = interrupted().await;
            tokio::time::sleep(PARTS_IN_FLIGHT_GRACE).await;
            signal
        };
        let mut parts = tokio::select! {
            parts = parts => parts?,
            signal = cut_off => return Err(self.interrupted(signal)),
        };
        if let Some(signal) = signal_received() {
            return Err(self.interrupted(signal));
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    /// Uploads part `number` (from 1), streamed from its range of the file.
    async fn send_part(&self, number: u64, progress: &ProgressBar) -> Result<CompletedPart, TransferError> {
        let offset = (number - 1) * self.part_size;
        let length = self.part_size.min(self.size - offset);
        let body = ByteStream::read_from()
            .path(self.path)
            .offset(offset)
            .length(Length::Exact(length))
            .build()
            .await
            .map_err(TransferError::reading(self.path))?;
        let part_number = i32::try_from(number).unwrap_or(i32::MAX);
        let output = self
            .object
            .client
            .upload_part()
            .bucket(self.object.bucket)
            .key(self.object.key)
            .upload_id(self.upload_id)
            .part_number(part_number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(body)
            .send()
            .await
            .map_err(self.object.s3_error("UploadPart"))?;
        progress.inc(length);
        tracing::info!(
            bucket = self.object.bucket,
            key = self.object.key,
            part = number,
            of = self.part_count,
            "part uploaded"
        );
        Ok(CompletedPart::builder()
            .part_number(part_number)
            .set_e_tag(output.e_tag)
            .set_checksum_crc32(output.checksum_crc32)
            .build())
    }

    /// The interruption of this upload, for `signal` (its outcome set by [`Self::abort_after`]).
    fn interrupted(&self, signal: Signal) -> TransferError {
        let file = self.path.to_path_buf();
        self.object.interrupted(signal, |bucket, key| Cleanup::Aborted { file, bucket, key })
    }

    /// Aborts the upload after `err`, and returns `err` — for an interruption, with what the
    /// abort achieved.
    async fn abort_after(&self, err: TransferError) -> TransferError {
        let aborted = self.abort().await;
        match (err, aborted) {
            (TransferError::Interrupted(interruption), Err(reason)) => {
                let (bucket, key, upload_id) =
                    (self.object.bucket.to_owned(), self.object.key.to_owned(), self.upload_id.to_owned());
                let outcome = Cleanup::AbortFailed { bucket, key, upload_id, reason };
                TransferError::Interrupted(Interruption { signal: interruption.signal, outcome })
            }
            (err, Err(reason)) => {
                let (bucket, key) = (self.object.bucket, self.object.key);
                tracing::warn!(
                    bucket,
                    key,
                    upload_id = self.upload_id,
                    "could not abort the multipart upload: {reason}"
                );
                err
            }
            (err, Ok(())) => err,
        }
    }

    /// `AbortMultipartUpload`, repeated while `ListParts` still shows parts (a part that was
    /// being stored during the abort may still arrive, as AWS documents).
    async fn abort(&self) -> Result<(), String> {
        let Object { client, bucket, key } = self.object;
        for _ in 0..ABORT_ATTEMPTS {
            let aborted =
                client.abort_multipart_upload().bucket(bucket).key(key).upload_id(self.upload_id).send().await;
            if let Err(err) = aborted {
                let err = aws_sdk_s3::Error::from(err);
                if err.code() == Some("NoSuchUpload") {
                    return Ok(());
                }
                return Err(crate::error::describe(&err));
            }
            let listed = client.list_parts().bucket(bucket).key(key).upload_id(self.upload_id).send().await;
            match listed {
                Ok(listed) if !listed.parts().is_empty() => continue,
                // Gone (`NoSuchUpload`), or empty: nothing is left.
                _ => return Ok(()),
            }
        }
        Err(format!("parts were still listed after {ABORT_ATTEMPTS} aborts"))
    }
}

// -- Downloads ----------------------------------------------------------------------------------

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
    let _active = ActiveTransfer::begin();
    let started = Instant::now();
    let object = Object { client, bucket, key };
    // The temp file is removed when the download future is dropped, so a signal that stops it
    // leaves nothing behind.
    let download = tokio::select! {
        download = download_into_temp_file(object, *pinned, path, options) => download?,
        signal = interrupted() => {
            return Err(object.interrupted(signal, |bucket, key| Cleanup::Download { bucket, key }));
        }
    };
    download.temp_path.persist(path).map_err(|e| TransferError::Io {
        action: "renaming into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    download.progress.finish_and_clear();
    Ok(DownloadSummary {
        path: path.to_path_buf(),
        bytes: download.bytes,
        e_tag: download.e_tag,
        content_type: download.content_type,
        elapsed: started.elapsed(),
    })
}

/// A download complete in its temp file, synced, not yet renamed into place.
struct Downloaded {
    temp_path: tempfile::TempPath,
    bytes: u64,
    e_tag: Option<String>,
    content_type: Option<String>,
    progress: ProgressBar,
}

/// `GetObject` into a temp file beside `path`. A large object comes down in ranges, several at
/// once, each written at its offset: the first response supplies the first range, and the rest
/// are asked for with `If-Match` on its ETag, so a file replaced mid-download fails instead of
/// mixing two versions. `pinned` names the version, or the ETag the first response must have.
async fn download_into_temp_file(
    object: Object<'_>,
    pinned: Pinned<'_>,
    path: &Path,
    options: &TransferOptions,
) -> Result<Downloaded, TransferError> {
    let Object { client, bucket, key } = object;
    let output = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(pinned.version_id.map(str::to_owned))
        .set_if_match(pinned.if_match.map(str::to_owned))
        .send()
        .await
        .map_err(object.s3_error("GetObject"))?;
    let total = u64::try_from(output.content_length.unwrap_or(0)).unwrap_or(0);
    let progress = progress_bar(options, total, key);
    let (file, temp_path) = temp_file_beside(path).await?;
    let file = tokio::fs::File::from_std(file);
    file.set_len(total).await.map_err(TransferError::io("sizing", &temp_path))?;

    let part_size = options.part_size.max(MIN_PART_SIZE);
    let ranged = total >= options.multipart_threshold.max(MIN_PART_SIZE) && options.concurrency > 1;
    let first_len = if ranged { part_size.min(total) } else { total };
    let mut writer = tokio::io::BufWriter::with_capacity(MIB as usize, file);
    let mut body = output.body;
    let target = DownloadTarget { object, version_id: pinned.version_id, temp_path: &temp_path, progress: &progress };
    let mut bytes = target.copy_body(&mut body, &mut writer, first_len).await?;
    drop(body); // the rest of the first response is fetched in ranges below
    if ranged {
        let e_tag = output.e_tag.as_deref();
        let starts = (first_len..total).step_by(usize::try_from(part_size).unwrap_or(usize::MAX));
        let fetched: Vec<u64> = futures::stream::iter(starts)
            .map(|start| target.fetch(start, part_size.min(total - start), e_tag))
            .buffer_unordered(options.concurrency)
            .try_collect()
            .await?;
        bytes += fetched.iter().sum::<u64>();
    }
    writer.flush().await.map_err(TransferError::io("writing", &temp_path))?;
    writer.into_inner().sync_all().await.map_err(TransferError::io("syncing", &temp_path))?;
    Ok(Downloaded { temp_path, bytes, e_tag: output.e_tag, content_type: output.content_type, progress })
}

/// A temp file in `path`'s directory (made if missing), named `.<name>.<pid>.<random>.part` so
/// that after a crash [`remove_dead_temp_files`] can tell a dead process's leftovers from a live
/// one's. The [`tempfile::TempPath`] deletes it when dropped.
async fn temp_file_beside(path: &Path) -> Result<(std::fs::File, tempfile::TempPath), TransferError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tokio::fs::create_dir_all(&dir).await.map_err(TransferError::io("creating", &dir))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{file_name}.{}.", std::process::id());
    let mut temp = tempfile::Builder::new();
    temp.prefix(&prefix).suffix(".part");
    // tempfile creates files readable by the owner only; a download should get the usual
    // permissions (0666 less the umask), like any file the user creates.
    #[cfg(unix)]
    temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = temp.tempfile_in(&dir).map_err(TransferError::io("creating a temp file in", &dir))?;
    Ok(temp.into_parts())
}

/// Where the ranges of a download go.
#[derive(Clone, Copy)]
struct DownloadTarget<'a> {
    object: Object<'a>,
    /// The version every range is read from, when the download is pinned to one.
    version_id: Option<&'a str>,
    temp_path: &'a Path,
    progress: &'a ProgressBar,
}

impl DownloadTarget<'_> {
    /// Fetches `len` bytes from `start` with `If-Match: e_tag` and writes them at `start` in the
    /// temp file.
    async fn fetch(&self, start: u64, len: u64, e_tag: Option<&str>) -> Result<u64, TransferError> {
        let Object { client, bucket, key } = self.object;
        let range = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + len - 1))
            .set_version_id(self.version_id.map(str::to_owned))
            .set_if_match(e_tag.map(str::to_owned))
            .send()
            .await
            .map_err(self.object.s3_error("GetObject (range)"))?;
        let temp_path = self.temp_path;
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(temp_path)
            .await
            .map_err(TransferError::io("opening", temp_path))?;
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(TransferError::io("seeking in", temp_path))?;
        let mut writer = tokio::io::BufWriter::with_capacity(MIB as usize, file);
        let mut body = range.body;
        let n = self.copy_body(&mut body, &mut writer, len).await?;
        writer.flush().await.map_err(TransferError::io("writing", temp_path))?;
        Ok(n)
    }

    /// Copies exactly `len` bytes of `body` into `writer` (stopping there even if the body goes
    /// on), and fails if the body ends before.
    async fn copy_body(
        &self,
        body: &mut ByteStream,
        writer: &mut (impl tokio::io::AsyncWrite + Unpin),
        len: u64,
    ) -> Result<u64, TransferError> {
        let (bucket, key) = (self.object.bucket, self.object.key);
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
            writer.write_all(&chunk[..take]).await.map_err(TransferError::io("writing", self.temp_path))?;
            copied += take as u64;
            self.progress.inc(take as u64);
        }
        Ok(copied)
    }
}

// -- Temp files of dead processes ---------------------------------------------------------------

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

    #[test]
    fn content_types_come_from_the_extension() {
        assert_eq!(content_type_for(Path::new("Optimization_result.geojson")), "application/geo+json");
        assert_eq!(content_type_for(Path::new("data/basin_mean_swe.CSV")), "text/csv");
        assert_eq!(content_type_for(Path::new("README.txt")), "text/plain");
        assert_eq!(content_type_for(Path::new("no-extension")), "application/octet-stream");
    }

    #[test]
    fn the_interruption_line_says_what_was_cleaned_up() {
        let aborted = Interruption {
            signal: Signal::Interrupt,
            outcome: Cleanup::Aborted { file: "big.bin".into(), bucket: "b".into(), key: "k/big.bin".into() },
        };
        assert_eq!(
            aborted.to_string(),
            "Interrupted: the upload of big.bin to s3://b/k/big.bin was aborted; nothing was left in the bucket."
        );
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }
}
