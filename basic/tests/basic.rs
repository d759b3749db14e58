//! `basic` run as a user runs it: the built binary, a clean environment, and a sandbox.

use std::process::Output;

use sandbox::{SEED_BUCKET, SandboxOptions};
use testkit::{
    Machine, SandboxClients as _, TestSandbox, assert_one_line_failure, assert_success, output_with_stdin,
    start_sandbox, stderr, stdout,
};

/// `basic` on `machine` with no AWS settings. `SOS_SANDBOX_URL` points where nothing listens
/// unless a test says otherwise, so a sandbox the developer happens to run on port 4566 is never
/// used.
async fn basic(machine: &Machine, sandbox_url: Option<&str>, args: &[&str]) -> Output {
    let mut command = machine.command(env!("CARGO_BIN_EXE_basic"));
    if let Some(url) = sandbox_url {
        command.env("SOS_SANDBOX_URL", url);
    }
    command.args(args).output().await.expect("basic runs")
}

async fn object_bytes(url: &str, key: &str) -> Option<Vec<u8>> {
    let object = url.s3().get_object().bucket(SEED_BUCKET).key(key).send().await.ok()?;
    Some(object.body.collect().await.expect("body").into_bytes().to_vec())
}

#[tokio::test]
async fn runs_all_six_steps_on_an_embedded_sandbox_and_keeps_its_upload() {
    let machine = Machine::new();
    let first = basic(&machine, None, &[]).await;
    assert_success(&first);
    let out = stdout(&first);
    let first_line = out.lines().next().unwrap_or_default();
    assert!(first_line.contains("embedded sandbox"), "first line names the target: {first_line}");
    for section in [
        "1. Create an S3 client",
        "2. List all buckets",
        "Existing buckets:\n  snow-observing-systems\n",
        "3. List all files in snow-observing-systems",
        "  Missouri Open Loop sample output/SWE 2024-03-01.geojson  (",
        "4. Read the contents of Optimization_result.geojson",
        "features:        14",
        "geometry types:  LineString ×1, Point ×3, Polygon ×10",
        "5. Download Optimization_result.geojson",
        "6. Upload ",
        "Uploaded to s3://snow-observing-systems/uploads/Optimization_result.geojson (7157 bytes).",
    ] {
        assert!(out.contains(section), "missing {section:?} in:\n{out}");
    }
    let sample = testkit::sample("Optimization_result.geojson");
    let downloaded = std::fs::read(machine.work().join("Optimization_result.geojson")).expect("downloaded file");
    assert_eq!(downloaded, sample, "the download equals data/Optimization_result.geojson byte for byte");

    let second = basic(&machine, None, &[]).await;
    assert_success(&second);
    assert!(
        stdout(&second).contains("  uploads/Optimization_result.geojson  (7157 bytes)"),
        "the second run lists the first run's upload:\n{}",
        stdout(&second)
    );

    // The processes have exited; their data directory holds the upload.
    let sandbox = start_sandbox(SandboxOptions::ephemeral(machine.sandbox_data())).await;
    assert_eq!(object_bytes(sandbox.url(), "uploads/Optimization_result.geojson").await, Some(sample));
}

#[tokio::test]
async fn uses_a_running_sandbox_when_one_answers() {
    let machine = Machine::new();
    let running = TestSandbox::with(|o| SandboxOptions { standalone: true, ..o }).await;
    let output = basic(&machine, Some(running.url()), &["--upload-key", "from-basic/running.geojson"]).await;
    assert_success(&output);
    let first_line = stdout(&output).lines().next().unwrap_or_default().to_owned();
    assert!(first_line.contains(&format!("running sandbox at {}", running.url())), "{first_line}");
    assert!(!machine.sandbox_data().exists(), "no embedded sandbox was started");
    let sample = testkit::sample("Optimization_result.geojson");
    assert_eq!(object_bytes(running.url(), "from-basic/running.geojson").await, Some(sample));
}

#[tokio::test]
async fn endpoint_url_sends_everything_to_that_endpoint() {
    let machine = Machine::new();
    let (a, b) = (TestSandbox::start().await, TestSandbox::start().await);
    let output =
        basic(&machine, Some(a.url()), &["--endpoint-url", b.url(), "--upload-key", "only-in-b.geojson"]).await;
    assert_success(&output);
    let first_line = stdout(&output).lines().next().unwrap_or_default().to_owned();
    assert!(first_line.contains(&format!("endpoint {}", b.url())), "{first_line}");
    assert!(object_bytes(b.url(), "only-in-b.geojson").await.is_some(), "the upload went to B");
    assert!(object_bytes(a.url(), "only-in-b.geojson").await.is_none(), "and not to A");
}

#[tokio::test]
async fn a_missing_bucket_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let output = basic(&machine, None, &["--bucket", "no-such-bucket"]).await;
    assert_one_line_failure(&output, &["bucket no-such-bucket does not exist"]);
    assert!(!stdout(&output).contains("4. Read"), "nothing runs after the failed step");
}

#[tokio::test]
async fn a_missing_key_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let output = basic(&machine, None, &["--key", "no/such.geojson"]).await;
    assert_one_line_failure(&output, &["s3://snow-observing-systems/no/such.geojson does not exist"]);
}

