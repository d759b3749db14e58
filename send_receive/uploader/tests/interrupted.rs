//! Ctrl-C (SIGINT) or SIGTERM in the middle of a large multipart upload — of `uploader`, and of
//! `basic`'s step 6 — aborts the upload on the server: nothing of it is left in the bucket, the
//! program says so in one line and exits with 128 + the signal's number.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sandbox::SEED_BUCKET;
use testkit::{Machine, SandboxClients as _, TestSandbox, workspace_binary};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::Command;

const MIB: usize = 1024 * 1024;
/// Nine 8 MiB parts (the examples' part size), four in flight: three rounds of answers.
const FILE_SIZE: usize = 9 * 8 * MIB;
/// Every answer is this much late, so that the upload is still running when the signal arrives:
/// the signal is sent once the first part is stored, two rounds of answers before the last.
const LATENCY_MS: u64 = 1500;

/// How an interrupted program ended.
struct Stopped {
    status: std::process::ExitStatus,
    stderr: Vec<String>,
}

/// Runs `program ARGS` on `machine` against `sandbox` with info logs on (`-v`), sends `signal`
/// once it logged its first uploaded part, and waits for it to end.
async fn interrupt_upload(
    program: &Path,
    args: &[&str],
    sandbox: &TestSandbox,
    machine: &Machine,
    signal: &str,
) -> Stopped {
    let mut child = machine
        .command(program)
        .args(args)
        .arg("-v")
        .env("SOS_SANDBOX_URL", sandbox.url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut stderr = Vec::new();
    let first_part = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.expect("stderr") {
            let done = line.contains("part uploaded");
            stderr.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await
    .expect("a part is uploaded within 2 minutes");
    assert!(first_part, "the program ended before uploading a part:\n{}", stderr.join("\n"));
    let pid = child.id().expect("pid").to_string();
    assert!(Command::new("kill").args([signal, &pid]).status().await.expect("kill").success());
    let rest = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stderr") {
            stderr.push(line);
        }
        child.wait().await.expect("the program ends")
    })
    .await
    .expect("the program ends within a minute of the signal");
    Stopped { status: rest, stderr }
}

/// Asserts that nothing of an upload to `key` is left: no object, and no multipart upload, as
/// `ListMultipartUploads` says.
async fn assert_nothing_left(sandbox: &TestSandbox, key: &str) {
    let s3 = sandbox.s3();
    let head = s3.head_object().bucket(SEED_BUCKET).key(key).send().await;
    assert!(head.is_err_and(|e| e.as_service_error().is_some_and(|e| e.is_not_found())), "{key} was not stored");
    let listed = s3.list_multipart_uploads().bucket(SEED_BUCKET).send().await.expect("ListMultipartUploads");
    assert!(listed.uploads().is_empty(), "multipart uploads left: {:?}", listed.uploads());
}

/// A sandbox whose answers come [`LATENCY_MS`] late, and a machine whose working directory holds
/// `big.bin`.
async fn slow_sandbox_and_big_file() -> (TestSandbox, Machine) {
    let sandbox = TestSandbox::start().await;
    sandbox.chaos().set_effects(sandbox::chaos::Effects { latency: LATENCY_MS, jitter: 0 });
    let machine = Machine::new();
    let bytes: Vec<u8> = (0..FILE_SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(machine.work().join("big.bin"), bytes).expect("big.bin");
    (sandbox, machine)
}

async fn uploader_stops_cleanly(signal: &str, exit_code: i32) {
    let (sandbox, machine) = slow_sandbox_and_big_file().await;
    let uploader = Path::new(env!("CARGO_BIN_EXE_uploader"));
    let stopped = interrupt_upload(uploader, &["big.bin"], &sandbox, &machine, signal).await;
    let said = stopped.stderr.join("\n");
    assert_eq!(stopped.status.code(), Some(exit_code), "{said}");
    assert_eq!(
        stopped.stderr.last().map(String::as_str),
        Some(
            "Interrupted: the upload of big.bin to s3://snow-observing-systems/big.bin was aborted; nothing was left in the bucket."
        ),
        "the last line says what happened:\n{said}"
    );
    assert_eq!(said.matches("Interrupted:").count(), 1, "one line:\n{said}");
    assert_nothing_left(&sandbox, "big.bin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_sigint_during_a_multipart_upload_aborts_it_and_exits_130() {
    uploader_stops_cleanly("-INT", 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_multipart_upload_aborts_it_and_exits_143() {
    uploader_stops_cleanly("-TERM", 143).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_basic_step_6_aborts_its_upload() {
    let (sandbox, machine) = slow_sandbox_and_big_file().await;
    let basic = workspace_binary("basic");
    let args = ["--upload", "big.bin", "--upload-key", "uploads/big.bin", "--download-to", "downloaded.geojson"];
    let stopped = interrupt_upload(&basic, &args, &sandbox, &machine, "-INT").await;
    let said = stopped.stderr.join("\n");
    assert_eq!(stopped.status.code(), Some(130), "{said}");
    assert!(
        said.ends_with(
            "Interrupted: the upload of big.bin to s3://snow-observing-systems/uploads/big.bin was aborted; nothing was \
             left in the bucket."
        ),
        "{said}"
    );
    assert_nothing_left(&sandbox, "uploads/big.bin").await;
    // Step 5's download was complete before: it is in place, and no temp file is left.
    assert!(machine.work().join("downloaded.geojson").is_file());
    let temp_files: Vec<_> = std::fs::read_dir(machine.work())
        .expect("work")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(temp_files.is_empty(), "{temp_files:?}");
}
