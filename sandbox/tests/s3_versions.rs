//! S3 versioning as AWS documents it (the API reference's PutBucketVersioning,
//! GetBucketVersioning, GetObject, HeadObject, DeleteObject, DeleteObjects, ListObjectVersions,
//! CopyObject and DeleteBucket, and the user guide's "Working with delete markers" and "Working
//! with objects in a versioning-suspended bucket"), checked through the AWS SDK for Rust against
//! the sandbox. Events with version ids are checked here too.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, Event, MfaDelete, MfaDeleteStatus,
    NotificationConfiguration, ObjectIdentifier, QueueConfiguration, VersioningConfiguration,
};
use sandbox::SandboxOptions;
use serde_json::Value;
use testkit::{SandboxClients as _, TestSandbox};

const BUCKET: &str = "versions";

/// An unseeded sandbox with an empty bucket, and an S3 client that does not retry.
async fn start() -> (TestSandbox, Client) {
    TestSandbox::with_empty_bucket(BUCKET).await
}

async fn set_versioning(s3: &Client, status: BucketVersioningStatus) {
    let config = VersioningConfiguration::builder().status(status).build();
    s3.put_bucket_versioning().bucket(BUCKET).versioning_configuration(config).send().await.expect("versioning");
}

/// Puts `body` at `key`; returns the version id S3 answered with.
async fn put(s3: &Client, key: &str, body: &str) -> Option<String> {
    let out = s3.put_object().bucket(BUCKET).key(key).body(ByteStream::from(body.as_bytes().to_vec())).send().await;
    out.unwrap_or_else(|err| panic!("put {key:?}: {err:?}")).version_id().map(str::to_owned)
}

/// The body of `key` (of `version`, when given).
async fn get(s3: &Client, key: &str, version: Option<&str>) -> String {
    let out = s3.get_object().bucket(BUCKET).key(key).set_version_id(version.map(str::to_owned)).send().await;
    let out = out.unwrap_or_else(|err| panic!("get {key:?} {version:?}: {err:?}"));
    String::from_utf8(out.body.collect().await.expect("body").into_bytes().to_vec()).expect("utf-8")
}

/// The HTTP status and S3 error code of a failed call.
fn status_and_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> (u16, String) {
    (err.raw_response().map_or(0, |r| r.status().as_u16()), err.code().unwrap_or("(none)").to_owned())
}

fn header<E>(err: &SdkError<E, HttpResponse>, name: &str) -> Option<String> {
    err.raw_response().and_then(|r| r.headers().get(name)).map(str::to_owned)
}

/// Every version and delete marker of the bucket: (key, version id, is latest, is a marker),
/// in S3's order (key, then newest first).
async fn all_versions(s3: &Client) -> Vec<(String, String, bool, bool)> {
    let out = s3.list_object_versions().bucket(BUCKET).send().await.expect("list versions");
    let mut entries: Vec<(String, String, bool, bool)> = Vec::new();
    for v in out.versions() {
        entries.push((
            v.key().unwrap_or_default().to_owned(),
            v.version_id().unwrap_or_default().to_owned(),
            v.is_latest().unwrap_or_default(),
            false,
        ));
    }
    for m in out.delete_markers() {
        entries.push((
            m.key().unwrap_or_default().to_owned(),
            m.version_id().unwrap_or_default().to_owned(),
            m.is_latest().unwrap_or_default(),
            true,
        ));
    }
    // S3 lists versions and markers in two lists, each by key then newest first; merged by key,
    // the current version first (a stable sort keeps each list's order).
    entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
    entries
}

