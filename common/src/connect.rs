//! Turning the [`TargetChoice`] into an SDK configuration, starting or finding the sandbox on
//! the way.

use std::fmt;
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::settings::CommonArgs;
use crate::target::{SandboxReason, TargetChoice, sandbox_url};

/// The region used for endpoints and sandboxes when nothing else names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// How long a client waits for a connection before it counts the attempt as failed (and retries).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client waits for the first byte of an answer, counted from the start of the request
/// (the SDK's read timeout): well beyond SQS's longest long poll (20 s), and long enough to send a
/// 16 MiB upload or 4 parallel 8 MiB parts at 140 KB/s; a connection that stalls longer is retried.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The sandbox's long-term credentials (the LocalStack convention).
pub const SANDBOX_ACCESS_KEY_ID: &str = "test";
/// The secret that goes with [`SANDBOX_ACCESS_KEY_ID`].
pub const SANDBOX_SECRET_ACCESS_KEY: &str = "test";

/// Why no target could be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The sandbox was chosen, none is running, and this build cannot start one.
    #[error(
        "no sandbox answers at {url} and this build has no embedded sandbox (cargo feature `sandbox`); \
         start one with `cargo run -p sandbox`, or configure AWS credentials"
    )]
    NoSandbox {
        /// Where we looked.
        url: String,
    },
    /// The AWS config could not be read.
    #[error(transparent)]
    Credentials(#[from] crate::credentials::CredentialsError),
    /// The embedded sandbox could not start.
    #[cfg(feature = "sandbox")]
    #[error("cannot start the embedded sandbox: {0}")]
    Sandbox(#[from] sandbox::Error),
}

/// Where requests go, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An endpoint named by the user.
    Endpoint {
        /// Its URL.
        url: String,
        /// The flag or variable it came from.
        source: &'static str,
    },
    /// A sandbox.
    Sandbox {
        /// Its URL.
        url: String,
        /// Started inside this process (else: found running).
        embedded: bool,
        /// Why the sandbox was chosen.
        reason: SandboxReason,
        /// Where its data lives, when this process knows.
        data_dir: Option<std::path::PathBuf>,
    },
    /// AWS itself.
    Aws {
        /// The profile named on the command line or by `AWS_PROFILE`, if any.
        profile: Option<String>,
    },
}

/// A resolved target with the SDK configuration for it. Keep it alive while you use clients made
/// from it: it owns the embedded sandbox, if one was started.
pub struct Connection {
    target: Target,
    sdk_config: SdkConfig,
    #[cfg(feature = "sandbox")]
    _embedded: Option<sandbox::Sandbox>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Connection {
    /// Chooses the target (DESIGN §3), starts or finds the sandbox if that is the choice, and
    /// loads the SDK configuration for it with `aws_config::defaults(BehaviorVersion::latest())`.
    pub async fn open(args: &CommonArgs) -> Result<Self, ConnectError> {
        Self::open_choice(args, TargetChoice::from_args(args)).await
    }

    /// Like [`Connection::open`], with the target already chosen.
    ///
    /// Retries are the SDK's own settings on every target: `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`,
    /// or the profile's `max_attempts` / `retry_mode` (default: standard, 3 attempts); timeouts
    /// are [`CONNECT_TIMEOUT`] and [`READ_TIMEOUT`].
    pub async fn open_choice(args: &CommonArgs, choice: TargetChoice) -> Result<Self, ConnectError> {
        let timeouts =
            aws_config::timeout::TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).read_timeout(READ_TIMEOUT);
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts.build());
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        let explicit_region = args.region.clone().map(Region::new);
        #[cfg(feature = "sandbox")]
        let mut embedded = None;

