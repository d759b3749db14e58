//! Credentials beyond the SDK's default chain: MFA codes, a cache for MFA sessions, a provider
//! that keeps long-running programs supplied with `GetSessionToken` credentials, and
//! `AssumeRole` with MFA for profiles of the form `role_arn` + `source_profile` + `mfa_serial`
//! (which the AWS SDK for Rust does not prompt for, unlike boto3 and the aws CLI).
//!
//! The original's helpers did the same in Python: read `mfa_serial` from `~/.aws/config`, prompt
//! `Please enter your 6 digit MFA code:`, call STS `GetSessionToken`, and build clients from the
//! three returned values.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, future};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{ErrorKind, kind_of};
use crate::settings::MfaArgs;
use crate::target::Target;

/// The original's prompt, word for word.
pub const MFA_PROMPT: &str = "Please enter your 6 digit MFA code:";
pub use conventions::SANDBOX_MFA_SERIAL;
/// A cached session is used only while more than this is left of it.
pub const CACHE_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What went wrong getting credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The code is not six digits.
    #[error("the MFA code must be exactly 6 digits, got {0:?}")]
    BadCode(String),
    /// Standard input ended before a code was read.
    #[error("no MFA code given: standard input is empty (pass --token-code, or pipe the code in)")]
    NoCode,
    /// No MFA device is known.
    #[error("no MFA device: set mfa_serial in the profile in ~/.aws/config, or pass --mfa-serial")]
    NoSerial,
    /// Reading the code failed.
    #[error("reading the MFA code: {0}")]
    Io(#[from] std::io::Error),
    /// The AWS config file could not be read.
    #[error("reading the AWS config: {0}")]
    Profile(String),
    /// STS refused or could not be reached.
    #[error("STS {operation} failed")]
    Sts {
        /// The STS operation.
        operation: &'static str,
        /// The SDK's error.
        source: Box<aws_sdk_sts::Error>,
    },
    /// STS answered without credentials.
    #[error("STS {0} returned no credentials")]
    Missing(&'static str),
}

/// A six-digit MFA code, checked before any call is made.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaCode(String);

impl std::fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaCode(******)")
    }
}

impl MfaCode {
    /// Accepts six ASCII digits, written as authenticator apps show them too: `123 456` or
    /// `123-456` (spaces and dashes between the digits, and surrounding whitespace, are ignored).
    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        let code: String = text.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(code))
        } else {
            Err(CredentialsError::BadCode(text.trim().chars().take(12).collect()))
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The MFA code: `--token-code` if given, else one line from standard input, after the original's
/// prompt on stderr (on a terminal it is the question; otherwise it says what is being read).
pub async fn read_mfa_code(token_code: Option<&str>) -> Result<MfaCode, CredentialsError> {
    if let Some(code) = token_code {
        return MfaCode::parse(code);
    }
    let line = tokio::task::spawn_blocking(|| {
        use std::io::Write as _;
        let mut stderr = std::io::stderr();
        if std::io::stdin().is_terminal() {
            let _ = write!(stderr, "{MFA_PROMPT} ");
        } else {
            let _ = writeln!(stderr, "{MFA_PROMPT} (reading one line from standard input)");
        }
        let _ = stderr.flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n, line))
    })
    .await
    .map_err(|e| CredentialsError::Io(std::io::Error::other(e)))??;
    match line {
        (0, _) => Err(CredentialsError::NoCode),
        (_, line) => MfaCode::parse(&line),
    }
}

/// Values of the active (or named) profile of the AWS config files.
pub async fn profile_value(profile: Option<&str>, key: &str) -> Result<Option<String>, CredentialsError> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        profile.map(|p| std::borrow::Cow::Owned(p.to_owned())),
    )
    .await;
    match set {
        Ok(set) => Ok(set.get_profile(set.selected_profile()).and_then(|p| p.get(key)).map(str::to_owned)),
        // No config file at all is not an error: the profile just has no such value.
        Err(err) if !crate::target::aws_configured_here(profile.is_some()) => {
            tracing::debug!(%err, "no AWS config files");
            Ok(None)
        }
        Err(err) => Err(CredentialsError::Profile(err.to_string())),
    }
}

/// The MFA device to use: `--mfa-serial`, else the sandbox's device on a sandbox, else the
/// `mfa_serial` of `profile` (the active one when `None`).
pub async fn mfa_serial(profile: Option<&str>, mfa: &MfaArgs, target: &Target) -> Result<String, CredentialsError> {
    if let Some(serial) = &mfa.mfa_serial {
        return Ok(serial.clone());
    }
    if matches!(target, Target::Sandbox { .. }) {
        return Ok(SANDBOX_MFA_SERIAL.to_owned());
    }
    profile_value(profile, "mfa_serial").await?.ok_or(CredentialsError::NoSerial)
}

