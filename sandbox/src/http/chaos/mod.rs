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
//! In three parts: the rules and their matching (here), reading them from JSON ([`parse`]: every
//! mistake is one line naming the rule and the field, and nothing untrusted makes it panic), and
//! what the pipeline tells the rules about a request ([`request`]: a [`Call`]).

mod parse;
pub(crate) mod request;

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::AwsError;
pub use parse::{effects_json, load_rules, parse_effects, parse_rules, rules_json};
pub use request::{Call, sqs_queue};

/// The admin path of the fault rules (`POST`, `GET`, `DELETE`).
pub const FAULTS_PATH: &str = "/_sandbox/chaos/faults";
/// The admin path of the effects (`POST`, `GET`).
pub const EFFECTS_PATH: &str = "/_sandbox/chaos/effects";
/// The largest latency or jitter accepted, in milliseconds (ten minutes).
pub const MAX_DELAY_MS: u64 = 600_000;

/// The error a rule answers with. A missing or `null` field takes its default, as in LocalStack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultError {
    /// HTTP status (400–599) [default: 500].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::status_code")]
    pub status_code: Option<u16>,
    /// AWS error code [default: from the status: `InternalError` for 500, `ServiceUnavailable`
    /// for 503, …].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::error_code")]
    pub code: Option<String>,
    /// The error's message [default: AWS's message for the code, marked as injected].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::one_line_text")]
    pub message: Option<String>,
}

/// One fault rule, as posted (LocalStack's schema plus `count`, `reset`, `after`, `bucket`,
/// `queue`). A missing or `null` field matches all (or takes its default), as in LocalStack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Service (`s3`, `sqs`, `sns`, `sts`); any when missing.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::service")]
    pub service: Option<String>,
    /// Operation (`PutObject`, `SendMessage`, `Publish`, …); any when missing.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::text")]
    pub operation: Option<String>,
    /// Region of the request's credential scope; any when missing.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::text")]
    pub region: Option<String>,
    /// Bucket name (S3 only); any when missing.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::text")]
    pub bucket: Option<String>,
    /// Queue name (SQS only); any when missing.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::text")]
    pub queue: Option<String>,
    /// Chance that a matching request fails, 0–1 [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::probability")]
    pub probability: Option<f64>,
    /// The error [default: 500 `InternalError`].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::error")]
    pub error: Option<FaultError>,
    /// Fire at most this many times, then retire.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "parse::count")]
    pub count: Option<u64>,
    /// Close the connection with no answer instead of answering with the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
    /// Do the work first, then answer with the error (or close the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<bool>,
}

/// Delays added to every answer. A missing or `null` field is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    /// Milliseconds added to every answer.
    #[serde(default, deserialize_with = "parse::delay")]
    pub latency: u64,
    /// Up to this many more milliseconds, at random.
    #[serde(default, deserialize_with = "parse::delay")]
    pub jitter: u64,
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

    /// Whether an active rule names a queue: only then does a request's queue matter.
    pub fn names_a_queue(&self) -> bool {
        self.lock_rules().iter().any(|a| a.rule.queue.is_some())
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
    pub fn fault_for(&self, call: &Call<'_>) -> Option<Fault> {
        let mut rules = self.lock_rules();
        let index = rules.iter().position(|a| a.rule.matches(call) && roll(a.rule.probability.unwrap_or(1.0)))?;
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
    /// Whether this rule's match fields all agree with `call`.
    pub fn matches(&self, call: &Call<'_>) -> bool {
        fn same(want: Option<&String>, got: Option<&str>, ignore_case: bool) -> bool {
            match (want, got) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(w), Some(g)) if ignore_case => w.eq_ignore_ascii_case(g),
                (Some(w), Some(g)) => w == g,
            }
        }
        same(self.service.as_ref(), Some(call.service), true)
            && same(self.operation.as_ref(), Some(call.operation), true)
            && same(self.region.as_ref(), call.region, false)
            && same(self.bucket.as_ref(), call.bucket, false)
            && same(self.queue.as_ref(), call.queue, false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_rule_retires_after_firing() {
        let rules =
            parse_rules(br#"[{"service":"S3","operation":"getobject","count":2,"bucket":"b"}]"#).expect("valid");
        let chaos = Chaos::new(rules);
        let get = Call { service: "s3", operation: "GetObject", bucket: Some("b"), ..Call::default() };
        let other = Call { bucket: Some("c"), ..get };
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
        let send = Call { service: "sqs", operation: "SendMessage", ..Call::default() };
        assert!(chaos.fault_for(&Call { service: "s3", ..send }).is_none());
        assert!(chaos.fault_for(&send).is_some());
        chaos.remove(&rules[1..]);
        assert_eq!(chaos.rules(), rules[..1]);
        assert_eq!(parse_rules(rules_json(&chaos.rules()).as_bytes()).expect("round trip"), rules[..1]);
    }

    #[test]
    fn only_a_rule_naming_a_queue_needs_the_requests_queue() {
        assert!(!Chaos::new(parse_rules(br#"[{"service":"sqs"}]"#).expect("valid")).names_a_queue());
        assert!(Chaos::new(parse_rules(br#"[{"queue":"q"}]"#).expect("valid")).names_a_queue());
    }
}
