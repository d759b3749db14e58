//! The sandbox's SNS: topics, SQS subscriptions and `Publish` over the query protocol.
//!
//! A message published to a topic reaches each subscribed queue as SNS delivers it: in the
//! standard JSON envelope (`Type`, `MessageId`, `TopicArn`, `Subject`, `Message`, `Timestamp`,
//! signature fields, `MessageAttributes`), or, with the subscription attribute
//! `RawMessageDelivery=true`, as the bare message with its attributes as SQS message attributes.
//! Topics and subscriptions live in memory: a restarted sandbox starts from its seed again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::query::{QueryError, Reply, entries, ok_reply, request_id, timestamp_ms, xml_escape};
use crate::sqs::Sqs;
use crate::{ACCOUNT_ID, REGION};

/// SNS's XML namespace.
pub const NAMESPACE: &str = "https://sns.amazonaws.com/doc/2010-03-31/";

#[derive(Debug, Clone)]
struct Subscription {
    arn: String,
    topic_arn: String,
    protocol: String,
    endpoint: String,
    raw: bool,
}

/// Topics and their subscriptions.
#[derive(Debug)]
pub struct Sns {
    topics: Mutex<BTreeMap<String, Vec<Subscription>>>,
    /// The attributes set on each topic (`Policy`, `DisplayName`, …), by topic ARN.
    attributes: Mutex<HashMap<String, BTreeMap<String, String>>>,
    sqs: Arc<Sqs>,
    base_url: String,
}

/// The ARN of topic `name`.
pub fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}")
}

fn not_found(what: &str) -> QueryError {
    QueryError::new("NotFound", 404, format!("{what} does not exist"))
}

