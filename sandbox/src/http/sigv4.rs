//! AWS Signature Version 4 checking for the services the sandbox serves itself (STS, SQS, SNS),
//! in both forms: the `Authorization` header and the presigned query (`X-Amz-Signature=…`).
//! S3's signatures, with its own canonical path and the chunk signatures of streamed uploads,
//! are checked by `s3s`; both take their secrets from the one gate (`http::gate`).
//!
//! The check rebuilds the canonical request from what arrived — method, path, query, the headers
//! the client says it signed, and the SHA-256 of the body — and compares the signature of its
//! string to sign with the client's, as AWS does. The signing key and the signature come from
//! `aws-sigv4`, the SDK's own signer; what is here is the part a signer never needs: reading what
//! a client sent.

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest as _, Sha256};

use crate::identity::Denied;

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope (`sts`, `sqs`, `sns`, `s3`).
    pub service: String,
    /// Lower-case names of the signed headers.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

impl Authorization {
    /// Parses the header's value; `None` when it is not SigV4.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let access_key_id = scope.next()?.to_owned();
        let date = scope.next()?.to_owned();
        let region = scope.next()?.to_owned();
        let service = scope.next()?.to_owned();
        (scope.next()? == "aws4_request").then_some(())?;
        Some(Self {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed?.split(';').map(str::to_ascii_lowercase).collect(),
            signature: signature?.to_owned(),
        })
    }

    /// Parses the presigned form's query parameters (`X-Amz-Credential`, …); `None` when the
    /// query is not presigned. Returns the authorization and the `X-Amz-Date`.
    pub fn from_presigned_query(query: &str) -> Option<(Self, String)> {
        let param =
            |name: &str| form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        (param("X-Amz-Algorithm")? == "AWS4-HMAC-SHA256").then_some(())?;
        let header = format!(
            "AWS4-HMAC-SHA256 Credential={}, SignedHeaders={}, Signature={}",
            param("X-Amz-Credential")?,
            param("X-Amz-SignedHeaders")?,
            param("X-Amz-Signature")?
        );
        Some((Self::parse(&header)?, param("X-Amz-Date")?))
    }
}

/// The service named in a request's SigV4 credential scope (header or presigned query), if it is
/// signed that way.
pub fn service_of(headers: &HeaderMap, query: &str) -> Option<String> {
    scope_of(headers, query).map(|a| a.service)
}

/// A request's SigV4 authorization (header or presigned query), parsed but not checked.
pub fn scope_of(headers: &HeaderMap, query: &str) -> Option<Authorization> {
    match headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(value) => Authorization::parse(value),
        None => Authorization::from_presigned_query(query).map(|(a, _)| a),
    }
}

/// Checks the signature of a request against `secret`, returning the parsed authorization.
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret_for: impl FnOnce(&str) -> Result<String, Denied>,
) -> Result<Authorization, Denied> {
    let (auth, amz_date, presigned) = match headers.get(http::header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| Denied::Unsigned("Authorization header is not text".into()))?;
            let auth = Authorization::parse(value)
                .ok_or_else(|| Denied::Unsigned("Authorization header is not AWS Signature Version 4".into()))?;
            let amz_date = headers
                .get("x-amz-date")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Denied::Unsigned("Request is missing the X-Amz-Date header".into()))?;
            (auth, amz_date.to_owned(), false)
        }
        None => {
            let (auth, amz_date) = Authorization::from_presigned_query(query)
                .ok_or_else(|| Denied::Unsigned("Request is missing Authentication Token".into()))?;
            check_presigned_expiry(query, &amz_date)?;
            (auth, amz_date, true)
        }
    };
    let secret = secret_for(&auth.access_key_id)?;

    let canonical_headers: String = auth
        .signed_headers
        .iter()
        .map(|name| {
            let values: Vec<String> = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| collapse(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let payload_hash = match headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(hash) => hash.to_owned(),
        None => hex::encode(Sha256::digest(body)),
    };
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        canonical_path(path),
        canonical_query(query, presigned),
        auth.signed_headers.join(";"),
    );
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));

    let day = scope_day(&auth.date)?;
    let key = aws_sigv4::sign::v4::generate_signing_key(&secret, day, &auth.region, &auth.service);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(auth)
    } else {
        tracing::debug!(%canonical_request, "signature mismatch");
        Err(Denied::BadSignature)
    }
}

