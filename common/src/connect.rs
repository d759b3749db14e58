//! Turning the [`TargetChoice`] into an SDK configuration, starting or finding the sandbox on
//! the way.

use std::fmt;
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::settings::CommonArgs;
use crate::target::{SandboxReason, Target, TargetChoice, sandbox_url};

/// The region used for endpoints and sandboxes when nothing else names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// How long a client waits for a connection before it counts the attempt as failed (and retries).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client waits for the first byte of an answer, counted from the start of the request
/// (the SDK's read timeout): well beyond SQS's longest long poll (20 s), and long enough to send a
/// 16 MiB upload or 4 parallel 8 MiB parts at 140 KB/s; a connection that stalls longer is retried.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

pub use conventions::{SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY};

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
    /// The endpoint has no `http://` or `https://`.
    #[error("the endpoint {url:?} (from {origin}) has no scheme: write http://{url} (a local server) or https://{url}")]
    EndpointScheme {
        /// The URL as given.
        url: String,
        /// Where it came from.
        origin: String,
    },
    /// Nothing listens at the endpoint.
    #[error(
        "nothing listens at {url} (from {origin}): start the sandbox with `cargo run -p sandbox`, or {}",
        drop_hint(origin)
    )]
    EndpointRefused {
        /// The URL.
        url: String,
        /// Where it came from.
        origin: String,
    },
    /// The profile named is in neither AWS file.
    #[error("{}", no_profile_line(profile, origin, available))]
    NoSuchProfile {
        /// The profile asked for.
        profile: String,
        /// Where its name came from (`--profile`, `AWS_PROFILE`, `AWS_PROFILE in ./.env`).
        origin: String,
        /// The profiles that do exist.
        available: Vec<String>,
    },
    /// One half of a key pair is set in the environment.
    #[error(
        "{present} is set{} but {missing} is not: set both, or neither to use a profile or the sandbox",
        present_where(present)
    )]
    HalfKey {
        /// The variable that is set.
        present: &'static str,
        /// The one that is missing.
        missing: &'static str,
    },
    /// The SDK's chain found no credentials for AWS.
    #[error(
        "no AWS credentials for profile {profile} ({detail}): run `aws configure` or `aws sso login`, \
         or pass --sandbox to use the local sandbox"
    )]
    NoCredentials {
        /// The profile in use.
        profile: String,
        /// What the chain said.
        detail: String,
    },
    /// The running sandbox listens beyond loopback, so it refuses `test`/`test`.
    #[error(
        "the sandbox at {url} listens beyond loopback and accepts only its own keys: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY to what `cargo run -p sandbox -- keys` prints on its machine"
    )]
    SandboxOwnKeys {
        /// Its URL.
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

/// Where the examples' AWS calls go — AWS itself, an endpoint, or the sandbox — and the SDK
/// configuration for it: `aws_config`'s loader with the chosen region, endpoint and credentials.
/// It opens no connection (the clients do, on their first call). Keep it alive while you use clients made
/// from it: it owns the embedded sandbox, if one was started.
pub struct Aws {
    target: Target,
    sdk_config: SdkConfig,
    #[cfg(feature = "sandbox")]
    _embedded: Option<sandbox::Sandbox>,
}

impl fmt::Debug for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aws").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Aws {
    /// Chooses the target (see [`crate::target`]), starts or finds the sandbox if that is the choice, and
    /// loads the SDK configuration for it with `aws_config::defaults(BehaviorVersion::latest())`.
    pub async fn load(args: &CommonArgs) -> Result<Self, ConnectError> {
        Self::load_choice(args, TargetChoice::from_args(args)).await
    }

    /// Like [`Aws::load`], with the target already chosen.
    ///
    /// Retries are the SDK's own settings on every target: `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`,
    /// or the profile's `max_attempts` / `retry_mode` (default: standard, 3 attempts); timeouts
    /// are [`CONNECT_TIMEOUT`] and [`READ_TIMEOUT`].
    pub async fn load_choice(args: &CommonArgs, choice: TargetChoice) -> Result<Self, ConnectError> {
        check_key_pair()?;
        if !matches!(choice, TargetChoice::Sandbox { .. })
            && let Some(profile) = &args.profile
        {
            check_profile(profile).await?;
        }
        if let TargetChoice::Endpoint { url, source } = &choice {
            check_endpoint(url, source).await?;
        }
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
                loader = loader.region(endpoint_region(explicit_region, args.profile.as_deref())).endpoint_url(&url);
                // With no AWS configuration at all, the default chain would end at the instance
                // metadata service; local servers accept the sandbox's keys, so use those.
                if !crate::target::aws_configured_here(args.profile.is_some()) {
                    loader = loader.credentials_provider(sandbox_credentials());
                }
                Target::Endpoint { url, source }
            }
            TargetChoice::Sandbox { reason } => {
                let found = find_sandbox().await?;
                loader = loader
                    .region(explicit_region.unwrap_or(Region::from_static(conventions::SANDBOX_REGION)))
                    .endpoint_url(&found.url)
                    .credentials_provider(sandbox_credentials());
                let is_embedded = found.is_embedded();
                #[cfg(feature = "sandbox")]
                {
                    embedded = found.embedded;
                }
                Target::Sandbox { url: found.url, embedded: is_embedded, reason, data_dir: found.data_dir }
            }
        };

        let mut sdk_config = loader.load().await;
        if !matches!(target, Target::Sandbox { .. }) {
            match crate::credentials::RoleProfile::find(args.profile.as_deref()).await? {
                Some(role) => sdk_config = with_role_mfa_provider(sdk_config, &role, &target).await,
                None => check_credentials(&sdk_config, args.profile.as_deref()).await?,
            }
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

    /// An S3 client from `config` (for example this target's configuration with other
    /// credentials), path-style when the endpoint is custom.
    pub fn s3_client_with(&self, config: &SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(config).force_path_style(self.uses_custom_endpoint()).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// This target's configuration with MFA session credentials, for programs where MFA is an
    /// option (`--mfa`): see [`crate::credentials::mfa_session_config`].
    pub async fn mfa_session_config(
        &self,
        profile: Option<&str>,
        mfa: &crate::MfaArgs,
    ) -> Result<SdkConfig, crate::credentials::CredentialsError> {
        crate::credentials::mfa_session_config(&self.sdk_config, &self.target, profile, mfa).await
    }

    /// The line an example prints first: which target, and how to choose another.
    pub fn announcement(&self) -> String {
        let region = self.sdk_config.region().map(|r| r.to_string()).unwrap_or_else(|| "none".into());
        match &self.target {
            Target::Aws { profile } => format!(
                "Target: AWS (profile {}, region {region}). Pass --sandbox to use the local sandbox instead.",
                profile.as_deref().unwrap_or("default")
            ),
            Target::Endpoint { url, source } => {
                let hint = drop_hint(source);
                let hint = hint[..1].to_uppercase() + &hint[1..];
                format!("Target: the endpoint {url} (from {source}, region {region}). {hint}.")
            }
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

    /// For a program whose data other programs should see (the uploader's files, the
    /// subscriber's queue): one line saying that the sandbox it started is its own, or `None`.
    pub fn private_sandbox_note(&self, program: &str) -> Option<String> {
        matches!(self.target, Target::Sandbox { embedded: true, .. }).then(|| {
            format!(
                "Note: no sandbox was running, so {program} started its own, which no other program can see and which \
                 ends with it. Start a shared one first with `cargo run -p sandbox` (in another terminal)."
            )
        })
    }
}

/// The region for a custom endpoint: the flag, the environment or the profile, never the instance
/// metadata service (a custom endpoint has no business probing it), else [`FALLBACK_REGION`].
fn endpoint_region(explicit: Option<Region>, profile: Option<&str>) -> RegionProviderChain {
    let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(profile) = profile {
        profile_region = profile_region.profile_name(profile);
    }
    RegionProviderChain::first_try(explicit)
        .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .or_else(profile_region.build())
        .or_else(Region::from_static(FALLBACK_REGION))
}

/// The sandbox a program uses: the running one at `SOS_SANDBOX_URL`, else one started in this
/// process (or another program's standalone one on the same data directory).
struct FoundSandbox {
    url: String,
    data_dir: Option<std::path::PathBuf>,
    #[cfg(feature = "sandbox")]
    embedded: Option<sandbox::Sandbox>,
}

impl FoundSandbox {
    /// Whether this process serves it.
    fn is_embedded(&self) -> bool {
        #[cfg(feature = "sandbox")]
        return self.embedded.is_some();
        #[cfg(not(feature = "sandbox"))]
        false
    }
}

async fn find_sandbox() -> Result<FoundSandbox, ConnectError> {
    let url = sandbox_url();
    if let Some(health) = sandbox_health(&url).await {
        if health.own_keys && !env_key_pair_set() {
            return Err(ConnectError::SandboxOwnKeys { url });
        }
        #[cfg(feature = "sandbox")]
        return Ok(FoundSandbox { url, data_dir: None, embedded: None });
        #[cfg(not(feature = "sandbox"))]
        return Ok(FoundSandbox { url, data_dir: None });
    }
    #[cfg(feature = "sandbox")]
    {
        let (url, embedded) = start_or_join_embedded().await?;
        let data_dir = embedded.as_ref().map(|s| s.data_dir().to_path_buf());
        Ok(FoundSandbox { url, data_dir, embedded })
    }
    #[cfg(not(feature = "sandbox"))]
    Err(ConnectError::NoSandbox { url })
}

/// How to stop using an endpoint that came from `source`.
fn drop_hint(source: &str) -> String {
    match source.split_once(" in ") {
        _ if source == "--endpoint-url" => "drop --endpoint-url to use AWS or the sandbox".to_owned(),
        Some((var, file)) => format!("remove the {var} line from {file} to use AWS or the sandbox"),
        None => format!("unset {source} to use AWS or the sandbox"),
    }
}

fn no_profile_line(profile: &str, source: &str, available: &[String]) -> String {
    let files = "~/.aws/config or ~/.aws/credentials";
    let fix = if available.is_empty() {
        format!("there are no profiles; make it with `aws configure --profile {profile}`")
    } else {
        format!("the profiles there are {}", available.join(", "))
    };
    let drop = match source.split_once(" in ") {
        Some((var, file)) => format!("; fix the {var} line of {file}"),
        None if source == "--profile" => String::new(),
        None => format!("; fix or unset {source}"),
    };
    format!("profile {profile:?} (from {source}) is not in {files}: {fix}{drop}")
}

fn present_where(name: &str) -> String {
    crate::settings::dotenv_source(name).map(|p| format!(" (in {})", p.display())).unwrap_or_default()
}

/// Refuses half a key pair in the environment before the SDK's chain would skip it and go on
/// to the instance-metadata service.
fn check_key_pair() -> Result<(), ConnectError> {
    use crate::settings::non_empty_env;
    const ID: &str = "AWS_ACCESS_KEY_ID";
    const SECRET: &str = "AWS_SECRET_ACCESS_KEY";
    match (non_empty_env(ID), non_empty_env(SECRET)) {
        (Some(_), None) => Err(ConnectError::HalfKey { present: ID, missing: SECRET }),
        (None, Some(_)) => Err(ConnectError::HalfKey { present: SECRET, missing: ID }),
        _ => Ok(()),
    }
}

/// Refuses a profile that is in neither AWS file, naming the ones that are.
async fn check_profile(profile: &str) -> Result<(), ConnectError> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let source = match crate::settings::non_empty_env("AWS_PROFILE") {
        Some(from_env) if from_env == profile => crate::settings::describe_variable("AWS_PROFILE"),
        _ => "--profile".to_owned(),
    };
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        Some(profile.to_owned().into()),
    )
    .await;
    let available: Vec<String> = match &set {
        Ok(set) if set.get_profile(profile).is_some() => return Ok(()),
        Ok(set) => {
            let mut names: Vec<String> = set.profiles().map(str::to_owned).collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    };
    Err(ConnectError::NoSuchProfile { profile: profile.to_owned(), origin: source, available })
}

/// Refuses an endpoint without a scheme, and one where nothing listens (checked with one TCP
/// connection, so the first line says what is wrong rather than a failed request later).
async fn check_endpoint(url: &str, source: &str) -> Result<(), ConnectError> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(ConnectError::EndpointScheme { url: url.to_owned(), origin: source.to_owned() });
    }
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        return Err(ConnectError::EndpointScheme { url: url.to_owned(), origin: source.to_owned() });
    };
    let Some(host) = uri.host() else { return Ok(()) };
    let port = uri.port_u16().unwrap_or(if lower.starts_with("https") { 443 } else { 80 });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ConnectError::EndpointRefused { url: url.to_owned(), origin: source.to_owned() })
        }
        // Anything else (a slow network, a name that does not resolve here) is left for the
        // requests to report.
        _ => Ok(()),
    }
}

