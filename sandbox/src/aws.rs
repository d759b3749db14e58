//! The AWS vocabulary every service shares, written once: the clock, request and message ids,
//! ARNs, timestamps, and S3's URL encoding of keys (which the examples share too, in
//! `conventions::s3_key`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conventions::{SANDBOX_ACCOUNT_ID as ACCOUNT_ID, SANDBOX_REGION as REGION};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis())
        .unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// A random (version 4) UUID: request ids, message ids, subscription ids.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `n` random characters of `A-Z2-7`, the alphabet of AWS access key ids.
pub fn random_upper(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_bytes(n).into_iter().map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()])).collect()
}

/// `n` random characters of the base64 alphabet, for secrets and tokens.
pub fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    random_bytes(n).into_iter().map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()])).collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    if getrandom::fill(&mut out).is_err() {
        // No OS randomness: fall back to the clock, which is unique enough for a local sandbox.
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos();
        for (i, b) in out.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 % 128) as u8) ^ (i as u8).wrapping_mul(31);
        }
    }
    out
}

/// The ARN of queue `name`.
pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}")
}

/// The ARN of topic `name`.
pub fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}")
}

/// The last part of an ARN (`arn:aws:sqs:…:name` → `name`).
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or_default()
}

/// `2026-11-24T21:00:00Z` for Unix seconds: STS's expiration times.
pub fn iso8601(unix_secs: u64) -> String {
    let t = chrono::DateTime::from_timestamp(i64::try_from(unix_secs).unwrap_or(i64::MAX), 0).unwrap_or_default();
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now as `2026-11-24T21:00:00.123Z`, the timestamp form of SNS envelopes and S3 events.
pub fn timestamp_ms() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A key (or prefix) as S3 URL-encodes it in listings with `encoding-type=url` and in event
/// notifications.
pub fn s3_url_encode(value: &str) -> String {
    conventions::s3_key::encode(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4", "the version digit: {id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "the RFC 4122 variant: {id}");
        assert_ne!(id, uuid());
    }

    #[test]
    fn timestamps_have_aws_forms() {
        assert_eq!(iso8601(1_795_550_400), "2026-11-24T20:00:00Z");
        let now = timestamp_ms();
        assert_eq!((now.len(), &now[10..11], &now[19..20], &now[23..]), (24, "T", ".", "Z"), "{now}");
    }
}
