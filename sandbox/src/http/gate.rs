//! The gate every request passes, whatever its service: verify the signature, authenticate the
//! caller (long-term key, application key, STS session with its token), authorize the call (the
//! MFA policy and its exemptions). A rule for every service lives here once; no service has a
//! path around it.
//!
//! STS, SQS and SNS requests go through [`Gate::admit_signed`]. S3's signature is checked by
//! `s3s` (it also checks the chunk signatures of streamed uploads), with the secret from
//! [`Gate::secret_for`], and then s3s asks [`Gate::admit`] — the same authentication and
//! authorization as every other service.

use std::sync::Arc;

use http::request::Parts;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use super::sigv4;
use crate::error::{AwsError, s3_error};
use crate::identity::{Caller, Denied, Identities};

/// The services behind the sandbox's one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    S3,
    Sts,
    Sqs,
    Sns,
}

impl Service {
    /// The service's name in credential scopes and policies.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Sts => "sts",
            Self::Sqs => "sqs",
            Self::Sns => "sns",
        }
    }
}

/// Authentication and authorization for every request.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    identities: Arc<Identities>,
}

impl Gate {
    pub(crate) fn new(identities: Arc<Identities>) -> Self {
        Self { identities }
    }

    /// A request of `service` (not S3) with its whole `body`: signature, caller, policy.
    pub(crate) fn admit_signed(&self, service: Service, parts: &Parts, body: &[u8]) -> Result<Caller, AwsError> {
        let query = parts.uri.query().unwrap_or_default();
        let auth = sigv4::verify(parts.method.as_str(), parts.uri.path(), query, &parts.headers, body, |key| {
            self.identities.secret_for(key)
        })
        .map_err(|denied| refusal(service, denied))?;
        self.admit(service, &auth.access_key_id, security_token(&parts.headers, query).as_deref())
    }

    /// A request whose signature was checked with [`Gate::secret_for`]: the caller behind
    /// `access_key_id` (and its session `token`), if the policy lets it call `service`.
    pub(crate) fn admit(&self, service: Service, access_key_id: &str, token: Option<&str>) -> Result<Caller, AwsError> {
        let caller = self.identities.authenticate(access_key_id, token).map_err(|denied| refusal(service, denied))?;
        self.identities.authorize(&caller, service.name()).map_err(|denied| refusal(service, denied))?;
        Ok(caller)
    }

    /// The secret to check a signature by `access_key_id` with.
    pub(crate) fn secret_for(&self, service: Service, access_key_id: &str) -> Result<String, AwsError> {
        self.identities.secret_for(access_key_id).map_err(|denied| refusal(service, denied))
    }
}

/// The session token of a request: the `X-Amz-Security-Token` header or presigned query parameter.
fn security_token(headers: &http::HeaderMap, query: &str) -> Option<String> {
    headers.get("x-amz-security-token").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "X-Amz-Security-Token").map(|(_, v)| v.into_owned())
    })
}

/// AWS's answer to a refused caller, in `service`'s codes (S3 names keys and tokens its own way).
pub(crate) fn refusal(service: Service, denied: Denied) -> AwsError {
    let message = denied.to_string();
    let code = match (&denied, service) {
        (Denied::UnknownKey, Service::S3) => {
            return AwsError::new(
                "InvalidAccessKeyId",
                403,
                "The AWS Access Key Id you provided does not exist in our records.",
            );
        }
        (Denied::BadToken, Service::S3) => {
            return AwsError::new("InvalidToken", 400, "The provided token is malformed or otherwise invalid.");
        }
        (Denied::Expired, Service::S3) => return AwsError::new("ExpiredToken", 400, "The provided token has expired."),
        (Denied::UnknownKey | Denied::BadToken, _) => "InvalidClientTokenId",
        (Denied::Expired, _) => "ExpiredToken",
        (Denied::BadSignature, _) => "SignatureDoesNotMatch",
        (Denied::Unsigned(_), Service::S3) => "AccessDenied",
        (Denied::Unsigned(_), _) => "MissingAuthenticationToken",
        (Denied::MfaRequired(_) | Denied::AccessDenied(_), _) => "AccessDenied",
    };
    AwsError::new(code, 403, message)
}

/// s3s's signature check, with secrets from the gate.
pub(crate) struct S3Secrets(pub(crate) Gate);

#[async_trait::async_trait]
impl S3Auth for S3Secrets {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0.secret_for(Service::S3, access_key).map(SecretKey::from).map_err(s3_error)
    }
}

/// After s3s checked the signature: the gate's authentication and authorization.
pub(crate) struct S3Admission(pub(crate) Gate);

#[async_trait::async_trait]
impl s3s::access::S3Access for S3Admission {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed; sign the request"));
        };
        let access_key = credentials.access_key.clone();
        let token = security_token(cx.headers(), cx.uri().query().unwrap_or_default());
        self.0.admit(Service::S3, &access_key, token.as_deref()).map(drop).map_err(s3_error)
    }
}
