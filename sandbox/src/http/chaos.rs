//! Faults on demand: LocalStack's Chaos API schema, consulted by the request pipeline for every
//! request of every service.
//!
//! A rule (`{"service": "s3", "operation": "PutObject", "region": "us-east-1", "probability": 0.1,
//! "error": {"statusCode": 503, "code": "SlowDown"}}`) matches the requests whose service,
//! operation and region equal its fields (a missing field matches all); a matching request fails
//! with the rule's error (500 `InternalError` when it names none) with the rule's probability
//! (default 1). Our additions to LocalStack's schema: `count` (the rule fires at most N times,
//! then retires), `reset` (close the connection with no answer), `after` (do the work, then
//! answer with the error — the lost response that makes clients retry a completed call),
//! `bucket` and `queue` (narrow the rule to one bucket or queue by name).
//!
//! Effects (`{"latency": MS, "jitter": MS}`) delay every answer of every service.
//!
//! Everything here reads untrusted bytes (the admin API's bodies, the rules file) and never
//! panics on them: every mistake is one line that names the field.

use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde::Serialize;
use serde_json::Value;

use crate::error::AwsError;

/// The admin path of the fault rules (`POST`, `GET`, `DELETE`).
pub const FAULTS_PATH: &str = "/_sandbox/chaos/faults";
/// The admin path of the effects (`POST`, `GET`).
pub const EFFECTS_PATH: &str = "/_sandbox/chaos/effects";
/// The largest latency or jitter accepted, in milliseconds (ten minutes).
pub const MAX_DELAY_MS: u64 = 600_000;

/// The error a rule answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultError {
    /// HTTP status (400–599) [default: 500].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// AWS error code [default: from the status: `InternalError` for 500, `ServiceUnavailable`
    /// for 503, …].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error's message [default: AWS's message for the code, marked as injected].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One fault rule, as posted (LocalStack's schema plus `count`, `reset`, `after`, `bucket`,
/// `queue`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rule {
    /// Service (`s3`, `sqs`, `sns`, `sts`); any when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Operation (`PutObject`, `SendMessage`, `Publish`, …); any when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Region of the request's credential scope; any when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Bucket name (S3 only); any when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Queue name (SQS only); any when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Chance that a matching request fails, 0–1 [default: 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The error [default: 500 `InternalError`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultError>,
    /// Fire at most this many times, then retire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Close the connection with no answer instead of answering with the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
    /// Do the work first, then answer with the error (or close the connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<bool>,
}

/// Delays added to every answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Effects {
    /// Milliseconds added to every answer.
    pub latency: u64,
    /// Up to this many more milliseconds, at random.
    pub jitter: u64,
}

/// A request as the rules see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// `s3`, `sqs`, `sns` or `sts`.
    pub service: &'a str,
    /// The operation's name.
    pub operation: &'a str,
    /// The region of the credential scope, when signed.
    pub region: Option<&'a str>,
    /// The bucket (S3).
    pub bucket: Option<&'a str>,
    /// The queue's name (SQS).
    pub queue: Option<&'a str>,
}

/// What a firing rule does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The answer, rendered in the service's format.
    pub error: AwsError,
    /// Close the connection instead of answering.
    pub reset: bool,
    /// Do the work first.
    pub after: bool,
}

#[derive(Debug)]
struct Active {
    rule: Rule,
    remaining: Option<u64>,
}

/// The sandbox's fault rules and effects; shared by every connection.
#[derive(Debug, Default)]
pub struct Chaos {
    rules: Mutex<Vec<Active>>,
    effects: Mutex<Effects>,
}

