//! A look into a queue from a test, changing nothing: LocalStack's developer endpoint
//! `/_aws/sqs/messages`, in its formats, so tools written for it work here.
//!
//! The queue is named by `QueueUrl` (a parameter) or by the path (`/_aws/sqs/messages/<region>/
//! <account>/<queue>`). The answer lists what a receive could take now — with `ShowInvisible=true`
//! the messages in flight too, with `ShowDelayed=true` the delayed ones — as `ReceiveMessage`
//! answers: every system attribute (receive counts included) and message attribute, the receipt
//! handle `SQS/BACKDOOR/ACCESS`, and the non-standard attributes `IsVisible` and `IsDelayed`
//! when asked to show those. Formats: the query protocol's XML by default; with `Accept:
//! application/json`, LocalStack's JSON form of that XML (an element that occurs once is an
//! object, several are a list); to an SDK pointed at the path (`X-Amz-Target:
//! AmazonSQS.ReceiveMessage`), the JSON protocol's answer.

use serde::Serialize;
use serde_json::{Value, json};

use super::engine::{Sqs, queue_name};
use super::errors::{invalid, no_queue};
use super::wire::{ReceivedMessage, peek_output};
use crate::aws::uuid;
use crate::error::AwsError;
use crate::services::query::reply;
use crate::{ACCOUNT_ID, REGION};

/// The path of the developer endpoint.
pub const MESSAGES_PATH: &str = "/_aws/sqs/messages";

/// SQS's query-protocol namespace.
pub const QUERY_NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewFormat {
    /// The query protocol's `ReceiveMessageResponse` XML.
    Xml,
    /// LocalStack's JSON form of that XML.
    LocalStackJson,
    /// The JSON protocol's `ReceiveMessage` output.
    SdkJson,
}

/// The messages of the queue that `path` (below [`MESSAGES_PATH`]) or `params` name, written as
/// `format` asks; the content type and the body.
pub fn messages_view(
    sqs: &Sqs,
    path: &str,
    params: &[(String, String)],
    format: ViewFormat,
) -> Result<(&'static str, Vec<u8>), AwsError> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let flag = |name: &str| param(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let rest = path.strip_prefix(MESSAGES_PATH).unwrap_or_default().trim_matches('/');
    let name = if rest.is_empty() {
        queue_name(param("QueueUrl").ok_or_else(no_queue)?)?
    } else {
        let segments: Vec<&str> = rest.split('/').collect();
        match segments[..] {
            [region, account, name] if region == REGION && account == ACCOUNT_ID => name.to_owned(),
            [_, _, _] => return Err(no_queue()),
            _ => {
                return Err(invalid(format!(
                    "use {MESSAGES_PATH}?QueueUrl=… or {MESSAGES_PATH}/<region>/<account>/<queue>"
                )));
            }
        }
    };
    let (show_invisible, show_delayed) = (flag("ShowInvisible"), flag("ShowDelayed"));
    let peeked = sqs.peek(&name, show_invisible, show_delayed)?;
    let output = peek_output(&peeked, show_invisible, show_delayed);
    let encoded = match format {
        ViewFormat::SdkJson => ("application/x-amz-json-1.0", serde_json::to_vec(&output)),
        ViewFormat::LocalStackJson => ("application/json", serde_json::to_vec(&localstack_json(&output.messages)?)),
        ViewFormat::Xml => {
            let messages: Vec<XmlMessage> = output.messages.iter().map(XmlMessage::from).collect();
            let xml = reply(QUERY_NAMESPACE, "ReceiveMessage", Some(&XmlResult { message: messages }))?;
            return Ok(("text/xml", xml.into_bytes()));
        }
    };
    let (content_type, body) = encoded;
    Ok((content_type, body.map_err(|err| AwsError::internal(err.to_string()))?))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct XmlResult {
    message: Vec<XmlMessage>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct XmlAttributeValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    binary_value: Option<String>,
    data_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct XmlMessageAttribute {
    name: String,
    value: XmlAttributeValue,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct XmlMessage {
    message_id: String,
    receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: String,
    body: String,
    attribute: Vec<NameValue>,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
    message_attribute: Vec<XmlMessageAttribute>,
}

impl From<&ReceivedMessage> for XmlMessage {
    fn from(m: &ReceivedMessage) -> Self {
        Self {
            message_id: m.message_id.clone(),
            receipt_handle: m.receipt_handle.clone(),
            md5_of_body: m.md5_of_body.clone(),
            body: m.body.clone(),
            attribute: m
                .attributes
                .iter()
                .map(|(k, v)| NameValue { name: (*k).to_owned(), value: v.clone() })
                .collect(),
            md5_of_message_attributes: m.md5_of_message_attributes.clone(),
            message_attribute: m
                .message_attributes
                .iter()
                .map(|(k, v)| XmlMessageAttribute {
                    name: k.clone(),
                    value: XmlAttributeValue {
                        string_value: v.string_value.clone(),
                        binary_value: v.binary_value.clone(),
                        data_type: v.data_type.clone(),
                    },
                })
                .collect(),
        }
    }
}

/// One element as an object, several as a list, none left out: how LocalStack turns its XML
/// into JSON.
fn one_or_many(mut items: Vec<Value>) -> Option<Value> {
    match items.len() {
        0 => None,
        1 => items.pop(),
        _ => Some(Value::Array(items)),
    }
}

fn localstack_json(messages: &[ReceivedMessage]) -> Result<Value, AwsError> {
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            let xml = XmlMessage::from(m);
            let mut out = json!({
                "MessageId": xml.message_id,
                "ReceiptHandle": xml.receipt_handle,
                "MD5OfBody": xml.md5_of_body,
                "Body": xml.body,
            });
            let attributes = xml.attribute.iter().map(|a| json!({ "Name": a.name, "Value": a.value })).collect();
            if let Some(attributes) = one_or_many(attributes) {
                out["Attribute"] = attributes;
            }
            if let Some(md5) = xml.md5_of_message_attributes {
                out["MD5OfMessageAttributes"] = json!(md5);
            }
            let message_attributes = xml
                .message_attribute
                .iter()
                .map(|a| {
                    let mut value = json!({ "DataType": a.value.data_type });
                    if let Some(s) = &a.value.string_value {
                        value["StringValue"] = json!(s);
                    }
                    if let Some(b) = &a.value.binary_value {
                        value["BinaryValue"] = json!(b);
                    }
                    json!({ "Name": a.name, "Value": value })
                })
                .collect();
            if let Some(message_attributes) = one_or_many(message_attributes) {
                out["MessageAttribute"] = message_attributes;
            }
            out
        })
        .collect();
    Ok(json!({
        "ReceiveMessageResponse": {
            "ReceiveMessageResult": one_or_many(messages).map(|m| json!({ "Message": m })),
            "ResponseMetadata": { "RequestId": uuid() },
        }
    }))
}
