//! `cargo run -p sandbox`: serve the local AWS stand-in until Ctrl-C.
//!
//! Prints the `export AWS_…` lines that point the aws CLI, boto3 or any SDK at it. The examples
//! find it by themselves at `SOS_SANDBOX_URL` (default `http://127.0.0.1:4566`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sandbox::identity::{APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY, MFA_SERIAL, ROLE_ARN};
use sandbox::mfa::{DEFAULT_MFA_SECRET, MfaDevice};
use sandbox::state::Durability;
use sandbox::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Sandbox, SandboxOptions};

/// A local stand-in for the AWS services of the SOS examples — S3, STS, SQS and SNS, with S3 event
/// notifications and the notifier Lambda run in-process — on one port.
///
/// Credentials: access key `test`, secret `test`, region `us-east-1`; an application key
/// `sos-app`/`sos-app-secret` that the MFA requirement exempts. A virtual MFA device
/// (arn:aws:iam::000000000000:mfa/sandbox) answers STS GetSessionToken and AssumeRole; `sandbox
/// mfa-code` prints its current code.
///
/// What persists: objects, STS sessions, queues and their messages (receive counts and visibility
/// included), topics, subscriptions and bucket notification settings are kept in the data
/// directory. Whatever the sandbox acknowledged survives the process being killed and restarted;
/// a power loss may lose the last moments unless --fsync. Only one process serves a data
/// directory at a time.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// Address to listen on.
    #[arg(long, env = "SOS_SANDBOX_HOST", default_value = "127.0.0.1")]
    host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "SOS_SANDBOX_PORT", default_value_t = 4566)]
    port: u16,

    /// Where buckets and objects are kept [default: the per-user data directory,
    /// usually ~/.local/share/sos-sandbox].
    #[arg(long, env = conventions::SANDBOX_DATA_DIR_ENV)]
    data_dir: Option<PathBuf>,

    /// Delete all data first and start again from the seed.
    #[arg(long)]
    reset: bool,

    /// Start empty: do not create the sample bucket, objects, topic and queues (the seed is
    /// applied once per data directory; a directory that holds data keeps it).
    #[arg(long)]
    no_seed: bool,

    /// Sync every change to the disk before answering, so that it survives a power loss too
    /// (slower; without it, changes survive a crash of the sandbox process).
    #[arg(long, env = "SOS_SANDBOX_FSYNC")]
    fsync: bool,

    /// Require MFA: the long-term key `test` may then call only STS; everything else needs
    /// credentials from GetSessionToken with an MFA code (the application key is exempt).
    #[arg(long, env = "SOS_SANDBOX_REQUIRE_MFA")]
    require_mfa: bool,

    /// Base32 secret of the virtual MFA device [default: a fixed, documented secret].
    #[arg(long, env = "SOS_SANDBOX_MFA_SECRET", global = true, hide_env_values = true)]
    mfa_secret: Option<String>,

    /// Shortest STS session lifetime granted, in seconds (AWS: 900); lower it to see expiry.
    #[arg(long, env = "SOS_SANDBOX_MIN_SESSION_SECONDS", default_value_t = 900)]
    min_session_seconds: u64,

    /// Fault rules to apply from the start: a JSON array in the chaos API's schema (see
    /// `POST /_sandbox/chaos/faults`), e.g. [{"service":"s3","operation":"PutObject","probability":0.1,
    /// "error":{"statusCode":503,"code":"SlowDown"}}].
    #[arg(long, env = "SOS_SANDBOX_CHAOS", value_name = "FILE")]
    chaos: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,

    /// Log more (-v requests, -vv protocol details). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the virtual MFA device's current code (what an authenticator app would show).
    MfaCode,
}

#[tokio::main]
async fn main() -> ExitCode {
    let opt = Opt::parse();
    conventions::process::init_tracing(log_filter(opt.verbose));
    let device = match MfaDevice::new(opt.mfa_secret.as_deref().unwrap_or(DEFAULT_MFA_SECRET)) {
        Ok(device) => device,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::MfaCode) = opt.command {
        println!("{}", device.current_code());
        eprintln!("(valid for {} more seconds, and the 30 s before and after)", device.seconds_left());
        return ExitCode::SUCCESS;
    }

    let chaos = match &opt.chaos {
        None => Vec::new(),
        Some(path) => match sandbox::chaos::load_rules(path) {
            Ok(rules) => rules,
            Err(err) => {
                eprintln!("Error: --chaos {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let data_dir = opt.data_dir.unwrap_or_else(sandbox::default_data_dir);
    if opt.no_seed && !opt.reset && sandbox::holds_data(&data_dir) {
        eprintln!(
            "Note: --no-seed keeps {} as it is, and it already holds data; add --reset to start empty.",
            data_dir.display()
        );
    }
    let options = SandboxOptions {
        addr: SocketAddr::new(opt.host, opt.port),
        data_dir,
        seed: !opt.no_seed,
        reset: opt.reset,
        durability: if opt.fsync { Durability::Fsync } else { Durability::Process },
        require_mfa: opt.require_mfa,
        mfa_secret: opt.mfa_secret.clone(),
        min_session_seconds: opt.min_session_seconds,
        standalone: true,
        chaos,
    };
    let sandbox = match Sandbox::start(options).await {
        Ok(sandbox) => sandbox,
        Err(err) => {
            eprintln!("Error: {err}");
            if let sandbox::Error::Bind { .. } = err {
                eprintln!("Is another sandbox running? Pick another port with --port.");
            }
            return ExitCode::FAILURE;
        }
    };

    println!("SOS sandbox serving {} (data in {})", sandbox.url(), sandbox.data_dir().display());
    println!("To point the aws CLI, boto3 or an SDK at it, paste:");
    println!("  export AWS_ENDPOINT_URL={}", sandbox.url());
    println!("  export AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}");
    println!("  export AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}");
    println!("The examples find it by themselves (cargo run -p basic). Ctrl-C stops it.");
    println!();
    println!("Virtual MFA device {MFA_SERIAL}: current code `cargo run -p sandbox -- mfa-code`;");
    println!("add it to a phone authenticator with: {}", device.otpauth_uri());
    println!(
        "Role {ROLE_ARN} (trust requires MFA). Application key (MFA-exempt): {APP_ACCESS_KEY_ID} / {APP_SECRET_ACCESS_KEY}"
    );
    if !sandbox.chaos().rules().is_empty() {
        println!(
            "Chaos: {} fault rules active (curl {}{} lists them; DELETE removes them).",
            sandbox.chaos().rules().len(),
            sandbox.url(),
            sandbox::chaos::FAULTS_PATH
        );
    }
    if opt.require_mfa {
        println!("MFA required: the key `{ACCESS_KEY_ID}` may call only STS until it has an MFA session.");
    }

    conventions::process::wait_for_signal().await;
    println!("Stopping.");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

/// The log filter for `-v` given `verbose` times (`RUST_LOG` overrides it).
fn log_filter(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn,sandbox=info,s3s=off",
        1 => "info,s3s=info",
        2 => "debug,hyper=info",
        _ => "trace",
    }
}
