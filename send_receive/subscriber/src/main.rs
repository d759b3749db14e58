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
//!    format or S3's own event), map the key to a safe path, skip an upload already there (same
//!    version, or same size and ETag), else download the announced bytes — the announced version,
//!    or the object only while it still has the announced ETag (temp file, fsync, rename) — and
//!    print a one-line summary; with `--exec PROGRAM`, run the application's program on the file.
//!    An upload that a newer one replaced before it could be fetched gets one line; the newer
//!    one's own announcement follows.
//! 4. Delete the messages whose files are on disk, up to ten at a time (`DeleteMessageBatch`);
//!    on failure leave the message.
//!
//! Ctrl-C or SIGTERM stops receiving, lets the downloads in flight finish, and exits 0.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use clap::Parser;
use common::error::ErrorKind;
use common::{Aws, CommonArgs, OptionalMfa, Target, TransferOptions};
use subscriber::exec::{Exec, FileInfo};
use subscriber::fetch::{self, Fetched};
use subscriber::journal::Journal;
use subscriber::message::{self, Announcement};
use subscriber::record::{self, Plan, Record};
use subscriber::safe_path;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Download each new SOS data file announced on the SQS queue.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// The queue URL [default: the seed's `.env` key `sqs_url`; on a sandbox, its seeded queue].
    #[arg(long, env = "SOS_QUEUE_URL", value_name = "URL")]
    queue_url: Option<String>,

    /// Where files are written; keys become relative paths below it.
    #[arg(long, env = "SOS_DOWNLOAD_DIR", default_value = ".", value_name = "DIR")]
    download_dir: PathBuf,

    /// Messages handled at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,

    /// Exit after this many announcements are handled: files on disk, or uploads that a newer
    /// one replaced before they could be fetched.
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

    #[command(flatten)]
    mfa: OptionalMfa,

    #[command(flatten)]
    common: CommonArgs,
}

/// Files at least this large get a progress bar on a terminal (8 MiB).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// A message whose files are on disk, waiting for `DeleteMessageBatch`.
#[derive(Debug)]
struct Handled {
    id: String,
    receipt_handle: String,
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
    /// Announcements handled: files on disk (downloaded, or already there), or superseded.
    files: AtomicUsize,
    /// Of those, the ones that were already there.
    skipped: AtomicUsize,
    /// Of those, the uploads a newer one replaced before they could be fetched.
    superseded: AtomicUsize,
    max_files: Option<usize>,
    /// The messages in hand, for a restart after a crash.
    journal: Journal,
    /// The application's program, run on each file (`--exec`).
    exec: Option<Exec>,
    /// Where large downloads draw their progress bars (on a terminal only).
    progress: Option<indicatif::MultiProgress>,
    /// Set by Ctrl-C/SIGTERM, or when --max-messages are handled.
    stop: watch::Sender<bool>,
    /// Messages done, for the batch deleter (taken at the end, which ends the deleter).
    handled: Mutex<Option<mpsc::UnboundedSender<Handled>>>,
    /// One announcement at a time per local file, so two uploads of one key are handled one
    /// after the other, each on its own bytes.
    files_in_hand: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Context {
    /// Counts an announcement handled; reaching --max-messages stops the receiving.
    fn file_done(&self) {
        let files = self.files.fetch_add(1, Ordering::SeqCst) + 1;
        if self.max_files.is_some_and(|max| files >= max) {
            let _ = self.stop.send(true);
        }
    }

    /// Hands a message whose files are on disk to the batch deleter.
    fn delete_later(&self, message: Handled) {
        if let Some(deleter) = self.handled.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = deleter.send(message);
        }
    }

    /// The lock of local file `path`, taken for as long as one announcement of it is handled.
    async fn hold(&self, path: &Path) -> FileHold<'_> {
        let lock = {
            let mut held = self.files_in_hand.lock().unwrap_or_else(|e| e.into_inner());
            held.entry(path.to_path_buf()).or_default().clone()
        };
        FileHold { guard: Some(lock.lock_owned().await), ctx: self, path: path.to_path_buf() }
    }
}

/// A file in hand; dropping it lets the next announcement of the file go on.
struct FileHold<'a> {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    ctx: &'a Context,
    path: PathBuf,
}

