//! `nomfa` under faults made on demand by the sandbox's chaos rules: with `AWS_MAX_ATTEMPTS=10`, on
//! a service that fails one call in ten (half of them after the work) and drops one connection in
//! twenty, it still finishes with a byte-equal download.

use sandbox::SandboxOptions;
use testkit::{Machine, TestSandbox, describe, flaky_rules};

const SWE: &str = "Missouri Open Loop sample output/SWE 2024-03-01.geojson";

#[tokio::test]
async fn nomfa_finishes_on_a_flaky_service_with_a_byte_equal_download() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { standalone: true, chaos: flaky_rules(), ..o }).await;
    let machine = Machine::new();
    for run in 0..2 {
        let output = machine
            .command(env!("CARGO_BIN_EXE_nomfa"))
            .env("SOS_SANDBOX_URL", sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", machine.home().join("no-embedded-sandbox"))
            .env("AWS_MAX_ATTEMPTS", "10")
            .output()
            .await
            .expect("nomfa runs");
        assert!(output.status.success(), "run {run}\n{}", describe(&output));
        let downloaded = std::fs::read(machine.work().join("SWE 2024-03-01.geojson")).expect("downloaded");
        assert_eq!(downloaded, testkit::sample(SWE), "run {run}");
        std::fs::remove_file(machine.work().join("SWE 2024-03-01.geojson")).expect("remove the download");
    }
}
