//! What an SQS message on the SOS queue announces.
//!
//! The seed's subscriber assumed one shape: an SNS envelope whose `Message` is JSON with a `key`. In practice a body
//! on the queue can take any of these shapes, and [`parse`] accepts all of them:
//!
//! - an **SNS envelope** (`{"Type":"Notification","Message":"…",…}`, what SNS delivers to SQS unless raw message
//!   delivery is on) whose `Message` string holds one of the other shapes — or, again, an envelope;
//! - **our announcement** (ARCHITECTURE.md, "The announcement"), published by the `notifier` Lambda:
//!   `{"bucket","key","size","etag","event_name","event_time"}`, with `key` already decoded;
//! - **S3's event notification** (`{"Records":[{"eventName":"ObjectCreated:Put","s3":{…}}]}`), when a bucket
//!   notifies SNS or SQS directly; its keys are URL-encoded (`+` is a space) and are decoded here;
//! - **S3's test event** (`{"Service":"Amazon S3","Event":"s3:TestEvent",…}`), sent once when a notification is
//!   configured; it announces nothing.
//!
//! Only object *creations* are announcements: S3 records and our messages whose event name is not `ObjectCreated:*`
//! are skipped, so a message may announce nothing (`Ok` with an empty vector) — delete it and move on. Anything else
//! is a [`MessageError`] that says in one line why the body was not understood.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One object that a message says was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The bucket, when the message names it (S3 events always do; our messages should).
    pub bucket: Option<String>,
    /// The object key, decoded: exactly the key to pass to `GetObject`. Never empty.
    pub key: String,
    /// The object size in bytes, when given.
    pub size: Option<u64>,
    /// The ETag as the message gives it (S3 events give it without quotes).
    pub etag: Option<String>,
    /// When the object was created, an RFC 3339 timestamp exactly as the message gives it.
    pub event_time: Option<String>,
}

