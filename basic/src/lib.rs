//! Steps 2 to 6 of the SOS basic example — list the buckets, list a bucket's files, read a GeoJSON
//! file, download it, upload a file — each a function with its SDK calls in view. `basic`'s
//! `main.rs` runs them after creating its S3 client; `mfa` runs them again with MFA session
//! credentials.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use common::TransferOptions;
use common::geo::GeoSummary;

/// What steps 2 to 6 work on.
#[derive(Debug, Clone)]
pub struct Files {
    /// The bucket.
    pub bucket: String,
    /// Step 3 lists only the keys that start with this.
    pub prefix: Option<String>,
    /// The file steps 4 and 5 read and download.
    pub key: String,
    /// Where step 5 downloads it: a file name, or a directory to put it in [default: ./<file name>].
    pub download_to: Option<PathBuf>,
    /// The local file step 6 uploads.
    pub upload: PathBuf,
    /// The key step 6 uploads it as.
    pub upload_key: String,
}

/// Steps 2 to 6, in order, each under its numbered heading.
pub async fn steps_2_to_6(s3: &aws_sdk_s3::Client, files: &Files) -> anyhow::Result<()> {
    let (bucket, key) = (files.bucket.as_str(), files.key.as_str());
    // 2. List all buckets.
    println!("\n2. List all buckets");
    list_buckets(s3).await?;
    // 3. List all files in the bucket.
    println!("\n3. List all files in {bucket}");
    list_files(s3, bucket, files.prefix.as_deref()).await?;
    // 4. Read a file's contents and parse them as GeoJSON.
    println!("\n4. Read the contents of {key}");
    read_file(s3, bucket, key).await?;
    // 5. Download the file.
    let Some(download_to) = common::transfer::download_destination(files.download_to.as_deref(), key) else {
        bail!("{key:?} has no file name; pass --download-to with a file name");
    };
    println!("\n5. Download {key}");
    download(s3, bucket, key, &download_to).await?;
    // 6. Upload a file.
    println!("\n6. Upload {}", files.upload.display());
    upload(s3, bucket, &files.upload, &files.upload_key).await
}

// ANCHOR: step2
/// Step 2: every bucket these credentials can see.
pub async fn list_buckets(s3: &aws_sdk_s3::Client) -> anyhow::Result<()> {
    let buckets = s3.list_buckets().send().await.context("listing buckets")?;
    println!("Existing buckets:");
    for b in buckets.buckets() {
        println!("  {}", b.name().unwrap_or_default());
    }
    Ok(())
}
// ANCHOR_END: step2

// ANCHOR: step3
/// Step 3: every file of `bucket` (under `prefix`). One response holds at most 1,000 keys; the paginator
/// follows the continuation tokens until every page has been read.
pub async fn list_files(s3: &aws_sdk_s3::Client, bucket: &str, prefix: Option<&str>) -> anyhow::Result<()> {
    let mut pages = s3.list_objects_v2().bucket(bucket).set_prefix(prefix.map(str::to_owned)).into_paginator().send();
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
    Ok(())
}
// ANCHOR_END: step3

/// Step 4 reads files up to this size into memory (64 MiB).
const READ_IN_MEMORY_LIMIT: i64 = 64 * 1024 * 1024;

// ANCHOR: step4
/// Step 4: the contents of `key`: GetObject streams the body; a small file is collected into memory
/// and parsed as GeoJSON.
pub async fn read_file(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> anyhow::Result<()> {
    let object = match s3.get_object().bucket(bucket).key(key).send().await {
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
    Ok(())
}
// ANCHOR_END: step4

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

// ANCHOR: step5
/// Step 5: `key` downloaded to `to`. `download_to_file` streams the body into a temp file beside the
/// target and renames it into place when complete, like boto3's `download_file`; the code is
/// `common/src/transfer.rs` (in the book: "Streaming transfers").
pub async fn download(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, to: &Path) -> anyhow::Result<()> {
    let downloaded = common::download_to_file(s3, bucket, key, to, &TransferOptions::default()).await?;
    println!("Downloaded s3://{bucket}/{key} to {} ({} bytes).", downloaded.path.display(), downloaded.bytes);
    Ok(())
}
// ANCHOR_END: step5

// ANCHOR: step6
/// Step 6: `file` uploaded as `key`. `upload_file` sends small files in one PutObject and large ones as
/// a parallel multipart upload, like boto3's `upload_file`; the code is `common/src/transfer.rs`.
pub async fn upload(s3: &aws_sdk_s3::Client, bucket: &str, file: &Path, key: &str) -> anyhow::Result<()> {
    if !file.is_file() {
        bail!("{} is not a file; pass --upload with a file to upload", file.display());
    }
    let uploaded = common::upload_file(s3, bucket, key, file, &TransferOptions::default()).await?;
    println!("Uploaded to s3://{bucket}/{key} ({} bytes).", uploaded.bytes);
    Ok(())
}
// ANCHOR_END: step6

/// The last path segment of a key or path, or an error saying why there is none.
pub fn file_name_of(key: &str) -> anyhow::Result<String> {
    match Path::new(key).file_name() {
        Some(name) => Ok(name.to_string_lossy().into_owned()),
        None => bail!("{key:?} has no file name; pass --download-to or --upload-key"),
    }
}
