//! Objects: PutObject, GetObject, HeadObject, DeleteObject(s), CopyObject — S3's rules for
//! each (conditional reads and writes, checksums, ranges, CopyObject's directives), over the
//! object store.

use std::collections::VecDeque;
use std::io::{self, Seek as _};
use std::ops::Range as Span;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};
use tokio::io::AsyncReadExt as _;
use tokio_util::io::ReaderStream;

use super::notify::ObjectEvent;
use super::{RequestId, SandboxS3, internal, refused, s3_error};
use crate::state::objects::{
    Blobs, Checksums, Data, Lease, NULL_VERSION, NewObject, ObjectMeta, ObjectVersion, PayloadWriter, Piece,
    WriteCondition,
};

/// How much of an object one read of a download takes.
const READ_CHUNK: usize = 1024 * 1024;

/// Milliseconds since the epoch as an S3 timestamp.
pub(super) fn timestamp(ms: u64) -> Timestamp {
    let nanos = i128::from(ms) * 1_000_000;
    Timestamp::from(time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
}

/// Seconds since the epoch of an S3 timestamp (HTTP dates have whole seconds).
fn unix_seconds(timestamp: &Timestamp) -> i64 {
    time::OffsetDateTime::from(timestamp.clone()).unix_timestamp()
}

/// A timestamp as it is stored (`Expires`): the HTTP date form.
pub(super) fn format_http_date(timestamp: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    timestamp.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// A stored `Expires` back as a timestamp (the HTTP date form, or the ISO form an earlier
/// sandbox stored).
fn parse_stored_date(value: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, value)
        .or_else(|_| Timestamp::parse(TimestampFormat::DateTime, value))
        .ok()
}

/// An ETag header value.
pub(super) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// S3's storage classes; anything else is `InvalidStorageClass`.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// The storage class to store: `None` for STANDARD (which S3 does not show in headers).
pub(super) fn storage_class(class: Option<&StorageClass>) -> S3Result<Option<String>> {
    match class.map(StorageClass::as_str) {
        None | Some("STANDARD") => Ok(None),
        Some(class) if STORAGE_CLASSES.contains(&class) => Ok(Some(class.to_owned())),
        Some(class) => Err(S3Error::with_message(
            S3ErrorCode::InvalidStorageClass,
            format!("The storage class you specified is not valid: {class}"),
        )),
    }
}

/// The stored headers and metadata a write sends.
#[allow(clippy::too_many_arguments)]
pub(super) fn meta_from(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
    website_redirect_location: Option<String>,
    storage_class: Option<String>,
    metadata: Option<Metadata>,
) -> ObjectMeta {
    ObjectMeta {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires: expires.and_then(format_http_date),
        website_redirect_location,
        storage_class,
        user: metadata.into_iter().flatten().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
        ..ObjectMeta::default()
    }
}

/// The checksums a request sent (headers, or trailers once the body was read) and asked for.
#[derive(Debug, Default)]
pub(super) struct Wanted {
    sent: Checksums,
    algorithm: Option<String>,
}

impl Wanted {
    pub(super) fn new(
        algorithm: Option<&ChecksumAlgorithm>,
        crc32: Option<String>,
        crc32c: Option<String>,
        sha1: Option<String>,
        sha256: Option<String>,
        crc64nvme: Option<String>,
    ) -> Self {
        Self {
            sent: Checksums { crc32, crc32c, sha1, sha256, crc64nvme, kind: None },
            algorithm: algorithm.map(|a| a.as_str().to_ascii_uppercase()),
        }
    }

    /// A hasher for every checksum sent or asked for.
    fn hasher(&self) -> S3Result<s3s::checksum::ChecksumHasher> {
        let mut hasher = s3s::checksum::ChecksumHasher::default();
        let sent = &self.sent;
        let asked = |name: &str| self.algorithm.as_deref() == Some(name);
        if sent.crc32.is_some() || asked("CRC32") {
            hasher.crc32 = Some(Default::default());
        }
        if sent.crc32c.is_some() || asked("CRC32C") {
            hasher.crc32c = Some(Default::default());
        }
        if sent.sha1.is_some() || asked("SHA1") {
            hasher.sha1 = Some(Default::default());
        }
        if sent.sha256.is_some() || asked("SHA256") {
            hasher.sha256 = Some(Default::default());
        }
        if sent.crc64nvme.is_some() || asked("CRC64NVME") {
            hasher.crc64nvme = Some(Default::default());
        }
        if let Some(algorithm) = &self.algorithm
            && !["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"].contains(&algorithm.as_str())
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!("Value for x-amz-checksum-algorithm header is invalid: {algorithm}"),
            ));
        }
        Ok(hasher)
    }

    /// Takes the checksums sent as trailers (streamed uploads send them after the body).
    fn add_trailers(&mut self, trailers: Option<&http::HeaderMap>) {
        let Some(trailers) = trailers else { return };
        let value = |name: &str| trailers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let sent = &mut self.sent;
        sent.crc32 = sent.crc32.take().or_else(|| value("x-amz-checksum-crc32"));
        sent.crc32c = sent.crc32c.take().or_else(|| value("x-amz-checksum-crc32c"));
        sent.sha1 = sent.sha1.take().or_else(|| value("x-amz-checksum-sha1"));
        sent.sha256 = sent.sha256.take().or_else(|| value("x-amz-checksum-sha256"));
        sent.crc64nvme = sent.crc64nvme.take().or_else(|| value("x-amz-checksum-crc64nvme"));
    }

    /// The computed checksums, after checking each that was sent: `BadDigest` when one differs.
    fn check(&self, computed: s3s::dto::Checksum) -> S3Result<Checksums> {
        let computed = Checksums {
            crc32: computed.checksum_crc32,
            crc32c: computed.checksum_crc32c,
            sha1: computed.checksum_sha1,
            sha256: computed.checksum_sha256,
            crc64nvme: computed.checksum_crc64nvme,
            kind: None,
        };
        let pairs = [
            ("CRC32", &self.sent.crc32, &computed.crc32),
            ("CRC32C", &self.sent.crc32c, &computed.crc32c),
            ("SHA1", &self.sent.sha1, &computed.sha1),
            ("SHA256", &self.sent.sha256, &computed.sha256),
            ("CRC64NVME", &self.sent.crc64nvme, &computed.crc64nvme),
        ];
        for (name, sent, computed) in pairs {
            if sent.is_some() && sent != computed {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!("The {name} you specified did not match the calculated checksum."),
                ));
            }
        }
        let kind = (!computed.is_empty()).then(|| "FULL_OBJECT".to_owned());
        Ok(Checksums { kind, ..computed })
    }
}

