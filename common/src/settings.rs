//! Settings every example shares: command-line flags, each with an environment variable, and a
//! `.env` file in the working directory.

use std::io::IsTerminal as _;

use clap::Args;

/// The bucket the SOS examples use unless told otherwise.
pub const DEFAULT_BUCKET: &str = "snow-observing-systems";
/// The object the SOS examples read, download and upload unless told otherwise.
pub const DEFAULT_KEY: &str = "Optimization_result.geojson";
/// The SOS queue that announces new data (the sandbox seeds it).
pub const DEFAULT_QUEUE: &str = "SnowObservingSystemsDataUpdates";
/// The SOS topic that the notifier publishes to and the queue subscribes to (the sandbox seeds it).
pub const DEFAULT_TOPIC: &str = "SnowObservingSystemsDataAvailability";
/// The `.env` key of the seed's `send_receive` scripts for the bucket.
pub const SEED_ENV_BUCKET: &str = "s3_bucket";
/// The `.env` key of the seed's `send_receive` scripts for the queue URL.
pub const SEED_ENV_QUEUE_URL: &str = "sqs_url";
/// The `.env` key `setup` and the deploy template write the topic's ARN under (for reference: the
/// examples do not need it; the deployed notifier gets it as `TOPIC_ARN`).
pub const ENV_TOPIC_ARN: &str = "sns_topic_arn";

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

    /// MFA device serial (ARN) [default: the profile's `mfa_serial`; the sandbox's device on a
    /// sandbox].
    #[arg(long, env = "SOS_MFA_SERIAL", global = true, value_name = "ARN")]
    pub mfa_serial: Option<String>,

    /// The 6-digit MFA code, instead of being asked for it.
    #[arg(long, global = true, value_name = "CODE")]
    pub token_code: Option<String>,

    /// Do not use or write the MFA session cache.
    #[arg(long, env = "SOS_NO_CACHE", global = true)]
    pub no_cache: bool,

    /// Log more: -v for info, -vv for debug, -vvv for the SDK's wire details. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl CommonArgs {
    /// The bucket: `--bucket`, else `SOS_BUCKET`, else the seed's `s3_bucket` (from the
    /// environment or `.env`), else [`DEFAULT_BUCKET`].
    pub fn bucket(&self) -> String {
        self.bucket.clone().or_else(|| non_empty_env(SEED_ENV_BUCKET)).unwrap_or_else(|| DEFAULT_BUCKET.to_owned())
    }
}

/// Loads `.env` from the working directory (or a parent) into the environment, without
/// overriding variables that are already set. Call it before parsing the command line, so that
/// flags' environment variables can come from the file.
///
/// Returns the path loaded, if any. A malformed `.env` is reported on stderr and otherwise
/// ignored, so a stray file never stops an example.
pub fn load_dotenv() -> Option<std::path::PathBuf> {
    match dotenvy::dotenv() {
        Ok(path) => Some(path),
        Err(err) if err.not_found() => None,
        Err(err) => {
            eprintln!("warning: ignoring .env: {err}");
            None
        }
    }
}

/// A variable's value, treating empty as unset.
pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Sets up logging to stderr once: `RUST_LOG` if set, else a level from the `-v` count.
/// Calling it again does nothing.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // s3s (inside the embedded sandbox) logs every S3 error response, such as NoSuchKey, at
    // error level; those are answers, not faults, so keep it quiet unless asked.
    let default = match verbose {
        0 => "warn,s3s=off",
        1 => "info,s3s=warn",
        2 => "debug,hyper=info,h2=info,rustls=info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
