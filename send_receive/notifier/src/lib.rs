//! The Lambda function of the SOS publish/subscribe pipeline: **S3 → Lambda → SNS → SQS**.
//!
//! When a file lands in the SOS bucket, S3 invokes a Lambda function with an [`S3Event`]. This crate is that
//! function's handler: for every `ObjectCreated:*` record it publishes one SNS message whose body is a
//! [`DataAvailable`] as JSON, and SNS fans it out to the subscribed SQS queue, where the `subscriber` example reads
//! it (the message format is in ARCHITECTURE.md, "The announcement").
//!
//! In the original SOS system the Lambda was written by hand in the AWS console. Here it is a library function,
//! [`handle`], used in two places:
//!
//! - the `notifier` binary (`src/main.rs`), which wraps it in `lambda_runtime` and is deployed to AWS Lambda
//!   (cargo feature `runtime`, on by default; the workspace's dependency on this crate turns it off);
//! - the `sandbox` crate, which stands in for S3 → Lambda locally: it builds the same event JSON S3 would send
//!   and calls [`handle`] in-process with an SNS client pointed at itself.
//!
//! So this crate depends only on the AWS SDK and the Lambda crates, never on `common` or `sandbox`.
//!
//! ```no_run
//! # async fn example(event: aws_lambda_events::event::s3::S3Event) -> Result<(), notifier::Error> {
//! let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
//! let sns = aws_sdk_sns::Client::new(&config);
//! let output = notifier::handle(event, &sns, "arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability")
//!     .await?;
//! println!("published {:?}", output.message_ids);
//! # Ok(())
//! # }
//! ```

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_sdk_sns::error::{DisplayErrorContext, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};

/// The prefix of every S3 event name this function reacts to (`ObjectCreated:Put`, `…:Post`, `…:Copy`,
/// `…:CompleteMultipartUpload`).
pub const OBJECT_CREATED_PREFIX: &str = "ObjectCreated:";

/// The prefix of the SNS `Subject` of each message; the object key follows.
pub const SUBJECT_PREFIX: &str = "New SOS data: ";

/// SNS requires a subject of fewer than 100 characters.
pub const SUBJECT_MAX_CHARS: usize = 99;

/// The body (SNS `Message`, as a JSON string) of one "new data is available" notification.
///
/// JSON field names are exactly `bucket`, `key`, `size`, `etag`, `event_name`, `event_time`, and — only for an
/// object in a versioned bucket — `version_id` (ARCHITECTURE.md, "The announcement").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataAvailable {
    /// The bucket the object was written to.
    pub bucket: String,
    /// The object key, decoded: the key a `GetObject` call takes (S3 sends it URL-encoded, `+` for a space).
    pub key: String,
    /// The object's size in bytes (0 if the event did not say).
    pub size: u64,
    /// The object's ETag as S3 reported it, if any.
    pub etag: Option<String>,
    /// The S3 event name, e.g. `ObjectCreated:Put`.
    pub event_name: String,
    /// When S3 recorded the event, RFC 3339 in UTC with milliseconds, e.g. `2024-05-14T18:21:07.512Z`.
    pub event_time: String,
    /// The id of the version this event wrote, for a versioned bucket: `GetObject` with it fetches exactly this
    /// upload, even after the key was written again. Absent (not `null`) otherwise, so that a subscriber that does
    /// not know the field reads the same message as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// What [`handle`] returns (and the Lambda function answers): the SNS ids of the messages it published, in the
/// order of the event's records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerOutput {
    /// One SNS `MessageId` per published message.
    pub message_ids: Vec<String>,
}

/// Why [`handle`] failed. Any error fails the whole invocation, so that Lambda retries the event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`DataAvailable`] could not be encoded as JSON.
    #[error("could not encode the message for s3://{bucket}/{key} as JSON")]
    Encode {
        /// The object's bucket.
        bucket: String,
        /// The object's (decoded) key.
        key: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// SNS `Publish` failed. Messages for earlier records of the same event may already have been published
    /// (`published` of them); a retry of the event publishes those again, so subscribers must be idempotent.
    #[error("publishing the message for s3://{bucket}/{key} to {topic_arn} failed ({published} of {total} published)")]
    Publish {
        /// The topic published to.
        topic_arn: String,
        /// The object's bucket.
        bucket: String,
        /// The object's (decoded) key.
        key: String,
        /// How many messages of this event were published before the failure.
        published: usize,
        /// How many messages this event called for.
        total: usize,
        /// The SDK's error.
        #[source]
        source: Box<SdkError<PublishError>>,
    },
}

