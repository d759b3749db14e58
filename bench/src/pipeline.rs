//! `sos-pipeline-bench`: times the publish/subscribe pipeline from upload to file on disk, for
//! `bench/pipeline.sh`. A subscriber must already be writing into `--download-dir`.
//!
//! Latency: `--count` small files, one at a time: time from the start of the PutObject to the
//! moment the file exists (the subscriber renames it into place, so existence means complete),
//! checked every 0.5 ms. Throughput: `--burst` files of 1 KiB uploaded 16 at a time; files per
//! second until the last one is on disk.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{Aws, CommonArgs};
use futures::StreamExt as _;

/// Upload→download latency and throughput of the pipeline.
#[derive(Debug, Parser)]
struct Opt {
    #[command(flatten)]
    common: CommonArgs,

    /// The subscriber's download directory.
    #[arg(long)]
    download_dir: PathBuf,

    /// Small files for the latency figures.
    #[arg(long, default_value_t = 200)]
    count: usize,

    /// 1 KiB files for the throughput figure.
    #[arg(long, default_value_t = 1000)]
    burst: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let opt = Opt::parse();
    common::error::exit_code(run(opt).await)
}

async fn wait_for(path: &Path, deadline: Instant) -> anyhow::Result<()> {
    while !path.exists() {
        anyhow::ensure!(Instant::now() < deadline, "{} did not appear", path.display());
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    Ok(())
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let aws = Aws::load(&opt.common).await?;
    let s3 = aws.s3_client();
    let bucket = opt.common.bucket();
    let run = std::process::id();

    let mut latencies = Vec::with_capacity(opt.count);
    for i in 0..opt.count {
        let key = format!("bench-{run}/latency/{i}.json");
        let started = Instant::now();
        s3.put_object().bucket(&bucket).key(&key).body(format!("{{\"i\":{i}}}").into_bytes().into()).send().await?;
        wait_for(&opt.download_dir.join(&key), started + Duration::from_secs(30)).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
    println!(
        "latency over {} small files: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );

    let body = vec![b'x'; 1024];
    let started = Instant::now();
    let keys: Vec<String> = (0..opt.burst).map(|i| format!("bench-{run}/burst/{i}.bin")).collect();
    let uploads = futures::stream::iter(keys.iter().map(|key| {
        let (s3, bucket, body) = (s3.clone(), bucket.clone(), body.clone());
        async move { s3.put_object().bucket(bucket).key(key).body(body.into()).send().await }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    anyhow::ensure!(uploads.iter().all(Result::is_ok), "an upload failed");
    let deadline = started + Duration::from_secs(300);
    for key in &keys {
        wait_for(&opt.download_dir.join(key), deadline).await?;
    }
    let elapsed = started.elapsed();
    println!(
        "{} × 1 KiB: all on disk in {:.2} s, {:.0} files/s",
        opt.burst,
        elapsed.as_secs_f64(),
        opt.burst as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
