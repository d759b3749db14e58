//! A local stand-in for the AWS services the SOS examples use — S3, STS, SQS and SNS, with S3
//! event notifications and the pipeline's Lambda function run in-process — served on one port.
//!
//! The sandbox lets anyone run the examples and the tests with no AWS account. It listens on one
//! address (by default `127.0.0.1:4566`, the LocalStack convention). It reads as layers whose
//! imports point one way:
//!
//! - `http`: the one request pipeline. Route (`GET /_sandbox/health`; `X-Amz-Target` or the
//!   SigV4 credential scope; everything else is S3) → the gate (signature, caller, MFA policy:
//!   one implementation for every service) → the service → the answer, errors included, in the
//!   service's own wire format ([`error::AwsError`] rendered as S3 XML, query XML or JSON 1.0).
//! - `services`: S3 (the [`s3s`] protocol and S3's rules over the sandbox's own object store,
//!   with its event notifications and their delivery), STS, SQS and SNS; each decodes its own
//!   inputs into typed structs and encodes its own replies. `seed` sits beside them.
//! - `state`: the durable store (SQLite) of buckets and objects (bytes inline or in files named
//!   by an id), S3's event outbox, sessions, queues, messages, topics, subscriptions and
//!   notification settings.
//!
//! **What persists.** Everything the sandbox acknowledged survives the sandbox process being
//! killed at any moment and restarted on the same data directory: objects (their bytes written
//! before their row commits), the events of every acknowledged write until they are delivered,
//! STS sessions, queues with their messages (receive counts and visibility deadlines included),
//! topics, subscriptions and bucket notification settings. A power loss of the machine may lose the last moments unless the sandbox runs with
//! [`state::Durability::Fsync`] (`sandbox --fsync`). The seed — the bucket `snow-observing-systems`
//! with the sample files of the repository's `data/` folder, the topic, the queue with its
//! dead-letter queue, and the notification wiring — is applied once per data directory;
//! `reset` starts again from it.
//!
//! The sandbox runs embedded ([`Sandbox::start`] inside the caller's tokio runtime, on an
//! ephemeral or given port) or standalone (`cargo run -p sandbox`).
//!
//! **One server per data directory.** A process that serves a data directory holds an exclusive
//! lock on `<data dir>/.sandbox.lock` and writes its URL to `<data dir>/.sandbox.url`. A second
//! process that tries to serve the same directory gets [`Error::DataDirInUse`], carrying the URL
//! of the server that holds it, so it can use that server instead of writing beside it (the
//! examples do so when that server is standalone, and otherwise wait for the directory to be
//! free). The lock is released by the operating system when the holder exits, however it exits.

pub mod aws;
mod data_dir;
pub mod error;
pub mod http;
pub mod identity;
pub mod keys;
pub mod mfa;
mod seed;
pub mod services;
pub mod state;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

// The names the examples share with the sandbox live in `conventions`; these are the sandbox's
// names for them.
pub use conventions::{
    HEALTH_PATH, HEALTH_SERVICE_NAME, SANDBOX_ACCESS_KEY_ID as ACCESS_KEY_ID, SANDBOX_ACCOUNT_ID as ACCOUNT_ID,
    SANDBOX_ADDR as DEFAULT_ADDR, SANDBOX_REGION as REGION, SANDBOX_SECRET_ACCESS_KEY as SECRET_ACCESS_KEY,
};
pub use data_dir::{default_data_dir, serving_url};
pub use error::Error;
pub use http::chaos;
pub use seed::{
    SEED_BUCKET, SEED_DLQ, SEED_DLQ_RETENTION_SECONDS, SEED_MAX_RECEIVES, SEED_OBJECTS, SEED_QUEUE, SEED_TOPIC,
};
pub use services::s3::notify;

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
    /// How hard the durable store tries to reach the disk before the sandbox answers.
    pub durability: state::Durability,
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
    /// Fault rules active from the start (`--chaos FILE`, `SOS_SANDBOX_CHAOS`); more can be
    /// posted to `/_sandbox/chaos/faults` while it runs.
    pub chaos: Vec<chaos::Rule>,
}

