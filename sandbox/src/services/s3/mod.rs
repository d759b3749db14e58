//! The sandbox's S3 service: S3's wire protocol and signature checks from [`s3s`], S3's rules
//! here, the objects in the sandbox's own object store ([`crate::state::objects`]), and S3's
//! event notifications ([`notify`], [`delivery`]).
//!
//! The rules are AWS's documented ones: any key of up to 1,024 bytes (`a` beside `a/b`, `a/`,
//! `../x`), `NoSuchBucket` for a bucket that does not exist (never created on the way),
//! `BucketNotEmpty`, `InvalidBucketName` with the naming rule, conditional reads (`If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` → 412 or 304) and writes
//! (`If-None-Match: *` and `If-Match` on PutObject and CompleteMultipartUpload), CopyObject's
//! rules (`x-amz-metadata-directive`, `x-amz-copy-source-if-*`, no copy onto itself that changes
//! nothing), multipart checks (`InvalidPart`, `InvalidPartOrder`, `EntityTooSmall`), listings v1
//! and v2 with S3's markers, tokens and `encoding-type=url`, ListObjectVersions (the `null`
//! version of an unversioned bucket), ListMultipartUploads and ListParts, and a message on
//! every error.
//!
//! The layers: `mod.rs` is the wire glue (one method per operation, `s3s` types in and out);
//! [`objects`], [`multipart`] and [`lists`] hold each operation's rules; the store does the
//! writes that must be atomic (a write, its precondition and its events, in one transaction).
//! Nothing here knows HTTP: the request id the front door gives each request arrives as a
//! [`RequestId`] extension.

mod attributes;
pub(crate) mod cors;
pub(crate) mod delivery;
mod lifecycle;
mod lists;
mod multipart;
pub mod notify;
mod objects;
mod tagging;
mod versions;

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use self::delivery::Delivery;
use self::notify::Notifications;
use crate::error::AwsError;
use crate::state::objects::{ObjectError, ObjectStore};

/// S3's bucket naming rule, as its `InvalidBucketName` message states it.
pub const BUCKET_NAME_RULE: &str = "Bucket names must be 3 to 63 characters long and may contain only lower-case \
    letters, digits, dots (.) and hyphens (-); they must begin and end with a letter or digit and must not look \
    like an IP address (192.168.5.4)";

/// The canonical user id of the sandbox's one account, as S3 shows owners.
pub const OWNER_ID: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";

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

/// The id of one S3 request: the `x-amz-request-id` header of its answer, the `RequestId` of an
/// error's body, and the `x-amz-request-id` of the events it causes. The front door puts one in
/// every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A new id in S3's form: 16 upper-case hexadecimal digits.
    pub fn new() -> Self {
        Self(crate::aws::uuid().replace('-', "")[..16].to_uppercase())
    }

    /// The id of `req` (a new one when the front door gave none, as in tests).
    fn of<T>(req: &S3Request<T>) -> String {
        req.extensions.get::<Self>().map_or_else(|| Self::new().0, |id| id.0.clone())
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// The message S3 sends with `code` where s3s sent none: every S3 error carries one.
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
        S3ErrorCode::EntityTooSmall => "Your proposed upload is smaller than the minimum allowed object size.",
        S3ErrorCode::InvalidRange => "The requested range is not satisfiable",
        S3ErrorCode::PreconditionFailed => "At least one of the pre-conditions you specified did not hold",
        S3ErrorCode::MalformedXML => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        S3ErrorCode::KeyTooLongError => "Your key is too long",
        S3ErrorCode::NotImplemented => {
            "A header or operation you provided implies functionality the sandbox does not have."
        }
        _ => "The sandbox could not complete the request.",
    }
}

/// An S3 error with S3's message for its code.
pub(crate) fn s3_error(code: S3ErrorCode) -> S3Error {
    let message = default_message(&code);
    S3Error::with_message(code, message)
}

/// `err` with S3's message when it has none.
fn explained(mut err: S3Error) -> S3Error {
    if err.message().is_none_or(str::is_empty) {
        let message = default_message(err.code());
        err.set_message(message);
    }
    err
}

fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucket, format!("The specified bucket does not exist: {bucket}"))
}

fn invalid_bucket_name(bucket: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidBucketName,
        format!("The specified bucket is not valid: {bucket:?}. {BUCKET_NAME_RULE}."),
    )
}

/// The store's refusal for an operation on `bucket`, as S3 answers it.
fn refused(bucket: &str, err: ObjectError) -> S3Error {
    match err {
        ObjectError::NoSuchBucket => no_such_bucket(bucket),
        ObjectError::BucketNotEmpty => S3Error::with_message(
            S3ErrorCode::BucketNotEmpty,
            format!("The bucket you tried to delete is not empty: {bucket}. Delete its objects first."),
        ),
        ObjectError::NoSuchKey => s3_error(S3ErrorCode::NoSuchKey),
        ObjectError::NoSuchVersion => {
            S3Error::with_message(S3ErrorCode::NoSuchVersion, "The specified version does not exist.".to_owned())
        }
        ObjectError::NoSuchUpload => s3_error(S3ErrorCode::NoSuchUpload),
        ObjectError::PreconditionFailed => s3_error(S3ErrorCode::PreconditionFailed),
        ObjectError::InvalidPart(number) => S3Error::with_message(
            S3ErrorCode::InvalidPart,
            format!("{} (part {number})", default_message(&S3ErrorCode::InvalidPart)),
        ),
        ObjectError::InvalidPartOrder => s3_error(S3ErrorCode::InvalidPartOrder),
        ObjectError::EntityTooSmall { number, size } => S3Error::with_message(
            S3ErrorCode::EntityTooSmall,
            format!(
                "{} Part {number} is {size} bytes; every part but the last must be at least 5 MiB.",
                default_message(&S3ErrorCode::EntityTooSmall)
            ),
        ),
        ObjectError::Io(err) => internal(format!("the object store could not read or write a file: {err}")),
        ObjectError::Store(err) => internal(format!("the object store failed: {err}")),
    }
}

/// A failure of the sandbox itself (500), logged.
fn internal(message: String) -> S3Error {
    tracing::error!("{message}");
    S3Error::with_message(S3ErrorCode::InternalError, message)
}

/// An [`AwsError`] of the shared services (the state store) as an S3 error.
fn from_aws(err: AwsError) -> S3Error {
    let code = S3ErrorCode::from_bytes(err.code.as_bytes()).unwrap_or(S3ErrorCode::InternalError);
    let mut error = S3Error::with_message(code, err.message);
    if let Ok(status) = http::StatusCode::from_u16(err.status) {
        error.set_status_code(status);
    }
    error
}

/// S3 over the sandbox's object store.
#[derive(Debug)]
pub(crate) struct SandboxS3 {
    store: Arc<ObjectStore>,
    notifications: Arc<Notifications>,
    delivery: Arc<Delivery>,
}

impl SandboxS3 {
    pub(crate) fn new(store: Arc<ObjectStore>, notifications: Arc<Notifications>, delivery: Arc<Delivery>) -> Self {
        Self { store, notifications, delivery }
    }

    /// S3's answer for a request on `bucket` when the name breaks the rule or no such bucket exists.
    fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if !valid_bucket_name(bucket) {
            return Err(invalid_bucket_name(bucket));
        }
        if self.store.bucket_exists(bucket) { Ok(()) } else { Err(no_such_bucket(bucket)) }
    }
}