impl Drop for FileHold<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut held = self.ctx.files_in_hand.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody else waits for it: forget it, so the map holds only files in hand.
        if held.get(&self.path).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            held.remove(&self.path);
        }
    }
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    // 1. Connect, find the queue, prepare the download directory and take back what a stopped
    //    subscriber held there.
    let (aws, sqs, s3) = connect(&opt).await?;
    let (queue_url, queue_origin) = choose_queue(&opt, &aws)?;
    let download_dir = prepare_download_dir(&opt.download_dir).await?;
    recover_after_crash(&sqs, &download_dir).await?;
    let (handled, handled_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        journal: Journal::new(&download_dir, &queue_url),
        sqs,
        s3,
        queue_url,
        default_bucket: opt.common.bucket(),
        download_dir,
        retry_delay: opt.retry_delay.max(0),
        visibility_timeout: opt.visibility_timeout.max(1),
        files: AtomicUsize::new(0),
        skipped: AtomicUsize::new(0),
        superseded: AtomicUsize::new(0),
        exec: (!opt.exec.is_empty())
            .then(|| Exec { command: opt.exec.clone(), timeout: Duration::from_secs(opt.exec_timeout.max(1)) }),
        progress: std::io::stderr().is_terminal().then(indicatif::MultiProgress::new),
        max_files: opt.max_messages,
        stop: watch::channel(false).0,
        handled: Mutex::new(Some(handled)),
        files_in_hand: Mutex::new(HashMap::new()),
    });
    check_queue(&ctx, &queue_origin).await?;
    println!("Listening on {} → {}", ctx.queue_url, ctx.download_dir.display());
    stop_on_signal(&ctx);
    let deleter = tokio::spawn(delete_in_batches(ctx.clone(), handled_rx));

    // 2–3. Receive and handle messages until stopped.
    let outcome = receive_and_handle(&ctx, &opt, &queue_origin).await;

    // 4. The deletes of the messages handled go out before the summary.
    finish(&ctx, deleter, outcome).await
}

/// Step 1a: Where requests go, and SQS and S3 clients (an MFA session's with `--mfa`).
async fn connect(opt: &Opt) -> anyhow::Result<(Aws, aws_sdk_sqs::Client, aws_sdk_s3::Client)> {
    let aws = Aws::load(&opt.common).await?;
    println!("{}", aws.announcement());
    if let Some(note) = aws.private_sandbox_note(env!("CARGO_PKG_NAME")) {
        println!("{note}");
    }
    let config = if opt.mfa.enabled {
        aws.mfa_session_config(opt.common.profile.as_deref(), &opt.mfa.args).await?
    } else {
        aws.sdk_config().clone()
    };
    let (sqs, s3) = (aws_sdk_sqs::Client::new(&config), aws.s3_client_with(&config));
    Ok((aws, sqs, s3))
}

/// Step 1b: The queue URL and where it came from (on a sandbox, its seeded queue by default).
fn choose_queue(opt: &Opt, aws: &Aws) -> anyhow::Result<(String, String)> {
    match queue_setting(opt.queue_url.as_deref()) {
        Some(found) => Ok(found),
        None => match aws.target() {
            Target::Sandbox { url, .. } => {
                Ok((common::sandbox_queue_url(url, common::DEFAULT_QUEUE), "the sandbox's seeded queue".to_owned()))
            }
            _ => bail!("no queue: pass --queue-url, set SOS_QUEUE_URL, or put sqs_url in .env"),
        },
    }
}

/// Step 1c: The download directory, created and resolved.
async fn prepare_download_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
    tokio::fs::canonicalize(dir).await.with_context(|| format!("resolving {}", dir.display()))
}