#[cfg(feature = "runtime")]
impl From<Error> for lambda_runtime::Diagnostic {
    /// Lambda reports only `error_type` and `error_message`: put the whole cause chain in the message.
    fn from(error: Error) -> Self {
        let error_type = match &error {
            Error::Encode { .. } => "notifier::EncodeError",
            Error::Publish { .. } => "notifier::PublishError",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: DisplayErrorContext(&error).to_string(),
        }
    }
}

/// The messages an S3 event calls for: one per `ObjectCreated:*` record, in order.
///
/// Other records (`ObjectRemoved:*`, `s3:TestEvent`-like records without a name, …) are skipped, and so are
/// records without a bucket name or object key (with a warning). The key is decoded from S3's form encoding
/// (`+` is a space, `%XX` a byte, UTF-8).
pub fn messages(event: &S3Event) -> Vec<DataAvailable> {
    event.records.iter().filter_map(message).collect()
}

fn message(record: &S3EventRecord) -> Option<DataAvailable> {
    let event_name = record.event_name.as_deref().unwrap_or_default();
    if !event_name.starts_with(OBJECT_CREATED_PREFIX) {
        tracing::debug!(event_name, "skipping a record that is not ObjectCreated");
        return None;
    }
    let (Some(bucket), Some(encoded_key)) = (record.s3.bucket.name.as_deref(), record.s3.object.key.as_deref()) else {
        tracing::warn!(
            event_name,
            bucket = ?record.s3.bucket.name,
            key = ?record.s3.object.key,
            "skipping an S3 event record without a bucket name or object key"
        );
        return None;
    };
    let size = record.s3.object.size.unwrap_or_default();
    Some(DataAvailable {
        bucket: bucket.to_owned(),
        key: decode_key(encoded_key),
        size: u64::try_from(size).unwrap_or_default(),
        etag: record.s3.object.e_tag.clone(),
        event_name: event_name.to_owned(),
        event_time: record.event_time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        version_id: record.s3.object.version_id.clone().filter(|id| !id.is_empty() && id != "null"),
    })
}

/// Decodes an object key as S3 writes it in event notifications (`+` is a space, `%XX` a byte; a
/// literal `+` arrives as `%2B`), replacing bytes that are not UTF-8 with a warning.
fn decode_key(encoded: &str) -> String {
    conventions::s3_key::decode(encoded).unwrap_or_else(|invalid| {
        tracing::warn!(encoded, "an S3 event key does not decode to UTF-8; replacing the invalid bytes");
        invalid.lossy
    })
}

/// The SNS `Subject` for a key: `New SOS data: <key>`, shortened to SNS's limit (ending in `...` when cut).
///
/// Characters other than printable ASCII become `?`: SNS has documented subjects as ASCII-only, and a subject
/// it refuses would fail the whole publish. The exact key travels in the message and its `key` attribute.
pub fn subject(key: &str) -> String {
    let mut subject: String = SUBJECT_PREFIX
        .chars()
        .chain(key.chars())
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .collect();
    // All ASCII now, so byte lengths are character counts.
    if subject.len() > SUBJECT_MAX_CHARS {
        subject.truncate(SUBJECT_MAX_CHARS - 3);
        subject.push_str("...");
    }
    subject
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type, the only required field, is set")
}

