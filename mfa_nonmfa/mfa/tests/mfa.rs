//! `mfa` run as a user runs it, non-interactively: the code piped on stdin, against a sandbox
//! that requires MFA.

use std::path::PathBuf;
use std::process::{Output, Stdio};

use sandbox::SandboxOptions;
use testkit::{Machine, TestSandbox, assert_success, mfa_code as code, output_with_stdin, stderr, stdout};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

const PROMPT: &str = "Please enter your 6 digit MFA code:";

/// A user's machine and a sandbox that requires MFA.
struct World {
    machine: Machine,
    sandbox: TestSandbox,
}

impl World {
    async fn new() -> Self {
        let sandbox = TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, ..o }).await;
        Self { machine: Machine::new(), sandbox }
    }

    fn cache_dir(&self) -> PathBuf {
        self.machine.home().join("cache")
    }

    /// `mfa ARGS…` with `stdin` on its standard input.
    async fn mfa(&self, stdin: &str, args: &[&str]) -> Output {
        let mut command = self.machine.command(env!("CARGO_BIN_EXE_mfa"));
        command
            .args(args)
            .env("SOS_CACHE_DIR", self.cache_dir())
            .env("SOS_SANDBOX_URL", self.sandbox.url())
            .env("SOS_SANDBOX_DATA_DIR", self.machine.home().join("no-embedded-sandbox"));
        output_with_stdin(command, stdin).await
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

#[tokio::test]
async fn a_piped_code_runs_every_step_caches_0600_and_the_next_run_does_not_ask() {
    let world = World::new().await;
    let first = world.mfa(&format!("{}\n", code()), &[]).await;
    assert_success(&first);
    let out = stdout(&first);
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
    assert!(stderr(&first).contains(PROMPT), "the first run asks");
    let sample = testkit::sample("Optimization_result.geojson");
    assert_eq!(std::fs::read(world.machine.work().join("Optimization_result.geojson")).expect("downloaded"), sample);

    let files = world.cache_files();
    assert_eq!(files.len(), 1, "one cache entry: {files:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&files[0]).expect("cache").permissions().mode() & 0o777, 0o600);
    }
    let cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("JSON");
    let token = cached["session_token"].as_str().expect("token");
    let secret = cached["secret_access_key"].as_str().expect("secret");
    for shown in [stdout(&first), stderr(&first)] {
        assert!(!shown.contains(token) && !shown.contains(secret), "no secret is printed");
    }

    let second = world.mfa("", &[]).await;
    assert_success(&second);
    assert!(!stderr(&second).contains(PROMPT), "the second run does not ask:\n{}", stderr(&second));
    assert!(stdout(&second).contains("Using the cached MFA session"));
}

#[tokio::test]
async fn a_wrong_code_fails_with_one_line_and_caches_nothing() {
    let world = World::new().await;
    let wrong = format!("{:06}\n", (code().parse::<u32>().expect("digits") + 3) % 1_000_000);
    let output = world.mfa(&wrong, &[]).await;
    assert!(!output.status.success());
    let errors: Vec<String> = stderr(&output).lines().filter(|l| l.starts_with("Error:")).map(str::to_owned).collect();
    assert_eq!(errors.len(), 1, "{}", stderr(&output));
    assert!(errors[0].contains("MFA"), "{}", errors[0]);
    assert_eq!(stderr(&output).lines().filter(|l| !l.starts_with(PROMPT)).count(), 1, "only the error line");
    assert!(world.cache_files().is_empty(), "nothing cached after a failure");

    let malformed = world.mfa("12a456\n", &["--no-cache"]).await;
    assert!(!malformed.status.success());
    assert!(stderr(&malformed).contains("must be exactly 6 digits"), "{}", stderr(&malformed));
}

#[tokio::test]
async fn a_cache_entry_near_expiry_is_not_used() {
    let world = World::new().await;
    assert_success(&world.mfa(&format!("{}\n", code()), &[]).await);
    let file = world.cache_files().pop().expect("cached");
    let mut cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("JSON");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    cached["expires_at"] = serde_json::json!(now + 60); // inside the 5-minute margin
    std::fs::write(&file, serde_json::to_vec(&cached).expect("JSON")).expect("write");

    let again = world.mfa(&format!("{}\n", code()), &[]).await;
    assert_success(&again);
    assert!(stderr(&again).contains(PROMPT), "asks again");
    assert!(!stdout(&again).contains("Using the cached MFA session"));
}

#[tokio::test]
async fn no_cache_always_asks_and_writes_nothing() {
    let world = World::new().await;
    let output = world.mfa(&format!("{}\n", code()), &["--no-cache"]).await;
    assert_success(&output);
    assert!(world.cache_files().is_empty());
}

#[tokio::test]
async fn verbose_logs_show_no_secret_or_session_token() {
    let world = World::new().await;
    let output = world.mfa(&format!("{}\n", code()), &["--no-cache", "-vv"]).await;
    assert_success(&output);
    let shown = format!("{}{}", stdout(&output), stderr(&output));
    assert!(shown.lines().count() > 20, "-vv logs something");
    let sessions = sandbox::identity::stored_sessions(world.sandbox.data_path()).expect("sessions");
    assert!(!sessions.is_empty());
    for session in sessions {
        assert!(!shown.contains(&session.secret_access_key), "the secret access key appears in the output");
        assert!(!shown.contains(&session.session_token), "the session token appears in the output");
    }
}

#[tokio::test]
async fn a_code_typed_as_authenticator_apps_show_it_is_accepted() {
    let world = World::new().await;
    let code = code();
    let spaced = format!("{} {}\n", &code[..3], &code[3..]);
    assert_success(&world.mfa(&spaced, &["--no-cache"]).await);
    let dashed = format!("{}-{}", &code[..3], &code[3..]);
    assert_success(&world.mfa("", &["--no-cache", "--token-code", &dashed]).await);
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
    let world = World::new().await;
    let wrong = format!("{:06}", (code().parse::<u32>().expect("digits") + 3) % 1_000_000);
    let home = world.machine.home().to_string_lossy().into_owned();
    let cache = world.cache_dir().to_string_lossy().into_owned();
    let no_embedded = world.machine.home().join("no-embedded-sandbox").to_string_lossy().into_owned();
    let envs = [
        ("HOME", home.as_str()),
        ("SOS_CACHE_DIR", cache.as_str()),
        ("SOS_SANDBOX_URL", world.sandbox.url()),
        ("SOS_SANDBOX_DATA_DIR", no_embedded.as_str()),
    ];
    let command = format!("'{}' --no-cache", env!("CARGO_BIN_EXE_mfa"));
    let input = format!("12a456\n{wrong}\n{}\n", code());
    let Some(output) = on_a_terminal(&command, &envs, world.machine.work(), &input).await else { return };
    let shown = stdout(&output);
    assert!(output.status.success(), "{shown}\n{}", stderr(&output));
    assert_eq!(shown.matches(PROMPT).count(), 3, "asked three times:\n{shown}");
    assert!(shown.contains("must be exactly 6 digits") && shown.contains("try again (2 tries left)"), "{shown}");
    assert!(shown.contains("That code was refused") && shown.contains("(1 try left)"), "{shown}");
    assert!(shown.contains("7. Receive a message from the queue"), "{shown}");
}