/// Session credentials as cached on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedSession {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    /// Seconds since the Unix epoch.
    expires_at: u64,
}

/// A cache of session credentials in the user's cache directory
/// (`~/.cache/sos-s3-examples/sessions` on Linux), one file per profile, MFA device and
/// endpoint, each readable by the owner only (0600). Entries are used until
/// [`CACHE_MARGIN`] before they expire; nothing is written after a failure.
#[derive(Debug, Clone)]
pub struct SessionCache {
    path: PathBuf,
}

impl SessionCache {
    /// The cache entry for credentials of `kind` (`mfa-session`, `role`) obtained for `profile`
    /// with `serial`, from the endpoint of `target`.
    pub fn entry(kind: &str, profile: Option<&str>, serial: &str, target: &Target) -> Self {
        let endpoint = match target {
            Target::Aws { .. } => "aws".to_owned(),
            Target::Endpoint { url, .. } | Target::Sandbox { url, .. } => url.clone(),
        };
        // A sandbox's port changes from run to run; its sessions live in its data directory.
        let endpoint = match target {
            Target::Sandbox { .. } => "sandbox".to_owned(),
            _ => endpoint,
        };
        let digest = Sha256::digest(format!("{kind}\n{}\n{serial}\n{endpoint}", profile.unwrap_or("default")));
        let name = format!("{kind}-{}.json", &hex::encode(digest)[..16]);
        Self { path: cache_dir().join(name) }
    }

    /// Where the entry lives.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The cached credentials, if present and valid for more than [`CACHE_MARGIN`].
    pub fn load(&self) -> Option<Credentials> {
        let bytes = std::fs::read(&self.path).ok()?;
        let cached: CachedSession = serde_json::from_slice(&bytes).ok()?;
        let expires = UNIX_EPOCH + Duration::from_secs(cached.expires_at);
        if expires.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO) <= CACHE_MARGIN {
            return None;
        }
        Some(Credentials::new(
            cached.access_key_id,
            cached.secret_access_key,
            Some(cached.session_token),
            Some(expires),
            "sos-session-cache",
        ))
    }

    /// Stores `credentials` (which must carry a session token and an expiry).
    pub fn store(&self, credentials: &Credentials) -> std::io::Result<()> {
        let expires_at = credentials
            .expiry()
            .and_then(|e| e.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .ok_or_else(|| std::io::Error::other("credentials without an expiry are not cached"))?;
        let cached = CachedSession {
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().unwrap_or_default().to_owned(),
            expires_at,
        };
        let json = serde_json::to_vec(&cached).map_err(std::io::Error::other)?;
        write_private(&self.path, &json)
    }

    /// Deletes the entry (for example after the service refused its credentials).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn cache_dir() -> PathBuf {
    crate::settings::non_empty_env("SOS_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("sos-s3-examples"))
        .join("sessions")
}

/// Writes a file only its owner may read, through a temp file and a rename.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut temp = tempfile::Builder::new();
    temp.prefix(".session.").suffix(".tmp");
    #[cfg(unix)]
    temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut file = temp.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Turns STS's credentials into the SDK's, named by where they came from.
pub fn from_sts(
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    operation: &'static str,
) -> Result<Credentials, CredentialsError> {
    let c = credentials.ok_or(CredentialsError::Missing(operation))?;
    let expiry = SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        expiry,
        operation,
    ))
}

/// One line saying how long cached credentials remain valid.
pub fn describe_validity(credentials: &Credentials) -> String {
    match credentials.expiry().and_then(|e| e.duration_since(SystemTime::now()).ok()) {
        Some(left) => format!("valid for {} more minutes", left.as_secs() / 60),
        None => "no expiry".to_owned(),
    }
}

/// The result of STS `GetSessionToken`, as the call given to [`session_from_code`] returns it.
pub type GetSessionTokenResult = Result<
    aws_sdk_sts::operation::get_session_token::GetSessionTokenOutput,
    aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::get_session_token::GetSessionTokenError>,
>;

/// Codes a person may try on a terminal before the run gives up.
pub const MFA_TRIES: u32 = 3;

impl SessionCache {
    /// The cache entry of MFA sessions for `profile`'s device `serial` on `target`, or `None` with
    /// `--no-cache`.
    pub fn for_mfa(profile: Option<&str>, serial: &str, target: &Target, mfa: &MfaArgs) -> Option<Self> {
        (!mfa.no_cache).then(|| Self::entry("mfa-session", profile, serial, target))
    }
}