/// A body as received: stored, measured and hashed.
pub(super) struct Received {
    pub(super) data: Data,
    pub(super) size: u64,
    /// The MD5 of the bytes, hex: the ETag of a single-part object or a part.
    pub(super) md5: String,
    pub(super) checksums: Checksums,
}

/// Reads `body` into `writer`, hashing as it goes, then checks `Content-MD5` and the checksums.
/// On any failure the bytes written are removed (the writer's drop does it).
pub(super) async fn receive(
    mut writer: PayloadWriter,
    body: Option<StreamingBlob>,
    content_md5: Option<&str>,
    mut wanted: Wanted,
    trailers: Option<s3s::TrailingHeaders>,
) -> S3Result<Received> {
    use md5::Digest as _;
    let mut md5 = md5::Md5::new();
    let mut hasher = wanted.hasher()?;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| {
                S3Error::with_message(S3ErrorCode::IncompleteBody, format!("the request body ended early: {err}"))
            })?;
            md5.update(&chunk);
            hasher.update(&chunk);
            writer.write(&chunk).await.map_err(|err| internal(format!("cannot store the object's bytes: {err}")))?;
        }
    }
    let md5 = md5.finalize();
    if let Some(content_md5) = content_md5 {
        use base64::Engine as _;
        let sent = base64::engine::general_purpose::STANDARD.decode(content_md5).ok().filter(|d| d.len() == 16);
        let Some(sent) = sent else {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidDigest,
                "The Content-MD5 you specified was invalid.".to_owned(),
            ));
        };
        if sent.as_slice() != md5.as_slice() {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.".to_owned(),
            ));
        }
    }
    wanted.add_trailers(trailers.and_then(|t| t.take()).as_ref());
    let checksums = wanted.check(hasher.finalize())?;
    let size = writer.size();
    let data = writer.finish().await.map_err(|err| internal(format!("cannot store the object's bytes: {err}")))?;
    Ok(Received { data, size, md5: hex::encode(md5), checksums })
}

