//! `cargo run -p sandbox`: serve the local AWS stand-in until Ctrl-C.
//!
//! Prints the `export AWS_…` lines that point the aws CLI, boto3 or any SDK at it. The examples
//! find it by themselves at `SOS_SANDBOX_URL` (default `http://127.0.0.1:4566`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sandbox::identity::{MFA_SERIAL, ROLE_ARN};
use sandbox::keys::LongTermKeys;
use sandbox::mfa::{DEFAULT_MFA_SECRET, MfaDevice};
use sandbox::state::Durability;
use sandbox::{REGION, Sandbox, SandboxOptions};

/// mimalloc rather than glibc's malloc: a request allocates and frees many small buffers (s3s,
/// hyper, serde), and with glibc they were a fifth of the server's CPU per PUT.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A local stand-in for the AWS services of the SOS examples — S3, STS, SQS and SNS, with S3 event
/// notifications and the notifier Lambda run in-process — on one port.
///
/// Credentials: access key `test`, secret `test`, region `us-east-1`; an application key
/// `sos-app`/`sos-app-secret` that the MFA requirement exempts. Listening beyond loopback
/// (`--host 0.0.0.0`), keys of its own instead, kept in the data directory (`sandbox keys`). A
/// virtual MFA device (arn:aws:iam::000000000000:mfa/sandbox) answers STS GetSessionToken and
/// AssumeRole; `sandbox mfa-code` prints its current code.
///
/// What persists: objects, STS sessions, queues and their messages (receive counts and visibility
/// included), topics, subscriptions and bucket notification settings are kept in the data
/// directory. Whatever the sandbox acknowledged survives the process being killed and restarted;
/// a power loss may lose the last moments unless --fsync. Only one process serves a data
/// directory at a time.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// Address to listen on. Beyond loopback (0.0.0.0, a network address) the sandbox refuses
    /// `test`/`test` and accepts keys of its own instead (`sandbox keys` prints them), and its
    /// chaos API and health details answer this machine only.
    #[arg(long, env = "SOS_SANDBOX_HOST", default_value = "127.0.0.1")]
    host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "SOS_SANDBOX_PORT", default_value_t = 4566)]
    port: u16,

    /// Where buckets and objects are kept [default: the per-user data directory,
    /// usually ~/.local/share/sos-sandbox].
    #[arg(long, env = conventions::SANDBOX_DATA_DIR_ENV, global = true)]
    data_dir: Option<PathBuf>,

    /// Delete all data first and start again from the seed.
    #[arg(long)]
    reset: bool,

    /// Start empty: do not create the sample bucket, objects, topic and queues. The seed is
    /// applied once per data directory: one that holds data keeps it, and one started empty stays
    /// so (--reset --no-seed empties a used one; --reset alone seeds it again).
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
    /// Print the keys a sandbox with this data directory accepts when it listens beyond loopback
    /// (--host 0.0.0.0), making them if they do not exist yet.
    Keys,
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
    let data_dir = opt.data_dir.clone().unwrap_or_else(sandbox::default_data_dir);
    match opt.command {
        Some(Command::MfaCode) => {
            println!("{}", device.current_code());
            eprintln!(
                "(the next code comes in {} more seconds; this one is accepted for 30 seconds after that)",
                device.seconds_left()
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Keys) => return print_own_keys(&data_dir),
        None => {}
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
            match err {
                sandbox::Error::Bind { .. } => {
                    eprintln!("Error: {err}; is another sandbox running? Pick another port with --port.")
                }
                err => eprintln!("Error: {err}"),
            }
            return ExitCode::FAILURE;
        }
    };

    print_banner(&sandbox, &device, opt.require_mfa);

    conventions::process::wait_for_signal().await;
    println!("Stopping.");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

/// What the standalone sandbox prints at start: where it serves, the lines to paste, the MFA
/// device, the role and the application key, and what is special about this start.
fn print_banner(sandbox: &Sandbox, device: &MfaDevice, require_mfa: bool) {
    let keys = sandbox.keys();
    let beyond_loopback = sandbox::keys::listens_beyond_loopback(sandbox.addr().ip());
    if beyond_loopback {
        println!(
            "Listening beyond loopback on {}: requests must be signed with this sandbox's own keys below (`cargo run \
             -p sandbox -- keys` prints them again); test/test is refused, and the chaos API and health details \
             answer this machine only.",
            sandbox.addr().ip()
        );
    }
    println!("SOS sandbox serving {} (data in {})", sandbox.url(), sandbox.data_dir().display());
    println!("To point the aws CLI, boto3 or an SDK at it, paste:");
    println!("  export AWS_ENDPOINT_URL={}", paste_url(sandbox.addr()));
    println!(
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
        keys.user.access_key_id, keys.user.secret_access_key
    );
    println!("  export AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}");
    if beyond_loopback {
        println!("From other machines, put this machine's address in AWS_ENDPOINT_URL. Ctrl-C stops it.");
    } else {
        println!("The examples find it by themselves (cargo run -p basic). Ctrl-C stops it.");
    }
    println!();
    println!("Virtual MFA device {MFA_SERIAL}: current code `cargo run -p sandbox -- mfa-code`;");
    println!("add it to a phone authenticator with: {}", device.otpauth_uri());
    println!(
        "Role {ROLE_ARN} (trust requires MFA). Application key (MFA-exempt): {} / {}",
        keys.app.access_key_id, keys.app.secret_access_key
    );
    if !sandbox.chaos().rules().is_empty() {
        println!(
            "Chaos: {} fault rules active (curl {}{} lists them; DELETE removes them).",
            sandbox.chaos().rules().len(),
            sandbox.url(),
            sandbox::chaos::FAULTS_PATH
        );
    }
    if require_mfa {
        println!("MFA required: the key `{}` may call only STS until it has an MFA session.", keys.user.access_key_id);
    }
}

/// The URL to paste on this machine: the address listened on, or loopback for an unspecified one
/// (0.0.0.0 listens on every interface, but is no address to connect to).
fn paste_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// `sandbox keys`: the data directory's own keys, as lines to paste.
fn print_own_keys(data_dir: &std::path::Path) -> ExitCode {
    match LongTermKeys::own(data_dir) {
        Ok(keys) => {
            println!(
                "export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
                keys.user.access_key_id, keys.user.secret_access_key
            );
            println!("Application key (MFA-exempt): {} / {}", keys.app.access_key_id, keys.app.secret_access_key);
            eprintln!(
                "(the keys of the sandbox with its data in {} when it listens beyond loopback, kept in {}; on \
                 loopback it takes test/test)",
                data_dir.display(),
                data_dir.join(sandbox::keys::KEYS_FILE).display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err}");
            ExitCode::FAILURE
        }
    }
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