/// The session cached in `cache`, if there is one and the service still accepts it (checked with
/// STS `GetCallerIdentity` through `config`'s endpoint). One the service refuses (the sandbox was
/// reset, the session revoked) is deleted, with one line on stderr saying so.
pub async fn cached_session(
    config: &aws_config::SdkConfig,
    cache: Option<&SessionCache>,
) -> Result<Option<Credentials>, CredentialsError> {
    let Some((cache, cached)) = cache.and_then(|cache| Some((cache, cache.load()?))) else { return Ok(None) };
    let config = config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(cached.clone()))
        .build();
    match aws_sdk_sts::Client::new(&config).get_caller_identity().send().await {
        Ok(_) => Ok(Some(cached)),
        Err(err) if kind_of(&err).is_some_and(ErrorKind::refuses_credentials) => {
            cache.remove();
            let code = crate::error::code_of(&err).unwrap_or("refused");
            eprintln!(
                "The cached MFA session was refused ({code}: the sandbox was reset, or the session revoked); \
                 deleted it, asking for a new code."
            );
            Ok(None)
        }
        Err(err) => Err(CredentialsError::Sts {
            operation: "GetCallerIdentity",
            source: Box::new(aws_sdk_sts::Error::from(err)),
        }),
    }
}

/// Session credentials for an MFA code: reads the code ([`read_mfa_code`]: `--token-code`, the
/// terminal, or one line of standard input) and makes `get_session_token(code)`, the caller's STS
/// `GetSessionToken` call with it. On a terminal a malformed or refused code asks again, up to
/// [`MFA_TRIES`] times.
pub async fn session_from_code<F, Fut>(mfa: &MfaArgs, mut get_session_token: F) -> Result<Credentials, CredentialsError>
where
    F: FnMut(&MfaCode) -> Fut,
    Fut: std::future::Future<Output = GetSessionTokenResult>,
{
    let tries = if mfa.token_code.is_none() && std::io::stdin().is_terminal() { MFA_TRIES } else { 1 };
    for attempt in 1..=tries {
        let left = tries - attempt;
        let again = format!("try again ({left} {} left)", if left == 1 { "try" } else { "tries" });
        let code = match read_mfa_code(mfa.token_code.as_deref()).await {
            Ok(code) => code,
            Err(err @ CredentialsError::BadCode(_)) if left > 0 => {
                eprintln!("{err}; {again}.");
                continue;
            }
            Err(err) => return Err(err),
        };
        match get_session_token(&code).await {
            Ok(output) => return from_sts(output.credentials(), "GetSessionToken"),
            Err(err) if left > 0 && kind_of(&err) == Some(ErrorKind::AccessDenied) => {
                eprintln!("That code was refused (a wrong or already used code); wait for the next one and {again}.");
            }
            Err(err) => {
                return Err(CredentialsError::Sts {
                    operation: "GetSessionToken",
                    source: Box::new(aws_sdk_sts::Error::from(err)),
                });
            }
        }
    }
    Err(CredentialsError::NoCode)
}

/// `config` with MFA session credentials instead of its own, for programs where MFA is an option
/// (`--mfa`) rather than the lesson: the device ([`mfa_serial`]), a cached session the service
/// still accepts ([`cached_session`]), else a code and STS `GetSessionToken` for `--duration`
/// seconds ([`session_from_code`]), cached (mode 0600) unless `--no-cache`. Says on stderr whether
/// the session is cached.
pub async fn mfa_session_config(
    config: &aws_config::SdkConfig,
    target: &Target,
    profile: Option<&str>,
    mfa: &MfaArgs,
) -> Result<aws_config::SdkConfig, CredentialsError> {
    let serial = mfa_serial(profile, mfa, target).await?;
    let cache = SessionCache::for_mfa(profile, &serial, target, mfa);
    let session = match cached_session(config, cache.as_ref()).await? {
        Some(cached) => {
            eprintln!("Using the cached MFA session ({}).", describe_validity(&cached));
            cached
        }
        None => {
            let sts = aws_sdk_sts::Client::new(config);
            let session = session_from_code(mfa, |code| {
                sts.get_session_token()
                    .serial_number(&serial)
                    .token_code(code.as_str())
                    .set_duration_seconds(mfa.duration)
                    .send()
            })
            .await?;
            if let Some(cache) = &cache {
                cache.store(&session)?;
            }
            session
        }
    };
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(session);
    Ok(config.to_builder().credentials_provider(provider).build())
}

// ANCHOR: session_token_provider
/// A credentials provider for long-running programs that must not re-authenticate: each time
/// the SDK's identity cache finds its credentials near expiry, this calls STS `GetSessionToken`
/// (no MFA) with the long-term credentials of `sts`, so a process can run for days.
#[derive(Debug, Clone)]
pub struct SessionTokenProvider {
    sts: aws_sdk_sts::Client,
    duration: Option<i32>,
}

impl SessionTokenProvider {
    /// A provider that asks `sts` for sessions of `duration` seconds (STS's default when `None`).
    pub fn new(sts: aws_sdk_sts::Client, duration: Option<i32>) -> Self {
        Self { sts, duration }
    }

