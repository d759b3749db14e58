//! Interop: boto3 and the aws CLI (pinned in `tests/interop/requirements.txt`) drive the
//! standalone sandbox binary through the S3 calls the seed's Python scripts make.
//!
//! `scripts/python-env` makes `<repo>/.venv` on first use (it needs `python3` with venv and pip);
//! the checks themselves are in `tests/interop/*.py` (`s3_boto3.py`: the seed's calls;
//! `s3_rules_boto3.py`: S3's rules, also run against moto to record where it differs).
#![cfg(unix)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the sandbox may take to write its URL file.
const START_DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the sandbox crate lives inside the workspace").to_path_buf()
}

/// The standalone sandbox process; killed (and reaped) when dropped, whatever the test did.
struct SandboxProcess {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl SandboxProcess {
    fn start(data_dir: &Path, log_dir: &Path, extra_args: &[&str]) -> Self {
        let stdout = log_dir.join("sandbox.stdout");
        let stderr = log_dir.join("sandbox.stderr");
        // Files, not pipes: nobody reads a pipe while the test runs, and a full one would stall it.
        let child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
            .arg("--port")
            .arg("0")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .env_remove("SOS_SANDBOX_HOST")
            .env_remove("SOS_SANDBOX_PORT")
            .env_remove("SOS_SANDBOX_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create the sandbox's stdout log"))
            .stderr(File::create(&stderr).expect("create the sandbox's stderr log"))
            .spawn()
            .expect("start the sandbox binary");
        Self { child, stdout, stderr }
    }

    /// Waits for `<data dir>/.sandbox.url`, which the sandbox writes (by rename) once it listens.
    fn wait_for_url(&mut self, data_dir: &Path) -> String {
        let url_file = data_dir.join(".sandbox.url");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&url_file) {
                let url = text.trim();
                if !url.is_empty() {
                    return url.to_owned();
                }
            }
            if let Some(status) = self.child.try_wait().expect("check whether the sandbox is running") {
                panic!("the sandbox exited ({status}) before writing {}\n{}", url_file.display(), self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "the sandbox wrote no {} within {START_DEADLINE:?}\n{}",
                url_file.display(),
                self.logs()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn logs(&self) -> String {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_else(|err| format!("({err})"));
        format!("--- sandbox stdout ---\n{}\n--- sandbox stderr ---\n{}", read(&self.stdout), read(&self.stderr))
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn output_text(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
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
    assert!(env.status.success(), "scripts/python-env failed ({})\n{}", env.status, output_text(&env));
    print!("{}", String::from_utf8_lossy(&env.stdout));

    let temp = tempfile::tempdir().expect("create a temp dir for the sandbox");
    let data_dir = temp.path().join("data");
    let mut sandbox = SandboxProcess::start(&data_dir, temp.path(), sandbox_args);
    let url = sandbox.wait_for_url(&data_dir);
    println!("sandbox serving {url}");

    let mut command = Command::new(root.join(".venv/bin/python"));
    command
        .arg(root.join(script))
        .arg(&url)
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
        output_text(&output),
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
