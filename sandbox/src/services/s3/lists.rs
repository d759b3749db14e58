//! Listings: ListBuckets, ListObjects (v1), ListObjectsV2, ListObjectVersions — S3's markers,
//! tokens and `encoding-type=url` over the store's one listing algorithm
//! ([`crate::state::objects::listing`]).
//!
//! What S3 echoes and when: v1 always has `Prefix` and `Marker` (empty when not sent) and
//! `NextMarker` only when a truncated page was asked with a delimiter; v2 has `KeyCount`,
//! `ContinuationToken`/`StartAfter` only when sent, and an opaque `NextContinuationToken` when
//! truncated; an empty `Delimiter` is no delimiter and is not echoed; `Owner` is in every v1
//! entry and in v2 only with `fetch-owner=true`. With `encoding-type=url` the keys, prefixes,
//! delimiter and markers come back URL-encoded as S3 encodes them (space as `+`; see
//! [`crate::aws::s3_url_encode`]).

use base64::Engine as _;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::multipart::page_size;
use super::objects::{etag, timestamp};
use super::{OWNER_ID, SandboxS3, refused};
use crate::aws::s3_url_encode;
use crate::state::objects::listing::{Entry, Query};
use crate::state::objects::{ObjectError, ObjectVersion};

/// Whether a listing asked for `encoding-type=url`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Encoding(bool);

impl Encoding {
    /// `url`, or none; anything else is S3's `InvalidArgument`.
    pub(super) fn of(encoding: Option<&EncodingType>) -> S3Result<Self> {
        match encoding.map(EncodingType::as_str) {
            None => Ok(Self(false)),
            Some(value) if value.eq_ignore_ascii_case(EncodingType::URL) => Ok(Self(true)),
            Some(_) => Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Invalid Encoding Method specified in Request".to_owned(),
            )),
        }
    }

    /// `value` as the listing shows it.
    pub(super) fn apply(self, value: &str) -> String {
        if self.0 { s3_url_encode(value) } else { value.to_owned() }
    }

    /// The `EncodingType` element.
    pub(super) fn echo(self) -> Option<EncodingType> {
        self.0.then(|| EncodingType::from_static(EncodingType::URL))
    }
}

/// The owner of everything in the sandbox: its one account.
pub(super) fn owner() -> Owner {
    Owner { id: Some(OWNER_ID.to_owned()), display_name: None }
}

/// A continuation token of ListObjectsV2: opaque to clients, the last key (or common prefix)
/// of the page it follows.
fn token(after: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("1\n{after}"))
}

/// The key a continuation token continues after.
fn untoken(token: &str) -> S3Result<String> {
    let incorrect = || {
        S3Error::with_message(S3ErrorCode::InvalidArgument, "The continuation token provided is incorrect".to_owned())
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| incorrect())?;
    let text = String::from_utf8(bytes).map_err(|_| incorrect())?;
    text.strip_prefix("1\n").map(str::to_owned).ok_or_else(incorrect)
}

/// An object as a listing shows it.
fn listed(version: &ObjectVersion, encoding: Encoding, with_owner: bool) -> Object {
    let checksums = &version.meta.checksums;
    Object {
        key: Some(encoding.apply(&version.key)),
        last_modified: Some(timestamp(version.last_modified_ms)),
        e_tag: Some(etag(&version.etag)),
        size: i64::try_from(version.size).ok(),
        storage_class: Some(ObjectStorageClass::from(
            version.meta.storage_class.clone().unwrap_or_else(|| "STANDARD".to_owned()),
        )),
        owner: with_owner.then(owner),
        checksum_algorithm: checksums.algorithm().map(|a| vec![ChecksumAlgorithm::from(a.to_owned())]),
        checksum_type: checksums.kind.clone().map(ChecksumType::from),
        ..Default::default()
    }
}

/// A listing's `max-keys`.
fn max_keys(value: Option<i32>) -> S3Result<usize> {
    page_size(value, "maxKeys")
}

