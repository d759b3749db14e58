//! GetObjectAttributes: the attributes asked for (`ETag`, `Checksum`, `ObjectParts`,
//! `StorageClass`, `ObjectSize`) of the current version or of `versionId`, without the body;
//! a multipart object's parts a page at a time (`max-parts`, `part-number-marker`).

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::SandboxS3;
use super::objects::{etag, timestamp};
use super::versions::shown_version_id;

/// At most this many parts on a page (S3's default and largest `max-parts`).
const MAX_PARTS: i32 = 1000;

impl SandboxS3 {
    pub(super) fn object_attributes(&self, input: GetObjectAttributesInput) -> S3Result<GetObjectAttributesOutput> {
        let mut wanted = Vec::new();
        // One header of comma-separated names (as boto3 sends it) or several headers.
        let names = input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).map(str::trim);
        for attribute in names.filter(|n| !n.is_empty()) {
            match attribute {
                name @ ("ETag" | "Checksum" | "ObjectParts" | "StorageClass" | "ObjectSize") => wanted.push(name),
                other => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        format!("Invalid attribute name specified: {other}"),
                    ));
                }
            }
        }
        if wanted.is_empty() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "x-amz-object-attributes names no attribute".to_owned(),
            ));
        }
        let (version, _lease) = self.readable(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        let meta = &version.meta;
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(timestamp(version.last_modified_ms)),
            version_id: shown_version_id(&version),
            ..Default::default()
        };
        if wanted.contains(&"ETag") {
            out.e_tag = Some(etag(&version.etag));
        }
        if wanted.contains(&"ObjectSize") {
            out.object_size = i64::try_from(version.size).ok();
        }
        if wanted.contains(&"StorageClass") {
            out.storage_class =
                Some(StorageClass::from(meta.storage_class.clone().unwrap_or_else(|| "STANDARD".to_owned())));
        }
        if wanted.contains(&"Checksum") && !meta.checksums.is_empty() {
            let sums = &meta.checksums;
            out.checksum = Some(Checksum {
                checksum_crc32: sums.crc32.clone(),
                checksum_crc32c: sums.crc32c.clone(),
                checksum_crc64nvme: sums.crc64nvme.clone(),
                checksum_sha1: sums.sha1.clone(),
                checksum_sha256: sums.sha256.clone(),
                checksum_type: sums.kind.clone().map(ChecksumType::from),
            });
        }
        if wanted.contains(&"ObjectParts") && !meta.part_sizes.is_empty() {
            let max = input.max_parts.unwrap_or(MAX_PARTS).clamp(0, MAX_PARTS);
            let after = input.part_number_marker.unwrap_or(0).max(0);
            let numbered =
                meta.part_sizes.iter().enumerate().map(|(i, size)| (i32::try_from(i + 1).unwrap_or(i32::MAX), *size));
            let remaining: Vec<(i32, u64)> = numbered.filter(|(n, _)| *n > after).collect();
            let page: Vec<(i32, u64)> = remaining.iter().take(usize::try_from(max).unwrap_or(0)).copied().collect();
            let truncated = remaining.len() > page.len();
            out.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: i32::try_from(meta.part_sizes.len()).ok(),
                part_number_marker: Some(after),
                next_part_number_marker: page.last().map(|(n, _)| *n).filter(|_| truncated),
                max_parts: Some(max),
                is_truncated: Some(truncated),
                parts: Some(
                    page.into_iter()
                        .map(|(number, size)| ObjectPart {
                            part_number: Some(number),
                            size: i64::try_from(size).ok(),
                            ..Default::default()
                        })
                        .collect(),
                ),
            });
        }
        Ok(out)
    }
}
