//! AWS Signature Version 4 checking for the services the sandbox serves itself (STS, and later
//! SQS and SNS); S3's signatures are checked by `s3s`.
//!
//! The check rebuilds the canonical request from what arrived — method, path, query, the headers
//! the client says it signed, and the SHA-256 of the body — and compares the HMAC chain's
//! result with the client's signature, as AWS does.

use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
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
}

/// The service named in a request's SigV4 credential scope, if it is signed that way.
pub fn service_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    Authorization::parse(value).map(|a| a.service)
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
    let value = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Denied::Unsigned("Request is missing Authentication Token".into()))?;
    let auth = Authorization::parse(value)
        .ok_or_else(|| Denied::Unsigned("Authorization header is not AWS Signature Version 4".into()))?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Denied::Unsigned("Request is missing the X-Amz-Date header".into()))?;
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
        canonical_query(query),
        auth.signed_headers.join(";"),
    );
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));

    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region.as_str(), auth.service.as_str(), "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(auth)
    } else {
        tracing::debug!(%canonical_request, "signature mismatch");
        Err(Denied::BadSignature)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Trims a header value and collapses runs of spaces, as SigV4 does.
fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 encoding with SigV4's unreserved set.
fn encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn decode(value: &str) -> String {
    form_urlencoded::parse(format!("x={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Non-S3 services sign the path URI-encoded twice: once by the client, once by the signer.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    encode(path, true)
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
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
}
