//! Faults on demand through the chaos API (`/_sandbox/chaos/…`), seen by the AWS SDK for Rust as
//! it would see AWS's own: S3's `SlowDown`, SQS's and SNS's errors in their protocols, closed
//! connections, lost responses after the work was done, `count` rules that retire, latency.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use sandbox::{SEED_BUCKET, SEED_QUEUE, Sandbox, SandboxOptions};
use testkit::{SandboxClients as _, TestSandbox};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn config(sandbox: &Sandbox, retry: RetryConfig) -> aws_config::SdkConfig {
    sandbox.config().to_builder().retry_config(retry).build()
}

fn s3(sandbox: &Sandbox, retry: RetryConfig) -> aws_sdk_s3::Client {
    testkit::s3_client(&config(sandbox, retry))
}

fn no_retries() -> RetryConfig {
    RetryConfig::disabled()
}

/// One HTTP/1.1 request to the sandbox's admin API; `(status, body)`.
async fn admin(sandbox: &Sandbox, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr()).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        sandbox.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8(response).expect("text");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    // Chunked bodies are not expected: the sandbox's admin answers have a length.
    (status, body)
}

async fn post_faults(sandbox: &Sandbox, rules: &str) {
    let (status, body) = admin(sandbox, "POST", "/_sandbox/chaos/faults", rules).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn slow_down_on_put_object_then_delete_restores_service() {
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, no_retries());
    post_faults(&sandbox, r#"[{"service":"s3","operation":"PutObject","error":{"statusCode":503,"code":"SlowDown"}}]"#)
        .await;

    let err = s3.put_object().bucket(SEED_BUCKET).key("k").body(ByteStream::from_static(b"x")).send().await;
    let err = err.expect_err("the rule refuses PutObject");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(err.code(), Some("SlowDown"), "{err:?}");
    // Other operations pass.
    s3.list_objects_v2().bucket(SEED_BUCKET).send().await.expect("ListObjectsV2 is not matched");

    let (status, listed) = admin(&sandbox, "GET", "/_sandbox/chaos/faults", "").await;
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed[0]["error"]["code"], "SlowDown");

    let (status, remaining) = admin(&sandbox, "DELETE", "/_sandbox/chaos/faults", "").await;
    assert_eq!((status, remaining.as_str()), (200, "[]"));
    s3.put_object().bucket(SEED_BUCKET).key("k").body(ByteStream::from_static(b"x")).send().await.expect("restored");
}

