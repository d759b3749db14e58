//! `setup` under faults made on demand by the sandbox's chaos rules: with `AWS_MAX_ATTEMPTS=10`, on
//! a service that fails one call in ten (half of them after doing the work, so a CreateQueue,
//! CreateBucket or Subscribe is sometimes done twice) and drops one connection in twenty, an empty
//! sandbox still becomes the pipeline, and a second run still finds nothing to change.

use std::process::Output;

use sandbox::SandboxOptions;
use testkit::{Machine, TestSandbox, describe as text, flaky_rules};

/// `setup` on `machine` against `sandbox`, riding out the faults with up to 10 attempts.
async fn setup(sandbox: &TestSandbox, machine: &Machine) -> Output {
    machine
        .command(env!("CARGO_BIN_EXE_setup"))
        .args(["--endpoint-url", sandbox.url()])
        .env("AWS_MAX_ATTEMPTS", "10")
        .output()
        .await
        .expect("setup runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_makes_the_pipeline_on_a_flaky_service_and_a_second_run_has_nothing_to_change() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { seed: false, chaos: flaky_rules(), ..o }).await;
    let machine = Machine::new();

    let first = setup(&sandbox, &machine).await;
    assert!(first.status.success(), "{}", text(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("7. Done: 10 changes."), "{}", text(&first));

    let second = setup(&sandbox, &machine).await;
    assert!(second.status.success(), "{}", text(&second));
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.contains("7. Nothing to change: everything was already in place."), "{}", text(&second));
}