#[tokio::test]
async fn versioning_is_unset_until_enabled_then_enabled_or_suspended() {
    let (_sandbox, s3) = start().await;
    // GetBucketVersioning: "If the bucket has never been so configured, this element is not returned."
    let out = s3.get_bucket_versioning().bucket(BUCKET).send().await.expect("get");
    assert_eq!(out.status(), None);
    assert_eq!(out.mfa_delete(), None);
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let out = s3.get_bucket_versioning().bucket(BUCKET).send().await.expect("get");
    assert_eq!(out.status(), Some(&BucketVersioningStatus::Enabled));
    set_versioning(&s3, BucketVersioningStatus::Suspended).await;
    let out = s3.get_bucket_versioning().bucket(BUCKET).send().await.expect("get");
    assert_eq!(out.status(), Some(&BucketVersioningStatus::Suspended));

    let err = s3.get_bucket_versioning().bucket("no-such-bucket").send().await.expect_err("no bucket");
    assert_eq!(status_and_code(&err), (404, "NoSuchBucket".to_owned()));
    let config = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    let err = s3.put_bucket_versioning().bucket("no-such-bucket").versioning_configuration(config).send().await;
    assert_eq!(status_and_code(&err.expect_err("no bucket")), (404, "NoSuchBucket".to_owned()));
}

#[tokio::test]
async fn mfa_delete_takes_the_mfa_header_and_is_shown() {
    let (_sandbox, s3) = start().await;
    let config = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .mfa_delete(MfaDelete::Enabled)
        .build();
    // "If you enable or disable MFA delete, you must include the x-amz-mfa header."
    let err = s3.put_bucket_versioning().bucket(BUCKET).versioning_configuration(config.clone()).send().await;
    assert_eq!(status_and_code(&err.expect_err("no x-amz-mfa")).1, "AccessDenied");
    let out = s3.get_bucket_versioning().bucket(BUCKET).send().await.expect("get");
    assert_eq!(out.status(), None, "a refused configuration changes nothing");
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(config)
        .mfa("arn:aws:iam::000000000000:mfa/sos 123456")
        .send()
        .await
        .expect("with x-amz-mfa");
    let out = s3.get_bucket_versioning().bucket(BUCKET).send().await.expect("get");
    assert_eq!(out.mfa_delete(), Some(&MfaDeleteStatus::Enabled));
    assert_eq!(out.status(), Some(&BucketVersioningStatus::Enabled));
}

#[tokio::test]
async fn every_write_to_a_versioned_bucket_keeps_a_version_readable_by_id() {
    let (_sandbox, s3) = start().await;
    // Before versioning, S3 returns no version id (the object is the null version).
    assert_eq!(put(&s3, "before", "unversioned").await, None);
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let first = put(&s3, "result.geojson", "first run").await.expect("a version id");
    let second = put(&s3, "result.geojson", "second run").await.expect("a version id");
    assert_ne!(first, second);
    assert_ne!(first, "null");
    assert_eq!(get(&s3, "result.geojson", None).await, "second run", "the newest is current");
    assert_eq!(get(&s3, "result.geojson", Some(&first)).await, "first run");
    assert_eq!(get(&s3, "result.geojson", Some(&second)).await, "second run");
    let got = s3.get_object().bucket(BUCKET).key("result.geojson").version_id(&first).send().await.expect("get");
    assert_eq!(got.version_id(), Some(first.as_str()), "GetObject names the version it returns");
    let head = s3.head_object().bucket(BUCKET).key("result.geojson").version_id(&first).send().await.expect("head");
    assert_eq!(head.content_length(), Some("first run".len() as i64));
    assert_eq!(head.version_id(), Some(first.as_str()));
    // The object written before versioning stays the null version, readable by `null`.
    assert_eq!(get(&s3, "before", Some("null")).await, "unversioned");

    let err = s3
        .get_object()
        .bucket(BUCKET)
        .key("result.geojson")
        .version_id("Rb_l2T8UHDkFEwCgJjhlgPOZC0qJ.vpD")
        .send()
        .await;
    assert_eq!(status_and_code(&err.expect_err("unknown version")), (404, "NoSuchVersion".to_owned()));
    let listed = all_versions(&s3).await;
    let of_result: Vec<_> = listed.iter().filter(|v| v.0 == "result.geojson").collect();
    assert_eq!(of_result.len(), 2, "{listed:?}");
    assert_eq!((of_result[0].1.as_str(), of_result[0].2), (second.as_str(), true));
    assert_eq!((of_result[1].1.as_str(), of_result[1].2), (first.as_str(), false));
}

