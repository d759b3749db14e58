//! Who may call the sandbox: its long-term keys, the session credentials STS issues, the virtual
//! MFA device, and the "MFA required" policy of accounts such as NASA SMCE.
//!
//! Every request to every service is authenticated here: the access key id of its signature
//! names a long-term key or a session; a session's `x-amz-security-token` must match and it must
//! not have expired. Sessions are kept in the durable store (`state`, mode 0600) so that
//! credentials a program cached stay valid across restarts of the sandbox, as they do on AWS.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aws::{now_secs, random_token, random_upper};
use crate::state::{Store, StoreError};

/// The long-term key of the sandbox's user (the LocalStack convention). With `require_mfa` it
/// may call only STS, like an SMCE user before entering an MFA code.
pub const USER_ACCESS_KEY_ID: &str = conventions::SANDBOX_ACCESS_KEY_ID;
/// The long-term key of the sandbox's application account, exempt from the MFA requirement as
/// service accounts are: the key long-running programs (`nomfa`) use.
pub const APP_ACCESS_KEY_ID: &str = conventions::SANDBOX_APP_ACCESS_KEY_ID;
/// The secret of [`APP_ACCESS_KEY_ID`].
pub const APP_SECRET_ACCESS_KEY: &str = conventions::SANDBOX_APP_SECRET_ACCESS_KEY;
/// The user that [`USER_ACCESS_KEY_ID`] belongs to.
pub const USER_ARN: &str = "arn:aws:iam::000000000000:user/sandbox";
/// The user that [`APP_ACCESS_KEY_ID`] belongs to.
pub const APP_USER_ARN: &str = "arn:aws:iam::000000000000:user/sos-app";
/// The serial number (ARN) of the user's virtual MFA device.
pub const MFA_SERIAL: &str = conventions::SANDBOX_MFA_SERIAL;
/// The seeded role, whose trust policy requires MFA.
pub const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/sos-data";

/// Where versions before the durable store kept sessions; imported once, then removed.
const LEGACY_SESSIONS_FILE: &str = ".sandbox.sessions.json";
const SESSION_RECORD: &str = "session";

/// Why a caller was refused; each maps to the AWS error code a client expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The access key id is not known.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The session credentials have expired.
    #[error("The security token included in the request is expired")]
    Expired,
    /// A session key came without its token, or with another one.
    #[error("The security token included in the request is invalid.")]
    BadToken,
    /// The signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    BadSignature,
    /// The request is not signed, or the signature cannot be read.
    #[error("{0}")]
    Unsigned(String),
    /// The policy requires MFA for this call.
    #[error(
        "MFA required: this account only allows {0} with credentials obtained with an MFA code \
         (sts:GetSessionToken with SerialNumber and TokenCode)"
    )]
    MfaRequired(String),
    /// Not allowed for another reason.
    #[error("{0}")]
    AccessDenied(String),
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The access key id the request was signed with.
    pub access_key_id: String,
    /// The principal: a user or an assumed role.
    pub arn: String,
    /// The principal's unique id, as `GetCallerIdentity` reports it.
    pub user_id: String,
    /// Session credentials obtained with a valid MFA code (or derived from such a session).
    pub mfa_authenticated: bool,
    /// Whether the key is a long-term one (else a session).
    pub long_term: bool,
    /// Exempt from the MFA requirement (the application account and its sessions).
    pub mfa_exempt: bool,
}

/// Session credentials issued by STS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// Seconds since the Unix epoch at which the credentials stop working.
    pub expires_at: u64,
    /// The principal.
    pub arn: String,
    /// The principal's unique id.
    pub user_id: String,
    /// Obtained with a valid MFA code.
    pub mfa_authenticated: bool,
    /// Exempt from the MFA requirement.
    pub mfa_exempt: bool,
}

/// The sandbox's identities and sessions.
#[derive(Debug)]
pub struct Identities {
    /// Whether every call but STS needs MFA-authenticated credentials.
    pub require_mfa: bool,
    sessions: Mutex<HashMap<String, Session>>,
    store: Arc<Store>,
}

impl Identities {
    /// Loads the sessions kept in `store` (dropping expired ones), importing those an older
    /// version kept in `<data dir>/.sandbox.sessions.json`.
    pub fn load(store: Arc<Store>, data_dir: &Path, require_mfa: bool) -> Result<Self, StoreError> {
        let legacy = data_dir.join(LEGACY_SESSIONS_FILE);
        if let Ok(bytes) = std::fs::read(&legacy) {
            let old: Vec<Session> = serde_json::from_slice(&bytes).unwrap_or_default();
            store.write(|w| old.iter().try_for_each(|s| w.put(SESSION_RECORD, &s.access_key_id, s)))?;
            std::fs::remove_file(&legacy)?;
        }
        let now = now_secs();
        let (live, expired): (Vec<_>, Vec<_>) =
            store.records::<Session>(SESSION_RECORD)?.into_iter().partition(|(_, s)| s.expires_at > now);
        store.write(|w| expired.iter().try_for_each(|(key, _)| w.delete(SESSION_RECORD, key)))?;
        Ok(Self { require_mfa, sessions: Mutex::new(live.into_iter().collect()), store })
    }

