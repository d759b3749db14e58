//! `sos-service-bench`: the same AWS SDK for Rust client load against any endpoint — the
//! sandbox, moto, ministack — for `bench/services.sh` to compare. Prints one JSON line of ops/s.
//!
//! Load: `--ops` objects of `--size` bytes put, then got, 16 requests in flight (S3, path-style);
//! with `--notified-bucket`, `--ops` more put into that bucket, whose uploads are announced (S3
//! event → SNS → SQS, as `setup` wires it, or the sandbox's seeded bucket); `--lists` listings of
//! the first 1,000 keys; `--ops` messages sent, then received (up to 10 a call) and deleted one
//! by one, 16 workers (SQS).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use aws_sdk_s3::primitives::ByteStream;
use clap::Parser;
use futures::StreamExt as _;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measure S3 put/get and SQS send/receive+delete rates against one endpoint.
#[derive(Debug, Parser)]
struct Opt {
    /// The endpoint, for example http://127.0.0.1:4566.
    #[arg(long)]
    endpoint_url: String,
    /// Operations of each kind.
    #[arg(long, default_value_t = 2000)]
    ops: usize,
    /// Object size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Access key (the sandbox's `test` by default; moto and ministack take any).
    #[arg(long, default_value = "test")]
    access_key: String,
    /// Secret key.
    #[arg(long, default_value = "test")]
    secret_key: String,
    /// An existing bucket whose uploads are announced (notifications wired): measure PUT into it.
    #[arg(long)]
    notified_bucket: Option<String>,
    /// Listings of 1,000 keys to time (ListObjectsV2, max-keys 1000).
    #[arg(long, default_value_t = 200)]
    lists: usize,
}

/// Runs `op(0)` to `op(n - 1)`, `concurrency` at a time; the results in completion order and
/// the rate per second. The requests are polled together on this thread: spawning each on the
/// runtime's workers measured slower (the hand-offs cost more than the second core gave).
async fn in_flight<T, Fut>(n: usize, concurrency: usize, op: impl Fn(usize) -> Fut) -> anyhow::Result<(Vec<T>, f64)>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let results = futures::stream::iter(0..n).map(op).buffer_unordered(concurrency).collect::<Vec<_>>().await;
    let rate = rate(n, started);
    Ok((results.into_iter().collect::<anyhow::Result<_>>()?, rate))
}

/// Puts `ops` objects of `body` into `bucket` under `prefix`, `concurrency` in flight; ops/s.
async fn puts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    body: &[u8],
    ops: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let body = body.to_vec();
    let (_, rate) = in_flight(ops, concurrency, |i| {
        let request = s3.put_object().bucket(bucket).key(format!("{prefix}{i}")).body(ByteStream::from(body.clone()));
        async move { request.send().await.context("a PUT failed") }
    })
    .await?;
    Ok(rate)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Opt::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let credentials = aws_credential_types::Credentials::new(&opt.access_key, &opt.secret_key, None, None, "bench");
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&opt.endpoint_url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let run_id = std::process::id();
    let bucket = format!("bench-{run_id}");
    s3.create_bucket().bucket(&bucket).send().await.context("creating the bench bucket")?;
    let queue = sqs.create_queue().queue_name(format!("bench-{run_id}")).send().await.context("creating the queue")?;
    let queue_url = queue.queue_url().context("no queue URL")?.to_owned();
    let body = vec![b'x'; opt.size];

    let put_rate = puts(&s3, &bucket, "o/", &body, opt.ops, opt.concurrency).await?;

    let (got, get_rate) = in_flight(opt.ops, opt.concurrency, |i| {
        let request = s3.get_object().bucket(&bucket).key(format!("o/{i}"));
        async move {
            let out = request.send().await.context("a GET failed")?;
            Ok(out.body.collect().await.context("a GET's body failed")?.into_bytes().len())
        }
    })
    .await?;
    anyhow::ensure!(got.iter().all(|n| *n == opt.size), "a GET returned the wrong size");

    let (listed, list_rate) = in_flight(opt.lists, opt.concurrency, |_| {
        let request = s3.list_objects_v2().bucket(&bucket).prefix("o/").max_keys(1000);
        async move { Ok(request.send().await.context("a listing failed")?.contents().len()) }
    })
    .await?;
    anyhow::ensure!(listed.iter().all(|n| *n == opt.ops.min(1000)), "a listing returned the wrong number of keys");

    let notified_rate = match &opt.notified_bucket {
        Some(notified) => {
            let prefix = format!("bench-{run_id}/");
            Some(puts(&s3, notified, &prefix, &body, opt.ops, opt.concurrency).await?)
        }
        None => None,
    };

    let (_, send_rate) = in_flight(opt.ops, opt.concurrency, |i| {
        let request = sqs.send_message().queue_url(&queue_url).message_body(format!("message {i}"));
        async move { request.send().await.context("a send failed") }
    })
    .await?;

    // Timed to the last delete: workers still long-polling an empty queue then do not count.
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let finished = Arc::new(std::sync::Mutex::new(None));
    let workers = (0..opt.concurrency).map(|_| {
        let (sqs, url, done, total, finished) =
            (sqs.clone(), queue_url.clone(), done.clone(), opt.ops, finished.clone());
        tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < total {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    // Longer than the slowest endpoint (moto, ~10 deletes/s under this load)
                    // takes to delete a batch, so no handle expires before its delete.
                    .visibility_timeout(300)
                    .send()
                    .await?;
                for message in out.messages() {
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .send()
                        .await?;
                    if done.fetch_add(1, Ordering::SeqCst) + 1 == total {
                        *finished.lock().unwrap_or_else(|e| e.into_inner()) = Some(started.elapsed());
                    }
                }
            }
            Ok::<(), anyhow::Error>(())
        })
    });
    for worker in futures::future::join_all(workers).await {
        worker.context("a worker panicked")??;
    }
    let elapsed = finished.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(|| started.elapsed());
    let receive_rate = opt.ops as f64 / elapsed.as_secs_f64();

    let notified = notified_rate.map(|r| format!(", \"s3_put_notified\": {r:.0}")).unwrap_or_default();
    println!(
        "{{\"s3_put\": {put_rate:.0}, \"s3_get\": {get_rate:.0}, \"s3_list_1000\": {list_rate:.0}{notified}, \
         \"sqs_send\": {send_rate:.0}, \"sqs_receive_delete\": {receive_rate:.0}}}"
    );
    Ok(())
}