fn invalid(message: impl Into<String>) -> QueryError {
    QueryError::new("InvalidParameter", 400, format!("Invalid parameter: {}", message.into()))
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, QueryError> {
    params.get(name).map(String::as_str).ok_or_else(|| invalid(format!("{name} is required")))
}

impl Sns {
    /// An SNS that delivers to `sqs`; `base_url` is the sandbox's URL (for envelope links).
    pub fn new(sqs: Arc<Sqs>, base_url: &str) -> Self {
        Self {
            topics: Mutex::new(BTreeMap::new()),
            attributes: Mutex::new(HashMap::new()),
            sqs,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Subscription>>> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_attributes(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, String>>> {
        self.attributes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates topic `name` (idempotently) and returns its ARN.
    pub fn create_topic(&self, name: &str) -> Result<String, QueryError> {
        self.create_topic_with(name, &BTreeMap::new())
    }

    /// Creates topic `name` with `attributes`, or finds it when it exists with the same values (SNS
    /// refuses other values); returns its ARN.
    pub fn create_topic_with(&self, name: &str, attributes: &BTreeMap<String, String>) -> Result<String, QueryError> {
        let valid =
            (1..=256).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
        if !valid {
            return Err(invalid("Topic Name"));
        }
        let arn = topic_arn(name);
        let mut topics = self.lock();
        let mut all = self.lock_attributes();
        if topics.contains_key(&arn) {
            let have = all.get(&arn);
            if attributes.iter().any(|(k, v)| have.and_then(|h| h.get(k)) != Some(v)) {
                return Err(invalid("Topic already exists with different attributes"));
            }
            return Ok(arn);
        }
        topics.insert(arn.clone(), Vec::new());
        all.insert(arn.clone(), attributes.clone());
        Ok(arn)
    }

    /// Whether topic `arn` exists.
    pub fn has_topic(&self, arn: &str) -> bool {
        self.lock().contains_key(arn)
    }

    /// Sets attribute `name` of topic `arn`.
    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), QueryError> {
        const SETTABLE: [&str; 4] = ["Policy", "DisplayName", "DeliveryPolicy", "KmsMasterKeyId"];
        if !SETTABLE.contains(&name) {
            return Err(invalid(format!("AttributeName: the sandbox sets only {}", SETTABLE.join(", "))));
        }
        if name == "Policy" && serde_json::from_str::<Map<String, Value>>(value).is_err() {
            return Err(invalid("Policy: not a JSON object"));
        }
        if !self.lock().contains_key(arn) {
            return Err(not_found("Topic"));
        }
        self.lock_attributes().entry(arn.to_owned()).or_default().insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    /// Subscribes `endpoint` (a queue ARN for protocol `sqs`) to `topic_arn`; returns the
    /// subscription ARN (the same one again for the same endpoint).
    pub fn subscribe(&self, topic_arn: &str, protocol: &str, endpoint: &str, raw: bool) -> Result<String, QueryError> {
        if protocol != "sqs" {
            return Err(invalid(format!("the sandbox delivers only to the sqs protocol, not {protocol}")));
        }
        let mut topics = self.lock();
        let subscriptions = topics.get_mut(topic_arn).ok_or_else(|| not_found("Topic"))?;
        if let Some(existing) = subscriptions.iter_mut().find(|s| s.endpoint == endpoint) {
            existing.raw = raw;
            return Ok(existing.arn.clone());
        }
        let arn = format!("{topic_arn}:{}", request_id());
        subscriptions.push(Subscription {
            arn: arn.clone(),
            topic_arn: topic_arn.to_owned(),
            protocol: protocol.to_owned(),
            endpoint: endpoint.to_owned(),
            raw,
        });
        Ok(arn)
    }

    /// Publishes `message` to `topic_arn`, delivering it to every subscribed queue; returns the
    /// message id.
    pub fn publish(
        &self,
        topic_arn: &str,
        message: &str,
        subject: Option<&str>,
        attributes: &[(String, String, String)],
    ) -> Result<String, QueryError> {
        if message.is_empty() || message.len() > 256 * 1024 {
            return Err(invalid("Message must be 1 byte to 256 KiB long"));
        }
        let subscriptions = self.lock().get(topic_arn).cloned().ok_or_else(|| not_found("Topic"))?;
        let message_id = request_id();
        for subscription in subscriptions {
            let queue = subscription.endpoint.rsplit(':').next().unwrap_or_default();
            let (body, sqs_attributes) = if subscription.raw {
                let attrs: Map<String, Value> = attributes
                    .iter()
                    .map(|(name, data_type, value)| {
                        (name.clone(), json!({ "DataType": data_type, "StringValue": value }))
                    })
                    .collect();
                (message.to_owned(), Some(Value::Object(attrs)))
            } else {
                (self.envelope(&message_id, &subscription, message, subject, attributes), None)
            };
            if let Err(err) = self.sqs.send(queue, body, sqs_attributes, 0) {
                tracing::warn!(queue, error = %err.message, "SNS could not deliver to a subscribed queue");
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
        attributes: &[(String, String, String)],
    ) -> String {
        let mut envelope = serde_json::Map::new();
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
            let attrs: Map<String, Value> = attributes
                .iter()
                .map(|(name, data_type, value)| (name.clone(), json!({ "Type": data_type, "Value": value })))
                .collect();
            envelope.insert("MessageAttributes".into(), Value::Object(attrs));
        }
        Value::Object(envelope).to_string()
    }

    /// Handles one query-protocol call.
    pub fn handle(&self, params: &HashMap<String, String>) -> Reply {
        self.dispatch(params).unwrap_or_else(|err| err.into_reply(NAMESPACE))
    }

    fn dispatch(&self, params: &HashMap<String, String>) -> Result<Reply, QueryError> {
        let action = params.get("Action").map(String::as_str).unwrap_or_default();
        let reply = |result: String| ok_reply(NAMESPACE, action, &result);
        match action {
            "CreateTopic" => {
                let attributes = entries(params, "Attributes", "key", "value").into_iter().collect();
                let arn = self.create_topic_with(param(params, "Name")?, &attributes)?;
                Ok(reply(format!("<TopicArn>{}</TopicArn>", xml_escape(&arn))))
            }
            "DeleteTopic" => {
                let arn = param(params, "TopicArn")?;
                self.lock().remove(arn);
                self.lock_attributes().remove(arn);
                Ok(reply(String::new()))
            }
            "ListTopics" => {
                let members: String = self
                    .lock()
                    .keys()
                    .map(|arn| format!("<member><TopicArn>{}</TopicArn></member>", xml_escape(arn)))
                    .collect();
                Ok(reply(format!("<Topics>{members}</Topics>")))
            }
            "GetTopicAttributes" => {
                let arn = param(params, "TopicArn")?;
                let count = self.lock().get(arn).map(Vec::len).ok_or_else(|| not_found("Topic"))?;
                let entry = |k: &str, v: &str| format!("<entry><key>{k}</key><value>{}</value></entry>", xml_escape(v));
                let set: String =
                    self.lock_attributes().get(arn).into_iter().flatten().map(|(k, v)| entry(k, v)).collect();
                Ok(reply(format!(
                    "<Attributes>{}{}{}{set}</Attributes>",
                    entry("TopicArn", arn),
                    entry("Owner", ACCOUNT_ID),
                    entry("SubscriptionsConfirmed", &count.to_string())
                )))
            }
            "SetTopicAttributes" => {
                let value = params.get("AttributeValue").map(String::as_str).unwrap_or_default();
                self.set_topic_attribute(param(params, "TopicArn")?, param(params, "AttributeName")?, value)?;
                Ok(reply(String::new()))
            }
            "Subscribe" => {
                let attributes = entries(params, "Attributes", "key", "value");
                let raw = attributes.iter().any(|(k, v)| k == "RawMessageDelivery" && v.eq_ignore_ascii_case("true"));
                let arn = self.subscribe(
                    param(params, "TopicArn")?,
                    param(params, "Protocol")?,
                    param(params, "Endpoint")?,
                    raw,
                )?;
                Ok(reply(format!("<SubscriptionArn>{}</SubscriptionArn>", xml_escape(&arn))))
            }
            "Unsubscribe" => {
                let arn = param(params, "SubscriptionArn")?;
                for subscriptions in self.lock().values_mut() {
                    subscriptions.retain(|s| s.arn != arn);
                }
                Ok(reply(String::new()))
            }
            "SetSubscriptionAttributes" => {
                let arn = param(params, "SubscriptionArn")?;
                let (name, value) = (param(params, "AttributeName")?, params.get("AttributeValue"));
                if name != "RawMessageDelivery" {
                    return Err(invalid(format!("the sandbox supports only RawMessageDelivery, not {name}")));
                }
                let raw = value.is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let mut topics = self.lock();
                let subscription =
                    topics.values_mut().flatten().find(|s| s.arn == arn).ok_or_else(|| not_found("Subscription"))?;
                subscription.raw = raw;
                Ok(reply(String::new()))
            }
            "ListSubscriptions" | "ListSubscriptionsByTopic" => {
                let topic = params.get("TopicArn");
                let members: String = self
                    .lock()
                    .iter()
                    .filter(|(arn, _)| topic.is_none_or(|t| t == *arn))
                    .flat_map(|(_, subs)| subs.iter())
                    .map(|s| {
                        format!(
                            "<member><SubscriptionArn>{}</SubscriptionArn><Owner>{ACCOUNT_ID}</Owner>\
                             <Protocol>{}</Protocol><Endpoint>{}</Endpoint><TopicArn>{}</TopicArn></member>",
                            xml_escape(&s.arn),
                            xml_escape(&s.protocol),
                            xml_escape(&s.endpoint),
                            xml_escape(&s.topic_arn)
                        )
                    })
                    .collect();
                Ok(reply(format!("<Subscriptions>{members}</Subscriptions>")))
            }
            "Publish" => {
                let topic = params
                    .get("TopicArn")
                    .or_else(|| params.get("TargetArn"))
                    .ok_or_else(|| invalid("TopicArn is required"))?;
                let attributes = message_attributes(params);
                let id = self.publish(
                    topic,
                    param(params, "Message")?,
                    params.get("Subject").map(String::as_str),
                    &attributes,
                )?;
                Ok(reply(format!("<MessageId>{id}</MessageId>")))
            }
            "" => Err(QueryError::new("MissingAction", 400, "Missing Action")),
            other => Err(QueryError::new(
                "InvalidAction",
                400,
                format!("The action {other} is not valid for this endpoint."),
            )),
        }
    }
}

/// `MessageAttributes.entry.N.{Name, Value.DataType, Value.StringValue}` of a query request.
fn message_attributes(params: &HashMap<String, String>) -> Vec<(String, String, String)> {
    (1..)
        .map_while(|n| {
            let field = |f: &str| params.get(&format!("MessageAttributes.entry.{n}.{f}")).cloned();
            let name = field("Name")?;
            Some((
                name,
                field("Value.DataType").unwrap_or_else(|| "String".into()),
                field("Value.StringValue").unwrap_or_default(),
            ))
        })
        .collect()
}
