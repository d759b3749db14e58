//! The sandbox's STS: `GetSessionToken`, `AssumeRole` and `GetCallerIdentity` over the query
//! protocol (form-encoded `Action=…` requests, XML answers), with the virtual MFA device.
//!
//! Rules follow AWS: session lifetimes within AWS's bounds (a sandbox setting may lower the
//! minimum so tests can watch credentials expire), `GetSessionToken` only with long-term keys, an
//! MFA code that is not six digits is a `ValidationError`, a wrong or stale one `AccessDenied`,
//! and the seeded role's trust policy requires MFA.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::identity::{self, Caller, Denied, Identities, MFA_SERIAL, ROLE_ARN};
use crate::mfa::MfaDevice;

/// Session lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// The shortest lifetime granted (AWS: 900); a shorter request is raised to it.
    pub min: u64,
}

pub use crate::query::Reply;
use crate::query::{QueryError, xml_escape};

/// An STS error.
pub type StsError = QueryError;

fn validation(message: impl Into<String>) -> StsError {
    QueryError::new("ValidationError", 400, message)
}

fn denied(message: impl Into<String>) -> StsError {
    QueryError::new("AccessDenied", 403, message)
}

impl From<Denied> for QueryError {
    fn from(denied: Denied) -> Self {
        let message = denied.to_string();
        let code = match denied {
            Denied::UnknownKey | Denied::BadToken => "InvalidClientTokenId",
            Denied::Expired => "ExpiredToken",
            Denied::BadSignature => "SignatureDoesNotMatch",
            Denied::Unsigned(_) => "MissingAuthenticationToken",
            Denied::MfaRequired(_) | Denied::AccessDenied(_) => "AccessDenied",
        };
        Self::new(code, 403, message)
    }
}

/// STS's XML namespace.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Handles one STS call by an authenticated `caller`, with the form parameters of the request.
pub fn handle(
    params: &HashMap<String, String>,
    caller: &Caller,
    identities: &Identities,
    mfa: &MfaDevice,
    lifetimes: Lifetimes,
) -> Reply {
    let action = params.get("Action").map(String::as_str).unwrap_or_default();
    let result = match action {
        "GetSessionToken" => get_session_token(params, caller, identities, mfa, lifetimes),
        "AssumeRole" => assume_role(params, caller, identities, mfa, lifetimes),
        "GetCallerIdentity" => Ok(get_caller_identity(caller)),
        "" => Err(StsError::new("MissingAction", 400, "Missing Action")),
        other => {
            Err(StsError::new("InvalidAction", 400, format!("Could not find operation {other} for version 2011-06-15")))
        }
    };
    result.unwrap_or_else(|err| err.into_reply(NAMESPACE))
}

fn get_session_token(
    params: &HashMap<String, String>,
    caller: &Caller,
    identities: &Identities,
    mfa: &MfaDevice,
    lifetimes: Lifetimes,
) -> Result<Reply, StsError> {
    if !caller.long_term {
        return Err(denied("Cannot call GetSessionToken with session credentials"));
    }
    let duration = duration(params, lifetimes, 43_200, 129_600)?;
    let mfa_ok = check_mfa(params, mfa)?;
    let session = identities.issue(&caller.arn, &caller.user_id, duration, mfa_ok, caller.mfa_exempt);
    Ok(crate::query::ok_reply(NAMESPACE, "GetSessionToken", &credentials_xml(&session)))
}

fn assume_role(
    params: &HashMap<String, String>,
    caller: &Caller,
    identities: &Identities,
    mfa: &MfaDevice,
    lifetimes: Lifetimes,
) -> Result<Reply, StsError> {
    let role_arn = params.get("RoleArn").ok_or_else(|| validation("RoleArn is required"))?;
    let session_name = params.get("RoleSessionName").ok_or_else(|| validation("RoleSessionName is required"))?;
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
    let duration = duration(params, lifetimes, 3_600, 3_600)?;
    let mfa_ok = check_mfa(params, mfa)? || caller.mfa_authenticated;
    if !mfa_ok {
        return Err(denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}: \
             the role's trust policy requires MFA (pass SerialNumber and TokenCode)",
            caller.arn
        )));
    }
    let arn = identity::assumed_role_arn(role_arn, session_name);
    let role_id = format!("AROASANDBOXSOSDATA001:{session_name}");
    let session = identities.issue(&arn, &role_id, duration, true, false);
    let result = format!(
        "{}<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        credentials_xml(&session),
        xml_escape(&role_id),
        xml_escape(&arn)
    );
    Ok(crate::query::ok_reply(NAMESPACE, "AssumeRole", &result))
}

fn get_caller_identity(caller: &Caller) -> Reply {
    crate::query::ok_reply(
        NAMESPACE,
        "GetCallerIdentity",
        &format!(
            "<UserId>{}</UserId><Account>{}</Account><Arn>{}</Arn>",
            xml_escape(&caller.user_id),
            crate::ACCOUNT_ID,
            xml_escape(&caller.arn)
        ),
    )
}

/// `DurationSeconds`, within `[lifetimes.min, max]`, else `default`.
fn duration(
    params: &HashMap<String, String>,
    lifetimes: Lifetimes,
    default: u64,
    max: u64,
) -> Result<Duration, StsError> {
    let Some(text) = params.get("DurationSeconds") else {
        return Ok(Duration::from_secs(default));
    };
    let secs: u64 = text.parse().map_err(|_| validation("DurationSeconds must be a number"))?;
    if secs < lifetimes.min.min(900) || secs > max {
        return Err(validation(format!(
            "1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy constraint: \
             Member must have value between {} and {max}",
            lifetimes.min.min(900)
        )));
    }
    Ok(Duration::from_secs(secs.max(lifetimes.min)))
}

/// Checks `SerialNumber` + `TokenCode` when given: `Ok(true)` for a valid code, `Ok(false)` when
/// none was given.
fn check_mfa(params: &HashMap<String, String>, mfa: &MfaDevice) -> Result<bool, StsError> {
    match (params.get("SerialNumber"), params.get("TokenCode")) {
        (None, None) => Ok(false),
        (Some(_), None) | (None, Some(_)) => Err(validation("SerialNumber and TokenCode must be given together")),
        (Some(serial), Some(code)) => {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(validation(
                    "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: \
                     Member must satisfy regular expression pattern: [\\d]*, and have length 6",
                ));
            }
            if serial != MFA_SERIAL || !mfa.verify(code) {
                return Err(denied("MultiFactorAuthentication failed with invalid MFA one time pass code."));
            }
            Ok(true)
        }
    }
}

fn credentials_xml(session: &identity::Session) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        session.access_key_id,
        xml_escape(&session.secret_access_key),
        xml_escape(&session.session_token),
        iso8601(session.expires_at)
    )
}

/// `2026-11-24T21:00:00Z` for Unix seconds.
pub fn iso8601(unix_secs: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix_secs).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
