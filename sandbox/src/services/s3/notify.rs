//! S3 event notifications: the bucket configurations (`PutBucketNotificationConfiguration`),
//! the events S3 sends, and their way out through the outbox.
//!
//! A write's events are built here, in the JSON S3 sends (`Records[]` of
//! [`aws_lambda_events`]' `S3EventRecord`: `eventVersion` 2.1, `eventSource` `aws:s3`,
//! `eventName` without the `s3:` prefix, the key URL-encoded as S3 encodes it, space as `+`), one
//! per configuration that covers the event, and added to the outbox in the write's own
//! transaction ([`Notifications::enqueue`]); [`super::delivery`] sends them. Setting a
//! configuration sends `s3:TestEvent` to its queues and topics, through the outbox too.
//!
//! Configurations are kept in the durable store (as S3's XML), so they survive restarts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::s3::{
    S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object, S3RequestParameters, S3UserIdentity,
};
use s3s::dto::{NotificationConfiguration, NotificationConfigurationFilter};
use serde::Serialize;

use crate::aws::{s3_url_encode, timestamp_ms};
use crate::error::AwsError;
use crate::services::sns::Sns;
use crate::services::sqs::Sqs;
use crate::state::{Store, StoreError, Writer};
use crate::{ACCOUNT_ID, REGION};

const NOTIFICATION_RECORD: &str = "s3-notification";

/// The ARN of the sandbox's Lambda stand-in, the `notifier` function.
pub const NOTIFIER_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:sos-notifier";

/// What happened to an object, as its event tells it.
#[derive(Debug, Clone)]
pub struct ObjectEvent {
    /// Bucket.
    pub bucket: String,
    /// Key, as stored (not encoded).
    pub key: String,
    /// Size in bytes (not for removals).
    pub size: Option<u64>,
    /// ETag without quotes (not for removals).
    pub etag: Option<String>,
    /// Version id, for a versioned bucket.
    pub version_id: Option<String>,
    /// `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, `ObjectCreated:Copy`,
    /// `ObjectRemoved:Delete`, `ObjectRemoved:DeleteMarkerCreated`.
    pub event_name: &'static str,
    /// The id of the request that caused it (`x-amz-request-id`).
    pub request_id: String,
}

/// The `s3:TestEvent` S3 sends to a queue or topic when a configuration names it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TestEvent<'a> {
    service: &'static str,
    event: &'static str,
    time: String,
    bucket: &'a str,
    request_id: &'a str,
    host_id: &'a str,
}

/// Bucket notification configurations, and the events they ask for.
#[derive(Debug)]
pub struct Notifications {
    configs: Mutex<HashMap<String, NotificationConfiguration>>,
    store: Arc<Store>,
    sqs: Arc<Sqs>,
    sns: Arc<Sns>,
}

/// S3's sequencer: a hexadecimal value that grows with every event.
fn sequencer() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    let mut current = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(current.saturating_add(1));
        match LAST.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:016X}"),
            Err(actual) => current = actual,
        }
    }
}