        let target = match choice {
            TargetChoice::Aws => {
                let region = RegionProviderChain::first_try(explicit_region)
                    .or_default_provider()
                    .or_else(Region::from_static(FALLBACK_REGION));
                loader = loader.region(region);
                Target::Aws { profile: args.profile.clone() }
            }
            TargetChoice::Endpoint { url, source } => {
                // Region from the flag, the environment or the profile, never from the instance
                // metadata service: a custom endpoint has no business probing it.
                let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
                if let Some(profile) = &args.profile {
                    profile_region = profile_region.profile_name(profile);
                }
                let region = RegionProviderChain::first_try(explicit_region)
                    .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
                    .or_else(profile_region.build())
                    .or_else(Region::from_static(FALLBACK_REGION));
                loader = loader.region(region).endpoint_url(&url);
                // With no AWS configuration at all, the default chain would end at the instance
                // metadata service; local servers accept the sandbox's keys, so use those.
                if !crate::target::aws_configured_here(args.profile.is_some()) {
                    loader = loader.credentials_provider(sandbox_credentials());
                }
                Target::Endpoint { url, source }
            }
            TargetChoice::Sandbox { reason } => {
                let url = sandbox_url();
                let (url, is_embedded, data_dir) = if is_sandbox(&url).await {
                    (url, false, None)
                } else {
                    #[cfg(feature = "sandbox")]
                    {
                        let (url, sandbox) = start_or_join_embedded().await?;
                        let data_dir = sandbox.as_ref().map(|s| s.data_dir().to_path_buf());
                        let is_embedded = sandbox.is_some();
                        embedded = sandbox;
                        (url, is_embedded, data_dir)
                    }
                    #[cfg(not(feature = "sandbox"))]
                    return Err(ConnectError::NoSandbox { url });
                };
                loader = loader
                    .region(explicit_region.unwrap_or(Region::from_static(FALLBACK_REGION)))
                    .endpoint_url(&url)
                    .credentials_provider(sandbox_credentials());
                Target::Sandbox { url, embedded: is_embedded, reason, data_dir }
            }
        };

        let mut sdk_config = loader.load().await;
        if !matches!(target, Target::Sandbox { .. })
            && let Some(role) = crate::credentials::RoleProfile::find(args.profile.as_deref()).await?
        {
            sdk_config = with_role_mfa_provider(sdk_config, args, &role, &target).await;
        }

        Ok(Self {
            target,
            sdk_config,
            #[cfg(feature = "sandbox")]
            _embedded: embedded,
        })
    }

    /// The resolved target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The shared SDK configuration: build any service client from it.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// Whether requests go to a custom endpoint (a sandbox or another S3-compatible server),
    /// which wants path-style S3 URLs (`http://host/bucket/key`).
    pub fn uses_custom_endpoint(&self) -> bool {
        !matches!(self.target, Target::Aws { .. })
    }

    /// An S3 client for this target, path-style when the endpoint is custom.
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        self.s3_client_with(&self.sdk_config)
    }

    /// An S3 client from `config` (for example this connection's configuration with other
    /// credentials), path-style when the endpoint is custom.
    pub fn s3_client_with(&self, config: &SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(config).force_path_style(self.uses_custom_endpoint()).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The line an example prints first: which target, and how to choose another.
    pub fn announcement(&self) -> String {
        let region = self.sdk_config.region().map(|r| r.to_string()).unwrap_or_else(|| "none".into());
        match &self.target {
            Target::Aws { profile } => format!(
                "Target: AWS (profile {}, region {region}). Pass --sandbox to use the local sandbox instead.",
                profile.as_deref().unwrap_or("default")
            ),
            Target::Endpoint { url, source } => format!(
                "Target: the endpoint {url} (from {source}, region {region}). Remove {source} to use AWS or the sandbox."
            ),
            Target::Sandbox { url, embedded, reason, data_dir } => {
                let how = if *embedded { "embedded sandbox started in this process" } else { "running sandbox" };
                let why = match reason {
                    SandboxReason::Asked => "--sandbox given",
                    SandboxReason::NoAwsConfiguration => "no AWS configuration found",
                };
                let data = data_dir.as_ref().map(|d| format!(", data in {}", d.display())).unwrap_or_default();
                let other = match reason {
                    SandboxReason::Asked => "Drop --sandbox to use AWS",
                    SandboxReason::NoAwsConfiguration => "Configure AWS credentials or a profile to use AWS",
                };
                let keep = if *embedded { "; `cargo run -p sandbox` keeps one running for other tools" } else { "" };
                format!("Target: the {how} at {url} ({why}{data}). {other}{keep}.")
            }
        }
    }
}

