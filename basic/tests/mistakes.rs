//! The mistakes a newcomer makes, run as they would be: the built binary, an empty home, no AWS
//! settings but the ones under test. Each ends with a non-zero exit and one line on stderr that
//! names the cause and the fix — no Debug dump, no instance-metadata noise.

use std::path::Path;
use std::process::{Output, Stdio};

use sandbox::{Sandbox, SandboxOptions};
use tokio::process::Command;

/// `basic` on a machine with an empty home in `home`, working in `work`, with no sandbox to find.
fn basic(home: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_basic"));
    cmd.current_dir(work)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOS_SANDBOX_URL", "http://127.0.0.1:1")
        .env("SOS_SANDBOX_DATA_DIR", home.join("sandbox-data"))
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A non-zero exit, and exactly one line on stderr: `Error: …` naming every `expected` part, with
/// no Debug dump and nothing from the instance-metadata client.
fn assert_one_line(output: &Output, expected: &[&str]) -> String {
    let err = text(&output.stderr);
    assert!(!output.status.success(), "must fail:\nstdout:\n{}\nstderr:\n{err}", text(&output.stdout));
    assert_eq!(err.lines().count(), 1, "exactly one line on stderr:\n{err}");
    assert!(err.starts_with("Error: "), "{err}");
    for part in expected {
        assert!(err.contains(part), "{err:?} should mention {part:?}");
    }
    for noise in ["{ ", "Debug", "ServiceError", "ProviderError", "SdkBody", "WARN", "imds", "IMDS", "panicked"] {
        assert!(!err.contains(noise), "no {noise:?} in {err:?}");
    }
    err
}

fn machine() -> (tempfile::TempDir, tempfile::TempDir) {
    (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"))
}

#[tokio::test]
async fn an_endpoint_left_in_dot_env_with_nothing_listening_names_the_file() {
    let (home, work) = machine();
    std::fs::write(work.path().join(".env"), "AWS_ENDPOINT_URL=http://127.0.0.1:1\n").expect(".env");
    let output = basic(home.path(), work.path()).output().await.expect("runs");
    assert_one_line(
        &output,
        &["nothing listens at http://127.0.0.1:1", "AWS_ENDPOINT_URL in ./.env", "cargo run -p sandbox", "remove"],
    );
}

#[tokio::test]
async fn the_target_line_names_a_dot_env_file_the_endpoint_came_from() {
    let (home, work) = machine();
    let data = tempfile::tempdir().expect("data");
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(data.path())).await.expect("sandbox");
    std::fs::write(work.path().join(".env"), format!("AWS_ENDPOINT_URL={}\n", sandbox.url())).expect(".env");
    let output = basic(home.path(), work.path()).output().await.expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let first = text(&output.stdout).lines().next().unwrap_or_default().to_owned();
    assert!(first.contains("(from AWS_ENDPOINT_URL in ./.env"), "{first}");
    assert!(first.contains("Remove the AWS_ENDPOINT_URL line from ./.env"), "{first}");
}

#[tokio::test]
async fn a_dot_env_never_overrides_a_variable_that_is_set() {
    let (home, work) = machine();
    std::fs::write(work.path().join(".env"), "SOS_BUCKET=from-dotenv\n").expect(".env");
    let output = basic(home.path(), work.path()).env("SOS_BUCKET", "from-environment").output().await.expect("runs");
    assert!(text(&output.stdout).contains("3. List all files in from-environment"), "{}", text(&output.stdout));
}

#[tokio::test]
async fn a_dot_env_in_a_parent_directory_is_not_read() {
    let (home, work) = machine();
    std::fs::write(work.path().join(".env"), "AWS_ENDPOINT_URL=http://127.0.0.1:1\n").expect(".env");
    let below = work.path().join("below");
    std::fs::create_dir(&below).expect("dir");
    let output = basic(home.path(), &below).arg("--download-to").arg(home.path()).output().await.expect("runs");
    assert!(output.status.success(), "the parent's .env was read:\n{}", text(&output.stderr));
}

#[tokio::test]
async fn an_endpoint_without_a_scheme_is_refused_with_the_fix() {
    let (home, work) = machine();
    let output =
        basic(home.path(), work.path()).args(["--endpoint-url", "127.0.0.1:4566"]).output().await.expect("runs");
    assert_one_line(&output, &["has no scheme", "http://127.0.0.1:4566", "--endpoint-url"]);
}

#[tokio::test]
async fn a_profile_that_does_not_exist_names_itself_and_the_ones_that_do() {
    let (home, work) = machine();
    let output = basic(home.path(), work.path()).args(["--profile", "sos"]).output().await.expect("runs");
    assert_one_line(&output, &["profile \"sos\"", "--profile", "aws configure --profile sos"]);

    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).expect(".aws");
    std::fs::write(aws.join("config"), "[default]\nregion = us-east-1\n\n[profile sos-data]\nregion = us-east-1\n")
        .expect("config");
    std::fs::write(aws.join("credentials"), "[work]\naws_access_key_id = A\naws_secret_access_key = B\n")
        .expect("credentials");
    let output = basic(home.path(), work.path()).env("AWS_PROFILE", "sos").output().await.expect("runs");
    assert_one_line(&output, &["profile \"sos\"", "AWS_PROFILE", "default, sos-data, work"]);
}

