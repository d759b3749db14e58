//! S3 event notifications: the bucket configurations (`PutBucketNotificationConfiguration`) and
//! the delivery of `ObjectCreated` events to queues, topics and the Lambda stand-in.
//!
//! An event is emitted once the object is durably in place (after s3s-fs's rename), in the JSON
//! shape S3 sends: `Records[]` with `eventVersion` 2.1, `eventSource` `aws:s3`, `eventName`
//! without the `s3:` prefix, and the key URL-encoded as S3 encodes it (space as `+`). A Lambda
//! target runs `notifier`'s handler in-process — the same function the deployed Lambda runs —
//! with an SNS client pointed at the sandbox itself.
//!
//! Configurations are kept in the durable store (as S3's XML), so they survive restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use s3s::dto::{NotificationConfiguration, NotificationConfigurationFilter};
use serde_json::{Value, json};

use crate::aws::{arn_name, s3_url_encode, timestamp_ms, uuid};
use crate::error::AwsError;
use crate::services::sns::Sns;
use crate::services::sqs::Sqs;
use crate::state::{Store, StoreError};
use crate::{ACCOUNT_ID, REGION};

const NOTIFICATION_RECORD: &str = "s3-notification";

/// The ARN of the sandbox's Lambda stand-in, the `notifier` function.
pub const NOTIFIER_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:sos-notifier";

/// An object that was just created.
#[derive(Debug, Clone)]
pub struct CreatedObject {
    /// Bucket.
    pub bucket: String,
    /// Key, as stored (not encoded).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, `ObjectCreated:Copy`.
    pub event_name: &'static str,
}

/// Bucket notification configurations and their delivery.
#[derive(Debug)]
pub struct Notifications {
    configs: Mutex<HashMap<String, NotificationConfiguration>>,
    store: Arc<Store>,
    sqs: Arc<Sqs>,
    sns: Arc<Sns>,
    lambda: aws_sdk_sns::Client,
    lambda_topic: String,
}

