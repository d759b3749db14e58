//! Versioning: PutBucketVersioning and GetBucketVersioning, reads of one version (and S3's
//! answers for delete markers: 404 with `x-amz-delete-marker` for a key whose current version
//! is one, 405 for a marker named by id), and DeleteObject(s) with version ids and delete
//! markers, with their `ObjectRemoved:Delete` and `ObjectRemoved:DeleteMarkerCreated` events.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::notify::ObjectEvent;
use super::objects::{format_http_date, timestamp, write_condition};
use super::{RequestId, SandboxS3, refused, s3_error};
use crate::state::objects::versions::{Deletion, Versioning, VersioningConfig};
use crate::state::objects::{Lease, NULL_VERSION, ObjectError, ObjectVersion, WriteCondition};

/// The version id S3 shows: none for the null version.
pub(super) fn shown_version_id(version: &ObjectVersion) -> Option<String> {
    (version.version_id != NULL_VERSION).then(|| version.version_id.clone())
}

/// The headers S3 sends with the error for a delete marker: `x-amz-delete-marker`,
/// `x-amz-version-id` and `Last-Modified`.
fn marker_headers(marker: &ObjectVersion) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(value) = http::HeaderValue::from_str(&marker.version_id) {
        headers.insert("x-amz-version-id", value);
    }
    if let Some(date) = format_http_date(&timestamp(marker.last_modified_ms))
        && let Ok(value) = http::HeaderValue::from_str(&date)
    {
        headers.insert(http::header::LAST_MODIFIED, value);
    }
    headers
}

/// What a delete made, as DeleteObject's and DeleteObjects' answers show it: whether a delete
/// marker is involved, and the version id.
struct Deleted {
    delete_marker: bool,
    version_id: Option<String>,
}