/// What S3 answers a conditional read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// Whether `condition` (an `If-Match` or `If-None-Match` value) names `etag`.
fn names(condition: &ETagCondition, etag: &str) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == etag,
    }
}

/// RFC 7232's evaluation, as S3 documents it: `If-Match` before `If-Unmodified-Since` (a
/// matching `If-Match` wins over a failing `If-Unmodified-Since`: 200), then `If-None-Match`
/// before `If-Modified-Since` (a failing `If-None-Match` wins over a passing
/// `If-Modified-Since`: 304). Dates compare to the second.
pub(super) fn evaluate(
    version: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> Verdict {
    let modified = i64::try_from(version.last_modified_ms / 1000).unwrap_or(i64::MAX);
    if let Some(condition) = if_match {
        if !names(condition, &version.etag) {
            return Verdict::PreconditionFailed;
        }
    } else if let Some(since) = if_unmodified_since
        && modified > unix_seconds(since)
    {
        return Verdict::PreconditionFailed;
    }
    if let Some(condition) = if_none_match {
        if names(condition, &version.etag) {
            return Verdict::NotModified;
        }
    } else if let Some(since) = if_modified_since
        && modified <= unix_seconds(since)
    {
        return Verdict::NotModified;
    }
    Verdict::Proceed
}

/// A GetObject's or HeadObject's conditional headers against `version`: `Ok` to read it, else
/// S3's 304 or 412.
fn check_read_conditions(
    version: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match evaluate(version, if_match, if_none_match, if_modified_since, if_unmodified_since) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified => Err(not_modified(version)),
        Verdict::PreconditionFailed => Err(s3_error(S3ErrorCode::PreconditionFailed)),
    }
}

/// 304 Not Modified, with the ETag and Last-Modified S3 sends with it.
fn not_modified(version: &ObjectVersion) -> S3Error {
    let mut err = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&format!("\"{}\"", version.etag)) {
        headers.insert(http::header::ETAG, value);
    }
    if let Some(date) = format_http_date(&timestamp(version.last_modified_ms))
        && let Ok(value) = http::HeaderValue::from_str(&date)
    {
        headers.insert(http::header::LAST_MODIFIED, value);
    }
    err.set_headers(headers);
    err
}

/// The write precondition of `If-Match` / `If-None-Match`: `If-None-Match` only as `*`, and not
/// both (S3 answers either with 501 NotImplemented).
pub(super) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    if if_match.is_some() && if_none_match.is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: If-Match together with \
             If-None-Match"
                .to_owned(),
        ));
    }
    if let Some(ETagCondition::ETag(_)) = if_none_match {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "A header you provided implies functionality that is not implemented: If-None-Match takes only *"
                .to_owned(),
        ));
    }
    Ok(WriteCondition {
        if_match: if_match.map(|c| match c {
            ETagCondition::Any => "*".to_owned(),
            ETagCondition::ETag(tag) => tag.value().to_owned(),
        }),
        if_none_match: if_none_match.is_some(),
    })
}

/// The part of an object a read asks for: its span and, for a part or a range, the
/// `Content-Range`; `parts_count` for a `partNumber` read of a multipart object.
struct Slice {
    span: Span<u64>,
    content_range: Option<String>,
    parts_count: Option<i32>,
}

fn slice(version: &ObjectVersion, range: Option<&Range>, part_number: Option<i32>) -> S3Result<Slice> {
    let size = version.size;
    let whole = Slice { span: 0..size, content_range: None, parts_count: None };
    match (range, part_number) {
        (Some(_), Some(_)) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter".to_owned(),
        )),
        (Some(range), None) => {
            let span = range.check(size).map_err(|_| s3_error(S3ErrorCode::InvalidRange))?;
            let content_range = format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1));
            Ok(Slice { span, content_range: Some(content_range), parts_count: None })
        }
        (None, Some(number)) => {
            let parts = &version.meta.part_sizes;
            if parts.is_empty() {
                return if number == 1 { Ok(whole) } else { Err(invalid_part_number()) };
            }
            let index = usize::try_from(number)
                .ok()
                .filter(|n| (1..=parts.len()).contains(n))
                .ok_or_else(invalid_part_number)?;
            let start: u64 = parts[..index - 1].iter().sum();
            let span = start..start + parts[index - 1];
            let content_range = format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1));
            Ok(Slice { span, content_range: Some(content_range), parts_count: i32::try_from(parts.len()).ok() })
        }
        (None, None) => Ok(whole),
    }
}