impl Chaos {
    /// A chaos state holding `rules` (already validated) and no effects.
    pub fn new(rules: Vec<Rule>) -> Self {
        let chaos = Self::default();
        chaos.add(rules);
        chaos
    }

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, Vec<Active>> {
        self.rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `rules` after those already active.
    pub fn add(&self, rules: Vec<Rule>) {
        self.lock_rules().extend(rules.into_iter().map(|rule| Active { remaining: rule.count, rule }));
    }

    /// The active rules, as posted.
    pub fn rules(&self) -> Vec<Rule> {
        self.lock_rules().iter().map(|a| a.rule.clone()).collect()
    }

    /// Removes every active rule equal to one of `rules`.
    pub fn remove(&self, rules: &[Rule]) {
        self.lock_rules().retain(|a| !rules.contains(&a.rule));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock_rules().clear();
    }

    /// The current effects.
    pub fn effects(&self) -> Effects {
        *self.effects.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the effects.
    pub fn set_effects(&self, effects: Effects) {
        *self.effects.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = effects;
    }

    /// The fault for `target`, if a rule fires: the first matching rule whose dice say so. A rule
    /// with a `count` counts the times it fired and retires after the last.
    pub fn fault_for(&self, target: &Target<'_>) -> Option<Fault> {
        let mut rules = self.lock_rules();
        let index = rules.iter().position(|a| a.rule.matches(target) && roll(a.rule.probability.unwrap_or(1.0)))?;
        let fault = rules[index].rule.fault();
        if let Some(remaining) = &mut rules[index].remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        Some(fault)
    }

    /// Waits for the effects' latency (and a random part of the jitter).
    pub async fn delay(&self) {
        let Effects { latency, jitter } = self.effects();
        let extra = if jitter == 0 { 0 } else { random_u64() % (jitter + 1) };
        let total = latency.saturating_add(extra);
        if total > 0 {
            tokio::time::sleep(Duration::from_millis(total)).await;
        }
    }
}

impl Rule {
    /// Whether this rule's match fields all agree with `target`.
    pub fn matches(&self, target: &Target<'_>) -> bool {
        fn same(want: Option<&String>, got: Option<&str>, ignore_case: bool) -> bool {
            match (want, got) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(w), Some(g)) if ignore_case => w.eq_ignore_ascii_case(g),
                (Some(w), Some(g)) => w == g,
            }
        }
        same(self.service.as_ref(), Some(target.service), true)
            && same(self.operation.as_ref(), Some(target.operation), true)
            && same(self.region.as_ref(), target.region, false)
            && same(self.bucket.as_ref(), target.bucket, false)
            && same(self.queue.as_ref(), target.queue, false)
    }

    /// What the rule does to a request it fires on.
    pub fn fault(&self) -> Fault {
        let error = self.error.as_ref();
        let status = error.and_then(|e| e.status_code).unwrap_or(500);
        let code = error.and_then(|e| e.code.clone()).unwrap_or_else(|| default_code(status).to_owned());
        let message = error.and_then(|e| e.message.clone()).unwrap_or_else(|| {
            format!("{} (a fault injected by the sandbox's chaos rules)", default_message(&code, status))
        });
        Fault {
            error: AwsError::new(code, status, message),
            reset: self.reset.unwrap_or(false),
            after: self.after.unwrap_or(false),
        }
    }
}

fn default_code(status: u16) -> &'static str {
    match status {
        403 => "AccessDenied",
        404 => "NotFound",
        409 => "Conflict",
        429 => "TooManyRequestsException",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        400..=499 => "BadRequest",
        _ => "InternalError",
    }
}

fn default_message(code: &str, status: u16) -> &'static str {
    match code {
        "SlowDown" => "Please reduce your request rate.",
        "ServiceUnavailable" => "Service is unable to handle request.",
        "InternalError" | "InternalFailure" => "We encountered an internal error. Please try again.",
        "RequestTimeout" => {
            "Your socket connection to the server was not read from or written to within the timeout period."
        }
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" | "RequestThrottled" => "Rate exceeded",
        _ if status >= 500 => "The service failed to handle the request.",
        _ => "The request was refused.",
    }
}

/// `true` with chance `p`.
fn roll(p: f64) -> bool {
    if p >= 1.0 {
        return true;
    }
    if p <= 0.0 {
        return false;
    }
    // 53 random bits → a uniform float in [0, 1).
    let unit = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit < p
}

fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    })
}

// ---- parsing: every mistake is one line that names the field ----

/// Parses a JSON array of rules (the body of `POST`/`DELETE /_sandbox/chaos/faults`, or a
/// `--chaos` file). The error is one line naming the rule and the field.
pub fn parse_rules(bytes: &[u8]) -> Result<Vec<Rule>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|err| format!("the chaos rules are not valid JSON: {err}"))?;
    let Value::Array(items) = value else {
        return Err("the chaos rules must be a JSON array of rules, such as [{\"service\":\"s3\"}]".to_owned());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| rule_from_json(item).map_err(|err| format!("rule {}: {err}", i + 1)))
        .collect()
}

