//! The sandbox's S3 service: the storage of `s3s-fs`, with what a faithful S3 needs on top.
//!
//! Every operation is handed to [`s3s_fs::FileSystem`]; this layer adds S3's own answers where
//! s3s-fs would differ — `NoSuchBucket` for writes and reads in a bucket that does not exist
//! (s3s-fs would create it), `BucketNotEmpty` for deleting a bucket that holds objects (s3s-fs
//! would delete them), `InvalidBucketName` with the naming rule, a message on every error —,
//! `encoding-type=url` on listings, which boto3 and the aws CLI always ask for and then
//! URL-decode (without it a key such as `a+b.txt` would come back as `a b.txt`), and bucket
//! notifications, emitted once s3s-fs has renamed the new object into place.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;

use crate::aws::s3_url_encode;
use crate::notify::{CreatedObject, Notifications};

/// S3's bucket naming rule, as its `InvalidBucketName` message states it.
pub const BUCKET_NAME_RULE: &str = "Bucket names must be 3 to 63 characters long and may contain only lower-case \
    letters, digits, dots (.) and hyphens (-); they must begin and end with a letter or digit and must not look \
    like an IP address (192.168.5.4)";

/// Whether `name` follows S3's naming rule for new buckets.
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-');
    let ends = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && allowed
        && ends(bytes.first())
        && ends(bytes.last())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// Accepts every name at the protocol layer, so that the service answers a bad one with S3's
/// message rather than s3s's bare code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnyBucketName;

impl s3s::validation::NameValidation for AnyBucketName {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty()
    }
}

/// The message S3 sends with `code` where s3s or s3s-fs sent none: every S3 error carries one.
pub(crate) fn default_message(code: &S3ErrorCode) -> &'static str {
    match code {
        S3ErrorCode::SignatureDoesNotMatch => {
            "The request signature we calculated does not match the signature you provided. Check your key and \
             signing method."
        }
        S3ErrorCode::InvalidAccessKeyId => "The AWS Access Key Id you provided does not exist in our records.",
        S3ErrorCode::AccessDenied => "Access Denied",
        S3ErrorCode::RequestTimeTooSkewed => {
            "The difference between the request time and the current time is too large."
        }
        S3ErrorCode::MethodNotAllowed => "The specified method is not allowed against this resource.",
        S3ErrorCode::InvalidArgument => "Invalid Argument",
        S3ErrorCode::InvalidRequest => "Invalid Request",
        S3ErrorCode::NoSuchKey => "The specified key does not exist.",
        S3ErrorCode::NoSuchBucket => "The specified bucket does not exist",
        S3ErrorCode::NoSuchUpload => {
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted \
             or completed."
        }
        S3ErrorCode::BucketAlreadyExists | S3ErrorCode::BucketAlreadyOwnedByYou => {
            "Your previous request to create the named bucket succeeded and you already own it."
        }
        S3ErrorCode::InvalidPart => {
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the \
             specified entity tag may not match the part's entity tag."
        }
        S3ErrorCode::InvalidPartOrder => {
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        }
        S3ErrorCode::InvalidRange => "The requested range is not satisfiable",
        S3ErrorCode::PreconditionFailed => "At least one of the pre-conditions you specified did not hold",
        S3ErrorCode::NotImplemented => {
            "A header or operation you provided implies functionality the sandbox does not have."
        }
        _ => "The sandbox could not complete the request.",
    }
}

/// `err` with S3's message when it has none.
fn explained(mut err: S3Error) -> S3Error {
    if err.message().is_none_or(str::is_empty) {
        let message = default_message(err.code());
        err.set_message(message);
    }
    err
}

/// An upload id s3s-fs issues (a UUID); anything else names no upload.
fn known_upload_id(upload_id: &str) -> S3Result<()> {
    let hex = upload_id.bytes().filter(u8::is_ascii_hexdigit).count();
    if upload_id.len() == 36 && hex == 32 && upload_id.bytes().filter(|b| *b == b'-').count() == 4 {
        return Ok(());
    }
    Err(S3Error::with_message(S3ErrorCode::NoSuchUpload, default_message(&S3ErrorCode::NoSuchUpload)))
}

/// How much of an object one read of a download takes.
const READ_CHUNK: usize = 1024 * 1024;

/// The first byte of a `Content-Range: bytes 100-199/1000`.
fn range_start(content_range: &str) -> Option<u64> {
    content_range.strip_prefix("bytes ")?.split('-').next()?.parse().ok()
}

fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucket, format!("The specified bucket does not exist: {bucket}"))
}

/// How many completed multipart uploads are remembered, so that a retried
/// `CompleteMultipartUpload` gets the answer the first one got.
const REMEMBERED_COMPLETIONS: usize = 1000;

/// A multipart upload that was completed: its id, bucket, key, ETag and location.
#[derive(Debug, Clone)]
struct Completed {
    upload_id: String,
    bucket: String,
    key: String,
    e_tag: Option<ETag>,
    location: Option<String>,
}

/// S3 backed by a directory.
#[derive(Debug)]
pub(crate) struct SandboxS3 {
    fs: FileSystem,
    root: PathBuf,
    notifications: Arc<Notifications>,
    completed: Mutex<VecDeque<Completed>>,
}

