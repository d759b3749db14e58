//! Plumbing shared by the SOS examples, so that each example's `main.rs` can be about the lesson.
//!
//! An example's `main` is [`main`] (through [`example_main!`]): it reads a `.env` file the way the
//! original scripts did ([`load_dotenv`]), parses the flags with [`CommonArgs`] flattened in
//! (bucket, endpoint, profile, region, `--sandbox`, `-v`), sets up logging, and turns the result
//! of the example's `run` into one `Error: …` line ([`error`]) or success. [`Aws::load`]
//! decides where requests go — an endpoint the user named, the local sandbox (a running one, or
//! one started inside the process when nothing is configured), or AWS — without any network call
//! to AWS ([`target`]), and loads the SDK configuration for it; [`Aws::announcement`] is
//! the line each example prints first. [`transfer`] holds the upload and download helpers
//! (streaming, multipart, atomic rename), [`credentials`] the MFA and STS session machinery, and
//! [`error`] the one classifier of AWS error codes ([`error::ErrorKind`]) and the one-line
//! description of an SDK error chain. The names the examples share with the sandbox are
//! [`conventions`]'s.
//!
//! The embedded sandbox comes in through the default cargo feature `sandbox`; without it,
//! `common` needs only the AWS SDK (and `conventions`), and the sandbox choice means a sandbox
//! already running.

pub mod connect;
pub mod credentials;
pub mod error;
pub mod geo;
pub mod settings;
pub mod target;
pub mod transfer;

pub use connect::{Aws, ConnectError};
pub use conventions;
pub use conventions::process::wait_for_signal;
pub use conventions::sandbox_queue_url;
pub use settings::{
    CommonArgs, DEFAULT_BUCKET, DEFAULT_KEY, DEFAULT_QUEUE, DEFAULT_TOPIC, MfaArgs, OptionalMfa, init_tracing,
    load_dotenv,
};
pub use target::{Target, TargetChoice};
pub use transfer::{TransferOptions, download_to_file, upload_file};

/// A sample file shipped in the repository's `data/` folder: `data/<name>` under the working
/// directory when it exists there, else the copy beside this crate's sources (so `cargo run`
/// finds it from any directory of the checkout).
pub fn sample_data_path(name: &str) -> std::path::PathBuf {
    let local = std::path::Path::new("data").join(name);
    if local.exists() {
        return local;
    }
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).join("data").join(name)
}

/// An example's `main`, for an `Opt` with a `common: CommonArgs` field (flattened) and an
/// `async fn run(opt: Opt) -> anyhow::Result<()>`: `common::example_main!(Opt, run);` is
/// `fn main() -> ExitCode { common::main(run) }`, with `Opt`'s shared flags found in its `common`.
///
/// An example that uploads or downloads with [`transfer`] adds `transfers`:
/// `common::example_main!(Opt, run, transfers);` runs `run` inside
/// [`transfer::until_interrupted`], so Ctrl-C or SIGTERM aborts a multipart upload on the server
/// and removes a download's temp file before the process ends.
#[macro_export]
macro_rules! example_main {
    ($opt:ty, $run:path) => {
        $crate::example_main!(@common_args $opt);
        fn main() -> std::process::ExitCode {
            $crate::main($run)
        }
    };
    ($opt:ty, $run:path, transfers) => {
        $crate::example_main!(@common_args $opt);
        fn main() -> std::process::ExitCode {
            $crate::main(|opt: $opt| $crate::transfer::until_interrupted($run(opt)))
        }
    };
    (@common_args $opt:ty) => {
        impl AsRef<$crate::CommonArgs> for $opt {
            fn as_ref(&self) -> &$crate::CommonArgs {
                &self.common
            }
        }
    };
}

/// What every example's `main` does around its `run`: reads `./.env` ([`load_dotenv`]), parses the
/// command line into `O`, sets up logging from its `-v` ([`init_tracing`]), runs `run` on a tokio
/// runtime, and turns the result into the exit code: success, or one `Error: …` line on stderr
/// and failure ([`error::exit_code`]).
pub fn main<O, F, Fut, E>(run: F) -> std::process::ExitCode
where
    O: clap::Parser + AsRef<CommonArgs>,
    F: FnOnce(O) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: AsRef<dyn std::error::Error + Send + Sync + 'static>,
{
    load_dotenv();
    let opt = O::parse();
    init_tracing(opt.as_ref().verbose);
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => error::exit_code(runtime.block_on(run(opt))),
        Err(err) => {
            eprintln!("Error: cannot start the tokio runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
