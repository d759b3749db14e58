//! The sandbox's S3 service driven through the AWS SDK for Rust, as the examples drive it.

use aws_credential_types::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use sandbox::{SEED_BUCKET, SEED_OBJECTS, Sandbox, SandboxOptions};
use testkit::{SandboxClients as _, TestSandbox, start_sandbox};

async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = client.get_object().bucket(bucket).key(key).send().await.expect("object exists");
    object.body.collect().await.expect("body reads").into_bytes().to_vec()
}

#[tokio::test]
async fn seeds_the_sample_bucket_with_the_repository_files() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();

    let buckets = s3.list_buckets().send().await.expect("list buckets");
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, [SEED_BUCKET]);

    for (key, bytes) in SEED_OBJECTS {
        assert_eq!(get_bytes(&s3, SEED_BUCKET, key).await, *bytes, "{key}");
    }
    let local = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/Optimization_result.geojson"))
        .expect("sample file in data/");
    assert_eq!(get_bytes(&s3, SEED_BUCKET, "Optimization_result.geojson").await, local);
}

#[tokio::test]
async fn a_wrong_secret_gets_signature_does_not_match_with_403() {
    let sandbox = TestSandbox::start().await;
    let s3 = testkit::s3_client(&sandbox.config_as(Credentials::new(
        sandbox::ACCESS_KEY_ID,
        "not-the-secret",
        None,
        None,
        "test",
    )));

    let err = s3.list_objects_v2().bucket(SEED_BUCKET).send().await.expect_err("a wrong secret is refused");
    let status = err.raw_response().map(|r| r.status().as_u16());
    let err = aws_sdk_s3::Error::from(err);
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    assert_eq!(status, Some(403));
}

#[tokio::test]
async fn missing_bucket_and_key_have_their_aws_error_codes() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();

    let err = s3.list_objects_v2().bucket("no-such-bucket").send().await.expect_err("no bucket");
    assert!(err.as_service_error().is_some_and(|e| e.is_no_such_bucket()), "{err:?}");

    let err = s3.get_object().bucket(SEED_BUCKET).key("no/such/key").send().await.expect_err("no key");
    assert!(err.as_service_error().is_some_and(|e| e.is_no_such_key()), "{err:?}");
    assert_eq!(err.into_service_error().meta().message(), Some("The specified key does not exist."));
}

/// The code and message of an S3 error.
fn code_and_message<E: ProvideErrorMetadata>(err: E) -> (String, String) {
    (err.code().unwrap_or("(none)").to_owned(), err.message().unwrap_or_default().to_owned())
}

/// Sends an S3 request: nothing on success, else the error's code and message.
macro_rules! outcome {
    ($request:expr) => {
        $request.send().await.map(drop).map_err(|e| code_and_message(e.into_service_error()))
    };
}

#[tokio::test]
async fn a_missing_bucket_is_no_such_bucket_for_every_operation_and_is_never_created() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let missing = "no-such-bucket";
    let mut answers = vec![
        ("PutObject", outcome!(s3.put_object().bucket(missing).key("k").body(ByteStream::from_static(b"x")))),
        ("GetObject", outcome!(s3.get_object().bucket(missing).key("k"))),
        ("ListObjects", outcome!(s3.list_objects().bucket(missing))),
        ("ListObjectsV2", outcome!(s3.list_objects_v2().bucket(missing))),
        ("CreateMultipartUpload", outcome!(s3.create_multipart_upload().bucket(missing).key("k"))),
        (
            "UploadPart",
            outcome!(
                s3.upload_part()
                    .bucket(missing)
                    .key("k")
                    .upload_id("u")
                    .part_number(1)
                    .body(ByteStream::from_static(b"x"))
            ),
        ),
        (
            "CopyObject to",
            outcome!(
                s3.copy_object()
                    .bucket(missing)
                    .key("k")
                    .copy_source(format!("{SEED_BUCKET}/Optimization_result.geojson"))
            ),
        ),
        (
            "CopyObject from",
            outcome!(s3.copy_object().bucket(SEED_BUCKET).key("copy").copy_source(format!("{missing}/k"))),
        ),
    ];
    for (operation, answer) in answers.drain(..) {
        let (code, message) = answer.expect_err(operation);
        assert_eq!(code, "NoSuchBucket", "{operation}");
        assert!(message.contains("bucket does not exist"), "{operation}: {message}");
    }
    // HeadObject has no body, so only the status says it: 404.
    let err = s3.head_object().bucket(missing).key("k").send().await.expect_err("HeadObject");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .expect("list")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, [SEED_BUCKET], "no bucket was created on the way");
}

