//! What every crate's tests share, written once: a sandbox in a temp dir ([`TestSandbox`]), SDK
//! configurations and clients for a sandbox built from explicit values only ([`SandboxClients`]),
//! the standalone sandbox binary ([`SandboxProcess`]), the workspace's binaries
//! ([`workspace_binary`]) and the clean machine a user runs them on ([`Machine`]).
//!
//! Nothing of the developer's own setup reaches a test through the kit: no `~/.aws`, no `AWS_*`
//! variable, no sandbox they happen to run on port 4566. A dev-dependency only; no program ships
//! with it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use sandbox::{Sandbox, SandboxOptions};

/// A URL where nothing listens: what `SOS_SANDBOX_URL` is for a program that must not find a
/// running sandbox.
pub const NOTHING_LISTENS: &str = "http://127.0.0.1:1";

/// A file of the repository, by its path from the repository's root.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// The bytes of a sample file of the repository's `data/` folder (the sandbox's seed).
pub fn sample(name: &str) -> Vec<u8> {
    let path = repo_path("data").join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// The fault rules of `sandbox/chaos/flaky.json`: 10 % errors (500 and 503, half of them after the
/// work) and 5 % closed connections, on every service.
pub fn flaky_rules() -> Vec<sandbox::chaos::Rule> {
    sandbox::chaos::load_rules(&repo_path("sandbox/chaos/flaky.json")).expect("the flaky rules parse")
}

/// The current code of the sandbox's virtual MFA device (its default secret).
pub fn mfa_code() -> String {
    sandbox::mfa::MfaDevice::new(sandbox::mfa::DEFAULT_MFA_SECRET).expect("the default MFA secret").current_code()
}

/// The long-term credentials of the sandbox's user (`test`/`test`).
pub fn user_credentials() -> Credentials {
    Credentials::new(sandbox::ACCESS_KEY_ID, sandbox::SECRET_ACCESS_KEY, None, None, "testkit")
}

/// An SDK configuration for the sandbox at `url` with `credentials`, its region, and nothing
/// from the environment or `~/.aws`.
pub fn config_with(url: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(sandbox::REGION))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// A path-style S3 client from `config` (a sandbox has no bucket host names).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

/// SDK configurations and clients for a sandbox, as the user `test`/`test` unless told otherwise.
pub trait SandboxClients {
    /// The sandbox's base URL.
    fn endpoint(&self) -> &str;

    /// An SDK configuration for the sandbox as its user.
    fn config(&self) -> SdkConfig {
        config_with(self.endpoint(), user_credentials())
    }

    /// An SDK configuration for the sandbox with other credentials.
    fn config_as(&self, credentials: Credentials) -> SdkConfig {
        config_with(self.endpoint(), credentials)
    }

    /// A path-style S3 client.
    fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.config())
    }

    /// An SQS client.
    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config())
    }

    /// An SNS client.
    fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.config())
    }

    /// An STS client.
    fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config())
    }

    /// One client of each service, sharing one configuration.
    fn clients(&self) -> Clients {
        Clients::new(&self.config())
    }
}

/// One client of each service the sandbox serves, from one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Path-style S3.
    pub s3: aws_sdk_s3::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// STS.
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// The clients of `config`.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            s3: s3_client(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
        }
    }
}

impl SandboxClients for Sandbox {
    fn endpoint(&self) -> &str {
        self.url()
    }
}

impl SandboxClients for str {
    fn endpoint(&self) -> &str {
        self
    }
}

/// How many messages the queue at `queue_url` holds: `(visible, in flight)`, as
/// `GetQueueAttributes` counts them.
pub async fn queue_counts(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName::{
        All, ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
    };
    let attributes = sqs.get_queue_attributes().queue_url(queue_url).attribute_names(All).send().await;
    let attributes = attributes.expect("the queue's attributes");
    let count = |name| attributes.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0);
    (count(ApproximateNumberOfMessages), count(ApproximateNumberOfMessagesNotVisible))
}

