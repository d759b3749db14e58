//! # mfa — S3 and SQS with MFA session credentials
//!
//! The Rust port of the SOS notebook `mfa_nonmfa/s3_example_mfa.ipynb`. Accounts such as NASA
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
//! 7. Receive a message from the SQS queue (the sandbox's seeded one, or `--queue-url`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use aws_credential_types::provider::SharedCredentialsProvider;
use clap::Parser;
use common::credentials;
use common::geo::GeoSummary;
use common::{CommonArgs, Connection, MfaArgs, Target, TransferOptions};

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

    /// SQS queue URL for step 7 [default: the seed's `.env` key `sqs_url`].
    #[arg(long, env = "SOS_QUEUE_URL", value_name = "URL")]
    queue_url: Option<String>,

    /// Where to download the file: a file name, or a directory to put it in
    /// [default: ./<file name of --key>].
    #[arg(long, value_name = "PATH")]
    download_to: Option<PathBuf>,

    #[command(flatten)]
    mfa: MfaArgs,

    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    common::load_dotenv();
    let opt = Opt::parse();
    common::init_tracing(opt.common.verbose);
    common::error::exit_code(common::transfer::until_interrupted(run(opt)).await)
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let bucket = opt.common.bucket();
    let connection = Connection::open(&opt.common).await?;
    println!("{}", connection.announcement());

    // ANCHOR: step1
    // 1. Authenticate with MFA. The long-term credentials only call STS; every other client is
    //    built from the session credentials that GetSessionToken returns for a valid code.
    println!("\n1. Authenticate with MFA and create the clients");
    //    `credentials::mfa_session` finds the device, reuses a cached session the service still
    //    accepts, else asks for the code (again on a terminal if it is refused) and makes this
    //    call with it:
    let sts = aws_sdk_sts::Client::new(connection.sdk_config());
    let session = credentials::mfa_session(&connection, opt.common.profile.as_deref(), &opt.mfa, |serial, code| {
        sts.get_session_token()
            .serial_number(serial)
            .token_code(code.as_str())
            .set_duration_seconds(opt.mfa.duration)
            .send()
    })
    .await?;
    println!("MFA device: {}", session.serial);
    if session.cached {
        println!(
            "Using the cached MFA session ({}); --no-cache asks for a new code.",
            credentials::describe_validity(&session.credentials)
        );
    } else {
        println!("MFA session ready ({}).", credentials::describe_validity(&session.credentials));
    }
    let session = session.credentials;
    let config =
        connection.sdk_config().to_builder().credentials_provider(SharedCredentialsProvider::new(session)).build();
    let s3 = connection.s3_client_with(&config);
    // ANCHOR_END: step1

    // 2. List all buckets.
    println!("\n2. List all buckets");
    let buckets = s3.list_buckets().send().await.context("listing buckets")?;
    println!("Existing buckets:");
    for b in buckets.buckets() {
        println!("  {}", b.name().unwrap_or_default());
    }

    // 3. List all files in the bucket, every page.
    println!("\n3. List all files in {bucket}");
    let mut pages = s3.list_objects_v2().bucket(&bucket).into_paginator().send();
    let mut listed = 0usize;
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing the files of {bucket}"))?;
        for object in page.contents() {
            println!("  {}  ({} bytes)", object.key().unwrap_or_default(), object.size().unwrap_or(0));
            listed += 1;
        }
    }
    if listed == 0 {
        println!("Bucket is empty or does not exist.");
    }

    // 4. Read a file and parse it as GeoJSON.
    let key = &opt.key;
    println!("\n4. Read the contents of {key}");
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?;
    let bytes = object.body.collect().await.with_context(|| format!("reading s3://{bucket}/{key}"))?.into_bytes();
    match std::str::from_utf8(&bytes).ok().and_then(|text| text.parse::<geojson::GeoJson>().ok()) {
        Some(geojson) => println!("GeoJSON:\n{}", GeoSummary::of(&geojson)),
        None => println!("Not GeoJSON ({} bytes).", bytes.len()),
    }

    // 5. Download the file (temp file + rename, like boto3's download_file).
    println!("\n5. Download {key}");
    let target = common::transfer::download_destination(opt.download_to.as_deref(), key)
        .context("the key has no file name; pass --download-to")?;
    let transfer = TransferOptions::default();
    let downloaded = common::download_to_file(&s3, &bucket, key, &target, &transfer).await?;
    println!("Downloaded to {} ({} bytes).", downloaded.path.display(), downloaded.bytes);

    // 6. Upload a file.
    let upload = opt.upload.clone().unwrap_or_else(|| common::sample_data_path(common::DEFAULT_KEY));
    let upload_key = format!("uploads/mfa/{}", upload.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    println!("\n6. Upload {}", upload.display());
    let uploaded = common::upload_file(&s3, &bucket, &upload_key, &upload, &transfer).await?;
    println!("Uploaded to s3://{bucket}/{upload_key} ({} bytes).", uploaded.bytes);

    // ANCHOR: step7
    // 7. Receive a message from the SQS queue with the same session credentials.
    println!("\n7. Receive a message from the queue");
    let queue_url =
        opt.queue_url.clone().or_else(|| std::env::var(common::settings::SEED_ENV_QUEUE_URL).ok()).or_else(|| {
            match connection.target() {
                // The sandbox seeds the SOS queue.
                Target::Sandbox { url, .. } => Some(format!("{url}/000000000000/{}", common::DEFAULT_QUEUE)),
                _ => None,
            }
        });
    match queue_url {
        None => println!("Skipped: no queue configured (--queue-url, SOS_QUEUE_URL, or sqs_url in .env)."),
        Some(queue_url) => {
            let sqs = aws_sdk_sqs::Client::new(&config);
            let received = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(1)
                .wait_time_seconds(5) // long polling: wait up to 5 s for a message to arrive
                .send()
                .await
                .with_context(|| format!("receiving from {queue_url}"))?;
            match received.messages().first() {
                Some(message) => {
                    println!("Message {}: {}", message.message_id().unwrap_or("?"), message.body().unwrap_or(""))
                }
                None => println!("No message waiting in {queue_url}."),
            }
        }
    }
    // ANCHOR_END: step7
    Ok(())
}
