//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
//!
//! Each part is a file of its own; completing an upload makes the chosen parts' files the
//! object's pieces, so no byte is read or written again (S3's checks — ascending part numbers,
//! each part uploaded with the ETag named, each but the last at least 5 MiB — are made in the
//! completion's transaction).

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::lists::{Encoding, owner};
use super::objects::{
    Wanted, copy_source, copy_source_conditions, etag, meta_from, receive, storage_class, timestamp, write_condition,
};
use super::{RequestId, SandboxS3, internal, refused, s3_error};
use crate::state::objects::listing::{Entry, Query};
use crate::state::objects::{Checksums, ChosenPart, Completion, Data, NULL_VERSION, Part, now_ms};

/// S3's highest part number.
const MAX_PART_NUMBER: i32 = 10_000;

fn check_part_number(number: i32) -> S3Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&number) {
        Ok(())
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive".to_owned(),
        ))
    }
}

/// A page size as S3 reads it: at most 1,000; a negative one is refused.
pub(super) fn page_size(value: Option<i32>, name: &str) -> S3Result<usize> {
    match value {
        None => Ok(1000),
        Some(n) if n < 0 => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Argument {name} must be an integer between 0 and 2147483647"),
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(1000).min(1000)),
    }
}

impl SandboxS3 {
    pub(super) fn create_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<CreateMultipartUploadOutput> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let storage_class = storage_class(input.storage_class.as_ref())?;
        let algorithm = input.checksum_algorithm.as_ref().map(|a| a.as_str().to_ascii_uppercase());
        let tags = super::tagging::from_header(input.tagging.as_deref())?;
        let mut meta = meta_from(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires.as_ref(),
            input.website_redirect_location,
            storage_class,
            input.metadata,
        );
        meta.checksum_algorithm.clone_from(&algorithm);
        let upload_id = self
            .store
            .create_upload(&input.bucket, &input.key, &meta, tags.as_deref())
            .map_err(|e| refused(&input.bucket, e))?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: algorithm.map(|_| ChecksumType::from("COMPOSITE".to_owned())),
            ..Default::default()
        })
    }

    pub(super) async fn upload_part_to_store(&self, req: S3Request<UploadPartInput>) -> S3Result<UploadPartOutput> {
        let input = req.input;
        check_part_number(input.part_number)?;
        self.check_bucket(&input.bucket)?;
        // Refused before the body is read: a part of no upload is not stored.
        self.store.upload(&input.bucket, &input.key, &input.upload_id).map_err(|e| refused(&input.bucket, e))?;
        let wanted = Wanted::new(
            input.checksum_algorithm.as_ref(),
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        );
        let received =
            receive(self.store.part_writer(), input.body, input.content_md5.as_deref(), wanted, req.trailing_headers)
                .await?;
        let checksums = received.checksums.clone();
        self.store_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number,
            received.data,
            received.size,
            &received.md5,
            checksums.clone(),
        )?;
        Ok(UploadPartOutput {
            e_tag: Some(etag(&received.md5)),
            checksum_crc32: checksums.crc32,
            checksum_crc32c: checksums.crc32c,
            checksum_sha1: checksums.sha1,
            checksum_sha256: checksums.sha256,
            checksum_crc64nvme: checksums.crc64nvme,
            ..Default::default()
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn store_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        data: Data,
        size: u64,
        md5: &str,
        checksums: Checksums,
    ) -> S3Result<u64> {
        let Data::Pieces(pieces) = data else {
            return Err(internal("a part was kept in memory instead of a file".to_owned()));
        };
        let Some(piece) = pieces.into_iter().next() else {
            return Err(internal("a part has no file".to_owned()));
        };
        let last_modified_ms = now_ms();
        let part = Part { number, size, etag: md5.to_owned(), last_modified_ms, checksums, blob: piece.blob };
        self.store.put_part(bucket, key, upload_id, part).map_err(|e| refused(bucket, e))?;
        Ok(last_modified_ms)
    }

    pub(super) async fn upload_part_copy_to_store(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<UploadPartCopyOutput> {
        let input = req.input;
        check_part_number(input.part_number)?;
        self.check_bucket(&input.bucket)?;
        self.store.upload(&input.bucket, &input.key, &input.upload_id).map_err(|e| refused(&input.bucket, e))?;
        let (source_bucket, source_key, source_version) = copy_source(&input.copy_source)?;
        self.check_bucket(&source_bucket)?;
        let (source, lease) = self.readable(&source_bucket, &source_key, source_version.as_deref(), true)?;
        copy_source_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let span = match input.copy_source_range.as_deref() {
            None => 0..source.size,
            Some(range) => copy_range(range, source.size)?,
        };
        let body = super::objects::stream(self.store.blobs(), source.data.clone(), span, lease);
        let received = receive(self.store.part_writer(), Some(body), None, Wanted::default(), None).await?;
        let last_modified_ms = self.store_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number,
            received.data,
            received.size,
            &received.md5,
            Checksums::default(),
        )?;
        Ok(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&received.md5)),
                last_modified: Some(timestamp(last_modified_ms)),
                ..Default::default()
            }),
            copy_source_version_id: (source.version_id != NULL_VERSION).then(|| source.version_id.clone()),
            ..Default::default()
        })
    }

    pub(super) fn complete_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let request_id = RequestId::of(&req);
        let host = req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
        let input = req.input;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        self.check_bucket(&bucket)?;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let parts = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if parts.is_empty() {
            return Err(s3_error(S3ErrorCode::MalformedXML));
        }
        let mut chosen = Vec::with_capacity(parts.len());
        for part in parts {
            let number = part.part_number.ok_or_else(|| s3_error(S3ErrorCode::MalformedXML))?;
            chosen.push(ChosenPart {
                number,
                etag: part.e_tag.map(ETag::into_value).unwrap_or_default(),
                checksums: Checksums {
                    crc32: part.checksum_crc32,
                    crc32c: part.checksum_crc32c,
                    sha1: part.checksum_sha1,
                    sha256: part.checksum_sha256,
                    crc64nvme: part.checksum_crc64nvme,
                    kind: None,
                },
            });
        }
        let mut announced = 0;
        let completion = self
            .store
            .complete(&bucket, &key, &input.upload_id, &chosen, &condition, |version, w| {
                let event =
                    super::objects::created_event(version, "ObjectCreated:CompleteMultipartUpload", &request_id);
                announced = self.notifications.enqueue(w, &event)?;
                Ok(())
            })
            .map_err(|e| refused(&bucket, e))?;
        if announced > 0 {
            self.delivery.wake();
        }
        let location = format!("http://{host}/{bucket}/{}", crate::aws::s3_url_encode(&key).replace('+', "%20"));
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            location: Some(location),
            ..Default::default()
        };
        match completion {
            Completion::New(version) => {
                let checksums = &version.meta.checksums;
                out.e_tag = Some(etag(&version.etag));
                out.checksum_crc32 = checksums.crc32.clone();
                out.checksum_crc32c = checksums.crc32c.clone();
                out.checksum_sha1 = checksums.sha1.clone();
                out.checksum_sha256 = checksums.sha256.clone();
                out.checksum_type = checksums.kind.clone().map(ChecksumType::from);
                out.version_id = (version.version_id != NULL_VERSION).then(|| version.version_id.clone());
            }
            Completion::Before { etag: previous, version_id } => {
                out.e_tag = Some(etag(&previous));
                out.version_id = (version_id != NULL_VERSION).then_some(version_id);
            }
        }
        Ok(out)
    }

    pub(super) fn abort_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<AbortMultipartUploadOutput> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        self.store.abort(&input.bucket, &input.key, &input.upload_id).map_err(|e| refused(&input.bucket, e))?;
        Ok(AbortMultipartUploadOutput::default())
    }

    pub(super) fn list_parts_page(&self, input: ListPartsInput) -> S3Result<ListPartsOutput> {
        self.check_bucket(&input.bucket)?;
        let max = page_size(input.max_parts, "max-parts")?;
        let after = input.part_number_marker.unwrap_or(0).max(0);
        let (upload, parts, more) = self
            .store
            .parts(&input.bucket, &input.key, &input.upload_id, after, max)
            .map_err(|e| refused(&input.bucket, e))?;
        let next = parts.last().map(|p| p.number);
        let parts = parts
            .into_iter()
            .map(|p| s3s::dto::Part {
                part_number: Some(p.number),
                size: i64::try_from(p.size).ok(),
                e_tag: Some(etag(&p.etag)),
                last_modified: Some(timestamp(p.last_modified_ms)),
                checksum_crc32: p.checksums.crc32,
                checksum_crc32c: p.checksums.crc32c,
                checksum_sha1: p.checksums.sha1,
                checksum_sha256: p.checksums.sha256,
                checksum_crc64nvme: p.checksums.crc64nvme,
            })
            .collect::<Vec<_>>();
        Ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: i32::try_from(max).ok(),
            is_truncated: Some(more),
            parts: (!parts.is_empty()).then_some(parts),
            initiator: Some(initiator()),
            owner: Some(owner()),
            storage_class: Some(StorageClass::from(upload.meta.storage_class.unwrap_or_else(|| "STANDARD".to_owned()))),
            checksum_algorithm: upload.meta.checksum_algorithm.map(ChecksumAlgorithm::from),
            ..Default::default()
        })
    }

    pub(super) fn list_uploads_page(&self, input: ListMultipartUploadsInput) -> S3Result<ListMultipartUploadsOutput> {
        self.check_bucket(&input.bucket)?;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let max = page_size(input.max_uploads, "max-uploads")?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let upload_id_marker = input.upload_id_marker.clone().filter(|_| input.key_marker.is_some());
        let query =
            Query { prefix: &prefix, delimiter: delimiter.as_deref(), marker: input.key_marker.as_deref(), max };
        let page = self
            .store
            .list_uploads(&input.bucket, &query, upload_id_marker.as_deref())
            .map_err(|e| refused(&input.bucket, e))?;
        let (mut uploads, mut prefixes) = (Vec::new(), Vec::new());
        let (mut next_key, mut next_upload) = (None, None);
        for entry in page.entries {
            match entry {
                Entry::Item(upload) => {
                    next_key = Some(upload.key.clone());
                    next_upload = Some(upload.upload_id.clone());
                    uploads.push(MultipartUpload {
                        key: Some(encoding.apply(&upload.key)),
                        upload_id: Some(upload.upload_id),
                        initiated: Some(timestamp(upload.initiated_ms)),
                        storage_class: Some(StorageClass::from(
                            upload.meta.storage_class.unwrap_or_else(|| "STANDARD".to_owned()),
                        )),
                        checksum_algorithm: upload.meta.checksum_algorithm.map(ChecksumAlgorithm::from),
                        initiator: Some(initiator()),
                        owner: Some(owner()),
                        ..Default::default()
                    });
                }
                Entry::Prefix(common) => {
                    next_key = Some(common.clone());
                    next_upload = None;
                    prefixes.push(CommonPrefix { prefix: Some(encoding.apply(&common)) });
                }
            }
        }
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            key_marker: Some(encoding.apply(input.key_marker.as_deref().unwrap_or_default())),
            upload_id_marker: Some(upload_id_marker.unwrap_or_default()),
            next_key_marker: next_key.as_deref().map(|k| encoding.apply(k)),
            next_upload_id_marker: next_upload,
            max_uploads: i32::try_from(max).ok(),
            is_truncated: Some(page.truncated),
            uploads: (!uploads.is_empty()).then_some(uploads),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            prefix: Some(encoding.apply(&prefix)),
            delimiter: delimiter.map(|d| encoding.apply(&d)),
            encoding_type: encoding.echo(),
            ..Default::default()
        })
    }
}