impl SandboxOptions {
    /// Options for a sandbox on an ephemeral loopback port, storing its data in `data_dir`,
    /// embedded in a program (not standalone); the rest as [`SandboxOptions::default`].
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            standalone: false,
            ..Self::default()
        }
    }
}

impl Default for SandboxOptions {
    /// The standalone defaults: `127.0.0.1:4566`, the per-user data directory, seeded, MFA not
    /// required, AWS's 900 s shortest session, no fault rules.
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 4566))),
            data_dir: default_data_dir(),
            seed: true,
            reset: false,
            durability: state::Durability::Process,
            require_mfa: false,
            mfa_secret: None,
            min_session_seconds: 900,
            standalone: true,
            chaos: Vec::new(),
        }
    }
}

/// Whether `data_dir` holds data a sandbox wrote (objects, queues, sessions): what `--no-seed`
/// would serve as it is.
pub fn holds_data(data_dir: &Path) -> bool {
    seed::holds_data(data_dir)
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct Sandbox {
    url: String,
    addr: SocketAddr,
    data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    delivery: JoinHandle<()>,
    chaos: Arc<chaos::Chaos>,
    keys: keys::LongTermKeys,
    // Held for the sandbox's lifetime; the OS releases the lock when the file is closed.
    _lock: File,
}

impl Sandbox {
    /// Starts a sandbox inside the current tokio runtime and returns once it accepts connections.
    pub async fn start(options: SandboxOptions) -> Result<Self, Error> {
        let data_dir = &options.data_dir;
        std::fs::create_dir_all(data_dir).map_err(Error::io("creating", data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(Error::io("resolving", data_dir))?;

        let lock = data_dir::acquire_lock(&data_dir)?;
        // The port first: a sandbox that cannot listen changes nothing in the data directory.
        let listener =
            TcpListener::bind(options.addr).await.map_err(|source| Error::Bind { addr: options.addr, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: options.addr, source })?;
        let url = format!("http://{addr}");
        let keys = keys::LongTermKeys::for_host(options.addr.ip(), &data_dir)?;
        if options.reset {
            seed::reset(&data_dir)?;
        }
        let state_error = |source| Error::State { path: data_dir.clone(), source };
        let store = Arc::new(state::Store::open(&data_dir, options.durability).map_err(state_error)?);
        let store_error =
            |err: state::objects::ObjectError| Error::Store { path: data_dir.clone(), message: err.to_string() };
        let objects = Arc::new(state::objects::ObjectStore::open(store.clone(), &data_dir).map_err(store_error)?);
        if options.seed {
            seed::seed_objects(&data_dir, &objects).await?;
            seed::version_seed_bucket(&data_dir, &store, &objects)?;
        } else {
            seed::keep_unseeded(&data_dir, &store)?;
        }

        let identities = Arc::new(
            identity::Identities::load(store.clone(), &data_dir, options.require_mfa, keys.clone())
                .map_err(state_error)?,
        );
        let sqs = Arc::new(services::sqs::Sqs::open(store.clone()).map_err(state_error)?);
        let sns = Arc::new(services::sns::Sns::open(store.clone(), sqs.clone(), &url).map_err(state_error)?);
        let gate = http::gate::Gate::new(identities.clone());
        let chaos = Arc::new(chaos::Chaos::new(options.chaos.clone()));
        let notifications =
            Arc::new(notify::Notifications::open(store.clone(), sqs.clone(), sns.clone()).map_err(state_error)?);
        if options.seed {
            seed::seed_messaging(&store, &sqs, &sns, &notifications, &url).map_err(Error::Seed)?;
        }
        let delivery = Arc::new(services::s3::delivery::Delivery::new(
            objects.outbox().clone(),
            sqs.clone(),
            sns.clone(),
            lambda_sns_client(http::in_process::sns_client(gate.clone(), sns.clone(), chaos.clone()), &keys.app),
            aws::topic_arn(SEED_TOPIC),
        ));
        let delivery_task = tokio::spawn(delivery.clone().run());
        let mfa = mfa::MfaDevice::new(options.mfa_secret.as_deref().unwrap_or(mfa::DEFAULT_MFA_SECRET))?;
        let mut s3 =
            s3s::service::S3ServiceBuilder::new(services::s3::SandboxS3::new(objects.clone(), notifications, delivery));
        s3.set_auth(http::gate::S3Secrets(gate.clone()));
        s3.set_access(http::chaos::request::S3Faults {
            chaos: chaos.clone(),
            admission: http::gate::S3Admission(gate.clone()),
        });
        s3.set_validation(services::s3::AnyBucketName);
        let health = serde_json::json!({
            "service": HEALTH_SERVICE_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "region": REGION,
            "services": ["s3", "sts", "sqs", "sns"],
            "data_dir": data_dir,
            "standalone": options.standalone,
            "require_mfa": options.require_mfa,
            "mfa_serial": identity::MFA_SERIAL,
            "pid": std::process::id(),
            "keys": keys_kind(&keys),
        });
        let router = http::Router {
            s3: s3.build(),
            gate,
            sts: Arc::new(services::sts::Sts::new(
                identities,
                mfa,
                services::sts::Lifetimes { min: options.min_session_seconds },
            )),
            sqs,
            sns,
            health: health.to_string().into(),
            public_health: serde_json::json!({ "service": HEALTH_SERVICE_NAME, "keys": keys_kind(&keys) })
                .to_string()
                .into(),
            chaos: chaos.clone(),
            objects,
            peer: None,
        };
        data_dir::write_url_file(&data_dir, &url)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, router, shutdown_rx));
        tracing::info!("sandbox serving {url} (data in {})", data_dir.display());
        Ok(Self {
            url,
            addr,
            data_dir,
            shutdown,
            server: Some(server),
            delivery: delivery_task,
            chaos,
            keys,
            _lock: lock,
        })
    }

    /// The long-term keys it accepts: `test`/`test` and the application key on loopback, its own
    /// beyond (see [`keys`]).
    pub fn keys(&self) -> &keys::LongTermKeys {
        &self.keys
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

    /// Its fault rules and effects, the same the chaos API (`/_sandbox/chaos/…`) changes.
    pub fn chaos(&self) -> &chaos::Chaos {
        &self.chaos
    }

    /// Stops accepting connections, lets requests in flight finish (up to 10 s), and releases
    /// the data directory.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        // Events not yet delivered wait in the outbox for the next start.
        self.delivery.abort();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.delivery.abort();
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        data_dir::remove_url_file(&self.data_dir);
    }
}

/// The `keys` field of the health check: `well-known` (`test`/`test`) or `own`.
fn keys_kind(keys: &keys::LongTermKeys) -> &'static str {
    if keys.are_well_known() { "well-known" } else { "own" }
}

/// The SNS client of the Lambda stand-in: its requests reach this sandbox's SNS in-process,
/// signed with the MFA-exempt application key, as a Lambda's role would be exempt.
fn lambda_sns_client(
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    app: &keys::KeyPair,
) -> aws_sdk_sns::Client {
    let credentials = aws_credential_types::Credentials::new(
        app.access_key_id.clone(),
        app.secret_access_key.clone(),
        None,
        None,
        "sandbox-lambda",
    );
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new(REGION))
        // Never dialled: the in-process client answers; the SDK still needs an endpoint to sign for.
        .endpoint_url("http://sandbox.internal")
        .credentials_provider(credentials)
        .http_client(http)
        // The SDK's retries stay (a lost answer is retried as over HTTP) but without its
        // one-second backoff: a delivery that still fails goes back to the outbox, which retries.
        .retry_config(
            aws_sdk_sns::config::retry::RetryConfig::standard()
                .with_initial_backoff(std::time::Duration::from_millis(10)),
        )
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

async fn serve(listener: TcpListener, router: http::Router, mut shutdown: watch::Receiver<bool>) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accepting a connection failed: {err}");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), http::Router { peer: Some(peer), ..router.clone() });
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!("a connection ended with an error: {err}");
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
