//! Interop: boto3 and the aws CLI (pinned in `tests/interop/requirements.txt`) drive the
//! standalone sandbox binary through the S3 calls the original's Python scripts make.
//!
//! `scripts/python-env` makes `<repo>/.venv` on first use (it needs `python3` with venv and pip);
//! the checks themselves are in `tests/interop/*.py` (`s3_boto3.py`: the seed's calls;
//! `s3_rules_boto3.py`: S3's rules, and `s3_versions_boto3.py`: versioning, both also run against
//! moto to record where it differs).
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use testkit::SandboxProcess;

fn workspace_root() -> PathBuf {
    testkit::repo_path("")
}

/// Makes the venv, starts a standalone sandbox with `sandbox_args`, and runs `script URL args…`
/// with the venv's Python and no AWS_* variables; panics with every log on failure.
fn run_python_against_sandbox(script: &str, sandbox_args: &[&str], script_args: &[&Path]) {
    let root = workspace_root();

    let env = Command::new("bash")
        .arg(root.join("scripts/python-env"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("run bash scripts/python-env");
    assert!(env.status.success(), "scripts/python-env failed ({})\n{}", env.status, testkit::describe(&env));
    print!("{}", String::from_utf8_lossy(&env.stdout));

    let temp = tempfile::tempdir().expect("create a temp dir for the sandbox");
    let sandbox = SandboxProcess::start(&temp.path().join("data"), sandbox_args);
    let url = sandbox.url();
    println!("sandbox serving {url}");

    let mut command = Command::new(root.join(".venv/bin/python"));
    command
        .arg(root.join(script))
        .arg(url)
        .args(script_args)
        .current_dir(&root)
        .stdin(Stdio::null())
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    let output = command.output().unwrap_or_else(|err| panic!("run {script} with .venv/bin/python: {err}"));
    assert!(
        output.status.success(),
        "{script} failed ({})\n{}\n{}",
        output.status,
        testkit::describe(&output),
        sandbox.logs()
    );
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn boto3_and_aws_cli_drive_the_standalone_sandbox() {
    let data = workspace_root().join("data");
    run_python_against_sandbox("tests/interop/s3_boto3.py", &[], &[&data]);
}

#[test]
fn boto3_gets_s3s_answers_where_the_sandbox_used_to_differ() {
    run_python_against_sandbox("tests/interop/s3_rules_boto3.py", &[], &[]);
}

#[test]
fn boto3_gets_s3s_answers_for_versions_delete_markers_and_lifecycle() {
    run_python_against_sandbox("tests/interop/s3_versions_boto3.py", &[], &[]);
}

#[test]
fn boto3_runs_the_seeds_mfa_flow_against_an_mfa_required_sandbox() {
    run_python_against_sandbox("tests/interop/sts_boto3.py", &["--require-mfa"], &[]);
}

#[test]
fn boto3_runs_the_seeds_subscriber_logic_on_the_pipeline() {
    run_python_against_sandbox("tests/interop/pubsub_boto3.py", &[], &[]);
}

#[test]
fn boto3_mistakes_get_aws_codes_and_sqs_digests_match_moto() {
    run_python_against_sandbox("tests/interop/mistakes_boto3.py", &[], &[]);
}

#[test]
fn boto3_meets_the_chaos_api_as_localstack_users_know_it() {
    run_python_against_sandbox("tests/interop/chaos_boto3.py", &[], &[]);
}

#[test]
fn boto3_builds_the_pipelines_users_grow_and_gets_aws_outcomes() {
    run_python_against_sandbox("tests/interop/messaging_boto3.py", &[], &[]);
}