/// The `x-amz-copy-source-range` of UploadPartCopy (`bytes=first-last`), within the source.
fn copy_range(range: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let form = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the \
             zero-based offsets of the first and last bytes to copy"
                .to_owned(),
        )
    };
    let (first, last) = range.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(form)?;
    let (first, last): (u64, u64) = (first.parse().map_err(|_| form())?, last.parse().map_err(|_| form())?);
    if first > last {
        return Err(form());
    }
    if last >= size {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRange,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok(first..last + 1)
}

/// Who started an upload: the account itself, for the sandbox.
fn initiator() -> Initiator {
    Initiator { id: Some(format!("arn:aws:iam::{}:root", crate::ACCOUNT_ID)), display_name: None }
}

#[cfg(test)]
mod tests {
    use super::copy_range;

    #[test]
    fn copy_ranges_are_inclusive_and_within_the_source() {
        assert_eq!(copy_range("bytes=0-9", 10).expect("whole"), 0..10);
        assert_eq!(copy_range("bytes=3-3", 10).expect("one byte"), 3..4);
        assert!(copy_range("bytes=5-10", 10).is_err(), "past the end");
        assert!(copy_range("bytes=7-2", 10).is_err(), "backwards");
        assert!(copy_range("0-2", 10).is_err(), "no unit");
    }
}
