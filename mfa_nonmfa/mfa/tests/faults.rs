//! `mfa` under faults made on demand by the sandbox's chaos rules, the code piped on stdin: with
//! `AWS_MAX_ATTEMPTS=10`, on a sandbox that requires MFA and fails one call in ten (half of them
//! after the work) and drops one connection in twenty, it still authenticates, runs every step and
//! downloads the sample byte for byte.

use sandbox::SandboxOptions;
use testkit::{Machine, TestSandbox, flaky_rules, output_with_stdin, stderr, stdout};

#[tokio::test]
async fn mfa_finishes_on_a_flaky_service_with_a_byte_equal_download() {
    let sandbox =
        TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, chaos: flaky_rules(), ..o }).await;
    let machine = Machine::new();
    let mut command = machine.command(env!("CARGO_BIN_EXE_mfa"));
    command
        .env("SOS_CACHE_DIR", machine.home().join("cache"))
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("SOS_SANDBOX_DATA_DIR", machine.home().join("no-embedded-sandbox"))
        .env("AWS_MAX_ATTEMPTS", "10");
    let output = output_with_stdin(command, &format!("{}\n", testkit::mfa_code())).await;
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("7. Receive a message from the queue"), "{out}");
    let downloaded = std::fs::read(machine.work().join("Optimization_result.geojson")).expect("downloaded");
    assert_eq!(downloaded, testkit::sample("Optimization_result.geojson"));
}
