//! The topic engine: topics, their SQS subscriptions (with raw delivery and filter policies),
//! and delivery of what is published. It knows nothing of the query protocol; `wire.rs` decodes
//! requests into its calls and encodes its results.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::filter::{AttributeValue, FilterPolicy, PolicyError, Scope};
use crate::aws::{now_ms, timestamp_ms, topic_arn, uuid};
use crate::error::AwsError;
use crate::services::sqs::{self, MessageAttribute, NewMessage, Sqs};
use crate::state::{Committed, Store, StoreError};
use crate::{ACCOUNT_ID, REGION};

pub(super) type Result<T> = std::result::Result<T, AwsError>;

const TOPIC_RECORD: &str = "sns-topic";
const SUBSCRIPTION_RECORD: &str = "sns-subscription";
/// The largest message SNS publishes.
pub(super) const MAX_MESSAGE_BYTES: usize = 256 * 1024;
const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

/// `InvalidParameter`, in SNS's words (`Invalid parameter: …`).
pub(super) fn invalid(message: impl std::fmt::Display) -> AwsError {
    AwsError::new("InvalidParameter", 400, format!("Invalid parameter: {message}"))
}

/// `NotFound` (HTTP 404).
pub(super) fn not_found(what: &str) -> AwsError {
    AwsError::new("NotFound", 404, format!("{what} does not exist"))
}

/// `ParameterValueInvalid`: a message attribute SNS refuses.
pub(super) fn parameter_value_invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("ParameterValueInvalid", 400, message)
}

/// The subscription attributes a caller may set.
const SUBSCRIPTION_ATTRIBUTES: [&str; 7] = [
    "RawMessageDelivery",
    "FilterPolicy",
    "FilterPolicyScope",
    "RedrivePolicy",
    "DeliveryPolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Subscription {
    arn: String,
    topic_arn: String,
    protocol: String,
    endpoint: String,
    raw: bool,
    /// `FilterPolicy`, `FilterPolicyScope`, `RedrivePolicy`, … as set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
    #[serde(skip)]
    policy: Option<FilterPolicy>,
}

impl Subscription {
    fn scope(&self) -> Scope {
        self.attributes.get("FilterPolicyScope").and_then(|s| Scope::parse(s).ok()).unwrap_or_default()
    }

    /// The filter policy as checked when it was set; `None` when there is none (or `{}`).
    fn compile(&mut self) {
        self.policy = self
            .attributes
            .get("FilterPolicy")
            .filter(|p| !p.trim().is_empty())
            .and_then(|p| FilterPolicy::parse(p, self.scope()).ok());
    }

    /// Whether a published message passes this subscription's filter policy.
    fn accepts(&self, publication: &Publication) -> bool {
        let Some(policy) = &self.policy else { return true };
        match policy.scope() {
            Scope::MessageBody => policy.matches_body(&publication.message),
            Scope::MessageAttributes => policy.matches_attributes(|name| {
                publication
                    .attributes
                    .iter()
                    .find(|a| a.name == name)
                    .map(|a| AttributeValue { data_type: &a.data_type, value: &a.value })
            }),
        }
    }

