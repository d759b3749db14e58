//! `basic` run as a user runs it: the built binary, a clean environment, and a sandbox.

use std::path::{Path, PathBuf};
use std::process::Output;

use tokio::process::Command;

use sandbox::{SEED_BUCKET, Sandbox, SandboxOptions};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/Optimization_result.geojson");

/// A user's machine: an empty home, a working directory, and no AWS configuration.
struct Machine {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        Self { home: tempfile::tempdir().expect("home"), work: tempfile::tempdir().expect("work dir") }
    }

    /// Where an embedded sandbox of `basic` keeps its data on this machine.
    fn sandbox_data(&self) -> PathBuf {
        self.home.path().join("sandbox-data")
    }

    /// `basic` with no AWS settings. `SOS_SANDBOX_URL` points where nothing listens unless a test
    /// says otherwise, so a sandbox the developer happens to run on port 4566 is never used.
    async fn basic(&self, sandbox_url: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_basic"));
        cmd.args(args)
            .current_dir(self.work.path())
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SOS_SANDBOX_URL", sandbox_url.unwrap_or("http://127.0.0.1:1"))
            .env("SOS_SANDBOX_DATA_DIR", self.sandbox_data());
        cmd.output().await.expect("basic runs")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

fn s3_client(url: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(sandbox::REGION))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn object_bytes(url: &str, key: &str) -> Option<Vec<u8>> {
    let object = s3_client(url).get_object().bucket(SEED_BUCKET).key(key).send().await.ok()?;
    Some(object.body.collect().await.expect("body").into_bytes().to_vec())
}

#[tokio::test]
async fn runs_all_six_steps_on_an_embedded_sandbox_and_keeps_its_upload() {
    let machine = Machine::new();
    let first = machine.basic(None, &[]).await;
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
    let sample = std::fs::read(SAMPLE).expect("sample");
    let downloaded = std::fs::read(machine.work.path().join("Optimization_result.geojson")).expect("downloaded file");
    assert_eq!(downloaded, sample, "the download equals data/Optimization_result.geojson byte for byte");

    let second = machine.basic(None, &[]).await;
    assert_success(&second);
    assert!(
        stdout(&second).contains("  uploads/Optimization_result.geojson  (7157 bytes)"),
        "the second run lists the first run's upload:\n{}",
        stdout(&second)
    );

    // The processes have exited; their data directory holds the upload.
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(machine.sandbox_data())).await.expect("sandbox");
    assert_eq!(object_bytes(sandbox.url(), "uploads/Optimization_result.geojson").await, Some(sample));
}

#[tokio::test]
async fn uses_a_running_sandbox_when_one_answers() {
    let machine = Machine::new();
    let data = tempfile::tempdir().expect("data");
    let running = Sandbox::start(SandboxOptions { standalone: true, ..SandboxOptions::ephemeral(data.path()) })
        .await
        .expect("sandbox");
    let output = machine.basic(Some(running.url()), &["--upload-key", "from-basic/running.geojson"]).await;
    assert_success(&output);
    let first_line = stdout(&output).lines().next().unwrap_or_default().to_owned();
    assert!(first_line.contains(&format!("running sandbox at {}", running.url())), "{first_line}");
    assert!(!machine.sandbox_data().exists(), "no embedded sandbox was started");
    let sample = std::fs::read(SAMPLE).expect("sample");
    assert_eq!(object_bytes(running.url(), "from-basic/running.geojson").await, Some(sample));
}

#[tokio::test]
async fn endpoint_url_sends_everything_to_that_endpoint() {
    let machine = Machine::new();
    let (data_a, data_b) = (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"));
    let a = Sandbox::start(SandboxOptions::ephemeral(data_a.path())).await.expect("sandbox a");
    let b = Sandbox::start(SandboxOptions::ephemeral(data_b.path())).await.expect("sandbox b");
    let output = machine.basic(Some(a.url()), &["--endpoint-url", b.url(), "--upload-key", "only-in-b.geojson"]).await;
    assert_success(&output);
    let first_line = stdout(&output).lines().next().unwrap_or_default().to_owned();
    assert!(first_line.contains(&format!("endpoint {}", b.url())), "{first_line}");
    assert!(object_bytes(b.url(), "only-in-b.geojson").await.is_some(), "the upload went to B");
    assert!(object_bytes(a.url(), "only-in-b.geojson").await.is_none(), "and not to A");
}

fn assert_one_line_failure(output: &Output, expected: &str) {
    assert!(!output.status.success(), "must fail:\n{}", stdout(output));
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "exactly one line on stderr:\n{err}");
    assert!(err.starts_with("Error: ") && err.contains(expected), "{err:?} should mention {expected:?}");
    assert!(!err.contains("ServiceError") && !err.contains("{ "), "no Debug dump: {err}");
}

#[tokio::test]
async fn a_missing_bucket_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let output = machine.basic(None, &["--bucket", "no-such-bucket"]).await;
    assert_one_line_failure(&output, "bucket no-such-bucket does not exist");
    assert!(!stdout(&output).contains("4. Read"), "nothing runs after the failed step");
}

