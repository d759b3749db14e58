//! `setup` under faults made on demand by the sandbox's chaos rules: with `AWS_MAX_ATTEMPTS=10`, on
//! a service that fails one call in ten (half of them after doing the work, so a CreateQueue,
//! CreateBucket or Subscribe is sometimes done twice) and drops one connection in twenty, an empty
//! sandbox still becomes the pipeline, and a second run still finds nothing to change.

use std::path::Path;
use std::process::Output;

use sandbox::{Sandbox, SandboxOptions};

/// 10 % errors (500 and 503, half of them after the work) and 5 % closed connections, every service.
const FLAKY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sandbox/chaos/flaky.json");

async fn setup(sandbox: &Sandbox, work: &Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_setup"))
        .args(["--endpoint-url", sandbox.url()])
        .current_dir(work)
        .env_clear()
        .env("HOME", work)
        .env("SOS_SANDBOX_URL", "http://127.0.0.1:1")
        .env("SOS_SANDBOX_DATA_DIR", work.join("no-embedded-sandbox"))
        .env("AWS_MAX_ATTEMPTS", "10")
        .kill_on_drop(true)
        .output()
        .await
        .expect("setup runs")
}

fn text(output: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_makes_the_pipeline_on_a_flaky_service_and_a_second_run_has_nothing_to_change() {
    let data = tempfile::tempdir().expect("data");
    let flaky = sandbox::chaos::load_rules(Path::new(FLAKY)).expect("the flaky rules");
    let options = SandboxOptions { seed: false, chaos: flaky, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let work = tempfile::tempdir().expect("work");

    let first = setup(&sandbox, work.path()).await;
    assert!(first.status.success(), "{}", text(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("7. Done: 8 changes."), "{}", text(&first));

    let second = setup(&sandbox, work.path()).await;
    assert!(second.status.success(), "{}", text(&second));
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.contains("7. Nothing to change: everything was already in place."), "{}", text(&second));
}