impl Notifications {
    /// The configurations `store` holds; destinations are checked against `sqs` and `sns`.
    pub(crate) fn open(store: Arc<Store>, sqs: Arc<Sqs>, sns: Arc<Sns>) -> Result<Self, StoreError> {
        let mut configs = HashMap::new();
        for (bucket, xml) in store.records::<String>(NOTIFICATION_RECORD)? {
            match from_xml(&xml) {
                Some(config) => {
                    configs.insert(bucket, config);
                }
                None => tracing::warn!("the stored notification configuration of bucket {bucket} is not valid XML"),
            }
        }
        Ok(Self { configs: Mutex::new(configs), store, sqs, sns })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, NotificationConfiguration>> {
        self.configs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `config` as S3 does before storing it: every destination must exist (the sandbox
    /// runs only the notifier function), and no two configurations may share an event type for
    /// keys both could match. Returns S3's message on failure.
    pub fn validate(&self, config: &NotificationConfiguration) -> Result<(), String> {
        let mut unreachable = Vec::new();
        for queue in config.queue_configurations.iter().flatten() {
            if !self.sqs.has_queue_arn(&queue.queue_arn) {
                unreachable.push(queue.queue_arn.as_str());
            }
        }
        for topic in config.topic_configurations.iter().flatten() {
            if !self.sns.has_topic(&topic.topic_arn) {
                unreachable.push(topic.topic_arn.as_str());
            }
        }
        for lambda in config.lambda_function_configurations.iter().flatten() {
            if lambda.lambda_function_arn != NOTIFIER_ARN {
                unreachable.push(lambda.lambda_function_arn.as_str());
            }
        }
        if !unreachable.is_empty() {
            return Err(format!(
                "Unable to validate the following destination configurations: {} (the sandbox's only function is \
                 {NOTIFIER_ARN})",
                unreachable.join(", ")
            ));
        }
        check_overlaps(config)
    }

    /// Replaces the configuration of `bucket`, and (in the same transaction) sends
    /// `s3:TestEvent` to each of its queues and topics, as S3 does.
    ///
    /// The map in memory is changed while the store's transaction is open: a write takes the
    /// store's lock and then this map's (to find the configurations its events need), so this
    /// map is never held while waiting for the store.
    pub fn set(&self, bucket: &str, config: NotificationConfiguration, request_id: &str) -> Result<(), AwsError> {
        let xml = to_xml(&config)?;
        let test = TestEvent {
            service: "Amazon S3",
            event: "s3:TestEvent",
            time: timestamp_ms(),
            bucket,
            request_id,
            host_id: request_id,
        };
        let test = serde_json::to_string(&test).map_err(|err| AwsError::internal(err.to_string()))?;
        let now = crate::aws::now_ms();
        let mut previous = None;
        let written = self.store.write(|w| {
            w.put(NOTIFICATION_RECORD, bucket, &xml)?;
            for queue in config.queue_configurations.iter().flatten() {
                w.enqueue_event(&queue.queue_arn, &test, now)?;
            }
            for topic in config.topic_configurations.iter().flatten() {
                w.enqueue_event(&topic.topic_arn, &test, now)?;
            }
            previous = Some(self.lock().insert(bucket.to_owned(), config.clone()));
            Ok(())
        });
        if written.is_err() {
            self.restore(bucket, previous);
        }
        Ok(written?)
    }

    /// Forgets the configuration of a deleted `bucket`.
    pub fn remove(&self, bucket: &str) -> Result<(), AwsError> {
        let mut previous = None;
        let written = self.store.write(|w| {
            w.delete(NOTIFICATION_RECORD, bucket)?;
            previous = Some(self.lock().remove(bucket));
            Ok(())
        });
        if written.is_err() {
            self.restore(bucket, previous);
        }
        Ok(written?)
    }

    /// Puts back what a change whose transaction failed replaced.
    fn restore(&self, bucket: &str, previous: Option<Option<NotificationConfiguration>>) {
        let Some(previous) = previous else { return };
        let mut configs = self.lock();
        match previous {
            Some(config) => configs.insert(bucket.to_owned(), config),
            None => configs.remove(bucket),
        };
    }

    /// The configuration of `bucket` (empty when none was set).
    pub fn get(&self, bucket: &str) -> NotificationConfiguration {
        self.lock().get(bucket).cloned().unwrap_or_default()
    }

    /// Adds to the outbox, within the write's transaction `w`, the event for `event` for every
    /// configuration of its bucket that covers it. Returns how many were added.
    pub fn enqueue(&self, w: &Writer<'_>, event: &ObjectEvent) -> Result<usize, StoreError> {
        let configs = self.lock();
        let Some(config) = configs.get(&event.bucket) else { return Ok(0) };
        let name = format!("s3:{}", event.event_name);
        let matching = |events: &[s3s::dto::Event], filter: &Option<NotificationConfigurationFilter>| {
            covers(events, filter, &name, &event.key)
        };
        let mut destinations: Vec<(&str, &Option<String>)> = Vec::new();
        for queue in config.queue_configurations.iter().flatten().filter(|q| matching(&q.events, &q.filter)) {
            destinations.push((&queue.queue_arn, &queue.id));
        }
        for topic in config.topic_configurations.iter().flatten().filter(|t| matching(&t.events, &t.filter)) {
            destinations.push((&topic.topic_arn, &topic.id));
        }
        for lambda in config.lambda_function_configurations.iter().flatten().filter(|l| matching(&l.events, &l.filter))
        {
            destinations.push((&lambda.lambda_function_arn, &lambda.id));
        }
        if destinations.is_empty() {
            return Ok(0);
        }
        let now = crate::aws::now_ms();
        let sequencer = sequencer();
        for (destination, id) in &destinations {
            // S3 names the configuration in each event; it makes up an id for one that has none.
            let record = event_record(event, id.as_deref().unwrap_or("sandbox-generated"), &sequencer);
            w.enqueue_event(destination, &event_json(record)?, now)?;
        }
        Ok(destinations.len())
    }
}

/// The record S3 sends for `event` to the destination of configuration `configuration_id`.
pub fn event_record(event: &ObjectEvent, configuration_id: &str, sequencer: &str) -> S3EventRecord {
    let mut object = S3Object::default();
    object.key = Some(s3_url_encode(&event.key));
    object.size = event.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    object.e_tag.clone_from(&event.etag);
    object.version_id.clone_from(&event.version_id);
    object.sequencer = Some(sequencer.to_owned());

    let mut owner = S3UserIdentity::default();
    owner.principal_id = Some(ACCOUNT_ID.to_owned());
    let mut bucket = S3Bucket::default();
    bucket.name = Some(event.bucket.clone());
    bucket.owner_identity = Some(owner);
    bucket.arn = Some(format!("arn:aws:s3:::{}", event.bucket));

    let mut entity = S3Entity::default();
    entity.schema_version = Some("1.0".to_owned());
    entity.configuration_id = Some(configuration_id.to_owned());
    entity.bucket = bucket;
    entity.object = object;

    let mut caller = S3UserIdentity::default();
    caller.principal_id = Some(format!("AWS:{ACCOUNT_ID}"));
    let mut request = S3RequestParameters::default();
    request.source_ip_address = Some("127.0.0.1".to_owned());

    let mut record = S3EventRecord::default();
    record.event_version = Some("2.1".to_owned());
    record.event_source = Some("aws:s3".to_owned());
    record.aws_region = Some(REGION.to_owned());
    record.event_time = event_time();
    record.event_name = Some(event.event_name.to_owned());
    record.principal_id = caller;
    record.request_parameters = request;
    record.response_elements = HashMap::from([
        ("x-amz-request-id".to_owned(), event.request_id.clone()),
        ("x-amz-id-2".to_owned(), format!("sandbox/{}", event.request_id)),
    ]);
    record.s3 = entity;
    record
}

/// Now, to the millisecond (S3's event times have milliseconds).
fn event_time() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// `record` as the JSON S3 sends: one record under `Records`, without the fields S3 leaves out
/// (those the record has no value for), and the time with milliseconds.
pub fn event_json(record: S3EventRecord) -> Result<String, serde_json::Error> {
    let time = record.event_time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut event = S3Event::default();
    event.records = vec![record];
    let mut value = serde_json::to_value(&event)?;
    drop_nulls(&mut value);
    if let Some(record) = value.pointer_mut("/Records/0/eventTime") {
        *record = serde_json::Value::String(time);
    }
    serde_json::to_string(&value)
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// S3's check that no two configurations of `config` share an event type for keys both could
/// match; S3's message on failure.
pub fn check_overlaps(config: &NotificationConfiguration) -> Result<(), String> {
    let mut destinations = Vec::new();
    for queue in config.queue_configurations.iter().flatten() {
        destinations.push((&queue.events, &queue.filter));
    }
    for topic in config.topic_configurations.iter().flatten() {
        destinations.push((&topic.events, &topic.filter));
    }
    for lambda in config.lambda_function_configurations.iter().flatten() {
        destinations.push((&lambda.events, &lambda.filter));
    }
    for (i, (events_a, filter_a)) in destinations.iter().enumerate() {
        for (events_b, filter_b) in &destinations[i + 1..] {
            let shared = events_a.iter().any(|a| events_b.iter().any(|b| events_overlap(a.as_ref(), b.as_ref())));
            if shared && filters_overlap(filter_a, filter_b) {
                return Err("Configurations overlap. Configurations on the same bucket cannot share a common \
                            event type."
                    .to_owned());
            }
        }
    }
    Ok(())
}

/// Whether a configuration with `events` and `filter` is told of event `name` (`s3:ObjectCreated:Put`)
/// on `key`.
pub fn covers(
    events: &[s3s::dto::Event],
    filter: &Option<NotificationConfigurationFilter>,
    name: &str,
    key: &str,
) -> bool {
    events.iter().any(|e| event_matches(e.as_ref(), name)) && filter_matches(filter, key)
}

/// Whether a configured event (`s3:ObjectCreated:*`, `s3:ObjectCreated:Put`) covers `name`.
fn event_matches(configured: &str, name: &str) -> bool {
    match configured.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => configured == name,
    }
}

/// Whether two configured events (`s3:ObjectCreated:*`, `s3:ObjectCreated:Put`) cover a common event.
fn events_overlap(a: &str, b: &str) -> bool {
    let stem = |e: &str| e.strip_suffix('*').map(str::to_owned);
    match (stem(a), stem(b)) {
        (Some(a), Some(b)) => a.starts_with(&b) || b.starts_with(&a),
        (Some(prefix), None) => b.starts_with(&prefix),
        (None, Some(prefix)) => a.starts_with(&prefix),
        (None, None) => a == b,
    }
}

/// Whether some key could pass both filters: S3's overlap rule for prefix and suffix filters.
fn filters_overlap(a: &Option<NotificationConfigurationFilter>, b: &Option<NotificationConfigurationFilter>) -> bool {
    let rule = |filter: &Option<NotificationConfigurationFilter>, wanted: &str| {
        let rules = filter.as_ref().and_then(|f| f.key.as_ref()).and_then(|k| k.filter_rules.as_ref());
        rules
            .into_iter()
            .flatten()
            .find(|r| r.name.as_ref().is_some_and(|n| n.as_str().eq_ignore_ascii_case(wanted)))
            .and_then(|r| r.value.clone())
            .unwrap_or_default()
    };
    let (prefix_a, prefix_b) = (rule(a, "prefix"), rule(b, "prefix"));
    let (suffix_a, suffix_b) = (rule(a, "suffix"), rule(b, "suffix"));
    (prefix_a.starts_with(&prefix_b) || prefix_b.starts_with(&prefix_a))
        && (suffix_a.ends_with(&suffix_b) || suffix_b.ends_with(&suffix_a))
}

fn filter_matches(filter: &Option<NotificationConfigurationFilter>, key: &str) -> bool {
    let rules = filter.as_ref().and_then(|f| f.key.as_ref()).and_then(|k| k.filter_rules.as_ref());
    rules.into_iter().flatten().all(|rule| {
        let value = rule.value.as_deref().unwrap_or_default();
        match rule.name.as_ref().map(|n| n.as_str().to_ascii_lowercase()) {
            Some(name) if name == "prefix" => key.starts_with(value),
            Some(name) if name == "suffix" => key.ends_with(value),
            _ => true,
        }
    })
}

/// `config` as S3's XML, the form it is stored in.
pub fn to_xml(config: &NotificationConfiguration) -> Result<String, AwsError> {
    let mut buf = Vec::new();
    let mut ser = s3s::xml::Serializer::new(&mut buf);
    s3s::xml::Serialize::serialize(config, &mut ser)
        .map_err(|err| AwsError::internal(format!("cannot encode the notification configuration: {err:?}")))?;
    String::from_utf8(buf).map_err(|err| AwsError::internal(err.to_string()))
}

/// A configuration in S3's XML (as `PutBucketNotificationConfiguration` sends it, and as it is
/// stored); `None` when it is not one.
pub fn from_xml(xml: &str) -> Option<NotificationConfiguration> {
    from_xml_bytes(xml.as_bytes())
}

/// [`from_xml`] on bytes, which s3s reads as the request body.
pub fn from_xml_bytes(xml: &[u8]) -> Option<NotificationConfiguration> {
    let mut de = s3s::xml::Deserializer::new(xml);
    <NotificationConfiguration as s3s::xml::Deserialize>::deserialize(&mut de).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_survive_their_xml_form() {
        use s3s::dto::{Event, QueueConfiguration};
        let config = NotificationConfiguration {
            queue_configurations: Some(vec![QueueConfiguration {
                events: vec![Event::from("s3:ObjectCreated:*".to_owned())],
                filter: None,
                id: Some("to-queue".into()),
                queue_arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
            }]),
            ..Default::default()
        };
        let back = from_xml(&to_xml(&config).expect("xml")).expect("parses");
        assert_eq!(format!("{back:?}"), format!("{config:?}"));
    }

    #[test]
    fn overlapping_events_and_filters() {
        assert!(events_overlap("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
        assert!(events_overlap("s3:ObjectCreated:*", "s3:ObjectCreated:*"));
        assert!(!events_overlap("s3:ObjectCreated:*", "s3:ObjectRemoved:*"));
        assert!(!events_overlap("s3:ObjectCreated:Put", "s3:ObjectCreated:Copy"));
        let filter = |prefix: &str, suffix: &str| {
            use s3s::dto::{FilterRule, FilterRuleName, S3KeyFilter};
            let rule = |name: &str, value: &str| FilterRule {
                name: Some(FilterRuleName::from(name.to_owned())),
                value: Some(value.to_owned()),
            };
            Some(NotificationConfigurationFilter {
                key: Some(S3KeyFilter { filter_rules: Some(vec![rule("prefix", prefix), rule("suffix", suffix)]) }),
            })
        };
        assert!(filters_overlap(&None, &filter("runs/", ".geojson")));
        assert!(filters_overlap(&filter("runs/", ""), &filter("runs/2024/", ".csv")));
        assert!(!filters_overlap(&filter("runs/", ""), &filter("data/", "")));
        assert!(!filters_overlap(&filter("", ".csv"), &filter("", ".geojson")));
    }

    #[test]
    fn events_have_s3s_shape_without_empty_fields() {
        let event = ObjectEvent {
            bucket: "b".into(),
            key: "dir/a b+c.txt".into(),
            size: Some(5),
            etag: Some("abc".into()),
            version_id: None,
            event_name: "ObjectCreated:Put",
            request_id: "0123456789ABCDEF".into(),
        };
        let json = event_json(event_record(&event, "config", "0000000000000001")).expect("json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        let record = &value["Records"][0];
        assert_eq!(record["eventName"], "ObjectCreated:Put");
        assert_eq!(record["s3"]["object"]["key"], "dir/a+b%2Bc.txt");
        assert_eq!(record["s3"]["object"]["size"], 5);
        assert_eq!(record["s3"]["configurationId"], "config");
        assert_eq!(record["responseElements"]["x-amz-request-id"], "0123456789ABCDEF");
        let time = record["eventTime"].as_str().expect("time");
        assert_eq!((time.len(), &time[19..20], &time[23..]), (24, ".", "Z"), "{time}");
        assert!(!json.contains("null"), "no empty fields: {json}");
        assert!(record["s3"]["object"].get("versionId").is_none());
        let parsed: S3Event = serde_json::from_str(&json).expect("aws_lambda_events reads it back");
        assert_eq!(parsed.records[0].s3.object.e_tag.as_deref(), Some("abc"));
        // A removal has no size or ETag.
        let removed = ObjectEvent { size: None, etag: None, event_name: "ObjectRemoved:Delete", ..event };
        let json = event_json(event_record(&removed, "config", "0000000000000002")).expect("json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert!(value["Records"][0]["s3"]["object"].get("size").is_none(), "{json}");
    }

    #[test]
    fn sequencers_grow() {
        let (a, b) = (sequencer(), sequencer());
        assert!(b > a, "{a} then {b}");
    }

    #[test]
    fn event_patterns() {
        assert!(event_matches("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
        assert!(event_matches("s3:ObjectCreated:Put", "s3:ObjectCreated:Put"));
        assert!(!event_matches("s3:ObjectCreated:Copy", "s3:ObjectCreated:Put"));
        assert!(!event_matches("s3:ObjectRemoved:*", "s3:ObjectCreated:Put"));
    }
}
