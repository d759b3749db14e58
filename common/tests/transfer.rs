//! The transfer helpers against an embedded sandbox: multipart uploads, streaming downloads,
//! and what a failed download leaves behind.

use common::transfer::{TransferError, TransferOptions, download_to_file, upload_file};
use sandbox::SEED_BUCKET;
use testkit::{SandboxClients as _, TestSandbox};

const MIB: u64 = 1024 * 1024;

fn small_parts() -> TransferOptions {
    TransferOptions {
        multipart_threshold: 5 * MIB,
        part_size: 5 * MIB,
        concurrency: 3,
        progress: false,
        progress_group: None,
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[tokio::test]
async fn a_large_file_goes_up_in_parallel_parts_and_comes_back_equal() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let work = tempfile::tempdir().expect("temp dir");
    let source = work.path().join("big input.bin");
    let bytes = pattern((12 * MIB + 12_345) as usize);
    std::fs::write(&source, &bytes).expect("write source");

    let key = "transfer/big input.bin";
    let up = upload_file(&s3, SEED_BUCKET, key, &source, &small_parts()).await.expect("upload");
    assert_eq!(up.parts, 3, "12 MiB in 5 MiB parts");
    assert_eq!(up.bytes, bytes.len() as u64);

    let target = work.path().join("nested/dir/big output.bin");
    let down = download_to_file(&s3, SEED_BUCKET, key, &target, &small_parts()).await.expect("download");
    assert_eq!(down.bytes, bytes.len() as u64);
    assert_eq!(std::fs::read(&target).expect("read target"), bytes);
    let leftovers: Vec<_> = std::fs::read_dir(target.parent().expect("parent"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "no temp file remains");
}

#[tokio::test]
async fn a_small_file_goes_up_in_one_put_with_a_content_type() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let work = tempfile::tempdir().expect("temp dir");
    let source = work.path().join("tiny.geojson");
    std::fs::write(&source, br#"{"type":"FeatureCollection","features":[]}"#).expect("write");

    let up = upload_file(&s3, SEED_BUCKET, "tiny.geojson", &source, &small_parts()).await.expect("upload");
    assert_eq!(up.parts, 0);
    let head = s3.head_object().bucket(SEED_BUCKET).key("tiny.geojson").send().await.expect("head");
    assert_eq!(head.content_length(), Some(42));
    assert_eq!(head.content_type(), Some("application/geo+json"));
}

#[tokio::test]
async fn a_failed_download_leaves_the_existing_file_and_no_temp_file() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let work = tempfile::tempdir().expect("temp dir");
    let target = work.path().join("keep.txt");
    std::fs::write(&target, b"old contents").expect("write");

    let err =
        download_to_file(&s3, SEED_BUCKET, "no/such/key", &target, &small_parts()).await.expect_err("missing object");
    assert!(matches!(err, TransferError::S3 { .. }));
    assert_eq!(err.code(), Some("NoSuchKey"));
    assert_eq!(std::fs::read(&target).expect("still there"), b"old contents");
    let entries: Vec<_> = std::fs::read_dir(work.path()).expect("list").filter_map(Result::ok).collect();
    assert_eq!(entries.len(), 1, "only the original file");
}

#[tokio::test]
async fn an_upload_of_a_missing_file_says_which_file() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let err = upload_file(&s3, SEED_BUCKET, "k", std::path::Path::new("/no/such/file.bin"), &small_parts())
        .await
        .expect_err("missing file");
    assert!(err.to_string().contains("/no/such/file.bin"), "{err}");
}

#[tokio::test]
async fn errors_are_described_in_one_line_with_the_aws_code() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let err = s3.list_objects_v2().bucket("no-such-bucket").send().await.expect_err("no bucket");
    let line = common::error::describe(&err);
    assert!(line.contains("NoSuchBucket") && line.contains("does not exist"), "{line}");
    assert!(!line.contains('\n'));

    let refused = common::error::describe(
        &aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sandbox.config())
                .endpoint_url("http://127.0.0.1:1")
                .force_path_style(true)
                .build(),
        )
        .list_buckets()
        .send()
        .await
        .expect_err("nothing listens on port 1"),
    );
    assert!(refused.contains("connection refused"), "{refused}");
}

#[tokio::test]
async fn an_empty_object_downloads_to_an_empty_file() {
    let sandbox = TestSandbox::start().await;
    let s3 = sandbox.s3();
    let work = tempfile::tempdir().expect("temp dir");
    let source = work.path().join("empty.txt");
    std::fs::write(&source, b"").expect("write");
    upload_file(&s3, SEED_BUCKET, "empty.txt", &source, &small_parts()).await.expect("upload");
    let target = work.path().join("empty copy.txt");
    let down = download_to_file(&s3, SEED_BUCKET, "empty.txt", &target, &small_parts()).await.expect("download");
    assert_eq!(down.bytes, 0);
    assert_eq!(std::fs::metadata(&target).expect("exists").len(), 0);
}
