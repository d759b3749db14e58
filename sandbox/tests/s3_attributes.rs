//! GetObjectAttributes as the S3 API reference documents it (ETag, Checksum, ObjectParts with
//! `max-parts` and `part-number-marker`, StorageClass, ObjectSize, by `versionId` too), checked
//! through the AWS SDK for Rust against the sandbox.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, StorageClass,
    VersioningConfiguration,
};
use testkit::TestSandbox;

const BUCKET: &str = "attributes";
const MIB: usize = 1024 * 1024;

async fn start() -> (TestSandbox, Client) {
    TestSandbox::with_empty_bucket(BUCKET).await
}

const ALL: [ObjectAttributes; 5] = [
    ObjectAttributes::Etag,
    ObjectAttributes::Checksum,
    ObjectAttributes::ObjectParts,
    ObjectAttributes::StorageClass,
    ObjectAttributes::ObjectSize,
];

#[tokio::test]
async fn a_single_part_object_has_its_etag_size_class_and_checksum_and_no_parts() {
    let (_sandbox, s3) = start().await;
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_static(b"snow water equivalent"))
        .send()
        .await
        .expect("put");
    let out = s3
        .get_object_attributes()
        .bucket(BUCKET)
        .key("k")
        .set_object_attributes(Some(ALL.to_vec()))
        .send()
        .await
        .expect("attributes");
    assert_eq!(out.e_tag().map(|e| e.trim_matches('"')), put.e_tag().map(|e| e.trim_matches('"')));
    assert_eq!(out.object_size(), Some(21));
    assert_eq!(out.storage_class(), Some(&StorageClass::Standard));
    assert_eq!(out.checksum().and_then(|c| c.checksum_crc32()), put.checksum_crc32());
    assert!(out.object_parts().is_none(), "a single-part object has no parts");
    // Only the attributes asked for.
    let out = s3
        .get_object_attributes()
        .bucket(BUCKET)
        .key("k")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("attributes");
    assert_eq!((out.object_size(), out.e_tag(), out.storage_class()), (Some(21), None, None));
    let err = s3
        .get_object_attributes()
        .bucket(BUCKET)
        .key("missing")
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .expect_err("no such key");
    assert_eq!(err.code(), Some("NoSuchKey"));
}

#[tokio::test]
async fn a_multipart_objects_parts_come_a_page_at_a_time() {
    let (_sandbox, s3) = start().await;
    let upload = s3.create_multipart_upload().bucket(BUCKET).key("mp").send().await.expect("create");
    let upload_id = upload.upload_id().expect("id");
    let mut done = CompletedMultipartUpload::builder();
    for (number, size) in [(1, 5 * MIB), (2, 5 * MIB), (3, 7)] {
        let part = s3
            .upload_part()
            .bucket(BUCKET)
            .key("mp")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(vec![b'x'; size]))
            .send()
            .await
            .expect("part");
        done = done.parts(CompletedPart::builder().part_number(number).e_tag(part.e_tag().expect("etag")).build());
    }
    s3.complete_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(upload_id)
        .multipart_upload(done.build())
        .send()
        .await
        .expect("complete");
    let page = |marker: Option<&str>| {
        s3.get_object_attributes()
            .bucket(BUCKET)
            .key("mp")
            .object_attributes(ObjectAttributes::ObjectParts)
            .max_parts(2)
            .set_part_number_marker(marker.map(str::to_owned))
            .send()
    };
    let first = page(None).await.expect("first page");
    let parts = first.object_parts().expect("parts");
    assert_eq!(parts.total_parts_count(), Some(3));
    assert_eq!(parts.is_truncated(), Some(true));
    let listed: Vec<_> = parts.parts().iter().map(|p| (p.part_number(), p.size())).collect();
    assert_eq!(listed, [(Some(1), Some(5 * MIB as i64)), (Some(2), Some(5 * MIB as i64))]);
    let next = parts.next_part_number_marker().expect("next marker");
    let second = page(Some(next)).await.expect("second page");
    let parts = second.object_parts().expect("parts");
    assert_eq!(parts.is_truncated(), Some(false));
    let listed: Vec<_> = parts.parts().iter().map(|p| (p.part_number(), p.size())).collect();
    assert_eq!(listed, [(Some(3), Some(7))]);
}

#[tokio::test]
async fn attributes_of_an_earlier_version() {
    let (_sandbox, s3) = start().await;
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(BUCKET).versioning_configuration(enabled).send().await.expect("versioning");
    let first = s3.put_object().bucket(BUCKET).key("k").body(ByteStream::from_static(b"one")).send().await;
    let first = first.expect("put").version_id().expect("version").to_owned();
    s3.put_object().bucket(BUCKET).key("k").body(ByteStream::from_static(b"second")).send().await.expect("put");
    let out = s3
        .get_object_attributes()
        .bucket(BUCKET)
        .key("k")
        .version_id(&first)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .expect("attributes");
    assert_eq!(out.object_size(), Some(3));
    assert_eq!(out.version_id(), Some(first.as_str()));
}
