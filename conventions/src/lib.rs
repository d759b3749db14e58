//! What the SOS examples and the sandbox agree on, written once, so that neither has to depend on
//! the other to know it: the sandbox's keys, account, region, MFA device, address and health check;
//! the pipeline's bucket, topic and queues and the URL a queue has on the sandbox; how S3 encodes
//! a key in listings and event notifications ([`s3_key`]); and how every program logs and stops
//! ([`process`]).
//!
//! `common` (and through it every example) and `sandbox` depend on this crate; it depends on
//! neither, and on nothing of the AWS SDK.

pub mod process;
pub mod s3_key;

/// The access key id every sandbox accepts: LocalStack's convention, which the aws CLI, boto3 and
/// every SDK can be given.
pub const SANDBOX_ACCESS_KEY_ID: &str = "test";
/// The secret that goes with [`SANDBOX_ACCESS_KEY_ID`].
pub const SANDBOX_SECRET_ACCESS_KEY: &str = "test";
/// The sandbox's application key, exempt from its MFA requirement as service accounts are: the key
/// long-running programs (`nomfa`, the notifier) use.
pub const SANDBOX_APP_ACCESS_KEY_ID: &str = "sos-app";
/// The secret that goes with [`SANDBOX_APP_ACCESS_KEY_ID`].
pub const SANDBOX_APP_SECRET_ACCESS_KEY: &str = "sos-app-secret";
/// The region the sandbox claims to be.
pub const SANDBOX_REGION: &str = "us-east-1";
/// The account of every sandbox resource.
pub const SANDBOX_ACCOUNT_ID: &str = "000000000000";
/// The serial number (ARN) of the sandbox's virtual MFA device, in [`SANDBOX_ACCOUNT_ID`].
pub const SANDBOX_MFA_SERIAL: &str = "arn:aws:iam::000000000000:mfa/sandbox";

/// Where a standalone sandbox listens unless told otherwise (LocalStack's port).
pub const SANDBOX_ADDR: &str = "127.0.0.1:4566";
/// The URL of [`SANDBOX_ADDR`]: where the examples look for a running sandbox.
pub const SANDBOX_URL: &str = "http://127.0.0.1:4566";
/// The variable that names a running sandbox for the examples (default [`SANDBOX_URL`]).
pub const SANDBOX_URL_ENV: &str = "SOS_SANDBOX_URL";
/// The variable that names the sandbox's data directory, for the standalone sandbox and the one
/// an example starts inside itself.
pub const SANDBOX_DATA_DIR_ENV: &str = "SOS_SANDBOX_DATA_DIR";
/// The path of the sandbox's unauthenticated health check (`GET`).
pub const HEALTH_PATH: &str = "/_sandbox/health";
/// The `service` field of the health check's JSON, which tells a sandbox from any other server.
pub const HEALTH_SERVICE_NAME: &str = "sos-sandbox";

/// The bucket of the SOS data: the examples' default, and the sandbox's sample bucket.
pub const BUCKET: &str = "snow-observing-systems";
/// The topic that announces new data: the notifier publishes to it, the queue subscribes to it.
pub const TOPIC: &str = "SnowObservingSystemsDataAvailability";
/// The queue the announcements arrive on.
pub const QUEUE: &str = "SnowObservingSystemsDataUpdates";
/// [`QUEUE`]'s dead-letter queue: [`dead_letter_queue_name`] of it.
pub const DEAD_LETTER_QUEUE: &str = "SnowObservingSystemsDataUpdates-dlq";
/// Receives after which a message that keeps failing moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;
/// How long a dead-letter queue keeps a message: 14 days, SQS's maximum, so a failed announcement
/// outlives the main queue's default 4 days and can be inspected.
pub const DLQ_RETENTION_SECONDS: u32 = 1_209_600;

/// The name of the dead-letter queue of `queue`, as `setup`, the sandbox's samples and
/// `infra/template.yaml` make it.
pub fn dead_letter_queue_name(queue: &str) -> String {
    format!("{queue}-dlq")
}

/// The URL of queue `queue` on the sandbox at `sandbox_url`: the form SQS gives queue URLs
/// (`<endpoint>/<account>/<name>`), which `GetQueueUrl` returns.
pub fn sandbox_queue_url(sandbox_url: &str, queue: &str) -> String {
    format!("{}/{SANDBOX_ACCOUNT_ID}/{queue}", sandbox_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_agree_with_each_other() {
        assert_eq!(dead_letter_queue_name(QUEUE), DEAD_LETTER_QUEUE);
        assert_eq!(SANDBOX_MFA_SERIAL, format!("arn:aws:iam::{SANDBOX_ACCOUNT_ID}:mfa/sandbox"));
        assert_eq!(SANDBOX_URL, format!("http://{SANDBOX_ADDR}"));
        assert_eq!(
            sandbox_queue_url("http://127.0.0.1:9/", QUEUE),
            "http://127.0.0.1:9/000000000000/SnowObservingSystemsDataUpdates"
        );
    }
}