/// S3's answer to a `partNumber` the object does not have: 416 InvalidPartNumber.
fn invalid_part_number() -> S3Error {
    let code = S3ErrorCode::from_bytes(b"InvalidPartNumber").unwrap_or(S3ErrorCode::InvalidArgument);
    let mut err = S3Error::with_message(code, "The requested partnumber is not satisfiable".to_owned());
    err.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
    err
}

/// The bytes of `data` in `span`, streamed: inline bytes at once, files 1 MiB per read, in order.
pub(super) fn stream(blobs: &Blobs, data: Data, span: Span<u64>, lease: Lease) -> StreamingBlob {
    match data {
        Data::Inline(bytes) => {
            let start = usize::try_from(span.start).unwrap_or(usize::MAX).min(bytes.len());
            let end = usize::try_from(span.end).unwrap_or(usize::MAX).min(bytes.len());
            StreamingBlob::from(s3s::Body::from(bytes.slice(start..end)))
        }
        Data::Pieces(pieces) => StreamingBlob::wrap(PieceStream::new(blobs.clone(), &pieces, span, lease)),
    }
}

/// The files of an object, read in order from a span of it.
struct PieceStream {
    blobs: Blobs,
    /// (blob, offset in it, length) still to read.
    spans: VecDeque<(String, u64, u64)>,
    current: Option<ReaderStream<tokio::io::Take<tokio::fs::File>>>,
    _lease: Lease,
}

impl PieceStream {
    fn new(blobs: Blobs, pieces: &[Piece], span: Span<u64>, lease: Lease) -> Self {
        let mut spans = VecDeque::new();
        let mut offset = 0;
        for piece in pieces {
            let (start, end) = (offset, offset + piece.size);
            offset = end;
            if end > span.start && start < span.end {
                let from = span.start.max(start);
                let to = span.end.min(end);
                spans.push_back((piece.blob.clone(), from - start, to - from));
            }
        }
        Self { blobs, spans, current: None, _lease: lease }
    }
}

impl Stream for PieceStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(current) = &mut self.current {
                match Pin::new(current).poll_next(cx) {
                    Poll::Ready(None) => self.current = None,
                    other => return other,
                }
            }
            let Some((blob, offset, len)) = self.spans.pop_front() else { return Poll::Ready(None) };
            // Opening and seeking a local file takes microseconds: done here rather than with a
            // hop to the blocking pool.
            let opened = self.blobs.open_blob(&blob).and_then(|mut file| {
                file.seek(io::SeekFrom::Start(offset))?;
                Ok(file)
            });
            match opened {
                Ok(file) => {
                    let reader = tokio::fs::File::from_std(file).take(len);
                    self.current = Some(ReaderStream::with_capacity(reader, READ_CHUNK));
                }
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
        }
    }
}

/// Sets the headers GET and HEAD share, from the stored version.
macro_rules! object_headers {
    ($out:expr, $version:expr, $checksums:expr) => {{
        let version: &ObjectVersion = $version;
        let meta = &version.meta;
        $out.e_tag = Some(etag(&version.etag));
        $out.last_modified = Some(timestamp(version.last_modified_ms));
        $out.accept_ranges = Some("bytes".to_owned());
        $out.content_type = Some(meta.content_type.clone().unwrap_or_else(|| "binary/octet-stream".to_owned()));
        $out.content_encoding = meta.content_encoding.clone();
        $out.content_disposition = meta.content_disposition.clone();
        $out.content_language = meta.content_language.clone();
        $out.cache_control = meta.cache_control.clone();
        $out.expires = meta.expires.as_deref().and_then(parse_stored_date);
        $out.website_redirect_location = meta.website_redirect_location.clone();
        $out.storage_class = meta.storage_class.clone().map(StorageClass::from);
        $out.metadata = (!meta.user.is_empty()).then(|| meta.user.clone().into_iter().collect());
        $out.version_id = (version.version_id != NULL_VERSION).then(|| version.version_id.clone());
        if $checksums {
            $out.checksum_crc32 = meta.checksums.crc32.clone();
            $out.checksum_crc32c = meta.checksums.crc32c.clone();
            $out.checksum_sha1 = meta.checksums.sha1.clone();
            $out.checksum_sha256 = meta.checksums.sha256.clone();
            $out.checksum_crc64nvme = meta.checksums.crc64nvme.clone();
            $out.checksum_type = meta.checksums.kind.clone().map(ChecksumType::from);
        }
    }};
}