    /// All its attributes, as `GetSubscriptionAttributes` lists them.
    fn all_attributes(&self) -> Vec<(String, String)> {
        let mut all = vec![
            ("SubscriptionArn".to_owned(), self.arn.clone()),
            ("TopicArn".to_owned(), self.topic_arn.clone()),
            ("Owner".to_owned(), ACCOUNT_ID.to_owned()),
            ("Protocol".to_owned(), self.protocol.clone()),
            ("Endpoint".to_owned(), self.endpoint.clone()),
            ("ConfirmationWasAuthenticated".to_owned(), "true".to_owned()),
            ("PendingConfirmation".to_owned(), "false".to_owned()),
            ("RawMessageDelivery".to_owned(), self.raw.to_string()),
            ("SubscriptionPrincipal".to_owned(), format!("arn:aws:iam::{ACCOUNT_ID}:user/sandbox")),
        ];
        all.extend(self.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        if self.attributes.contains_key("FilterPolicy") && !self.attributes.contains_key("FilterPolicyScope") {
            all.push(("FilterPolicyScope".to_owned(), Scope::default().as_str().to_owned()));
        }
        all
    }
}

#[derive(Debug, Default)]
struct Topic {
    attributes: BTreeMap<String, String>,
    subscriptions: Vec<Subscription>,
    /// FIFO topics: deduplication id → (message id, sequence number, expiry).
    dedup: HashMap<String, (String, String, u64)>,
}

impl Topic {
    fn fifo(&self) -> bool {
        self.attributes.get("FifoTopic").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// A message attribute of `Publish`: name, data type, and value (a `Binary` one's base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAttribute {
    /// Name.
    pub name: String,
    /// `String`, `String.Array`, `Number`, `Binary`.
    pub data_type: String,
    /// The value.
    pub value: String,
}

/// What is published: the message, its subject and attributes, and the FIFO fields.
#[derive(Debug, Clone, Default)]
pub struct Publication {
    /// The message (for `MessageStructure=json`, already the one for SQS).
    pub message: String,
    /// The subject.
    pub subject: Option<String>,
    /// Message attributes.
    pub attributes: Vec<PublishAttribute>,
    /// FIFO topics: the message group.
    pub group_id: Option<String>,
    /// FIFO topics: the deduplication id.
    pub dedup_id: Option<String>,
}

/// What a publish answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The message id.
    pub message_id: String,
    /// FIFO topics: the sequence number.
    pub sequence_number: Option<String>,
}

/// Topics and their subscriptions.
#[derive(Debug)]
pub struct Sns {
    topics: Mutex<BTreeMap<String, Topic>>,
    store: Arc<Store>,
    sqs: Arc<Sqs>,
    base_url: String,
    sequence: Mutex<u128>,
}

/// Checks that `arn` has an ARN's six parts, as SNS does for parameter `parameter`.
pub(super) fn check_arn(parameter: &str, arn: &str) -> Result<()> {
    let parts = arn.split(':').count();
    if parts < 6 {
        return Err(invalid(format!("{parameter} Reason: An ARN must have at least 6 elements, not {parts}")));
    }
    Ok(())
}

impl Sns {
    /// SNS over `store` delivering to `sqs`; `base_url` is the sandbox's URL (for envelope links).
    /// Loads the topics and subscriptions the store holds.
    pub fn open(store: Arc<Store>, sqs: Arc<Sqs>, base_url: &str) -> std::result::Result<Self, StoreError> {
        let mut topics: BTreeMap<String, Topic> = BTreeMap::new();
        for (arn, attributes) in store.records::<BTreeMap<String, String>>(TOPIC_RECORD)? {
            topics.insert(arn, Topic { attributes, ..Topic::default() });
        }
        for (_, mut subscription) in store.records::<Subscription>(SUBSCRIPTION_RECORD)? {
            subscription.compile();
            if let Some(topic) = topics.get_mut(&subscription.topic_arn) {
                topic.subscriptions.push(subscription);
            }
        }
        Ok(Self {
            topics: Mutex::new(topics),
            store,
            sqs,
            base_url: base_url.trim_end_matches('/').to_owned(),
            sequence: Mutex::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Topic>> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates topic `name` with `attributes`, or finds it when it exists with the same values (SNS
    /// refuses other values); returns its ARN.
    pub fn create_topic(&self, name: &str, attributes: &BTreeMap<String, String>) -> Result<String> {
        let fifo = attributes.get("FifoTopic").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let stem = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
        let valid = stem.is_some_and(|stem| {
            !stem.is_empty() && name.len() <= 256 && stem.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        });
        if !valid {
            return Err(invalid(if fifo {
                "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII \
                 letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
            } else {
                "Topic Name"
            }));
        }
        for (key, value) in attributes {
            check_topic_attribute(key, value, fifo)?;
        }
        let arn = topic_arn(name);
        let mut topics = self.lock();
        if let Some(topic) = topics.get(&arn) {
            if attributes.iter().any(|(k, v)| topic.attributes.get(k) != Some(v)) {
                return Err(invalid("Attributes Reason: Topic already exists with different attributes"));
            }
            return Ok(arn);
        }
        self.store.write(|w| w.put(TOPIC_RECORD, &arn, attributes))?;
        topics.insert(arn.clone(), Topic { attributes: attributes.clone(), ..Topic::default() });
        Ok(arn)
    }

    /// Whether topic `arn` exists.
    pub fn has_topic(&self, arn: &str) -> bool {
        self.lock().contains_key(arn)
    }

    /// The ARNs of every topic.
    pub fn topic_arns(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Deletes topic `arn` and its subscriptions (a topic that does not exist is fine, as on SNS).
    pub fn delete_topic(&self, arn: &str) -> Result<()> {
        check_arn("TopicArn", arn)?;
        let mut topics = self.lock();
        if let Some(topic) = topics.get(arn) {
            self.store.write(|w| {
                w.delete(TOPIC_RECORD, arn)?;
                topic.subscriptions.iter().try_for_each(|s| w.delete(SUBSCRIPTION_RECORD, &s.arn))
            })?;
            topics.remove(arn);
        }
        Ok(())
    }

    /// The attributes of topic `arn`, as `GetTopicAttributes` lists them.
    pub fn topic_attributes(&self, arn: &str) -> Result<Vec<(String, String)>> {
        check_arn("TopicArn", arn)?;
        let topics = self.lock();
        let topic = topics.get(arn).ok_or_else(|| not_found("Topic"))?;
        let mut all = vec![
            ("TopicArn".to_owned(), arn.to_owned()),
            ("Owner".to_owned(), ACCOUNT_ID.to_owned()),
            ("SubscriptionsConfirmed".to_owned(), topic.subscriptions.len().to_string()),
            ("SubscriptionsPending".to_owned(), "0".to_owned()),
            ("SubscriptionsDeleted".to_owned(), "0".to_owned()),
        ];
        all.extend(topic.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(all)
    }

    /// Sets attribute `name` of topic `arn`.
    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<()> {
        check_arn("TopicArn", arn)?;
        let mut topics = self.lock();
        let topic = topics.get_mut(arn).ok_or_else(|| not_found("Topic"))?;
        if name == "FifoTopic" {
            return Err(invalid("AttributeName"));
        }
        check_topic_attribute(name, value, topic.fifo())?;
        let mut attributes = topic.attributes.clone();
        attributes.insert(name.to_owned(), value.to_owned());
        self.store.write(|w| w.put(TOPIC_RECORD, arn, &attributes))?;
        topic.attributes = attributes;
        Ok(())
    }

    /// Subscribes `endpoint` (a queue ARN for protocol `sqs`) to `topic_arn` with raw delivery or
    /// not (the seed's way); see [`Sns::subscribe_with`].
    pub fn subscribe(&self, topic_arn: &str, protocol: &str, endpoint: &str, raw: bool) -> Result<String> {
        let attributes = BTreeMap::from([("RawMessageDelivery".to_owned(), raw.to_string())]);
        self.subscribe_with(topic_arn, protocol, endpoint, &attributes)
    }

    /// Subscribes `endpoint` to `topic_arn` with subscription `attributes`; returns the
    /// subscription ARN — the same one for the same endpoint and attributes, and SNS's error
    /// for the same endpoint with other attributes.
    pub fn subscribe_with(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<String> {
        check_arn("TopicArn", topic_arn)?;
        const KNOWN: [&str; 10] =
            ["http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose", "ses"];
        if !KNOWN.contains(&protocol) {
            return Err(invalid(format!("Amazon SNS does not support this protocol string: {protocol}")));
        }
        if protocol != "sqs" {
            return Err(invalid(format!("the sandbox delivers only to the sqs protocol, not {protocol}")));
        }
        if !endpoint.starts_with("arn:")
            || endpoint.split(':').nth(2) != Some("sqs")
            || endpoint.split(':').count() != 6
        {
            return Err(invalid("SQS endpoint ARN"));
        }
        let mut subscription = Subscription {
            arn: format!("{topic_arn}:{}", uuid()),
            topic_arn: topic_arn.to_owned(),
            protocol: protocol.to_owned(),
            endpoint: endpoint.to_owned(),
            raw: false,
            attributes: BTreeMap::new(),
            policy: None,
        };
        for (name, value) in attributes {
            apply_attribute(&mut subscription, name, value)
                .map_err(|reason| invalid(format!("Attributes Reason: {reason}")))?;
        }
        apply_policy(&mut subscription).map_err(|err| invalid(err.message(true)))?;
        let mut topics = self.lock();
        let topic = topics.get_mut(topic_arn).ok_or_else(|| not_found("Topic"))?;
        let queue_fifo = sqs::arn_queue(endpoint).is_some_and(|q| q.ends_with(".fifo"));
        if queue_fifo && !topic.fifo() {
            return Err(invalid(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
            ));
        }
        if let Some(existing) = topic.subscriptions.iter().find(|s| s.endpoint == endpoint && s.protocol == protocol) {
            if existing.raw != subscription.raw || existing.attributes != subscription.attributes {
                return Err(invalid("Attributes Reason: Subscription already exists with different attributes"));
            }
            return Ok(existing.arn.clone());
        }
        self.store.write(|w| w.put(SUBSCRIPTION_RECORD, &subscription.arn, &subscription))?;
        let arn = subscription.arn.clone();
        topic.subscriptions.push(subscription);
        Ok(arn)
    }

    /// The attributes of subscription `arn`, as `GetSubscriptionAttributes` lists them.
    pub fn subscription_attributes(&self, arn: &str) -> Result<Vec<(String, String)>> {
        check_arn("SubscriptionArn", arn)?;
        let topics = self.lock();
        let subscription = topics
            .values()
            .flat_map(|t| &t.subscriptions)
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found("Subscription"))?;
        Ok(subscription.all_attributes())
    }

    /// Sets attribute `name` of subscription `arn` (an empty `FilterPolicy` removes it).
    pub fn set_subscription_attribute(&self, arn: &str, name: &str, value: &str) -> Result<()> {
        check_arn("SubscriptionArn", arn)?;
        if !SUBSCRIPTION_ATTRIBUTES.contains(&name) {
            return Err(invalid("AttributeName"));
        }
        let mut topics = self.lock();
        let subscription = topics
            .values_mut()
            .flat_map(|t| t.subscriptions.iter_mut())
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found("Subscription"))?;
        let mut updated = subscription.clone();
        apply_attribute(&mut updated, name, value).map_err(invalid)?;
        apply_policy(&mut updated).map_err(|err| invalid(err.message(false)))?;
        self.store.write(|w| w.put(SUBSCRIPTION_RECORD, arn, &updated))?;
        *subscription = updated;
        Ok(())
    }

    /// Removes subscription `arn` (one that does not exist is fine, as on SNS).
    pub fn unsubscribe(&self, arn: &str) -> Result<()> {
        check_arn("SubscriptionArn", arn)?;
        let mut topics = self.lock();
        self.store.write(|w| w.delete(SUBSCRIPTION_RECORD, arn))?;
        for topic in topics.values_mut() {
            topic.subscriptions.retain(|s| s.arn != arn);
        }
        Ok(())
    }

    /// The subscriptions (of `topic_arn`, or of every topic): ARN, protocol, endpoint, topic.
    pub fn subscriptions(&self, topic_arn: Option<&str>) -> Result<Vec<[String; 4]>> {
        let topics = self.lock();
        if let Some(arn) = topic_arn {
            check_arn("TopicArn", arn)?;
            if !topics.contains_key(arn) {
                return Err(not_found("Topic"));
            }
        }
        Ok(topics
            .iter()
            .filter(|(arn, _)| topic_arn.is_none_or(|t| t == *arn))
            .flat_map(|(_, topic)| topic.subscriptions.iter())
            .map(|s| [s.arn.clone(), s.protocol.clone(), s.endpoint.clone(), s.topic_arn.clone()])
            .collect())
    }

    /// Publishes `message` to `topic_arn`, blocking this thread until every delivery is on disk
    /// (S3's event notifications use this; async callers use [`Sns::publish_message`]); returns
    /// the message id.
    pub fn publish(
        &self,
        topic_arn: &str,
        message: &str,
        subject: Option<&str>,
        attributes: &[PublishAttribute],
    ) -> Result<String> {
        let publication = Publication {
            message: message.to_owned(),
            subject: subject.map(str::to_owned),
            attributes: attributes.to_vec(),
            ..Publication::default()
        };
        let (published, deliveries) = self.fan_out(topic_arn, &publication)?;
        for delivery in deliveries {
            if let Err(err) = delivery.wait_blocking() {
                tracing::warn!("SNS could not deliver a message of {topic_arn}: {err}");
            }
        }
        Ok(published.message_id)
    }

    /// `Publish`: delivers `publication` to every subscribed queue whose filter policy it passes,
    /// and answers once those deliveries are on disk.
    pub async fn publish_message(&self, topic_arn: &str, publication: &Publication) -> Result<Published> {
        let (published, deliveries) = self.fan_out(topic_arn, publication)?;
        for delivery in deliveries {
            if let Err(err) = delivery.wait().await {
                tracing::warn!("SNS could not deliver a message of {topic_arn}: {err}");
            }
        }
        Ok(published)
    }

    /// Checks a publication for topic `topic_arn` and hands it to each matching subscription's
    /// queue; returns its id and the deliveries' commits.
    fn fan_out(&self, topic_arn: &str, publication: &Publication) -> Result<(Published, Vec<Committed>)> {
        check_topic_arn(topic_arn)?;
        if publication.message.is_empty() {
            return Err(invalid("Empty message"));
        }
        let size = publication.message.len()
            + publication.attributes.iter().map(|a| a.name.len() + a.data_type.len() + a.value.len()).sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(invalid("Message too long"));
        }
        let mut topics = self.lock();
        let topic = topics.get_mut(topic_arn).ok_or_else(|| not_found("Topic"))?;
        let (fifo, content_based) =
            (topic.fifo(), topic.attributes.get("ContentBasedDeduplication").is_some_and(|v| v == "true"));
        let now = now_ms();
        let mut dedup_id = publication.dedup_id.clone();
        if fifo {
            if publication.group_id.is_none() {
                return Err(invalid("The MessageGroupId parameter is required for FIFO topics"));
            }
            if dedup_id.is_none() && !content_based {
                return Err(invalid(
                    "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId \
                     provided explicitly",
                ));
            }
            let id =
                dedup_id.get_or_insert_with(|| hex::encode(Sha256::digest(publication.message.as_bytes()))).clone();
            topic.dedup.retain(|_, (_, _, expires)| *expires > now);
            if let Some((message_id, sequence, _)) = topic.dedup.get(&id) {
                return Ok((
                    Published { message_id: message_id.clone(), sequence_number: Some(sequence.clone()) },
                    Vec::new(),
                ));
            }
        } else if publication.dedup_id.is_some() {
            return Err(invalid(
                "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid \
                 for this topic type",
            ));
        }
        let message_id = uuid();
        let sequence_number = fifo.then(|| {
            let mut last = self.sequence.lock().unwrap_or_else(|e| e.into_inner());
            *last = (*last + 1).max(u128::from(now) * 10_000_000);
            format!("{:020}", *last)
        });
        if let (Some(id), Some(sequence)) = (&dedup_id, &sequence_number) {
            topic.dedup.insert(id.clone(), (message_id.clone(), sequence.clone(), now + DEDUP_WINDOW_MS));
        }
        let subscriptions: Vec<Subscription> =
            topic.subscriptions.iter().filter(|s| s.accepts(publication)).cloned().collect();
        drop(topics);
        let mut deliveries = Vec::with_capacity(subscriptions.len());
        for subscription in subscriptions {
            let Some(queue) = sqs::arn_queue(&subscription.endpoint) else {
                tracing::warn!("SNS cannot deliver to {}: not a queue of this sandbox", subscription.endpoint);
                continue;
            };
            let mut message = if subscription.raw {
                let attributes = publication
                    .attributes
                    .iter()
                    .map(|a| {
                        let attribute = if a.data_type.starts_with("Binary") {
                            MessageAttribute {
                                data_type: a.data_type.clone(),
                                string_value: None,
                                binary_value: Some(a.value.clone()),
                            }
                        } else {
                            MessageAttribute::string(&a.data_type, &a.value)
                        };
                        (a.name.clone(), attribute)
                    })
                    .collect();
                NewMessage::new(publication.message.clone(), attributes)
            } else {
                let envelope = self.envelope(&message_id, sequence_number.as_deref(), &subscription, publication);
                NewMessage::new(envelope, BTreeMap::new())
            };
            if queue.ends_with(".fifo") {
                message.group_id.clone_from(&publication.group_id);
                message.dedup_id = Some(dedup_id.clone().unwrap_or_else(|| message_id.clone()));
            }
            match self.sqs.deliver(queue, message) {
                Ok((_, committed)) => deliveries.push(committed),
                Err(err) => {
                    tracing::warn!("SNS could not deliver a message of {topic_arn} to queue {queue}: {}", err.message)
                }
            }
        }
        Ok((Published { message_id, sequence_number }, deliveries))
    }

    /// The JSON envelope SNS wraps around a message delivered to SQS.
    fn envelope(
        &self,
        message_id: &str,
        sequence_number: Option<&str>,
        subscription: &Subscription,
        publication: &Publication,
    ) -> String {
        let mut envelope = Map::new();
        envelope.insert("Type".into(), json!("Notification"));
        envelope.insert("MessageId".into(), json!(message_id));
        if let Some(sequence) = sequence_number {
            envelope.insert("SequenceNumber".into(), json!(sequence));
        }
        envelope.insert("TopicArn".into(), json!(subscription.topic_arn));
        if let Some(subject) = &publication.subject {
            envelope.insert("Subject".into(), json!(subject));
        }
        envelope.insert("Message".into(), json!(publication.message));
        envelope.insert("Timestamp".into(), json!(timestamp_ms()));
        envelope.insert("SignatureVersion".into(), json!("1"));
        envelope.insert("Signature".into(), json!("c2FuZGJveA=="));
        envelope.insert("SigningCertURL".into(), json!(format!("{}/_sandbox/sns.pem", self.base_url)));
        envelope.insert(
            "UnsubscribeURL".into(),
            json!(format!("{}/?Action=Unsubscribe&SubscriptionArn={}", self.base_url, subscription.arn)),
        );
        if !publication.attributes.is_empty() {
            // By name: SDKs send a message's attributes in no particular order (a hash map's), and
            // serde_json keeps the order of insertion.
            let mut sorted: Vec<_> = publication.attributes.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            let attrs: Map<String, Value> =
                sorted.iter().map(|a| (a.name.clone(), json!({ "Type": a.data_type, "Value": a.value }))).collect();
            envelope.insert("MessageAttributes".into(), Value::Object(attrs));
        }
        Value::Object(envelope).to_string()
    }
}

/// A topic ARN SNS would look up: six parts, and in this sandbox's region and account.
fn check_topic_arn(arn: &str) -> Result<()> {
    check_arn("TopicArn", arn)?;
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.get(3) != Some(&REGION) || parts.get(4) != Some(&ACCOUNT_ID) {
        return Err(invalid("TopicArn"));
    }
    Ok(())
}

/// Checks topic attribute `name` = `value` for a FIFO topic or not.
fn check_topic_attribute(name: &str, value: &str, fifo: bool) -> Result<()> {
    match name {
        "Policy" | "DeliveryPolicy" | "DataProtectionPolicy"
            if !value.is_empty() && serde_json::from_str::<Map<String, Value>>(value).is_err() =>
        {
            Err(invalid(format!("Attributes Reason: {name}: not a JSON object")))
        }
        "FifoTopic" | "ContentBasedDeduplication" if !matches!(value, "true" | "false") => {
            Err(invalid(format!("Attributes Reason: {name}: Invalid value [{value}]. Must be true or false.")))
        }
        "ContentBasedDeduplication" if !fifo && value == "true" => Err(invalid(
            "Attributes Reason: ContentBasedDeduplication: Content-based deduplication can only be set for FIFO topics",
        )),
        "Policy"
        | "DeliveryPolicy"
        | "DataProtectionPolicy"
        | "DisplayName"
        | "KmsMasterKeyId"
        | "FifoTopic"
        | "ContentBasedDeduplication"
        | "SignatureVersion"
        | "TracingConfig"
        | "ArchivePolicy" => Ok(()),
        other => Err(invalid(format!("Attributes Reason: Invalid attribute name: {other}"))),
    }
}

/// Sets one attribute of `subscription` (without checking the filter policy against its scope,
/// which [`apply_policy`] does once all are set); the reason SNS gives on failure.
fn apply_attribute(subscription: &mut Subscription, name: &str, value: &str) -> std::result::Result<(), String> {
    match name {
        "RawMessageDelivery" => {
            subscription.raw = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("RawMessageDelivery: Invalid value [{value}]. Must be true or false.")),
            };
        }
        "FilterPolicyScope" => {
            Scope::parse(value)?;
            subscription.attributes.insert(name.to_owned(), value.to_owned());
        }
        "FilterPolicy" if value.trim().is_empty() => {
            subscription.attributes.remove(name);
        }
        "RedrivePolicy" => {
            let policy: Map<String, Value> =
                serde_json::from_str(value).map_err(|err| format!("RedrivePolicy: failed to parse JSON. {err}"))?;
            let target = policy.get("deadLetterTargetArn").and_then(Value::as_str).unwrap_or_default();
            if sqs::arn_queue(target).is_none() && target.split(':').count() != 6 {
                return Err("RedrivePolicy: deadLetterTargetArn is an invalid arn".into());
            }
            subscription.attributes.insert(name.to_owned(), value.to_owned());
        }
        name if SUBSCRIPTION_ATTRIBUTES.contains(&name) => {
            subscription.attributes.insert(name.to_owned(), value.to_owned());
        }
        other => return Err(format!("Invalid attribute name: {other}")),
    }
    Ok(())
}

/// Checks the subscription's filter policy against its scope and keeps the compiled form.
fn apply_policy(subscription: &mut Subscription) -> std::result::Result<(), PolicyError> {
    if let Some(text) = subscription.attributes.get("FilterPolicy") {
        FilterPolicy::parse(text, subscription.scope())?;
    }
    subscription.compile();
    Ok(())
}
