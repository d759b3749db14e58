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

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Session lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// The shortest lifetime granted (AWS: 900); a shorter request is raised to it.
    pub min: u64,
}

/// An STS answer: HTTP status and XML body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// XML.
    pub body: String,
}

/// An STS error: its code, HTTP status and message.
#[derive(Debug)]
pub struct StsError {
    code: &'static str,
    status: u16,
    message: String,
}

impl StsError {
    fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { code, status, message: message.into() }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }

    fn denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }

    /// The XML error document AWS query services send.
    pub fn into_reply(self) -> Reply {
        let kind = if self.status >= 500 { "Receiver" } else { "Sender" };
        Reply {
            status: self.status,
            body: format!(
                "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message>\
                 </Error><RequestId>{}</RequestId></ErrorResponse>",
                self.code,
                xml_escape(&self.message),
                request_id()
            ),
        }
    }
}

impl From<Denied> for StsError {
    fn from(denied: Denied) -> Self {
        let message = denied.to_string();
        match denied {
            Denied::UnknownKey | Denied::BadToken => Self::new("InvalidClientTokenId", 403, message),
            Denied::Expired => Self::new("ExpiredToken", 403, message),
            Denied::BadSignature => Self::new("SignatureDoesNotMatch", 403, message),
            Denied::Unsigned(_) => Self::new("MissingAuthenticationToken", 403, message),
            Denied::MfaRequired(_) | Denied::AccessDenied(_) => Self::denied(message),
        }
    }
}

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
    result.unwrap_or_else(StsError::into_reply)
}

fn get_session_token(
    params: &HashMap<String, String>,
    caller: &Caller,
    identities: &Identities,
    mfa: &MfaDevice,
    lifetimes: Lifetimes,
) -> Result<Reply, StsError> {
    if !caller.long_term {
        return Err(StsError::denied("Cannot call GetSessionToken with session credentials"));
    }
    let duration = duration(params, lifetimes, 43_200, 129_600)?;
    let mfa_ok = check_mfa(params, mfa)?;
    let session = identities.issue(&caller.arn, &caller.user_id, duration, mfa_ok, caller.mfa_exempt);
    Ok(ok_reply("GetSessionToken", &credentials_xml(&session)))
}

fn assume_role(
    params: &HashMap<String, String>,
    caller: &Caller,
    identities: &Identities,
    mfa: &MfaDevice,
    lifetimes: Lifetimes,
) -> Result<Reply, StsError> {
    let role_arn = params.get("RoleArn").ok_or_else(|| StsError::validation("RoleArn is required"))?;
    let session_name =
        params.get("RoleSessionName").ok_or_else(|| StsError::validation("RoleSessionName is required"))?;
    let name_ok = (2..=64).contains(&session_name.len())
        && session_name.chars().all(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(c));
    if !name_ok {
        return Err(StsError::validation("RoleSessionName must be 2–64 characters of [\\w+=,.@-]"));
    }
    if role_arn != ROLE_ARN {
        return Err(StsError::denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        )));
    }
    let duration = duration(params, lifetimes, 3_600, 3_600)?;
    let mfa_ok = check_mfa(params, mfa)? || caller.mfa_authenticated;
    if !mfa_ok {
        return Err(StsError::denied(format!(
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
    Ok(ok_reply("AssumeRole", &result))
}

fn get_caller_identity(caller: &Caller) -> Reply {
    ok_reply(
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
    let secs: u64 = text.parse().map_err(|_| StsError::validation("DurationSeconds must be a number"))?;
    if secs < lifetimes.min.min(900) || secs > max {
        return Err(StsError::validation(format!(
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
        (Some(_), None) | (None, Some(_)) => {
            Err(StsError::validation("SerialNumber and TokenCode must be given together"))
        }
        (Some(serial), Some(code)) => {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StsError::validation(
                    "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: \
                     Member must satisfy regular expression pattern: [\\d]*, and have length 6",
                ));
            }
            if serial != MFA_SERIAL || !mfa.verify(code) {
                return Err(StsError::denied("MultiFactorAuthentication failed with invalid MFA one time pass code."));
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

fn ok_reply(action: &str, result: &str) -> Reply {
    Reply {
        status: 200,
        body: format!(
            "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            request_id()
        ),
    }
}

fn request_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
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

/// Escapes text for XML content.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