/// The sandbox's keys: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` when both are set (for
/// example the sandbox's MFA-exempt application key), else `test`/`test`.
fn sandbox_credentials() -> Credentials {
    use crate::settings::non_empty_env;
    match (non_empty_env("AWS_ACCESS_KEY_ID"), non_empty_env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => {
            Credentials::new(key, secret, non_empty_env("AWS_SESSION_TOKEN"), None, "environment")
        }
        _ => Credentials::new(SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY, None, None, "sos-sandbox"),
    }
}

/// Replaces the credentials of `config` by AssumeRole-with-MFA for a role profile: the SDK for
/// Rust cannot prompt for the code itself (awslabs/aws-sdk-rust#527).
async fn with_role_mfa_provider(
    config: SdkConfig,
    args: &CommonArgs,
    role: &crate::credentials::RoleProfile,
    target: &Target,
) -> SdkConfig {
    let mut source = aws_config::profile::ProfileFileCredentialsProvider::builder();
    if let Some(name) = &role.source_profile {
        source = source.profile_name(name);
    }
    let sts_config = config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(source.build()))
        .build();
    let cache = (!args.no_cache)
        .then(|| crate::credentials::SessionCache::entry("role", args.profile.as_deref(), &role.mfa_serial, target));
    let provider = crate::credentials::AssumeRoleWithMfaProvider::new(
        aws_sdk_sts::Client::new(&sts_config),
        role,
        args.token_code.clone(),
        cache,
    );
    config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build()
}

/// How long to wait for another process's embedded sandbox to release the data directory.
#[cfg(feature = "sandbox")]
const DATA_DIR_WAIT: Duration = Duration::from_secs(30);

/// Starts an embedded sandbox on an ephemeral port. When another process serves the data
/// directory, uses that server if it is a standalone one (it stays up), and otherwise waits for
/// the other process's embedded sandbox to finish, so two programs never write the directory at
/// once.
#[cfg(feature = "sandbox")]
async fn start_or_join_embedded() -> Result<(String, Option<sandbox::Sandbox>), ConnectError> {
    let data_dir = crate::settings::non_empty_env("SOS_SANDBOX_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(sandbox::default_data_dir);
    let deadline = tokio::time::Instant::now() + DATA_DIR_WAIT;
    let mut told = false;
    loop {
        match sandbox::Sandbox::start(sandbox::SandboxOptions::ephemeral(&data_dir)).await {
            Ok(sandbox) => return Ok((sandbox.url().to_owned(), Some(sandbox))),
            Err(sandbox::Error::DataDirInUse { url, data_dir }) => {
                if let Some(url) = url
                    && sandbox_health(&url).await.is_some_and(|h| h.standalone)
                {
                    tracing::info!(%url, "a standalone sandbox serves the data directory; using it");
                    return Ok((url, None));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(sandbox::Error::DataDirInUse { url: None, data_dir }.into());
                }
                if !told {
                    eprintln!("Waiting for another program's embedded sandbox to release {} …", data_dir.display());
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// What a sandbox's health check says about it.
#[derive(Debug, Clone)]
pub struct SandboxHealth {
    /// Whether it was started by hand and serves until stopped (else embedded in a program).
    pub standalone: bool,
}

/// Whether a sandbox answers its health check at `url`, waiting at most half a second.
pub async fn is_sandbox(url: &str) -> bool {
    sandbox_health(url).await.is_some()
}

/// The health of the sandbox at `url`, or `None` when no sandbox answers within half a second.
pub async fn sandbox_health(url: &str) -> Option<SandboxHealth> {
    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let uri = format!("{}/_sandbox/health", url.trim_end_matches('/')).parse::<hyper::Uri>().ok()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let probe = async {
        let resp = client.get(uri).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        let health: serde_json::Value = serde_json::from_slice(&body).ok()?;
        (health.get("service").and_then(|s| s.as_str()) == Some("sos-sandbox"))
            .then(|| SandboxHealth { standalone: health.get("standalone").and_then(|s| s.as_bool()) == Some(true) })
    };
    tokio::time::timeout(Duration::from_millis(500), probe).await.ok().flatten()
}
