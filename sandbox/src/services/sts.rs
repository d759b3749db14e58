//! The sandbox's STS: `GetSessionToken`, `AssumeRole` and `GetCallerIdentity` over the query
//! protocol, with the virtual MFA device.
//!
//! Rules follow AWS: session lifetimes within AWS's bounds (a sandbox setting may lower the
//! minimum so tests can watch credentials expire), `GetSessionToken` only with long-term keys, an
//! MFA code that is not six digits is a `ValidationError`, a wrong or stale one `AccessDenied`,
//! and the seeded role's trust policy requires MFA.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::query::{Form, reply};
use crate::aws::iso8601;
use crate::error::AwsError;
use crate::identity::{self, Caller, Identities, MFA_SERIAL, ROLE_ARN, Session};
use crate::mfa::MfaDevice;

/// STS's XML namespace.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Session lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// The shortest lifetime granted (AWS: 900); a shorter request is raised to it.
    pub min: u64,
}

/// STS: the identities it issues sessions into, the MFA device, the lifetimes.
#[derive(Debug)]
pub struct Sts {
    identities: std::sync::Arc<Identities>,
    mfa: MfaDevice,
    lifetimes: Lifetimes,
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationError", 400, message)
}

fn denied(message: impl Into<String>) -> AwsError {
    AwsError::new("AccessDenied", 403, message)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSessionTokenInput {
    duration_seconds: Option<String>,
    serial_number: Option<String>,
    token_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleInput {
    role_arn: String,
    role_session_name: String,
    duration_seconds: Option<String>,
    serial_number: Option<String>,
    token_code: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

impl<'a> From<&'a Session> for Credentials<'a> {
    fn from(session: &'a Session) -> Self {
        Self {
            access_key_id: &session.access_key_id,
            secret_access_key: &session.secret_access_key,
            session_token: &session.session_token,
            expiration: iso8601(session.expires_at),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetSessionTokenResult<'a> {
    credentials: Credentials<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResult<'a> {
    credentials: Credentials<'a>,
    assumed_role_user: AssumedRoleUser<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser<'a> {
    assumed_role_id: &'a str,
    arn: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult<'a> {
    user_id: &'a str,
    account: &'a str,
    arn: &'a str,
}

impl Sts {
    /// STS issuing sessions into `identities`, checking codes with `mfa`.
    pub fn new(identities: std::sync::Arc<Identities>, mfa: MfaDevice, lifetimes: Lifetimes) -> Self {
        Self { identities, mfa, lifetimes }
    }

    /// Handles one call by an authenticated `caller`; the answer is an XML document.
    pub fn handle(&self, form: &Form, caller: &Caller) -> Result<String, AwsError> {
        let action = form.action();
        let input_error = |message: String| validation(message);
        match action.as_str() {
            "GetSessionToken" => self.get_session_token(&form.decode(input_error)?, caller),
            "AssumeRole" => self.assume_role(&form.decode(input_error)?, caller),
            "GetCallerIdentity" => {
                let result =
                    GetCallerIdentityResult { user_id: &caller.user_id, account: crate::ACCOUNT_ID, arn: &caller.arn };
                reply(NAMESPACE, "GetCallerIdentity", Some(&result))
            }
            "" => Err(AwsError::new("MissingAction", 400, "Missing Action")),
            other => Err(AwsError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {other} for version 2011-06-15"),
            )),
        }
    }

    fn get_session_token(&self, input: &GetSessionTokenInput, caller: &Caller) -> Result<String, AwsError> {
        if !caller.long_term {
            return Err(denied("Cannot call GetSessionToken with session credentials"));
        }
        let duration = self.duration(input.duration_seconds.as_deref(), 43_200, 129_600)?;
        let mfa_ok = self.check_mfa(input.serial_number.as_deref(), input.token_code.as_deref())?;
        let session = self.identities.issue(&caller.arn, &caller.user_id, duration, mfa_ok, caller.mfa_exempt)?;
        reply(NAMESPACE, "GetSessionToken", Some(&GetSessionTokenResult { credentials: (&session).into() }))
    }

    fn assume_role(&self, input: &AssumeRoleInput, caller: &Caller) -> Result<String, AwsError> {
        let (role_arn, session_name) = (input.role_arn.as_str(), input.role_session_name.as_str());
        let name_ok = (2..=64).contains(&session_name.len())
            && session_name.chars().all(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(c));
        if !name_ok {
            return Err(validation("RoleSessionName must be 2–64 characters of [\\w+=,.@-]"));
        }
        if role_arn != ROLE_ARN {
            return Err(denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            )));
        }
        let duration = self.duration(input.duration_seconds.as_deref(), 3_600, 3_600)?;
        let mfa_ok =
            self.check_mfa(input.serial_number.as_deref(), input.token_code.as_deref())? || caller.mfa_authenticated;
        if !mfa_ok {
            return Err(denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}: \
                 the role's trust policy requires MFA (pass SerialNumber and TokenCode)",
                caller.arn
            )));
        }
        let arn = identity::assumed_role_arn(role_arn, session_name);
        let role_id = format!("AROASANDBOXSOSDATA001:{session_name}");
        let session = self.identities.issue(&arn, &role_id, duration, true, false)?;
        let result = AssumeRoleResult {
            credentials: (&session).into(),
            assumed_role_user: AssumedRoleUser { assumed_role_id: &role_id, arn: &arn },
        };
        reply(NAMESPACE, "AssumeRole", Some(&result))
    }

    /// `DurationSeconds`, within `[lifetimes.min, max]`, else `default`.
    fn duration(&self, text: Option<&str>, default: u64, max: u64) -> Result<Duration, AwsError> {
        let Some(text) = text else {
            return Ok(Duration::from_secs(default));
        };
        let secs: u64 = text.parse().map_err(|_| validation("DurationSeconds must be a number"))?;
        let min = self.lifetimes.min.min(900);
        if secs < min || secs > max {
            return Err(validation(format!(
                "1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy constraint: \
                 Member must have value between {min} and {max}"
            )));
        }
        Ok(Duration::from_secs(secs.max(self.lifetimes.min)))
    }

    /// Checks `SerialNumber` + `TokenCode` when given: `Ok(true)` for a valid code, `Ok(false)`
    /// when none was given.
    fn check_mfa(&self, serial: Option<&str>, code: Option<&str>) -> Result<bool, AwsError> {
        match (serial, code) {
            (None, None) => Ok(false),
            (Some(_), None) | (None, Some(_)) => Err(validation("SerialNumber and TokenCode must be given together")),
            (Some(serial), Some(code)) => {
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(validation(
                        "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: \
                         Member must satisfy regular expression pattern: [\\d]*, and have length 6",
                    ));
                }
                if serial != MFA_SERIAL || !self.mfa.verify(code) {
                    return Err(denied("MultiFactorAuthentication failed with invalid MFA one time pass code."));
                }
                Ok(true)
            }
        }
    }
}