fn checksum_mode_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case("ENABLED"))
}

impl SandboxS3 {
    pub(super) async fn put_object_in_store(&self, req: S3Request<PutObjectInput>) -> S3Result<PutObjectOutput> {
        let request_id = RequestId::of(&req);
        let input = req.input;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        self.check_bucket(&bucket)?;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let storage_class = storage_class(input.storage_class.as_ref())?;
        // Checked before the body is stored, so a refused tag set leaves no file behind.
        let tags = super::tagging::from_header(input.tagging.as_deref())?;
        let wanted = Wanted::new(
            input.checksum_algorithm.as_ref(),
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        );
        let received =
            receive(self.store.object_writer(), input.body, input.content_md5.as_deref(), wanted, req.trailing_headers)
                .await?;
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
        meta.checksums = received.checksums;
        let new = NewObject { meta, data: received.data, size: received.size, etag: received.md5, tags };
        let version = self.write(&bucket, &key, new, condition, "ObjectCreated:Put", &request_id).await?;
        let checksums = &version.meta.checksums;
        Ok(PutObjectOutput {
            e_tag: Some(etag(&version.etag)),
            checksum_crc32: checksums.crc32.clone(),
            checksum_crc32c: checksums.crc32c.clone(),
            checksum_sha1: checksums.sha1.clone(),
            checksum_sha256: checksums.sha256.clone(),
            checksum_crc64nvme: checksums.crc64nvme.clone(),
            checksum_type: checksums.kind.clone().map(ChecksumType::from),
            version_id: (version.version_id != NULL_VERSION).then(|| version.version_id.clone()),
            ..Default::default()
        })
    }

    /// Writes a new version with its `event_name` event, and wakes the delivery.
    pub(super) async fn write(
        &self,
        bucket: &str,
        key: &str,
        new: NewObject,
        condition: WriteCondition,
        event_name: &'static str,
        request_id: &str,
    ) -> S3Result<ObjectVersion> {
        let (notifications, request_id) = (self.notifications.clone(), request_id.to_owned());
        let (version, announced) = self
            .store
            .put(bucket, key, new, condition, move |version, w| {
                notifications.enqueue(w, &created_event(version, event_name, &request_id))
            })
            .await
            .map_err(|err| refused(bucket, err))?;
        if announced > 0 {
            self.delivery.wake();
        }
        Ok(version)
    }

