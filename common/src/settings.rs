//! Settings every example shares: command-line flags, each with an environment variable, and a
//! `.env` file in the working directory.

use clap::Args;

/// The bucket the SOS examples use unless told otherwise.
pub const DEFAULT_BUCKET: &str = conventions::BUCKET;
/// The object the SOS examples read, download and upload unless told otherwise.
pub const DEFAULT_KEY: &str = "Optimization_result.geojson";
/// The SOS queue that announces new data (the sandbox seeds it).
pub const DEFAULT_QUEUE: &str = conventions::QUEUE;
/// The SOS topic that the notifier publishes to and the queue subscribes to (the sandbox seeds it).
pub const DEFAULT_TOPIC: &str = conventions::TOPIC;
/// The `.env` key of the original's `send_receive` scripts for the bucket.
pub const DOTENV_BUCKET: &str = "s3_bucket";
/// The `.env` key of the original's `send_receive` scripts for the queue URL.
pub const DOTENV_QUEUE_URL: &str = "sqs_url";
/// The `.env` key `setup` and the deploy template write the topic's ARN under (for reference: the
/// examples do not need it; the deployed notifier gets it as `TOPIC_ARN`).
pub const DOTENV_TOPIC_ARN: &str = "sns_topic_arn";

/// Flags shared by every example; `#[command(flatten)]` them into the example's own.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// S3 bucket to use [default: snow-observing-systems; a .env file's `s3_bucket` also works].
    #[arg(long, env = "SOS_BUCKET", global = true)]
    pub bucket: Option<String>,

    /// Send every request to this endpoint (a sandbox, LocalStack, MinIO, …) instead of AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// AWS profile from ~/.aws/config and ~/.aws/credentials.
    #[arg(long, env = "AWS_PROFILE", global = true)]
    pub profile: Option<String>,

    /// AWS region [default: the profile's, else us-east-1 for endpoints and the sandbox].
    #[arg(long, env = "AWS_REGION", global = true)]
    pub region: Option<String>,

    /// Use the local sandbox even when AWS configuration exists: a running one at
    /// SOS_SANDBOX_URL (default http://127.0.0.1:4566), else one started in this process.
    #[arg(long, env = "SOS_SANDBOX", global = true)]
    pub sandbox: bool,

    /// Log more: -v for info, -vv for debug, -vvv for the SDK's wire details. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The MFA flags, for the examples that use MFA (`mfa`, and `--mfa` of uploader, subscriber and
/// setup); `#[command(flatten)]` them beside [`CommonArgs`] so the others' `--help` does not
/// list flags that would do nothing there.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "MFA")]
pub struct MfaArgs {
    /// MFA device serial (ARN) [default: the profile's `mfa_serial`; the sandbox's device on a
    /// sandbox].
    #[arg(long, env = "SOS_MFA_SERIAL", value_name = "ARN")]
    pub mfa_serial: Option<String>,

    /// The 6-digit MFA code (spaces or a dash allowed: `123 456`), instead of being asked for it.
    #[arg(long, value_name = "CODE")]
    pub token_code: Option<String>,

    /// Do not use or write the MFA session cache.
    #[arg(long, env = "SOS_NO_CACHE")]
    pub no_cache: bool,

    /// MFA session lifetime to ask STS for, in seconds (STS's default: 12 hours).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<i32>,
}

impl MfaArgs {
    /// The settings of the environment alone (`SOS_MFA_SERIAL`, `SOS_NO_CACHE`), for programs
    /// without MFA flags that meet a role profile needing MFA.
    pub fn from_env() -> Self {
        let no_cache = non_empty_env("SOS_NO_CACHE")
            .is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no" | "off"));
        Self { mfa_serial: non_empty_env("SOS_MFA_SERIAL"), token_code: None, no_cache, duration: None }
    }
}

impl CommonArgs {
    /// The bucket: `--bucket`, else `SOS_BUCKET`, else the original's `s3_bucket` (from the
    /// environment or `.env`), else [`DEFAULT_BUCKET`].
    pub fn bucket(&self) -> String {
        self.bucket.clone().or_else(|| non_empty_env(DOTENV_BUCKET)).unwrap_or_else(|| DEFAULT_BUCKET.to_owned())
    }
}

/// The `.env` file read by [`load_dotenv`] and the variables it set.
#[derive(Debug, Clone)]
struct DotenvOrigin {
    path: std::path::PathBuf,
    keys: Vec<String>,
}

static DOTENV: std::sync::OnceLock<DotenvOrigin> = std::sync::OnceLock::new();

/// The name of the `.env` file in the working directory.
pub const DOTENV_FILE: &str = ".env";

/// Loads `./.env` — the working directory's only, as the README promises, never a parent's —
/// into the environment, without overriding variables that are already set. Call it before
/// parsing the command line, so that flags' environment variables can come from the file.
/// [`dotenv_source`] then tells which variables came from it, so messages can name the file.
///
/// Returns the path loaded, if any. A malformed `.env` is reported on stderr and otherwise
/// ignored, so a stray file never stops an example.
pub fn load_dotenv() -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(".").join(DOTENV_FILE);
    // The keys the file would set: those not already in the environment.
    let keys: Vec<String> = match dotenvy::from_path_iter(&path) {
        Ok(iter) => iter.filter_map(Result::ok).map(|(k, _)| k).filter(|k| std::env::var_os(k).is_none()).collect(),
        Err(err) if err.not_found() => return None,
        Err(err) => {
            eprintln!("warning: ignoring {}: {err}", path.display());
            return None;
        }
    };
    match dotenvy::from_path(&path) {
        Ok(()) => {
            let _ = DOTENV.set(DotenvOrigin { path: path.clone(), keys });
            Some(path)
        }
        Err(err) => {
            eprintln!("warning: ignoring {}: {err}", path.display());
            None
        }
    }
}

/// The `.env` file variable `name` was loaded from by [`load_dotenv`], if it came from one.
pub fn dotenv_source(name: &str) -> Option<&'static std::path::Path> {
    DOTENV.get().filter(|o| o.keys.iter().any(|k| k == name)).map(|o| o.path.as_path())
}

/// `NAME`, or `NAME in ./.env` when the variable came from a `.env` file: how messages name
/// where a setting came from.
pub fn describe_variable(name: &str) -> String {
    match dotenv_source(name) {
        Some(path) => format!("{name} in {}", path.display()),
        None => name.to_owned(),
    }
}

/// A variable's value, treating empty as unset.
pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Sets up logging to stderr once: `RUST_LOG` if set, else a level from the `-v` count; and a
/// closed standard output (`| head`) ends the program quietly instead of with a panic.
/// Calling it again does nothing.
pub fn init_tracing(verbose: u8) {
    quiet_broken_pipe();
    // s3s (inside the embedded sandbox) logs every S3 error response, such as NoSuchKey, at
    // error level; those are answers, not faults, so keep it quiet unless asked.
    conventions::process::init_tracing(match verbose {
        // The instance-metadata client warns on every machine that is not an EC2 instance; when
        // credentials are missing, the error line says so without it.
        0 => "warn,s3s=off,aws_config::imds=off,aws_config::meta::credentials::chain=error",
        1 => "info,s3s=warn",
        2 => "debug,hyper=info,h2=info,rustls=info",
        _ => "trace",
    });
}

/// Makes `println!` into a closed pipe (`cargo run -p mfa | head -3`) end the process with exit
/// code 0 and no message, as `cat` or `grep` would stop, instead of panicking with a backtrace.
/// Other panics keep the default report.
fn quiet_broken_pipe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
                std::process::exit(0);
            }
            default(info);
        }));
    });
}