/// Starts a sandbox with `options`, failing the test if it cannot.
pub async fn start_sandbox(options: SandboxOptions) -> Sandbox {
    Sandbox::start(options).await.expect("the sandbox starts")
}

/// A seeded sandbox on a free loopback port, in this process, with its data in a temp dir that is
/// deleted after it. It dereferences to the [`Sandbox`].
#[derive(Debug)]
pub struct TestSandbox {
    sandbox: Sandbox,
    data: tempfile::TempDir,
}

impl TestSandbox {
    /// The seeded sandbox with [`SandboxOptions::ephemeral`]'s defaults.
    pub async fn start() -> Self {
        Self::with(|options| options).await
    }

    /// A sandbox with the options `change` makes of [`SandboxOptions::ephemeral`]'s, for example
    /// `TestSandbox::with(|o| SandboxOptions { require_mfa: true, ..o })`.
    pub async fn with(change: impl FnOnce(SandboxOptions) -> SandboxOptions) -> Self {
        let data = tempfile::tempdir().expect("a temp dir for the sandbox's data");
        let sandbox = start_sandbox(change(SandboxOptions::ephemeral(data.path()))).await;
        Self { sandbox, data }
    }

    /// An unseeded sandbox holding one empty bucket, and an S3 client for it that does not retry
    /// (so a test sees the first answer to each request).
    pub async fn with_empty_bucket(bucket: &str) -> (Self, aws_sdk_s3::Client) {
        let sandbox = Self::with(|o| SandboxOptions { seed: false, ..o }).await;
        let config = sandbox.config().to_builder().retry_config(aws_config::retry::RetryConfig::disabled()).build();
        let s3 = s3_client(&config);
        s3.create_bucket().bucket(bucket).send().await.expect("create bucket");
        (sandbox, s3)
    }

    /// The data directory as given (the sandbox reports it canonicalized).
    pub fn data_path(&self) -> &Path {
        self.data.path()
    }
}