#[async_trait::async_trait]
impl S3 for SandboxS3 {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.list_buckets_page(req.input).map(S3Response::new)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = &req.input.bucket;
        if !valid_bucket_name(bucket) {
            return Err(invalid_bucket_name(bucket));
        }
        let created = self.store.create_bucket(bucket).map_err(|err| refused(bucket, err))?;
        if !created {
            // Every bucket belongs to the sandbox's one account, in us-east-1, where S3 answers a
            // request to create a bucket you already own with success (a retried CreateBucket
            // whose answer was lost gets what the first got); elsewhere with BucketAlreadyOwnedByYou.
            let constraint = req
                .input
                .create_bucket_configuration
                .as_ref()
                .and_then(|c| c.location_constraint.as_ref())
                .map(|c| c.as_str().to_owned());
            if !matches!(constraint.as_deref(), None | Some("" | "us-east-1")) {
                return Err(s3_error(S3ErrorCode::BucketAlreadyOwnedByYou));
            }
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = &req.input.bucket;
        self.check_bucket(bucket)?;
        self.store.delete_bucket(bucket).map_err(|err| refused(bucket, err))?;
        self.notifications.remove(bucket).map_err(from_aws)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.check_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(crate::REGION.to_owned()), ..Default::default() }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.check_bucket(&req.input.bucket)?;
        // us-east-1 is the one region S3 answers with an empty LocationConstraint.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.put_object_in_store(req).await.map(S3Response::new).map_err(explained)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.get_object_from_store(req).await.map(S3Response::new).map_err(explained)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.head_object_from_store(req).map(S3Response::new).map_err(explained)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.delete_object_from_store(req).map(S3Response::new).map_err(explained)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.delete_objects_from_store(req).map(S3Response::new).map_err(explained)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.copy_object_in_store(req).await.map(S3Response::new).map_err(explained)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req).map(S3Response::new).map_err(explained)
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.upload_part_to_store(req).await.map(S3Response::new).map_err(explained)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.upload_part_copy_to_store(req).await.map(S3Response::new).map_err(explained)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_upload(req).map(S3Response::new).map_err(explained)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req).map(S3Response::new).map_err(explained)
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_parts_page(req.input).map(S3Response::new).map_err(explained)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.list_uploads_page(req.input).map(S3Response::new).map_err(explained)
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.list_objects_v1(req.input).map(S3Response::new).map_err(explained)
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.list_objects_v2_page(req.input).map(S3Response::new).map_err(explained)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.list_versions_page(req.input).map(S3Response::new).map_err(explained)
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.put_versioning(req.input).map(S3Response::new).map_err(explained)
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.get_versioning(req.input).map(S3Response::new).map_err(explained)
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.put_lifecycle(req.input).map(S3Response::new).map_err(explained)
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.get_lifecycle(req.input).map(S3Response::new).map_err(explained)
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.delete_lifecycle(req.input).map(S3Response::new).map_err(explained)
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.put_object_tags(req.input).map(S3Response::new).map_err(explained)
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.get_object_tags(req.input).map(S3Response::new).map_err(explained)
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.delete_object_tags(req.input).map(S3Response::new).map_err(explained)
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.put_bucket_tags(req.input).map(S3Response::new).map_err(explained)
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.get_bucket_tags(req.input).map(S3Response::new).map_err(explained)
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.delete_bucket_tags(req.input).map(S3Response::new).map_err(explained)
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.object_attributes(req.input).map(S3Response::new).map_err(explained)
    }

    async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.put_cors(req.input).map(S3Response::new).map_err(explained)
    }

    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.get_cors(req.input).map(S3Response::new).map_err(explained)
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.delete_cors(req.input).map(S3Response::new).map_err(explained)
    }

    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let request_id = RequestId::of(&req);
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        if let Err(message) = self.notifications.validate(&input.notification_configuration) {
            return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, message));
        }
        self.notifications.set(&input.bucket, input.notification_configuration, &request_id).map_err(from_aws)?;
        self.delivery.wake();
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput::default()))
    }

    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        self.check_bucket(&req.input.bucket)?;
        let config = self.notifications.get(&req.input.bucket);
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: config.event_bridge_configuration,
            lambda_function_configurations: config.lambda_function_configurations,
            queue_configurations: config.queue_configurations,
            topic_configurations: config.topic_configurations,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{RequestId, valid_bucket_name};

    #[test]
    fn bucket_names_follow_s3s_rule() {
        for good in ["snow-observing-systems", "abc", "a.b-c1", "0ab"] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in ["My_Bucket", "ab", "-abc", "abc-", "a..b", "192.168.5.4", "UPPER", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn request_ids_have_s3s_shape() {
        let id = RequestId::new().0;
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)), "{id}");
        assert_ne!(id, RequestId::new().0);
    }
}
