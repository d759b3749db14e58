//! Tags: Put/Get/DeleteObjectTagging (by `versionId` too), Put/Get/DeleteBucketTagging, and the
//! `x-amz-tagging` header of PutObject, CreateMultipartUpload and CopyObject — with S3's
//! limits: at most 10 tags on an object (`BadRequest`) and 50 on a bucket, a key of 1 to 128
//! characters and a value of up to 256 (`InvalidTag`), each key once.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::versions::shown_version_id;
use super::{SandboxS3, refused};
use crate::state::objects::tagging::{Tags, from_column, to_column};

/// At most this many tags on an object.
const MAX_OBJECT_TAGS: usize = 10;
/// At most this many tags on a bucket.
const MAX_BUCKET_TAGS: usize = 50;

fn invalid_tag(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, message.to_owned())
}

/// S3's checks on a tag set of at most `max` tags.
fn check(tags: &Tags, max: usize, what: &str) -> S3Result<()> {
    if tags.len() > max {
        let code = S3ErrorCode::from_bytes(b"BadRequest").unwrap_or(S3ErrorCode::InvalidTag);
        let mut err = S3Error::with_message(code, format!("{what} tags cannot be greater than {max}"));
        err.set_status_code(http::StatusCode::BAD_REQUEST);
        return Err(err);
    }
    let mut seen = std::collections::HashSet::new();
    for (key, value) in tags {
        if key.is_empty() {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if key.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is too long, max 128"));
        }
        if value.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is too long, max 256"));
        }
        if !seen.insert(key) {
            return Err(invalid_tag("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

/// The tags of an `x-amz-tagging` header (URL query form: `k1=v1&k2=v2`), checked; stored form.
pub(super) fn from_header(header: Option<&str>) -> S3Result<Option<String>> {
    let Some(header) = header.filter(|h| !h.is_empty()) else { return Ok(None) };
    let tags: Tags = form_urlencoded::parse(header.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    check(&tags, MAX_OBJECT_TAGS, "Object")?;
    to_column(&tags).map_err(|err| refused("", err))
}

/// How many tags a stored tag set holds (`x-amz-tagging-count`; none for none).
pub(super) fn count(column: Option<&str>) -> Option<i32> {
    let tags = from_column(column);
    (!tags.is_empty()).then(|| i32::try_from(tags.len()).unwrap_or(i32::MAX))
}

fn from_tagging(tagging: Tagging) -> Tags {
    tagging.tag_set.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect()
}

fn tag_set(tags: Tags) -> TagSet {
    tags.into_iter().map(|(key, value)| Tag { key: Some(key), value: Some(value) }).collect()
}

impl SandboxS3 {
    pub(super) fn put_object_tags(&self, input: PutObjectTaggingInput) -> S3Result<PutObjectTaggingOutput> {
        let tags = from_tagging(input.tagging);
        check(&tags, MAX_OBJECT_TAGS, "Object")?;
        let (version, _lease) = self.readable(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        self.store
            .set_object_tags(&input.bucket, &input.key, &version.version_id, &tags)
            .map_err(|err| refused(&input.bucket, err))?;
        Ok(PutObjectTaggingOutput { version_id: shown_version_id(&version) })
    }

    pub(super) fn get_object_tags(&self, input: GetObjectTaggingInput) -> S3Result<GetObjectTaggingOutput> {
        let (version, _lease) = self.readable(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        Ok(GetObjectTaggingOutput {
            tag_set: tag_set(from_column(version.tags.as_deref())),
            version_id: shown_version_id(&version),
        })
    }

    pub(super) fn delete_object_tags(&self, input: DeleteObjectTaggingInput) -> S3Result<DeleteObjectTaggingOutput> {
        let (version, _lease) = self.readable(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        self.store
            .set_object_tags(&input.bucket, &input.key, &version.version_id, &Tags::new())
            .map_err(|err| refused(&input.bucket, err))?;
        Ok(DeleteObjectTaggingOutput { version_id: shown_version_id(&version) })
    }

    pub(super) fn put_bucket_tags(&self, input: PutBucketTaggingInput) -> S3Result<PutBucketTaggingOutput> {
        self.check_bucket(&input.bucket)?;
        let tags = from_tagging(input.tagging);
        check(&tags, MAX_BUCKET_TAGS, "Bucket")?;
        self.store.set_bucket_tags(&input.bucket, &tags).map_err(|err| refused(&input.bucket, err))?;
        Ok(PutBucketTaggingOutput::default())
    }

    pub(super) fn get_bucket_tags(&self, input: GetBucketTaggingInput) -> S3Result<GetBucketTaggingOutput> {
        self.check_bucket(&input.bucket)?;
        let tags = self.store.bucket_tags(&input.bucket).map_err(|err| refused(&input.bucket, err))?;
        if tags.is_empty() {
            return Err(S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist".to_owned()));
        }
        Ok(GetBucketTaggingOutput { tag_set: tag_set(tags) })
    }

    pub(super) fn delete_bucket_tags(&self, input: DeleteBucketTaggingInput) -> S3Result<DeleteBucketTaggingOutput> {
        self.check_bucket(&input.bucket)?;
        self.store.set_bucket_tags(&input.bucket, &Tags::new()).map_err(|err| refused(&input.bucket, err))?;
        Ok(DeleteBucketTaggingOutput::default())
    }
}
