//! The sandbox's SNS: topics, SQS subscriptions and `Publish` over the query protocol.
//!
//! A message published to a topic reaches each subscribed queue as SNS delivers it: in the
//! standard JSON envelope (`Type`, `MessageId`, `TopicArn`, `Subject`, `Message`, `Timestamp`,
//! signature fields, `MessageAttributes`), or, with the subscription attribute
//! `RawMessageDelivery=true`, as the bare message with its attributes as SQS message attributes.
//! Topics, their attributes and subscriptions are kept in the durable store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::query::{Entries, Form, Members, entries, reply};
use super::sqs::{MessageAttribute, Sqs};
use crate::ACCOUNT_ID;
use crate::aws::{arn_name, timestamp_ms, topic_arn, uuid};
use crate::error::AwsError;
use crate::state::{Store, StoreError};

/// SNS's XML namespace.
pub const NAMESPACE: &str = "https://sns.amazonaws.com/doc/2010-03-31/";

const TOPIC_RECORD: &str = "sns-topic";
const SUBSCRIPTION_RECORD: &str = "sns-subscription";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Subscription {
    arn: String,
    topic_arn: String,
    protocol: String,
    endpoint: String,
    raw: bool,
}

#[derive(Debug, Default)]
struct Topic {
    attributes: BTreeMap<String, String>,
    subscriptions: Vec<Subscription>,
}

/// Topics and their subscriptions.
#[derive(Debug)]
pub struct Sns {
    topics: Mutex<BTreeMap<String, Topic>>,
    store: Arc<Store>,
    sqs: Arc<Sqs>,
    base_url: String,
}

fn not_found(what: &str) -> AwsError {
    AwsError::new("NotFound", 404, format!("{what} does not exist"))
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameter", 400, format!("Invalid parameter: {}", message.into()))
}

