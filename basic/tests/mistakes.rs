//! The mistakes a newcomer makes, run as they would be: the built binary, an empty home, no AWS
//! settings but the ones under test. Each ends with a non-zero exit and one line on stderr that
//! names the cause and the fix — no Debug dump, no instance-metadata noise.

use std::process::Stdio;

use testkit::{Machine, TestSandbox, assert_one_line_failure, stderr, stdout};
use tokio::process::Command;

/// `basic` on `machine`, with no sandbox to find.
fn basic(machine: &Machine) -> Command {
    machine.command(env!("CARGO_BIN_EXE_basic"))
}

#[tokio::test]
async fn an_endpoint_left_in_dot_env_with_nothing_listening_names_the_file() {
    let machine = Machine::new();
    std::fs::write(machine.work().join(".env"), "AWS_ENDPOINT_URL=http://127.0.0.1:1\n").expect(".env");
    let output = basic(&machine).output().await.expect("runs");
    assert_one_line_failure(
        &output,
        &["nothing listens at http://127.0.0.1:1", "AWS_ENDPOINT_URL in ./.env", "cargo run -p sandbox", "remove"],
    );
}

#[tokio::test]
async fn the_target_line_names_a_dot_env_file_the_endpoint_came_from() {
    let machine = Machine::new();
    let sandbox = TestSandbox::start().await;
    std::fs::write(machine.work().join(".env"), format!("AWS_ENDPOINT_URL={}\n", sandbox.url())).expect(".env");
    let output = basic(&machine).output().await.expect("runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let first = stdout(&output).lines().next().unwrap_or_default().to_owned();
    assert!(first.contains("(from AWS_ENDPOINT_URL in ./.env"), "{first}");
    assert!(first.contains("Remove the AWS_ENDPOINT_URL line from ./.env"), "{first}");
}

#[tokio::test]
async fn a_dot_env_never_overrides_a_variable_that_is_set() {
    let machine = Machine::new();
    std::fs::write(machine.work().join(".env"), "SOS_BUCKET=from-dotenv\n").expect(".env");
    let output = basic(&machine).env("SOS_BUCKET", "from-environment").output().await.expect("runs");
    assert!(stdout(&output).contains("3. List all files in from-environment"), "{}", stdout(&output));
}

#[tokio::test]
async fn a_dot_env_in_a_parent_directory_is_not_read() {
    let machine = Machine::new();
    std::fs::write(machine.work().join(".env"), "AWS_ENDPOINT_URL=http://127.0.0.1:1\n").expect(".env");
    let below = machine.work().join("below");
    std::fs::create_dir(&below).expect("dir");
    let output =
        basic(&machine).current_dir(&below).arg("--download-to").arg(machine.home()).output().await.expect("runs");
    assert!(output.status.success(), "the parent's .env was read:\n{}", stderr(&output));
}

#[tokio::test]
async fn an_endpoint_without_a_scheme_is_refused_with_the_fix() {
    let machine = Machine::new();
    let output = basic(&machine).args(["--endpoint-url", "127.0.0.1:4566"]).output().await.expect("runs");
    assert_one_line_failure(&output, &["has no scheme", "http://127.0.0.1:4566", "--endpoint-url"]);
}

#[tokio::test]
async fn a_profile_that_does_not_exist_names_itself_and_the_ones_that_do() {
    let machine = Machine::new();
    let output = basic(&machine).args(["--profile", "sos"]).output().await.expect("runs");
    assert_one_line_failure(&output, &["profile \"sos\"", "--profile", "aws configure --profile sos"]);

    let aws = machine.home().join(".aws");
    std::fs::create_dir(&aws).expect(".aws");
    std::fs::write(aws.join("config"), "[default]\nregion = us-east-1\n\n[profile sos-data]\nregion = us-east-1\n")
        .expect("config");
    std::fs::write(aws.join("credentials"), "[work]\naws_access_key_id = A\naws_secret_access_key = B\n")
        .expect("credentials");
    let output = basic(&machine).env("AWS_PROFILE", "sos").output().await.expect("runs");
    assert_one_line_failure(&output, &["profile \"sos\"", "AWS_PROFILE", "default, sos-data, work"]);
}

#[tokio::test]
async fn a_key_without_its_secret_says_so() {
    let machine = Machine::new();
    let output = basic(&machine).env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE").output().await.expect("runs");
    assert_one_line_failure(&output, &["AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"]);

    std::fs::write(machine.work().join(".env"), "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\n").expect(".env");
    let output = basic(&machine).output().await.expect("runs");
    assert_one_line_failure(&output, &["AWS_ACCESS_KEY_ID is set (in ./.env) but AWS_SECRET_ACCESS_KEY is not"]);
}

#[tokio::test]
async fn a_profile_without_credentials_is_one_line_without_instance_metadata_noise() {
    let machine = Machine::new();
    let aws = machine.home().join(".aws");
    std::fs::create_dir(&aws).expect(".aws");
    std::fs::write(aws.join("config"), "[default]\nregion = us-east-1\n").expect("config");
    // Where no instance-metadata service answers quickly, the SDK would wait for it; point it at
    // a closed port so the test does not depend on the machine's network.
    let output =
        basic(&machine).env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1").output().await.expect("runs");
    assert_one_line_failure(&output, &["no AWS credentials for profile default", "aws configure", "--sandbox"]);
}

#[tokio::test]
async fn download_to_a_directory_puts_the_file_inside_it_as_cp_does() {
    let machine = Machine::new();
    let dir = machine.work().join("into");
    std::fs::create_dir(&dir).expect("dir");
    let output = basic(&machine).args(["--download-to", "into"]).output().await.expect("runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/Optimization_result.geojson");
    assert_eq!(
        std::fs::read(dir.join("Optimization_result.geojson")).expect("inside the directory"),
        std::fs::read(sample).expect("sample")
    );
    // A trailing slash names a directory that does not exist yet.
    let output = basic(&machine).args(["--download-to", "new/"]).output().await.expect("runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(machine.work().join("new/Optimization_result.geojson").is_file());
}

#[tokio::test]
async fn a_closed_stdout_ends_the_program_quietly() {
    let machine = Machine::new();
    let mut child = basic(&machine).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("runs");
    // Close the pipe before the program prints its first line, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().await.expect("ends");
    let err = stderr(&output);
    assert!(output.status.success(), "exit 0 when stdout closes: {:?}\n{err}", output.status);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "quiet: {err}");
}

#[tokio::test]
async fn help_lists_no_mfa_flags_where_mfa_is_not_used() {
    let machine = Machine::new();
    let output = basic(&machine).arg("--help").output().await.expect("runs");
    let help = stdout(&output);
    assert!(help.contains("--bucket") && help.contains("--download-to"), "{help}");
    for flag in ["--token-code", "--mfa-serial", "--no-cache"] {
        assert!(!help.contains(flag), "{flag} in basic --help:\n{help}");
    }
}