impl SandboxS3 {
    /// The version of a key a read asks for, after the bucket checks: the current one, or
    /// `version_id`. S3's answers: `NoSuchKey` (404) for a key without a current version, with
    /// the marker's headers when its current version is a delete marker; `NoSuchVersion` for an
    /// id the key does not have; 405 `MethodNotAllowed` for a delete marker named by id (400
    /// `InvalidRequest` for a copy's source).
    pub(super) fn readable(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        copy_source: bool,
    ) -> S3Result<(ObjectVersion, Lease)> {
        if !super::valid_bucket_name(bucket) {
            return Err(super::invalid_bucket_name(bucket));
        }
        let Some(version_id) = version_id else {
            return match self.store.current(bucket, key).map_err(|err| refused(bucket, err))? {
                Some((marker, _)) if marker.delete_marker => {
                    let mut err = s3_error(S3ErrorCode::NoSuchKey);
                    err.set_headers(marker_headers(&marker));
                    Err(err)
                }
                Some(found) => Ok(found),
                None => Err(s3_error(S3ErrorCode::NoSuchKey)),
            };
        };
        match self.store.version(bucket, key, version_id).map_err(|err| refused(bucket, err))? {
            Some((marker, _)) if marker.delete_marker && copy_source => Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "The source of a copy request may not specifically refer to a delete marker by version id.".to_owned(),
            )),
            Some((marker, _)) if marker.delete_marker => {
                let mut err = s3_error(S3ErrorCode::MethodNotAllowed);
                err.set_headers(marker_headers(&marker));
                Err(err)
            }
            Some(found) => Ok(found),
            None => Err(refused(bucket, ObjectError::NoSuchVersion)),
        }
    }

    /// Whether a write into `bucket` makes a new version beside the current one (versioning
    /// enabled), rather than replacing the null version.
    pub(super) fn keeps_versions(&self, bucket: &str) -> S3Result<bool> {
        let config = self.store.versioning(bucket).map_err(|err| refused(bucket, err))?;
        Ok(config.status == Versioning::Enabled)
    }

    pub(super) fn put_versioning(&self, input: PutBucketVersioningInput) -> S3Result<PutBucketVersioningOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        let config = &input.versioning_configuration;
        let status = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            // S3 refuses a configuration without a valid Status: it cannot return a bucket to
            // the unversioned state.
            _ => return Err(super::s3_error(S3ErrorCode::MalformedXML)),
        };
        let mfa_delete = match config.mfa_delete.as_ref().map(MFADelete::as_str) {
            None => self.store.versioning(bucket).map_err(|err| refused(bucket, err))?.mfa_delete,
            Some("Enabled") => true,
            Some("Disabled") => false,
            Some(_) => return Err(super::s3_error(S3ErrorCode::MalformedXML)),
        };
        // S3 requires the MFA device's serial and code (`x-amz-mfa`) to change MFA Delete. The
        // sandbox requires the header but does not check the code, and records MFA Delete
        // without asking for the code on deletes.
        if config.mfa_delete.is_some() && input.mfa.as_deref().is_none_or(str::is_empty) {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Mfa Authentication must be used for this request: MFADelete takes the x-amz-mfa header (the \
                 device's serial number, a space, and its current code)."
                    .to_owned(),
            ));
        }
        self.store
            .set_versioning(bucket, VersioningConfig { status, mfa_delete })
            .map_err(|err| refused(bucket, err))?;
        Ok(PutBucketVersioningOutput::default())
    }

    pub(super) fn get_versioning(&self, input: GetBucketVersioningInput) -> S3Result<GetBucketVersioningOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        let config = self.store.versioning(bucket).map_err(|err| refused(bucket, err))?;
        let status = match config.status {
            // A bucket never versioned: S3 returns no Status element.
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            Versioning::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
        };
        let mfa_delete = match (config.status, config.mfa_delete) {
            (Versioning::Unversioned, _) => None,
            (_, true) => Some(MFADeleteStatus::from_static(MFADeleteStatus::ENABLED)),
            (_, false) => None,
        };
        Ok(GetBucketVersioningOutput { status, mfa_delete })
    }

    pub(super) fn delete_object_from_store(&self, req: S3Request<DeleteObjectInput>) -> S3Result<DeleteObjectOutput> {
        let request_id = RequestId::of(&req);
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let condition = write_condition(input.if_match.as_ref(), None)?;
        let deleted = self.remove(&input.bucket, &input.key, input.version_id.as_deref(), &condition, &request_id)?;
        Ok(DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            version_id: deleted.version_id,
            ..Default::default()
        })
    }

    /// Deletes as DeleteObject does, with the event S3 sends: `ObjectRemoved:DeleteMarkerCreated`
    /// for a new delete marker, `ObjectRemoved:Delete` for a version removed.
    fn remove(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        condition: &WriteCondition,
        request_id: &str,
    ) -> S3Result<Deleted> {
        let mut announced = 0;
        let deletion = self
            .store
            .delete_version(bucket, key, version_id, condition, |deletion, w| {
                let (version, event_name) = match deletion {
                    Deletion::Nothing => return Ok(()),
                    Deletion::Removed(version) => (version, "ObjectRemoved:Delete"),
                    Deletion::Marker(marker) => (marker, "ObjectRemoved:DeleteMarkerCreated"),
                };
                let event = ObjectEvent {
                    bucket: version.bucket.clone(),
                    key: version.key.clone(),
                    size: None,
                    etag: None,
                    version_id: shown_version_id(version),
                    event_name,
                    request_id: request_id.to_owned(),
                };
                announced = self.notifications.enqueue(w, &event)?;
                Ok(())
            })
            .map_err(|err| refused(bucket, err))?;
        if announced > 0 {
            self.delivery.wake();
        }
        Ok(match deletion {
            // S3 echoes the version id asked for, whether or not it existed.
            Deletion::Nothing => Deleted { delete_marker: false, version_id: version_id.map(str::to_owned) },
            Deletion::Removed(version) => Deleted {
                delete_marker: version.delete_marker,
                version_id: version_id.map(str::to_owned).or_else(|| shown_version_id(&version)),
            },
            Deletion::Marker(marker) => Deleted { delete_marker: true, version_id: Some(marker.version_id) },
        })
    }

    pub(super) fn delete_objects_from_store(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<DeleteObjectsOutput> {
        let request_id = RequestId::of(&req);
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        if input.delete.objects.is_empty() || input.delete.objects.len() > 1000 {
            return Err(s3_error(S3ErrorCode::MalformedXML));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for object in input.delete.objects {
            let condition = WriteCondition {
                if_match: object.e_tag.as_ref().map(|tag| tag.value().to_owned()),
                if_none_match: false,
            };
            let version_id = object.version_id.as_deref();
            match self.remove(&input.bucket, &object.key, version_id, &condition, &request_id) {
                Ok(_) if quiet => {}
                Ok(done) => {
                    // With a version id, S3 names the version deleted (and, when it was a
                    // marker, names it as the marker's too); without, the marker it created.
                    let marker_version_id = done.version_id.clone().filter(|_| done.delete_marker);
                    let version_id =
                        if object.version_id.is_some() || !done.delete_marker { done.version_id } else { None };
                    deleted.push(DeletedObject {
                        key: Some(object.key),
                        version_id,
                        delete_marker: done.delete_marker.then_some(true),
                        delete_marker_version_id: marker_version_id,
                    });
                }
                Err(err) => errors.push(Error {
                    code: Some(err.code().as_str().to_owned()),
                    key: Some(object.key),
                    message: err.message().map(str::to_owned),
                    version_id: object.version_id,
                }),
            }
        }
        Ok(DeleteObjectsOutput {
            deleted: (!deleted.is_empty()).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        })
    }
}