/// Why a message body is not an announcement this subscriber understands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The body (or an SNS envelope's `Message`) does not parse as JSON.
    #[error("message is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The JSON is an array, string, number, … rather than an object.
    #[error("message is JSON {0}, not an object")]
    NotAnObject(&'static str),
    /// An SNS message other than a notification, e.g. a `SubscriptionConfirmation`.
    #[error("SNS message of type {0:?} is not a notification")]
    NotANotification(String),
    /// An SNS notification whose `Message` field is missing or not a string.
    #[error("SNS notification has no string `Message` field")]
    NoSnsMessage,
    /// SNS envelopes nested deeper than any real delivery path produces.
    #[error("SNS envelopes are nested more than {MAX_ENVELOPE_DEPTH} deep")]
    TooDeep,
    /// An S3 service event other than the test event.
    #[error("S3 service event {0:?} is not an object creation")]
    UnknownS3Event(String),
    /// A JSON object that is no known shape: no SNS `Type`, no `Records`, no `key`.
    #[error("message has no `key` (and is neither an SNS notification nor an S3 event)")]
    MissingKey,
    /// An announcement whose key is the empty string.
    #[error("message announces an empty key")]
    EmptyKey,
    /// Our announcement has a field of the wrong type (or a `null` key).
    #[error("announcement is malformed: {0}")]
    MalformedAnnouncement(#[source] serde_json::Error),
    /// An S3 event whose `Records` is not an array.
    #[error("S3 event is malformed: {0}")]
    MalformedS3Event(#[source] serde_json::Error),
    /// One record of an S3 event lacks a field or has one of the wrong type.
    #[error("S3 event record {index} is malformed: {source}")]
    MalformedS3Record {
        /// Position of the record in `Records`.
        index: usize,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// An S3 event key whose percent-escapes decode to bytes that are not UTF-8 (S3 keys always are).
    #[error("S3 event key {0:?} does not decode to UTF-8")]
    KeyNotUtf8(String),
}

/// How many SNS envelopes may wrap an announcement (one is normal; SNS → SNS fan-out adds one each).
pub const MAX_ENVELOPE_DEPTH: usize = 4;

/// Reads the body of one SQS message and returns the objects it announces as created, in message order.
///
/// `Ok(vec![])` means a well-formed message that announces nothing (S3's test event, only non-creation records);
/// the caller should delete it. `Err` means the body is not understood; the caller should log the reason and leave
/// the message to the queue's redrive policy (or delete it) — never crash.
pub fn parse(body: &str) -> Result<Vec<Announcement>, MessageError> {
    parse_nested(body, 0)
}

fn parse_nested(body: &str, depth: usize) -> Result<Vec<Announcement>, MessageError> {
    let value: Value = serde_json::from_str(body).map_err(MessageError::NotJson)?;
    let object = match value {
        Value::Object(object) => object,
        other => return Err(MessageError::NotAnObject(json_kind(&other))),
    };

    // SNS envelope: `Type` is `Notification`; other SNS types carry a `TopicArn` too.
    if let Some(Value::String(kind)) = object.get("Type") {
        if kind == "Notification" {
            let Some(Value::String(message)) = object.get("Message") else {
                return Err(MessageError::NoSnsMessage);
            };
            if depth >= MAX_ENVELOPE_DEPTH {
                return Err(MessageError::TooDeep);
            }
            return parse_nested(message, depth + 1);
        }
        if object.contains_key("TopicArn") {
            return Err(MessageError::NotANotification(kind.clone()));
        }
    }

    // S3 event notification.
    if object.contains_key("Records") {
        return parse_s3_event(object);
    }

    // S3 test event (`{"Service":"Amazon S3","Event":"s3:TestEvent",…}`).
    if let Some(Value::String(event)) = object.get("Event")
        && object.get("Service").and_then(Value::as_str) == Some("Amazon S3")
    {
        return if event == "s3:TestEvent" { Ok(Vec::new()) } else { Err(MessageError::UnknownS3Event(event.clone())) };
    }

    // Our announcement.
    if object.contains_key("key") {
        return parse_announcement(object);
    }
    Err(MessageError::MissingKey)
}

/// Our own format (ARCHITECTURE.md, "The announcement"). Unknown fields are ignored so the notifier may add some.
#[derive(Deserialize)]
struct OurMessage {
    #[serde(default)]
    bucket: Option<String>,
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
}

fn parse_announcement(object: Map<String, Value>) -> Result<Vec<Announcement>, MessageError> {
    let message: OurMessage =
        serde_json::from_value(Value::Object(object)).map_err(MessageError::MalformedAnnouncement)?;
    if message.event_name.as_deref().is_some_and(|name| !is_creation(name)) {
        return Ok(Vec::new());
    }
    if message.key.is_empty() {
        return Err(MessageError::EmptyKey);
    }
    Ok(vec![Announcement {
        bucket: message.bucket,
        key: message.key,
        size: message.size,
        etag: message.etag,
        event_time: message.event_time,
    }])
}

#[derive(Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<Value>,
}

/// Just enough of a record to decide whether to read the rest.
#[derive(Deserialize)]
struct S3RecordHead {
    #[serde(rename = "eventName")]
    event_name: String,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventTime", default)]
    event_time: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    #[serde(default)]
    bucket: Option<S3Bucket>,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
}

fn parse_s3_event(object: Map<String, Value>) -> Result<Vec<Announcement>, MessageError> {
    let event: S3Event = serde_json::from_value(Value::Object(object)).map_err(MessageError::MalformedS3Event)?;
    let mut announcements = Vec::new();
    for (index, record) in event.records.into_iter().enumerate() {
        let malformed = |source| MessageError::MalformedS3Record { index, source };
        let head = S3RecordHead::deserialize(&record).map_err(malformed)?;
        if !is_creation(&head.event_name) {
            continue;
        }
        let record = S3Record::deserialize(&record).map_err(malformed)?;
        let key = decode_s3_key(&record.s3.object.key)?;
        if key.is_empty() {
            return Err(MessageError::EmptyKey);
        }
        announcements.push(Announcement {
            bucket: record.s3.bucket.map(|bucket| bucket.name),
            key,
            size: record.s3.object.size,
            etag: record.s3.object.etag,
            event_time: record.event_time,
        });
    }
    Ok(announcements)
}

fn is_creation(event_name: &str) -> bool {
    event_name.starts_with("ObjectCreated:")
}

/// Decodes a key as S3 writes it in event notifications (`+` is a space, `%XX` a byte); the bytes
/// must be UTF-8.
fn decode_s3_key(encoded: &str) -> Result<String, MessageError> {
    common::conventions::s3_key::decode(encoded).map_err(|_| MessageError::KeyNotUtf8(encoded.to_owned()))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Our announcement for the seed's file, as the notifier publishes it.
    const OURS: &str = r#"{"bucket":"snow-observing-systems","key":"Optimization_result.geojson","size":5843,"etag":"0123456789abcdef0123456789abcdef","event_name":"ObjectCreated:Put","event_time":"2024-03-01T12:34:56.789Z"}"#;

    fn seed_announcement() -> Announcement {
        Announcement {
            bucket: Some("snow-observing-systems".into()),
            key: "Optimization_result.geojson".into(),
            size: Some(5843),
            etag: Some("0123456789abcdef0123456789abcdef".into()),
            event_time: Some("2024-03-01T12:34:56.789Z".into()),
        }
    }

    /// Wraps `message` in an SNS envelope with every field SNS sends to an SQS subscriber.
    fn envelope(message: &str, subject: Option<&str>) -> String {
        let mut envelope = json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability",
            "Message": message,
            "Timestamp": "2024-03-01T12:34:57.012Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability:0b8e5d62-7c4a-4b2e-9f44-6f1d3a7c9a11"
        });
        if let Some(subject) = subject {
            envelope["Subject"] = json!(subject);
        }
        envelope.to_string()
    }

    /// A record exactly as S3 sends it (event version 2.1).
    fn s3_record(event_name: &str, encoded_key: &str) -> Value {
        json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2024-03-01T12:34:56.789Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.7"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "sos-new-data",
                "bucket": {
                    "name": "snow-observing-systems",
                    "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                    "arn": "arn:aws:s3:::snow-observing-systems"
                },
                "object": {
                    "key": encoded_key,
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "sequencer": "0055AED6DCD90281E5"
                }
            }
        })
    }

    fn s3_event(records: Vec<Value>) -> String {
        json!({ "Records": records }).to_string()
    }

    const TEST_EVENT: &str = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-03-01T12:00:00.000Z","Bucket":"snow-observing-systems","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    fn keys(body: &str) -> Vec<String> {
        parse(body).expect("message should parse").into_iter().map(|a| a.key).collect()
    }

    // ---- accepted shapes ----

    #[test]
    fn sns_envelope_exactly_as_sns_sends_it() {
        // Byte for byte what SQS hands over for an SNS subscription without raw delivery.
        let body = r#"{
  "Type" : "Notification",
  "MessageId" : "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
  "TopicArn" : "arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability",
  "Subject" : "New SOS data",
  "Message" : "{\"bucket\":\"snow-observing-systems\",\"key\":\"Optimization_result.geojson\",\"size\":5843,\"etag\":\"0123456789abcdef0123456789abcdef\",\"event_name\":\"ObjectCreated:Put\",\"event_time\":\"2024-03-01T12:34:56.789Z\"}",
  "Timestamp" : "2024-03-01T12:34:57.012Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
  "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability:0b8e5d62-7c4a-4b2e-9f44-6f1d3a7c9a11"
}"#;
        assert_eq!(parse(body).expect("envelope should parse"), vec![seed_announcement()]);
    }

    #[test]
    fn sns_envelope_built_from_our_format() {
        let body = envelope(OURS, Some("New SOS data"));
        assert_eq!(parse(&body).expect("envelope should parse"), vec![seed_announcement()]);
    }

    #[test]
    fn sns_envelope_without_subject() {
        assert_eq!(parse(&envelope(OURS, None)).expect("envelope should parse"), vec![seed_announcement()]);
    }

    #[test]
    fn raw_our_format() {
        // What SQS holds when the subscription has RawMessageDelivery on.
        assert_eq!(parse(OURS).expect("raw message should parse"), vec![seed_announcement()]);
    }

    #[test]
    fn our_format_with_only_a_key() {
        let parsed = parse(r#"{"key":"Optimization_result.geojson"}"#).expect("minimal message should parse");
        assert_eq!(
            parsed,
            vec![Announcement {
                bucket: None,
                key: "Optimization_result.geojson".into(),
                size: None,
                etag: None,
                event_time: None
            }]
        );
    }

    #[test]
    fn our_format_with_nulls_and_extra_fields() {
        let body = r#"{"bucket":null,"key":"a b+c.geojson","size":null,"etag":null,"event_time":null,"extra":[1,2]}"#;
        let parsed = parse(body).expect("message should parse");
        assert_eq!(parsed.len(), 1);
        // Our key is already decoded: `+` stays a plus.
        assert_eq!(parsed[0].key, "a b+c.geojson");
        assert_eq!(parsed[0].bucket, None);
        assert_eq!(parsed[0].size, None);
    }

    #[test]
    fn our_format_keeps_key_with_spaces_and_unicode() {
        let body = json!({"key": "Missouri Open Loop sample output/SWE 2024-03-01.geojson"}).to_string();
        assert_eq!(keys(&body), ["Missouri Open Loop sample output/SWE 2024-03-01.geojson"]);
        let body = json!({"key": "snow ü+ice.geojson"}).to_string();
        assert_eq!(keys(&body), ["snow ü+ice.geojson"]);
    }

    #[test]
    fn our_format_non_creation_event_announces_nothing() {
        let body = r#"{"bucket":"b","key":"gone.geojson","event_name":"ObjectRemoved:Delete"}"#;
        assert_eq!(parse(body).expect("message should parse"), vec![]);
    }

    #[test]
    fn s3_event_raw() {
        let body = s3_event(vec![s3_record("ObjectCreated:Put", "Optimization_result.geojson")]);
        assert_eq!(
            parse(&body).expect("S3 event should parse"),
            vec![Announcement {
                bucket: Some("snow-observing-systems".into()),
                key: "Optimization_result.geojson".into(),
                size: Some(1024),
                etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                event_time: Some("2024-03-01T12:34:56.789Z".into()),
            }]
        );
    }

    #[test]
    fn s3_event_inside_sns_envelope() {
        let event = s3_event(vec![s3_record(
            "ObjectCreated:CompleteMultipartUpload",
            "Missouri+Open+Loop+sample+output/SWE+2024-03-01.geojson",
        )]);
        let body = envelope(&event, Some("Amazon S3 Notification"));
        assert_eq!(keys(&body), ["Missouri Open Loop sample output/SWE 2024-03-01.geojson"]);
    }

    #[test]
    fn s3_event_keys_are_url_decoded() {
        let cases = [
            ("Optimization_result.geojson", "Optimization_result.geojson"),
            (
                "Missouri+Open+Loop+sample+output/SWE+2024-03-01.geojson",
                "Missouri Open Loop sample output/SWE 2024-03-01.geojson",
            ),
            ("snow+%C3%BC%2Bice.geojson", "snow ü+ice.geojson"),
            ("URL-encoded+with+plus+for+space%2B", "URL-encoded with plus for space+"),
            ("a%26b%3Dc", "a&b=c"),
            // Literal `&` and `=` (S3 escapes them, but be lenient) stay part of the key.
            ("a&b=c", "a&b=c"),
            ("100%25", "100%"),
            ("%e2%9d%84", "❄"),
            ("%EF%BF%BD", "\u{FFFD}"),
            // Already-decoded non-ASCII passes through.
            ("schnee+ü", "schnee ü"),
        ];
        for (encoded, decoded) in cases {
            let body = s3_event(vec![s3_record("ObjectCreated:Put", encoded)]);
            assert_eq!(keys(&body), [decoded], "decoding {encoded:?}");
        }
    }

    #[test]
    fn s3_event_key_that_is_not_utf8_is_an_error() {
        for encoded in ["bad%FF", "%C3", "%EF%BF%BD%FF", "ok%C3%28"] {
            let body = s3_event(vec![s3_record("ObjectCreated:Put", encoded)]);
            assert!(matches!(parse(&body), Err(MessageError::KeyNotUtf8(_))), "{encoded:?}");
        }
    }

    #[test]
    fn s3_event_only_creations_are_kept_in_order() {
        let body = s3_event(vec![
            s3_record("ObjectCreated:Put", "one"),
            s3_record("ObjectRemoved:Delete", "two"),
            s3_record("ObjectCreated:Copy", "three"),
            s3_record("ObjectTagging:Put", "four"),
            s3_record("ObjectCreated:Post", "five"),
        ]);
        assert_eq!(keys(&body), ["one", "three", "five"]);
    }

    #[test]
    fn s3_event_with_no_creations_announces_nothing() {
        let body = s3_event(vec![s3_record("ObjectRemoved:Delete", "gone")]);
        assert_eq!(parse(&body).expect("S3 event should parse"), vec![]);
        assert_eq!(parse(&s3_event(vec![])).expect("empty S3 event should parse"), vec![]);
    }

    #[test]
    fn skipped_records_are_not_validated() {
        // A non-creation record need only name its event.
        let body = s3_event(vec![json!({"eventName": "ObjectRemoved:Delete"}), s3_record("ObjectCreated:Put", "k")]);
        assert_eq!(keys(&body), ["k"]);
    }

    #[test]
    fn s3_test_event_announces_nothing() {
        assert_eq!(parse(TEST_EVENT).expect("test event should parse"), vec![]);
        let body = envelope(TEST_EVENT, Some("Amazon S3 Notification"));
        assert_eq!(parse(&body).expect("enveloped test event should parse"), vec![]);
    }

    #[test]
    fn nested_envelopes_up_to_the_limit() {
        let mut body = OURS.to_owned();
        for _ in 0..MAX_ENVELOPE_DEPTH {
            body = envelope(&body, None);
        }
        assert_eq!(parse(&body).expect("nested envelopes should parse"), vec![seed_announcement()]);
        let too_deep = envelope(&body, None);
        assert!(matches!(parse(&too_deep), Err(MessageError::TooDeep)));
    }

    // ---- hostile and malformed input ----

    #[test]
    fn not_json() {
        for body in ["", "   ", "Optimization_result.geojson", "{", "{\"key\":", "key=value", "\u{0}"] {
            assert!(matches!(parse(body), Err(MessageError::NotJson(_))), "{body:?}");
        }
    }

    #[test]
    fn json_that_is_not_an_object() {
        for (body, kind) in [
            ("null", "null"),
            ("true", "boolean"),
            ("42", "number"),
            ("\"k\"", "string"),
            ("[{\"key\":\"k\"}]", "array"),
        ] {
            match parse(body) {
                Err(MessageError::NotAnObject(found)) => assert_eq!(found, kind),
                other => panic!("{body:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn object_without_key() {
        for body in ["{}", r#"{"Key":"k"}"#, r#"{"bucket":"b"}"#, r#"{"Message":"{\"key\":\"k\"}"}"#] {
            assert!(matches!(parse(body), Err(MessageError::MissingKey)), "{body:?}");
        }
    }

    #[test]
    fn empty_key() {
        assert!(matches!(parse(r#"{"key":""}"#), Err(MessageError::EmptyKey)));
        assert!(matches!(parse(&envelope(r#"{"key":""}"#, None)), Err(MessageError::EmptyKey)));
        let body = s3_event(vec![s3_record("ObjectCreated:Put", "")]);
        assert!(matches!(parse(&body), Err(MessageError::EmptyKey)));
    }

    #[test]
    fn our_format_wrong_types() {
        for body in [
            r#"{"key":null}"#,
            r#"{"key":42}"#,
            r#"{"key":["a"]}"#,
            r#"{"key":"k","size":"5843"}"#,
            r#"{"key":"k","size":-1}"#,
            r#"{"key":"k","size":1.5}"#,
            r#"{"key":"k","bucket":7}"#,
            r#"{"key":"k","etag":{}}"#,
            r#"{"key":"k","event_time":1709296496}"#,
            r#"{"key":"k","event_name":true}"#,
        ] {
            assert!(matches!(parse(body), Err(MessageError::MalformedAnnouncement(_))), "{body:?}");
        }
    }

    #[test]
    fn sns_envelope_problems() {
        let no_message = r#"{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:0:t"}"#;
        assert!(matches!(parse(no_message), Err(MessageError::NoSnsMessage)));
        let object_message = r#"{"Type":"Notification","Message":{"key":"k"}}"#;
        assert!(matches!(parse(object_message), Err(MessageError::NoSnsMessage)));
        let not_json = envelope("Data uploaded successfully at 12:34:56!", None);
        assert!(matches!(parse(&not_json), Err(MessageError::NotJson(_))));
        let empty = envelope("", None);
        assert!(matches!(parse(&empty), Err(MessageError::NotJson(_))));
        let no_key = envelope(r#"{"bucket":"b"}"#, None);
        assert!(matches!(parse(&no_key), Err(MessageError::MissingKey)));
        let array = envelope("[]", None);
        assert!(matches!(parse(&array), Err(MessageError::NotAnObject("array"))));
    }

    #[test]
    fn sns_subscription_confirmation_is_not_a_notification() {
        let body = r#"{"Type":"SubscriptionConfirmation","MessageId":"m","Token":"t","TopicArn":"arn:aws:sns:us-east-1:0:t","Message":"You have chosen to subscribe…","SubscribeURL":"https://sns.example/"}"#;
        match parse(body) {
            Err(MessageError::NotANotification(kind)) => assert_eq!(kind, "SubscriptionConfirmation"),
            other => panic!("gave {other:?}"),
        }
    }

    #[test]
    fn unknown_s3_service_event() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:SomethingElse"}"#;
        assert!(matches!(parse(body), Err(MessageError::UnknownS3Event(_))));
    }

    #[test]
    fn s3_event_wrong_types() {
        assert!(matches!(parse(r#"{"Records":{}}"#), Err(MessageError::MalformedS3Event(_))));
        assert!(matches!(parse(r#"{"Records":null}"#), Err(MessageError::MalformedS3Event(_))));

        let mut bad_size = s3_record("ObjectCreated:Put", "k");
        bad_size["s3"]["object"]["size"] = json!("1024");
        let mut no_key = s3_record("ObjectCreated:Put", "k");
        no_key["s3"]["object"].as_object_mut().expect("object").remove("key");
        let mut numeric_key = s3_record("ObjectCreated:Put", "k");
        numeric_key["s3"]["object"]["key"] = json!(5);
        let mut no_s3 = s3_record("ObjectCreated:Put", "k");
        no_s3.as_object_mut().expect("record").remove("s3");
        let mut bucket_without_name = s3_record("ObjectCreated:Put", "k");
        bucket_without_name["s3"]["bucket"] = json!({});
        let cases =
            [bad_size, no_key, numeric_key, no_s3, bucket_without_name, json!({"eventName": 1}), json!({}), json!("r")];
        for record in cases {
            let body = s3_event(vec![s3_record("ObjectCreated:Put", "ok"), record.clone()]);
            match parse(&body) {
                Err(MessageError::MalformedS3Record { index, .. }) => assert_eq!(index, 1, "{record}"),
                other => panic!("{record} gave {other:?}"),
            }
        }
    }

    #[test]
    fn errors_display_on_one_line() {
        let bodies = [
            String::new(),
            "[]".into(),
            "{}".into(),
            r#"{"key":""}"#.into(),
            r#"{"key":"k","size":"x"}"#.into(),
            r#"{"Records":1}"#.into(),
            s3_event(vec![json!({})]),
            s3_event(vec![s3_record("ObjectCreated:Put", "%FF")]),
            r#"{"Type":"Notification"}"#.into(),
            r#"{"Type":"UnsubscribeConfirmation","TopicArn":"t"}"#.into(),
            r#"{"Service":"Amazon S3","Event":"s3:Other"}"#.into(),
            envelope("{\n\"key\":\n", None),
        ];
        for body in bodies {
            let error = parse(&body).expect_err("body should be rejected");
            let text = error.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{body:?} → {text:?}");
        }
    }
}
