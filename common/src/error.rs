//! One clear line for a failed run, instead of a `Debug` dump of nested SDK errors.

use std::error::Error as StdError;

use aws_sdk_s3::error::ProvideErrorMetadata as _;

/// The exit code of a run: success, or one `Error: …` line on stderr (see [`describe`]) and
/// failure. Takes an `anyhow::Result<()>` as the examples' `run` functions return it.
pub fn exit_code<E>(result: Result<(), E>) -> std::process::ExitCode
where
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {}", describe(err.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Describes an error chain (from `anyhow`, or any `std::error::Error`) in one line: the
/// context the program added, then what AWS said (its error code and message) or why it could
/// not be reached.
pub fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut context: Vec<String> = Vec::new();
    let mut cause: Option<String> = None;
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = explain_one(e) {
            cause = Some(found);
            break;
        }
        let text = e.to_string();
        // The SDK's wrappers say only "service error" / "dispatch failure"; their sources say more.
        if !is_generic(&text) && !context.iter().any(|c| c.contains(&text)) {
            context.push(text);
        }
        current = e.source();
    }
    let mut line = context.join(": ");
    if let Some(cause) = cause {
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    if line.is_empty() { err.to_string() } else { line }
}

fn is_generic(text: &str) -> bool {
    matches!(text, "service error" | "dispatch failure" | "io error" | "unhandled error" | "response error")
        || text.starts_with("unhandled error (")
        || text.starts_with("error trying to connect")
        || text.starts_with("tcp connect error")
        || text.starts_with("client error")
}

/// What one error in the chain means to a user, if it is one we recognise.
fn explain_one(e: &(dyn StdError + 'static)) -> Option<String> {
    if let Some(s3) = e.downcast_ref::<aws_sdk_s3::Error>()
        && let Some(code) = s3.code()
    {
        return Some(explain_code(code, s3.message()));
    }
    if let Some(meta) = e.downcast_ref::<aws_sdk_s3::error::ErrorMetadata>()
        && let Some(code) = meta.code()
    {
        return Some(explain_code(code, meta.message()));
    }
    // An `SdkError` keeps the operation's own error type, so each operation the examples call
    // is tried by name.
    macro_rules! operation_errors {
        ($($op:ident :: $ty:ident),* $(,)?) => {$(
            if let Some(op) = e.downcast_ref::<aws_sdk_s3::operation::$op::$ty>()
                && let Some(code) = op.code()
            {
                return Some(explain_code(code, op.message()));
            }
        )*};
    }
    operation_errors!(
        list_buckets::ListBucketsError,
        list_objects_v2::ListObjectsV2Error,
        get_object::GetObjectError,
        head_object::HeadObjectError,
        put_object::PutObjectError,
        copy_object::CopyObjectError,
        delete_object::DeleteObjectError,
        create_bucket::CreateBucketError,
        head_bucket::HeadBucketError,
        create_multipart_upload::CreateMultipartUploadError,
        upload_part::UploadPartError,
        complete_multipart_upload::CompleteMultipartUploadError,
    );
    if let Some(sts) = e.downcast_ref::<aws_sdk_sts::Error>()
        && let Some(code) = sts.code()
    {
        return Some(explain_code(code, sts.message()));
    }
    macro_rules! sts_errors {
        ($($op:ident :: $ty:ident),* $(,)?) => {$(
            if let Some(op) = e.downcast_ref::<aws_sdk_sts::operation::$op::$ty>()
                && let Some(code) = op.code()
            {
                return Some(explain_code(code, op.message()));
            }
        )*};
    }
    sts_errors!(
        get_session_token::GetSessionTokenError,
        assume_role::AssumeRoleError,
        get_caller_identity::GetCallerIdentityError,
    );
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return Some(match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused: nothing listens at the endpoint (is the sandbox running?)".to_owned()
            }
            std::io::ErrorKind::TimedOut => "the connection timed out".to_owned(),
            _ => io.to_string(),
        });
    }
    None
}

/// What an AWS error code means, whatever the service that answered it: the one place the
/// examples (and `common` itself) tell refused credentials from a missing resource or throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bucket, object, upload, queue or topic does not exist.
    Missing,
    /// The service does not know the access key id, or the session token does not go with it.
    UnknownCredentials,
    /// The session credentials have expired.
    ExpiredCredentials,
    /// The signature does not match: the secret access key is not the key id's.
    BadSignature,
    /// The request's date is too far from the service's clock, or a presigned URL has expired.
    RequestExpired,
    /// The identity may not do this (or a policy requires MFA).
    AccessDenied,
    /// Too many requests: slow down and retry.
    Throttled,
    /// The request itself is not valid.
    Invalid,
    /// Any other code.
    Other,
}