/// The day of a credential scope (`YYYYMMDD`), as the signer takes it.
fn scope_day(date: &str) -> Result<std::time::SystemTime, Denied> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
        .map_err(|_| Denied::Unsigned("The credential scope's date is not of the form YYYYMMDD".into()))?;
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc().into())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Trims a header value and collapses runs of spaces, as SigV4 does.
fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What SigV4 escapes in a query: all but RFC 3986's unreserved characters.
const QUERY_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// What SigV4 escapes in a path: the same, but `/` stays.
const PATH_ESCAPED: &AsciiSet = &QUERY_ESCAPED.remove(b'/');

/// A query name or value as the client sent it, unescaped (`+` is a `+`, not a space, in SigV4).
fn decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

/// Non-S3 services sign the path URI-encoded twice: once by the client, once by the signer.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    utf8_percent_encode(path, PATH_ESCAPED).to_string()
}

/// A presigned request is refused once `X-Amz-Expires` seconds have passed since `X-Amz-Date`.
fn check_presigned_expiry(query: &str, amz_date: &str) -> Result<(), Denied> {
    let expires: u64 = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Expires")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(900);
    let signed = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| Denied::Unsigned("X-Amz-Date is not a date of the form 20150830T123600Z".into()))?
        .and_utc()
        .timestamp();
    let age = i64::try_from(crate::aws::now_secs()).unwrap_or(i64::MAX).saturating_sub(signed);
    if age > i64::try_from(expires).unwrap_or(i64::MAX) {
        return Err(Denied::AccessDenied("Request has expired".into()));
    }
    Ok(())
}

fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !(presigned && p.starts_with("X-Amz-Signature=")))
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let encode = |text: &str| utf8_percent_encode(&decode(text), QUERY_ESCAPED).to_string();
            (encode(k), encode(v))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_authorization_header() {
        let auth = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .expect("valid");
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.service, "iam");
        assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
    }

    /// The example of the AWS documentation's SigV4 walkthrough (IAM ListUsers, GET with a query).
    #[test]
    fn verifies_the_aws_documentation_example() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/x-www-form-urlencoded; charset=utf-8".parse().expect("value"));
        headers.insert("host", "iam.amazonaws.com".parse().expect("value"));
        headers.insert("x-amz-date", "20150830T123600Z".parse().expect("value"));
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .parse()
                .expect("value"),
        );
        let secret = |_: &str| Ok("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned());
        let query = "Action=ListUsers&Version=2010-05-08";
        assert!(verify("GET", "/", query, &headers, b"", secret).is_ok());
        let wrong = |_: &str| Ok("not-the-secret".to_owned());
        assert_eq!(verify("GET", "/", query, &headers, b"", wrong), Err(Denied::BadSignature));
    }

    #[test]
    fn reads_the_scope_of_a_presigned_query() {
        let query = "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                     &X-Amz-Credential=test%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z\
                     &X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        assert_eq!(service_of(&HeaderMap::new(), query).as_deref(), Some("sts"));
        assert_eq!(service_of(&HeaderMap::new(), "Action=GetCallerIdentity"), None);
        let mut headers = HeaderMap::new();
        headers.insert("host", "localhost".parse().expect("value"));
        // Signed in 2026-01-01 for 15 minutes: long expired.
        let expired = verify("GET", "/", query, &headers, b"", |_| Ok("test".into()));
        assert_eq!(expired, Err(Denied::AccessDenied("Request has expired".into())));
    }
}
