//! # subscriber — download every new file the queue announces
//!
//! The Rust port of the SOS subscriber script (send_receive), built to run for days: it long-polls
//! the SQS queue that S3 → Lambda → SNS fills, downloads each announced object into a directory,
//! and deletes a message only once its file is safely on disk.
//!
//! ```text
//! cargo run -p sandbox                                   # terminal 1 (or real AWS)
//! cargo run -p subscriber -- --download-dir downloads    # terminal 2
//! cargo run -p uploader                                  # terminal 3: the file appears in downloads/
//! ```
//!
//! Where the seed's script fell short, this one: waits (its `main()` returned at once), long-polls
//! for up to 10 messages (it asked for one a second), survives a malformed message (leaves it for
//! the queue to retry and, after 5 receives, to move to the dead-letter queue), and never writes
//! outside the download directory, whatever a key says.
//!
//! 1. Connect to SQS and S3 (`--mfa` for an MFA session).
//! 2. Receive messages: long polling, 20 s, up to 10 at a time.
//! 3. For each message, with at most `--concurrency` at once: parse it (SNS envelope or raw; our
//!    format or S3's own event), map the key to a safe path, skip a file already there (same size
//!    and ETag), else download it (temp file, fsync, rename), print a one-line summary; with
//!    `--exec PROGRAM`, run the application's program on the file.
//! 4. Delete the message once every file it announces is on disk; on failure leave it.
//!
//! Ctrl-C or SIGTERM stops receiving, lets the downloads in flight finish, and exits 0.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use common::error::ErrorKind;
use common::{CommonArgs, Connection, MfaArgs, Target, TransferOptions};
use serde::{Deserialize, Serialize};
use subscriber::exec::{Exec, FileInfo};
use subscriber::journal::Journal;
use subscriber::message::{self, Announcement};
use subscriber::safe_path;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Download each new SOS data file announced on the SQS queue.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    mfa_args: MfaArgs,

    /// The queue URL [default: the seed's `.env` key `sqs_url`; on a sandbox, its seeded queue].
    #[arg(long, env = "SOS_QUEUE_URL", value_name = "URL")]
    queue_url: Option<String>,

    /// Where files are written; keys become relative paths below it.
    #[arg(long, env = "SOS_DOWNLOAD_DIR", default_value = ".", value_name = "DIR")]
    download_dir: PathBuf,

    /// Messages handled at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,

    /// Exit after this many files are on disk.
    #[arg(long, value_name = "N")]
    max_messages: Option<usize>,

    /// Exit after this many seconds with nothing to do.
    #[arg(long, value_name = "SECS")]
    idle_exit: Option<u64>,

    /// Seconds before a message that failed is offered again (the queue moves it to its
    /// dead-letter queue after its maxReceiveCount).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    retry_delay: i32,

    /// Visibility timeout asked for received messages, renewed every third of it while a message
    /// is worked on: after a crash, what the process held is back in the queue this soon at the
    /// latest (at once, for what its journal recorded).
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    visibility_timeout: i32,

    /// Seconds one --exec run may take; past that it is stopped and the message left for retry.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    exec_timeout: u64,

    /// Once a file is on disk, run PROGRAM [ARGS…] with the file's path as last argument (no
    /// shell) and SOS_BUCKET, SOS_KEY, SOS_SIZE, SOS_ETAG in its environment. Exit 0 lets the
    /// message be deleted; anything else leaves it to come back (after maxReceiveCount, to the
    /// dead-letter queue). Put it last: every argument after it is the program's.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "PROGRAM")]
    exec: Vec<String>,

    /// Authenticate with an MFA session first.
    #[arg(long)]
    mfa: bool,
}

/// Files at least this large get a progress bar on a terminal (8 MiB).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// What is recorded beside a downloaded file, to recognise the same object later.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Recorded {
    size: u64,
    etag: String,
}

/// The clients and settings every message task shares.
struct Context {
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    queue_url: String,
    default_bucket: String,
    download_dir: PathBuf,
    retry_delay: i32,
    visibility_timeout: i32,
    /// Files on disk: downloaded, or already there.
    files: AtomicUsize,
    /// Of those, the ones that were already there (same size and ETag).
    skipped: AtomicUsize,
    max_files: Option<usize>,
    /// The messages in hand, for a restart after a crash.
    journal: Journal,
    /// The application's program, run on each file (`--exec`).
    exec: Option<Exec>,
    /// Where large downloads draw their progress bars (on a terminal only).
    progress: Option<indicatif::MultiProgress>,
    /// Set by Ctrl-C/SIGTERM, or when --max-messages files are on disk.
    stop: watch::Sender<bool>,
}