#[tokio::test]
async fn a_delete_without_a_version_id_adds_a_delete_marker() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let kept = put(&s3, "k", "kept").await.expect("version");
    let out = s3.delete_object().bucket(BUCKET).key("k").send().await.expect("delete");
    // DeleteObject: x-amz-delete-marker true and the marker's version id.
    assert_eq!(out.delete_marker(), Some(true));
    let marker = out.version_id().expect("the marker's version id").to_owned();
    assert_ne!(marker, kept);

    // GetObject on a key whose current version is a marker: 404 NoSuchKey, x-amz-delete-marker: true.
    let err = s3.get_object().bucket(BUCKET).key("k").send().await.expect_err("deleted");
    assert_eq!(status_and_code(&err), (404, "NoSuchKey".to_owned()));
    assert_eq!(header(&err, "x-amz-delete-marker").as_deref(), Some("true"));
    assert_eq!(header(&err, "x-amz-version-id").as_deref(), Some(marker.as_str()));
    let err = s3.head_object().bucket(BUCKET).key("k").send().await.expect_err("deleted");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    assert_eq!(header(&err, "x-amz-delete-marker").as_deref(), Some("true"));
    // Naming the marker by id: 405 Method Not Allowed, with x-amz-delete-marker and Last-Modified.
    let err = s3.get_object().bucket(BUCKET).key("k").version_id(&marker).send().await.expect_err("a marker");
    assert_eq!(status_and_code(&err), (405, "MethodNotAllowed".to_owned()));
    assert_eq!(header(&err, "x-amz-delete-marker").as_deref(), Some("true"));
    assert!(header(&err, "last-modified").is_some(), "{err:?}");
    let err = s3.head_object().bucket(BUCKET).key("k").version_id(&marker).send().await.expect_err("a marker");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(405));
    // The version under the marker is still there, and listed with the marker.
    assert_eq!(get(&s3, "k", Some(&kept)).await, "kept");
    let listing = s3.list_objects_v2().bucket(BUCKET).send().await.expect("list");
    assert!(listing.contents().is_empty(), "a deleted key is not listed");
    assert_eq!(
        all_versions(&s3).await,
        vec![("k".to_owned(), marker.clone(), true, true), ("k".to_owned(), kept.clone(), false, false)]
    );
    // Deleting the marker by id brings the object back.
    let out = s3.delete_object().bucket(BUCKET).key("k").version_id(&marker).send().await.expect("delete marker");
    assert_eq!(out.delete_marker(), Some(true), "S3 says the version deleted was a marker");
    assert_eq!(out.version_id(), Some(marker.as_str()));
    assert_eq!(get(&s3, "k", None).await, "kept");
}

#[tokio::test]
async fn deleting_a_version_by_id_removes_it_for_good_and_the_previous_becomes_current() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let v1 = put(&s3, "k", "one").await.expect("version");
    let v2 = put(&s3, "k", "two").await.expect("version");
    let out = s3.delete_object().bucket(BUCKET).key("k").version_id(&v2).send().await.expect("delete v2");
    assert_eq!(out.version_id(), Some(v2.as_str()));
    assert_eq!(out.delete_marker(), None, "no marker is involved");
    assert_eq!(get(&s3, "k", None).await, "one");
    let err = s3.get_object().bucket(BUCKET).key("k").version_id(&v2).send().await.expect_err("gone");
    assert_eq!(status_and_code(&err), (404, "NoSuchVersion".to_owned()));
    assert_eq!(all_versions(&s3).await, vec![("k".to_owned(), v1.clone(), true, false)]);
    s3.delete_object().bucket(BUCKET).key("k").version_id(&v1).send().await.expect("delete v1");
    assert!(all_versions(&s3).await.is_empty());
    let err = s3.get_object().bucket(BUCKET).key("k").send().await.expect_err("no versions left");
    assert_eq!(status_and_code(&err), (404, "NoSuchKey".to_owned()));
    assert_eq!(header(&err, "x-amz-delete-marker"), None, "no marker: a plain 404");
}

