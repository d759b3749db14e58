//! SNS's query protocol: form-encoded `Action=…` inputs decoded into each action's typed input,
//! the engine called, the XML answer written. One function per action; [`handle`] dispatches.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::engine::{
    MAX_MESSAGE_BYTES, Publication, PublishAttribute, Published, Result, Sns, invalid, parameter_value_invalid,
};
use crate::error::AwsError;
use crate::services::query::{Entries, Form, Members, entries, reply};

/// SNS's XML namespace.
pub const NAMESPACE: &str = "https://sns.amazonaws.com/doc/2010-03-31/";

/// Items per page of `ListTopics` and `ListSubscriptions`.
const PAGE: usize = 100;

/// Handles one query-protocol call; the answer is an XML document.
pub async fn handle(sns: &Sns, form: &Form) -> Result<String> {
    let action = form.action();
    match action.as_str() {
        "CreateTopic" => create_topic(sns, form.decode(invalid_input)?, &action),
        "DeleteTopic" => delete_topic(sns, form.decode(invalid_input)?, &action),
        "ListTopics" => list_topics(sns, form.decode(invalid_input)?, &action),
        "GetTopicAttributes" => get_topic_attributes(sns, form.decode(invalid_input)?, &action),
        "SetTopicAttributes" => set_topic_attributes(sns, form.decode(invalid_input)?, &action),
        "Subscribe" => subscribe(sns, form.decode(invalid_input)?, &action),
        "Unsubscribe" => unsubscribe(sns, form.decode(invalid_input)?, &action),
        "GetSubscriptionAttributes" => get_subscription_attributes(sns, form.decode(invalid_input)?, &action),
        "SetSubscriptionAttributes" => set_subscription_attributes(sns, form.decode(invalid_input)?, &action),
        "ListSubscriptions" => list_subscriptions(sns, form.decode(invalid_input)?, None, &action),
        "ListSubscriptionsByTopic" => {
            let input: ListInput = form.decode(invalid_input)?;
            let topic =
                input.topic_arn.clone().ok_or_else(|| invalid("TopicArn Reason: no value for required parameter"))?;
            list_subscriptions(sns, input, Some(&topic), &action)
        }
        "Publish" => publish(sns, form.decode(invalid_input)?, &action).await,
        "PublishBatch" => publish_batch(sns, form.decode(invalid_input)?, &action).await,
        "" => Err(AwsError::new("MissingAction", 400, "Missing Action")),
        other => {
            Err(AwsError::new("InvalidAction", 400, format!("The action {other} is not valid for this endpoint.")))
        }
    }
}

impl Sns {
    /// Handles one query-protocol call (see [`handle`]).
    pub async fn handle(&self, form: &Form) -> Result<String> {
        handle(self, form).await
    }
}

fn invalid_input(message: String) -> AwsError {
    invalid(message)
}

fn done(action: &str) -> Result<String> {
    reply::<()>(NAMESPACE, action, None)
}

/// The items of a query list (`prefix.member.N.field=value`), each as its fields, in order of N.
fn members(params: &BTreeMap<String, String>, prefix: &str) -> Vec<BTreeMap<String, String>> {
    let mut found: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
    let start = format!("{prefix}.member.");
    for (name, value) in params {
        let Some(rest) = name.strip_prefix(&start) else { continue };
        let Some((n, field)) = rest.split_once('.') else { continue };
        let Ok(n) = n.parse::<u32>() else { continue };
        found.entry(n).or_default().insert(field.to_owned(), value.clone());
    }
    found.into_values().collect()
}

/// One page of `items`: from the token's index, [`PAGE`] of them, and the next token.
fn page<T>(items: Vec<T>, token: Option<&str>) -> Result<(Vec<T>, Option<String>)> {
    let start = match token {
        Some(token) => token.parse::<usize>().map_err(|_| invalid("NextToken"))?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(PAGE).collect();
    let next = (start + PAGE < total).then(|| (start + PAGE).to_string());
    Ok((page, next))
}

// ---- topics ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateTopicInput {
    name: String,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TopicArnResult<'a> {
    topic_arn: &'a str,
}

