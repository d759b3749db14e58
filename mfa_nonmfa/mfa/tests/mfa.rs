//! `mfa` run as a user runs it, non-interactively: the code piped on stdin, against a sandbox
//! that requires MFA.

use std::path::PathBuf;
use std::process::{Output, Stdio};

use sandbox::mfa::{DEFAULT_MFA_SECRET, MfaDevice};
use sandbox::{Sandbox, SandboxOptions};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

const PROMPT: &str = "Please enter your 6 digit MFA code:";

struct Machine {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    sandbox: Sandbox,
    data: tempfile::TempDir,
}

impl Machine {
    async fn new() -> Self {
        let data = tempfile::tempdir().expect("data");
        let options = SandboxOptions { require_mfa: true, standalone: true, ..SandboxOptions::ephemeral(data.path()) };
        let sandbox = Sandbox::start(options).await.expect("sandbox");
        Self { home: tempfile::tempdir().expect("home"), work: tempfile::tempdir().expect("work"), sandbox, data }
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    async fn mfa(&self, stdin: &str, args: &[&str]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mfa"))
            .args(args)
            .current_dir(self.work.path())
            .env_clear()
            .env("HOME", self.home.path())
            .env("SOS_CACHE_DIR", self.cache_dir())
            .env("SOS_SANDBOX_URL", self.sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", self.home.path().join("no-embedded-sandbox"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mfa runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).await.expect("write stdin");
        drop(input);
        child.wait_with_output().await.expect("mfa ends")
    }

    fn cache_files(&self) -> Vec<PathBuf> {
        let dir = self.cache_dir().join("sessions");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect()
    }
}

fn code() -> String {
    MfaDevice::new(DEFAULT_MFA_SECRET).expect("device").current_code()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr));
}

