//! The uploader binary: the seed's default file, a clear error for a missing one, and the
//! announcement the upload causes on the queue.

use std::process::Output;

use aws_credential_types::Credentials;
use sandbox::{SEED_QUEUE, Sandbox, SandboxOptions};
use tokio::process::Command;

async fn uploader(sandbox: &Sandbox, work: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_uploader"))
        .args(args)
        .current_dir(work)
        .env_clear()
        .env("HOME", work)
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("SOS_SANDBOX_DATA_DIR", work.join("no-embedded-sandbox"))
        .output()
        .await
        .expect("uploader runs")
}

#[tokio::test]
async fn uploads_the_default_file_and_the_queue_announces_it() {
    let data = tempfile::tempdir().expect("data");
    let options = SandboxOptions { standalone: true, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let work = tempfile::tempdir().expect("work");
    let output = uploader(&sandbox, work.path(), &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.contains("Data uploaded successfully at "), "{out}");
    assert!(out.contains("s3://snow-observing-systems/Optimization_result.geojson: 7157 bytes in "), "{out}");
    assert!(out.contains(" MiB/s)"), "{out}");

    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(sandbox.url())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .build();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs.get_queue_url().queue_name(SEED_QUEUE).send().await.expect("queue");
    let got = sqs
        .receive_message()
        .queue_url(url.queue_url().expect("url"))
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive");
    let body = got.messages().first().and_then(|m| m.body()).expect("an announcement");
    let envelope: serde_json::Value = serde_json::from_str(body).expect("envelope");
    let message: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(message["key"], "Optimization_result.geojson");
    assert_eq!(message["size"], 7157);
}

#[tokio::test]
async fn a_missing_file_is_one_clear_line() {
    let data = tempfile::tempdir().expect("data");
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(data.path())).await.expect("sandbox");
    let work = tempfile::tempdir().expect("work");
    let output = uploader(&sandbox, work.path(), &["no-such-file.geojson"]).await;
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-file.geojson does not exist; pass the file to upload"), "{err}");
}

#[tokio::test]
async fn a_cached_mfa_session_the_reset_sandbox_refuses_is_dropped_and_a_new_code_asked_for() {
    use tokio::io::AsyncWriteExt as _;
    let work = tempfile::tempdir().expect("work");
    let code = || sandbox::mfa::MfaDevice::new(sandbox::mfa::DEFAULT_MFA_SECRET).expect("device").current_code() + "\n";
    let run = async |sandbox: &Sandbox, input: String| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_uploader"))
            .arg("--mfa")
            .current_dir(work.path())
            .env_clear()
            .env("HOME", work.path())
            .env("SOS_CACHE_DIR", work.path().join("cache"))
            .env("SOS_SANDBOX_URL", sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", work.path().join("no-embedded-sandbox"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("uploader runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).await.expect("code");
        drop(stdin);
        child.wait_with_output().await.expect("ends")
    };
    let start = async |dir: &std::path::Path| {
        let options = SandboxOptions { require_mfa: true, standalone: true, ..SandboxOptions::ephemeral(dir) };
        Sandbox::start(options).await.expect("sandbox")
    };
    let first_data = tempfile::tempdir().expect("data");
    let first = start(first_data.path()).await;
    let output = run(&first, code()).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    drop(first);

    // A new sandbox knows nothing of the cached session.
    let second_data = tempfile::tempdir().expect("data");
    let second = start(second_data.path()).await;
    let output = run(&second, code()).await;
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert_eq!(err.matches("The cached MFA session was refused").count(), 1, "said once:\n{err}");
    assert!(err.contains("Please enter your 6 digit MFA code:"), "asked again:\n{err}");

    // The new session was cached: the next run uses it without asking.
    let output = run(&second, String::new()).await;
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("Using the cached MFA session") && !err.contains("Please enter"), "{err}");
}

#[tokio::test]
async fn with_no_sandbox_running_it_says_its_own_is_private() {
    let work = tempfile::tempdir().expect("work");
    let output = Command::new(env!("CARGO_BIN_EXE_uploader"))
        .current_dir(work.path())
        .env_clear()
        .env("HOME", work.path())
        .env("SOS_SANDBOX_URL", "http://127.0.0.1:1")
        .env("SOS_SANDBOX_DATA_DIR", work.path().join("sandbox-data"))
        .output()
        .await
        .expect("uploader runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8_lossy(&output.stdout);
    let notes: Vec<&str> = out.lines().filter(|l| l.contains("no other program can see")).collect();
    assert_eq!(notes.len(), 1, "{out}");
    assert!(notes[0].contains("cargo run -p sandbox"), "{}", notes[0]);
}
