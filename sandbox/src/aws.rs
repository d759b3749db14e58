//! The AWS vocabulary every service shares, written once: the clock, request and message ids,
//! ARNs, timestamps, and S3's URL encoding of keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{ACCOUNT_ID, REGION};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis())
        .unwrap_or(u64::MAX)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// A random id in UUID form: request ids, message ids, subscription ids.
pub fn uuid() -> String {
    let hex = hex::encode(random_bytes(16));
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
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
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix_secs).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).unwrap_or_default()
}

/// Now as `2026-11-24T21:00:00.123Z`, the timestamp form of SNS envelopes and S3 events.
pub fn timestamp_ms() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}

/// A key (or prefix) as S3 URL-encodes it in listings with `encoding-type=url` and in event
/// notifications: RFC 3986's unreserved characters and `/` stay, a space becomes `+`, every other
/// byte is `%XX`.
pub fn s3_url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_encodes_them() {
        assert_eq!(
            s3_url_encode("Missouri Open Loop sample output/a+b ü.txt"),
            "Missouri+Open+Loop+sample+output/a%2Bb+%C3%BC.txt"
        );
        assert_eq!(s3_url_encode("p/a+b c%d*.txt"), "p/a%2Bb+c%25d%2A.txt");
        assert_eq!(s3_url_encode("plain-key_1.~"), "plain-key_1.~");
    }

    #[test]
    fn ids_have_the_uuid_shape() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, uuid());
    }
}