/// Handles one S3 event: publishes one SNS message per [`messages`] entry to `topic_arn`.
///
/// Each message has `Message` = the [`DataAvailable`] as JSON, a `Subject` made by [`subject`], and the message
/// attributes `bucket` and `key` (type `String`, for subscription filter policies). Publishing stops at the first
/// failure, which is returned so that Lambda retries the event. An event with no `ObjectCreated` record publishes
/// nothing and succeeds.
pub async fn handle(event: S3Event, sns: &aws_sdk_sns::Client, topic_arn: &str) -> Result<HandlerOutput, Error> {
    let messages = messages(&event);
    let total = messages.len();
    let mut output = HandlerOutput { message_ids: Vec::with_capacity(total) };
    for (published, data) in messages.into_iter().enumerate() {
        let body = serde_json::to_string(&data).map_err(|source| Error::Encode {
            bucket: data.bucket.clone(),
            key: data.key.clone(),
            source,
        })?;
        // ANCHOR: publish
        let result = sns
            .publish()
            .topic_arn(topic_arn)
            .message(body)
            .subject(subject(&data.key))
            .message_attributes("bucket", string_attribute(&data.bucket))
            .message_attributes("key", string_attribute(&data.key))
            .send()
            .await;
        // ANCHOR_END: publish
        match result {
            Ok(response) => {
                let message_id = response.message_id().unwrap_or_default().to_owned();
                tracing::info!(bucket = %data.bucket, key = %data.key, %message_id, "published to SNS");
                output.message_ids.push(message_id);
            }
            Err(source) => {
                tracing::error!(
                    bucket = %data.bucket,
                    key = %data.key,
                    topic_arn,
                    error = %DisplayErrorContext(&source),
                    "SNS Publish failed"
                );
                return Err(Error::Publish {
                    topic_arn: topic_arn.to_owned(),
                    bucket: data.bucket,
                    key: data.key,
                    published,
                    total,
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::Client;
    use aws_sdk_sns::operation::publish::PublishOutput;
    use aws_sdk_sns::types::error::NotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability";

    /// An event as S3 sends it to Lambda: three ObjectCreated records (keys with spaces, `+`, `/`, `&`, `=` and
    /// non-ASCII) and one ObjectRemoved record.
    const EVENT: &str = include_str!("../tests/data/s3-event.json");

    fn event() -> S3Event {
        serde_json::from_str(EVENT).expect("the fixture is a valid S3 event")
    }

    fn expected() -> Vec<DataAvailable> {
        vec![
            DataAvailable {
                bucket: "snow-observing-systems".into(),
                key: "Optimization_result.geojson".into(),
                size: 1_048_576,
                etag: Some("0b4a1e9f2c6f0e6a2b7b3c1f5d9e8a47".into()),
                event_name: "ObjectCreated:Put".into(),
                event_time: "2024-05-14T18:21:07.512Z".into(),
                version_id: Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH".into()),
            },
            DataAvailable {
                bucket: "snow-observing-systems".into(),
                key: "Missouri Open Loop/a+b ü.txt".into(),
                size: 73_400_320,
                etag: Some("5f3c2b8d0a1e4f6b9c7d2e1a0b3c4d5e-14".into()),
                event_name: "ObjectCreated:CompleteMultipartUpload".into(),
                event_time: "2024-05-14T18:22:41.000Z".into(),
                version_id: None,
            },
            DataAvailable {
                bucket: "snow-observing-systems".into(),
                key: "Missouri Open Loop sample output/SWE a&b=c (copy).nc".into(),
                size: 0,
                etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                event_name: "ObjectCreated:Copy".into(),
                event_time: "2024-05-14T18:23:00.105Z".into(),
                version_id: None,
            },
        ]
    }

    #[test]
    fn messages_decode_keys_and_skip_other_events() {
        assert_eq!(messages(&event()), expected());
    }

    #[test]
    fn messages_skip_records_without_bucket_or_key() {
        let mut event = event();
        event.records[0].s3.object.key = None;
        event.records[1].s3.bucket.name = None;
        assert_eq!(messages(&event), expected()[2..]);
    }

    #[test]
    fn messages_of_an_empty_event_are_empty() {
        let event: S3Event = serde_json::from_str(r#"{"Records": []}"#).expect("valid empty event");
        assert!(messages(&event).is_empty());
    }

    #[test]
    fn data_available_json_field_names() {
        let json = serde_json::to_value(&expected()[0]).expect("serializable");
        assert_eq!(
            json,
            serde_json::json!({
                "bucket": "snow-observing-systems",
                "key": "Optimization_result.geojson",
                "size": 1_048_576,
                "etag": "0b4a1e9f2c6f0e6a2b7b3c1f5d9e8a47",
                "event_name": "ObjectCreated:Put",
                "event_time": "2024-05-14T18:21:07.512Z",
                "version_id": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH",
            })
        );
        // Without a version, the field is left out: the message is the one old subscribers know.
        let json = serde_json::to_value(&expected()[1]).expect("serializable");
        assert!(json.get("version_id").is_none(), "{json}");
        // …and a message without it (from an older notifier) still reads.
        let mut old = json;
        old.as_object_mut().expect("object").remove("version_id");
        let read: DataAvailable = serde_json::from_value(old).expect("an announcement without version_id");
        assert_eq!(read, expected()[1]);
    }

    #[test]
    fn keys_decode_like_s3_form_encoding() {
        assert_eq!(decode_key("Missouri+Open+Loop%2Fa%2Bb+%C3%BC.txt"), "Missouri Open Loop/a+b ü.txt");
        assert_eq!(decode_key("plain.txt"), "plain.txt");
        assert_eq!(decode_key("100%25+done"), "100% done");
        assert_eq!(decode_key("bad%FFbyte"), "bad\u{FFFD}byte");
    }

    #[test]
    fn subjects_are_printable_ascii_and_short() {
        assert_eq!(subject("Optimization_result.geojson"), "New SOS data: Optimization_result.geojson");
        assert_eq!(subject("a/ü\nb.txt"), "New SOS data: a/??b.txt");
        let long = subject(&"x".repeat(200));
        assert_eq!(long.len(), SUBJECT_MAX_CHARS);
        assert!(long.starts_with(SUBJECT_PREFIX) && long.ends_with("xx..."));
        let exact = "y".repeat(SUBJECT_MAX_CHARS - SUBJECT_PREFIX.len());
        assert_eq!(subject(&exact), format!("{SUBJECT_PREFIX}{exact}"));
    }

    #[tokio::test]
    async fn handle_publishes_one_message_per_created_object() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        let publish = mock!(Client::publish).then_compute_output(move |input| {
            let mut recorded = recorded.lock().expect("no test thread panicked holding the lock");
            recorded.push(input.clone());
            PublishOutput::builder().message_id(format!("msg-{}", recorded.len())).build()
        });
        let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]);

        let output = handle(event(), &sns, TOPIC_ARN).await.expect("every publish succeeds");

        assert_eq!(output.message_ids, ["msg-1", "msg-2", "msg-3"]);
        assert_eq!(publish.num_calls(), 3);
        let inputs = seen.lock().expect("no test thread panicked holding the lock");
        assert_eq!(inputs.len(), 3);
        for (input, expected) in inputs.iter().zip(expected()) {
            assert_eq!(input.topic_arn(), Some(TOPIC_ARN));
            let body = input.message().expect("Message is set");
            let message: DataAvailable = serde_json::from_str(body).expect("Message is a DataAvailable");
            assert_eq!(message, expected);
            assert_eq!(input.subject(), Some(subject(&expected.key).as_str()));
            let attributes = input.message_attributes().expect("message attributes are set");
            for (name, value) in [("bucket", &expected.bucket), ("key", &expected.key)] {
                let attribute = &attributes[name];
                assert_eq!(attribute.data_type(), "String");
                assert_eq!(attribute.string_value(), Some(value.as_str()));
            }
        }
    }

    #[tokio::test]
    async fn handle_without_created_objects_publishes_nothing() {
        let publish = mock!(Client::publish).then_output(|| PublishOutput::builder().message_id("never").build());
        let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]);
        let mut event = event();
        event.records.retain(|record| record.event_name.as_deref() == Some("ObjectRemoved:Delete"));
        assert_eq!(event.records.len(), 1);

        let output = handle(event, &sns, TOPIC_ARN).await.expect("nothing to publish");

        assert!(output.message_ids.is_empty());
        assert_eq!(publish.num_calls(), 0);
    }

    #[tokio::test]
    async fn handle_fails_on_the_first_publish_error() {
        let ok = mock!(Client::publish).then_output(|| PublishOutput::builder().message_id("msg-1").build());
        let not_found = mock!(Client::publish).then_error(|| {
            PublishError::NotFoundException(NotFoundException::builder().message("Topic does not exist").build())
        });
        let sns = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&ok, &not_found]);

        let error = handle(event(), &sns, TOPIC_ARN).await.expect_err("the second publish fails");

        assert_eq!(ok.num_calls(), 1);
        assert_eq!(not_found.num_calls(), 1, "nothing is published after the failure");
        match &error {
            Error::Publish { topic_arn, key, published, total, source, .. } => {
                assert_eq!(topic_arn, TOPIC_ARN);
                assert_eq!(key, "Missouri Open Loop/a+b ü.txt");
                assert_eq!((*published, *total), (1, 3));
                assert!(matches!(source.as_service_error(), Some(PublishError::NotFoundException(_))));
            }
            other => panic!("expected a publish error, got {other:?}"),
        }
        #[cfg(feature = "runtime")]
        {
            let diagnostic = lambda_runtime::Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, "notifier::PublishError");
            assert!(diagnostic.error_message.contains("Topic does not exist"), "{}", diagnostic.error_message);
        }
    }
}
