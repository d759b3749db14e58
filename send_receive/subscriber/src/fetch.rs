//! Fetching the bytes an announcement names, not whatever the key holds by the time the message
//! is read: the announced version by `versionId` when the announcement has one (a versioned
//! bucket), else the current object with `If-Match` on the announced ETag. When a newer upload
//! has replaced the announced one in an unversioned bucket, S3 answers `412 PreconditionFailed`:
//! the announced bytes are gone, the newer upload's own announcement follows, and this one is
//! done ([`Fetched::Superseded`]).

use std::path::Path;

use common::TransferOptions;
use common::transfer::{DownloadSummary, Pinned, TransferError, download_pinned_to_file};

use crate::message::Announcement;

/// What fetching an announcement gave.
#[derive(Debug)]
pub enum Fetched {
    /// The announced bytes, now at the path asked for.
    Downloaded(DownloadSummary),
    /// A newer upload replaced the announced one before it could be fetched.
    Superseded,
}

/// The line a superseded announcement gets.
pub const SUPERSEDED: &str = "replaced by a newer upload, whose own announcement follows";

/// Downloads the bytes `announcement` names from `bucket` into `path` (temp file, sync, rename).
pub async fn fetch(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    announcement: &Announcement,
    path: &Path,
    options: &TransferOptions,
) -> Result<Fetched, TransferError> {
    let if_match = announcement.etag.as_deref().map(|e| format!("\"{}\"", e.trim_matches('"')));
    let pinned = match &announcement.version_id {
        Some(version) => Pinned { version_id: Some(version), if_match: None },
        None => Pinned { version_id: None, if_match: if_match.as_deref() },
    };
    match download_pinned_to_file(s3, bucket, &announcement.key, &pinned, path, options).await {
        Ok(summary) => Ok(Fetched::Downloaded(summary)),
        Err(err) if err.code() == Some("PreconditionFailed") && announcement.version_id.is_none() => {
            Ok(Fetched::Superseded)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::Client;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn announced(etag: &str, version: Option<&str>) -> Announcement {
        Announcement {
            bucket: Some("b".into()),
            key: "Optimization_result.geojson".into(),
            size: Some(5),
            etag: Some(etag.into()),
            version_id: version.map(str::to_owned),
            event_time: None,
            sequencer: None,
        }
    }

    fn options() -> TransferOptions {
        TransferOptions { progress: false, ..TransferOptions::default() }
    }

    fn object(bytes: &'static [u8], etag: &str) -> GetObjectOutput {
        GetObjectOutput::builder()
            .body(ByteStream::from_static(bytes))
            .content_length(i64::try_from(bytes.len()).unwrap_or(0))
            .e_tag(etag)
            .build()
    }

    #[tokio::test]
    async fn a_versioned_announcement_fetches_its_version_whatever_is_current() {
        let get = mock!(Client::get_object)
            .match_requests(|r| r.version_id() == Some("v1") && r.if_match().is_none())
            .then_output(|| object(b"first", "\"e1\""));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&get]);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.geojson");
        let fetched = fetch(&s3, "b", &announced("e1", Some("v1")), &path, &options()).await.expect("fetched");
        assert!(matches!(fetched, Fetched::Downloaded(ref s) if s.bytes == 5), "{fetched:?}");
        assert_eq!(std::fs::read(&path).expect("file"), b"first");
        assert_eq!(get.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_unversioned_announcement_asks_for_its_etag_and_a_replaced_object_is_superseded() {
        let replaced = mock!(Client::get_object)
            .match_requests(|r| r.if_match() == Some("\"e1\"") && r.version_id().is_none())
            .then_http_response(|| {
                HttpResponse::new(
                    StatusCode::try_from(412).expect("status"),
                    SdkBody::from(
                        "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you \
                         specified did not hold</Message></Error>",
                    ),
                )
            });
        let current = mock!(Client::get_object)
            .match_requests(|r| r.if_match() == Some("\"e2\""))
            .then_output(|| object(b"later", "\"e2\""));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&replaced, &current]);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.geojson");
        let first = fetch(&s3, "b", &announced("e1", None), &path, &options()).await.expect("an answer");
        assert!(matches!(first, Fetched::Superseded), "{first:?}");
        assert!(!path.exists(), "nothing written for the replaced upload");
        let second = fetch(&s3, "b", &announced("\"e2\"", None), &path, &options()).await.expect("fetched");
        assert!(matches!(second, Fetched::Downloaded(_)), "{second:?}");
        assert_eq!(std::fs::read(&path).expect("file"), b"later");
        assert_eq!((replaced.num_calls(), current.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_missing_version_is_an_error_not_a_supersession() {
        let gone = mock!(Client::get_object).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(404).expect("status"),
                SdkBody::from(
                    "<Error><Code>NoSuchVersion</Code><Message>The specified version does not exist.</Message></Error>",
                ),
            )
        });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[&gone]);
        let dir = tempfile::tempdir().expect("temp dir");
        let err =
            fetch(&s3, "b", &announced("e1", Some("v9")), &dir.path().join("x"), &options()).await.expect_err("gone");
        assert_eq!(err.code(), Some("NoSuchVersion"));
    }
}
