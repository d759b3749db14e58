//! # basic — the SOS S3 example in six steps
//!
//! The Rust port of the Snow Observing Systems `basic/s3_example.py`: connect to S3, list the
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

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Parser;
use common::geo::GeoSummary;
use common::{CommonArgs, Connection, TransferOptions};

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

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    common::load_dotenv();
    let opt = Opt::parse();
    common::init_tracing(opt.common.verbose);
    common::error::exit_code(common::transfer::until_interrupted(run(opt)).await)
}
// ANCHOR_END: main

async fn run(opt: Opt) -> anyhow::Result<()> {
    // ANCHOR: connect
    let bucket = opt.common.bucket();
    let connection = Connection::open(&opt.common).await?;
    println!("{}", connection.announcement());
    // ANCHOR_END: connect

    // ANCHOR: step1
    // 1. Create an S3 client. `Connection` loaded the shared configuration with
    //    `aws_config::defaults(BehaviorVersion::latest())` (credentials, region, endpoint);
    //    every service client is built from it. Sandboxes and other S3-compatible servers want
    //    path-style URLs (http://host/bucket/key) rather than bucket names in the host name.
    println!("\n1. Create an S3 client");
    let s3_config = aws_sdk_s3::config::Builder::from(connection.sdk_config())
        .force_path_style(connection.uses_custom_endpoint())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let region = connection.sdk_config().region().map(ToString::to_string).unwrap_or_default();
    println!("S3 client ready (region {region}).");
    // ANCHOR_END: step1

    // ANCHOR: step2
    // 2. List all buckets.
    println!("\n2. List all buckets");
    let buckets = s3.list_buckets().send().await.context("listing buckets")?;
    println!("Existing buckets:");
    for b in buckets.buckets() {
        println!("  {}", b.name().unwrap_or_default());
    }
    // ANCHOR_END: step2

    // ANCHOR: step3
    // 3. List all files in the bucket. One response holds at most 1,000 keys; the paginator
    //    follows the continuation tokens until every page has been read.
    println!("\n3. List all files in {bucket}");
    let mut pages = s3.list_objects_v2().bucket(&bucket).set_prefix(opt.prefix.clone()).into_paginator().send();
    let mut listed = 0usize;
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_bucket()) => {
                bail!(
                    "bucket {bucket} does not exist (NoSuchBucket); pick one of the buckets listed above with --bucket"
                );
            }
            Err(err) => return Err(err).with_context(|| format!("listing the files of {bucket}")),
        };
        for object in page.contents() {
            println!("  {}  ({} bytes)", object.key().unwrap_or_default(), object.size().unwrap_or(0));
            listed += 1;
        }
    }
    if listed == 0 {
        println!("Bucket is empty or does not exist.");
    }
    // ANCHOR_END: step3

    // ANCHOR: step4
    // 4. Read the contents of a file: GetObject streams the body; for a small file, collect
    //    it into memory and parse it as GeoJSON.
    let key = &opt.key;
    println!("\n4. Read the contents of {key}");
    let object = match s3.get_object().bucket(&bucket).key(key).send().await {
        Ok(object) => object,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
            bail!("s3://{bucket}/{key} does not exist (NoSuchKey); pass --key with one of the files listed above");
        }
        Err(err) => return Err(err).with_context(|| format!("reading s3://{bucket}/{key}")),
    };
    let content_type = object.content_type().unwrap_or("unknown").to_owned();
    let size = object.content_length().unwrap_or(0);
    if size > READ_IN_MEMORY_LIMIT {
        // Too large to hold in memory: show how it starts; step 5 streams the whole file to disk.
        let mut body = object.body;
        let head = body.try_next().await.with_context(|| format!("reading s3://{bucket}/{key}"))?.unwrap_or_default();
        let head = String::from_utf8_lossy(&head[..head.len().min(120)]).into_owned();
        println!("{size} bytes ({content_type}): too large to parse in memory here. First bytes: {head:?}");
    } else {
        let body = object.body.collect().await.with_context(|| format!("reading s3://{bucket}/{key}"))?;
        let bytes = body.into_bytes();
        println!("Read {} bytes ({content_type}).", bytes.len());
        describe_contents(&bytes);
    }
    // ANCHOR_END: step4

    // ANCHOR: step5
    // 5. Download the file. `download_to_file` streams the body into a temp file beside the
    //    target and renames it into place when complete, like boto3's `download_file`.
    let Some(download_to) = common::transfer::download_destination(opt.download_to.as_deref(), key) else {
        bail!("{key:?} has no file name; pass --download-to with a file name");
    };
    println!("\n5. Download {key}");
    let transfer = TransferOptions::default();
    let downloaded = common::download_to_file(&s3, &bucket, key, &download_to, &transfer).await?;
    println!("Downloaded s3://{bucket}/{key} to {} ({} bytes).", downloaded.path.display(), downloaded.bytes);
    // ANCHOR_END: step5

    // ANCHOR: step6
    // 6. Upload a file. `upload_file` sends small files in one PutObject and large ones as a
    //    parallel multipart upload, like boto3's `upload_file`.
    let upload = opt.upload.clone().unwrap_or_else(|| common::sample_data_path(common::DEFAULT_KEY));
    let upload_key = match &opt.upload_key {
        Some(k) => k.clone(),
        None => format!("uploads/{}", file_name_of(&upload.to_string_lossy())?),
    };
    println!("\n6. Upload {}", upload.display());
    if !upload.exists() {
        bail!("{} does not exist; pass --upload with a file to upload", upload.display());
    }
    if !upload.is_file() {
        bail!("{} is not a file; pass --upload with a file to upload", upload.display());
    }
    let uploaded = common::upload_file(&s3, &bucket, &upload_key, &upload, &transfer).await?;
    println!("Uploaded to s3://{bucket}/{upload_key} ({} bytes).", uploaded.bytes);
    // ANCHOR_END: step6
    Ok(())
}

/// Step 4 reads files up to this size into memory (64 MiB).
const READ_IN_MEMORY_LIMIT: i64 = 64 * 1024 * 1024;

// ANCHOR: describe
/// Parses `bytes` as GeoJSON with the `geojson` crate and prints a summary, or says it is not
/// GeoJSON and shows how it starts.
fn describe_contents(bytes: &[u8]) {
    match std::str::from_utf8(bytes).ok().and_then(|text| text.parse::<geojson::GeoJson>().ok()) {
        Some(geojson) => println!("GeoJSON:\n{}", GeoSummary::of(&geojson)),
        None => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
            println!("Not GeoJSON. First bytes: {head:?}");
        }
    }
}
// ANCHOR_END: describe

/// The last path segment of a key or path, or an error saying why there is none.
fn file_name_of(key: &str) -> anyhow::Result<String> {
    match Path::new(key).file_name() {
        Some(name) => Ok(name.to_string_lossy().into_owned()),
        None => bail!("{key:?} has no file name; pass --download-to or --upload-key"),
    }
}