#[tokio::test]
async fn a_key_without_its_secret_says_so() {
    let (home, work) = machine();
    let output = basic(home.path(), work.path()).env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE").output().await.expect("runs");
    assert_one_line(&output, &["AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"]);

    std::fs::write(work.path().join(".env"), "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\n").expect(".env");
    let output = basic(home.path(), work.path()).output().await.expect("runs");
    assert_one_line(&output, &["AWS_ACCESS_KEY_ID is set (in ./.env) but AWS_SECRET_ACCESS_KEY is not"]);
}

#[tokio::test]
async fn a_profile_without_credentials_is_one_line_without_instance_metadata_noise() {
    let (home, work) = machine();
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).expect(".aws");
    std::fs::write(aws.join("config"), "[default]\nregion = us-east-1\n").expect("config");
    // Where no instance-metadata service answers quickly, the SDK would wait for it; point it at
    // a closed port so the test does not depend on the machine's network.
    let output = basic(home.path(), work.path())
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .await
        .expect("runs");
    assert_one_line(&output, &["no AWS credentials for profile default", "aws configure", "--sandbox"]);
}

#[tokio::test]
async fn download_to_a_directory_puts_the_file_inside_it_as_cp_does() {
    let (home, work) = machine();
    let dir = work.path().join("into");
    std::fs::create_dir(&dir).expect("dir");
    let output = basic(home.path(), work.path()).args(["--download-to", "into"]).output().await.expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/Optimization_result.geojson");
    assert_eq!(
        std::fs::read(dir.join("Optimization_result.geojson")).expect("inside the directory"),
        std::fs::read(sample).expect("sample")
    );
    // A trailing slash names a directory that does not exist yet.
    let output = basic(home.path(), work.path()).args(["--download-to", "new/"]).output().await.expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(work.path().join("new/Optimization_result.geojson").is_file());
}

#[tokio::test]
async fn a_closed_stdout_ends_the_program_quietly() {
    let (home, work) = machine();
    let mut child =
        basic(home.path(), work.path()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("runs");
    // Close the pipe before the program prints its first line, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().await.expect("ends");
    let err = text(&output.stderr);
    assert!(output.status.success(), "exit 0 when stdout closes: {:?}\n{err}", output.status);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "quiet: {err}");
}

#[tokio::test]
async fn help_lists_no_mfa_flags_where_mfa_is_not_used() {
    let (home, work) = machine();
    let output = basic(home.path(), work.path()).arg("--help").output().await.expect("runs");
    let help = text(&output.stdout);
    assert!(help.contains("--bucket") && help.contains("--download-to"), "{help}");
    for flag in ["--token-code", "--mfa-serial", "--no-cache"] {
        assert!(!help.contains(flag), "{flag} in basic --help:\n{help}");
    }
}

#[tokio::test]
async fn a_running_sandbox_beyond_loopback_needs_its_own_keys_and_says_so() {
    let (home, work) = machine();
    let data = tempfile::tempdir().expect("data");
    let options = SandboxOptions {
        addr: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        standalone: true,
        ..SandboxOptions::ephemeral(data.path())
    };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let url = format!("http://127.0.0.1:{}", sandbox.addr().port());
    let output = basic(home.path(), work.path()).env("SOS_SANDBOX_URL", &url).output().await.expect("runs");
    assert_one_line(&output, &[&url, "accepts only its own keys", "cargo run -p sandbox -- keys"]);

    // With its keys, the same run works.
    let keys = &sandbox.keys().user;
    let output = basic(home.path(), work.path())
        .env("SOS_SANDBOX_URL", &url)
        .env("SOS_SANDBOX", "true")
        .env("AWS_ACCESS_KEY_ID", &keys.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret_access_key)
        .output()
        .await
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[tokio::test]
async fn a_malformed_dot_env_is_one_warning_line_and_the_example_goes_on() {
    let (home, work) = machine();
    std::fs::write(work.path().join(".env"), "A=1\nB=\"unterminated\nC=3\n").expect(".env");
    let output = basic(home.path(), work.path()).arg("--version").output().await.expect("runs");
    assert!(output.status.success());
    assert_eq!(
        text(&output.stderr),
        "warning: ignoring ./.env: cannot parse the line `B=\"unterminated`; fix or delete it\n",
        "one line"
    );
}
