//! A local stand-in for the AWS services the SOS examples use, served on one port.
//!
//! The sandbox lets anyone run the examples and the tests with no AWS account. It listens on one
//! address (by default `127.0.0.1:4566`, the LocalStack convention) and routes each request to a
//! service: `GET /_sandbox/health` answers JSON for discovery, and everything else is S3. The S3
//! wire protocol and the SigV4 signature check come from the [`s3s`] crate; objects live on disk
//! under a data directory through [`s3s_fs`], which writes each object to a temp file and renames
//! it, so a crash never leaves half an object under its real key. Later services (STS, SQS, SNS)
//! plug into the same router by the service named in the SigV4 credential scope or by the
//! `X-Amz-Target` header, so every service shares one port and one set of credentials.
//!
//! The sandbox runs embedded ([`Sandbox::start`] inside the caller's tokio runtime, on an ephemeral
//! or given port) or standalone (`cargo run -p sandbox`). Either way it seeds its data directory
//! on first start with the bucket `snow-observing-systems` and the sample files of the
//! repository's `data/` folder.
//!
//! **One server per data directory.** A process that serves a data directory holds an exclusive
//! lock on `<data dir>/.sandbox.lock` and writes its URL to `<data dir>/.sandbox.url`. A second
//! process that tries to serve the same directory gets [`Error::DataDirInUse`], carrying the URL
//! of the server that holds it, so it can use that server instead of writing beside it (the
//! examples do so when that server is standalone, and otherwise wait for the directory to be
//! free). The lock is released by the operating system when the holder exits, however it exits.

pub mod identity;
pub mod mfa;
pub mod notify;
mod query;
mod router;
mod s3;
mod seed;
pub mod sigv4;
pub mod sns;
pub mod sqs;
pub mod sts;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use seed::{
    SEED_BUCKET, SEED_DLQ, SEED_DLQ_RETENTION_SECONDS, SEED_MAX_RECEIVES, SEED_OBJECTS, SEED_QUEUE, SEED_TOPIC,
};

/// Access key id every sandbox accepts (the LocalStack convention).
pub const ACCESS_KEY_ID: &str = "test";
/// Secret access key that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "test";
/// The region the sandbox claims to be.
pub const REGION: &str = "us-east-1";
/// The account id of every sandbox resource.
pub const ACCOUNT_ID: &str = "000000000000";
/// The address a standalone sandbox listens on, and where examples look for a running one.
pub const DEFAULT_ADDR: &str = "127.0.0.1:4566";
/// The path of the unauthenticated health check.
pub const HEALTH_PATH: &str = "/_sandbox/health";
/// The `service` field of the health check's JSON, which tells a sandbox from any other server.
pub const HEALTH_SERVICE_NAME: &str = "sos-sandbox";

const LOCK_FILE: &str = ".sandbox.lock";
const URL_FILE: &str = ".sandbox.url";

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process serves this data directory; use its server instead.
    #[error("the sandbox data directory {} is in use by another process{}", data_dir.display(),
        url.as_deref().map(|u| format!(" serving {u}")).unwrap_or_default())]
    DataDirInUse {
        /// The directory.
        data_dir: PathBuf,
        /// The URL the other process serves it on, when it wrote one.
        url: Option<String>,
    },
    /// The address could not be bound (for example, the port is taken).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file or directory of the data directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The MFA secret is not usable.
    #[error(transparent)]
    MfaSecret(#[from] mfa::BadSecret),
    /// The S3 storage layer refused to start.
    #[error("cannot open the S3 store in {}: {message}", path.display())]
    Store {
        /// The data directory.
        path: PathBuf,
        /// What s3s-fs said.
        message: String,
    },
}

impl Error {
    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io { action, path: path.to_path_buf(), source }
    }
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Where buckets and objects are stored.
    pub data_dir: PathBuf,
    /// Seed the sample bucket and objects when the data directory has not been seeded yet.
    pub seed: bool,
    /// Delete everything in the data directory first (then seed again if `seed` is set).
    pub reset: bool,
    /// Every call but STS needs credentials obtained with an MFA code (the application key
    /// [`identity::APP_ACCESS_KEY_ID`] is exempt), as on accounts such as NASA SMCE.
    pub require_mfa: bool,
    /// The virtual MFA device's base32 secret [default: [`mfa::DEFAULT_MFA_SECRET`]].
    pub mfa_secret: Option<String>,
    /// The shortest STS session lifetime granted, in seconds (AWS: 900). Tests lower it to watch
    /// credentials expire.
    pub min_session_seconds: u64,
    /// Serving until stopped by hand (`cargo run -p sandbox`), as opposed to embedded in a
    /// program that stops it when it exits. Reported by the health check, so that other
    /// processes know whether they may rely on this server staying up.
    pub standalone: bool,
}

impl SandboxOptions {
    /// Options for a sandbox on an ephemeral loopback port, storing its data in `data_dir`.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            seed: true,
            reset: false,
            require_mfa: false,
            mfa_secret: None,
            min_session_seconds: 900,
            standalone: false,
        }
    }
}

