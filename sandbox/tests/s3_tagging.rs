//! S3 tags as AWS documents them (PutObjectTagging, GetObjectTagging, DeleteObjectTagging,
//! `x-amz-tagging` on PutObject, CreateMultipartUpload and CopyObject with
//! `x-amz-tagging-directive`, `x-amz-tagging-count` on GetObject, Put/Get/DeleteBucketTagging, and
//! the user guide's limits), checked through the AWS SDK for Rust against the sandbox.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Tag, Tagging, TaggingDirective,
    VersioningConfiguration,
};
use testkit::TestSandbox;

const BUCKET: &str = "tags";

async fn start() -> (TestSandbox, Client) {
    TestSandbox::with_empty_bucket(BUCKET).await
}

fn status_and_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> (u16, String) {
    (err.raw_response().map_or(0, |r| r.status().as_u16()), err.code().unwrap_or("(none)").to_owned())
}

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let tags = pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag"));
    Tagging::builder().set_tag_set(Some(tags.collect())).build().expect("tagging")
}

async fn object_tags(s3: &Client, key: &str, version: Option<&str>) -> Vec<(String, String)> {
    let out = s3.get_object_tagging().bucket(BUCKET).key(key).set_version_id(version.map(str::to_owned)).send().await;
    let out = out.unwrap_or_else(|err| panic!("get tags of {key}: {err:?}"));
    out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

/// A tag set and the (status, code) S3 refuses it with.
type Refusal<'a> = (&'a [(&'a str, &'a str)], (u16, &'a str));

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn object_tags_are_set_read_counted_and_removed() {
    let (_sandbox, s3) = start().await;
    s3.put_object()
        .bucket(BUCKET)
        .key("k")
        .tagging("project=sos&site=Missouri%20Open%20Loop")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put with x-amz-tagging");
    assert_eq!(object_tags(&s3, "k", None).await, pairs(&[("project", "sos"), ("site", "Missouri Open Loop")]));
    let got = s3.get_object().bucket(BUCKET).key("k").send().await.expect("get");
    assert_eq!(got.tag_count(), Some(2), "x-amz-tagging-count");
    s3.put_object_tagging().bucket(BUCKET).key("k").tagging(tagging(&[("run", "42")])).send().await.expect("put tags");
    assert_eq!(object_tags(&s3, "k", None).await, pairs(&[("run", "42")]), "PutObjectTagging replaces the set");
    s3.delete_object_tagging().bucket(BUCKET).key("k").send().await.expect("delete tags");
    assert!(object_tags(&s3, "k", None).await.is_empty());
    let got = s3.get_object().bucket(BUCKET).key("k").send().await.expect("get");
    assert_eq!(got.tag_count(), None, "no tags, no count");
    let err = s3.get_object_tagging().bucket(BUCKET).key("missing").send().await.expect_err("no key");
    assert_eq!(status_and_code(&err), (404, "NoSuchKey".to_owned()));
}

#[tokio::test]
async fn s3s_tag_limits_are_refused_with_its_codes() {
    let (_sandbox, s3) = start().await;
    s3.put_object().bucket(BUCKET).key("k").body(ByteStream::from_static(b"x")).send().await.expect("put");
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let eleven: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let cases: [Refusal<'_>; 4] = [
        (&eleven, (400, "BadRequest")),
        (&[(long_key.as_str(), "v")], (400, "InvalidTag")),
        (&[("k", long_value.as_str())], (400, "InvalidTag")),
        (&[("same", "1"), ("same", "2")], (400, "InvalidTag")),
    ];
    for (tags, expected) in cases {
        let err = s3.put_object_tagging().bucket(BUCKET).key("k").tagging(tagging(tags)).send().await;
        let err = err.expect_err("refused");
        assert_eq!(status_and_code(&err), (expected.0, expected.1.to_owned()), "{tags:?}");
    }
    // The limits are 128 and 256 characters, not bytes: these fit.
    let (key, value) = ("é".repeat(128), "ü".repeat(256));
    s3.put_object_tagging().bucket(BUCKET).key("k").tagging(tagging(&[(&key, &value)])).send().await.expect("fits");
    // …and a header with too many tags refuses the PutObject.
    let header: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let err = s3
        .put_object()
        .bucket(BUCKET)
        .key("too-many")
        .tagging(header.join("&"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("11 tags");
    assert_eq!(status_and_code(&err), (400, "BadRequest".to_owned()));
    let err = s3.head_object().bucket(BUCKET).key("too-many").send().await.expect_err("not stored");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
}

#[tokio::test]
async fn copies_keep_or_replace_tags_and_uploads_take_them_from_creation() {
    let (_sandbox, s3) = start().await;
    let put = s3.put_object().bucket(BUCKET).key("src").tagging("a=1").body(ByteStream::from_static(b"x"));
    put.send().await.expect("put");
    s3.copy_object().bucket(BUCKET).key("kept").copy_source(format!("{BUCKET}/src")).send().await.expect("copy");
    assert_eq!(object_tags(&s3, "kept", None).await, pairs(&[("a", "1")]), "COPY is the default directive");
    s3.copy_object()
        .bucket(BUCKET)
        .key("replaced")
        .copy_source(format!("{BUCKET}/src"))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("b=2")
        .send()
        .await
        .expect("copy");
    assert_eq!(object_tags(&s3, "replaced", None).await, pairs(&[("b", "2")]));

    let upload = s3.create_multipart_upload().bucket(BUCKET).key("mp").tagging("c=3").send().await.expect("create");
    let upload_id = upload.upload_id().expect("id");
    let part = s3
        .upload_part()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    let done = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().expect("etag")).build())
        .build();
    s3.complete_multipart_upload()
        .bucket(BUCKET)
        .key("mp")
        .upload_id(upload_id)
        .multipart_upload(done)
        .send()
        .await
        .expect("complete");
    assert_eq!(object_tags(&s3, "mp", None).await, pairs(&[("c", "3")]));
}

#[tokio::test]
async fn each_version_has_its_own_tags() {
    let (_sandbox, s3) = start().await;
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(BUCKET).versioning_configuration(enabled).send().await.expect("versioning");
    let first = s3.put_object().bucket(BUCKET).key("k").tagging("run=1").body(ByteStream::from_static(b"1"));
    let first = first.send().await.expect("put").version_id().expect("version").to_owned();
    let second = s3.put_object().bucket(BUCKET).key("k").tagging("run=2").body(ByteStream::from_static(b"2"));
    let second = second.send().await.expect("put").version_id().expect("version").to_owned();
    let out = s3
        .put_object_tagging()
        .bucket(BUCKET)
        .key("k")
        .version_id(&first)
        .tagging(tagging(&[("run", "one")]))
        .send()
        .await
        .expect("tag the first version");
    assert_eq!(out.version_id(), Some(first.as_str()));
    assert_eq!(object_tags(&s3, "k", Some(&first)).await, pairs(&[("run", "one")]));
    assert_eq!(object_tags(&s3, "k", Some(&second)).await, pairs(&[("run", "2")]));
    assert_eq!(object_tags(&s3, "k", None).await, pairs(&[("run", "2")]), "the current version's");
}

#[tokio::test]
async fn bucket_tags_are_set_read_and_removed() {
    let (_sandbox, s3) = start().await;
    let err = s3.get_bucket_tagging().bucket(BUCKET).send().await.expect_err("none yet");
    assert_eq!(status_and_code(&err), (404, "NoSuchTagSet".to_owned()));
    s3.put_bucket_tagging()
        .bucket(BUCKET)
        .tagging(tagging(&[("team", "sos"), ("cost-center", "snow")]))
        .send()
        .await
        .expect("put");
    let got = s3.get_bucket_tagging().bucket(BUCKET).send().await.expect("get");
    let got: Vec<(String, String)> = got.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    assert_eq!(got, pairs(&[("team", "sos"), ("cost-center", "snow")]));
    s3.delete_bucket_tagging().bucket(BUCKET).send().await.expect("delete");
    let err = s3.get_bucket_tagging().bucket(BUCKET).send().await.expect_err("gone");
    assert_eq!(status_and_code(&err).1, "NoSuchTagSet");
    let err = s3.get_bucket_tagging().bucket("no-such-bucket").send().await.expect_err("no bucket");
    assert_eq!(status_and_code(&err), (404, "NoSuchBucket".to_owned()));
}