/// Reads and parses a rules file (`--chaos FILE`, `SOS_SANDBOX_CHAOS`).
pub fn load_rules(path: &std::path::Path) -> Result<Vec<Rule>, String> {
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read the chaos rules: {err}"))?;
    parse_rules(&bytes)
}

/// Parses `{"latency": MS, "jitter": MS}` (both optional, 0 when missing).
pub fn parse_effects(bytes: &[u8]) -> Result<Effects, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|err| format!("the chaos effects are not valid JSON: {err}"))?;
    let Value::Object(fields) = value else {
        return Err("the chaos effects must be a JSON object such as {\"latency\": 300}".to_owned());
    };
    let mut effects = Effects::default();
    for (name, value) in &fields {
        let slot = match name.as_str() {
            "latency" => &mut effects.latency,
            "jitter" => &mut effects.jitter,
            _ => return Err(format!("unknown field `{}` in the effects; expected `latency` or `jitter`", clip(name))),
        };
        *slot = match value {
            Value::Null => 0,
            Value::Number(n) => n.as_u64().filter(|ms| *ms <= MAX_DELAY_MS).ok_or_else(|| {
                format!("{name} must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}, got {n}")
            })?,
            other => return Err(format!("{name} must be a number of milliseconds, got {}", kind(other))),
        };
    }
    Ok(effects)
}

const RULE_FIELDS: &str = "service, operation, region, bucket, queue, probability, error, count, reset, after";

fn rule_from_json(value: &Value) -> Result<Rule, String> {
    let Value::Object(fields) = value else {
        return Err(format!("a rule must be a JSON object, got {}", kind(value)));
    };
    let mut rule = Rule::default();
    for (name, value) in fields {
        if !RULE_FIELDS.split(", ").any(|known| known == name) {
            return Err(format!("unknown field `{}`; a rule has {RULE_FIELDS}", clip(name)));
        }
        if value.is_null() {
            // A null field is a missing one, as in LocalStack.
            continue;
        }
        match name.as_str() {
            "service" => rule.service = Some(service_name(value)?),
            "operation" => rule.operation = Some(text(name, value)?),
            "region" => rule.region = Some(text(name, value)?),
            "bucket" => rule.bucket = Some(text(name, value)?),
            "queue" => rule.queue = Some(text(name, value)?),
            "probability" => {
                let p = value.as_f64().ok_or_else(|| format!("probability must be a number, got {}", kind(value)))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("probability must be between 0 and 1, got {p}"));
                }
                rule.probability = Some(p);
            }
            "error" => rule.error = Some(error_from_json(value)?),
            "count" => {
                let n = value
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("count must be a whole number of at least 1, got {}", shown(value)))?;
                rule.count = Some(n);
            }
            "reset" => rule.reset = Some(flag(name, value)?),
            "after" => rule.after = Some(flag(name, value)?),
            _ => return Err(format!("unknown field `{}`; a rule has {RULE_FIELDS}", clip(name))),
        }
    }
    Ok(rule)
}

fn error_from_json(value: &Value) -> Result<FaultError, String> {
    let Value::Object(fields) = value else {
        return Err(format!(
            "error must be an object such as {{\"statusCode\": 503, \"code\": \"SlowDown\"}}, got {}",
            kind(value)
        ));
    };
    let mut error = FaultError { status_code: None, code: None, message: None };
    for (name, value) in fields {
        if value.is_null() && matches!(name.as_str(), "statusCode" | "code" | "message") {
            continue;
        }
        match name.as_str() {
            "statusCode" => {
                let status =
                    value.as_u64().filter(|s| (400..=599).contains(s)).and_then(|s| u16::try_from(s).ok()).ok_or_else(
                        || format!("error.statusCode must be an HTTP error status (400–599), got {}", shown(value)),
                    )?;
                error.status_code = Some(status);
            }
            "code" => {
                let code = text("error.code", value)?;
                if code.is_empty()
                    || code.len() > 128
                    || !code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
                {
                    return Err(format!(
                        "error.code must be an AWS error code such as SlowDown (letters, digits, `.`, `_`, `-`, `:`), got {}",
                        shown(value)
                    ));
                }
                error.code = Some(code);
            }
            "message" => error.message = Some(text("error.message", value)?.replace(['\r', '\n'], " ")),
            _ => {
                return Err(format!("unknown field `error.{}`; an error has statusCode, code, message", clip(name)));
            }
        }
    }
    Ok(error)
}

