//! `mfa` under faults made on demand by the sandbox's chaos rules, the code piped on stdin: with
//! `AWS_MAX_ATTEMPTS=10`, on a sandbox that requires MFA and fails one call in ten (half of them
//! after the work) and drops one connection in twenty, it still authenticates, runs every step and
//! downloads the sample byte for byte.

use std::path::Path;
use std::process::Stdio;

use sandbox::mfa::{DEFAULT_MFA_SECRET, MfaDevice};
use sandbox::{Sandbox, SandboxOptions};
use tokio::io::AsyncWriteExt as _;

/// 10 % errors (500 and 503, half of them after the work) and 5 % closed connections, every service.
const FLAKY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sandbox/chaos/flaky.json");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/Optimization_result.geojson");

#[tokio::test]
async fn mfa_finishes_on_a_flaky_service_with_a_byte_equal_download() {
    let data = tempfile::tempdir().expect("data");
    let flaky = sandbox::chaos::load_rules(Path::new(FLAKY)).expect("the flaky rules");
    let options =
        SandboxOptions { require_mfa: true, standalone: true, chaos: flaky, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa"))
        .current_dir(work.path())
        .env_clear()
        .env("HOME", home.path())
        .env("SOS_CACHE_DIR", home.path().join("cache"))
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("SOS_SANDBOX_DATA_DIR", home.path().join("no-embedded-sandbox"))
        .env("AWS_MAX_ATTEMPTS", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mfa runs");
    let code = MfaDevice::new(DEFAULT_MFA_SECRET).expect("device").current_code();
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(format!("{code}\n").as_bytes()).await.expect("write the code");
    drop(stdin);
    let output = child.wait_with_output().await.expect("mfa ends");
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("7. Receive a message from the queue"), "{out}");
    let downloaded = std::fs::read(work.path().join("Optimization_result.geojson")).expect("downloaded");
    assert_eq!(downloaded, std::fs::read(SAMPLE).expect("sample"));
}