    /// The secret for `access_key_id`, to check a signature with.
    pub fn secret_for(&self, access_key_id: &str) -> Result<String, Denied> {
        match access_key_id {
            USER_ACCESS_KEY_ID => Ok(conventions::SANDBOX_SECRET_ACCESS_KEY.to_owned()),
            APP_ACCESS_KEY_ID => Ok(APP_SECRET_ACCESS_KEY.to_owned()),
            _ => {
                let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                let session = sessions.get(access_key_id).ok_or(Denied::UnknownKey)?;
                if session.expires_at <= now_secs() {
                    return Err(Denied::Expired);
                }
                Ok(session.secret_access_key.clone())
            }
        }
    }

    /// The caller behind a validly signed request, checking a session's token and expiry.
    pub fn authenticate(&self, access_key_id: &str, session_token: Option<&str>) -> Result<Caller, Denied> {
        let long_term = |arn: &str, user: &str, exempt| Caller {
            access_key_id: access_key_id.to_owned(),
            arn: arn.to_owned(),
            user_id: user.to_owned(),
            mfa_authenticated: false,
            long_term: true,
            mfa_exempt: exempt,
        };
        match access_key_id {
            USER_ACCESS_KEY_ID => Ok(long_term(USER_ARN, "AIDASANDBOXUSER00001", false)),
            APP_ACCESS_KEY_ID => Ok(long_term(APP_USER_ARN, "AIDASANDBOXAPP000001", true)),
            _ => {
                let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                let session = sessions.get(access_key_id).ok_or(Denied::UnknownKey)?;
                if session.expires_at <= now_secs() {
                    return Err(Denied::Expired);
                }
                if session_token != Some(session.session_token.as_str()) {
                    return Err(Denied::BadToken);
                }
                Ok(Caller {
                    access_key_id: access_key_id.to_owned(),
                    arn: session.arn.clone(),
                    user_id: session.user_id.clone(),
                    mfa_authenticated: session.mfa_authenticated,
                    long_term: false,
                    mfa_exempt: session.mfa_exempt,
                })
            }
        }
    }

    /// Applies the MFA policy to a call of `service` (`s3`, `sqs`, `sns`; STS is always allowed).
    pub fn authorize(&self, caller: &Caller, service: &str) -> Result<(), Denied> {
        if !self.require_mfa || service == "sts" || caller.mfa_exempt || caller.mfa_authenticated {
            return Ok(());
        }
        Err(Denied::MfaRequired(service.to_owned()))
    }

    /// Issues session credentials for `arn`, valid for `duration`, and keeps them.
    pub fn issue(
        &self,
        arn: &str,
        user_id: &str,
        duration: Duration,
        mfa: bool,
        exempt: bool,
    ) -> Result<Session, StoreError> {
        let session = Session {
            access_key_id: format!("ASIA{}", random_upper(16)),
            secret_access_key: random_token(40),
            session_token: random_token(200),
            // Whole seconds, rounded up, so a session lasts at least `duration` (the clock's
            // current second has partly gone).
            expires_at: now_secs() + duration.as_secs() + 1,
            arn: arn.to_owned(),
            user_id: user_id.to_owned(),
            mfa_authenticated: mfa,
            mfa_exempt: exempt,
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_secs();
        let expired: Vec<String> =
            sessions.values().filter(|s| s.expires_at <= now).map(|s| s.access_key_id.clone()).collect();
        self.store.write(|w| {
            expired.iter().try_for_each(|key| w.delete(SESSION_RECORD, key))?;
            w.put(SESSION_RECORD, &session.access_key_id, &session)
        })?;
        for key in &expired {
            sessions.remove(key);
        }
        sessions.insert(session.access_key_id.clone(), session.clone());
        Ok(session)
    }
}

/// The sessions kept in the data directory `data_dir` (live or not): for tools and tests that
/// look at what a sandbox issued. The store may be open in a running sandbox at the same time.
pub fn stored_sessions(data_dir: &Path) -> Result<Vec<Session>, StoreError> {
    let store = Store::open(data_dir, crate::state::Durability::Process)?;
    Ok(store.records::<Session>(SESSION_RECORD)?.into_iter().map(|(_, session)| session).collect())
}

/// The ARN of a session of `role_arn` named `session_name`.
pub fn assumed_role_arn(role_arn: &str, session_name: &str) -> String {
    let role = role_arn.rsplit('/').next().unwrap_or("role");
    format!("arn:aws:sts::{}:assumed-role/{role}/{session_name}", conventions::SANDBOX_ACCOUNT_ID)
}