fn service_name(value: &Value) -> Result<String, String> {
    let name = text("service", value)?;
    let known = ["s3", "sqs", "sns", "sts"];
    if known.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!("service must be one of s3, sqs, sns, sts, got {}", shown(value)))
    }
}

fn text(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if s.len() <= 1024 => Ok(s.clone()),
        Value::String(_) => Err(format!("{name} is longer than 1024 characters")),
        other => Err(format!("{name} must be a string, got {}", kind(other))),
    }
}

fn flag(name: &str, value: &Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| format!("{name} must be true or false, got {}", kind(value)))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as the error line shows it: short and on one line.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{}\"", clip(s)),
        other => kind(other).to_owned(),
    }
}

/// At most 64 characters of `s`, control characters replaced, so an error stays one short line.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// The rules as `GET` lists them.
pub fn rules_json(rules: &[Rule]) -> String {
    serde_json::to_string(rules).unwrap_or_else(|_| "[]".to_owned())
}

/// The effects as `GET` shows them.
pub fn effects_json(effects: &Effects) -> String {
    serde_json::to_string(effects).unwrap_or_else(|_| "{}".to_owned())
}

// ---- what a request is, as the rules see it ----

/// S3's operation for a request, derived from method, path, query and headers as S3 routes it,
/// and the bucket named in its (path-style) path.
pub fn s3_operation(method: &Method, path: &str, query: &str, headers: &HeaderMap) -> (&'static str, Option<String>) {
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((bucket, key)) => (bucket, Some(key).filter(|k| !k.is_empty())),
        None => (trimmed, None),
    };
    let bucket = (!bucket.is_empty()).then(|| percent_decode(bucket));
    let has = |name: &str| query.split('&').any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == name);
    let copy = headers.contains_key("x-amz-copy-source");
    let op = match (&bucket, key) {
        (None, _) => match *method {
            Method::GET => "ListBuckets",
            _ => "Unknown",
        },
        (Some(_), None) => bucket_operation(method, &has),
        (Some(_), Some(_)) => match *method {
            Method::GET if has("uploadId") => "ListParts",
            Method::GET if has("acl") => "GetObjectAcl",
            Method::GET if has("tagging") => "GetObjectTagging",
            Method::GET if has("attributes") => "GetObjectAttributes",
            Method::GET if has("retention") => "GetObjectRetention",
            Method::GET if has("legal-hold") => "GetObjectLegalHold",
            Method::GET => "GetObject",
            Method::HEAD => "HeadObject",
            Method::PUT if has("partNumber") && has("uploadId") && copy => "UploadPartCopy",
            Method::PUT if has("partNumber") && has("uploadId") => "UploadPart",
            Method::PUT if has("tagging") => "PutObjectTagging",
            Method::PUT if has("acl") => "PutObjectAcl",
            Method::PUT if has("retention") => "PutObjectRetention",
            Method::PUT if has("legal-hold") => "PutObjectLegalHold",
            Method::PUT if copy => "CopyObject",
            Method::PUT => "PutObject",
            Method::POST if has("uploads") => "CreateMultipartUpload",
            Method::POST if has("uploadId") => "CompleteMultipartUpload",
            Method::POST if has("restore") => "RestoreObject",
            Method::POST if has("select") => "SelectObjectContent",
            Method::DELETE if has("uploadId") => "AbortMultipartUpload",
            Method::DELETE if has("tagging") => "DeleteObjectTagging",
            Method::DELETE => "DeleteObject",
            _ => "Unknown",
        },
    };
    (op, bucket)
}

