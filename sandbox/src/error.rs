//! The one error every service answers with ([`AwsError`]: an AWS error code, an HTTP status and a
//! message), which `http/` renders in each protocol's own format (S3 XML, query XML in the
//! service's namespace, JSON 1.0) so SDKs classify it as they would AWS's; and why a sandbox could
//! not start ([`Error`]).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::{mfa, state};

/// An AWS error: what a service refuses or fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The code SDKs match on (`NoSuchBucket`, `AWS.SimpleQueueService.NonExistentQueue`, …).
    pub code: Cow<'static, str>,
    /// The JSON 1.0 `__type` when it differs from `code` (SQS: `QueueDoesNotExist`).
    pub json_type: Option<&'static str>,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, in AWS's words where AWS has some.
    pub message: String,
}

impl AwsError {
    /// An error with `code`, `status` and `message`.
    pub fn new(code: impl Into<Cow<'static, str>>, status: u16, message: impl Into<String>) -> Self {
        Self { code: code.into(), json_type: None, status, message: message.into() }
    }

    /// The same error with a JSON `__type` of its own.
    #[must_use]
    pub fn json_type(mut self, json_type: &'static str) -> Self {
        self.json_type = Some(json_type);
        self
    }

    /// A failure of the sandbox itself (500 `InternalError`), which clients retry.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalError", 500, message)
    }

    /// Whether the fault is the server's (`Receiver`) rather than the caller's (`Sender`).
    pub fn is_server_fault(&self) -> bool {
        self.status >= 500
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}

impl From<crate::state::StoreError> for AwsError {
    fn from(err: crate::state::StoreError) -> Self {
        tracing::error!(%err, "the state store failed; the request was not applied");
        Self::internal(format!("the sandbox could not record the change: {err}"))
    }
}

/// `err` as s3s's error type, which s3s renders in S3's XML (its status kept).
pub(crate) fn s3_error(err: AwsError) -> s3s::S3Error {
    let code = s3s::S3ErrorCode::from_bytes(err.code.as_bytes()).unwrap_or(s3s::S3ErrorCode::InternalError);
    let mut error = s3s::S3Error::with_message(code, err.message);
    if let Ok(status) = http::StatusCode::from_u16(err.status) {
        error.set_status_code(status);
    }
    error
}

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
    /// The durable store could not be opened or read.
    #[error("cannot open the sandbox's state in {}: {source}", path.display())]
    State {
        /// The data directory.
        path: PathBuf,
        /// What went wrong.
        source: state::StoreError,
    },
    /// The keys of a sandbox beyond loopback could not be read or made.
    #[error("cannot use the sandbox's keys: {0}")]
    Keys(#[from] crate::keys::KeysError),
    /// The seed could not be applied.
    #[error("cannot seed the sandbox: {0}")]
    Seed(AwsError),
    /// The S3 object store could not be opened or seeded.
    #[error("cannot open the S3 object store in {}: {message}", path.display())]
    Store {
        /// The data directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io { action, path: path.to_path_buf(), source }
    }
}