impl ErrorKind {
    /// The kind of AWS error code `code` (S3's, STS's, SQS's or SNS's).
    pub fn of(code: &str) -> Self {
        match code {
            "NoSuchBucket"
            | "NoSuchKey"
            | "NoSuchUpload"
            | "NotFound"
            | "NotFoundException"
            | "QueueDoesNotExist"
            | "AWS.SimpleQueueService.NonExistentQueue" => Self::Missing,
            "InvalidAccessKeyId" | "InvalidClientTokenId" | "InvalidToken" | "UnrecognizedClientException" => {
                Self::UnknownCredentials
            }
            "ExpiredToken" | "ExpiredTokenException" => Self::ExpiredCredentials,
            "SignatureDoesNotMatch" | "InvalidSignatureException" => Self::BadSignature,
            "RequestExpired" | "RequestTimeTooSkewed" => Self::RequestExpired,
            "AccessDenied" | "AccessDeniedException" => Self::AccessDenied,
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestLimitExceeded" => Self::Throttled,
            "ValidationError" | "InvalidParameterValue" | "InvalidArgument" | "InvalidRequest" | "MalformedXML" => {
                Self::Invalid
            }
            _ => Self::Other,
        }
    }

    /// Whether the service refused the credentials themselves (unknown, expired or revoked), as
    /// opposed to the request: the same call with other credentials may succeed, with these never.
    pub fn refuses_credentials(self) -> bool {
        matches!(self, Self::UnknownCredentials | Self::ExpiredCredentials)
    }
}

/// The AWS error code of a failed SDK call, when the service answered with one.
pub fn code_of<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code())
}

/// The [`ErrorKind`] of a failed SDK call of any service, when the service answered with a code.
pub fn kind_of<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<ErrorKind>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    code_of(err).map(ErrorKind::of)
}

/// One line for an AWS error code: what it means, then the code and the service's message.
pub fn explain_code(code: &str, message: Option<&str>) -> String {
    let hint = match (ErrorKind::of(code), code) {
        (ErrorKind::Missing, "NoSuchBucket") => "the bucket does not exist",
        (ErrorKind::Missing, "NoSuchKey") => "the object does not exist",
        (ErrorKind::Missing, "NoSuchUpload") => "the multipart upload does not exist",
        (ErrorKind::Missing, "QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue") => {
            "the queue does not exist"
        }
        (ErrorKind::Missing, _) => "not found",
        (ErrorKind::UnknownCredentials, _) => "the access key id is not known to the service",
        (ErrorKind::ExpiredCredentials, _) => "the session credentials have expired; get new ones",
        (ErrorKind::BadSignature, _) => "the request signature does not match: check the secret access key",
        (ErrorKind::RequestExpired, _) => "the request's time is off: check this machine's clock",
        (ErrorKind::AccessDenied, _) => "access denied",
        (ErrorKind::Throttled, _) => "the service is throttling requests; try again later",
        (ErrorKind::Invalid, _) => "the request was not valid",
        (ErrorKind::Other, _) => "",
    };
    let message = message.filter(|m| !m.is_empty() && *m != "Unknown");
    match (hint.is_empty(), message) {
        (false, Some(m)) => format!("{hint} ({code}: {m})"),
        (false, None) => format!("{hint} ({code})"),
        (true, Some(m)) => format!("{code}: {m}"),
        (true, None) => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_every_service_fall_into_one_kind() {
        for (codes, kind) in [
            (
                &["NoSuchBucket", "NoSuchKey", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"][..],
                ErrorKind::Missing,
            ),
            (
                &["InvalidAccessKeyId", "InvalidClientTokenId", "InvalidToken", "UnrecognizedClientException"],
                ErrorKind::UnknownCredentials,
            ),
            (&["ExpiredToken", "ExpiredTokenException"], ErrorKind::ExpiredCredentials),
            (&["SignatureDoesNotMatch", "InvalidSignatureException"], ErrorKind::BadSignature),
            (&["AccessDenied", "AccessDeniedException"], ErrorKind::AccessDenied),
            (&["SlowDown", "Throttling", "ThrottlingException", "RequestThrottled"], ErrorKind::Throttled),
            (&["InternalError", "ServiceUnavailable", "BucketNotEmpty"], ErrorKind::Other),
        ] {
            for code in codes {
                assert_eq!(ErrorKind::of(code), kind, "{code}");
            }
        }
        assert!(ErrorKind::of("ExpiredToken").refuses_credentials());
        assert!(ErrorKind::of("InvalidToken").refuses_credentials());
        assert!(!ErrorKind::of("AccessDenied").refuses_credentials(), "a refused request, not refused credentials");
        assert!(!ErrorKind::of("RequestExpired").refuses_credentials(), "a clock off, not the credentials");
    }

    #[test]
    fn a_code_is_explained_in_one_line_with_the_services_message() {
        assert_eq!(
            explain_code("NoSuchBucket", Some("The specified bucket does not exist")),
            "the bucket does not exist (NoSuchBucket: The specified bucket does not exist)"
        );
        assert_eq!(explain_code("SlowDown", None), "the service is throttling requests; try again later (SlowDown)");
        assert_eq!(explain_code("BucketNotEmpty", Some("Unknown")), "BucketNotEmpty");
        assert_eq!(explain_code("BucketNotEmpty", Some("not empty")), "BucketNotEmpty: not empty");
    }
}