impl Default for SandboxOptions {
    /// The standalone defaults: `127.0.0.1:4566` and the per-user data directory.
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 4566))),
            data_dir: default_data_dir(),
            seed: true,
            reset: false,
            require_mfa: false,
            mfa_secret: None,
            min_session_seconds: 900,
            standalone: true,
        }
    }
}

/// The per-user directory where the sandbox keeps its data unless told otherwise:
/// `$XDG_DATA_HOME/sos-sandbox` (usually `~/.local/share/sos-sandbox`) on Linux,
/// `~/Library/Application Support/sos-sandbox` on macOS.
pub fn default_data_dir() -> PathBuf {
    dirs::data_local_dir().unwrap_or_else(std::env::temp_dir).join("sos-sandbox")
}

/// The URL recorded by the process that serves `data_dir`, if any process does now.
///
/// Returns `None` when no process holds the data directory's lock.
pub fn serving_url(data_dir: &Path) -> Option<String> {
    let lock = OpenOptions::new().read(true).write(true).open(data_dir.join(LOCK_FILE)).ok()?;
    match lock.try_lock() {
        // Nobody holds it: whatever URL file is there is stale.
        Ok(()) => None,
        Err(_) => std::fs::read_to_string(data_dir.join(URL_FILE)).ok().map(|s| s.trim().to_owned()),
    }
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct Sandbox {
    url: String,
    addr: SocketAddr,
    data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    // Held for the sandbox's lifetime; the OS releases the lock when the file is closed.
    _lock: File,
}

impl Sandbox {
    /// Starts a sandbox inside the current tokio runtime and returns once it accepts connections.
    pub async fn start(options: SandboxOptions) -> Result<Self, Error> {
        let data_dir = &options.data_dir;
        std::fs::create_dir_all(data_dir).map_err(Error::io("creating", data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(Error::io("resolving", data_dir))?;

        let lock = acquire_lock(&data_dir)?;
        if options.reset {
            seed::reset(&data_dir)?;
        }
        if options.seed {
            seed::seed_if_new(&data_dir)?;
        }

        let listener =
            TcpListener::bind(options.addr).await.map_err(|source| Error::Bind { addr: options.addr, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: options.addr, source })?;
        let url = format!("http://{addr}");
        let sqs = std::sync::Arc::new(sqs::Sqs::default());
        let sns = std::sync::Arc::new(sns::Sns::new(sqs.clone(), &url));
        let notifications =
            std::sync::Arc::new(notify::Notifications::new(sqs.clone(), sns.clone(), &url, sns::topic_arn(SEED_TOPIC)));
        if options.seed {
            seed::seed_messaging(&sqs, &sns, &url);
            seed::seed_notifications(&notifications);
        }
        let mfa = mfa::MfaDevice::new(options.mfa_secret.as_deref().unwrap_or(mfa::DEFAULT_MFA_SECRET))?;
        let settings = router::RouterSettings {
            standalone: options.standalone,
            require_mfa: options.require_mfa,
            mfa,
            min_session_seconds: options.min_session_seconds,
            sqs: sqs.clone(),
            sns: sns.clone(),
            notifications,
        };
        let router = router::Router::new(&data_dir, settings)?;
        write_url_file(&data_dir, &url)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, router, shutdown_rx));
        tracing::info!(%url, data_dir = %data_dir.display(), "sandbox is serving");
        Ok(Self { url, addr, data_dir, shutdown, server: Some(server), _lock: lock })
    }

    /// The base URL, for example `http://127.0.0.1:4566`; use it as the endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data directory it serves.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops accepting connections, lets requests in flight finish (up to 10 s), and releases
    /// the data directory.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let _ = std::fs::remove_file(self.data_dir.join(URL_FILE));
    }
}

fn acquire_lock(data_dir: &Path) -> Result<File, Error> {
    let path = data_dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(Error::io("opening", &path))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(TryLockError::WouldBlock) => Err(Error::DataDirInUse {
            data_dir: data_dir.to_path_buf(),
            url: std::fs::read_to_string(data_dir.join(URL_FILE)).ok().map(|s| s.trim().to_owned()),
        }),
        Err(TryLockError::Error(source)) => Err(Error::Io { action: "locking", path, source }),
    }
}

/// Writes `bytes` to `path` through a temp file and a rename, readable by the owner only (0600):
/// for files that hold credentials.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn write_url_file(data_dir: &Path, url: &str) -> Result<(), Error> {
    let path = data_dir.join(URL_FILE);
    let tmp = data_dir.join(format!("{URL_FILE}.{}", std::process::id()));
    let mut file = File::create(&tmp).map_err(Error::io("writing", &tmp))?;
    writeln!(file, "{url}").map_err(Error::io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("writing", &path))
}

async fn serve(listener: TcpListener, router: router::Router, mut shutdown: watch::Receiver<bool>) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "accepting a connection failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), router.clone());
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {
            tracing::warn!("requests still in flight after 10 s; stopping anyway");
        }
    }
}