#[tokio::test]
async fn a_suspended_bucket_writes_and_deletes_the_null_version_and_keeps_the_others() {
    let (_sandbox, s3) = start().await;
    put(&s3, "k", "null before").await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let enabled = put(&s3, "k", "while enabled").await.expect("version");
    set_versioning(&s3, BucketVersioningStatus::Suspended).await;
    // "Amazon S3 adds the object with version ID null": it replaces the null version there was.
    put(&s3, "k", "null while suspended").await;
    assert_eq!(get(&s3, "k", None).await, "null while suspended");
    assert_eq!(get(&s3, "k", Some("null")).await, "null while suspended");
    assert_eq!(get(&s3, "k", Some(&enabled)).await, "while enabled");
    assert_eq!(
        all_versions(&s3).await,
        vec![("k".to_owned(), "null".to_owned(), true, false), ("k".to_owned(), enabled.clone(), false, false)]
    );
    // A delete while suspended makes a delete marker with version id null, replacing the null version.
    let out = s3.delete_object().bucket(BUCKET).key("k").send().await.expect("delete");
    assert_eq!(out.delete_marker(), Some(true));
    assert_eq!(
        all_versions(&s3).await,
        vec![("k".to_owned(), "null".to_owned(), true, true), ("k".to_owned(), enabled.clone(), false, false)]
    );
    let err = s3.get_object().bucket(BUCKET).key("k").version_id("null").send().await.expect_err("a marker");
    assert_eq!(status_and_code(&err).0, 405);
}

#[tokio::test]
async fn list_object_versions_pages_with_key_and_version_id_markers() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let mut written = Vec::new();
    for (key, body) in [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("b", "b2")] {
        written.push((key, put(&s3, key, body).await.expect("version")));
    }
    s3.delete_object().bucket(BUCKET).key("b").send().await.expect("marker");
    let mut seen = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    let mut pages = 0;
    loop {
        let out = s3
            .list_object_versions()
            .bucket(BUCKET)
            .max_keys(2)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("page");
        pages += 1;
        let on_page = out.versions().len() + out.delete_markers().len();
        assert!(on_page <= 2, "max-keys counts versions and markers together");
        seen.extend(out.versions().iter().map(|v| v.version_id().unwrap_or_default().to_owned()));
        seen.extend(out.delete_markers().iter().map(|m| m.version_id().unwrap_or_default().to_owned()));
        if out.is_truncated() != Some(true) {
            break;
        }
        key_marker = out.next_key_marker().map(str::to_owned);
        version_marker = out.next_version_id_marker().map(str::to_owned);
        assert!(key_marker.is_some() && version_marker.is_some(), "a truncated page names where it stopped");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 6, "five versions and one marker, each once: {seen:?}");
    for (_, id) in &written {
        assert!(seen.contains(id), "{id} listed");
    }
    // A version-id marker without a key marker is refused.
    let err = s3.list_object_versions().bucket(BUCKET).version_id_marker(&written[0].1).send().await;
    assert_eq!(status_and_code(&err.expect_err("no key marker")).1, "InvalidArgument");
}

