//! `nomfa` under faults made on demand by the sandbox's chaos rules: with `AWS_MAX_ATTEMPTS=10`, on
//! a service that fails one call in ten (half of them after the work) and drops one connection in
//! twenty, it still finishes with a byte-equal download.

use std::path::Path;

use sandbox::{Sandbox, SandboxOptions};

/// 10 % errors (500 and 503, half of them after the work) and 5 % closed connections, every service.
const FLAKY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sandbox/chaos/flaky.json");
const SWE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/Missouri Open Loop sample output/SWE 2024-03-01.geojson");

#[tokio::test]
async fn nomfa_finishes_on_a_flaky_service_with_a_byte_equal_download() {
    let data = tempfile::tempdir().expect("data");
    let flaky = sandbox::chaos::load_rules(Path::new(FLAKY)).expect("the flaky rules");
    let options = SandboxOptions { standalone: true, chaos: flaky, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    for run in 0..2 {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_nomfa"))
            .current_dir(work.path())
            .env_clear()
            .env("HOME", home.path())
            .env("SOS_SANDBOX_URL", sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", home.path().join("no-embedded-sandbox"))
            .env("AWS_MAX_ATTEMPTS", "10")
            .output()
            .await
            .expect("nomfa runs");
        assert!(
            output.status.success(),
            "run {run}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let downloaded = std::fs::read(work.path().join("SWE 2024-03-01.geojson")).expect("downloaded");
        assert_eq!(downloaded, std::fs::read(SWE).expect("sample"), "run {run}");
        std::fs::remove_file(work.path().join("SWE 2024-03-01.geojson")).expect("remove the download");
    }
}
