//! SigV4 as the sandbox reads it from a request: the `Authorization` header, the presigned query
//! (`X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, …), the canonical request built from the
//! path, query and headers, and the signature check itself.
//!
//! Input: newline-separated authorization header, query, path, `x-amz-date`,
//! `x-amz-content-sha256`, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox::http::sigv4::{self, Authorization};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(6, |b| *b == b'\n');
    let mut next = || parts.next().unwrap_or_default();
    let (auth, query, path, date, sha, body) = (next(), next(), next(), next(), next(), next());
    let query = String::from_utf8_lossy(query);
    let path = String::from_utf8_lossy(path);

    if let Ok(auth) = std::str::from_utf8(auth) {
        let _ = Authorization::parse(auth);
    }
    let _ = Authorization::from_presigned_query(&query);

    let mut headers = http::HeaderMap::new();
    for (name, value) in [("authorization", auth), ("x-amz-date", date), ("x-amz-content-sha256", sha), ("host", date)]
    {
        // An empty line leaves the header out (the presigned path, a missing date, …).
        if !value.is_empty()
            && let Ok(value) = http::HeaderValue::from_bytes(value)
        {
            headers.append(name, value);
        }
    }
    let _ = sigv4::service_of(&headers, &query);
    let _ = sigv4::scope_of(&headers, &query);
    for method in ["GET", "POST"] {
        let _ = sigv4::verify(method, &path, &query, &headers, body, |_| Ok("test".to_owned()));
    }
});