impl Context {
    /// Counts a file on disk; reaching --max-messages stops the receiving.
    fn file_done(&self) {
        let files = self.files.fetch_add(1, Ordering::SeqCst) + 1;
        if self.max_files.is_some_and(|max| files >= max) {
            let _ = self.stop.send(true);
        }
    }
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    // 1. Connect.
    let connection = Connection::open(&opt.common).await?;
    println!("{}", connection.announcement());
    if let Some(note) = connection.private_sandbox_note(env!("CARGO_PKG_NAME")) {
        println!("{note}");
    }
    let config = if opt.mfa {
        connection.mfa_session_config(opt.common.profile.as_deref(), &opt.mfa_args).await?
    } else {
        connection.sdk_config().clone()
    };
    let (queue_url, queue_origin) = match queue_setting(opt.queue_url.as_deref()) {
        Some(found) => found,
        None => match connection.target() {
            Target::Sandbox { url, .. } => {
                (common::sandbox_queue_url(url, common::DEFAULT_QUEUE), "the sandbox's seeded queue".to_owned())
            }
            _ => bail!("no queue: pass --queue-url, set SOS_QUEUE_URL, or put sqs_url in .env"),
        },
    };
    tokio::fs::create_dir_all(&opt.download_dir)
        .await
        .with_context(|| format!("creating {}", opt.download_dir.display()))?;
    let download_dir = tokio::fs::canonicalize(&opt.download_dir)
        .await
        .with_context(|| format!("resolving {}", opt.download_dir.display()))?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // After a crash (SIGKILL, power loss): give back at once the messages a stopped subscriber
    // held here, and remove its half-written temp files. Never a running one's.
    let recovered = Journal::recover(&sqs, &download_dir).await;
    let removed = common::transfer::remove_dead_temp_files(&download_dir)
        .with_context(|| format!("cleaning up {}", download_dir.display()))?;
    if recovered.journals > 0 || removed > 0 {
        println!(
            "Recovered after a stopped subscriber: {} message{} back in the queue, {removed} temp file{} removed.",
            recovered.released,
            if recovered.released == 1 { "" } else { "s" },
            if removed == 1 { "" } else { "s" }
        );
    }
    let ctx = Arc::new(Context {
        journal: Journal::new(&download_dir, &queue_url),
        sqs,
        s3: connection.s3_client_with(&config),
        queue_url,
        default_bucket: opt.common.bucket(),
        download_dir,
        retry_delay: opt.retry_delay.max(0),
        visibility_timeout: opt.visibility_timeout.max(1),
        files: AtomicUsize::new(0),
        skipped: AtomicUsize::new(0),
        exec: (!opt.exec.is_empty())
            .then(|| Exec { command: opt.exec.clone(), timeout: Duration::from_secs(opt.exec_timeout.max(1)) }),
        progress: std::io::stderr().is_terminal().then(indicatif::MultiProgress::new),
        max_files: opt.max_messages,
        stop: watch::channel(false).0,
    });
    // A queue that cannot be used ends the run here, with one line, rather than retrying forever.
    let checked = ctx
        .sqs
        .get_queue_attributes()
        .queue_url(&ctx.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await;
    if let Err(err) = checked
        && let Some(line) = fatal_sqs_error(&err, &ctx.queue_url, &queue_origin)
    {
        bail!("{line}");
    }
    println!("Listening on {} → {}", ctx.queue_url, ctx.download_dir.display());

    let mut stop = ctx.stop.subscribe();
    let stop_tx = ctx.stop.clone();
    tokio::spawn(async move {
        common::wait_for_signal().await;
        eprintln!("Stopping: finishing the downloads in flight.");
        let _ = stop_tx.send(true);
    });

    let slots = Arc::new(Semaphore::new(opt.concurrency as usize));
    let mut tasks = JoinSet::new();
    let mut last_activity = Instant::now();
    let mut failures = Failures::default();
    loop {
        while tasks.try_join_next().is_some() {}
        let idle =
            opt.idle_exit.is_some_and(|secs| tasks.is_empty() && last_activity.elapsed() >= Duration::from_secs(secs));
        if *stop.borrow() || idle {
            break;
        }
        // All slots busy: wait for one to free up (or a stop).
        if slots.available_permits() == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        // ANCHOR: receive
        // 2. Receive as many messages as there are free slots (at most 10), waiting up to 20 s
        //    (less when --idle-exit ends sooner).
        let free = slots.available_permits().min(10);
        let wait = match opt.idle_exit {
            Some(secs) => Duration::from_secs(secs).saturating_sub(last_activity.elapsed()).as_secs().clamp(1, 20),
            None => 20,
        };
        let receive = ctx
            .sqs
            .receive_message()
            .queue_url(&ctx.queue_url)
            .max_number_of_messages(i32::try_from(free).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait).unwrap_or(20))
            .visibility_timeout(ctx.visibility_timeout)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        // ANCHOR_END: receive
        let received = tokio::select! {
            received = receive => received,
            _ = stop.changed() => break,
        };
        let messages = match received {
            Ok(out) => {
                failures.recovered();
                out.messages.unwrap_or_default()
            }
            Err(err) => {
                if let Some(line) = fatal_sqs_error(&err, &ctx.queue_url, &queue_origin) {
                    // Let the downloads in flight finish before saying why the run ends.
                    while tasks.join_next().await.is_some() {}
                    bail!("{line}");
                }
                let delay = failures.failed(&common::error::describe(&err));
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        if !messages.is_empty() {
            last_activity = Instant::now();
        }
        for message in messages {
            if let (Some(id), Some(handle)) = (message.message_id(), message.receipt_handle()) {
                ctx.journal.add(id, handle);
            }
            let permit = slots.clone().acquire_owned().await.context("the task pool closed")?;
            let ctx = ctx.clone();
            tasks.spawn(async move {
                handle(&ctx, message).await;
                drop(permit);
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    ctx.journal.close();
    let skipped = ctx.skipped.load(Ordering::SeqCst);
    let downloaded = ctx.files.load(Ordering::SeqCst) - skipped;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if skipped == 0 {
        println!("Done: {downloaded} file{} downloaded.", plural(downloaded));
    } else {
        println!("Done: {downloaded} file{} downloaded, {skipped} already here.", plural(downloaded));
    }
    Ok(())
}

/// The queue URL and where it came from: `--queue-url`, `SOS_QUEUE_URL`, or the seed's `sqs_url`
/// (each possibly from `./.env`).
fn queue_setting(flag: Option<&str>) -> Option<(String, String)> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(url) = flag {
        let origin = if from_env("SOS_QUEUE_URL").as_deref() == Some(url) {
            common::settings::describe_variable("SOS_QUEUE_URL")
        } else {
            "--queue-url".to_owned()
        };
        return Some((url.to_owned(), origin));
    }
    let seed = common::settings::DOTENV_QUEUE_URL;
    from_env(seed).map(|url| (url, common::settings::describe_variable(seed)))
}

/// One line for an SQS error that no retry can heal (a queue that does not exist, refused or
/// expired credentials), or `None` for one worth retrying (5xx, throttling, the network).
fn fatal_sqs_error<E, R>(err: &aws_sdk_sqs::error::SdkError<E, R>, queue_url: &str, origin: &str) -> Option<String>
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    let service = err.as_service_error()?;
    let code = service.code().unwrap_or_default();
    let fix = match ErrorKind::of(code) {
        ErrorKind::Missing => {
            return Some(format!(
                "the queue {queue_url} (from {origin}) does not exist: make it with `cargo run -p setup`, or fix {origin}"
            ));
        }
        ErrorKind::AccessDenied => "this identity may not use the queue (or a policy requires MFA: add --mfa)",
        ErrorKind::UnknownCredentials => {
            "the service does not know these credentials (a reset sandbox, or a deleted key): run again with valid ones"
        }
        ErrorKind::ExpiredCredentials => {
            "the session credentials have expired: run again (with --mfa, enter a new code)"
        }
        ErrorKind::BadSignature => "the secret access key does not match the key id",
        ErrorKind::RequestExpired => {
            "requests are signed with this machine's time, which the service finds too far off"
        }
        _ => return None,
    };
    Some(format!("{queue_url}: {}; {fix}", common::error::explain_code(code, service.message())))
}

/// Receive failures in a row: logged once per streak, retried with a growing delay.
#[derive(Debug, Default)]
struct Failures {
    streak: u32,
    since: Option<Instant>,
}

impl Failures {
    /// Records a failure; returns how long to wait before the next try (1 s, doubling to 60 s).
    fn failed(&mut self, what: &str) -> Duration {
        if self.streak == 0 {
            eprintln!("receiving failed: {what}; retrying with backoff (logged once until it recovers)");
            self.since = Some(Instant::now());
        } else {
            tracing::debug!(streak = self.streak, error = %what, "receiving failed again");
        }
        self.streak += 1;
        Duration::from_secs(1u64 << (self.streak - 1).min(6)).min(Duration::from_secs(60))
    }

    /// Records a success, saying so if it ends a streak of failures.
    fn recovered(&mut self) {
        if self.streak > 0 {
            let secs = self.since.map(|s| s.elapsed().as_secs()).unwrap_or(0);
            eprintln!("receiving again after {} failed attempts over {secs} s", self.streak);
        }
        *self = Self::default();
    }
}

/// 3–4. One message: every file it announces onto disk, then delete it; on failure leave it
/// (made visible again after --retry-delay) with one log line.
async fn handle(ctx: &Context, message: aws_sdk_sqs::types::Message) {
    let id = message.message_id().unwrap_or("?").to_owned();
    let Some(handle) = message.receipt_handle().map(str::to_owned) else { return };
    let received_count = message
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned()
        .unwrap_or_else(|| "?".into());
    let result = handle_files(ctx, &message, &handle).await;
    // ANCHOR: delete
    match result {
        Ok(()) => {
            if let Err(err) = ctx.sqs.delete_message().queue_url(&ctx.queue_url).receipt_handle(&handle).send().await {
                eprintln!(
                    "message {id}: files are on disk but the message could not be deleted: {}",
                    common::error::describe(&err)
                );
            }
        }
        Err(err) => {
            eprintln!(
                "message {id} (receive {received_count}) left for retry: {}",
                common::error::describe(err.as_ref())
            );
            let _ = ctx
                .sqs
                .change_message_visibility()
                .queue_url(&ctx.queue_url)
                .receipt_handle(&handle)
                .visibility_timeout(ctx.retry_delay)
                .send()
                .await;
        }
    }
    // ANCHOR_END: delete
    ctx.journal.remove(&id);
}

/// Every file `message` announces onto disk, while a heartbeat keeps the message invisible.
async fn handle_files(ctx: &Context, message: &aws_sdk_sqs::types::Message, handle: &str) -> anyhow::Result<()> {
    let announcements = message::parse(message.body().unwrap_or_default())?;
    // Keep the message invisible while long downloads (and --exec runs) go on.
    let heartbeat = tokio::spawn(extend_visibility(
        ctx.sqs.clone(),
        ctx.queue_url.clone(),
        handle.to_owned(),
        ctx.visibility_timeout,
    ));
    let mut outcome = Ok(());
    for announcement in &announcements {
        if let Err(err) = fetch(ctx, announcement).await {
            outcome = Err(err);
            break;
        }
    }
    heartbeat.abort();
    outcome
}

/// Renews the visibility of a message every third of the timeout until aborted, so that one late
/// renewal still leaves time for the next.
async fn extend_visibility(sqs: aws_sdk_sqs::Client, queue_url: String, handle: String, timeout: i32) {
    let period = Duration::from_millis(u64::try_from(timeout).unwrap_or(1).max(1) * 1000 / 3);
    loop {
        tokio::time::sleep(period).await;
        let renewed = sqs
            .change_message_visibility()
            .queue_url(&queue_url)
            .receipt_handle(&handle)
            .visibility_timeout(timeout)
            .send()
            .await;
        if let Err(err) = renewed {
            tracing::warn!(error = %common::error::describe(&err), "could not extend the message's visibility");
        }
    }
}

/// One announced object onto disk, unless the same object is there already.
async fn fetch(ctx: &Context, announcement: &Announcement) -> anyhow::Result<()> {
    let bucket = announcement.bucket.clone().unwrap_or_else(|| ctx.default_bucket.clone());
    let key = &announcement.key;
    let path = safe_path::local_path(&ctx.download_dir, key).with_context(|| format!("unsafe key {key:?}"))?;
    let record_path = record_path(&path);

    let (size, etag) = match (announcement.size, announcement.etag.clone()) {
        (Some(size), Some(etag)) => (size, etag),
        _ => {
            let head = ctx
                .s3
                .head_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .with_context(|| format!("s3://{bucket}/{key}"))?;
            (
                u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0),
                head.e_tag().unwrap_or_default().to_owned(),
            )
        }
    };
    let wanted = Recorded { size, etag: etag.trim_matches('"').to_owned() };
    if let Ok(bytes) = tokio::fs::read(&record_path).await
        && serde_json::from_slice::<Recorded>(&bytes).ok().as_ref() == Some(&wanted)
        && tokio::fs::metadata(&path).await.is_ok_and(|m| m.len() == size)
    {
        println!("{key}: already here ({size} bytes, same ETag); skipped");
        // A message that comes back after a failed or interrupted --exec finds its file here:
        // the program runs again.
        run_exec(ctx, &bucket, key, &path, &wanted).await?;
        ctx.skipped.fetch_add(1, Ordering::SeqCst);
        ctx.file_done();
        return Ok(());
    }

    // A progress bar for large files, on a terminal only; several downloads share the screen.
    let progress = ctx.progress.as_ref().filter(|_| size >= PROGRESS_MIN_BYTES);
    let options = TransferOptions {
        progress: progress.is_some(),
        progress_group: progress.cloned(),
        ..TransferOptions::default()
    };
    let downloaded = common::download_to_file(&ctx.s3, &bucket, key, &path, &options).await?;
    let recorded = Recorded {
        size: downloaded.bytes,
        etag: downloaded.e_tag.clone().unwrap_or_default().trim_matches('"').to_owned(),
    };
    tokio::fs::write(&record_path, serde_json::to_vec(&recorded)?)
        .await
        .with_context(|| format!("writing {}", record_path.display()))?;
    println!("{}", summary(announcement, &downloaded).await);
    run_exec(ctx, &bucket, key, &path, &recorded).await?;
    ctx.file_done();
    Ok(())
}

/// 3b. With `--exec`, the application's program on the file; its failure fails the message.
async fn run_exec(ctx: &Context, bucket: &str, key: &str, path: &Path, recorded: &Recorded) -> anyhow::Result<()> {
    let Some(exec) = &ctx.exec else { return Ok(()) };
    let file = FileInfo { bucket, key, size: recorded.size, etag: &recorded.etag, path };
    exec.run(&file).await?;
    Ok(())
}

/// Where the size and ETag of a downloaded file are kept: a hidden file beside it.
fn record_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.sos.json"))
}

/// `key  bytes  content type  [features]  seconds since the event`.
async fn summary(announcement: &Announcement, downloaded: &common::transfer::DownloadSummary) -> String {
    let content_type = downloaded.content_type.as_deref().unwrap_or("unknown type");
    let mut line = format!("{}: {} bytes, {content_type}", announcement.key, downloaded.bytes);
    let geo =
        content_type.contains("json") || announcement.key.ends_with(".geojson") || announcement.key.ends_with(".json");
    if geo
        && downloaded.bytes <= 64 * 1024 * 1024
        && let Ok(text) = tokio::fs::read_to_string(&downloaded.path).await
        && let Ok(geojson) = text.parse::<geojson::GeoJson>()
    {
        line.push_str(&format!(", {} GeoJSON features", common::geo::GeoSummary::of(&geojson).features));
    }
    if let Some(age) = announcement.event_time.as_deref().and_then(seconds_since) {
        line.push_str(&format!(", {age:.2} s after the event"));
    }
    line
}

fn seconds_since(rfc3339: &str) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    let age = chrono::Utc::now().signed_duration_since(at);
    Some(age.num_milliseconds() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_failures_back_off_from_1_s_to_60_s_and_a_success_starts_over() {
        let mut failures = Failures::default();
        let delays: Vec<u64> = (0..9).map(|_| failures.failed("throttled").as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        failures.recovered();
        assert_eq!(failures.failed("again").as_secs(), 1, "a new streak starts at 1 s");
    }
}

common::example_main!(Opt, run);