#[tokio::test]
async fn deleting_a_bucket_that_holds_objects_is_bucket_not_empty_and_deletes_nothing() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let err = s3.delete_bucket().bucket(SEED_BUCKET).send().await.expect_err("not empty");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(409));
    let (code, message) = code_and_message(err.into_service_error());
    assert_eq!(code, "BucketNotEmpty");
    assert!(message.contains("not empty"), "{message}");
    for (key, bytes) in SEED_OBJECTS {
        assert_eq!(get_bytes(&s3, SEED_BUCKET, key).await, *bytes, "{key} is still there");
    }
    // An empty bucket goes.
    s3.create_bucket().bucket("empty-one").send().await.expect("create");
    s3.delete_bucket().bucket("empty-one").send().await.expect("an empty bucket is deleted");
    let err = s3.head_bucket().bucket("empty-one").send().await.expect_err("gone");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
}

#[tokio::test]
async fn an_invalid_bucket_name_is_refused_with_the_naming_rule() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    for name in ["My_Bucket", "ab", "192.168.5.4"] {
        let err = s3.create_bucket().bucket(name).send().await.expect_err(name);
        let (code, message) = code_and_message(err.into_service_error());
        assert_eq!(code, "InvalidBucketName", "{name}");
        assert!(message.contains("3 to 63 characters") && message.contains(name), "{name}: {message}");
    }
    let err = s3.put_object().bucket("My_Bucket").key("k").body(ByteStream::from_static(b"x")).send().await;
    let (code, message) = code_and_message(err.expect_err("invalid").into_service_error());
    assert_eq!(code, "InvalidBucketName");
    assert!(message.contains("lower-case"), "{message}");
}

#[tokio::test]
async fn seeded_objects_have_a_content_type_from_their_extension() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    for (key, expected) in [
        ("Optimization_result.geojson", "application/geo+json"),
        ("Missouri Open Loop sample output/basin_mean_swe.csv", "text/csv"),
        ("Missouri Open Loop sample output/README.txt", "text/plain"),
    ] {
        let head = s3.head_object().bucket(SEED_BUCKET).key(key).send().await.expect("head");
        assert_eq!(head.content_type(), Some(expected), "{key}");
    }
}

#[tokio::test]
async fn multipart_upload_of_three_parts_reads_back_equal() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let key = "multipart/three parts.bin";
    // Parts other than the last must be at least 5 MiB.
    let parts: Vec<Vec<u8>> =
        (0..3u8).map(|i| (0..5 * 1024 * 1024 + usize::from(i) * 7).map(|n| (n % 251) as u8 ^ i).collect()).collect();

    let upload = s3.create_multipart_upload().bucket(SEED_BUCKET).key(key).send().await.expect("create");
    let upload_id = upload.upload_id().expect("upload id");
    let mut completed = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = i32::try_from(i + 1).expect("small");
        let out = s3
            .upload_part()
            .bucket(SEED_BUCKET)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .expect("upload part");
        completed.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
    }
    s3.complete_multipart_upload()
        .bucket(SEED_BUCKET)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .expect("complete");

    assert_eq!(get_bytes(&s3, SEED_BUCKET, key).await, parts.concat());
}

