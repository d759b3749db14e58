//! `sos-store-bench`: the sandbox's S3 object store alone (no HTTP), to choose the size below
//! which an object's bytes are kept in its SQLite row rather than in a file of their own. For
//! each size, puts then reads back objects with the bytes inline and with the bytes in files,
//! 16 tasks at once, and prints objects/s and MiB/s of each. Figures, not a test.
//!
//! Usage: cargo run --release -p bench --bin sos-store-bench [-- --mib 64]

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use futures::StreamExt as _;
use sandbox::state::objects::{Data, NewObject, ObjectMeta, ObjectStore, WriteCondition};
use sandbox::state::{Durability, Store};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Put and read objects of several sizes, inline and in files.
#[derive(Debug, Parser)]
struct Opt {
    /// MiB written per size and way (at least 500 objects).
    #[arg(long, default_value_t = 32)]
    mib: usize,
    /// Object sizes in KiB.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 16, 64, 128, 256, 1024])]
    sizes_kib: Vec<usize>,
    /// Tasks at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opt = Opt::parse();
    println!(
        "{:>9} {:>8} {:>12} {:>10} {:>12} {:>10}",
        "size", "bytes", "put obj/s", "put MiB/s", "get obj/s", "get MiB/s"
    );
    for kib in &opt.sizes_kib {
        let size = kib * 1024;
        let count = (opt.mib * 1024 * 1024 / size).max(500);
        for inline in [true, false] {
            let (put, get) = measure(size, count, inline, opt.concurrency).await?;
            let mib = |rate: f64| rate * size as f64 / (1024.0 * 1024.0);
            println!(
                "{:>7}Ki {:>8} {put:>12.0} {:>10.1} {get:>12.0} {:>10.1}",
                kib,
                if inline { "inline" } else { "file" },
                mib(put),
                mib(get)
            );
        }
    }
    Ok(())
}

/// Puts `count` objects of `size` bytes (inline or in files), then reads each back; objects/s.
async fn measure(size: usize, count: usize, inline: bool, concurrency: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let store = Arc::new(Store::open(dir.path(), Durability::Process).context("store")?);
    let objects = ObjectStore::open(store, dir.path()).context("object store")?;
    let objects = Arc::new(objects.with_inline_max(if inline { usize::MAX } else { 0 }));
    objects.create_bucket("bench").context("bucket")?;
    let body: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i % 251) as u8).collect());

    let started = Instant::now();
    let puts = futures::stream::iter(0..count)
        .map(|i| {
            let (objects, body) = (objects.clone(), body.clone());
            async move {
                let mut writer = objects.object_writer();
                writer.write(&body).await?;
                let data = writer.finish().await?;
                let new = NewObject {
                    meta: ObjectMeta::default(),
                    data,
                    size: body.len() as u64,
                    etag: format!("{i:032x}"),
                    tags: None,
                };
                objects.put("bench", &format!("k/{i}"), new, WriteCondition::default(), |_, _| Ok(())).await?;
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let put_rate = count as f64 / started.elapsed().as_secs_f64();
    puts.into_iter().collect::<Result<Vec<_>, _>>()?;

    let started = Instant::now();
    let gets = futures::stream::iter(0..count)
        .map(|i| {
            let objects = objects.clone();
            async move {
                let (version, _lease) = objects.current("bench", &format!("k/{i}"))?.context("missing")?;
                let len = match version.data {
                    Data::Inline(bytes) => bytes.len(),
                    Data::Pieces(pieces) => {
                        let mut len = 0;
                        for piece in pieces {
                            len += tokio::fs::read(objects.blobs().path(&piece.blob)).await?.len();
                        }
                        len
                    }
                };
                anyhow::ensure!(len == size, "read {len} bytes of {size}");
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let get_rate = count as f64 / started.elapsed().as_secs_f64();
    gets.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((put_rate, get_rate))
}
