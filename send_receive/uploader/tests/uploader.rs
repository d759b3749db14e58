//! The uploader binary: the original's default file, a clear error for a missing one, and the
//! announcement the upload causes on the queue.

use std::process::Output;

use sandbox::{SEED_QUEUE, Sandbox, SandboxOptions};
use testkit::{Machine, SandboxClients as _, TestSandbox, output_with_stdin};

/// `uploader ARGS…` on `machine`, with the running `sandbox`.
async fn uploader(sandbox: &Sandbox, machine: &Machine, args: &[&str]) -> Output {
    machine
        .command(env!("CARGO_BIN_EXE_uploader"))
        .args(args)
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("SOS_SANDBOX_DATA_DIR", machine.home().join("no-embedded-sandbox"))
        .output()
        .await
        .expect("uploader runs")
}

#[tokio::test]
async fn uploads_the_default_file_and_the_queue_announces_it() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { standalone: true, ..o }).await;
    let machine = Machine::new();
    let output = uploader(&sandbox, &machine, &[]).await;
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.contains("Data uploaded successfully at "), "{out}");
    assert!(out.contains("s3://snow-observing-systems/Optimization_result.geojson: 7157 bytes in "), "{out}");
    assert!(out.contains(" MiB/s)"), "{out}");

    let sqs = sandbox.sqs();
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
    let sandbox = TestSandbox::start().await;
    let output = uploader(&sandbox, &Machine::new(), &["no-such-file.geojson"]).await;
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no-such-file.geojson is not a file"), "{err}");
}

#[tokio::test]
async fn a_cached_mfa_session_the_reset_sandbox_refuses_is_dropped_and_a_new_code_asked_for() {
    let machine = Machine::new();
    let code = || testkit::mfa_code() + "\n";
    let run = async |sandbox: &Sandbox, input: String| {
        let mut command = machine.command(env!("CARGO_BIN_EXE_uploader"));
        command
            .arg("--mfa")
            .env("SOS_CACHE_DIR", machine.home().join("cache"))
            .env("SOS_SANDBOX_URL", sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", machine.home().join("no-embedded-sandbox"));
        output_with_stdin(command, &input).await
    };
    let start = async || TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, ..o }).await;
    let first = start().await;
    let output = run(&first, code()).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    drop(first);

    // A new sandbox knows nothing of the cached session.
    let second = start().await;
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
    let output = Machine::new().command(env!("CARGO_BIN_EXE_uploader")).output().await.expect("uploader runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8_lossy(&output.stdout);
    let notes: Vec<&str> = out.lines().filter(|l| l.contains("no other program can see")).collect();
    assert_eq!(notes.len(), 1, "{out}");
    assert!(notes[0].contains("cargo run -p sandbox"), "{}", notes[0]);
}