impl SandboxS3 {
    pub(crate) fn new(fs: FileSystem, root: PathBuf, notifications: Arc<Notifications>) -> Self {
        Self { fs, root, notifications, completed: Mutex::new(VecDeque::new()) }
    }

    fn completions(&self) -> std::sync::MutexGuard<'_, VecDeque<Completed>> {
        self.completed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// S3's answer for a request on `bucket` when the name breaks the rule or no such bucket exists.
    async fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if !valid_bucket_name(bucket) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketName,
                format!("The specified bucket is not valid: {bucket:?}. {BUCKET_NAME_RULE}."),
            ));
        }
        // A stat of a local directory is quicker than the thread hand-off of `tokio::fs`.
        match std::fs::metadata(self.root.join(bucket)) {
            Ok(meta) if meta.is_dir() => Ok(()),
            _ => Err(no_such_bucket(bucket)),
        }
    }

    /// Emits the event for a new object, in the background: S3 answers the write first.
    async fn created(&self, bucket: String, key: String, etag: Option<&ETag>, event_name: &'static str) {
        let size = std::fs::metadata(self.root.join(&bucket).join(&key)).map(|m| m.len()).unwrap_or(0);
        let object = CreatedObject {
            bucket,
            key,
            size,
            etag: etag.map(|e| e.value().to_owned()).unwrap_or_default(),
            event_name,
        };
        let notifications = self.notifications.clone();
        tokio::spawn(async move { notifications.object_created(object).await });
    }
}

/// Hands operations to `s3s-fs`, giving its errors S3's messages; with `bucket`, after S3's
/// answer for a missing bucket. Written in the form `#[async_trait]` expands to, because the
/// attribute cannot see into a macro's output.
macro_rules! delegate {
    ($($op:ident($input:ty) -> $output:ty $(, bucket $check:ident)? $(, upload $upload:ident)?;)*) => {$(
        fn $op<'a, 'fut>(
            &'a self,
            req: S3Request<$input>,
        ) -> std::pin::Pin<Box<dyn Future<Output = S3Result<S3Response<$output>>> + Send + 'fut>>
        where
            'a: 'fut,
            Self: 'fut,
        {
            Box::pin(async move {
                $( self.check_bucket(&req.input.$check).await?; )?
                $( known_upload_id(&req.input.$upload)?; )?
                self.fs.$op(req).await.map_err(explained)
            })
        }
    )*};
}