#[tokio::test]
async fn delete_objects_deletes_named_versions_and_adds_markers_for_the_rest() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let a1 = put(&s3, "a", "a1").await.expect("version");
    let a2 = put(&s3, "a", "a2").await.expect("version");
    put(&s3, "b", "b1").await.expect("version");
    let delete = Delete::builder()
        .objects(ObjectIdentifier::builder().key("a").version_id(&a2).build().expect("id"))
        .objects(ObjectIdentifier::builder().key("b").build().expect("id"))
        .build()
        .expect("delete");
    let out = s3.delete_objects().bucket(BUCKET).delete(delete).send().await.expect("delete objects");
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let deleted_a = out.deleted().iter().find(|d| d.key() == Some("a")).expect("a");
    assert_eq!(deleted_a.version_id(), Some(a2.as_str()));
    assert_eq!(deleted_a.delete_marker(), None);
    let deleted_b = out.deleted().iter().find(|d| d.key() == Some("b")).expect("b");
    assert_eq!(deleted_b.delete_marker(), Some(true));
    let marker = deleted_b.delete_marker_version_id().expect("the marker's id").to_owned();
    assert_eq!(get(&s3, "a", None).await, "a1", "a's previous version is current again");
    let listed = all_versions(&s3).await;
    assert!(listed.contains(&("a".to_owned(), a1.clone(), true, false)), "{listed:?}");
    assert!(listed.contains(&("b".to_owned(), marker, true, true)), "{listed:?}");
    assert_eq!(listed.len(), 3, "{listed:?}");
}

#[tokio::test]
async fn a_bucket_with_versions_or_delete_markers_left_cannot_be_deleted() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    put(&s3, "k", "x").await;
    s3.delete_object().bucket(BUCKET).key("k").send().await.expect("marker");
    // No current object is left, but a version and a marker are: "all versions … must be deleted".
    let err = s3.delete_bucket().bucket(BUCKET).send().await.expect_err("versions remain");
    assert_eq!(status_and_code(&err), (409, "BucketNotEmpty".to_owned()));
    for (key, id, _, _) in all_versions(&s3).await {
        s3.delete_object().bucket(BUCKET).key(key).version_id(id).send().await.expect("delete version");
    }
    s3.delete_bucket().bucket(BUCKET).send().await.expect("empty now");
}

#[tokio::test]
async fn copy_object_copies_the_version_named_by_copy_source_version_id() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let old = put(&s3, "src", "old").await.expect("version");
    put(&s3, "src", "new").await.expect("version");
    let out = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst")
        .copy_source(format!("{BUCKET}/src?versionId={old}"))
        .send()
        .await
        .expect("copy");
    assert_eq!(out.copy_source_version_id(), Some(old.as_str()));
    let copy = out.version_id().expect("the copy's own version").to_owned();
    assert_eq!(get(&s3, "dst", Some(&copy)).await, "old");
    // Restoring an earlier version by copying it onto its own key makes a new current version;
    // the version copied stays.
    let restored = s3
        .copy_object()
        .bucket(BUCKET)
        .key("src")
        .copy_source(format!("{BUCKET}/src?versionId={old}"))
        .send()
        .await
        .expect("restore");
    let restored = restored.version_id().expect("version").to_owned();
    assert_eq!(get(&s3, "src", None).await, "old");
    s3.delete_object().bucket(BUCKET).key("src").version_id(&restored).send().await.expect("delete restored");
    assert_eq!(get(&s3, "src", Some(&old)).await, "old", "the source's bytes outlive its copy");
    // A delete marker named as a copy's source: 400 InvalidRequest.
    let marker = s3.delete_object().bucket(BUCKET).key("src").send().await.expect("marker");
    let marker = marker.version_id().expect("marker id").to_owned();
    let err = s3
        .copy_object()
        .bucket(BUCKET)
        .key("dst")
        .copy_source(format!("{BUCKET}/src?versionId={marker}"))
        .send()
        .await
        .expect_err("a marker is no source");
    assert_eq!(status_and_code(&err), (400, "InvalidRequest".to_owned()));
    // …and the current version being a marker: 404 NoSuchKey.
    let err = s3.copy_object().bucket(BUCKET).key("dst").copy_source(format!("{BUCKET}/src")).send().await;
    assert_eq!(status_and_code(&err.expect_err("deleted")), (404, "NoSuchKey".to_owned()));
}

