//! The SOS S3 walk-through in a project of your own: list the files of a bucket, read one,
//! download it, upload a file, and (when `QUEUE_URL` is set) receive one announcement from the
//! SQS queue.
//!
//! ```text
//! cargo run                                      # bucket snow-observing-systems, its GeoJSON file
//! cargo run -- my-bucket data/result.geojson     # another bucket and file
//! cargo run -- my-bucket data/result.geojson notes.txt    # upload notes.txt instead
//! ```
//!
//! Credentials, region and endpoint come from the SDK's default chain, as in every AWS SDK
//! program: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and `~/.aws/config`, SSO,
//! `AWS_REGION`, and `AWS_ENDPOINT_URL` for a local server such as the SOS sandbox.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use aws_config::BehaviorVersion;
use aws_sdk_s3::primitives::ByteStream;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bucket = args.next().unwrap_or_else(|| "snow-observing-systems".to_owned());
    let key = args.next().unwrap_or_else(|| "Optimization_result.geojson".to_owned());
    let upload: Option<PathBuf> = args.next().map(PathBuf::from);

    // 1. Load the shared configuration (credentials, region, endpoint) the way every SDK does,
    //    and make an S3 client from it. A local server named by AWS_ENDPOINT_URL wants
    //    path-style URLs (http://host/bucket/key) instead of the bucket in the host name.
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let s3_config =
        aws_sdk_s3::config::Builder::from(&config).force_path_style(config.endpoint_url().is_some()).build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    println!(
        "Region {}, endpoint {}",
        config.region().map(|r| r.as_ref()).unwrap_or("(none)"),
        config.endpoint_url().unwrap_or("(AWS)")
    );

    // 2. List the files of the bucket: the paginator follows the continuation tokens, so this
    //    reads every page (one response holds at most 1,000 keys).
    println!("Files in {bucket}:");
    let mut pages = s3.list_objects_v2().bucket(&bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing the files of {bucket}"))?;
        for object in page.contents() {
            println!("  {}  ({} bytes)", object.key().unwrap_or_default(), object.size().unwrap_or(0));
        }
    }

    // 3. Read a file into memory: boto3's `get_object(...)["Body"].read()`.
    let object = s3.get_object().bucket(&bucket).key(&key).send().await.with_context(|| format!("reading {key}"))?;
    let bytes = object.body.collect().await.with_context(|| format!("reading {key}"))?.into_bytes();
    let text = String::from_utf8_lossy(&bytes);
    println!("Read {key}: {} bytes, starting {:?}", bytes.len(), text.chars().take(40).collect::<String>());

    // 4. Download it to a file (boto3's `download_file`): stream the body to a temporary file
    //    and rename it when complete, so a failed download never leaves half a file behind.
    let name = Path::new(&key).file_name().context("the key has no file name")?;
    let target = PathBuf::from(name);
    let partial = target.with_extension("part");
    let object =
        s3.get_object().bucket(&bucket).key(&key).send().await.with_context(|| format!("downloading {key}"))?;
    let mut body = object.body.into_async_read();
    let mut file =
        tokio::fs::File::create(&partial).await.with_context(|| format!("creating {}", partial.display()))?;
    let written = tokio::io::copy(&mut body, &mut file).await.with_context(|| format!("downloading {key}"))?;
    file.sync_all().await?;
    tokio::fs::rename(&partial, &target).await?;
    println!("Downloaded {key} to {} ({written} bytes)", target.display());

    // 5. Upload a file (boto3's `upload_file`): the file given, else the one just downloaded.
    let upload = upload.unwrap_or(target);
    if !upload.is_file() {
        bail!("{} is not a file", upload.display());
    }
    let upload_key = format!("uploads/your-project/{}", upload.file_name().context("no file name")?.to_string_lossy());
    let body = ByteStream::from_path(&upload).await.with_context(|| format!("reading {}", upload.display()))?;
    s3.put_object()
        .bucket(&bucket)
        .key(&upload_key)
        .body(body)
        .send()
        .await
        .with_context(|| format!("uploading {}", upload.display()))?;
    println!("Uploaded {} to s3://{bucket}/{upload_key}", upload.display());

    // 6. With QUEUE_URL set, wait up to 20 s for one message on the SQS queue (long polling),
    //    print it and delete it: a message is only gone once deleted.
    if let Ok(queue_url) = std::env::var("QUEUE_URL") {
        let sqs = aws_sdk_sqs::Client::new(&config);
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(20)
            .send()
            .await
            .with_context(|| format!("receiving from {queue_url}"))?;
        match received.messages().first() {
            Some(message) => {
                println!("Message: {}", message.body().unwrap_or_default());
                if let Some(handle) = message.receipt_handle() {
                    sqs.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await?;
                }
            }
            None => println!("No message on {queue_url} within 20 s."),
        }
    }
    Ok(())
}