#[async_trait::async_trait]
impl S3 for SandboxS3 {
    delegate! {
        head_bucket(HeadBucketInput) -> HeadBucketOutput, bucket bucket;
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput, bucket bucket;
        head_object(HeadObjectInput) -> HeadObjectOutput, bucket bucket;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput, bucket bucket;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput, bucket bucket;
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput, bucket bucket;
        upload_part(UploadPartInput) -> UploadPartOutput, bucket bucket, upload upload_id;
        upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput, bucket bucket, upload upload_id;
        list_parts(ListPartsInput) -> ListPartsOutput, bucket bucket, upload upload_id;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput, bucket bucket, upload upload_id;
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.check_bucket(&bucket).await?;
        let mut resp = self.fs.get_object(req).await.map_err(explained)?;
        // s3s-fs streams the body 4 KiB per read, each read a hop to tokio's blocking pool; read
        // the same bytes 1 MiB at a time instead. Only for plain keys, whose path is unambiguous.
        let plain = !key.split('/').any(|part| part == ".." || part == ".");
        if let (true, Some(length)) = (plain, resp.output.content_length.and_then(|n| u64::try_from(n).ok())) {
            let start = resp.output.content_range.as_deref().and_then(range_start).unwrap_or(0);
            let mut file =
                tokio::fs::File::open(self.root.join(&bucket).join(&key)).await.map_err(S3Error::internal_error)?;
            if start > 0 {
                use tokio::io::AsyncSeekExt as _;
                file.seek(std::io::SeekFrom::Start(start)).await.map_err(S3Error::internal_error)?;
            }
            use tokio::io::AsyncReadExt as _;
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), READ_CHUNK);
            resp.output.body = Some(StreamingBlob::wrap(stream));
        }
        Ok(resp)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        if !valid_bucket_name(&req.input.bucket) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketName,
                format!("The specified bucket is not valid: {:?}. {BUCKET_NAME_RULE}.", req.input.bucket),
            ));
        }
        // Every bucket belongs to the sandbox's one account, in us-east-1, where S3 answers a
        // request to create a bucket you already own with success (a retried CreateBucket whose
        // answer was lost gets what the first got); elsewhere with BucketAlreadyOwnedByYou.
        if tokio::fs::metadata(self.root.join(&req.input.bucket)).await.is_ok_and(|m| m.is_dir()) {
            let constraint = req
                .input
                .create_bucket_configuration
                .as_ref()
                .and_then(|c| c.location_constraint.as_ref())
                .map(|c| c.as_str().to_owned());
            return match constraint.as_deref() {
                None | Some("" | "us-east-1") => {
                    Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", req.input.bucket)) }))
                }
                Some(_) => Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    default_message(&S3ErrorCode::BucketAlreadyOwnedByYou),
                )),
            };
        }
        self.fs.create_bucket(req).await.map_err(explained)
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket.clone();
        self.check_bucket(&bucket).await?;
        let mut entries = tokio::fs::read_dir(self.root.join(&bucket)).await.map_err(S3Error::internal_error)?;
        if entries.next_entry().await.map_err(S3Error::internal_error)?.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketNotEmpty,
                format!("The bucket you tried to delete is not empty: {bucket}. Delete its objects first."),
            ));
        }
        let resp = self.fs.delete_bucket(req).await.map_err(explained)?;
        self.notifications.remove(&bucket).map_err(crate::http::gate::s3_error)?;
        Ok(resp)
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.check_bucket(&bucket).await?;
        let resp = self.fs.put_object(req).await.map_err(explained)?;
        self.created(bucket, key, resp.output.e_tag.as_ref(), "ObjectCreated:Put").await;
        Ok(resp)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.check_bucket(&bucket).await?;
        if let CopySource::Bucket { bucket: source, .. } = &req.input.copy_source {
            self.check_bucket(source).await?;
        }
        let resp = self.fs.copy_object(req).await.map_err(explained)?;
        let etag = resp.output.copy_object_result.as_ref().and_then(|r| r.e_tag.as_ref());
        self.created(bucket, key, etag, "ObjectCreated:Copy").await;
        Ok(resp)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let upload_id = req.input.upload_id.clone();
        self.check_bucket(&bucket).await?;
        known_upload_id(&upload_id)?;
        // A retry of a completion that succeeded (its answer lost on the way): S3 answers it as it
        // answered the first, and announces nothing again.
        let done = self.completions().iter().find(|c| c.upload_id == upload_id).cloned();
        if let Some(done) = done
            && done.bucket == bucket
            && done.key == key
        {
            return Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(done.bucket),
                key: Some(done.key),
                e_tag: done.e_tag,
                location: done.location,
                ..Default::default()
            }));
        }
        let resp = self.fs.complete_multipart_upload(req).await.map_err(explained)?;
        {
            let mut completed = self.completions();
            if completed.len() >= REMEMBERED_COMPLETIONS {
                completed.pop_front();
            }
            completed.push_back(Completed {
                upload_id,
                bucket: bucket.clone(),
                key: key.clone(),
                e_tag: resp.output.e_tag.clone(),
                location: resp.output.location.clone(),
            });
        }
        self.created(bucket, key, resp.output.e_tag.as_ref(), "ObjectCreated:CompleteMultipartUpload").await;
        Ok(resp)
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket).await?;
        if let Err(message) = self.notifications.validate(&input.notification_configuration) {
            return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, message));
        }
        self.notifications.set(&input.bucket, input.notification_configuration).map_err(crate::http::gate::s3_error)?;
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput::default()))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        self.check_bucket(&req.input.bucket).await?;
        let config = self.notifications.get(&req.input.bucket);
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: config.event_bridge_configuration,
            lambda_function_configurations: config.lambda_function_configurations,
            queue_configurations: config.queue_configurations,
            topic_configurations: config.topic_configurations,
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let url = wants_url_encoding(req.input.encoding_type.as_ref());
        self.check_bucket(&req.input.bucket).await?;
        let mut resp = self.fs.list_objects(req).await.map_err(explained)?;
        if url {
            let out = &mut resp.output;
            for field in [&mut out.prefix, &mut out.delimiter, &mut out.marker, &mut out.next_marker] {
                encode_field(field);
            }
            encode_listing(out.contents.as_deref_mut(), out.common_prefixes.as_deref_mut());
            out.encoding_type = Some(EncodingType::from_static(EncodingType::URL));
        }
        Ok(resp)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let url = wants_url_encoding(req.input.encoding_type.as_ref());
        self.check_bucket(&req.input.bucket).await?;
        let mut resp = self.fs.list_objects_v2(req).await.map_err(explained)?;
        if url {
            let out = &mut resp.output;
            for field in [&mut out.prefix, &mut out.delimiter, &mut out.start_after] {
                encode_field(field);
            }
            encode_listing(out.contents.as_deref_mut(), out.common_prefixes.as_deref_mut());
            out.encoding_type = Some(EncodingType::from_static(EncodingType::URL));
        }
        Ok(resp)
    }
}

fn wants_url_encoding(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == EncodingType::URL)
}

fn encode_field(field: &mut Option<String>) {
    if let Some(value) = field {
        *value = s3_url_encode(value);
    }
}

fn encode_listing(contents: Option<&mut [Object]>, prefixes: Option<&mut [CommonPrefix]>) {
    for object in contents.unwrap_or_default() {
        encode_field(&mut object.key);
    }
    for prefix in prefixes.unwrap_or_default() {
        encode_field(&mut prefix.prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;

    #[test]
    fn bucket_names_follow_s3s_rule() {
        for good in ["snow-observing-systems", "abc", "a.b-c1", "0ab"] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in ["My_Bucket", "ab", "-abc", "abc-", "a..b", "192.168.5.4", "UPPER", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
