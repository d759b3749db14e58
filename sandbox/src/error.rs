//! The one error every service answers with: an AWS error code, an HTTP status and a message.
//! `http/` renders it in each protocol's own format (S3 XML, query XML in the service's
//! namespace, JSON 1.0), so SDKs classify it as they would AWS's.

use std::borrow::Cow;

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