#[tokio::test]
async fn a_piped_code_runs_every_step_caches_0600_and_the_next_run_does_not_ask() {
    let machine = Machine::new().await;
    let first = machine.mfa(&format!("{}\n", code()), &[]).await;
    assert_success(&first);
    let out = text(&first.stdout);
    for section in [
        "1. Authenticate with MFA",
        "MFA device: arn:aws:iam::000000000000:mfa/sandbox",
        "2. List all buckets",
        "3. List all files in snow-observing-systems",
        "4. Read the contents of Optimization_result.geojson",
        "5. Download",
        "6. Upload",
        "7. Receive a message from the queue",
    ] {
        assert!(out.contains(section), "missing {section:?}:\n{out}");
    }
    // Step 6's upload went through S3 → notifier → SNS → SQS: step 7 reads its announcement.
    assert!(
        out.lines()
            .any(|l| l.starts_with("Message ") && l.contains(r#"\"key\":\"uploads/mfa/Optimization_result.geojson\""#)),
        "step 7 receives the announcement of step 6's upload:\n{out}"
    );
    assert!(text(&first.stderr).contains(PROMPT), "the first run asks");
    let sample =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/Optimization_result.geojson")).expect("sample");
    assert_eq!(std::fs::read(machine.work.path().join("Optimization_result.geojson")).expect("downloaded"), sample);

    let files = machine.cache_files();
    assert_eq!(files.len(), 1, "one cache entry: {files:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&files[0]).expect("cache").permissions().mode() & 0o777, 0o600);
    }
    let cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("JSON");
    let token = cached["session_token"].as_str().expect("token");
    let secret = cached["secret_access_key"].as_str().expect("secret");
    for stream in [&first.stdout, &first.stderr] {
        let shown = text(stream);
        assert!(!shown.contains(token) && !shown.contains(secret), "no secret is printed");
    }

    let second = machine.mfa("", &[]).await;
    assert_success(&second);
    assert!(!text(&second.stderr).contains(PROMPT), "the second run does not ask:\n{}", text(&second.stderr));
    assert!(text(&second.stdout).contains("Using the cached MFA session"));
}

#[tokio::test]
async fn a_wrong_code_fails_with_one_line_and_caches_nothing() {
    let machine = Machine::new().await;
    let wrong = format!("{:06}\n", (code().parse::<u32>().expect("digits") + 3) % 1_000_000);
    let output = machine.mfa(&wrong, &[]).await;
    assert!(!output.status.success());
    let errors: Vec<String> =
        text(&output.stderr).lines().filter(|l| l.starts_with("Error:")).map(str::to_owned).collect();
    assert_eq!(errors.len(), 1, "{}", text(&output.stderr));
    assert!(errors[0].contains("MFA"), "{}", errors[0]);
    assert_eq!(text(&output.stderr).lines().filter(|l| !l.starts_with(PROMPT)).count(), 1, "only the error line");
    assert!(machine.cache_files().is_empty(), "nothing cached after a failure");

    let malformed = machine.mfa("12a456\n", &["--no-cache"]).await;
    assert!(!malformed.status.success());
    assert!(text(&malformed.stderr).contains("must be exactly 6 digits"), "{}", text(&malformed.stderr));
}

#[tokio::test]
async fn a_cache_entry_near_expiry_is_not_used() {
    let machine = Machine::new().await;
    assert_success(&machine.mfa(&format!("{}\n", code()), &[]).await);
    let file = machine.cache_files().pop().expect("cached");
    let mut cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JSON");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    cached["expires_at"] = serde_json::json!(now + 60); // inside the 5-minute margin
    std::fs::write(&file, serde_json::to_vec(&cached).expect("JSON")).expect("write");

    let again = machine.mfa(&format!("{}\n", code()), &[]).await;
    assert_success(&again);
    assert!(text(&again.stderr).contains(PROMPT), "asks again");
    assert!(!text(&again.stdout).contains("Using the cached MFA session"));
}

#[tokio::test]
async fn no_cache_always_asks_and_writes_nothing() {
    let machine = Machine::new().await;
    let output = machine.mfa(&format!("{}\n", code()), &["--no-cache"]).await;
    assert_success(&output);
    assert!(machine.cache_files().is_empty());
}

#[tokio::test]
async fn verbose_logs_show_no_secret_or_session_token() {
    let machine = Machine::new().await;
    let output = machine.mfa(&format!("{}\n", code()), &["--no-cache", "-vv"]).await;
    assert_success(&output);
    let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(shown.lines().count() > 20, "-vv logs something");
    let sessions = sandbox::identity::stored_sessions(machine.data.path()).expect("sessions");
    assert!(!sessions.is_empty());
    for session in sessions {
        assert!(!shown.contains(&session.secret_access_key), "the secret access key appears in the output");
        assert!(!shown.contains(&session.session_token), "the session token appears in the output");
    }
}

#[tokio::test]
async fn a_code_typed_as_authenticator_apps_show_it_is_accepted() {
    let machine = Machine::new().await;
    let code = code();
    let spaced = format!("{} {}\n", &code[..3], &code[3..]);
    assert_success(&machine.mfa(&spaced, &["--no-cache"]).await);
    let dashed = format!("{}-{}", &code[..3], &code[3..]);
    assert_success(&machine.mfa("", &["--no-cache", "--token-code", &dashed]).await);
}

/// `command` run under a pseudo-terminal by util-linux `script`, with `input` typed into it.
/// `None` where `script` is missing.
async fn on_a_terminal(command: &str, envs: &[(&str, &str)], cwd: &std::path::Path, input: &str) -> Option<Output> {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return None;
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", command, "/dev/null"]).current_dir(cwd).env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("type");
    // Keep the terminal open until the program ends: closing it early would hang up on it.
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("ends in time")
        .expect("output");
    drop(stdin);
    Some(output)
}

#[tokio::test]
async fn on_a_terminal_a_malformed_or_refused_code_asks_again() {
    let machine = Machine::new().await;
    let wrong = format!("{:06}", (code().parse::<u32>().expect("digits") + 3) % 1_000_000);
    let home = machine.home.path().to_string_lossy().into_owned();
    let cache = machine.cache_dir().to_string_lossy().into_owned();
    let no_embedded = machine.home.path().join("no-embedded-sandbox").to_string_lossy().into_owned();
    let envs = [
        ("HOME", home.as_str()),
        ("SOS_CACHE_DIR", cache.as_str()),
        ("SOS_SANDBOX_URL", machine.sandbox.url()),
        ("SOS_SANDBOX_DATA_DIR", no_embedded.as_str()),
    ];
    let command = format!("'{}' --no-cache", env!("CARGO_BIN_EXE_mfa"));
    let input = format!("12a456\n{wrong}\n{}\n", code());
    let Some(output) = on_a_terminal(&command, &envs, machine.work.path(), &input).await else { return };
    let shown = text(&output.stdout);
    assert!(output.status.success(), "{shown}\n{}", text(&output.stderr));
    assert_eq!(shown.matches(PROMPT).count(), 3, "asked three times:\n{shown}");
    assert!(shown.contains("must be exactly 6 digits") && shown.contains("try again (2 tries left)"), "{shown}");
    assert!(shown.contains("That code was refused") && shown.contains("(1 try left)"), "{shown}");
    assert!(shown.contains("7. Receive a message from the queue"), "{shown}");
}
