//! The book's standalone crate `book/your-project` — the code a reader copies into a project of
//! their own — built on its own (it is not a workspace member and does not use `common`) and run
//! as a reader runs it: the SDK's default chain configured only by environment variables, an
//! empty home, and a sandbox as the endpoint.

use std::path::{Path, PathBuf};

use sandbox::{SEED_BUCKET, SEED_OBJECTS, SEED_QUEUE, Sandbox, SandboxOptions};
use testkit::{Machine, SandboxClients as _, TestSandbox};
use tokio::process::Command;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const UPLOAD_KEY: &str = "uploads/your-project/Optimization_result.geojson";

/// The target directory of the `cargo test` that built this test, so the standalone crate's
/// dependencies are compiled once and shared across runs. (`CARGO_TARGET_TMPDIR` is
/// `<target dir>/tmp`.)
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR has a parent").to_path_buf()
}

/// `cargo build` of the standalone crate, as a reader would run it in the copied folder.
async fn build_your_project() -> PathBuf {
    let manifest = Path::new(REPO).join("book/your-project/Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .await
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "book/your-project must build on its own:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let binary = target_dir().join("debug").join(format!("your-project{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "{} was built", binary.display());
    binary
}

#[tokio::test]
async fn the_standalone_crate_lists_reads_downloads_uploads_and_receives_with_only_the_default_chain() {
    let binary = build_your_project().await;
    let sandbox = TestSandbox::start().await;
    let machine = Machine::new();
    let queue_url = format!("{}/{}/{SEED_QUEUE}", sandbox.url(), sandbox::ACCOUNT_ID);

    let output = machine
        .command(&binary)
        .env("AWS_ENDPOINT_URL", sandbox.url())
        .env("AWS_ACCESS_KEY_ID", sandbox::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", sandbox::SECRET_ACCESS_KEY)
        .env("AWS_REGION", sandbox::REGION)
        .env("QUEUE_URL", &queue_url)
        .output()
        .await
        .expect("your-project runs");
    assert!(output.status.success(), "{}", testkit::describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);

    // It listed every seeded file, with its size.
    for (key, bytes) in SEED_OBJECTS {
        let line = format!("  {key}  ({} bytes)\n", bytes.len());
        assert!(stdout.contains(&line), "missing {line:?}: {}", testkit::describe(&output));
    }

    // It read and downloaded the file: the bytes on disk are the sample's, and no partial file is
    // left behind.
    let sample = testkit::sample("Optimization_result.geojson");
    let downloaded = std::fs::read(machine.work().join("Optimization_result.geojson")).expect("the downloaded file");
    assert_eq!(downloaded, sample, "downloaded bytes equal the sample");
    assert!(stdout.contains(&format!("Read Optimization_result.geojson: {} bytes", sample.len())), "{stdout}");
    let leftovers: Vec<_> =
        std::fs::read_dir(machine.work()).expect("work dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, ["Optimization_result.geojson"], "only the downloaded file is in the working directory");

    // It uploaded the file: the object is in the bucket, byte for byte.
    let object = sandbox.s3().get_object().bucket(SEED_BUCKET).key(UPLOAD_KEY).send().await;
    let uploaded = object.expect("the uploaded object exists").body.collect().await.expect("body").into_bytes();
    assert_eq!(uploaded.as_ref(), sample.as_slice(), "uploaded bytes equal the sample");

    // The seeded pipeline (S3 → notifier → SNS → SQS) announced the upload, and the program
    // received that announcement from the queue.
    let message =
        stdout.lines().find(|l| l.starts_with("Message: ")).unwrap_or_else(|| panic!("{}", testkit::describe(&output)));
    assert!(message.contains(UPLOAD_KEY), "the message announces the upload: {message}");
}

// ANCHOR: sandbox-in-a-test
/// The pattern the book's sandbox chapter shows: a sandbox inside a test, on a free port, with
/// its data in a temp dir that is deleted after the test; an SDK client pointed at it.
#[tokio::test]
async fn a_sandbox_inside_a_test() {
    let data = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(data.path())).await.expect("sandbox starts");

    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(sandbox::REGION)) // us-east-1
        .endpoint_url(sandbox.url()) // http://127.0.0.1:<free port>
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "sandbox"))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);

    // The seeded bucket is there; what the test writes, it reads back.
    s3.put_object()
        .bucket(SEED_BUCKET)
        .key("tests/hello.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("put");
    let object = s3.get_object().bucket(SEED_BUCKET).key("tests/hello.txt").send().await.expect("get");
    assert_eq!(object.body.collect().await.expect("body").into_bytes().as_ref(), b"hello");

    sandbox.shutdown().await; // or just drop it
}
// ANCHOR_END: sandbox-in-a-test
