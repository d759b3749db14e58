//! One clear line for a failed run, instead of a `Debug` dump of nested SDK errors.

use std::error::Error as StdError;

use aws_sdk_s3::error::ProvideErrorMetadata as _;

/// The exit code of a run: success, or one `Error: …` line on stderr (see [`describe`]) and
/// failure; for a transfer that SIGINT or SIGTERM stopped, its `Interrupted: …` line and 128 + the
/// signal's number. Takes an `anyhow::Result<()>` as the examples' `run` functions return it.
pub fn exit_code<E>(result: Result<(), E>) -> std::process::ExitCode
where
    E: AsRef<dyn StdError + Send + Sync + 'static>,
{
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => match interruption(err.as_ref()) {
            Some(interrupted) => {
                eprintln!("{interrupted}");
                std::process::ExitCode::from(interrupted.signal.exit_code())
            }
            None => {
                eprintln!("Error: {}", describe(err.as_ref()));
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// The transfer a signal stopped, if that is what ended the run (see
/// [`crate::transfer::until_interrupted`]).
fn interruption<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a crate::transfer::Interruption> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(crate::transfer::TransferError::Interrupted(interrupted)) = e.downcast_ref() {
            return Some(interrupted);
        }
        current = e.source();
    }
    None
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

/// One line for an AWS error code.
pub fn explain_code(code: &str, message: Option<&str>) -> String {
    let hint = match code {
        "NoSuchBucket" => "the bucket does not exist",
        "NoSuchKey" => "the object does not exist",
        "AccessDenied" => "access denied",
        "SignatureDoesNotMatch" => "the request signature does not match: check the secret access key",
        "InvalidAccessKeyId" | "InvalidClientTokenId" => "the access key id is not known to the service",
        "ExpiredToken" => "the session credentials have expired; get new ones",
        "ValidationError" => "the request was not valid",
        _ => "",
    };
    let message = message.filter(|m| !m.is_empty() && *m != "Unknown");
    match (hint.is_empty(), message) {
        (false, Some(m)) => format!("{hint} ({code}: {m})"),
        (false, None) => format!("{hint} ({code})"),
        (true, Some(m)) => format!("{code}: {m}"),
        (true, None) => code.to_owned(),
    }
}
