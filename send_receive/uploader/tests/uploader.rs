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
    assert!(err.contains("no-such-file.geojson is not a file"), "{err}");
}
