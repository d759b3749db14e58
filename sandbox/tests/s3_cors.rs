//! Bucket CORS as AWS documents it: Put/Get/DeleteBucketCors (the API reference's checks), and
//! the answer to a browser's preflight `OPTIONS` request by the bucket's rules (the user guide's
//! "How does Amazon S3 evaluate the CORS configuration on a bucket?").

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use testkit::TestSandbox;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BUCKET: &str = "cors";

async fn start() -> (TestSandbox, Client) {
    TestSandbox::with_empty_bucket(BUCKET).await
}

/// One unsigned `OPTIONS` request, as a browser sends it; `(status, headers in lower case, body)`.
async fn preflight(sandbox: &TestSandbox, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr()).await.expect("connect");
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let request = format!("OPTIONS {path} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: close\r\n\r\n", sandbox.addr());
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8(response).expect("text");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
    CorsRule::builder()
        .set_allowed_origins(Some(origins.iter().map(|s| (*s).to_owned()).collect()))
        .set_allowed_methods(Some(methods.iter().map(|s| (*s).to_owned()).collect()))
        .set_allowed_headers(Some(headers.iter().map(|s| (*s).to_owned()).collect()))
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()
        .expect("rule")
}

async fn put_cors(s3: &Client, rules: Vec<CorsRule>) -> Result<(), String> {
    let config = CorsConfiguration::builder().set_cors_rules(Some(rules)).build().expect("config");
    let out = s3.put_bucket_cors().bucket(BUCKET).cors_configuration(config).send().await;
    out.map(|_| ()).map_err(|err| err.code().unwrap_or("(none)").to_owned())
}

#[tokio::test]
async fn a_cors_configuration_is_kept_checked_and_removed() {
    let (_sandbox, s3) = start().await;
    let err = s3.get_bucket_cors().bucket(BUCKET).send().await.expect_err("none yet");
    assert_eq!(err.code(), Some("NoSuchCORSConfiguration"));
    put_cors(&s3, vec![rule(&["http://localhost:8080"], &["GET", "PUT"], &["*"])]).await.expect("put");
    let got = s3.get_bucket_cors().bucket(BUCKET).send().await.expect("get");
    let [kept] = got.cors_rules() else { panic!("one rule: {got:?}") };
    assert_eq!(kept.allowed_methods(), ["GET", "PUT"]);
    assert_eq!(kept.allowed_origins(), ["http://localhost:8080"]);
    assert_eq!(kept.max_age_seconds(), Some(600));
    // Only GET, PUT, HEAD, POST and DELETE; one wildcard in an origin.
    assert_eq!(put_cors(&s3, vec![rule(&["*"], &["PATCH"], &[])]).await, Err("InvalidRequest".to_owned()));
    assert_eq!(put_cors(&s3, vec![rule(&["http://*.*.com"], &["GET"], &[])]).await, Err("InvalidRequest".to_owned()));
    s3.delete_bucket_cors().bucket(BUCKET).send().await.expect("delete");
    let err = s3.get_bucket_cors().bucket(BUCKET).send().await.expect_err("gone");
    assert_eq!(err.code(), Some("NoSuchCORSConfiguration"));
}

#[tokio::test]
async fn preflight_requests_are_answered_by_the_first_matching_rule() {
    let (sandbox, s3) = start().await;
    let path = format!("/{BUCKET}/data/Optimization_result.geojson");
    let asks = |origin: &'static str, method: &'static str| {
        vec![
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", "Content-Type"),
        ]
    };
    // No configuration: 403.
    let (status, _, body) = preflight(&sandbox, &path, &asks("http://localhost:8080", "GET")).await;
    assert_eq!(status, 403);
    assert!(body.contains("<Code>AccessForbidden</Code>") && body.contains("CORS is not enabled"), "{body}");

    put_cors(
        &s3,
        vec![rule(&["http://*.example.org"], &["PUT"], &["content-type"]), rule(&["*"], &["GET", "HEAD"], &[])],
    )
    .await
    .expect("put");
    let (status, head, _) = preflight(&sandbox, &path, &asks("http://upload.example.org", "PUT")).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("access-control-allow-origin: http://upload.example.org"), "{head}");
    assert!(head.contains("access-control-allow-methods: put"), "{head}");
    assert!(head.contains("access-control-allow-headers: content-type"), "{head}");
    assert!(head.contains("access-control-max-age: 600"), "{head}");
    assert!(head.contains("access-control-expose-headers: etag"), "{head}");
    // The second rule allows GET from anywhere, but no request headers.
    let (status, _, _) =
        preflight(&sandbox, &path, &[("Origin", "http://a.test"), ("Access-Control-Request-Method", "GET")]).await;
    assert_eq!(status, 200);
    let (status, _, body) = preflight(&sandbox, &path, &asks("http://a.test", "GET")).await;
    assert_eq!(status, 403, "Content-Type is not an allowed header for GET: {body}");
    let (status, _, _) = preflight(&sandbox, &path, &asks("http://evil.test", "PUT")).await;
    assert_eq!(status, 403, "PUT only from *.example.org");
    // A preflight without Origin: 400.
    let (status, _, body) = preflight(&sandbox, &path, &[("Access-Control-Request-Method", "GET")]).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = preflight(&sandbox, "/no-such-bucket/k", &asks("http://a.test", "GET")).await;
    assert_eq!(status, 404);
}