    async fn fetch(&self) -> provider::Result {
        let output = self
            .sts
            .get_session_token()
            .set_duration_seconds(self.duration)
            .send()
            .await
            .map_err(|err| provider::error::CredentialsError::provider_error(aws_sdk_sts::Error::from(err)))?;
        let credentials = from_sts(output.credentials(), "GetSessionToken")
            .map_err(provider::error::CredentialsError::provider_error)?;
        tracing::info!(expires = ?credentials.expiry(), "new GetSessionToken session");
        Ok(credentials)
    }
}

impl ProvideCredentials for SessionTokenProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}
// ANCHOR_END: session_token_provider

/// The credentials of a profile of the form `role_arn` + `source_profile` + `mfa_serial`: asks
/// for the MFA code (same rules as [`read_mfa_code`]), calls `AssumeRole` with it using the source
/// profile's credentials, and caches the role session like an MFA session. The SDK's identity
/// cache calls it once per session, so a program asks at most once.
#[derive(Debug, Clone)]
pub struct AssumeRoleWithMfaProvider {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    serial: String,
    duration: Option<i32>,
    token_code: Option<String>,
    cache: Option<SessionCache>,
}

/// A role profile that needs MFA, as found in the config file.
#[derive(Debug, Clone)]
pub struct RoleProfile {
    /// The profile's name, if one was named.
    pub profile: Option<String>,
    /// `role_arn`.
    pub role_arn: String,
    /// `mfa_serial`.
    pub mfa_serial: String,
    /// `source_profile`, if any.
    pub source_profile: Option<String>,
    /// `duration_seconds`, if any.
    pub duration_seconds: Option<i32>,
}

impl RoleProfile {
    /// The role profile `profile` describes, if it has both `role_arn` and `mfa_serial`.
    pub async fn find(profile: Option<&str>) -> Result<Option<Self>, CredentialsError> {
        let Some(role_arn) = profile_value(profile, "role_arn").await? else { return Ok(None) };
        let Some(mfa_serial) = profile_value(profile, "mfa_serial").await? else { return Ok(None) };
        Ok(Some(Self {
            profile: profile.map(str::to_owned),
            role_arn,
            mfa_serial,
            source_profile: profile_value(profile, "source_profile").await?,
            duration_seconds: profile_value(profile, "duration_seconds").await?.and_then(|d| d.parse().ok()),
        }))
    }
}

impl AssumeRoleWithMfaProvider {
    /// A provider for `role`, calling STS through `sts` (configured with the source profile's
    /// credentials), caching in `cache` unless it is `None`.
    pub fn new(
        sts: aws_sdk_sts::Client,
        role: &RoleProfile,
        token_code: Option<String>,
        cache: Option<SessionCache>,
    ) -> Self {
        Self {
            sts,
            role_arn: role.role_arn.clone(),
            serial: role.mfa_serial.clone(),
            duration: role.duration_seconds,
            token_code,
            cache,
        }
    }

    async fn fetch(&self) -> provider::Result {
        use provider::error::CredentialsError as ProviderError;
        if let Some(cached) = self.cache.as_ref().and_then(SessionCache::load) {
            eprintln!("Using the cached role session for {} ({}).", self.role_arn, describe_validity(&cached));
            return Ok(cached);
        }
        let code = read_mfa_code(self.token_code.as_deref()).await.map_err(ProviderError::provider_error)?;
        let session_name =
            format!("sos-{}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
        let output = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(session_name)
            .serial_number(&self.serial)
            .token_code(code.as_str())
            .set_duration_seconds(self.duration)
            .send()
            .await
            .map_err(|err| ProviderError::provider_error(aws_sdk_sts::Error::from(err)))?;
        let credentials = from_sts(output.credentials(), "AssumeRole").map_err(ProviderError::provider_error)?;
        if let Some(cache) = &self.cache
            && let Err(err) = cache.store(&credentials)
        {
            tracing::warn!(%err, "could not cache the role session");
        }
        Ok(credentials)
    }
}

impl ProvideCredentials for AssumeRoleWithMfaProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_must_be_six_digits() {
        assert_eq!(MfaCode::parse(" 123456\n").expect("valid").as_str(), "123456");
        assert_eq!(MfaCode::parse("123 456").expect("as apps show it").as_str(), "123456");
        assert_eq!(MfaCode::parse("123-456\n").expect("with a dash").as_str(), "123456");
        for bad in ["12345", "1234567", "12345a", "", "      "] {
            assert!(matches!(MfaCode::parse(bad), Err(CredentialsError::BadCode(_))), "{bad:?}");
        }
        assert_eq!(format!("{:?}", MfaCode::parse("123456").expect("valid")), "MfaCode(******)");
    }
}