#[tokio::test]
async fn a_counted_rule_fails_the_first_gets_then_retires() {
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, no_retries());
    let (key, _) = sandbox::SEED_OBJECTS[0];
    post_faults(&sandbox, &format!(r#"[{{"operation":"GetObject","bucket":"{SEED_BUCKET}","count":2}}]"#)).await;
    for attempt in 1..=2 {
        let err = s3.get_object().bucket(SEED_BUCKET).key(key).send().await.expect_err("counted fault");
        assert_eq!(err.code(), Some("InternalError"), "attempt {attempt}: {err:?}");
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    }
    s3.get_object().bucket(SEED_BUCKET).key(key).send().await.expect("the rule retired");
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/faults", "").await, (200, "[]".to_owned()));
}

#[tokio::test]
async fn a_bucket_rule_leaves_other_buckets_alone() {
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, no_retries());
    s3.create_bucket().bucket("other").send().await.expect("create");
    post_faults(&sandbox, r#"[{"service":"s3","bucket":"other"}]"#).await;
    s3.list_objects_v2().bucket(SEED_BUCKET).send().await.expect("another bucket");
    s3.list_objects_v2().bucket("other").send().await.expect_err("the bucket's rule");
}

#[tokio::test]
async fn reset_closes_the_connection_and_the_sdk_retries() {
    let sandbox = TestSandbox::start().await;
    post_faults(&sandbox, r#"[{"service":"s3","operation":"ListBuckets","reset":true,"count":2}]"#).await;
    let err = s3(&sandbox, no_retries()).list_buckets().send().await.expect_err("no answer");
    assert!(err.raw_response().is_none(), "a closed connection has no response: {err:?}");
    // One reset left: a client that retries gets through on its second attempt.
    let retrying = s3(&sandbox, RetryConfig::standard().with_max_attempts(3));
    retrying.list_buckets().send().await.expect("retried after the reset");
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/faults", "").await.1, "[]");
}

#[tokio::test]
async fn after_does_the_work_and_loses_the_answer() {
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, no_retries());
    post_faults(&sandbox, r#"[{"operation":"PutObject","after":true,"count":1}]"#).await;
    let put = s3.put_object().bucket(SEED_BUCKET).key("lost").body(ByteStream::from_static(b"kept")).send().await;
    assert_eq!(put.expect_err("the answer is lost").code(), Some("InternalError"));
    let got = s3.get_object().bucket(SEED_BUCKET).key("lost").send().await.expect("the object was written");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"kept");

    // SQS: the message is in the queue although SendMessage failed.
    let sqs = aws_sdk_sqs::Client::new(&config(&sandbox, no_retries()));
    let url = sqs.create_queue().queue_name("faults").send().await.expect("queue");
    let url = url.queue_url().expect("url");
    post_faults(&sandbox, r#"[{"operation":"SendMessage","queue":"faults","after":true,"count":1}]"#).await;
    let err = sqs.send_message().queue_url(url).message_body("hello").send().await.expect_err("lost");
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");
    let received = sqs.receive_message().queue_url(url).wait_time_seconds(5).send().await.expect("receive");
    assert_eq!(received.messages().first().and_then(|m| m.body()), Some("hello"));
}

#[tokio::test]
async fn sqs_sns_and_sts_errors_come_in_their_own_protocols() {
    let sandbox = TestSandbox::start().await;
    let conf = config(&sandbox, no_retries());
    post_faults(
        &sandbox,
        r#"[{"service":"sqs","operation":"GetQueueUrl","error":{"statusCode":400,"code":"RequestThrottled"}},
            {"service":"sns","operation":"ListTopics","error":{"statusCode":503,"code":"Throttling"}},
            {"service":"sts","operation":"GetCallerIdentity","region":"us-east-1"}]"#,
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let err = sqs.get_queue_url().queue_name(SEED_QUEUE).send().await.expect_err("sqs fault");
    assert_eq!((err.code(), err.raw_response().map(|r| r.status().as_u16())), (Some("RequestThrottled"), Some(400)));
    let sns = aws_sdk_sns::Client::new(&conf);
    let err = sns.list_topics().send().await.expect_err("sns fault");
    assert_eq!((err.code(), err.raw_response().map(|r| r.status().as_u16())), (Some("Throttling"), Some(503)));
    let sts = aws_sdk_sts::Client::new(&conf);
    let err = sts.get_caller_identity().send().await.expect_err("sts fault");
    assert_eq!(err.code(), Some("InternalError"));
    // A region the rule does not name passes.
    let elsewhere = aws_sdk_sts::config::Builder::from(&conf).region(aws_sdk_sts::config::Region::new("eu-west-1"));
    aws_sdk_sts::Client::from_conf(elsewhere.build()).get_caller_identity().send().await.expect("other region");
}

#[tokio::test]
async fn sdk_retries_ride_out_throttling() {
    let sandbox = TestSandbox::start().await;
    post_faults(
        &sandbox,
        r#"[{"service":"s3","operation":"HeadBucket","count":2,"error":{"statusCode":503,"code":"SlowDown"}}]"#,
    )
    .await;
    let s3 = s3(&sandbox, RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)));
    s3.head_bucket().bucket(SEED_BUCKET).send().await.expect("the third attempt passes");
    assert!(sandbox.chaos().rules().is_empty(), "the first two attempts were throttled: the counted rule retired");
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sandbox = TestSandbox::start().await;
    let (status, body) = admin(&sandbox, "POST", "/_sandbox/chaos/effects", r#"{"latency": 300}"#).await;
    assert_eq!((status, body.as_str()), (200, r#"{"latency":300,"jitter":0}"#));
    let s3 = s3(&sandbox, no_retries());
    let started = Instant::now();
    s3.list_buckets().send().await.expect("list");
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/effects", "").await.1, r#"{"latency":300,"jitter":0}"#);
    admin(&sandbox, "POST", "/_sandbox/chaos/effects", r#"{"latency": 0}"#).await;
    assert_eq!(sandbox.chaos().effects(), sandbox::chaos::Effects::default());
}

#[tokio::test]
async fn mistakes_get_one_line_naming_the_field() {
    let sandbox = TestSandbox::start().await;
    for (body, expected) in [
        (r#"[{"probability": 2}]"#, "rule 1: probability must be between 0 and 1, got 2\n"),
        (r#"[{"service": "s3", "operaton": "PutObject"}]"#, "rule 1: unknown field `operaton`, expected one of "),
        (r#"[{"error": {"statusCode": "503"}}]"#, "rule 1: error.statusCode must be an HTTP error status"),
        (r#"[{"service": "ec2"}]"#, "rule 1: service must be one of s3, sqs, sns, sts, got \"ec2\"\n"),
        (r#"{"service": "s3"}"#, "the chaos rules must be a JSON array"),
        ("not json", "the chaos rules are not valid JSON"),
    ] {
        let (status, answer) = admin(&sandbox, "POST", "/_sandbox/chaos/faults", body).await;
        assert_eq!(status, 400, "{body}");
        assert!(answer.starts_with(expected), "{body} → {answer}");
        assert_eq!(answer.lines().count(), 1, "{answer}");
    }
    let (status, answer) = admin(&sandbox, "POST", "/_sandbox/chaos/effects", r#"{"latency": "slow"}"#).await;
    assert_eq!(
        (status, answer.as_str()),
        (400, "latency must be a whole number of milliseconds, got string \"slow\"\n")
    );
    assert_eq!(admin(&sandbox, "PUT", "/_sandbox/chaos/faults", "").await.0, 405);
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/nothing", "").await.0, 404);
    assert!(sandbox.chaos().rules().is_empty(), "nothing was added");
}

#[tokio::test]
async fn delete_with_a_body_removes_only_those_rules() {
    let sandbox = TestSandbox::start().await;
    post_faults(&sandbox, r#"[{"service":"sqs"},{"service":"sns","probability":0.5}]"#).await;
    let (status, left) = admin(&sandbox, "DELETE", "/_sandbox/chaos/faults", r#"[{"service":"sqs"}]"#).await;
    assert_eq!((status, left.as_str()), (200, r#"[{"service":"sns","probability":0.5}]"#));
}

#[tokio::test]
async fn rules_given_at_start_apply_from_the_first_request() {
    let rules =
        sandbox::chaos::parse_rules(br#"[{"service":"s3","operation":"ListBuckets","count":1}]"#).expect("rules");
    let sandbox = TestSandbox::with(|o| SandboxOptions { chaos: rules, ..o }).await;
    let s3 = s3(&sandbox, no_retries());
    s3.list_buckets().send().await.expect_err("the rule from the options");
    s3.list_buckets().send().await.expect("retired");
}

/// The standalone binary's `--chaos FILE`: a good file is loaded, a bad one stops it with the line.
#[test]
fn the_binary_loads_rules_from_a_file_and_names_the_mistake_in_a_bad_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"service":"s3","probability":-1}]"#).expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--port", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--chaos")
        .arg(&bad)
        .env_remove("SOS_SANDBOX_CHAOS")
        .output()
        .expect("run the sandbox");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rule 1: probability must be between 0 and 1, got -1"), "{stderr}");
}

/// The lost answer of a CompleteMultipartUpload: the SDK retries, and S3 answers the retry as it
/// answered the first, and the object is there.
#[tokio::test]
async fn a_completion_retried_after_it_succeeded_gets_the_first_answer() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)));
    let key = "multipart/lost-answer";
    let upload = s3.create_multipart_upload().bucket(SEED_BUCKET).key(key).send().await.expect("create");
    let upload_id = upload.upload_id().expect("id");
    let part = vec![7u8; 5 * 1024 * 1024];
    let etag = s3
        .upload_part()
        .bucket(SEED_BUCKET)
        .key(key)
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .expect("part")
        .e_tag()
        .map(str::to_owned);
    post_faults(&sandbox, r#"[{"operation":"CompleteMultipartUpload","after":true,"count":1}]"#).await;
    let parts = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).set_e_tag(etag).build())
        .build();
    s3.complete_multipart_upload()
        .bucket(SEED_BUCKET)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(parts)
        .send()
        .await
        .expect("the retry gets the first answer");
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/faults", "").await.1, "[]", "the completion was retried");
    let got = s3.get_object().bucket(SEED_BUCKET).key(key).send().await.expect("object");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), part.as_slice());
}

/// A DeleteMessage whose answer was lost: the retry with the same receipt handle succeeds, as on
/// SQS, and the message is gone.
#[tokio::test]
async fn a_delete_message_retried_after_it_succeeded_succeeds() {
    let sandbox = TestSandbox::start().await;
    let retrying = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1));
    let sqs = aws_sdk_sqs::Client::new(&config(&sandbox, retrying));
    let url = sqs.create_queue().queue_name("deletes").send().await.expect("queue");
    let url = url.queue_url().expect("url");
    sqs.send_message().queue_url(url).message_body("once").send().await.expect("send");
    let received = sqs.receive_message().queue_url(url).wait_time_seconds(5).send().await.expect("receive");
    let handle = received.messages().first().and_then(|m| m.receipt_handle()).expect("a message");
    post_faults(&sandbox, r#"[{"operation":"DeleteMessage","after":true,"count":1}]"#).await;
    sqs.delete_message().queue_url(url).receipt_handle(handle).send().await.expect("the retry succeeds");
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/faults", "").await.1, "[]", "the delete was retried");
    assert_eq!(testkit::queue_counts(&sqs, url).await, (0, 0), "nothing waiting or in flight");
}

/// A CreateBucket whose answer was lost: in us-east-1, S3 answers the retry with success (the
/// caller owns the bucket), so the SDK's retry ends well; elsewhere it is BucketAlreadyOwnedByYou.
#[tokio::test]
async fn a_create_bucket_retried_after_it_succeeded_succeeds_as_in_us_east_1() {
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1)));
    post_faults(&sandbox, r#"[{"operation":"CreateBucket","after":true,"count":1}]"#).await;
    s3.create_bucket().bucket("made-once").send().await.expect("the retry succeeds");
    assert_eq!(admin(&sandbox, "GET", "/_sandbox/chaos/faults", "").await.1, "[]", "the create was retried");
    s3.head_bucket().bucket("made-once").send().await.expect("the bucket exists");
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let elsewhere = CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build();
    let err = s3.create_bucket().bucket("made-once").create_bucket_configuration(elsewhere).send().await;
    assert_eq!(err.expect_err("owned already").code(), Some("BucketAlreadyOwnedByYou"));
}

/// The operation a rule names is the one s3s routes the request to: one rule per operation the
/// examples call, each firing once on exactly its call (and on no other).
#[tokio::test]
async fn s3_rules_match_the_operation_s3s_routes_to() {
    let sandbox = TestSandbox::start().await;
    let s3 = s3(&sandbox, no_retries());
    let operations = [
        "ListBuckets",
        "ListObjectsV2",
        "GetObject",
        "HeadObject",
        "PutObject",
        "CopyObject",
        "CreateMultipartUpload",
        "DeleteObject",
        "HeadBucket",
        "GetBucketNotificationConfiguration",
    ];
    let rules: Vec<String> = operations
        .iter()
        .map(|op| format!(r#"{{"operation":"{op}","count":1,"error":{{"statusCode":503,"code":"SlowDown"}}}}"#))
        .collect();
    post_faults(&sandbox, &format!("[{}]", rules.join(","))).await;
    let key = sandbox::SEED_OBJECTS[0].0;
    let answers = [
        status(s3.list_buckets().send().await),
        status(s3.list_objects_v2().bucket(SEED_BUCKET).send().await),
        status(s3.get_object().bucket(SEED_BUCKET).key(key).send().await),
        status(s3.head_object().bucket(SEED_BUCKET).key(key).send().await),
        status(s3.put_object().bucket(SEED_BUCKET).key("named/put").body(ByteStream::from_static(b"x")).send().await),
        status(
            s3.copy_object()
                .bucket(SEED_BUCKET)
                .key("named/copy")
                .copy_source(format!("{SEED_BUCKET}/{key}"))
                .send()
                .await,
        ),
        status(s3.create_multipart_upload().bucket(SEED_BUCKET).key("named/multipart").send().await),
        status(s3.delete_object().bucket(SEED_BUCKET).key("named/none").send().await),
        status(s3.head_bucket().bucket(SEED_BUCKET).send().await),
        status(s3.get_bucket_notification_configuration().bucket(SEED_BUCKET).send().await),
    ];
    let named: Vec<(&str, u16)> = operations.iter().copied().zip(answers).collect();
    assert!(named.iter().all(|(_, status)| *status == 503), "each call met its own rule: {named:?}");
    assert!(sandbox.chaos().rules().is_empty(), "every rule fired once");
}

/// The HTTP status of an S3 call's answer (200 when it succeeded).
fn status<T, E>(answer: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>) -> u16 {
    answer.err().and_then(|err| err.raw_response().map(|r| r.status().as_u16())).unwrap_or(200)
}
