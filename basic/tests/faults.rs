//! `basic` under faults made on demand by the sandbox's chaos rules: the SDK's standard retry
//! settings (`AWS_MAX_ATTEMPTS`, the profile's `max_attempts`) decide how much it rides out, and
//! with enough attempts it finishes with byte-equal results on a service that fails one call in
//! ten and drops one connection in twenty.

use std::process::Output;

use sandbox::chaos::{self, Rule};
use sandbox::{SEED_BUCKET, SandboxOptions};
use testkit::{Machine, SandboxClients as _, TestSandbox, describe as text, flaky_rules};

async fn sandbox_with(rules: Vec<Rule>) -> TestSandbox {
    TestSandbox::with(|o| SandboxOptions { standalone: true, chaos: rules, ..o }).await
}

fn rules(json: &str) -> Vec<Rule> {
    chaos::parse_rules(json.as_bytes()).expect("valid rules")
}

/// `basic` on `machine` with the running `sandbox` and `env`.
async fn basic(sandbox: &TestSandbox, machine: &Machine, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = machine.command(env!("CARGO_BIN_EXE_basic"));
    command
        .args(args)
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("SOS_SANDBOX_DATA_DIR", machine.home().join("no-embedded-sandbox"));
    command.envs(env.iter().copied()).output().await.expect("basic runs")
}

async fn object(sandbox: &TestSandbox, key: &str) -> Vec<u8> {
    let got = sandbox.s3().get_object().bucket(SEED_BUCKET).key(key).send().await.expect("object");
    got.body.collect().await.expect("body").into_bytes().to_vec()
}

const THREE_THROTTLED_LISTINGS: &str =
    r#"[{"service":"s3","operation":"ListBuckets","count":3,"error":{"statusCode":503,"code":"SlowDown"}}]"#;

#[tokio::test]
async fn aws_max_attempts_decides_how_many_throttled_answers_basic_rides_out() {
    let machine = Machine::new();
    let sandbox = sandbox_with(rules(THREE_THROTTLED_LISTINGS)).await;

    // The SDK's default, 3 attempts, meets three SlowDowns and gives up, saying why.
    let output = basic(&sandbox, &machine, &[], &[]).await;
    assert!(!output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SlowDown"), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "all three fired");

    sandbox.chaos().add(rules(THREE_THROTTLED_LISTINGS));
    let output = basic(&sandbox, &machine, &[], &[("AWS_MAX_ATTEMPTS", "4")]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "the fourth attempt passed after three throttled ones");
}

#[tokio::test]
async fn the_profiles_max_attempts_and_retry_mode_are_honoured() {
    let machine = Machine::new();
    let sandbox = sandbox_with(rules(THREE_THROTTLED_LISTINGS)).await;
    let config = machine.home().join("aws-config");
    std::fs::write(
        &config,
        "[default]\naws_access_key_id = test\naws_secret_access_key = test\nregion = us-east-1\n\
         max_attempts = 4\nretry_mode = adaptive\n",
    )
    .expect("write the profile");
    let config = config.to_string_lossy().into_owned();
    let output = basic(&sandbox, &machine, &["--endpoint-url", sandbox.url()], &[("AWS_CONFIG_FILE", &config)]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "the three throttled answers were ridden out");
}

#[tokio::test]
async fn basic_finishes_on_a_flaky_service_with_byte_equal_results() {
    let machine = Machine::new();
    let sandbox = sandbox_with(flaky_rules()).await;
    let sample = testkit::sample("Optimization_result.geojson");
    for run in 0..3 {
        let key = format!("flaky/run-{run}.geojson");
        let download = format!("run-{run}.geojson");
        let output = basic(
            &sandbox,
            &machine,
            &["--upload-key", &key, "--download-to", &download],
            &[("AWS_MAX_ATTEMPTS", "10")],
        )
        .await;
        assert!(output.status.success(), "run {run}: {}", text(&output));
        assert_eq!(std::fs::read(machine.work().join(&download)).expect("downloaded"), sample, "run {run}");
        sandbox.chaos().clear();
        assert_eq!(object(&sandbox, &key).await, sample, "run {run}: the upload");
        sandbox.chaos().add(flaky_rules());
    }
}

#[tokio::test]
async fn the_first_two_get_objects_fail_and_the_download_is_still_whole() {
    let machine = Machine::new();
    let sandbox = sandbox_with(rules(
        r#"[{"service":"s3","operation":"GetObject","count":2,"error":{"statusCode":500,"code":"InternalError"}}]"#,
    ))
    .await;
    let output = basic(&sandbox, &machine, &["--download-to", "out.geojson"], &[]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(sandbox.chaos().rules().is_empty(), "both faults fired");
    assert_eq!(
        std::fs::read(machine.work().join("out.geojson")).expect("downloaded"),
        testkit::sample("Optimization_result.geojson")
    );
}
