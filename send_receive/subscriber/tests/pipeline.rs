//! The subscriber binary against a sandbox serving the whole pipeline (S3 → notifier → SNS →
//! SQS): many files of every size, hostile messages, SIGTERM mid-download, and S3 events sent
//! straight to SNS with no Lambda.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use common::TransferOptions;
use sandbox::{SEED_BUCKET, SEED_DLQ, SEED_QUEUE, SandboxOptions};
use testkit::{Clients, SandboxClients as _, SandboxProcess, TestSandbox, wait_until, workspace_binary};
use tokio::process::{Child, Command};

struct Pipeline {
    sandbox: TestSandbox,
    work: tempfile::TempDir,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
}

impl Pipeline {
    async fn start() -> Self {
        let sandbox = TestSandbox::with(|o| SandboxOptions { standalone: true, ..o }).await;
        let Clients { s3, sqs, sns, .. } = sandbox.clients();
        Self { s3, sqs, sns, sandbox, work: tempfile::tempdir().expect("work") }
    }

    fn downloads(&self) -> PathBuf {
        self.work.path().join("downloads")
    }

    fn subscriber(&self, args: &[&str]) -> Child {
        self.subscriber_in("downloads", args)
    }

    /// A subscriber writing into `dir` (relative to the work directory).
    fn subscriber_in(&self, dir: &str, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_subscriber"))
            .args(["--download-dir", dir])
            .args(args)
            .current_dir(self.work.path())
            .env_clear()
            .env("HOME", self.work.path())
            .env("SOS_SANDBOX_URL", self.sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", self.work.path().join("no-embedded-sandbox"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("subscriber starts")
    }

    async fn queue_url(&self, name: &str) -> String {
        let url = self.sqs.get_queue_url().queue_name(name).send().await.expect("queue");
        url.queue_url().expect("url").to_owned()
    }

    async fn count(&self, queue: &str) -> (u64, u64) {
        testkit::queue_counts(&self.sqs, &self.queue_url(queue).await).await
    }

    async fn upload(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let file = self.work.path().join("upload.tmp").with_extension(format!("{}", bytes.len()));
        tokio::fs::write(&file, bytes).await.expect("write source");
        let options = TransferOptions { progress: false, ..TransferOptions::default() };
        common::upload_file(&self.s3, bucket, key, &file, &options).await.expect("upload");
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn finish(child: Child, within: Duration) -> (std::process::ExitStatus, String, String) {
    let output =
        tokio::time::timeout(within, child.wait_with_output()).await.expect("subscriber ends in time").expect("output");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_files_from_0_bytes_to_40_mib_arrive_byte_identical_through_the_built_binaries() {
    let work = tempfile::tempdir().expect("work");
    let sandbox = SandboxProcess::start(&work.path().join("sandbox-data"), &[]);
    let url = sandbox.url();
    let env = |cmd: &mut Command| {
        cmd.current_dir(work.path())
            .env_clear()
            .env("HOME", work.path())
            .env("SOS_SANDBOX_URL", url)
            .env("SOS_SANDBOX_DATA_DIR", work.path().join("no-embedded-sandbox"));
    };
    let mut subscriber = Command::new(env!("CARGO_BIN_EXE_subscriber"));
    env(&mut subscriber);
    let child = subscriber
        .args(["--download-dir", "downloads", "--max-messages", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("subscriber starts");

    let sizes = [
        0,
        1,
        7,
        100,
        1023,
        1024,
        4096,
        65_536,
        100_000,
        1 << 20,
        3 << 20,
        5 << 20,
        8 << 20,
        9 << 20,
        16 << 20,
        17 << 20,
        20 << 20,
        25 << 20,
        33 << 20,
        40 << 20,
    ];
    let mut expected = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let key = match i % 4 {
            0 => format!("runs/file {i}.bin"),
            1 => format!("runs/a+b/file+{i}.bin"),
            2 => format!("snow ü {i}.geojson"),
            _ => format!("plain-{i}.bin"),
        };
        let bytes = pattern(*size, u8::try_from(i).expect("small"));
        let source = work.path().join(format!("source-{i}"));
        std::fs::write(&source, &bytes).expect("write source");
        let mut uploader = Command::new(workspace_binary("uploader"));
        env(&mut uploader);
        let out = uploader.arg(&source).args(["--key", &key]).output().await.expect("uploader runs");
        assert!(out.status.success(), "uploader failed for {key}: {}", String::from_utf8_lossy(&out.stderr));
        expected.push((key, bytes));
    }
    let (status, out, err) = finish(child, Duration::from_secs(300)).await;
    assert!(status.success(), "exit {status}\n{out}\n{err}");
    for (key, bytes) in &expected {
        let local = std::fs::read(work.path().join("downloads").join(key))
            .unwrap_or_else(|e| panic!("{key}: {e}\n{out}\n{err}"));
        assert!(local == *bytes, "{key} differs from its source");
    }
    assert!(out.contains("Done: 20 files downloaded."), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_exit_ends_a_quiet_subscriber_with_exit_0() {
    let p = Pipeline::start().await;
    let child = p.subscriber(&["--idle-exit", "1"]);
    let (status, out, err) = finish(child, Duration::from_secs(30)).await;
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("Done: 0 files downloaded."), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_go_to_the_dlq_write_nothing_outside_and_a_good_file_still_arrives() {
    let p = Pipeline::start().await;
    let queue = p.queue_url(SEED_QUEUE).await;
    let hostile = [
        "this is not JSON",
        r#"{"bucket":"snow-observing-systems","note":"no key"}"#,
        r#"{"key":"../escape.txt"}"#,
        r#"{"key":"/etc/passwd"}"#,
        "{\"key\":\"nul\\u0000byte.txt\"}",
        r#"{"key":"missing/object.txt","bucket":"snow-observing-systems"}"#,
    ];
    for body in hostile {
        p.sqs.send_message().queue_url(&queue).message_body(body).send().await.expect("send");
    }
    let child = p.subscriber(&["--retry-delay", "0", "--max-messages", "1"]);
    // Each hostile message is received up to 5 times, then the queue moves it to the DLQ.
    wait_until(Duration::from_secs(60), "6 messages in the DLQ", async || p.count(SEED_DLQ).await.0 == 6).await;
    p.upload(SEED_BUCKET, "after/good.geojson", br#"{"type":"FeatureCollection","features":[]}"#).await;
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "the subscriber kept serving and exits 0:\n{out}\n{err}");
    assert_eq!(
        std::fs::read(p.downloads().join("after/good.geojson")).expect("the good file"),
        br#"{"type":"FeatureCollection","features":[]}"#
    );
    assert!(!p.work.path().join("escape.txt").exists());
    let mut written: Vec<PathBuf> = Vec::new();
    collect_files(p.work.path(), &mut written);
    for file in &written {
        assert!(file.starts_with(p.downloads()), "written outside the download directory: {}", file.display());
    }
    assert!(err.lines().filter(|l| l.contains("left for retry")).count() >= 6, "one line per failure:\n{err}");
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if !path.starts_with(dir.join("upload.tmp")) && !path.to_string_lossy().contains("upload.") {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_download_exits_0_and_loses_no_message() {
    stop_mid_download("-TERM", 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_sigint_mid_download_exits_0_and_loses_no_message() {
    stop_mid_download("-INT", 3).await;
}

/// `signal` sent to a subscriber once a download of `total` 30 MiB files is under way.
async fn stop_mid_download(signal: &str, total: u8) {
    let p = Pipeline::start().await;
    let child = p.subscriber(&["--concurrency", "2"]);
    for i in 0..total {
        p.upload(SEED_BUCKET, &format!("big/{i}.bin"), &pattern(30 << 20, i)).await;
    }
    // Answers slowed down, so that a download is under way long enough to be seen (the sandbox
    // reads fast); the signal once one is (its temp file exists).
    p.sandbox.chaos().set_effects(sandbox::chaos::Effects { latency: 300, jitter: 0 });
    let downloads = p.downloads();
    wait_until(Duration::from_secs(60), "a download in progress", async || {
        let mut files = Vec::new();
        if downloads.exists() {
            collect_files(&downloads, &mut files);
        }
        files.iter().any(|f| f.extension().is_some_and(|e| e == "part"))
    })
    .await;
    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill").args([signal, &pid]).status().await.expect("kill");
    assert!(killed.success());
    let (status, out, err) = finish(child, Duration::from_secs(120)).await;
    assert!(status.success(), "exit 0 after {signal}: {status}\n{out}\n{err}");

    let downloaded = (0..total).filter(|i| p.downloads().join(format!("big/{i}.bin")).exists()).count();
    for i in 0..total {
        let path = p.downloads().join(format!("big/{i}.bin"));
        if path.exists() {
            assert!(std::fs::read(&path).expect("read") == pattern(30 << 20, i), "{i} is complete");
        }
    }
    let (visible, in_flight) = p.count(SEED_QUEUE).await;
    assert_eq!(
        downloaded as u64 + visible + in_flight,
        u64::from(total),
        "every upload is either on disk or still in the queue\n{out}\n{err}"
    );
    assert!(downloaded >= 1, "the download in flight was finished:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_sent_straight_to_sns_without_a_lambda_still_download() {
    let p = Pipeline::start().await;
    p.s3.create_bucket().bucket("direct").send().await.expect("bucket");
    let queue = p.sqs.create_queue().queue_name("direct-updates").send().await.expect("queue");
    let queue = queue.queue_url().expect("url").to_owned();
    let topic = p.sns.create_topic().name("direct-topic").send().await.expect("topic");
    let topic = topic.topic_arn().expect("arn").to_owned();
    p.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:direct-updates")
        .send()
        .await
        .expect("subscribe");
    let config = aws_sdk_s3::types::NotificationConfiguration::builder()
        .topic_configurations(
            aws_sdk_s3::types::TopicConfiguration::builder()
                .topic_arn(&topic)
                .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                .build()
                .expect("topic config"),
        )
        .build();
    p.s3.put_bucket_notification_configuration()
        .bucket("direct")
        .notification_configuration(config)
        .send()
        .await
        .expect("wire");

    let child = p.subscriber(&["--queue-url", &queue, "--bucket", "direct", "--max-messages", "1"]);
    p.upload("direct", "raw s3/event+key ü.geojson", br#"{"type":"Point","coordinates":[1,2]}"#).await;
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(
        std::fs::read(p.downloads().join("raw s3/event+key ü.geojson")).expect("downloaded"),
        br#"{"type":"Point","coordinates":[1,2]}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_object_announced_twice_is_downloaded_once() {
    let p = Pipeline::start().await;
    p.upload(SEED_BUCKET, "twice.txt", b"same bytes").await;
    let child = p.subscriber(&["--max-messages", "1"]);
    let (status, out, _) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success());
    assert!(out.contains("twice.txt: 10 bytes"), "{out}");
    // Announce the same object again (same size and ETag): skipped, message deleted.
    let queue = p.queue_url(SEED_QUEUE).await;
    let head = p.s3.head_object().bucket(SEED_BUCKET).key("twice.txt").send().await.expect("head");
    let body =
        serde_json::json!({ "bucket": SEED_BUCKET, "key": "twice.txt", "size": 10, "etag": head.e_tag() }).to_string();
    p.sqs.send_message().queue_url(&queue).message_body(body).send().await.expect("send");
    let child = p.subscriber(&["--max-messages", "1"]);
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("twice.txt: already here (10 bytes, same ETag); skipped"), "{out}");
    assert!(out.contains("Done: 0 files downloaded, 1 already here."), "{out}");
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0), "the message was deleted");
}

/// Uploads two versions of one key a moment apart, waits for both announcements, and runs the
/// subscriber over them with a program that prints the size and ETag of what it was given; the
/// program's lines and the subscriber's output.
async fn two_uploads_of_one_key(p: &Pipeline, first: &[u8], second: &[u8]) -> (Vec<String>, String) {
    p.upload(SEED_BUCKET, "replaced.geojson", first).await;
    p.upload(SEED_BUCKET, "replaced.geojson", second).await;
    wait_until(Duration::from_secs(20), "both announcements", async || p.count(SEED_QUEUE).await.0 == 2).await;
    let mut args: Vec<String> = ["--max-messages", "2", "--concurrency", "1"].map(str::to_owned).to_vec();
    args.extend(exec_sh(r#"echo "ran on $(wc -c < "$1") bytes, ETag $SOS_ETAG""#));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0), "both messages were deleted");
    let runs = out.lines().filter(|l| l.contains("ran on")).map(str::to_owned).collect();
    (runs, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_of_one_key_in_the_versioned_seed_bucket_run_the_program_once_on_each_uploads_bytes() {
    // The original's uploader always writes the same key. The SOS bucket is versioned, so each
    // announcement names its own version, and each upload's bytes are fetched and handed to the
    // program exactly once, in the order they were uploaded.
    let p = Pipeline::start().await;
    let (first, second) = (pattern(300, 1), pattern(500, 2));
    let (runs, out) = two_uploads_of_one_key(&p, &first, &second).await;
    let versions = p.s3.list_object_versions().bucket(SEED_BUCKET).prefix("replaced.geojson").send().await;
    let versions = versions.expect("versions");
    // Newest first, as S3 lists them: both uploads are still there.
    let etags: Vec<&str> =
        versions.versions().iter().map(|v| v.e_tag().unwrap_or_default().trim_matches('"')).collect();
    assert_eq!(etags.len(), 2, "two versions of the key");
    let expected = [
        format!("[replaced.geojson] ran on 300 bytes, ETag {}", etags[1]),
        format!("[replaced.geojson] ran on 500 bytes, ETag {}", etags[0]),
    ];
    assert_eq!(runs, expected, "{out}");
    assert!(!out.contains(subscriber::fetch::SUPERSEDED), "no upload was lost: {out}");
    assert_eq!(std::fs::read(p.downloads().join("replaced.geojson")).expect("file"), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_of_one_key_in_an_unversioned_bucket_run_the_program_once_on_the_newer_and_the_older_gets_one_line()
{
    // With versioning suspended the first upload's bytes are gone once the second lands: its
    // announcement must not fetch the second's bytes in its place (If-Match on its ETag, S3's
    // 412), and the program runs once, on the second's.
    let p = Pipeline::start().await;
    let suspended = VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build();
    p.s3.put_bucket_versioning().bucket(SEED_BUCKET).versioning_configuration(suspended).send().await.expect("suspend");
    let (first, second) = (pattern(300, 1), pattern(500, 2));
    let (runs, out) = two_uploads_of_one_key(&p, &first, &second).await;
    let head = p.s3.head_object().bucket(SEED_BUCKET).key("replaced.geojson").send().await.expect("head");
    let etag = head.e_tag().unwrap_or_default().trim_matches('"').to_owned();
    assert_eq!(runs, [format!("[replaced.geojson] ran on 500 bytes, ETag {etag}")], "{out}");
    let replaced = format!("replaced.geojson: {}", subscriber::fetch::SUPERSEDED);
    assert_eq!(out.lines().filter(|l| *l == replaced).count(), 1, "{out}");
    assert_eq!(std::fs::read(p.downloads().join("replaced.geojson")).expect("file"), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_does_not_exist_ends_the_run_with_one_line() {
    let p = Pipeline::start().await;
    let url = format!("{}/000000000000/NoSuchQueue", p.sandbox.url());
    let child = p.subscriber(&["--queue-url", &url]);
    let (status, out, err) = finish(child, Duration::from_secs(30)).await;
    assert!(!status.success(), "{out}\n{err}");
    assert_eq!(err.lines().count(), 1, "one line:\n{err}");
    assert!(err.starts_with("Error: ") && err.contains("NoSuchQueue") && err.contains("does not exist"), "{err}");
    assert!(err.contains("cargo run -p setup") && err.contains("--queue-url"), "{err}");

    // The same from the seed's .env key, which the line names.
    std::fs::write(p.work.path().join(".env"), format!("sqs_url={url}\n")).expect(".env");
    let (status, _, err) = finish(p.subscriber(&[]), Duration::from_secs(30)).await;
    assert!(!status.success());
    assert!(err.contains("sqs_url in ./.env"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_download_shows_progress_on_a_terminal() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let p = Pipeline::start().await;
    let bytes = pattern(9 << 20, 3);
    p.upload(SEED_BUCKET, "large/progress.bin", &bytes).await;
    let command = format!(
        "env -i HOME='{work}' TERM=xterm SOS_SANDBOX_URL={url} SOS_SANDBOX_DATA_DIR='{work}/none' '{bin}' \
         --download-dir downloads --max-messages 1",
        work = p.work.path().display(),
        url = p.sandbox.url(),
        bin = env!("CARGO_BIN_EXE_subscriber")
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(p.work.path())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("script runs");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("large/progress.bin ") && shown.contains("/9.00 MiB"), "a bar named by its key:\n{shown}");
    assert_eq!(std::fs::read(p.downloads().join("large/progress.bin")).expect("downloaded"), bytes);
}

/// A shell script as an `--exec` program: `sh -c SCRIPT handler`, the file's path then being `$1`.
fn exec_sh(script: &str) -> Vec<String> {
    ["--exec", "sh", "-c", script, "handler"].map(str::to_owned).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_the_program_on_each_file_with_its_environment_then_the_message_is_deleted() {
    let p = Pipeline::start().await;
    let mut args: Vec<String> = ["--max-messages", "3", "--concurrency", "2"].map(str::to_owned).to_vec();
    args.extend(exec_sh(
        r#"echo "got $SOS_BUCKET $SOS_KEY $SOS_SIZE $SOS_ETAG $(wc -c < "$1")"; echo "to stderr" >&2"#,
    ));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut etags = Vec::new();
    for i in 0..3u8 {
        let key = format!("exec/file {i}.txt");
        p.upload(SEED_BUCKET, &key, &pattern(100 + usize::from(i), i)).await;
        let head = p.s3.head_object().bucket(SEED_BUCKET).key(&key).send().await.expect("head");
        etags.push((key, head.e_tag().unwrap_or_default().trim_matches('"').to_owned()));
    }
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    for (i, (key, etag)) in etags.iter().enumerate() {
        let size = 100 + i;
        let line = format!("[{key}] got {SEED_BUCKET} {key} {size} {etag} {size}");
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
        assert!(err.lines().any(|l| l == format!("[{key}] to stderr")), "{err}");
    }
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0), "every message was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_program_leaves_the_message_until_the_queue_moves_it_to_the_dlq() {
    let p = Pipeline::start().await;
    let mut args: Vec<String> = ["--retry-delay", "0"].map(str::to_owned).to_vec();
    args.extend(exec_sh(r#"echo "cannot handle $SOS_KEY" >&2; exit 3"#));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    p.upload(SEED_BUCKET, "exec/bad.txt", b"bad").await;
    wait_until(Duration::from_secs(60), "the message in the DLQ", async || p.count(SEED_DLQ).await.0 == 1).await;
    let pid = child.id().expect("pid").to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
    let (status, out, err) = finish(child, Duration::from_secs(30)).await;
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(err.matches("[exec/bad.txt] cannot handle exec/bad.txt").count(), 5, "run once per receive:\n{err}");
    assert!(err.contains("exited with exit status: 3"), "{err}");
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0));
    // The file itself is on disk; only the program failed.
    assert_eq!(std::fs::read(p.downloads().join("exec/bad.txt")).expect("downloaded"), b"bad");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_past_its_timeout_is_stopped_and_the_message_left() {
    let p = Pipeline::start().await;
    let mut args: Vec<String> = ["--retry-delay", "30", "--exec-timeout", "1"].map(str::to_owned).to_vec();
    args.extend(exec_sh("sleep 30"));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    p.upload(SEED_BUCKET, "exec/slow.txt", b"slow").await;
    // Received, timed out, then left invisible for --retry-delay.
    wait_until(Duration::from_secs(30), "the message back in the queue, invisible", async || {
        p.count(SEED_QUEUE).await == (0, 1) && p.downloads().join("exec/slow.txt").exists()
    })
    .await;
    let pid = child.id().expect("pid").to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
    let (status, out, err) = finish(child, Duration::from_secs(30)).await;
    assert!(status.success(), "{out}\n{err}");
    assert!(err.contains("ran longer than 1 s (--exec-timeout) and was stopped"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_message_invisible_while_its_work_outlasts_the_visibility_timeout() {
    let p = Pipeline::start().await;
    let runs = p.work.path().join("runs.log");
    // Visibility 2 s, work 5 s: without the heartbeat the queue would offer the message again
    // (and the program would run twice) before the first run ends.
    let mut args: Vec<String> =
        ["--visibility-timeout", "2", "--max-messages", "1", "--concurrency", "2"].map(str::to_owned).to_vec();
    args.extend(exec_sh(&format!("echo run >> '{}'; sleep 5", runs.display())));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    p.upload(SEED_BUCKET, "exec/long.txt", b"long").await;
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(std::fs::read_to_string(&runs).expect("runs"), "run\n", "the program ran once");
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0), "and the message was deleted");
}

/// Every file below `dir`, as paths relative to it (the subscriber's hidden records left out).
fn files_below(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    if dir.exists() {
        collect_files(dir, &mut files);
    }
    let mut names: Vec<String> = files
        .iter()
        .filter(|f| !f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .map(|f| f.strip_prefix(dir).expect("below").to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applications_on_two_queues_each_get_every_file_and_two_copies_on_one_queue_share_them() {
    let p = Pipeline::start().await;
    // A second application: its own queue, subscribed to the topic (what `setup --queue` makes).
    let second = p.sqs.create_queue().queue_name("SecondApplication").send().await.expect("queue");
    let second = second.queue_url().expect("url").to_owned();
    p.sns
        .subscribe()
        .topic_arn(format!("arn:aws:sns:us-east-1:000000000000:{}", sandbox::SEED_TOPIC))
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:SecondApplication")
        .send()
        .await
        .expect("subscribe");

    // Fan-out: one subscriber per application, each on its own queue.
    let files = 10;
    let first_app = p.subscriber_in("first", &["--max-messages", &files.to_string()]);
    let second_app = p.subscriber_in("second", &["--queue-url", &second, "--max-messages", &files.to_string()]);
    let mut expected = Vec::new();
    for i in 0..files {
        let key = format!("fanout/{i}.bin");
        p.upload(SEED_BUCKET, &key, &pattern(1000 + i, u8::try_from(i).expect("small"))).await;
        expected.push(key);
    }
    for child in [first_app, second_app] {
        let (status, out, err) = finish(child, Duration::from_secs(60)).await;
        assert!(status.success(), "{out}\n{err}");
    }
    for dir in ["first", "second"] {
        assert_eq!(files_below(&p.work.path().join(dir)), expected, "{dir} got every file");
        for (i, key) in expected.iter().enumerate() {
            let bytes = std::fs::read(p.work.path().join(dir).join(key)).expect("file");
            assert!(bytes == pattern(1000 + i, u8::try_from(i).expect("small")), "{dir}/{key} is intact");
        }
    }

    // Two copies of one application share its queue: every file once in all.
    let files = 20;
    let copy_a = p.subscriber_in("copy-a", &["--idle-exit", "3"]);
    let copy_b = p.subscriber_in("copy-b", &["--idle-exit", "3"]);
    let mut expected = Vec::new();
    for i in 0..files {
        let key = format!("shared/{i:02}.bin");
        p.upload(SEED_BUCKET, &key, &pattern(500 + i, 7)).await;
        expected.push(key);
    }
    let (a, b) = (finish(copy_a, Duration::from_secs(60)).await, finish(copy_b, Duration::from_secs(60)).await);
    assert!(a.0.success() && b.0.success(), "{a:?}\n{b:?}");
    let (in_a, in_b) = (files_below(&p.work.path().join("copy-a")), files_below(&p.work.path().join("copy-b")));
    let mut all: Vec<String> = in_a.iter().chain(&in_b).cloned().collect();
    all.sort();
    assert_eq!(all, expected, "each file exactly once across the two copies (a: {}, b: {})", in_a.len(), in_b.len());
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0));
    eprintln!("two copies on one queue: {} and {} files", in_a.len(), in_b.len());
}

/// A small deterministic generator for the kill times (the seed is printed, to replay a run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_at_random_while_200_files_stream_it_loses_nothing_and_leaves_no_temp_file() {
    let p = Pipeline::start().await;
    let total = 200usize;
    let size_of = |i: usize| if i.is_multiple_of(25) { 6 << 20 } else { 1000 + (i * 7919) % 300_000 };
    let seed_of = |i: usize| u8::try_from(i % 251).expect("small");
    let sources = p.work.path().join("sources");
    std::fs::create_dir(&sources).expect("sources");
    let s3 = p.s3.clone();
    let uploads = tokio::spawn(async move {
        let options = TransferOptions { progress: false, ..TransferOptions::default() };
        for i in 0..total {
            let file = sources.join(format!("{i}"));
            tokio::fs::write(&file, pattern(size_of(i), seed_of(i))).await.expect("source");
            common::upload_file(&s3, SEED_BUCKET, &format!("stream/{i:03}.bin"), &file, &options)
                .await
                .expect("upload");
            // A stream, not a burst: new files keep arriving across all the kills.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64);
    let seed = seed.unwrap_or(42);
    let mut random = Lcg(seed);
    let kills = 8;
    let mut args: Vec<&str> = vec!["--concurrency", "4"];
    let mut recovered = Vec::new();
    for _ in 0..kills {
        let mut child = p.subscriber(&args);
        tokio::time::sleep(Duration::from_millis(200 + random.next(600))).await;
        child.start_kill().expect("SIGKILL");
        let output = child.wait_with_output().await.expect("killed");
        let out = String::from_utf8_lossy(&output.stdout).into_owned();
        recovered.extend(out.lines().filter(|l| l.starts_with("Recovered")).map(str::to_owned));
    }
    // The restart, right after the last kill: what the killed processes' journals name comes back
    // at once; what a long poll of a killed process took after it died (no journal can know it)
    // comes back after the visibility timeout, 15 s. It exits once idle for longer than that.
    let restarted = Instant::now();
    args.extend(["--idle-exit", "20"]);
    let child = p.subscriber(&args);
    uploads.await.expect("every upload");
    let uploaded = restarted.elapsed();
    let downloads = p.downloads();
    wait_until(Duration::from_secs(180), "every file on disk", async || files_below(&downloads).len() == total).await;
    let took = restarted.elapsed();
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    eprintln!(
        "crash test (seed {seed}): {kills} SIGKILLs; restart to last file: {:.2} s (the last upload ended {:.2} s \
         after the restart); {}",
        took.as_secs_f64(),
        uploaded.as_secs_f64(),
        out.lines().find(|l| l.starts_with("Recovered")).unwrap_or("nothing to recover")
    );
    eprintln!("restarts after a kill said: {recovered:?}");

    for i in 0..total {
        let bytes = std::fs::read(downloads.join(format!("stream/{i:03}.bin"))).expect("file");
        assert!(bytes == pattern(size_of(i), seed_of(i)), "stream/{i:03}.bin differs from its source");
    }
    let mut left = Vec::new();
    collect_files(&downloads, &mut left);
    let temps: Vec<_> = left
        .iter()
        .filter(|f| {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.ends_with(".part") || name.ends_with(".tmp") || name.starts_with(".sos-inflight")
        })
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0), "every message deleted");
    assert_eq!(p.count(SEED_DLQ).await, (0, 0), "none failed");
}

/// Per file, the subscriber creates the file itself and one record beside it — nothing more:
/// its journal is one file appended in place, the same inode from the first message to the last,
/// and the record is rewritten in place when the program has run.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_file_costs_one_record_and_the_journal_stays_one_file() {
    use std::os::unix::fs::MetadataExt as _;
    let p = Pipeline::start().await;
    let total = 40usize;
    let mut args: Vec<String> =
        ["--max-messages", &total.to_string(), "--concurrency", "8"].map(str::to_owned).to_vec();
    args.extend(exec_sh("true"));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let journal = {
        let downloads = p.downloads();
        wait_until(Duration::from_secs(30), "the subscriber listening", async || downloads.exists()).await;
        downloads
    };
    // Watch the journal's inode while the files stream in.
    let watcher = tokio::spawn(async move {
        let mut inodes = std::collections::BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(entries) = std::fs::read_dir(&journal) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with(".sos-inflight.")
                        && let Ok(meta) = entry.metadata()
                    {
                        inodes.insert(meta.ino());
                    }
                }
            }
            if inodes.len() > 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        inodes
    });
    for i in 0..total {
        p.upload(SEED_BUCKET, &format!("inodes/{i:02}.txt"), &pattern(64 + i, 1)).await;
    }
    let (status, out, err) = finish(child, Duration::from_secs(120)).await;
    assert!(status.success(), "{out}\n{err}");
    watcher.abort();
    let inodes = watcher.await.unwrap_or_default();
    assert!(inodes.len() <= 1, "the journal was replaced by another file: {inodes:?}");
    let mut names: Vec<String> = std::fs::read_dir(p.downloads().join("inodes"))
        .expect("downloads")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2 * total, "the files and one record each: {names:?}");
    for i in 0..total {
        assert!(names.contains(&format!("{i:02}.txt")) && names.contains(&format!(".{i:02}.txt.sos.json")));
    }
    let top: Vec<String> = std::fs::read_dir(p.downloads())
        .expect("downloads")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, ["inodes"], "no journal left after a clean exit");
    assert_eq!(p.count(SEED_QUEUE).await, (0, 0), "every message deleted, in batches");
}

/// The book's filtered second application: its own queue, subscribed with a filter policy on the
/// `key` message attribute that the notifier puts on every announcement, gets only the files
/// under its prefix; the seeded queue still gets them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_application_with_a_filter_policy_gets_only_the_files_it_asked_for() {
    let p = Pipeline::start().await;
    let second = p.sqs.create_queue().queue_name("MissouriOnly").send().await.expect("queue");
    let second = second.queue_url().expect("url").to_owned();
    p.sns
        .subscribe()
        .topic_arn(format!("arn:aws:sns:us-east-1:000000000000:{}", sandbox::SEED_TOPIC))
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:MissouriOnly")
        .attributes("FilterPolicy", r#"{"key":[{"prefix":"Missouri Open Loop sample output/"}]}"#)
        .send()
        .await
        .expect("subscribe with a filter policy");
    let keys = ["Missouri Open Loop sample output/new.csv", "Ohio/other.csv", "Missouri Open Loop sample output/b.csv"];
    for (i, key) in keys.iter().enumerate() {
        p.upload(SEED_BUCKET, key, &pattern(200 + i, 3)).await;
    }
    let child = p.subscriber_in("missouri", &["--queue-url", &second, "--idle-exit", "2"]);
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(
        files_below(&p.work.path().join("missouri")),
        ["Missouri Open Loop sample output/b.csv", "Missouri Open Loop sample output/new.csv"]
    );
    assert_eq!(p.count(SEED_QUEUE).await.0, 3, "the seeded queue, unfiltered, has every announcement");
}

/// The book's redrive: a file whose program failed five times sits in the dead-letter queue; once
/// the program is fixed, a message move task brings the announcement back to the queue and the
/// subscriber handles it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_announcement_redriven_after_the_fix_is_handled() {
    let p = Pipeline::start().await;
    let mut args: Vec<String> = ["--retry-delay", "0"].map(str::to_owned).to_vec();
    args.extend(exec_sh("exit 1"));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    p.upload(SEED_BUCKET, "redrive/needs-a-fix.txt", b"fixed later").await;
    wait_until(Duration::from_secs(60), "the message in the DLQ", async || p.count(SEED_DLQ).await.0 == 1).await;
    let pid = child.id().expect("pid").to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
    finish(child, Duration::from_secs(30)).await;

    let task = p
        .sqs
        .start_message_move_task()
        .source_arn(format!("arn:aws:sqs:us-east-1:000000000000:{SEED_DLQ}"))
        .send()
        .await
        .expect("redrive");
    assert!(task.task_handle().is_some());
    wait_until(Duration::from_secs(30), "the announcement back in the queue", async || {
        p.count(SEED_QUEUE).await.0 == 1
    })
    .await;
    let mut args: Vec<String> = ["--max-messages", "1"].map(str::to_owned).to_vec();
    args.extend(exec_sh(r#"echo "handled $SOS_KEY""#));
    let child = p.subscriber(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, out, err) = finish(child, Duration::from_secs(60)).await;
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("[redrive/needs-a-fix.txt] handled redrive/needs-a-fix.txt"), "{out}");
    assert_eq!((p.count(SEED_QUEUE).await, p.count(SEED_DLQ).await), ((0, 0), (0, 0)));
}