impl Notifications {
    /// Delivery through `sqs` and `sns`; the Lambda stand-in publishes to `lambda_topic` with
    /// the SNS client `lambda` (the sandbox gives it one that reaches its own SNS in-process,
    /// signed with the MFA-exempt application key, as a Lambda's role would be exempt).
    ///
    /// Loads the configurations `store` holds.
    pub(crate) fn open(
        store: Arc<Store>,
        sqs: Arc<Sqs>,
        sns: Arc<Sns>,
        lambda: aws_sdk_sns::Client,
        lambda_topic: String,
    ) -> Result<Self, StoreError> {
        let mut configs = HashMap::new();
        for (bucket, xml) in store.records::<String>(NOTIFICATION_RECORD)? {
            match from_xml(&xml) {
                Some(config) => {
                    configs.insert(bucket, config);
                }
                None => tracing::warn!("the stored notification configuration of bucket {bucket} is not valid XML"),
            }
        }
        Ok(Self { configs: Mutex::new(configs), store, sqs, sns, lambda, lambda_topic })
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

    /// Replaces the configuration of `bucket`.
    pub fn set(&self, bucket: &str, config: NotificationConfiguration) -> Result<(), AwsError> {
        let mut configs = self.lock();
        let xml = to_xml(&config)?;
        self.store.write(|w| w.put(NOTIFICATION_RECORD, bucket, &xml))?;
        configs.insert(bucket.to_owned(), config);
        Ok(())
    }

    /// Forgets the configuration of a deleted `bucket`.
    pub fn remove(&self, bucket: &str) -> Result<(), AwsError> {
        let mut configs = self.lock();
        self.store.write(|w| w.delete(NOTIFICATION_RECORD, bucket))?;
        configs.remove(bucket);
        Ok(())
    }

    /// The configuration of `bucket` (empty when none was set).
    pub fn get(&self, bucket: &str) -> NotificationConfiguration {
        self.lock().get(bucket).cloned().unwrap_or_default()
    }

    /// Sends the event for `object` to every matching target. Runs after the write has
    /// returned; failures are logged, as S3 does not fail a PUT for a notification.
    pub async fn object_created(&self, object: CreatedObject) {
        let config = self.get(&object.bucket);
        let name = format!("s3:{}", object.event_name);
        let matching = |events: &[s3s::dto::Event], filter: &Option<NotificationConfigurationFilter>| {
            covers(events, filter, &name, &object.key)
        };
        // S3 names the configuration in each event; it makes up an id for one that has none.
        let event = |id: &Option<String>| event_json(&object, id.as_deref().unwrap_or("sandbox-generated"));
        for queue in config.queue_configurations.iter().flatten().filter(|q| matching(&q.events, &q.filter)) {
            let name = arn_name(&queue.queue_arn);
            if let Err(err) = self.sqs.send(name, event(&queue.id).to_string(), Default::default(), 0) {
                tracing::warn!("S3 could not notify queue {name}: {}", err.message);
            }
        }
        for topic in config.topic_configurations.iter().flatten().filter(|t| matching(&t.events, &t.filter)) {
            let message = event(&topic.id).to_string();
            if let Err(err) = self.sns.publish(&topic.topic_arn, &message, Some("Amazon S3 Notification"), &[]) {
                tracing::warn!("S3 could not notify topic {}: {}", topic.topic_arn, err.message);
            }
        }
        for lambda in config.lambda_function_configurations.iter().flatten().filter(|l| matching(&l.events, &l.filter))
        {
            if lambda.lambda_function_arn != NOTIFIER_ARN {
                tracing::warn!(function = lambda.lambda_function_arn, "the sandbox runs only the notifier function");
                continue;
            }
            self.invoke_notifier(&event(&lambda.id)).await;
        }
    }

    /// The Lambda stand-in: like Lambda's asynchronous invocation, it retries a failed run twice.
    async fn invoke_notifier(&self, event: &Value) {
        let event: aws_lambda_events::event::s3::S3Event = match serde_json::from_value(event.clone()) {
            Ok(event) => event,
            Err(err) => {
                tracing::error!("the S3 event does not fit aws_lambda_events' S3Event: {err}");
                return;
            }
        };
        for attempt in 1..=3 {
            match notifier::handle(event.clone(), &self.lambda, &self.lambda_topic).await {
                Ok(output) => {
                    tracing::info!("the notifier published {} announcement(s)", output.message_ids.len());
                    return;
                }
                Err(err) => tracing::warn!("the notifier failed (attempt {attempt} of 3): {err}"),
            }
        }
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

/// The event S3 sends for `object` to the destination of configuration `configuration_id`.
pub fn event_json(object: &CreatedObject, configuration_id: &str) -> Value {
    let now = timestamp_ms();
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": REGION,
            "eventTime": now,
            "eventName": object.event_name,
            "userIdentity": { "principalId": format!("AWS:{ACCOUNT_ID}") },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {
                "x-amz-request-id": uuid().replace('-', "")[..16].to_uppercase(),
                "x-amz-id-2": "sandbox",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": configuration_id,
                "bucket": {
                    "name": object.bucket,
                    "ownerIdentity": { "principalId": ACCOUNT_ID },
                    "arn": format!("arn:aws:s3:::{}", object.bucket),
                },
                "object": {
                    "key": s3_url_encode(&object.key),
                    "size": object.size,
                    "eTag": object.etag,
                    "sequencer": format!("{:016X}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) as u64),
                },
            },
        }]
    })
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
    fn event_patterns() {
        assert!(event_matches("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
        assert!(event_matches("s3:ObjectCreated:Put", "s3:ObjectCreated:Put"));
        assert!(!event_matches("s3:ObjectCreated:Copy", "s3:ObjectCreated:Put"));
        assert!(!event_matches("s3:ObjectRemoved:*", "s3:ObjectCreated:Put"));
    }
}
