//! # mfa — S3 and SQS with MFA session credentials
//!
//! The Rust port of the SOS notebook on S3 with MFA (mfa_nonmfa). Accounts such as NASA
//! SMCE let a person's long-term keys do nothing but ask STS for a session, and only with a code
//! from their MFA device. This example gets such a session, then runs the basic steps and reads
//! the queue with it.
//!
//! ```text
//! cargo run -p sandbox -- --require-mfa     # terminal 1: a sandbox that requires MFA
//! cargo run -p mfa                          # terminal 2: asks for the code …
//! cargo run -p sandbox -- mfa-code          # … which this prints (or a phone app shows)
//! cargo run -p mfa -- --profile smce        # real AWS: mfa_serial comes from the profile
//! ```
//!
//! The session is cached (mode 0600, in the user's cache directory) and reused until 5 minutes
//! before it expires, so a second run does not ask again; `--no-cache` always asks.
//!
//! 1. Authenticate with MFA: read the device's serial, ask for the code, call STS
//!    `GetSessionToken`, and build the clients from the session credentials.
//! 2. List all buckets.
//! 3. List all files in the bucket.
//! 4. Read a file and parse it as GeoJSON.
//! 5. Download the file.
//! 6. Upload a file.
//! 7. Receive a message from the SQS queue (`--queue-url`, else the queue named `SOS_QUEUE` (by
//!    default the pipeline's) found with `GetQueueUrl`).

use std::path::PathBuf;

use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use basic::Files;
use clap::Parser;
use common::credentials::{self, SessionCache};
use common::{Aws, CommonArgs, MfaArgs};

/// The SOS MFA example: STS session credentials from an MFA code, then S3 and SQS with them.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// The file to read (step 4) and download (step 5).
    #[arg(long, env = "SOS_KEY", default_value = common::DEFAULT_KEY)]
    key: String,

    /// Local file to upload [default: data/Optimization_result.geojson of this repository].
    #[arg(long, value_name = "FILE")]
    upload: Option<PathBuf>,

    /// SQS queue URL for step 7 [default: the `.env` key `sqs_url`, else the URL of the queue
    /// named by --queue].
    #[arg(long, env = "SOS_QUEUE_URL", value_name = "URL")]
    queue_url: Option<String>,

    /// The queue step 7 looks up with GetQueueUrl when no URL is given.
    #[arg(long, env = "SOS_QUEUE", default_value = common::DEFAULT_QUEUE)]
    queue: String,

    /// Where to download the file: a file name, or a directory to put it in
    /// [default: ./<file name of --key>].
    #[arg(long, value_name = "PATH")]
    download_to: Option<PathBuf>,

    #[command(flatten)]
    mfa: MfaArgs,

    #[command(flatten)]
    common: CommonArgs,
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let aws = Aws::load(&opt.common).await?;
    println!("{}", aws.announcement());

    // ANCHOR: step1
    // 1. Authenticate with MFA. The long-term credentials only call STS; every other client is
    //    built from the session credentials that GetSessionToken returns for a valid code.
    println!("\n1. Authenticate with MFA and create the clients");
    let session = authenticate_with_mfa(&aws, &opt).await?;
    let config = aws.sdk_config().to_builder().credentials_provider(SharedCredentialsProvider::new(session)).build();
    let s3 = aws.s3_client_with(&config);
    // ANCHOR_END: step1

    // 2.–6. basic's steps, with the session credentials (`basic/src/lib.rs`).
    basic::steps_2_to_6(&s3, &files(&opt)).await?;

    // ANCHOR: step7
    // 7. Receive a message from the SQS queue with the same session credentials.
    println!("\n7. Receive a message from the queue");
    receive_a_message(&aws_sdk_sqs::Client::new(&config), &opt).await
    // ANCHOR_END: step7
}

// ANCHOR: authenticate
/// Step 1: the device's serial number (`--mfa-serial`, the profile's `mfa_serial`, or the
/// sandbox's device), a code, and STS `GetSessionToken` with both. The session is cached (mode
/// 0600) and reused while the service accepts it. Reading the code (again, on a terminal, when it
/// is refused) and the cache are `common/src/credentials.rs`.
async fn authenticate_with_mfa(aws: &Aws, opt: &Opt) -> anyhow::Result<Credentials> {
    let profile = opt.common.profile.as_deref();
    let serial = credentials::mfa_serial(profile, &opt.mfa, aws.target()).await?;
    let cache = SessionCache::for_mfa(profile, &serial, aws.target(), &opt.mfa);
    if let Some(cached) = credentials::cached_session(aws.sdk_config(), cache.as_ref()).await? {
        println!("MFA device: {serial}");
        let validity = credentials::describe_validity(&cached);
        println!("Using the cached MFA session ({validity}); --no-cache asks for a new code.");
        return Ok(cached);
    }
    let sts = aws_sdk_sts::Client::new(aws.sdk_config());
    let session = credentials::session_from_code(&opt.mfa, |code| {
        sts.get_session_token()
            .serial_number(&serial)
            .token_code(code.as_str())
            .set_duration_seconds(opt.mfa.duration)
            .send()
    })
    .await?;
    if let Some(cache) = &cache {
        cache.store(&session)?;
    }
    println!("MFA device: {serial}");
    println!("MFA session ready ({}).", credentials::describe_validity(&session));
    Ok(session)
}
// ANCHOR_END: authenticate

// ANCHOR: receive
/// Step 7: one message, waiting up to 5 s for it (long polling), from `--queue-url` or else the
/// queue `--queue` names, whose URL `GetQueueUrl` gives.
async fn receive_a_message(sqs: &aws_sdk_sqs::Client, opt: &Opt) -> anyhow::Result<()> {
    let queue_url = match opt.queue_url.clone().or_else(|| std::env::var(common::settings::DOTENV_QUEUE_URL).ok()) {
        Some(url) => url,
        None => match sqs.get_queue_url().queue_name(&opt.queue).send().await {
            Ok(found) => found.queue_url().context("GetQueueUrl returned no URL")?.to_owned(),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()) => {
                println!("Skipped: there is no queue {} here (pass --queue-url or --queue).", opt.queue);
                return Ok(());
            }
            Err(err) => return Err(err).with_context(|| format!("looking up the queue {}", opt.queue)),
        },
    };
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(1)
        .wait_time_seconds(5) // long polling: wait up to 5 s for a message to arrive
        .send()
        .await
        .with_context(|| format!("receiving from {queue_url}"))?;
    match received.messages().first() {
        Some(message) => println!("Message {}: {}", message.message_id().unwrap_or("?"), message.body().unwrap_or("")),
        None => println!("No message waiting in {queue_url}."),
    }
    Ok(())
}
// ANCHOR_END: receive

/// What steps 2 to 6 work on: the original's file, uploaded under `uploads/mfa/`.
fn files(opt: &Opt) -> Files {
    let upload = opt.upload.clone().unwrap_or_else(|| common::sample_data_path(common::DEFAULT_KEY));
    let name = upload.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Files {
        bucket: opt.common.bucket(),
        prefix: None,
        key: opt.key.clone(),
        download_to: opt.download_to.clone(),
        upload_key: format!("uploads/mfa/{name}"),
        upload,
    }
}

common::example_main!(Opt, run, transfers);