    pub(super) async fn get_object_from_store(&self, req: S3Request<GetObjectInput>) -> S3Result<GetObjectOutput> {
        let input = req.input;
        let (version, lease) = self.readable(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        check_read_conditions(
            &version,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let slice = slice(&version, input.range.as_ref(), input.part_number)?;
        let whole = slice.content_range.is_none();
        let mut out = GetObjectOutput::default();
        object_headers!(out, &version, whole && checksum_mode_enabled(input.checksum_mode.as_ref()));
        out.content_length = i64::try_from(slice.span.end - slice.span.start).ok();
        out.content_range = slice.content_range;
        out.parts_count = slice.parts_count;
        out.tag_count = super::tagging::count(version.tags.as_deref());
        out.body = Some(stream(self.store.blobs(), version.data.clone(), slice.span, lease));
        Ok(out)
    }

    pub(super) fn head_object_from_store(&self, req: S3Request<HeadObjectInput>) -> S3Result<HeadObjectOutput> {
        let input = req.input;
        let (version, _lease) = self.readable(&input.bucket, &input.key, input.version_id.as_deref(), false)?;
        check_read_conditions(
            &version,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let slice = slice(&version, input.range.as_ref(), input.part_number)?;
        let whole = slice.content_range.is_none();
        let mut out = HeadObjectOutput::default();
        object_headers!(out, &version, whole && checksum_mode_enabled(input.checksum_mode.as_ref()));
        out.content_length = i64::try_from(slice.span.end - slice.span.start).ok();
        out.content_range = slice.content_range;
        out.parts_count = slice.parts_count;
        Ok(out)
    }

    pub(super) async fn copy_object_in_store(&self, req: S3Request<CopyObjectInput>) -> S3Result<CopyObjectOutput> {
        let request_id = RequestId::of(&req);
        let input = req.input;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        self.check_bucket(&bucket)?;
        let (source_bucket, source_key, source_version) = copy_source(&input.copy_source)?;
        self.check_bucket(&source_bucket)?;
        let (source, _lease) = self.readable(&source_bucket, &source_key, source_version.as_deref(), true)?;
        copy_source_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )?;
        let replace = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown metadata directive: {other}"),
                ));
            }
        };
        let storage_class = storage_class(input.storage_class.as_ref())?;
        // A copy of an earlier version onto its key restores it (S3's user guide, "Restoring
        // previous versions"): only a copy of the current version is a copy onto itself.
        let same_object = source_bucket == bucket && source_key == key && source.latest;
        // S3: "This copy request is illegal because it is trying to copy an object to itself
        // without changing the object's metadata, storage class, website redirect location or
        // encryption attributes."
        if same_object
            && !replace
            && input.storage_class.is_none()
            && input.website_redirect_location.is_none()
            && input.server_side_encryption.is_none()
            && input.ssekms_key_id.is_none()
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the \
                 object's metadata, storage class, website redirect location or encryption attributes."
                    .to_owned(),
            ));
        }
        let mut meta = if replace {
            meta_from(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires.as_ref(),
                input.website_redirect_location.clone(),
                storage_class.clone(),
                input.metadata,
            )
        } else {
            source.meta.clone()
        };
        if !replace {
            if input.storage_class.is_some() {
                meta.storage_class = storage_class;
            }
            if input.website_redirect_location.is_some() {
                meta.website_redirect_location = input.website_redirect_location;
            }
        }
        meta.checksums = source.meta.checksums.clone();
        meta.part_sizes = source.meta.part_sizes.clone();
        let tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            None | Some("COPY") => source.tags.clone(),
            Some("REPLACE") => super::tagging::from_header(input.tagging.as_deref())?,
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown tagging directive: {other}"),
                ));
            }
        };
        // A copy of the null version onto itself in a bucket that does not keep versions
        // replaces it: the new version keeps its files (the store keeps what the new version
        // names). Where the source version stays, the copy has files of its own.
        let replaces_source = same_object && source.version_id == NULL_VERSION && !self.keeps_versions(&bucket)?;
        let data = if replaces_source {
            source.data.clone()
        } else {
            let store = self.store.clone();
            let data = source.data.clone();
            tokio::task::spawn_blocking(move || store.copy_data(&data))
                .await
                .map_err(|err| internal(format!("the copy stopped: {err}")))?
                .map_err(|err| refused(&bucket, err))?
        };
        let new = NewObject { meta, data, size: source.size, etag: source.etag.clone(), tags };
        let version =
            self.write(&bucket, &key, new, WriteCondition::default(), "ObjectCreated:Copy", &request_id).await?;
        let checksums = &version.meta.checksums;
        Ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&version.etag)),
                last_modified: Some(timestamp(version.last_modified_ms)),
                checksum_crc32: checksums.crc32.clone(),
                checksum_crc32c: checksums.crc32c.clone(),
                checksum_sha1: checksums.sha1.clone(),
                checksum_sha256: checksums.sha256.clone(),
                checksum_crc64nvme: checksums.crc64nvme.clone(),
                checksum_type: checksums.kind.clone().map(ChecksumType::from),
            }),
            copy_source_version_id: (source.version_id != NULL_VERSION).then(|| source.version_id.clone()),
            version_id: (version.version_id != NULL_VERSION).then(|| version.version_id.clone()),
            ..Default::default()
        })
    }
}