#[tokio::test]
async fn listing_more_than_1000_keys_paginates() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    s3.create_bucket().bucket("many-keys").send().await.expect("create bucket");
    let count = 1_005;
    let puts = (0..count).map(|i| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket("many-keys")
                .key(format!("k/{i:05}"))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .map(|_| ())
        }
    });
    use futures::StreamExt as _;
    let results: Vec<_> = futures::stream::iter(puts).buffer_unordered(16).collect().await;
    assert!(results.iter().all(Result::is_ok), "every put succeeds");

    let mut pages = s3.list_objects_v2().bucket("many-keys").into_paginator().send();
    let (mut page_count, mut keys) = (0, Vec::new());
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        page_count += 1;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    assert_eq!(page_count, 2, "1,005 keys need two pages of at most 1,000");
    let expected: Vec<String> = (0..count).map(|i| format!("k/{i:05}")).collect();
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn data_survives_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = "restart/kept.txt";
    {
        let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
        sandbox
            .s3()
            .put_object()
            .bucket(SEED_BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"still here"))
            .send()
            .await
            .expect("put");
        sandbox
            .s3()
            .delete_object()
            .bucket(SEED_BUCKET)
            .key("Optimization_result.geojson")
            .send()
            .await
            .expect("delete");
        sandbox.shutdown().await;
    }
    let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    let s3 = sandbox.s3();
    assert_eq!(get_bytes(&s3, SEED_BUCKET, key).await, b"still here");
    // The seed runs once: a deleted sample object stays deleted.
    let gone = s3.head_object().bucket(SEED_BUCKET).key("Optimization_result.geojson").send().await;
    let gone = gone.expect_err("a deleted seed object is not seeded again");
    assert!(gone.as_service_error().is_some_and(|e| e.is_not_found()), "{gone:?}");
}

#[tokio::test]
async fn reset_starts_again_from_the_seed() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
        let s3 = sandbox.s3();
        s3.put_object().bucket(SEED_BUCKET).key("extra").body(ByteStream::from_static(b"1")).send().await.expect("put");
        sandbox.shutdown().await;
    }
    let options = SandboxOptions { reset: true, ..SandboxOptions::ephemeral(dir.path()) };
    let sandbox = start_sandbox(options).await;
    let s3 = sandbox.s3();
    let listed = s3.list_objects_v2().bucket(SEED_BUCKET).send().await.expect("list");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let seeded: Vec<_> = SEED_OBJECTS.iter().map(|(k, _)| *k).collect();
    let mut sorted = seeded.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused_and_told_the_first_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    match Sandbox::start(SandboxOptions::ephemeral(dir.path())).await {
        Err(sandbox::Error::DataDirInUse { url, .. }) => assert_eq!(url.as_deref(), Some(first.url())),
        other => panic!("expected DataDirInUse, got {other:?}"),
    }
    assert_eq!(sandbox::serving_url(first.data_dir()).as_deref(), Some(first.url()));
    let data_dir = first.data_dir().to_path_buf();
    first.shutdown().await;
    assert_eq!(sandbox::serving_url(&data_dir), None, "the lock goes with the server");
    let second = Sandbox::start(SandboxOptions::ephemeral(dir.path())).await;
    assert!(second.is_ok(), "the directory is free again");
}

#[tokio::test]
async fn health_check_identifies_the_sandbox() {
    let sandbox = TestSandbox::start().await;
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr()).await.expect("connect");
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).expect("body");
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(json["service"], sandbox::HEALTH_SERVICE_NAME);
}

#[tokio::test]
async fn ranged_and_whole_reads_return_exactly_the_bytes_asked_for() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    // Larger than one read of the sandbox (1 MiB), and not a multiple of it.
    let bytes: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i: usize| (i * 7 % 253) as u8).collect();
    s3.put_object().bucket(SEED_BUCKET).key("ranges.bin").body(bytes.clone().into()).send().await.expect("put");
    assert_eq!(get_bytes(&s3, SEED_BUCKET, "ranges.bin").await, bytes);
    for (range, expected) in [
        ("bytes=0-0", &bytes[..1]),
        ("bytes=100-199", &bytes[100..200]),
        ("bytes=1048570-2097160", &bytes[1_048_570..=2_097_160]),
        ("bytes=3145700-", &bytes[3_145_700..]),
        ("bytes=-10", &bytes[bytes.len() - 10..]),
    ] {
        let got = s3.get_object().bucket(SEED_BUCKET).key("ranges.bin").range(range).send().await.expect(range);
        let body = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(body.as_ref(), expected, "{range}");
    }
}