#[tokio::test]
async fn a_completed_multipart_upload_is_a_new_version() {
    let (_sandbox, s3) = start().await;
    set_versioning(&s3, BucketVersioningStatus::Enabled).await;
    let first = put(&s3, "big", "single part").await.expect("version");
    let upload = s3.create_multipart_upload().bucket(BUCKET).key("big").send().await.expect("create");
    let upload_id = upload.upload_id().expect("id");
    let part = s3
        .upload_part()
        .bucket(BUCKET)
        .key("big")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart"))
        .send()
        .await
        .expect("part");
    let parts = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().expect("etag")).build())
        .build();
    let done = s3
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key("big")
        .upload_id(upload_id)
        .multipart_upload(parts)
        .send()
        .await
        .expect("complete");
    let second = done.version_id().expect("a version id").to_owned();
    assert_ne!(second, first);
    assert_eq!(get(&s3, "big", None).await, "multipart");
    assert_eq!(get(&s3, "big", Some(&first)).await, "single part");
}

/// Waits (long polling, up to 10 s) for the next message body on `queue`, deleting it.
async fn next_event(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    for _ in 0..2 {
        let out = sqs.receive_message().queue_url(url).wait_time_seconds(5).send().await.expect("receive");
        if let Some(message) = out.messages().first() {
            let handle = message.receipt_handle().expect("handle");
            sqs.delete_message().queue_url(url).receipt_handle(handle).send().await.expect("delete");
            return serde_json::from_str(message.body().expect("body")).expect("JSON");
        }
    }
    panic!("no message reached the queue within 10 s");
}