/// Step 1d: After a crash (SIGKILL, power loss): give back at once the messages a stopped subscriber
/// held here, and remove its half-written temp files. Never a running one's.
async fn recover_after_crash(sqs: &aws_sdk_sqs::Client, download_dir: &Path) -> anyhow::Result<()> {
    let recovered = Journal::recover(sqs, download_dir).await;
    let removed = common::transfer::remove_dead_temp_files(download_dir)
        .with_context(|| format!("cleaning up {}", download_dir.display()))?;
    if recovered.journals > 0 || removed > 0 {
        println!(
            "Recovered after a stopped subscriber: {} message{} back in the queue, {removed} temp file{} removed.",
            recovered.released,
            if recovered.released == 1 { "" } else { "s" },
            if removed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Step 1e: A queue that cannot be used ends the run here, with one line, rather than retrying forever.
async fn check_queue(ctx: &Context, queue_origin: &str) -> anyhow::Result<()> {
    let checked = ctx
        .sqs
        .get_queue_attributes()
        .queue_url(&ctx.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await;
    if let Err(err) = checked
        && let Some(line) = fatal_sqs_error(&err, &ctx.queue_url, queue_origin)
    {
        bail!("{line}");
    }
    Ok(())
}

/// Step 1f: Ctrl-C or SIGTERM stops the receiving; the work in hand finishes.
fn stop_on_signal(ctx: &Context) {
    let stop = ctx.stop.clone();
    tokio::spawn(async move {
        common::wait_for_signal().await;
        eprintln!("Stopping: finishing the downloads in flight.");
        let _ = stop.send(true);
    });
}

/// Step 2–3: Receives as many messages as there are free slots and hands each to a task, until
/// stopped (a signal, --max-messages, --idle-exit, or a queue that can no longer be used).
async fn receive_and_handle(ctx: &Arc<Context>, opt: &Opt, queue_origin: &str) -> anyhow::Result<()> {
    let mut stop = ctx.stop.subscribe();
    let slots = Arc::new(Semaphore::new(opt.concurrency as usize));
    let mut tasks = JoinSet::new();
    let mut last_activity = Instant::now();
    let mut failures = Failures::default();
    let outcome = loop {
        while tasks.try_join_next().is_some() {}
        let idle =
            opt.idle_exit.is_some_and(|secs| tasks.is_empty() && last_activity.elapsed() >= Duration::from_secs(secs));
        if *stop.borrow() || idle {
            break Ok(());
        }
        // All slots busy: wait for one to free up (or a stop).
        if slots.available_permits() == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let wait = match opt.idle_exit {
            Some(secs) => Duration::from_secs(secs).saturating_sub(last_activity.elapsed()).as_secs().clamp(1, 20),
            None => 20,
        };
        let received = tokio::select! {
            received = receive(ctx, slots.available_permits().min(10), wait) => received,
            _ = stop.changed() => break Ok(()),
        };
        let messages = match received {
            Ok(messages) => {
                failures.recovered();
                messages
            }
            Err(err) => {
                if let Some(line) = fatal_sqs_error(&err, &ctx.queue_url, queue_origin) {
                    break Err(anyhow::anyhow!("{line}"));
                }
                let delay = failures.failed(&common::error::describe(&err));
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    _ = stop.changed() => break Ok(()),
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
    };
    // Let the work in flight finish (and, on a fatal error, before saying why the run ends).
    while tasks.join_next().await.is_some() {}
    outcome
}

// ANCHOR: receive
/// Step 2: Receive up to `max` messages (at most 10), waiting up to `wait` seconds (20, or less when
///    --idle-exit ends sooner).
async fn receive(
    ctx: &Context,
    max: usize,
    wait: u64,
) -> Result<Vec<Message>, aws_sdk_sqs::error::SdkError<aws_sdk_sqs::operation::receive_message::ReceiveMessageError>> {
    let out = ctx
        .sqs
        .receive_message()
        .queue_url(&ctx.queue_url)
        .max_number_of_messages(i32::try_from(max).unwrap_or(10))
        .wait_time_seconds(i32::try_from(wait).unwrap_or(20))
        .visibility_timeout(ctx.visibility_timeout)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await?;
    Ok(out.messages.unwrap_or_default())
}
// ANCHOR_END: receive

/// Step 4: The end: the deleter's last batches go out, the journal goes, the summary line.
async fn finish(
    ctx: &Context,
    deleter: tokio::task::JoinHandle<()>,
    outcome: anyhow::Result<()>,
) -> anyhow::Result<()> {
    ctx.handled.lock().unwrap_or_else(|e| e.into_inner()).take();
    let _ = deleter.await;
    ctx.journal.close();
    outcome?;
    println!("{}", Summary::of(ctx));
    Ok(())
}

/// The last line: files downloaded, already here, superseded.
struct Summary {
    downloaded: usize,
    skipped: usize,
    superseded: usize,
}

impl Summary {
    fn of(ctx: &Context) -> Self {
        let skipped = ctx.skipped.load(Ordering::SeqCst);
        let superseded = ctx.superseded.load(Ordering::SeqCst);
        let downloaded = ctx.files.load(Ordering::SeqCst) - skipped - superseded;
        Self { downloaded, skipped, superseded }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(f, "Done: {} file{} downloaded", self.downloaded, plural(self.downloaded))?;
        if self.skipped > 0 {
            write!(f, ", {} already here", self.skipped)?;
        }
        if self.superseded > 0 {
            write!(f, ", {} replaced by newer uploads before they could be fetched", self.superseded)?;
        }
        write!(f, ".")
    }
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

/// Step 3–4: One message: every file it announces onto disk, then to the batch deleter; on failure
/// leave it (made visible again after --retry-delay) with one log line.
async fn handle(ctx: &Context, message: Message) {
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
        // Deleted by the batch deleter, up to ten messages a call.
        Ok(()) => ctx.delete_later(Handled { id, receipt_handle: handle }),
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
            ctx.journal.remove(&id);
        }
    }
    // ANCHOR_END: delete
}

/// Step 4: Deletes the messages handed over, as many at a time as are waiting (up to ten, SQS's
/// limit for `DeleteMessageBatch`), until the channel closes; each deleted message leaves the
/// journal.
async fn delete_in_batches(ctx: Arc<Context>, mut handled: mpsc::UnboundedReceiver<Handled>) {
    while let Some(first) = handled.recv().await {
        let mut batch = vec![first];
        while batch.len() < 10 {
            match handled.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(&m.receipt_handle)
                    .build()
                    .ok()
            })
            .collect();
        let deleted = ctx.sqs.delete_message_batch().queue_url(&ctx.queue_url).set_entries(Some(entries)).send().await;
        match deleted {
            Ok(out) => {
                for failed in out.failed() {
                    let which = failed.id().strip_prefix('m').and_then(|i| i.parse::<usize>().ok());
                    let id = which.and_then(|i| batch.get(i)).map_or("?", |m| m.id.as_str());
                    eprintln!(
                        "message {id}: files are on disk but the message could not be deleted: {} ({})",
                        failed.message().unwrap_or("no reason given"),
                        failed.code()
                    );
                }
            }
            Err(err) => eprintln!(
                "{} messages: files are on disk but the messages could not be deleted: {}",
                batch.len(),
                common::error::describe(&err)
            ),
        }
        for message in &batch {
            ctx.journal.remove(&message.id);
        }
    }
}

/// Every file `message` announces onto disk, while a heartbeat keeps the message invisible.
async fn handle_files(ctx: &Context, message: &Message, handle: &str) -> anyhow::Result<()> {
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
        if let Err(err) = handle_announcement(ctx, announcement).await {
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

/// Step 3: One announced upload: its bytes onto disk (unless they are there) and the application's
/// program run on them once, one announcement of a file at a time.
async fn handle_announcement(ctx: &Context, announced: &Announcement) -> anyhow::Result<()> {
    let bucket = announced.bucket.clone().unwrap_or_else(|| ctx.default_bucket.clone());
    let key = &announced.key;
    let path = safe_path::local_path(&ctx.download_dir, key).with_context(|| format!("unsafe key {key:?}"))?;
    let _hold = ctx.hold(&path).await;
    let announced = complete_announcement(ctx, &bucket, announced).await?;
    let record = record::read(&path).await;
    let same = if announced.version_id.is_some() { "same version" } else { "same ETag" };
    match record::plan(record.as_ref(), &announced) {
        Plan::Skip => {
            let size = record.map_or(0, |r| r.size);
            println!("{key}: already here ({size} bytes, {same}); skipped");
            ctx.skipped.fetch_add(1, Ordering::SeqCst);
        }
        Plan::Handle => {
            // The file came down before, but its program did not finish (a failure, a crash):
            // the program runs again on it.
            let mut record = record.context("a record to handle")?;
            println!("{key}: already here ({} bytes, {same}); running the program again", record.size);
            run_exec(ctx, &bucket, key, &path, &record).await?;
            record.handled = true;
            record::write(&path, &record).await.with_context(|| format!("recording {}", path.display()))?;
            ctx.skipped.fetch_add(1, Ordering::SeqCst);
        }
        Plan::Download => {
            if !download_and_handle(ctx, &bucket, &announced, &path).await? {
                return Ok(());
            }
        }
        Plan::DownloadAside => {
            // An older upload announced after a newer one is on disk: its bytes go beside the
            // file for its program, and the newer file stays.
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let aside = path.with_file_name(format!(".{name}.{}.older.part", std::process::id()));
            let outcome = download_and_handle(ctx, &bucket, &announced, &aside).await;
            let _ = tokio::fs::remove_file(&aside).await;
            let _ = tokio::fs::remove_file(record::path_for(&aside)).await;
            if !outcome? {
                return Ok(());
            }
        }
    }
    ctx.file_done();
    Ok(())
}

/// The announcement with its size and ETag (and version) from `HeadObject` when it lacks them
/// (a minimal `{"key": …}` message), so the download can be pinned to those bytes.
async fn complete_announcement(ctx: &Context, bucket: &str, announced: &Announcement) -> anyhow::Result<Announcement> {
    if announced.etag.is_some() || announced.version_id.is_some() {
        return Ok(announced.clone());
    }
    let key = &announced.key;
    let head =
        ctx.s3.head_object().bucket(bucket).key(key).send().await.with_context(|| format!("s3://{bucket}/{key}"))?;
    Ok(Announcement {
        size: announced.size.or_else(|| head.content_length().and_then(|n| u64::try_from(n).ok())),
        etag: head.e_tag().map(|e| e.trim_matches('"').to_owned()),
        version_id: head.version_id().filter(|v| *v != "null").map(str::to_owned),
        ..announced.clone()
    })
}

/// Downloads the announced bytes to `path`, records them, runs the program, records that it
/// ran; `false` when a newer upload had replaced them (one line, and nothing written).
async fn download_and_handle(
    ctx: &Context,
    bucket: &str,
    announced: &Announcement,
    path: &Path,
) -> anyhow::Result<bool> {
    let key = &announced.key;
    // A progress bar for large files, on a terminal only; several downloads share the screen.
    let progress = ctx.progress.as_ref().filter(|_| announced.size.unwrap_or(0) >= PROGRESS_MIN_BYTES);
    let options = TransferOptions {
        progress: progress.is_some(),
        progress_group: progress.cloned(),
        ..TransferOptions::default()
    };
    let downloaded = match fetch::fetch(&ctx.s3, bucket, announced, path, &options).await? {
        Fetched::Downloaded(downloaded) => downloaded,
        Fetched::Superseded => {
            println!("{key}: {}", fetch::SUPERSEDED);
            ctx.superseded.fetch_add(1, Ordering::SeqCst);
            ctx.file_done();
            return Ok(false);
        }
    };
    let mut record = Record {
        size: downloaded.bytes,
        etag: downloaded.e_tag.clone().unwrap_or_default().trim_matches('"').to_owned(),
        version_id: announced.version_id.clone(),
        event_time: announced.event_time.clone(),
        sequencer: announced.sequencer.clone(),
        handled: ctx.exec.is_none(),
    };
    record::write(path, &record).await.with_context(|| format!("recording {}", path.display()))?;
    println!("{}", summary(announced, &downloaded).await);
    if ctx.exec.is_some() {
        run_exec(ctx, bucket, key, path, &record).await?;
        record.handled = true;
        record::write(path, &record).await.with_context(|| format!("recording {}", path.display()))?;
    }
    Ok(true)
}

/// Step 3b: With `--exec`, the application's program on the file; its failure fails the message.
async fn run_exec(ctx: &Context, bucket: &str, key: &str, path: &Path, record: &Record) -> anyhow::Result<()> {
    let Some(exec) = &ctx.exec else { return Ok(()) };
    let file = FileInfo { bucket, key, size: record.size, etag: &record.etag, path };
    exec.run(&file).await?;
    Ok(())
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