impl SandboxS3 {
    pub(super) fn list_buckets_page(&self, input: ListBucketsInput) -> S3Result<ListBucketsOutput> {
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = match input.max_buckets {
            None => usize::MAX,
            Some(n) if (1..=10_000).contains(&n) => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Argument max-buckets must be an integer between 1 and 10000".to_owned(),
                ));
            }
        };
        let after = input.continuation_token.clone().unwrap_or_default();
        let all = self.store.buckets().map_err(|err| refused("", err))?;
        let mut matching = all.into_iter().filter(|b| b.name.starts_with(&prefix) && b.name > after).peekable();
        let mut buckets = Vec::new();
        while buckets.len() < max {
            let Some(bucket) = matching.next() else { break };
            buckets.push(Bucket {
                name: Some(bucket.name),
                creation_date: Some(timestamp(bucket.created_ms)),
                bucket_region: Some(crate::REGION.to_owned()),
            });
        }
        let more = matching.peek().is_some();
        let next = more.then(|| buckets.last().and_then(|b| b.name.clone())).flatten();
        Ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            prefix: input.prefix,
            continuation_token: next,
        })
    }

    pub(super) fn list_objects_v1(&self, input: ListObjectsInput) -> S3Result<ListObjectsOutput> {
        self.check_bucket(&input.bucket)?;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let marker = input.marker.clone().filter(|m| !m.is_empty());
        let query = Query { prefix: &prefix, delimiter: delimiter.as_deref(), marker: marker.as_deref(), max };
        let page = self.store.list(&input.bucket, &query).map_err(|e| refused(&input.bucket, e))?;
        let last = page.last_key(|v| v.key.as_str()).map(str::to_owned);
        let (mut contents, mut prefixes) = (Vec::new(), Vec::new());
        for entry in &page.entries {
            match entry {
                Entry::Item(version) => contents.push(listed(version, encoding, true)),
                Entry::Prefix(common) => prefixes.push(CommonPrefix { prefix: Some(encoding.apply(common)) }),
            }
        }
        Ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encoding.apply(&prefix)),
            marker: Some(encoding.apply(&marker.unwrap_or_default())),
            next_marker: last.filter(|_| page.truncated && delimiter.is_some()).map(|k| encoding.apply(&k)),
            delimiter: delimiter.map(|d| encoding.apply(&d)),
            max_keys: i32::try_from(max).ok(),
            is_truncated: Some(page.truncated),
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: encoding.echo(),
            ..Default::default()
        })
    }

    pub(super) fn list_objects_v2_page(&self, input: ListObjectsV2Input) -> S3Result<ListObjectsV2Output> {
        self.check_bucket(&input.bucket)?;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let after_token = input.continuation_token.as_deref().map(untoken).transpose()?;
        let start_after = input.start_after.clone().filter(|s| !s.is_empty());
        let marker = match (after_token, start_after.clone()) {
            (Some(token), Some(start)) => Some(token.max(start)),
            (token, start) => token.or(start),
        };
        let query = Query { prefix: &prefix, delimiter: delimiter.as_deref(), marker: marker.as_deref(), max };
        let page = self.store.list(&input.bucket, &query).map_err(|e| refused(&input.bucket, e))?;
        let with_owner = input.fetch_owner.unwrap_or(false);
        let (mut contents, mut prefixes) = (Vec::new(), Vec::new());
        for entry in &page.entries {
            match entry {
                Entry::Item(version) => contents.push(listed(version, encoding, with_owner)),
                Entry::Prefix(common) => prefixes.push(CommonPrefix { prefix: Some(encoding.apply(common)) }),
            }
        }
        let next = page.last_key(|v| v.key.as_str()).filter(|_| page.truncated).map(token);
        Ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encoding.apply(&prefix)),
            delimiter: delimiter.map(|d| encoding.apply(&d)),
            max_keys: i32::try_from(max).ok(),
            key_count: i32::try_from(page.entries.len()).ok(),
            is_truncated: Some(page.truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            start_after: start_after.map(|s| encoding.apply(&s)),
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: encoding.echo(),
            ..Default::default()
        })
    }

    pub(super) fn list_versions_page(&self, input: ListObjectVersionsInput) -> S3Result<ListObjectVersionsOutput> {
        self.check_bucket(&input.bucket)?;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let version_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
        if version_marker.is_some() && key_marker.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "A version-id marker cannot be specified without a key marker.".to_owned(),
            ));
        }
        let query = Query { prefix: &prefix, delimiter: delimiter.as_deref(), marker: key_marker.as_deref(), max };
        let page = self.store.list_versions(&input.bucket, &query, version_marker.as_deref()).map_err(|e| match e {
            ObjectError::NoSuchVersion => {
                S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid version id specified".to_owned())
            }
            other => refused(&input.bucket, other),
        })?;
        let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut next_key, mut next_version) = (None, None);
        for entry in &page.entries {
            match entry {
                Entry::Item(version) => {
                    next_key = Some(version.key.clone());
                    next_version = Some(version.version_id.clone());
                    if version.delete_marker {
                        markers.push(DeleteMarkerEntry {
                            key: Some(encoding.apply(&version.key)),
                            version_id: Some(version.version_id.clone()),
                            is_latest: Some(version.latest),
                            last_modified: Some(timestamp(version.last_modified_ms)),
                            owner: Some(owner()),
                        });
                        continue;
                    }
                    let checksums = &version.meta.checksums;
                    versions.push(s3s::dto::ObjectVersion {
                        key: Some(encoding.apply(&version.key)),
                        version_id: Some(version.version_id.clone()),
                        is_latest: Some(version.latest),
                        last_modified: Some(timestamp(version.last_modified_ms)),
                        e_tag: Some(etag(&version.etag)),
                        size: i64::try_from(version.size).ok(),
                        storage_class: Some(ObjectVersionStorageClass::from(
                            version.meta.storage_class.clone().unwrap_or_else(|| "STANDARD".to_owned()),
                        )),
                        owner: Some(owner()),
                        checksum_algorithm: checksums.algorithm().map(|a| vec![ChecksumAlgorithm::from(a.to_owned())]),
                        checksum_type: checksums.kind.clone().map(ChecksumType::from),
                        ..Default::default()
                    });
                }
                Entry::Prefix(common) => {
                    next_key = Some(common.clone());
                    next_version = None;
                    prefixes.push(CommonPrefix { prefix: Some(encoding.apply(common)) });
                }
            }
        }
        let truncated = page.truncated;
        Ok(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encoding.apply(&prefix)),
            key_marker: Some(encoding.apply(&key_marker.unwrap_or_default())),
            version_id_marker: Some(version_marker.unwrap_or_default()),
            next_key_marker: next_key.filter(|_| truncated).map(|k| encoding.apply(&k)),
            next_version_id_marker: next_version.filter(|_| truncated),
            delimiter: delimiter.map(|d| encoding.apply(&d)),
            max_keys: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            versions: (!versions.is_empty()).then_some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: encoding.echo(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_opaque_and_read_back() {
        for key in ["", "a", "dir/ü key+1", "a\nb"] {
            assert_eq!(untoken(&token(key)).expect("token"), key);
        }
        assert!(untoken("not a token").is_err());
        assert!(untoken(&base64::engine::general_purpose::STANDARD.encode("2\nx")).is_err());
    }

    #[test]
    fn only_url_is_an_encoding() {
        assert!(Encoding::of(Some(&EncodingType::from("gibberish".to_owned()))).is_err());
        assert_eq!(Encoding::of(Some(&EncodingType::from_static(EncodingType::URL))).expect("url").apply("a b"), "a+b");
        assert_eq!(Encoding::of(None).expect("none").apply("a b"), "a b");
    }
}
