//! # basic — the SOS S3 example in six steps
//!
//! The Rust port of the Snow Observing Systems basic S3 example: connect to S3, list the
//! buckets, list the files of one bucket, read and parse a GeoJSON file, download it, and upload
//! a file.
//!
//! ```text
//! cargo run -p basic                               # no AWS account: the local sandbox
//! cargo run -p basic -- --profile sos              # real AWS, with a profile of ~/.aws/config
//! cargo run -p basic -- --bucket my-bucket --key data/result.geojson --upload notes.txt
//! cargo run -p basic -- --help                     # every flag and its environment variable
//! ```
//!
//! With no AWS configuration at all, the example talks to a sandbox: a running one
//! (`cargo run -p sandbox`) if it answers at `SOS_SANDBOX_URL`, else one it starts inside
//! itself. The first line of output says which target it chose and how to choose another.
//!
//! 1. Create an S3 client from the shared SDK configuration.
//! 2. List all buckets.
//! 3. List all files (objects) in the bucket.
//! 4. Read a file's contents and parse them as GeoJSON.
//! 5. Download the file.
//! 6. Upload a file.

use std::path::PathBuf;

use basic::Files;
use clap::Parser;
use common::{Aws, CommonArgs};

// ANCHOR: opt
/// The SOS basic S3 example: list buckets and files, read a GeoJSON file, download it, upload a
/// file.
#[derive(Debug, Parser)]
#[command(version, after_help = "With no AWS configuration, the example uses the local sandbox.")]
struct Opt {
    /// List only the files whose keys start with this prefix.
    #[arg(long, env = "SOS_PREFIX")]
    prefix: Option<String>,

    /// The file to read (step 4) and download (step 5).
    #[arg(long, env = "SOS_KEY", default_value = common::DEFAULT_KEY)]
    key: String,

    /// Where to download the file: a file name, or a directory to put it in
    /// [default: ./<file name of --key>].
    #[arg(long, value_name = "PATH")]
    download_to: Option<PathBuf>,

    /// Local file to upload [default: data/Optimization_result.geojson of this repository].
    #[arg(long, value_name = "FILE")]
    upload: Option<PathBuf>,

    /// Key to upload the file as [default: uploads/<file name>].
    #[arg(long, value_name = "KEY")]
    upload_key: Option<String>,

    #[command(flatten)]
    common: CommonArgs,
}
// ANCHOR_END: opt

async fn run(opt: Opt) -> anyhow::Result<()> {
    // ANCHOR: connect
    let aws = Aws::load(&opt.common).await?;
    println!("{}", aws.announcement());
    // ANCHOR_END: connect

    // ANCHOR: step1
    // 1. Create an S3 client. `Aws` loaded the shared configuration with
    //    `aws_config::defaults(BehaviorVersion::latest())` (credentials, region, endpoint);
    //    every service client is built from it. Sandboxes and other S3-compatible servers want
    //    path-style URLs (http://host/bucket/key) rather than bucket names in the host name.
    println!("\n1. Create an S3 client");
    let s3_config =
        aws_sdk_s3::config::Builder::from(aws.sdk_config()).force_path_style(aws.uses_custom_endpoint()).build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let region = aws.sdk_config().region().map(ToString::to_string).unwrap_or_default();
    println!("S3 client ready (region {region}).");
    // ANCHOR_END: step1

    // ANCHOR: steps
    // Steps 2 to 6 are functions of `basic/src/lib.rs` (mfa runs them too), each showing its SDK
    // calls; the book's next sections show each one.
    let files = files(&opt)?;
    let (bucket, key) = (files.bucket.as_str(), files.key.as_str());

    // 2. List all buckets.
    println!("\n2. List all buckets");
    basic::list_buckets(&s3).await?;

    // 3. List all files in the bucket.
    println!("\n3. List all files in {bucket}");
    basic::list_files(&s3, bucket, files.prefix.as_deref()).await?;

    // 4. Read a file's contents and parse them as GeoJSON.
    println!("\n4. Read the contents of {key}");
    basic::read_file(&s3, bucket, key).await?;

    // 5. Download the file.
    let Some(download_to) = common::transfer::download_destination(files.download_to.as_deref(), key) else {
        anyhow::bail!("{key:?} has no file name; pass --download-to with a file name");
    };
    println!("\n5. Download {key}");
    basic::download(&s3, bucket, key, &download_to).await?;

    // 6. Upload a file.
    println!("\n6. Upload {}", files.upload.display());
    basic::upload(&s3, bucket, &files.upload, &files.upload_key).await
    // ANCHOR_END: steps
}

/// What steps 2 to 6 work on, from the flags.
fn files(opt: &Opt) -> anyhow::Result<Files> {
    let upload = opt.upload.clone().unwrap_or_else(|| common::sample_data_path(common::DEFAULT_KEY));
    let upload_key = match &opt.upload_key {
        Some(key) => key.clone(),
        None => format!("uploads/{}", basic::file_name_of(&upload.to_string_lossy())?),
    };
    Ok(Files {
        bucket: opt.common.bucket(),
        prefix: opt.prefix.clone(),
        key: opt.key.clone(),
        download_to: opt.download_to.clone(),
        upload,
        upload_key,
    })
}

// ANCHOR: main
common::example_main!(Opt, run, transfers);
// ANCHOR_END: main