/// A message attribute of `Publish`: name, data type, string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAttribute {
    /// Name.
    pub name: String,
    /// `String`, `Number`, …
    pub data_type: String,
    /// The value.
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateTopicInput {
    name: String,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TopicInput {
    topic_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetTopicAttributesInput {
    topic_arn: String,
    attribute_name: String,
    attribute_value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubscribeInput {
    topic_arn: String,
    protocol: String,
    endpoint: String,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubscriptionInput {
    subscription_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetSubscriptionAttributesInput {
    subscription_arn: String,
    attribute_name: String,
    attribute_value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListSubscriptionsInput {
    topic_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishInput {
    topic_arn: Option<String>,
    target_arn: Option<String>,
    message: String,
    subject: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TopicArnResult<'a> {
    topic_arn: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTopicsResult<'a> {
    topics: Members<TopicArnResult<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesResult {
    attributes: Entries,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SubscriptionArnResult<'a> {
    subscription_arn: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SubscriptionMember<'a> {
    subscription_arn: &'a str,
    owner: &'a str,
    protocol: &'a str,
    endpoint: &'a str,
    topic_arn: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListSubscriptionsResult<'a> {
    subscriptions: Members<SubscriptionMember<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PublishResult<'a> {
    message_id: &'a str,
}

impl Sns {
    /// SNS over `store` delivering to `sqs`; `base_url` is the sandbox's URL (for envelope links).
    /// Loads the topics and subscriptions the store holds.
    pub fn open(store: Arc<Store>, sqs: Arc<Sqs>, base_url: &str) -> Result<Self, StoreError> {
        let mut topics: BTreeMap<String, Topic> = BTreeMap::new();
        for (arn, attributes) in store.records::<BTreeMap<String, String>>(TOPIC_RECORD)? {
            topics.insert(arn, Topic { attributes, subscriptions: Vec::new() });
        }
        for (_, subscription) in store.records::<Subscription>(SUBSCRIPTION_RECORD)? {
            if let Some(topic) = topics.get_mut(&subscription.topic_arn) {
                topic.subscriptions.push(subscription);
            }
        }
        Ok(Self { topics: Mutex::new(topics), store, sqs, base_url: base_url.trim_end_matches('/').to_owned() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Topic>> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates topic `name` with `attributes`, or finds it when it exists with the same values (SNS
    /// refuses other values); returns its ARN.
    pub fn create_topic(&self, name: &str, attributes: &BTreeMap<String, String>) -> Result<String, AwsError> {
        let valid =
            (1..=256).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if !valid {
            return Err(invalid("Topic Name"));
        }
        let arn = topic_arn(name);
        let mut topics = self.lock();
        if let Some(topic) = topics.get(&arn) {
            if attributes.iter().any(|(k, v)| topic.attributes.get(k) != Some(v)) {
                return Err(invalid("Topic already exists with different attributes"));
            }
            return Ok(arn);
        }
        self.store.write(|w| w.put(TOPIC_RECORD, &arn, attributes))?;
        topics.insert(arn.clone(), Topic { attributes: attributes.clone(), subscriptions: Vec::new() });
        Ok(arn)
    }

    /// Whether topic `arn` exists.
    pub fn has_topic(&self, arn: &str) -> bool {
        self.lock().contains_key(arn)
    }

    fn delete_topic(&self, arn: &str) -> Result<(), AwsError> {
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

    /// Sets attribute `name` of topic `arn`.
    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), AwsError> {
        const SETTABLE: [&str; 4] = ["Policy", "DisplayName", "DeliveryPolicy", "KmsMasterKeyId"];
        if !SETTABLE.contains(&name) {
            return Err(invalid(format!("AttributeName: the sandbox sets only {}", SETTABLE.join(", "))));
        }
        if name == "Policy" && serde_json::from_str::<Map<String, Value>>(value).is_err() {
            return Err(invalid("Policy: not a JSON object"));
        }
        let mut topics = self.lock();
        let topic = topics.get_mut(arn).ok_or_else(|| not_found("Topic"))?;
        let mut attributes = topic.attributes.clone();
        attributes.insert(name.to_owned(), value.to_owned());
        self.store.write(|w| w.put(TOPIC_RECORD, arn, &attributes))?;
        topic.attributes = attributes;
        Ok(())
    }

    /// Subscribes `endpoint` (a queue ARN for protocol `sqs`) to `topic_arn`; returns the
    /// subscription ARN (the same one again for the same endpoint).
    pub fn subscribe(&self, topic_arn: &str, protocol: &str, endpoint: &str, raw: bool) -> Result<String, AwsError> {
        if protocol != "sqs" {
            return Err(invalid(format!("the sandbox delivers only to the sqs protocol, not {protocol}")));
        }
        let mut topics = self.lock();
        let topic = topics.get_mut(topic_arn).ok_or_else(|| not_found("Topic"))?;
        if let Some(existing) = topic.subscriptions.iter_mut().find(|s| s.endpoint == endpoint) {
            let updated = Subscription { raw, ..existing.clone() };
            self.store.write(|w| w.put(SUBSCRIPTION_RECORD, &updated.arn, &updated))?;
            *existing = updated;
            return Ok(existing.arn.clone());
        }
        let subscription = Subscription {
            arn: format!("{topic_arn}:{}", uuid()),
            topic_arn: topic_arn.to_owned(),
            protocol: protocol.to_owned(),
            endpoint: endpoint.to_owned(),
            raw,
        };
        self.store.write(|w| w.put(SUBSCRIPTION_RECORD, &subscription.arn, &subscription))?;
        let arn = subscription.arn.clone();
        topic.subscriptions.push(subscription);
        Ok(arn)
    }

    fn update_subscription(&self, arn: &str, change: impl FnOnce(&mut Subscription)) -> Result<(), AwsError> {
        let mut topics = self.lock();
        let subscription = topics
            .values_mut()
            .flat_map(|t| t.subscriptions.iter_mut())
            .find(|s| s.arn == arn)
            .ok_or_else(|| not_found("Subscription"))?;
        let mut updated = subscription.clone();
        change(&mut updated);
        self.store.write(|w| w.put(SUBSCRIPTION_RECORD, arn, &updated))?;
        *subscription = updated;
        Ok(())
    }

    fn unsubscribe(&self, arn: &str) -> Result<(), AwsError> {
        let mut topics = self.lock();
        self.store.write(|w| w.delete(SUBSCRIPTION_RECORD, arn))?;
        for topic in topics.values_mut() {
            topic.subscriptions.retain(|s| s.arn != arn);
        }
        Ok(())
    }

    /// Publishes `message` to `topic_arn`, delivering it to every subscribed queue; returns the
    /// message id.
    pub fn publish(
        &self,
        topic_arn: &str,
        message: &str,
        subject: Option<&str>,
        attributes: &[PublishAttribute],
    ) -> Result<String, AwsError> {
        if message.is_empty() || message.len() > 256 * 1024 {
            return Err(invalid("Message must be 1 byte to 256 KiB long"));
        }
        let subscriptions =
            self.lock().get(topic_arn).map(|t| t.subscriptions.clone()).ok_or_else(|| not_found("Topic"))?;
        let message_id = uuid();
        for subscription in subscriptions {
            let queue = arn_name(&subscription.endpoint);
            let (body, sqs_attributes) = if subscription.raw {
                let attrs: BTreeMap<String, MessageAttribute> = attributes
                    .iter()
                    .map(|a| (a.name.clone(), MessageAttribute::string(&a.data_type, &a.value)))
                    .collect();
                (message.to_owned(), attrs)
            } else {
                (self.envelope(&message_id, &subscription, message, subject, attributes), BTreeMap::new())
            };
            if let Err(err) = self.sqs.send(queue, body, sqs_attributes, 0) {
                tracing::warn!("SNS could not deliver a message of {topic_arn} to queue {queue}: {}", err.message);
            }
        }
        Ok(message_id)
    }

    /// The JSON envelope SNS wraps around a message delivered to SQS.
    fn envelope(
        &self,
        message_id: &str,
        subscription: &Subscription,
        message: &str,
        subject: Option<&str>,
        attributes: &[PublishAttribute],
    ) -> String {
        let mut envelope = Map::new();
        envelope.insert("Type".into(), json!("Notification"));
        envelope.insert("MessageId".into(), json!(message_id));
        envelope.insert("TopicArn".into(), json!(subscription.topic_arn));
        if let Some(subject) = subject {
            envelope.insert("Subject".into(), json!(subject));
        }
        envelope.insert("Message".into(), json!(message));
        envelope.insert("Timestamp".into(), json!(timestamp_ms()));
        envelope.insert("SignatureVersion".into(), json!("1"));
        envelope.insert("Signature".into(), json!("c2FuZGJveA=="));
        envelope.insert("SigningCertURL".into(), json!(format!("{}/_sandbox/sns.pem", self.base_url)));
        envelope.insert(
            "UnsubscribeURL".into(),
            json!(format!("{}/?Action=Unsubscribe&SubscriptionArn={}", self.base_url, subscription.arn)),
        );
        if !attributes.is_empty() {
            // By name: SDKs send a message's attributes in no particular order (a hash map's), and
            // serde_json keeps the order of insertion.
            let mut sorted: Vec<&PublishAttribute> = attributes.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            let attrs: Map<String, Value> =
                sorted.iter().map(|a| (a.name.clone(), json!({ "Type": a.data_type, "Value": a.value }))).collect();
            envelope.insert("MessageAttributes".into(), Value::Object(attrs));
        }
        Value::Object(envelope).to_string()
    }

    /// Handles one query-protocol call; the answer is an XML document.
    pub fn handle(&self, form: &Form) -> Result<String, AwsError> {
        let action = form.action();
        let decode_error = |message: String| invalid(message);
        let done = || reply::<()>(NAMESPACE, &action, None);
        match action.as_str() {
            "CreateTopic" => {
                let input: CreateTopicInput = form.decode(decode_error)?;
                let attributes = entries(&input.rest, "Attributes", "key", "value").into_iter().collect();
                let arn = self.create_topic(&input.name, &attributes)?;
                reply(NAMESPACE, &action, Some(&TopicArnResult { topic_arn: &arn }))
            }
            "DeleteTopic" => {
                let input: TopicInput = form.decode(decode_error)?;
                self.delete_topic(&input.topic_arn)?;
                done()
            }
            "ListTopics" => {
                let arns: Vec<String> = self.lock().keys().cloned().collect();
                let member = arns.iter().map(|arn| TopicArnResult { topic_arn: arn }).collect();
                reply(NAMESPACE, &action, Some(&ListTopicsResult { topics: Members { member } }))
            }
            "GetTopicAttributes" => {
                let input: TopicInput = form.decode(decode_error)?;
                let topics = self.lock();
                let topic = topics.get(&input.topic_arn).ok_or_else(|| not_found("Topic"))?;
                let mut all = vec![
                    ("TopicArn".to_owned(), input.topic_arn.clone()),
                    ("Owner".to_owned(), ACCOUNT_ID.to_owned()),
                    ("SubscriptionsConfirmed".to_owned(), topic.subscriptions.len().to_string()),
                ];
                all.extend(topic.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
                reply(NAMESPACE, &action, Some(&AttributesResult { attributes: all.into_iter().collect() }))
            }
            "SetTopicAttributes" => {
                let input: SetTopicAttributesInput = form.decode(decode_error)?;
                let value = input.attribute_value.unwrap_or_default();
                self.set_topic_attribute(&input.topic_arn, &input.attribute_name, &value)?;
                done()
            }
            "Subscribe" => {
                let input: SubscribeInput = form.decode(decode_error)?;
                let attributes = entries(&input.rest, "Attributes", "key", "value");
                let raw = attributes.iter().any(|(k, v)| k == "RawMessageDelivery" && v.eq_ignore_ascii_case("true"));
                let arn = self.subscribe(&input.topic_arn, &input.protocol, &input.endpoint, raw)?;
                reply(NAMESPACE, &action, Some(&SubscriptionArnResult { subscription_arn: &arn }))
            }
            "Unsubscribe" => {
                let input: SubscriptionInput = form.decode(decode_error)?;
                self.unsubscribe(&input.subscription_arn)?;
                done()
            }
            "SetSubscriptionAttributes" => {
                let input: SetSubscriptionAttributesInput = form.decode(decode_error)?;
                if input.attribute_name != "RawMessageDelivery" {
                    return Err(invalid(format!(
                        "the sandbox supports only RawMessageDelivery, not {}",
                        input.attribute_name
                    )));
                }
                let raw = input.attribute_value.is_some_and(|v| v.eq_ignore_ascii_case("true"));
                self.update_subscription(&input.subscription_arn, |s| s.raw = raw)?;
                done()
            }
            "ListSubscriptions" | "ListSubscriptionsByTopic" => {
                let input: ListSubscriptionsInput = form.decode(decode_error)?;
                let topics = self.lock();
                let member = topics
                    .iter()
                    .filter(|(arn, _)| input.topic_arn.as_ref().is_none_or(|t| t == *arn))
                    .flat_map(|(_, topic)| topic.subscriptions.iter())
                    .map(|s| SubscriptionMember {
                        subscription_arn: &s.arn,
                        owner: ACCOUNT_ID,
                        protocol: &s.protocol,
                        endpoint: &s.endpoint,
                        topic_arn: &s.topic_arn,
                    })
                    .collect();
                reply(NAMESPACE, &action, Some(&ListSubscriptionsResult { subscriptions: Members { member } }))
            }
            "Publish" => {
                let input: PublishInput = form.decode(decode_error)?;
                let topic = input.topic_arn.or(input.target_arn).ok_or_else(|| invalid("TopicArn is required"))?;
                let attributes = publish_attributes(&input.rest);
                let id = self.publish(&topic, &input.message, input.subject.as_deref(), &attributes)?;
                reply(NAMESPACE, &action, Some(&PublishResult { message_id: &id }))
            }
            "" => Err(AwsError::new("MissingAction", 400, "Missing Action")),
            other => {
                Err(AwsError::new("InvalidAction", 400, format!("The action {other} is not valid for this endpoint.")))
            }
        }
    }
}

/// `MessageAttributes.entry.N.{Name, Value.DataType, Value.StringValue}` of a `Publish`.
fn publish_attributes(params: &BTreeMap<String, String>) -> Vec<PublishAttribute> {
    (1..)
        .map_while(|n| {
            let field = |f: &str| params.get(&format!("MessageAttributes.entry.{n}.{f}")).cloned();
            Some(PublishAttribute {
                name: field("Name")?,
                data_type: field("Value.DataType").unwrap_or_else(|| "String".into()),
                value: field("Value.StringValue").unwrap_or_default(),
            })
        })
        .collect()
}
