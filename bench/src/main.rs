//! `sos-transfer`: one upload or download through `common`'s transfer helpers, for the
//! benchmark script `bench/transfer.sh` to time and measure. Prints one line of figures.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::{Aws, CommonArgs, TransferOptions};

/// Upload or download one file with the helpers the examples use, and print MiB/s.
#[derive(Debug, Parser)]
struct Opt {
    #[command(flatten)]
    common: CommonArgs,

    /// Parts in flight at once for multipart uploads.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Upload FILE as KEY.
    Upload { file: PathBuf, key: String },
    /// Download KEY to FILE.
    Download { key: String, file: PathBuf },
}

#[tokio::main]
async fn main() -> ExitCode {
    let opt = Opt::parse();
    common::init_tracing(opt.common.verbose);
    common::error::exit_code(run(opt).await)
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let aws = Aws::load(&opt.common).await?;
    let s3 = aws.s3_client();
    let bucket = opt.common.bucket();
    let options = TransferOptions { concurrency: opt.concurrency, progress: false, ..TransferOptions::default() };
    match &opt.command {
        Command::Upload { file, key } => {
            let up = common::upload_file(&s3, &bucket, key, file, &options).await?;
            println!(
                "upload {} bytes in {:.3} s, {:.1} MiB/s, {} parts",
                up.bytes,
                up.elapsed.as_secs_f64(),
                up.mib_per_sec(),
                up.parts
            );
        }
        Command::Download { key, file } => {
            let down = common::download_to_file(&s3, &bucket, key, file, &options).await?;
            println!(
                "download {} bytes in {:.3} s, {:.1} MiB/s",
                down.bytes,
                down.elapsed.as_secs_f64(),
                down.mib_per_sec()
            );
        }
    }
    Ok(())
}