impl std::ops::Deref for TestSandbox {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl SandboxClients for TestSandbox {
    fn endpoint(&self) -> &str {
        self.sandbox.url()
    }
}

/// A binary of the workspace (`sandbox`, `uploader`, …), built beside the running test's own:
/// `cargo test --workspace`, the README's test command, builds every package's binaries before
/// any test runs.
pub fn workspace_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    // <target>/<profile>/deps/<test binary> → <target>/<profile>/<name>
    let profile = test.parent().and_then(Path::parent).expect("the test binary lives in <profile>/deps");
    let path = profile.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p {name}`) first",
        path.display()
    );
    path
}

/// A user's machine: an empty home and a working directory, both deleted afterwards.
#[derive(Debug)]
pub struct Machine {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// A fresh machine.
    pub fn new() -> Self {
        Self { home: tempfile::tempdir().expect("a temp home"), work: tempfile::tempdir().expect("a temp work dir") }
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The working directory programs run in.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// Where a program's embedded sandbox keeps its data on this machine (`SOS_SANDBOX_DATA_DIR`).
    pub fn sandbox_data(&self) -> PathBuf {
        self.home().join("sandbox-data")
    }

    /// `program` as a user on this machine runs it: in the working directory, with only `HOME`,
    /// `PATH`, `SOS_SANDBOX_URL` pointing where nothing listens (so a sandbox the developer runs
    /// is never found) and `SOS_SANDBOX_DATA_DIR` set; standard input empty; killed if the test
    /// drops it. Add `.env(…)` for what the test is about.
    pub fn command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command
            .current_dir(self.work())
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SOS_SANDBOX_URL", NOTHING_LISTENS)
            .env("SOS_SANDBOX_DATA_DIR", self.sandbox_data())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// Runs `command` with `input` on its standard input and waits for it.
pub async fn output_with_stdin(mut command: tokio::process::Command, input: &str) -> Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let mut stdin = child.stdin.take().expect("its standard input");
    stdin.write_all(input.as_bytes()).await.expect("writing its standard input");
    drop(stdin);
    child.wait_with_output().await.expect("the program ends")
}

/// A program's standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A program's standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit status, standard output and standard error, for an assertion's message.
pub fn describe(output: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", output.status, stdout(output), stderr(output))
}

/// Fails the test, showing everything the program said, unless it succeeded.
pub fn assert_success(output: &Output) {
    assert!(output.status.success(), "{}", describe(output));
}

/// Fails the test unless the program failed with exactly one line on standard error, `Error: …`,
/// naming every `expected` part, with no Debug dump, panic or log noise (the rule every example
/// keeps for a user's mistake). Returns the line.
pub fn assert_one_line_failure(output: &Output, expected: &[&str]) -> String {
    let err = stderr(output);
    assert!(!output.status.success(), "must fail:\n{}", describe(output));
    assert_eq!(err.lines().count(), 1, "exactly one line on stderr:\n{err}");
    assert!(err.starts_with("Error: "), "{err}");
    for part in expected {
        assert!(err.contains(part), "{err:?} should mention {part:?}");
    }
    for noise in ["{ ", "Debug", "ServiceError", "ProviderError", "SdkBody", "WARN", "imds", "IMDS", "panicked"] {
        assert!(!err.contains(noise), "no {noise:?} in {err:?}");
    }
    err
}

/// Waits for `condition`, checking every 20 ms, failing the test after `within`.
pub async fn wait_until(within: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The standalone sandbox binary (`cargo run -p sandbox`) serving a data directory on a free
/// port; killed (and reaped) when dropped, whatever the test did.
#[derive(Debug)]
pub struct SandboxProcess {
    child: std::process::Child,
    url: String,
    logs: tempfile::TempDir,
}

impl SandboxProcess {
    /// How long the sandbox may take to start listening.
    pub const START_DEADLINE: Duration = Duration::from_secs(30);

    /// Starts `sandbox --port 0 --data-dir DATA_DIR ARGS…` with none of the developer's `SOS_*`,
    /// `AWS_*` or `RUST_LOG` variables, and returns once it listens (it writes its URL to
    /// `<data dir>/.sandbox.url` then). Its output goes to files that [`SandboxProcess::logs`]
    /// reads.
    pub fn start(data_dir: &Path, args: &[&str]) -> Self {
        let url_file = data_dir.join(".sandbox.url");
        // A killed sandbox leaves its URL file behind; only a new one says the new server listens.
        let _ = std::fs::remove_file(&url_file);
        let logs = tempfile::tempdir().expect("a temp dir for the sandbox's logs");
        let log = |name: &str| std::fs::File::create(logs.path().join(name)).expect("a log file");
        let mut command = std::process::Command::new(workspace_binary("sandbox"));
        command.args(["--port", "0", "--data-dir"]).arg(data_dir).args(args);
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("SOS_") || name_text.starts_with("AWS_") || name_text == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log("stdout"))
            .stderr(log("stderr"))
            .spawn()
            .expect("the sandbox binary starts");
        // Owned from here on, so it is killed and reaped whatever happens next.
        let mut process = Self { child, url: String::new(), logs };
        let deadline = Instant::now() + Self::START_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&url_file)
                && !text.trim().is_empty()
            {
                process.url = text.trim().to_owned();
                return process;
            }
            if let Some(status) = process.child.try_wait().expect("checking on the sandbox") {
                panic!("the sandbox exited ({status}) before it listened\n{}", process.logs());
            }
            assert!(Instant::now() < deadline, "the sandbox did not listen within 30 s\n{}", process.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What it printed so far, for an assertion's message.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.logs.path().join(name)).unwrap_or_else(|err| format!("({err})"));
        format!("--- sandbox stdout ---\n{}\n--- sandbox stderr ---\n{}", read("stdout"), read("stderr"))
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("killing the sandbox");
        self.child.wait().expect("reaping the sandbox");
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SandboxClients for SandboxProcess {
    fn endpoint(&self) -> &str {
        &self.url
    }
}
