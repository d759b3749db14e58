//! The object store under the S3 service: a data directory written by the earlier sandbox
//! (s3s-fs: a folder per bucket, a file per key, JSON sidecars) is imported at first start;
//! files no object names are swept at start; events not yet delivered survive a restart.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use s3s::S3 as _;
use s3s::dto::{CreateBucketInput, CreateMultipartUploadInput, PutObjectInput, StreamingBlob, UploadPartInput};
use sandbox::{SEED_BUCKET, SandboxOptions};
use testkit::{SandboxClients as _, start_sandbox};

fn request<T>(input: T) -> s3s::S3Request<T> {
    s3s::S3Request {
        input,
        method: http::Method::PUT,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: None,
        region: None,
        service: None,
        trailing_headers: None,
    }
}

fn body(bytes: &'static [u8]) -> Option<StreamingBlob> {
    Some(StreamingBlob::from(s3s::Body::from(bytes::Bytes::from_static(bytes))))
}

/// Writes, through s3s-fs itself, what the earlier sandbox kept: the seeded bucket with an object
/// under a folder and one with metadata, a second bucket, an upload in progress.
async fn write_earlier_layout(dir: &Path) {
    let fs = s3s_fs::FileSystem::new(dir).expect("s3s-fs");
    for bucket in [SEED_BUCKET, "second-bucket"] {
        let input = CreateBucketInput::builder().bucket(bucket.to_owned()).build().expect("input");
        fs.create_bucket(request(input)).await.expect("create bucket");
    }
    let objects: [(&str, &str, &[u8]); 3] = [
        (SEED_BUCKET, "Optimization_result.geojson", b"{\"type\":\"FeatureCollection\",\"features\":[]}"),
        (SEED_BUCKET, "Missouri Open Loop sample output/README.txt", b"kept since the last version\n"),
        ("second-bucket", "deep/er/key with space.bin", b"\x00\x01\x02"),
    ];
    for (bucket, key, bytes) in objects {
        let mut input = PutObjectInput::builder();
        input.set_bucket(bucket.to_owned());
        input.set_key(key.to_owned());
        input.set_content_length(i64::try_from(bytes.len()).ok());
        input.set_content_type(Some("text/plain".to_owned()));
        input.set_metadata(Some([("colour".to_owned(), "blue".to_owned())].into_iter().collect()));
        input.set_body(Some(StreamingBlob::from(s3s::Body::from(bytes::Bytes::copy_from_slice(bytes)))));
        fs.put_object(request(input.build().expect("input"))).await.expect("put");
    }
    let input =
        CreateMultipartUploadInput::builder().bucket(SEED_BUCKET.to_owned()).key("unfinished".to_owned()).build();
    let upload = fs.create_multipart_upload(request(input.expect("input"))).await.expect("create upload");
    let mut part = UploadPartInput::builder();
    part.set_bucket(SEED_BUCKET.to_owned());
    part.set_key("unfinished".to_owned());
    part.set_upload_id(upload.output.upload_id.expect("id"));
    part.set_part_number(1);
    part.set_body(body(b"part one"));
    fs.upload_part(request(part.build().expect("input"))).await.expect("part");
    // The earlier sandbox's marker that the sample objects were seeded.
    std::fs::write(dir.join(".sandbox.seeded"), "seeded\n").expect("marker");
}

#[tokio::test]
async fn a_data_directory_of_the_earlier_layout_is_imported_at_first_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_earlier_layout(dir.path()).await;
    let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    let client = sandbox.s3();

    let buckets = client.list_buckets().send().await.expect("buckets");
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["second-bucket", SEED_BUCKET]);
    let listed = client.list_objects_v2().bucket(SEED_BUCKET).send().await.expect("list");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["Missouri Open Loop sample output/README.txt", "Optimization_result.geojson"]);
    let got = client.get_object().bucket("second-bucket").key("deep/er/key with space.bin").send().await;
    let got = got.expect("imported object");
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.metadata().and_then(|m| m.get("colour")).map(String::as_str), Some("blue"));
    let md5 = {
        use md5::Digest as _;
        format!("\"{}\"", hex::encode(md5::Md5::digest(b"\x00\x01\x02")))
    };
    assert_eq!(got.e_tag(), Some(md5.as_str()), "the ETag s3s-fs stored");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"\x00\x01\x02");
    let readme = client
        .get_object()
        .bucket(SEED_BUCKET)
        .key("Missouri Open Loop sample output/README.txt")
        .send()
        .await
        .expect("kept object");
    assert_eq!(readme.body.collect().await.expect("body").into_bytes().as_ref(), b"kept since the last version\n");

    // The earlier layout is gone: no bucket folders, no sidecars, no parts.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("data dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with(".sandbox") && name != ".s3")
        .collect();
    assert!(left.is_empty(), "left of the earlier layout: {left:?}");
    sandbox.shutdown().await;

    // A second start imports nothing again and keeps everything.
    let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    let listed = sandbox.s3().list_objects_v2().bucket("second-bucket").send().await.expect("list");
    assert_eq!(listed.key_count(), Some(1));
}

#[tokio::test]
async fn files_that_no_object_names_are_removed_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    let big = vec![7u8; 300 * 1024];
    sandbox
        .s3()
        .put_object()
        .bucket(SEED_BUCKET)
        .key("big")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .expect("put");
    sandbox.shutdown().await;
    // What a crash between writing a file and committing its row leaves.
    let orphan = dir.path().join(".s3/blobs/ab/ab0123456789abcdef0123456789abcd");
    std::fs::write(&orphan, b"half an object").expect("orphan");
    let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    assert!(!orphan.exists(), "the orphan was swept");
    let got = sandbox.s3().get_object().bucket(SEED_BUCKET).key("big").send().await.expect("the object stays");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), big.as_slice());
}

#[tokio::test]
async fn an_event_not_yet_delivered_goes_out_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every SNS Publish fails: the notifier cannot announce the upload.
    let failing = sandbox::chaos::parse_rules(br#"[{"service":"sns","operation":"Publish"}]"#).expect("rules");
    let options = SandboxOptions { chaos: failing, ..SandboxOptions::ephemeral(dir.path()) };
    let sandbox = start_sandbox(options).await;
    let put = sandbox.s3().put_object().bucket(SEED_BUCKET).key("waiting.geojson").body(ByteStream::from_static(b"{}"));
    put.send().await.expect("the write itself succeeds");
    sandbox.shutdown().await;

    let sandbox = start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    let sqs = sandbox.sqs();
    let url = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("queue");
    let url = url.queue_url().expect("url");
    let mut keys = Vec::new();
    for _ in 0..4 {
        let out = sqs.receive_message().queue_url(url).wait_time_seconds(5).send().await.expect("receive");
        for message in out.messages() {
            let envelope: serde_json::Value = serde_json::from_str(message.body().expect("body")).expect("envelope");
            let announcement: serde_json::Value =
                serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("announcement");
            keys.push(announcement["key"].as_str().expect("key").to_owned());
        }
        if !keys.is_empty() {
            break;
        }
    }
    assert_eq!(keys, ["waiting.geojson"], "the upload is announced once the sandbox is back");
}
