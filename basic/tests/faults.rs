//! `basic` under faults made on demand by the sandbox's chaos rules: the SDK's standard retry
//! settings (`AWS_MAX_ATTEMPTS`, the profile's `max_attempts`) decide how much it rides out, and
//! with enough attempts it finishes with byte-equal results on a service that fails one call in
//! ten and drops one connection in twenty.

use std::path::Path;
use std::process::Output;

use sandbox::chaos::{self, Rule};
use sandbox::{SEED_BUCKET, Sandbox, SandboxOptions};
use tokio::process::Command;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/Optimization_result.geojson");
/// 10 % errors (500 and 503, half of them after the work) and 5 % closed connections, every service.
const FLAKY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sandbox/chaos/flaky.json");

async fn sandbox_with(data: &Path, rules: Vec<Rule>) -> Sandbox {
    let options = SandboxOptions { standalone: true, chaos: rules, ..SandboxOptions::ephemeral(data) };
    Sandbox::start(options).await.expect("sandbox")
}

fn rules(json: &str) -> Vec<Rule> {
    chaos::parse_rules(json.as_bytes()).expect("valid rules")
}

/// `basic` on a clean machine (`home`, `work`) with the running `sandbox` and `env`.
async fn basic(sandbox: &Sandbox, home: &Path, work: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_basic"));
    cmd.args(args)
        .current_dir(work)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("SOS_SANDBOX_DATA_DIR", home.join("no-embedded-sandbox"));
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().await.expect("basic runs")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn s3(sandbox: &Sandbox) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(sandbox::REGION))
        .endpoint_url(sandbox.url())
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn object(sandbox: &Sandbox, key: &str) -> Vec<u8> {
    let got = s3(sandbox).get_object().bucket(SEED_BUCKET).key(key).send().await.expect("object");
    got.body.collect().await.expect("body").into_bytes().to_vec()
}

const THREE_THROTTLED_LISTINGS: &str =
    r#"[{"service":"s3","operation":"ListBuckets","count":3,"error":{"statusCode":503,"code":"SlowDown"}}]"#;

#[tokio::test]
async fn aws_max_attempts_decides_how_many_throttled_answers_basic_rides_out() {
    let (data, home, work) =
        (tempfile::tempdir().expect("data"), tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let sandbox = sandbox_with(data.path(), rules(THREE_THROTTLED_LISTINGS)).await;

    // The SDK's default, 3 attempts, meets three SlowDowns and gives up, saying why.
    let output = basic(&sandbox, home.path(), work.path(), &[], &[]).await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SlowDown"), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "all three fired");

    sandbox.chaos().add(rules(THREE_THROTTLED_LISTINGS));
    let output = basic(&sandbox, home.path(), work.path(), &[], &[("AWS_MAX_ATTEMPTS", "4")]).await;
    assert!(output.status.success(), "{}", text(&output));
}

#[tokio::test]
async fn the_profiles_max_attempts_and_retry_mode_are_honoured() {
    let (data, home, work) =
        (tempfile::tempdir().expect("data"), tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let sandbox = sandbox_with(data.path(), rules(THREE_THROTTLED_LISTINGS)).await;
    let config = home.path().join("aws-config");
    std::fs::write(
        &config,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test\nregion = us-east-1\n\
         max_attempts = 4\nretry_mode = adaptive\n",
    )
    .expect("write the profile");
    let config = config.to_string_lossy().into_owned();
    let output =
        basic(&sandbox, home.path(), work.path(), &["--endpoint-url", sandbox.url()], &[("AWS_CONFIG_FILE", &config)])
            .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "the three throttled answers were ridden out");
}

#[tokio::test]
async fn basic_finishes_on_a_flaky_service_with_byte_equal_results() {
    let (data, home, work) =
        (tempfile::tempdir().expect("data"), tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let flaky = chaos::load_rules(Path::new(FLAKY)).expect("the flaky rules");
    let sandbox = sandbox_with(data.path(), flaky).await;
    let sample = std::fs::read(SAMPLE).expect("sample");
    for run in 0..3 {
        let key = format!("flaky/run-{run}.geojson");
        let download = format!("run-{run}.geojson");
        let output = basic(
            &sandbox,
            home.path(),
            work.path(),
            &["--upload-key", &key, "--download-to", &download],
            &[("AWS_MAX_ATTEMPTS", "10")],
        )
        .await;
        assert!(output.status.success(), "run {run}: {}", text(&output));
        assert_eq!(std::fs::read(work.path().join(&download)).expect("downloaded"), sample, "run {run}");
        sandbox.chaos().clear();
        assert_eq!(object(&sandbox, &key).await, sample, "run {run}: the upload");
        sandbox.chaos().add(chaos::load_rules(Path::new(FLAKY)).expect("the flaky rules"));
    }
}

#[tokio::test]
async fn the_first_two_get_objects_fail_and_the_download_is_still_whole() {
    let (data, home, work) =
        (tempfile::tempdir().expect("data"), tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let sandbox = sandbox_with(
        data.path(),
        rules(
            r#"[{"service":"s3","operation":"GetObject","count":2,"error":{"statusCode":500,"code":"InternalError"}}]"#,
        ),
    )
    .await;
    let output = basic(&sandbox, home.path(), work.path(), &["--download-to", "out.geojson"], &[]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "both faults fired");
    assert_eq!(
        std::fs::read(work.path().join("out.geojson")).expect("downloaded"),
        std::fs::read(SAMPLE).expect("sample")
    );
}