fn create_topic(sns: &Sns, input: CreateTopicInput, action: &str) -> Result<String> {
    let attributes = entries(&input.rest, "Attributes", "key", "value").into_iter().collect();
    let arn = sns.create_topic(&input.name, &attributes)?;
    reply(NAMESPACE, action, Some(&TopicArnResult { topic_arn: &arn }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TopicInput {
    topic_arn: String,
}

fn delete_topic(sns: &Sns, input: TopicInput, action: &str) -> Result<String> {
    sns.delete_topic(&input.topic_arn)?;
    done(action)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    topic_arn: Option<String>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTopicsResult<'a> {
    topics: Members<TopicArnResult<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn list_topics(sns: &Sns, input: ListInput, action: &str) -> Result<String> {
    let (arns, next_token) = page(sns.topic_arns(), input.next_token.as_deref())?;
    let member = arns.iter().map(|arn| TopicArnResult { topic_arn: arn }).collect();
    reply(NAMESPACE, action, Some(&ListTopicsResult { topics: Members { member }, next_token }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesResult {
    attributes: Entries,
}

fn get_topic_attributes(sns: &Sns, input: TopicInput, action: &str) -> Result<String> {
    let attributes = sns.topic_attributes(&input.topic_arn)?.into_iter().collect();
    reply(NAMESPACE, action, Some(&AttributesResult { attributes }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetAttributeInput {
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    attribute_name: String,
    attribute_value: Option<String>,
}

fn set_topic_attributes(sns: &Sns, input: SetAttributeInput, action: &str) -> Result<String> {
    let arn = input.topic_arn.ok_or_else(|| invalid("TopicArn Reason: no value for required parameter"))?;
    sns.set_topic_attribute(&arn, &input.attribute_name, input.attribute_value.as_deref().unwrap_or_default())?;
    done(action)
}

// ---- subscriptions ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubscribeInput {
    topic_arn: String,
    protocol: String,
    endpoint: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SubscriptionArnResult<'a> {
    subscription_arn: &'a str,
}

fn subscribe(sns: &Sns, input: SubscribeInput, action: &str) -> Result<String> {
    let attributes = entries(&input.rest, "Attributes", "key", "value").into_iter().collect();
    let endpoint = input.endpoint.unwrap_or_default();
    let arn = sns.subscribe_with(&input.topic_arn, &input.protocol, &endpoint, &attributes)?;
    reply(NAMESPACE, action, Some(&SubscriptionArnResult { subscription_arn: &arn }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubscriptionInput {
    subscription_arn: Option<String>,
}

impl SubscriptionInput {
    fn arn(self) -> Result<String> {
        self.subscription_arn.ok_or_else(|| invalid("SubscriptionArn Reason: no value for required parameter"))
    }
}

fn unsubscribe(sns: &Sns, input: SubscriptionInput, action: &str) -> Result<String> {
    sns.unsubscribe(&input.arn()?)?;
    done(action)
}

fn get_subscription_attributes(sns: &Sns, input: SubscriptionInput, action: &str) -> Result<String> {
    let attributes = sns.subscription_attributes(&input.arn()?)?.into_iter().collect();
    reply(NAMESPACE, action, Some(&AttributesResult { attributes }))
}

fn set_subscription_attributes(sns: &Sns, input: SetAttributeInput, action: &str) -> Result<String> {
    let arn =
        input.subscription_arn.ok_or_else(|| invalid("SubscriptionArn Reason: no value for required parameter"))?;
    sns.set_subscription_attribute(&arn, &input.attribute_name, input.attribute_value.as_deref().unwrap_or_default())?;
    done(action)
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
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn list_subscriptions(sns: &Sns, input: ListInput, topic: Option<&str>, action: &str) -> Result<String> {
    let (subscriptions, next_token) = page(sns.subscriptions(topic)?, input.next_token.as_deref())?;
    let member = subscriptions
        .iter()
        .map(|[arn, protocol, endpoint, topic_arn]| SubscriptionMember {
            subscription_arn: arn,
            owner: crate::ACCOUNT_ID,
            protocol,
            endpoint,
            topic_arn,
        })
        .collect();
    reply(NAMESPACE, action, Some(&ListSubscriptionsResult { subscriptions: Members { member }, next_token }))
}

// ---- publishing ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishInput {
    topic_arn: Option<String>,
    target_arn: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PublishResult<'a> {
    message_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<&'a str>,
}

/// A message attribute as the form gives it, before SNS's checks.
struct RawAttribute {
    name: String,
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<String>,
}

/// `MessageAttributes.entry.N.{Name, Value.DataType, Value.StringValue, Value.BinaryValue}`
/// among `fields` (a `Publish` form, or one `PublishBatch` entry's fields).
fn raw_attributes(fields: &BTreeMap<String, String>) -> Vec<RawAttribute> {
    let mut found: BTreeMap<u32, RawAttribute> = BTreeMap::new();
    for (name, value) in fields {
        let Some(rest) = name.strip_prefix("MessageAttributes.entry.") else { continue };
        let Some((n, field)) = rest.split_once('.') else { continue };
        let Ok(n) = n.parse::<u32>() else { continue };
        let attribute = found.entry(n).or_insert_with(|| RawAttribute {
            name: String::new(),
            data_type: None,
            string_value: None,
            binary_value: None,
        });
        match field {
            "Name" => attribute.name.clone_from(value),
            "Value.DataType" => attribute.data_type = Some(value.clone()),
            "Value.StringValue" => attribute.string_value = Some(value.clone()),
            "Value.BinaryValue" => attribute.binary_value = Some(value.clone()),
            _ => {}
        }
    }
    found.into_values().collect()
}

/// SNS's checks of message attributes; `path` names them in a validation error.
fn check_attributes(raw: Vec<RawAttribute>, path: &str) -> Result<Vec<PublishAttribute>> {
    let mut out = Vec::with_capacity(raw.len());
    for attribute in raw {
        let name = attribute.name;
        if name.len() >= 256 {
            return Err(parameter_value_invalid("Length of message attribute name must be less than 256 bytes."));
        }
        if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c))) {
            return Err(parameter_value_invalid(format!(
                "Invalid non-alphanumeric character '#x{:X}' was found in the message attribute name. Can only include \
                 alphanumeric characters, hyphens, underscores, or dots.",
                u32::from(bad)
            )));
        }
        if name.starts_with('.') {
            return Err(parameter_value_invalid(
                "Invalid message attribute name starting with character '.' was found.",
            ));
        }
        if name.ends_with('.') {
            return Err(parameter_value_invalid("Invalid message attribute name ending with character '.' was found."));
        }
        if name.contains("..") {
            return Err(parameter_value_invalid("Message attribute name can not have successive '.' character."));
        }
        let Some(data_type) = attribute.data_type else {
            return Err(AwsError::new(
                "ValidationError",
                400,
                format!(
                    "1 validation error detected: Value null at '{path}.{name}.member.dataType' failed to satisfy \
                     constraint: Member must not be null"
                ),
            ));
        };
        let kind = data_type.split('.').next().unwrap_or_default();
        let value = match kind {
            "String" | "Number" => match (attribute.string_value, attribute.binary_value) {
                (Some(v), _) if !v.is_empty() => v,
                (None, Some(_)) => {
                    return Err(parameter_value_invalid(format!(
                        "The message attribute '{name}' with type '{kind}' must use field 'String'."
                    )));
                }
                _ => {
                    return Err(parameter_value_invalid(format!(
                        "The message attribute '{name}' must contain non-empty message attribute value for message \
                         attribute type '{kind}'."
                    )));
                }
            },
            "Binary" => match (attribute.binary_value, attribute.string_value) {
                (Some(v), _) if !v.is_empty() => v,
                (None, Some(_)) => {
                    return Err(parameter_value_invalid(format!(
                        "The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                    )));
                }
                _ => {
                    return Err(parameter_value_invalid(format!(
                        "The message attribute '{name}' must contain non-empty message attribute value for message \
                         attribute type 'Binary'."
                    )));
                }
            },
            _ => {
                return Err(parameter_value_invalid(format!(
                    "The message attribute '{name}' has an invalid message attribute type, the set of supported type \
                     prefixes is Binary, Number, and String."
                )));
            }
        };
        if kind == "Number" && value.trim().parse::<f64>().is_err() {
            return Err(parameter_value_invalid(format!("Could not cast message attribute '{name}' value to number.")));
        }
        if data_type == "String.Array" && !matches!(serde_json::from_str(&value), Ok(serde_json::Value::Array(_))) {
            return Err(parameter_value_invalid(format!(
                "The message attribute '{name}' with type 'String.Array' must contain a JSON array."
            )));
        }
        out.push(PublishAttribute { name, data_type, value });
    }
    Ok(out)
}

/// A publication from the fields of a `Publish` (or one batch entry): message, subject,
/// structure, attributes, FIFO fields.
fn publication(fields: &BTreeMap<String, String>, attributes_path: &str) -> Result<Publication> {
    let message = fields.get("Message").cloned().unwrap_or_default();
    if let Some(subject) = fields.get("Subject")
        && (subject.is_empty() || subject.chars().count() > 100 || subject.chars().any(char::is_control))
    {
        return Err(invalid("Subject"));
    }
    let message = match fields.get("MessageStructure").map(String::as_str) {
        Some("json") => {
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&message)
                .map_err(|_| invalid("Message Structure - JSON message body failed to parse"))?;
            let pick = |key: &str| parsed.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
            let default =
                pick("default").ok_or_else(|| invalid("Message Structure - No default entry in JSON message body"))?;
            pick("sqs").unwrap_or(default)
        }
        Some(other) => return Err(invalid(format!("MessageStructure Reason: unsupported value {other}"))),
        None => message,
    };
    Ok(Publication {
        message,
        subject: fields.get("Subject").cloned(),
        attributes: check_attributes(raw_attributes(fields), attributes_path)?,
        group_id: fields.get("MessageGroupId").cloned(),
        dedup_id: fields.get("MessageDeduplicationId").cloned(),
    })
}

async fn publish(sns: &Sns, input: PublishInput, action: &str) -> Result<String> {
    let topic = match (input.topic_arn, input.target_arn) {
        (Some(topic), _) => topic,
        (None, Some(target)) => target,
        (None, None) => return Err(invalid("TopicArn or TargetArn Reason: no value for required parameter")),
    };
    let publication = publication(&input.rest, "messageAttributes")?;
    let published = sns.publish_message(&topic, &publication).await?;
    reply(
        NAMESPACE,
        action,
        Some(&PublishResult {
            message_id: &published.message_id,
            sequence_number: published.sequence_number.as_deref(),
        }),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishBatchInput {
    topic_arn: String,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchSuccess {
    id: String,
    message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchFailure {
    id: String,
    code: String,
    message: String,
    sender_fault: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PublishBatchResult {
    successful: Members<BatchSuccess>,
    failed: Members<BatchFailure>,
}

async fn publish_batch(sns: &Sns, input: PublishBatchInput, action: &str) -> Result<String> {
    let entries = members(&input.rest, "PublishBatchRequestEntries");
    let batch_error = |code: &'static str, message: String| AwsError::new(code, 400, message);
    if entries.is_empty() {
        return Err(batch_error("EmptyBatchRequest", "The batch request doesn't contain any entries.".into()));
    }
    if entries.len() > 10 {
        return Err(batch_error(
            "TooManyEntriesInBatchRequest",
            "The batch request contains more entries than permissible.".into(),
        ));
    }
    let mut seen = HashSet::new();
    for entry in &entries {
        let id = entry.get("Id").map(String::as_str).unwrap_or_default();
        if id.chars().count() > 80 {
            return Err(batch_error(
                "InvalidBatchEntryId",
                format!("The Id of a batch entry in the batch request is too long: {id}"),
            ));
        }
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(batch_error(
                "InvalidBatchEntryId",
                format!("The Id of a batch entry in the batch request contains an impermissible character: {id}"),
            ));
        }
        if !seen.insert(id) {
            return Err(batch_error(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id.".into(),
            ));
        }
    }
    let total: usize = entries.iter().map(|e| e.get("Message").map_or(0, String::len)).sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(batch_error(
            "BatchRequestTooLong",
            "The length of all the messages put together is more than the limit.".into(),
        ));
    }
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        let id = entry.get("Id").cloned().unwrap_or_default();
        let path = format!("publishBatchRequestEntries.{}.member.messageAttributes", index + 1);
        let outcome = match publication(entry, &path) {
            Ok(publication) => sns.publish_message(&input.topic_arn, &publication).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(Published { message_id, sequence_number }) => {
                successful.push(BatchSuccess { id, message_id, sequence_number })
            }
            // The topic itself is missing or unreadable: the whole batch fails, as on SNS.
            Err(err)
                if err.code == "NotFound"
                    || err.is_server_fault()
                    || err.message.starts_with("Invalid parameter: TopicArn") =>
            {
                return Err(err);
            }
            Err(err) => failed.push(BatchFailure {
                id,
                sender_fault: !err.is_server_fault(),
                code: err.code.into_owned(),
                message: err.message,
            }),
        }
    }
    let result = PublishBatchResult { successful: Members { member: successful }, failed: Members { member: failed } };
    reply(NAMESPACE, action, Some(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, data_type: Option<&str>, string: Option<&str>, binary: Option<&str>) -> RawAttribute {
        RawAttribute {
            name: name.into(),
            data_type: data_type.map(str::to_owned),
            string_value: string.map(str::to_owned),
            binary_value: binary.map(str::to_owned),
        }
    }

    #[test]
    fn message_attributes_are_refused_in_sns_words() {
        let cases = [
            (
                raw("attr1", Some("String"), None, None),
                "The message attribute 'attr1' must contain non-empty message attribute value for message attribute type 'String'.",
            ),
            (
                raw("attr1", Some("String"), None, Some("AQ==")),
                "The message attribute 'attr1' with type 'String' must use field 'String'.",
            ),
            (
                raw("attr1", Some("Binary"), Some("x"), None),
                "The message attribute 'attr1' with type 'Binary' must use field 'Binary'.",
            ),
            (
                raw("attr1", Some("Other"), Some("x"), None),
                "The message attribute 'attr1' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
            ),
            (
                raw("a^b", Some("String"), Some("x"), None),
                "Invalid non-alphanumeric character '#x5E' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
            ),
            (
                raw(".a", Some("String"), Some("x"), None),
                "Invalid message attribute name starting with character '.' was found.",
            ),
            (
                raw("a.", Some("String"), Some("x"), None),
                "Invalid message attribute name ending with character '.' was found.",
            ),
            (
                raw("a..b", Some("String"), Some("x"), None),
                "Message attribute name can not have successive '.' character.",
            ),
        ];
        for (attribute, message) in cases {
            let err = check_attributes(vec![attribute], "messageAttributes").expect_err(message);
            assert_eq!((err.code.as_ref(), err.message.as_str()), ("ParameterValueInvalid", message));
        }
        let err =
            check_attributes(vec![raw("attr1", None, Some("x"), None)], "messageAttributes").expect_err("no type");
        assert_eq!(err.code, "ValidationError");
        let ok = check_attributes(
            vec![
                raw("kind", Some("String"), Some("csv"), None),
                raw("tags", Some("String.Array"), Some("[\"a\"]"), None),
            ],
            "messageAttributes",
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn batch_entries_are_read_by_index() {
        let params: BTreeMap<String, String> = [
            ("PublishBatchRequestEntries.member.2.Id", "b"),
            ("PublishBatchRequestEntries.member.1.Id", "a"),
            ("PublishBatchRequestEntries.member.1.Message", "m"),
            ("PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name", "k"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let entries = members(&params, "PublishBatchRequestEntries");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].get("Id").map(String::as_str), Some("a"));
        assert_eq!(raw_attributes(&entries[0])[0].name, "k");
    }
}
