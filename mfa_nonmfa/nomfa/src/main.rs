//! # nomfa — session credentials without MFA, for programs that run for days
//!
//! The Rust port of the SOS notebook on S3 without MFA (mfa_nonmfa). The SOS applications
//! of NOS-T run continuously and cannot stop to ask a person for an MFA code, so they use an
//! account the MFA requirement exempts and ask STS `GetSessionToken` for sessions with no MFA.
//! Here a credentials provider does that whenever the SDK finds its session near expiry, so the
//! program never re-authenticates by hand.
//!
//! ```text
//! cargo run -p nomfa                                  # no AWS account: the sandbox
//! cargo run -p nomfa -- --watch 60                    # keep listing every minute, for days
//! AWS_ACCESS_KEY_ID=sos-app AWS_SECRET_ACCESS_KEY=sos-app-secret \
//!     cargo run -p nomfa -- --sandbox                 # the sandbox's MFA-exempt app key
//! cargo run -p nomfa -- --profile sos-app             # real AWS
//! ```
//!
//! 1. Create the clients with a provider that calls `GetSessionToken` (no MFA) as needed.
//! 2. List the files under a prefix.
//! 3. Read a GeoJSON file and print it.
//! 4. Download it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use aws_credential_types::provider::SharedCredentialsProvider;
use clap::Parser;
use common::credentials::SessionTokenProvider;
use common::geo::GeoSummary;
use common::{Aws, CommonArgs, TransferOptions};

/// The SOS non-MFA example: S3 with GetSessionToken sessions that renew themselves.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// List the files under this prefix.
    #[arg(long, env = "SOS_PREFIX", default_value = "Missouri Open Loop sample output/")]
    prefix: String,

    /// The GeoJSON file to read and download [default: the first .geojson under the prefix].
    #[arg(long, env = "SOS_KEY")]
    key: Option<String>,

    /// Where to download the file: a file name, or a directory to put it in
    /// [default: ./<file name of the key>].
    #[arg(long, value_name = "PATH")]
    download_to: Option<PathBuf>,

    /// Keep listing the prefix every SECS seconds until Ctrl-C, renewing the session as needed.
    #[arg(long, value_name = "SECS")]
    watch: Option<u64>,

    /// Session lifetime to ask STS for, in seconds (STS's default: 12 hours).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<i32>,

    #[command(flatten)]
    common: CommonArgs,
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let aws = Aws::load(&opt.common).await?;
    println!("{}", aws.announcement());
    let bucket = opt.common.bucket();

    // ANCHOR: step1
    // 1. Create the clients. The long-term credentials go to STS only; S3 gets session
    //    credentials from a provider that calls GetSessionToken again whenever the SDK's
    //    identity cache finds the current session about to expire (`SessionTokenProvider`, in
    //    `common/src/credentials.rs`).
    println!("\n1. Create clients with self-renewing session credentials");
    let sts = aws_sdk_sts::Client::new(aws.sdk_config());
    let sessions = SessionTokenProvider::new(sts, opt.duration);
    let config = aws.sdk_config().to_builder().credentials_provider(SharedCredentialsProvider::new(sessions)).build();
    let s3 = aws.s3_client_with(&config);
    println!("S3 client ready; sessions come from STS GetSessionToken (no MFA).");
    // ANCHOR_END: step1

    // 2. List the files under the prefix.
    let prefix = &opt.prefix;
    println!("\n2. List the files under s3://{bucket}/{prefix}");
    let keys = list_prefix(&s3, &bucket, prefix).await?;
    for (key, size) in &keys {
        println!("  {key}  ({size} bytes)");
    }
    if keys.is_empty() {
        println!("No files under that prefix.");
    }

    // 3. Read a GeoJSON file and print it.
    let key = match &opt.key {
        Some(key) => key.clone(),
        None => keys
            .iter()
            .map(|(k, _)| k.clone())
            .find(|k| k.ends_with(".geojson"))
            .context("no .geojson file under the prefix; pass --key")?,
    };
    println!("\n3. Read {key}");
    println!("{}", GeoSummary::of(&read_geojson(&s3, &bucket, &key).await?));

    // 4. Download it.
    println!("\n4. Download {key}");
    let target = common::transfer::download_destination(opt.download_to.as_deref(), &key)
        .context("the key has no file name; pass --download-to")?;
    let downloaded = common::download_to_file(&s3, &bucket, &key, &target, &TransferOptions::default()).await?;
    println!("Downloaded to {} ({} bytes).", downloaded.path.display(), downloaded.bytes);

    // ANCHOR: watch
    // A long-running application: keep working; the provider renews the session by itself.
    if let Some(secs) = opt.watch {
        println!("\nWatching s3://{bucket}/{prefix} every {secs} s; Ctrl-C stops.");
        let mut ticks = tokio::time::interval(Duration::from_secs(secs.max(1)));
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = tokio::signal::ctrl_c() => break,
            }
            let keys = list_prefix(&s3, &bucket, prefix).await?;
            println!("{} files under the prefix", keys.len());
        }
    }
    // ANCHOR_END: watch
    Ok(())
}

/// Step 3: the GeoJSON file `key`, read whole (GetObject) and parsed.
async fn read_geojson(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> anyhow::Result<geojson::GeoJson> {
    let object = s3.get_object().bucket(bucket).key(key).send().await;
    let object = object.with_context(|| format!("reading s3://{bucket}/{key}"))?;
    let bytes = object.body.collect().await.with_context(|| format!("reading s3://{bucket}/{key}"))?.into_bytes();
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{key} is not UTF-8 text"))?;
    text.parse().with_context(|| format!("{key} is not GeoJSON"))
}

/// Steps 2 and the watch: every key and size under `prefix`, all pages.
async fn list_prefix(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
        keys.extend(page.contents().iter().map(|o| (o.key().unwrap_or_default().to_owned(), o.size().unwrap_or(0))));
    }
    Ok(keys)
}

common::example_main!(Opt, run);