/// Asks the configured chain for credentials once, so that missing ones end the run with one line
/// before any request (and without the instance-metadata client's warnings).
async fn check_credentials(config: &SdkConfig, profile: Option<&str>) -> Result<(), ConnectError> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let Some(provider) = config.credentials_provider() else { return Ok(()) };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(err) => {
            let mut detail = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(inner) = source {
                detail = inner.to_string();
                source = inner.source();
            }
            tracing::info!(%detail, "the credentials chain found nothing");
            // The chain's last provider is the instance-metadata service; what it says about itself
            // on a machine that is not an EC2 instance only confuses.
            if detail.contains("IMDS") || detail.to_ascii_lowercase().contains("metadata") {
                detail = "none in the environment, the AWS files, SSO or instance metadata".to_owned();
            }
            Err(ConnectError::NoCredentials { profile: profile.unwrap_or("default").to_owned(), detail })
        }
    }
}

/// Whether both `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are set.
fn env_key_pair_set() -> bool {
    use crate::settings::non_empty_env;
    non_empty_env("AWS_ACCESS_KEY_ID").is_some() && non_empty_env("AWS_SECRET_ACCESS_KEY").is_some()
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
/// Rust cannot prompt for the code itself, as boto3 and the aws CLI do.
async fn with_role_mfa_provider(
    config: SdkConfig,
    role: &crate::credentials::RoleProfile,
    target: &Target,
) -> SdkConfig {
    let mfa = crate::settings::MfaArgs::from_env();
    let mut source = aws_config::profile::ProfileFileCredentialsProvider::builder();
    if let Some(name) = &role.source_profile {
        source = source.profile_name(name);
    }
    let sts_config = config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(source.build()))
        .build();
    let cache = (!mfa.no_cache)
        .then(|| crate::credentials::SessionCache::entry("role", role.profile.as_deref(), &role.mfa_serial, target));
    let provider =
        crate::credentials::AssumeRoleWithMfaProvider::new(aws_sdk_sts::Client::new(&sts_config), role, None, cache);
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
    let data_dir = crate::settings::non_empty_env(conventions::SANDBOX_DATA_DIR_ENV)
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
    /// Whether it accepts only keys of its own (it listens beyond loopback), not `test`/`test`.
    pub own_keys: bool,
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

    let uri = format!("{}{}", url.trim_end_matches('/'), conventions::HEALTH_PATH).parse::<hyper::Uri>().ok()?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let probe = async {
        let resp = client.get(uri).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        let health: serde_json::Value = serde_json::from_slice(&body).ok()?;
        (health.get("service").and_then(|s| s.as_str()) == Some(conventions::HEALTH_SERVICE_NAME)).then(|| {
            SandboxHealth {
                standalone: health.get("standalone").and_then(|s| s.as_bool()) == Some(true),
                own_keys: health.get("keys").and_then(|s| s.as_str()) == Some("own"),
            }
        })
    };
    tokio::time::timeout(Duration::from_millis(500), probe).await.ok().flatten()
}