#[tokio::test]
async fn an_unreachable_endpoint_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let output = basic(&machine, None, &["--endpoint-url", "http://127.0.0.1:1"]).await;
    assert_one_line_failure(&output, &["nothing listens at http://127.0.0.1:1 (from --endpoint-url)"]);
}

#[tokio::test]
async fn a_wrong_secret_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let sandbox = TestSandbox::start().await;
    let output = machine
        .command(env!("CARGO_BIN_EXE_basic"))
        .args(["--endpoint-url", sandbox.url()])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .await
        .expect("basic runs");
    assert_one_line_failure(&output, &["SignatureDoesNotMatch"]);
}

#[tokio::test]
async fn a_file_that_is_not_geojson_is_shown_by_its_first_bytes_and_downloaded() {
    let machine = Machine::new();
    let key = "Missouri Open Loop sample output/basin_mean_swe.csv";
    let output = basic(&machine, None, &["--key", key, "--download-to", "out/mean.csv"]).await;
    assert_success(&output);
    assert!(stdout(&output).contains("Not GeoJSON. First bytes: \"date,basin_mean_swe_mm"), "{}", stdout(&output));
    assert_eq!(std::fs::read(machine.work().join("out/mean.csv")).expect("downloaded"), testkit::sample(key));
}

#[tokio::test]
async fn two_runs_at_once_on_one_data_dir_both_succeed() {
    let machine = Machine::new();
    let (one, two) = tokio::join!(
        basic(&machine, None, &["--upload-key", "concurrent/one.geojson"]),
        basic(&machine, None, &["--upload-key", "concurrent/two.geojson"]),
    );
    assert_success(&one);
    assert_success(&two);
    let sandbox = start_sandbox(SandboxOptions::ephemeral(machine.sandbox_data())).await;
    let sample = testkit::sample("Optimization_result.geojson");
    assert_eq!(object_bytes(sandbox.url(), "concurrent/one.geojson").await.as_ref(), Some(&sample));
    assert_eq!(object_bytes(sandbox.url(), "concurrent/two.geojson").await.as_ref(), Some(&sample));
}

#[tokio::test]
async fn a_dotenv_file_with_the_seeds_key_names_the_bucket() {
    let machine = Machine::new();
    std::fs::write(machine.work().join(".env"), "# as in the original's send_receive\ns3_bucket=bucket-from-dotenv\n")
        .expect("write .env");
    let output = basic(&machine, None, &[]).await;
    assert!(stdout(&output).contains("3. List all files in bucket-from-dotenv"), "{}", stdout(&output));
    assert_one_line_failure(&output, &["bucket bucket-from-dotenv does not exist"]);

    // A flag still wins over the file.
    let output = basic(&machine, None, &["--bucket", "snow-observing-systems"]).await;
    assert_success(&output);
}

#[tokio::test]
async fn in_mfa_required_mode_the_long_term_key_is_refused_with_a_line_about_mfa() {
    let machine = Machine::new();
    let sandbox = TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, ..o }).await;
    let output = basic(&machine, Some(sandbox.url()), &[]).await;
    assert_one_line_failure(&output, &["MFA required"]);
}

#[tokio::test]
async fn a_role_profile_with_mfa_asks_once_and_works() {
    let machine = Machine::new();
    let sandbox = TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, ..o }).await;
    let config = machine.home().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile sandbox-user]\naws_access_key_id = test\naws_secret_access_key = test\nregion = us-east-1\n\n\
             [profile sos-data]\nrole_arn = {}\nsource_profile = sandbox-user\nmfa_serial = {}\nregion = us-east-1\n",
            sandbox::identity::ROLE_ARN,
            sandbox::identity::MFA_SERIAL
        ),
    )
    .expect("write config");
    let mut command = machine.command(env!("CARGO_BIN_EXE_basic"));
    command
        .args(["--profile", "sos-data", "--endpoint-url", sandbox.url(), "--upload-key", "by-role.geojson"])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", machine.home().join("no-credentials"))
        .env("SOS_CACHE_DIR", machine.home().join("cache"));
    let output = output_with_stdin(command, &format!("{}\n", testkit::mfa_code())).await;
    assert_success(&output);
    assert_eq!(stderr(&output).matches("Please enter your 6 digit MFA code:").count(), 1, "asked once");
    // With MFA required, only an MFA-authenticated session can upload; the role session did.
    assert!(object_bytes(sandbox.url(), "by-role.geojson").await.is_none(), "the long-term key cannot read it back");
    let sessions = sandbox::identity::stored_sessions(sandbox.data_path()).expect("sessions");
    assert!(sessions.iter().any(|s| s.arn.contains("assumed-role/sos-data/")), "an AssumeRole session was issued");
    // Read back with the application key, which the MFA policy exempts (as a Lambda's role).
    let app = aws_sdk_s3::config::Credentials::new(
        sandbox::identity::APP_ACCESS_KEY_ID,
        sandbox::identity::APP_SECRET_ACCESS_KEY,
        None,
        None,
        "test",
    );
    let uploaded = testkit::s3_client(&sandbox.config_as(app))
        .get_object()
        .bucket(SEED_BUCKET)
        .key("by-role.geojson")
        .send()
        .await
        .expect("uploaded");
    assert_eq!(
        uploaded.body.collect().await.expect("body").into_bytes().as_ref(),
        testkit::sample("Optimization_result.geojson")
    );
}