#[tokio::test]
async fn events_of_a_versioned_bucket_carry_the_version_id_and_name_delete_markers() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { seed: false, ..o }).await;
    let c = sandbox.clients();
    c.s3.create_bucket().bucket(BUCKET).send().await.expect("bucket");
    set_versioning(&c.s3, BucketVersioningStatus::Enabled).await;
    let queue = c.sqs.create_queue().queue_name("version-events").send().await.expect("queue");
    let url = queue.queue_url().expect("url").to_owned();
    let config = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder()
                .queue_arn("arn:aws:sqs:us-east-1:000000000000:version-events")
                .events(Event::S3ObjectCreated)
                .events(Event::S3ObjectRemoved)
                .build()
                .expect("config"),
        )
        .build();
    c.s3.put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(config)
        .send()
        .await
        .expect("configure");
    assert_eq!(next_event(&c.sqs, &url).await["Event"], "s3:TestEvent");

    let v1 = put(&c.s3, "k", "one").await.expect("version");
    let v2 = put(&c.s3, "k", "two").await.expect("version");
    let marker = c.s3.delete_object().bucket(BUCKET).key("k").send().await.expect("delete");
    let marker = marker.version_id().expect("marker").to_owned();
    c.s3.delete_object().bucket(BUCKET).key("k").version_id(&v1).send().await.expect("delete v1");
    let mut records = Vec::new();
    for _ in 0..4 {
        let event = next_event(&c.sqs, &url).await;
        let record = &event["Records"][0];
        records.push((
            record["eventName"].as_str().unwrap_or_default().to_owned(),
            record["s3"]["object"]["versionId"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(
        records,
        vec![
            ("ObjectCreated:Put".to_owned(), v1.clone()),
            ("ObjectCreated:Put".to_owned(), v2),
            ("ObjectRemoved:DeleteMarkerCreated".to_owned(), marker),
            ("ObjectRemoved:Delete".to_owned(), v1),
        ]
    );
}

/// The announcement (the notifier's JSON, inside SNS's envelope) next on the seeded queue.
async fn next_announcement(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    let envelope = next_event(sqs, url).await;
    serde_json::from_str(envelope["Message"].as_str().expect("an SNS envelope")).expect("the announcement")
}

#[tokio::test]
async fn two_uploads_of_one_key_are_two_announcements_of_two_readable_versions() {
    let sandbox = TestSandbox::start().await;
    let c = sandbox.clients();
    let bucket = sandbox::SEED_BUCKET;
    let status = c.s3.get_bucket_versioning().bucket(bucket).send().await.expect("versioning");
    assert_eq!(status.status(), Some(&BucketVersioningStatus::Enabled), "the seeded bucket is versioned");
    let queue = c.sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("queue");
    let url = queue.queue_url().expect("url").to_owned();
    // The seed's uploader always writes the same key: two model runs a moment apart.
    let key = "Optimization_result.geojson";
    let mut written = Vec::new();
    for run in ["{\"run\":1}", "{\"run\":2}"] {
        let put = c.s3.put_object().bucket(bucket).key(key).body(ByteStream::from(run.as_bytes().to_vec())).send();
        written.push((run, put.await.expect("upload").version_id().expect("a version id").to_owned()));
    }
    assert_ne!(written[0].1, written[1].1);
    let mut announced = Vec::new();
    for _ in 0..2 {
        let message = next_announcement(&c.sqs, &url).await;
        assert_eq!(message["key"], key);
        announced.push(message["version_id"].as_str().expect("the announcement names the version").to_owned());
    }
    announced.sort();
    let mut expected: Vec<String> = written.iter().map(|(_, id)| id.clone()).collect();
    expected.sort();
    assert_eq!(announced, expected, "one announcement per upload, each with its own version");
    for (body, version) in &written {
        let got = c.s3.get_object().bucket(bucket).key(key).version_id(version).send().await.expect("by version");
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(bytes.as_ref(), body.as_bytes(), "version {version} still holds its upload");
    }
}

fn noncurrent_rule(id: &str, days: i32) -> aws_sdk_s3::types::LifecycleRule {
    use aws_sdk_s3::types::{ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration};
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build())
        .build()
        .expect("rule")
}

#[tokio::test]
async fn a_lifecycle_configuration_is_kept_checked_and_removed() {
    use aws_sdk_s3::types::BucketLifecycleConfiguration;
    let (_sandbox, s3) = start().await;
    let err = s3.get_bucket_lifecycle_configuration().bucket(BUCKET).send().await.expect_err("none yet");
    assert_eq!(status_and_code(&err), (404, "NoSuchLifecycleConfiguration".to_owned()));
    let config = BucketLifecycleConfiguration::builder().rules(noncurrent_rule("old-versions", 30)).build();
    s3.put_bucket_lifecycle_configuration()
        .bucket(BUCKET)
        .lifecycle_configuration(config.expect("config"))
        .send()
        .await
        .expect("put");
    let got = s3.get_bucket_lifecycle_configuration().bucket(BUCKET).send().await.expect("get");
    let [rule] = got.rules() else { panic!("one rule: {got:?}") };
    assert_eq!(rule.id(), Some("old-versions"));
    assert_eq!(rule.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()), Some(30));
    // NoncurrentDays "must be a non-zero positive integer"; rule ids must be unique.
    for rules in [vec![noncurrent_rule("zero", 0)], vec![noncurrent_rule("twice", 1), noncurrent_rule("twice", 2)]] {
        let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().expect("config");
        let err = s3.put_bucket_lifecycle_configuration().bucket(BUCKET).lifecycle_configuration(config).send().await;
        assert_eq!(status_and_code(&err.expect_err("refused")), (400, "InvalidArgument".to_owned()));
    }
    let got = s3.get_bucket_lifecycle_configuration().bucket(BUCKET).send().await.expect("get");
    assert_eq!(got.rules().len(), 1, "a refused configuration changes nothing");
    s3.delete_bucket_lifecycle().bucket(BUCKET).send().await.expect("delete");
    let err = s3.get_bucket_lifecycle_configuration().bucket(BUCKET).send().await.expect_err("gone");
    assert_eq!(status_and_code(&err).1, "NoSuchLifecycleConfiguration");
}