#[tokio::test]
async fn a_missing_key_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let output = machine.basic(None, &["--key", "no/such.geojson"]).await;
    assert_one_line_failure(&output, "s3://snow-observing-systems/no/such.geojson does not exist");
}

#[tokio::test]
async fn an_unreachable_endpoint_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let output = machine.basic(None, &["--endpoint-url", "http://127.0.0.1:1"]).await;
    assert_one_line_failure(&output, "nothing listens at http://127.0.0.1:1 (from --endpoint-url)");
}

#[tokio::test]
async fn a_wrong_secret_ends_the_run_with_one_line() {
    let machine = Machine::new();
    let data = tempfile::tempdir().expect("data");
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(data.path())).await.expect("sandbox");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_basic"));
    let output = cmd
        .args(["--endpoint-url", sandbox.url()])
        .current_dir(machine.work.path())
        .env_clear()
        .env("HOME", machine.home.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .await
        .expect("basic runs");
    assert_one_line_failure(&output, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_file_that_is_not_geojson_is_shown_by_its_first_bytes_and_downloaded() {
    let machine = Machine::new();
    let key = "Missouri Open Loop sample output/basin_mean_swe.csv";
    let output = machine.basic(None, &["--key", key, "--download-to", "out/mean.csv"]).await;
    assert_success(&output);
    assert!(stdout(&output).contains("Not GeoJSON. First bytes: \"date,basin_mean_swe_mm"), "{}", stdout(&output));
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data").join(key);
    assert_eq!(
        std::fs::read(machine.work.path().join("out/mean.csv")).expect("downloaded"),
        std::fs::read(local).expect("sample")
    );
}

#[tokio::test]
async fn two_runs_at_once_on_one_data_dir_both_succeed() {
    let machine = Machine::new();
    let (one, two) = tokio::join!(
        machine.basic(None, &["--upload-key", "concurrent/one.geojson"]),
        machine.basic(None, &["--upload-key", "concurrent/two.geojson"]),
    );
    assert_success(&one);
    assert_success(&two);
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(machine.sandbox_data())).await.expect("sandbox");
    let sample = std::fs::read(SAMPLE).expect("sample");
    assert_eq!(object_bytes(sandbox.url(), "concurrent/one.geojson").await.as_ref(), Some(&sample));
    assert_eq!(object_bytes(sandbox.url(), "concurrent/two.geojson").await.as_ref(), Some(&sample));
}

#[tokio::test]
async fn a_dotenv_file_with_the_seeds_key_names_the_bucket() {
    let machine = Machine::new();
    std::fs::write(machine.work.path().join(".env"), "# as in the seed's send_receive\ns3_bucket=bucket-from-dotenv\n")
        .expect("write .env");
    let output = machine.basic(None, &[]).await;
    assert!(stdout(&output).contains("3. List all files in bucket-from-dotenv"), "{}", stdout(&output));
    assert_one_line_failure(&output, "bucket bucket-from-dotenv does not exist");

    // A flag still wins over the file.
    let output = machine.basic(None, &["--bucket", "snow-observing-systems"]).await;
    assert_success(&output);
}

#[tokio::test]
async fn in_mfa_required_mode_the_long_term_key_is_refused_with_a_line_about_mfa() {
    let machine = Machine::new();
    let data = tempfile::tempdir().expect("data");
    let options = SandboxOptions { require_mfa: true, standalone: true, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let output = machine.basic(Some(sandbox.url()), &[]).await;
    assert_one_line_failure(&output, "MFA required");
}

#[tokio::test]
async fn a_role_profile_with_mfa_asks_once_and_works() {
    let machine = Machine::new();
    let data = tempfile::tempdir().expect("data");
    let options = SandboxOptions { require_mfa: true, standalone: true, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let config = machine.home.path().join("aws-config");
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
    let code = sandbox::mfa::MfaDevice::new(sandbox::mfa::DEFAULT_MFA_SECRET).expect("device").current_code();
    let mut child = Command::new(env!("CARGO_BIN_EXE_basic"))
        .args(["--profile", "sos-data", "--endpoint-url", sandbox.url(), "--upload-key", "by-role.geojson"])
        .current_dir(machine.work.path())
        .env_clear()
        .env("HOME", machine.home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", machine.home.path().join("no-credentials"))
        .env("SOS_CACHE_DIR", machine.home.path().join("cache"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("basic runs");
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(format!("{code}\n").as_bytes()).await.expect("write code");
    }
    let output = child.wait_with_output().await.expect("basic ends");
    assert_success(&output);
    assert_eq!(stderr(&output).matches("Please enter your 6 digit MFA code:").count(), 1, "asked once");
    // With MFA required, only an MFA-authenticated session can upload; the role session did.
    assert!(object_bytes(sandbox.url(), "by-role.geojson").await.is_none(), "the long-term key cannot read it back");
    let sessions = sandbox::identity::stored_sessions(data.path()).expect("sessions");
    assert!(sessions.iter().any(|s| s.arn.contains("assumed-role/sos-data/")), "an AssumeRole session was issued");
    let uploaded = std::fs::metadata(data.path().join("snow-observing-systems/by-role.geojson")).expect("uploaded");
    assert_eq!(uploaded.len(), 7157);
}
