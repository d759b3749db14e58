//! # uploader — put a data file in the bucket
//!
//! The Rust port of the SOS uploader script (send_receive): a model run uploads its output, and the
//! bucket announces it (S3 → Lambda `notifier` → SNS → SQS) to every subscriber.
//!
//! ```text
//! cargo run -p uploader                                  # Optimization_result.geojson
//! cargo run -p uploader -- results/run-42.geojson --key runs/run-42.geojson
//! cargo run -p uploader -- --mfa                         # with an MFA session, as the original did
//! ```
//!
//! Large files go up as a parallel multipart upload with a progress bar on a terminal.
//!
//! 1. Connect (and, with `--mfa`, get an MFA session).
//! 2. Upload the file.
//! 3. Report when, where, how big and how fast.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use common::{Aws, CommonArgs, OptionalMfa, TransferOptions};

/// Upload a data file to the SOS bucket; subscribers are told about it.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// The file to upload [default: Optimization_result.geojson here, else the repository's sample].
    file: Option<PathBuf>,

    /// The key to store it under [default: the file's name].
    #[arg(long, env = "SOS_KEY")]
    key: Option<String>,

    #[command(flatten)]
    mfa: OptionalMfa,

    #[command(flatten)]
    common: CommonArgs,
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let bucket = opt.common.bucket();
    let (file, key) = file_and_key(&opt)?;

    // ANCHOR: steps
    // 1. Connect; with --mfa, the clients use an MFA session (the original uploader always did).
    let aws = Aws::load(&opt.common).await?;
    println!("{}", aws.announcement());
    if let Some(note) = aws.private_sandbox_note(env!("CARGO_PKG_NAME")) {
        println!("{note}");
    }
    println!("\n1. Connect{}", if opt.mfa.enabled { " with an MFA session" } else { "" });
    let config = if opt.mfa.enabled {
        aws.mfa_session_config(opt.common.profile.as_deref(), &opt.mfa.args).await?
    } else {
        aws.sdk_config().clone()
    };
    let s3 = aws.s3_client_with(&config);
    println!("S3 client ready (region {}).", config.region().map(ToString::to_string).unwrap_or_default());

    // 2. Upload: one PutObject for small files, parallel multipart above 16 MiB
    //    (`common/src/transfer.rs`; in the book: "Streaming transfers").
    println!("\n2. Upload {} to s3://{bucket}/{key}", file.display());
    let uploaded = common::upload_file(&s3, &bucket, &key, &file, &TransferOptions::default()).await?;

    // 3. Report, in the original's words first.
    println!("\n3. Report");
    println!("Data uploaded successfully at {}!", chrono::Local::now().format("%Y-%m-%d %H:%M:%S"));
    println!(
        "s3://{bucket}/{key}: {} bytes in {:.2} s ({:.1} MiB/s)",
        uploaded.bytes,
        uploaded.elapsed.as_secs_f64(),
        uploaded.mib_per_sec()
    );
    // ANCHOR_END: steps
    Ok(())
}

/// The file to upload (by default `Optimization_result.geojson` here, else the repository's
/// sample) and the key to store it under (by default its name).
fn file_and_key(opt: &Opt) -> anyhow::Result<(PathBuf, String)> {
    let file = match &opt.file {
        Some(file) => file.clone(),
        None => {
            let here = PathBuf::from(common::DEFAULT_KEY);
            if here.exists() { here } else { common::sample_data_path(common::DEFAULT_KEY) }
        }
    };
    if !file.exists() {
        bail!("{} does not exist; pass the file to upload", file.display());
    }
    if !file.is_file() {
        bail!("{} is not a file; pass the file to upload", file.display());
    }
    let key = match &opt.key {
        Some(key) => key.clone(),
        None => file.file_name().context("the file has no name; pass --key")?.to_string_lossy().into_owned(),
    };
    Ok((file, key))
}

common::example_main!(Opt, run, transfers);