/// The event of a new version.
pub(super) fn created_event(version: &ObjectVersion, event_name: &'static str, request_id: &str) -> ObjectEvent {
    ObjectEvent {
        bucket: version.bucket.clone(),
        key: version.key.clone(),
        size: Some(version.size),
        etag: Some(version.etag.clone()),
        version_id: (version.version_id != NULL_VERSION).then(|| version.version_id.clone()),
        event_name,
        request_id: request_id.to_owned(),
    }
}

/// The bucket, key and version of `x-amz-copy-source`.
pub(super) fn copy_source(source: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match source {
        CopySource::Bucket { bucket, key, version_id } => {
            Ok((bucket.to_string(), key.to_string(), version_id.as_deref().map(str::to_owned)))
        }
        _ => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "The sandbox copies from buckets, not access points or outposts.".to_owned(),
        )),
    }
}

/// CopyObject's and UploadPartCopy's `x-amz-copy-source-if-*`: as for a read, but every
/// failure is 412 Precondition Failed.
pub(super) fn copy_source_conditions(
    source: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match evaluate(source, if_match, if_none_match, if_modified_since, if_unmodified_since) {
        Verdict::Proceed => Ok(()),
        Verdict::NotModified | Verdict::PreconditionFailed => Err(s3_error(S3ErrorCode::PreconditionFailed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(etag: &str, modified_secs: u64) -> ObjectVersion {
        ObjectVersion {
            seq: 1,
            bucket: "b".into(),
            key: "k".into(),
            version_id: NULL_VERSION.into(),
            latest: true,
            delete_marker: false,
            size: 0,
            etag: etag.into(),
            last_modified_ms: modified_secs * 1000 + 500,
            meta: ObjectMeta::default(),
            tags: None,
            data: Data::Inline(Bytes::new()),
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).expect("time"))
    }

    #[test]
    fn conditional_reads_follow_rfc_7232_as_s3_documents_it() {
        let v = version("abc", 1000);
        let tag = |t: &str| ETagCondition::ETag(ETag::Strong(t.into()));
        assert_eq!(evaluate(&v, Some(&tag("abc")), None, None, None), Verdict::Proceed);
        assert_eq!(evaluate(&v, Some(&tag("nope")), None, None, None), Verdict::PreconditionFailed);
        assert_eq!(evaluate(&v, None, None, None, Some(&at(999))), Verdict::PreconditionFailed);
        assert_eq!(evaluate(&v, None, None, None, Some(&at(1000))), Verdict::Proceed, "same second");
        // If-Match true and If-Unmodified-Since false: 200.
        assert_eq!(evaluate(&v, Some(&tag("abc")), None, None, Some(&at(10))), Verdict::Proceed);
        assert_eq!(evaluate(&v, None, Some(&tag("abc")), None, None), Verdict::NotModified);
        assert_eq!(evaluate(&v, None, Some(&ETagCondition::Any), None, None), Verdict::NotModified);
        assert_eq!(evaluate(&v, None, None, Some(&at(5000)), None), Verdict::NotModified, "a future date");
        assert_eq!(evaluate(&v, None, None, Some(&at(999)), None), Verdict::Proceed);
        // If-None-Match false and If-Modified-Since true: 304.
        assert_eq!(evaluate(&v, None, Some(&tag("abc")), Some(&at(10)), None), Verdict::NotModified);
        // If-None-Match true wins over a failing If-Modified-Since: 200.
        assert_eq!(evaluate(&v, None, Some(&tag("other")), Some(&at(5000)), None), Verdict::Proceed);
    }

    #[test]
    fn write_conditions_take_only_a_star_for_if_none_match() {
        let tag = ETagCondition::ETag(ETag::Strong("abc".into()));
        assert!(write_condition(None, Some(&tag)).is_err());
        assert!(write_condition(Some(&tag), Some(&ETagCondition::Any)).is_err());
        let c = write_condition(Some(&tag), None).expect("if-match");
        assert_eq!(c.if_match.as_deref(), Some("abc"));
        assert!(write_condition(None, Some(&ETagCondition::Any)).expect("star").if_none_match);
    }
}