/// Bucket subresources: `(query parameter, Get…, Put…, Delete…)`.
const SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("notification", "GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration", "Unknown"),
    ("versioning", "GetBucketVersioning", "PutBucketVersioning", "Unknown"),
    ("policy", "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    ("acl", "GetBucketAcl", "PutBucketAcl", "Unknown"),
    ("cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    ("tagging", "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"),
    ("lifecycle", "GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"),
    ("encryption", "GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"),
    ("website", "GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    ("logging", "GetBucketLogging", "PutBucketLogging", "Unknown"),
    ("replication", "GetBucketReplication", "PutBucketReplication", "DeleteBucketReplication"),
    ("ownershipControls", "GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"),
    ("publicAccessBlock", "GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"),
    ("object-lock", "GetObjectLockConfiguration", "PutObjectLockConfiguration", "Unknown"),
    ("accelerate", "GetBucketAccelerateConfiguration", "PutBucketAccelerateConfiguration", "Unknown"),
    ("requestPayment", "GetBucketRequestPayment", "PutBucketRequestPayment", "Unknown"),
];

fn bucket_operation(method: &Method, has: &dyn Fn(&str) -> bool) -> &'static str {
    if let Some(&(_, get, put, delete)) = SUBRESOURCES.iter().find(|(name, ..)| has(name)) {
        return match *method {
            Method::GET => get,
            Method::PUT => put,
            Method::DELETE => delete,
            _ => "Unknown",
        };
    }
    match *method {
        Method::GET if has("location") => "GetBucketLocation",
        Method::GET if has("uploads") => "ListMultipartUploads",
        Method::GET if has("versions") => "ListObjectVersions",
        Method::GET if has("list-type") => "ListObjectsV2",
        Method::GET => "ListObjects",
        Method::HEAD => "HeadBucket",
        Method::PUT => "CreateBucket",
        Method::DELETE => "DeleteBucket",
        Method::POST if has("delete") => "DeleteObjects",
        Method::POST => "PostObject",
        _ => "Unknown",
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(hex_value), bytes.get(i + 2).and_then(hex_value))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: &u8) -> Option<u8> {
    char::from(*b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The queue an SQS JSON request names: the last path segment of its `QueueUrl`, else its
/// `QueueName` (CreateQueue, GetQueueUrl). `None` when the body names none or is not JSON.
pub fn sqs_queue(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else { return None };
    if let Some(url) = fields.get("QueueUrl").and_then(Value::as_str) {
        return url.trim_end_matches('/').rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned);
    }
    fields.get("QueueName").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, path: &str, query: &str) -> &'static str {
        s3_operation(&method, path, query, &HeaderMap::new()).0
    }

    #[test]
    fn s3_operations_are_named_as_s3_routes_them() {
        assert_eq!(op(Method::GET, "/", ""), "ListBuckets");
        assert_eq!(op(Method::PUT, "/b", ""), "CreateBucket");
        assert_eq!(op(Method::GET, "/b", "list-type=2&prefix=a"), "ListObjectsV2");
        assert_eq!(op(Method::GET, "/b/", "location"), "GetBucketLocation");
        assert_eq!(op(Method::PUT, "/b", "notification"), "PutBucketNotificationConfiguration");
        assert_eq!(op(Method::PUT, "/b/k/x", ""), "PutObject");
        assert_eq!(op(Method::PUT, "/b/k", "partNumber=1&uploadId=u"), "UploadPart");
        assert_eq!(op(Method::POST, "/b/k", "uploads"), "CreateMultipartUpload");
        assert_eq!(op(Method::POST, "/b/k", "uploadId=u"), "CompleteMultipartUpload");
        assert_eq!(op(Method::DELETE, "/b/k", "uploadId=u"), "AbortMultipartUpload");
        assert_eq!(op(Method::GET, "/b/k", ""), "GetObject");
        assert_eq!(op(Method::HEAD, "/b/k", ""), "HeadObject");
        assert_eq!(op(Method::HEAD, "/b", ""), "HeadBucket");
        assert_eq!(op(Method::DELETE, "/b", ""), "DeleteBucket");
        assert_eq!(op(Method::POST, "/b", "delete"), "DeleteObjects");
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-copy-source", http::HeaderValue::from_static("/b/a"));
        assert_eq!(s3_operation(&Method::PUT, "/b/k", "", &headers).0, "CopyObject");
        assert_eq!(s3_operation(&Method::PUT, "/my%2Dbucket/k", "", &headers).1.as_deref(), Some("my-bucket"));
    }

    #[test]
    fn mistakes_name_the_rule_and_the_field() {
        let err = |json: &str| parse_rules(json.as_bytes()).expect_err(json);
        assert_eq!(err(r#"[{"probability": 1.5}]"#), "rule 1: probability must be between 0 and 1, got 1.5");
        assert!(err(r#"[{}, {"sevrice": "s3"}]"#).starts_with("rule 2: unknown field `sevrice`"));
        assert!(err(r#"[{"error": {"statusCode": 200}}]"#).starts_with("rule 1: error.statusCode must be"));
        assert!(err(r#"[{"count": 0}]"#).starts_with("rule 1: count must be"));
        assert!(err(r#"{"service": "s3"}"#).starts_with("the chaos rules must be a JSON array"));
        assert!(err("[").starts_with("the chaos rules are not valid JSON"));
        assert!(!err(r#"[{"x\n": 1}]"#).contains('\n'));
        assert!(err(r#"[{"qucket": null}]"#).starts_with("rule 1: unknown field `qucket`"), "a null is no excuse");
        assert!(err(r#"[{"error": {"cod": null}}]"#).starts_with("rule 1: unknown field `error.cod`"));
    }

    #[test]
    fn a_counted_rule_retires_after_firing() {
        let rules =
            parse_rules(br#"[{"service":"S3","operation":"getobject","count":2,"bucket":"b"}]"#).expect("valid");
        let chaos = Chaos::new(rules);
        let get = Target { service: "s3", operation: "GetObject", bucket: Some("b"), ..Target::default() };
        let other = Target { bucket: Some("c"), ..get };
        assert!(chaos.fault_for(&other).is_none());
        let fault = chaos.fault_for(&get).expect("first");
        assert_eq!((fault.error.status, fault.error.code.as_ref()), (500, "InternalError"));
        assert!(chaos.fault_for(&get).is_some());
        assert!(chaos.fault_for(&get).is_none());
        assert!(chaos.rules().is_empty());
    }

    #[test]
    fn probability_zero_never_fires_and_delete_removes_equal_rules() {
        let rules = parse_rules(br#"[{"probability":0},{"service":"sqs"}]"#).expect("valid");
        let chaos = Chaos::new(rules.clone());
        let send = Target { service: "sqs", operation: "SendMessage", ..Target::default() };
        assert!(chaos.fault_for(&Target { service: "s3", ..send }).is_none());
        assert!(chaos.fault_for(&send).is_some());
        chaos.remove(&rules[1..]);
        assert_eq!(chaos.rules(), rules[..1]);
        assert_eq!(parse_rules(rules_json(&chaos.rules()).as_bytes()).expect("round trip"), rules[..1]);
    }

    /// Found by `fuzz/run` (chaos_rules): serde_json's default float parsing read the listed
    /// `0.11611111111111111` as another number than the one it had listed, so a rule copied from
    /// `GET` into `DELETE` was not removed.
    #[test]
    fn a_listed_probability_parses_back_to_the_same_rule() {
        let posted =
            br#"[{"service":"s3","probability":0.1161111111111111111111111111111111111111111111111111111111}]"#;
        let rules = parse_rules(posted).expect("valid");
        let listed = rules_json(&rules);
        assert_eq!(parse_rules(listed.as_bytes()).expect("listed rules parse"), rules, "{listed}");
        let chaos = Chaos::new(rules);
        chaos.remove(&parse_rules(listed.as_bytes()).expect("listed rules parse"));
        assert!(chaos.rules().is_empty(), "the listed rule removes the posted one");
    }

    #[test]
    fn effects_parse_with_limits() {
        assert_eq!(parse_effects(br#"{"latency": 300}"#), Ok(Effects { latency: 300, jitter: 0 }));
        assert!(parse_effects(br#"{"latency": -1}"#).expect_err("negative").starts_with("latency must be"));
        assert!(parse_effects(br#"{"delay": 1}"#).expect_err("unknown").contains("`delay`"));
    }
}
