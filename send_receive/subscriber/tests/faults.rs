//! The pipeline (uploader → S3 → notifier → SNS → SQS → subscriber) under faults made on demand by
//! the sandbox's chaos rules. With `AWS_MAX_ATTEMPTS=10`, a service that fails one call in ten
//! (half of them after doing the work: lost answers, retried PutObjects and Publishes that
//! announce a file twice) and drops one connection in twenty still delivers every file byte for
//! byte; a DeleteMessage whose answer is lost is retried and the message is gone.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sandbox::chaos::{self, Rule};
use sandbox::{SEED_QUEUE, SandboxOptions};
use testkit::{SandboxClients as _, TestSandbox, workspace_binary};
use tokio::process::Command;

struct World {
    sandbox: TestSandbox,
    work: tempfile::TempDir,
}

impl World {
    async fn start(rules: Vec<Rule>) -> Self {
        let sandbox = TestSandbox::with(|o| SandboxOptions { standalone: true, chaos: rules, ..o }).await;
        Self { sandbox, work: tempfile::tempdir().expect("work") }
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.work.path())
            .env_clear()
            .env("HOME", self.work.path())
            .env("SOS_SANDBOX_URL", self.sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", self.work.path().join("no-embedded-sandbox"))
            .env("AWS_MAX_ATTEMPTS", "10")
            .stdin(Stdio::null());
        cmd
    }

    async fn upload(&self, key: &str, bytes: &[u8]) {
        let source = self.work.path().join("sources").join(key.replace('/', "_"));
        std::fs::create_dir_all(source.parent().expect("parent")).expect("sources dir");
        std::fs::write(&source, bytes).expect("write source");
        let out = self.command(&workspace_binary("uploader")).arg(&source).args(["--key", key]).output().await;
        let out = out.expect("uploader runs");
        assert!(out.status.success(), "uploader failed for {key}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A world whose sandbox does `operation` of `service` once but loses its answer.
    async fn losing_one_answer(service: &str, operation: &str) -> Self {
        let rules = format!(r#"[{{"service":"{service}","operation":"{operation}","after":true,"count":1}}]"#);
        Self::start(chaos::parse_rules(rules.as_bytes()).expect("rules")).await
    }

    fn subscriber(&self, args: &[&str]) -> tokio::process::Child {
        self.command(Path::new(env!("CARGO_BIN_EXE_subscriber")))
            .args(["--download-dir", "downloads"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("subscriber starts")
    }

    /// Runs the subscriber with `args` to its end (within 2 minutes), asserting that it succeeded;
    /// its stdout and stderr.
    async fn subscribe_to_the_end(&self, args: &[&str]) -> (String, String) {
        let (status, out, err) = finish(self.subscriber(args), Duration::from_secs(120)).await;
        assert!(status.success(), "exit {status}\n{out}\n{err}");
        (out, err)
    }

    fn downloaded(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.work.path().join("downloads").join(key)).ok()
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn finish(child: tokio::process::Child, within: Duration) -> (std::process::ExitStatus, String, String) {
    let output = tokio::time::timeout(within, child.wait_with_output()).await.expect("ends in time").expect("output");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_files_from_0_bytes_to_20_mib_arrive_byte_equal_through_a_flaky_service() {
    let world = World::start(testkit::flaky_rules()).await;
    let mib = 1 << 20;
    let sizes: Vec<usize> = vec![
        0,
        1,
        2,
        7,
        100,
        1023,
        1024,
        4096,
        65_535,
        65_536,
        100_000,
        mib - 1,
        mib,
        2 * mib,
        3 * mib,
        5 * mib - 1,
        5 * mib,
        5 * mib + 1,
        8 * mib,
        9 * mib,
        10 * mib,
        12 * mib,
        15 * mib,
        16 * mib - 1,
        16 * mib,
        16 * mib + 1,
        17 * mib,
        18 * mib,
        19 * mib,
        20 * mib,
    ];
    let mut expected = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let key = match i % 3 {
            0 => format!("flaky/file {i}.bin"),
            1 => format!("flaky/a+b/file+{i}.bin"),
            _ => format!("flaky ü {i}.geojson"),
        };
        let bytes = pattern(*size, u8::try_from(i).expect("small"));
        world.upload(&key, &bytes).await;
        expected.push((key, bytes));
    }
    // Every announcement is on the queue now (some twice: a PutObject or Publish whose answer was
    // lost was done again). The subscriber takes them all and exits once the queue stays quiet.
    let child = world.subscriber(&["--idle-exit", "25", "--visibility-timeout", "10", "--retry-delay", "1"]);
    let (status, out, err) = finish(child, Duration::from_secs(600)).await;
    assert!(status.success(), "exit {status}\n{out}\n{err}");
    for (key, bytes) in &expected {
        let local = world.downloaded(key).unwrap_or_else(|| panic!("{key} is missing\n{out}\n{err}"));
        assert!(local == *bytes, "{key} differs from its source");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_delete_message_batch_is_lost_after_the_work_and_the_message_is_still_gone() {
    let world = World::losing_one_answer("sqs", "DeleteMessageBatch").await;
    let bytes = pattern(70_000, 3);
    world.upload("lost-delete/one.bin", &bytes).await;
    world.subscribe_to_the_end(&["--max-messages", "1"]).await;
    assert_eq!(world.downloaded("lost-delete/one.bin"), Some(bytes));
    assert!(world.sandbox.chaos().rules().is_empty(), "the DeleteMessageBatch answer was lost once");

    // The retried DeleteMessageBatch succeeded: nothing is waiting or in flight.
    let sqs = world.sandbox.sqs();
    let url = sqs.get_queue_url().queue_name(SEED_QUEUE).send().await.expect("queue");
    let url = url.queue_url().expect("url");
    assert_eq!(testkit::queue_counts(&sqs, url).await, (0, 0), "nothing waiting or in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_answer_was_lost_announces_twice_and_the_subscriber_skips_the_duplicate() {
    let world = World::losing_one_answer("sns", "Publish").await;
    let bytes = pattern(4096, 9);
    world.upload("twice/announced.bin", &bytes).await;
    // Two announcements of the one file: the notifier's Publish was done, its answer lost, and
    // the SDK published again at once, so both may come in one receive. One at a time, the second
    // finds the first's file.
    let (out, err) = world.subscribe_to_the_end(&["--max-messages", "2", "--concurrency", "1"]).await;
    assert!(world.sandbox.chaos().rules().is_empty(), "the Publish answer was lost once");
    assert_eq!(world.downloaded("twice/announced.bin"), Some(bytes));
    assert!(out.contains("twice/announced.bin: already here (4096 bytes, same version); skipped"), "{out}\n{err}");
}
