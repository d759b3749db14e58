//! What `setup` decides, apart from the AWS calls its `main.rs` shows: the access policies the
//! pipeline needs, the lifecycle rule that expires replaced versions, whether what exists
//! already matches them, how to add one notification to a bucket's configuration without
//! dropping the others, and the `.env` lines to write.
//!
//! Every function here is pure, so each idempotency rule is unit-tested without a service.

pub mod env_file;
pub mod notification;
pub mod policy;
pub mod versions;

pub use common::conventions::{DLQ_RETENTION_SECONDS, MAX_RECEIVES as DEFAULT_MAX_RECEIVES, dead_letter_queue_name};

/// The id `setup` gives its entry in the bucket's notification configuration.
pub const NOTIFICATION_ID: &str = "sos-data-available";

/// The S3 events that announce new data.
pub const OBJECT_CREATED_EVENTS: &str = "s3:ObjectCreated:*";

/// The parts of an ARN (`arn:partition:service:region:account:resource`) a policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// The account id.
    pub account: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses the partition and account of `arn`.
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(_service), Some(_region), Some(account), Some(_resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some(Self { partition, account })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parts() {
        let arn = Arn::parse("arn:aws:sns:eu-west-1:123456789012:SnowObservingSystemsDataAvailability");
        assert_eq!(arn, Some(Arn { partition: "aws", account: "123456789012" }));
        assert_eq!(Arn::parse("arn:aws-cn:sqs:cn-north-1:1:q").map(|a| a.partition), Some("aws-cn"));
        assert_eq!(Arn::parse("SnowObservingSystemsDataAvailability"), None);
    }

    #[test]
    fn dlq_name() {
        assert_eq!(dead_letter_queue_name("SnowObservingSystemsDataUpdates"), "SnowObservingSystemsDataUpdates-dlq");
    }
}
