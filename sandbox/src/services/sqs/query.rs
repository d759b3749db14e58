//! SQS's older query protocol (form-encoded `Action=…`, XML answers), which SDKs older than the
//! JSON protocol's arrival (boto3 before 1.34, the AWS SDK for Java 1.x, …) still speak.
//!
//! A second wire over the same engine, as s3s puts protocols over one backend: each request's
//! form parameters are read into the JSON protocol's input shape (`Attribute.1.Name` →
//! `Attributes`, `SendMessageBatchRequestEntry.2.MessageBody` → `Entries[1].MessageBody`, …),
//! handled by the JSON wire, and its answer written as the query protocol's XML. Errors carry
//! the same query codes in both protocols.

use std::collections::BTreeMap;

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value, json};

use super::developer::QUERY_NAMESPACE;
use super::engine::Sqs;
use super::errors::invalid;
use crate::aws::uuid;
use crate::error::AwsError;
use crate::services::query::Form;

type Result<T> = std::result::Result<T, AwsError>;

/// The parameters that are numbers in the JSON protocol.
const INTEGERS: [&str; 6] = [
    "DelaySeconds",
    "MaxNumberOfMessages",
    "WaitTimeSeconds",
    "VisibilityTimeout",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

/// Handles one query-protocol call; the answer is an XML document.
pub async fn handle_query(sqs: &Sqs, form: &Form, base_url: &str) -> Result<String> {
    let action = form.action();
    if action.is_empty() {
        return Err(AwsError::new("MissingAction", 400, "Missing Action"));
    }
    let params: BTreeMap<String, String> = form.decode(invalid)?;
    let input = json_input(&params);
    let body = serde_json::to_vec(&input).map_err(|err| AwsError::internal(err.to_string()))?;
    let output = super::wire::handle(sqs, &action, &body, base_url).await?;
    let output: Value = serde_json::from_slice(&output).map_err(|err| AwsError::internal(err.to_string()))?;
    xml_answer(&action, &output)
}

/// The JSON protocol's input for the form parameters of a query request.
fn json_input(params: &BTreeMap<String, String>) -> Value {
    let mut input = Map::new();
    let mut lists: BTreeMap<&str, BTreeMap<u32, BTreeMap<String, String>>> = BTreeMap::new();
    for (name, value) in params {
        if name == "Action" || name == "Version" {
            continue;
        }
        match name.split_once('.') {
            None => {
                let value = match INTEGERS.contains(&name.as_str()) {
                    true => value.parse::<i64>().map_or_else(|_| json!(value), |n| json!(n)),
                    false => json!(value),
                };
                input.insert(name.clone(), value);
            }
            Some((list, rest)) => {
                let Some((n, field)) = rest.split_once('.').map_or(Some((rest, "")), Some) else { continue };
                let Ok(n) = n.parse::<u32>() else { continue };
                lists.entry(list).or_default().entry(n).or_default().insert(field.to_owned(), value.clone());
            }
        }
    }
    for (list, items) in lists {
        let items: Vec<BTreeMap<String, String>> = items.into_values().collect();
        match list {
            "Attribute" => {
                input.insert("Attributes".into(), pairs(&items, "Name", "Value"));
            }
            "Tag" => {
                input.insert(
                    if input.contains_key("QueueName") { "tags" } else { "Tags" }.into(),
                    pairs(&items, "Key", "Value"),
                );
            }
            "AttributeName" | "MessageSystemAttributeName" | "MessageAttributeName" | "TagKey" => {
                let key = match list {
                    "AttributeName" => "AttributeNames",
                    "MessageSystemAttributeName" => "MessageSystemAttributeNames",
                    "MessageAttributeName" => "MessageAttributeNames",
                    _ => "TagKeys",
                };
                input.insert(key.into(), items.iter().filter_map(|i| i.get("")).cloned().collect());
            }
            "MessageAttribute" | "MessageSystemAttribute" => {
                let key = if list == "MessageAttribute" { "MessageAttributes" } else { "MessageSystemAttributes" };
                input.insert(key.into(), message_attributes(&items));
            }
            "SendMessageBatchRequestEntry"
            | "DeleteMessageBatchRequestEntry"
            | "ChangeMessageVisibilityBatchRequestEntry" => {
                input.insert("Entries".into(), Value::Array(items.iter().map(batch_entry).collect()));
            }
            _ => {}
        }
    }
    Value::Object(input)
}

/// A flattened map (`Name`/`Value` or `Key`/`Value` items) as a JSON object.
fn pairs(items: &[BTreeMap<String, String>], key: &str, value: &str) -> Value {
    Value::Object(
        items
            .iter()
            .filter_map(|i| Some((i.get(key)?.clone(), json!(i.get(value).cloned().unwrap_or_default()))))
            .collect(),
    )
}

/// `MessageAttribute.N.{Name, Value.DataType, Value.StringValue, Value.BinaryValue}` items as
/// the JSON protocol's attribute map.
fn message_attributes(items: &[BTreeMap<String, String>]) -> Value {
    Value::Object(
        items
            .iter()
            .filter_map(|i| {
                let mut value = Map::new();
                for (field, json_field) in [
                    ("Value.DataType", "DataType"),
                    ("Value.StringValue", "StringValue"),
                    ("Value.BinaryValue", "BinaryValue"),
                ] {
                    if let Some(v) = i.get(field) {
                        value.insert(json_field.into(), json!(v));
                    }
                }
                Some((i.get("Name")?.clone(), Value::Object(value)))
            })
            .collect(),
    )
}

/// One batch entry's fields (`Id`, `MessageBody`, `MessageAttribute.M.…`, …) as a JSON object.
fn batch_entry(fields: &BTreeMap<String, String>) -> Value {
    json_input(fields)
}

/// The JSON protocol's answer to `action` as the query protocol's XML.
fn xml_answer(action: &str, output: &Value) -> Result<String> {
    let mut xml = Xml::default();
    xml.open_with_namespace(&format!("{action}Response"));
    let fields = output.as_object().cloned().unwrap_or_default();
    if !fields.is_empty()
        || !matches!(
            action,
            "DeleteQueue"
                | "PurgeQueue"
                | "SetQueueAttributes"
                | "DeleteMessage"
                | "ChangeMessageVisibility"
                | "TagQueue"
                | "UntagQueue"
        )
    {
        xml.open(&format!("{action}Result"));
        for (name, value) in &fields {
            result_field(&mut xml, action, name, value);
        }
        xml.close(&format!("{action}Result"));
    }
    xml.open("ResponseMetadata");
    xml.leaf("RequestId", &uuid());
    xml.close("ResponseMetadata");
    xml.close(&format!("{action}Response"));
    xml.finish()
}

/// One field of a JSON answer, in the query protocol's shape for it.
fn result_field(xml: &mut Xml, action: &str, name: &str, value: &Value) {
    match (name, value) {
        ("QueueUrls" | "queueUrls", Value::Array(urls)) => urls.iter().for_each(|u| xml.leaf("QueueUrl", &text(u))),
        ("Attributes", Value::Object(map)) => name_values(xml, "Attribute", map),
        ("Tags", Value::Object(map)) => {
            for (k, v) in map {
                xml.open("Tag");
                xml.leaf("Key", k);
                xml.leaf("Value", &text(v));
                xml.close("Tag");
            }
        }
        ("Messages", Value::Array(messages)) => messages.iter().for_each(|m| received(xml, m)),
        ("Successful", Value::Array(entries)) => {
            let element = format!("{action}ResultEntry");
            for entry in entries {
                scalars(xml, &element, entry);
            }
        }
        ("Failed", Value::Array(entries)) => entries.iter().for_each(|e| scalars(xml, "BatchResultErrorEntry", e)),
        ("Results", Value::Array(entries)) => {
            entries.iter().for_each(|e| scalars(xml, "ListMessageMoveTasksResultEntry", e))
        }
        (name, value) => xml.leaf(name, &text(value)),
    }
}

fn name_values(xml: &mut Xml, element: &str, map: &Map<String, Value>) {
    for (k, v) in map {
        xml.open(element);
        xml.leaf("Name", k);
        xml.leaf("Value", &text(v));
        xml.close(element);
    }
}

/// An object of scalars as `<element><Field>…</Field>…</element>`.
fn scalars(xml: &mut Xml, element: &str, value: &Value) {
    xml.open(element);
    for (k, v) in value.as_object().into_iter().flatten() {
        xml.leaf(k, &text(v));
    }
    xml.close(element);
}

/// A received message in `ReceiveMessage`'s XML.
fn received(xml: &mut Xml, message: &Value) {
    xml.open("Message");
    for field in ["MessageId", "ReceiptHandle", "MD5OfBody", "Body"] {
        if let Some(v) = message.get(field) {
            xml.leaf(field, &text(v));
        }
    }
    if let Some(Value::Object(attributes)) = message.get("Attributes") {
        name_values(xml, "Attribute", attributes);
    }
    if let Some(v) = message.get("MD5OfMessageAttributes") {
        xml.leaf("MD5OfMessageAttributes", &text(v));
    }
    for (name, attribute) in message.get("MessageAttributes").and_then(Value::as_object).into_iter().flatten() {
        xml.open("MessageAttribute");
        xml.leaf("Name", name);
        xml.open("Value");
        for field in ["StringValue", "BinaryValue", "DataType"] {
            if let Some(v) = attribute.get(field) {
                xml.leaf(field, &text(v));
            }
        }
        xml.close("Value");
        xml.close("MessageAttribute");
    }
    xml.close("Message");
}

fn text(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::String(s) => s.into(),
        Value::Null => "".into(),
        other => other.to_string().into(),
    }
}

/// A small XML writer over quick-xml; numbers are written by [`Xml::leaf`]'s caller as text.
#[derive(Default)]
struct Xml {
    writer: Option<quick_xml::Writer<Vec<u8>>>,
    failed: bool,
}

impl Xml {
    fn writer(&mut self) -> &mut quick_xml::Writer<Vec<u8>> {
        self.writer.get_or_insert_with(|| quick_xml::Writer::new(Vec::new()))
    }

    fn write(&mut self, event: Event<'_>) {
        if self.writer().write_event(event).is_err() {
            self.failed = true;
        }
    }

    fn open_with_namespace(&mut self, name: &str) {
        self.write(Event::Start(BytesStart::new(name).with_attributes([("xmlns", QUERY_NAMESPACE)])));
    }

    fn open(&mut self, name: &str) {
        self.write(Event::Start(BytesStart::new(name)));
    }

    fn close(&mut self, name: &str) {
        self.write(Event::End(BytesEnd::new(name)));
    }

    fn leaf(&mut self, name: &str, value: &str) {
        self.open(name);
        self.write(Event::Text(BytesText::new(value)));
        self.close(name);
    }

    fn finish(mut self) -> Result<String> {
        if self.failed {
            return Err(AwsError::internal("writing the answer failed"));
        }
        String::from_utf8(self.writer().get_ref().clone()).map_err(|err| AwsError::internal(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn forms_become_the_json_protocols_inputs() {
        let input = json_input(&params(&[
            ("Action", "SendMessageBatch"),
            ("QueueUrl", "http://h/000000000000/q"),
            ("SendMessageBatchRequestEntry.2.Id", "b"),
            ("SendMessageBatchRequestEntry.2.MessageBody", "two"),
            ("SendMessageBatchRequestEntry.1.Id", "a"),
            ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
            ("SendMessageBatchRequestEntry.1.DelaySeconds", "5"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "kind"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "String"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "csv"),
        ]));
        assert_eq!(
            input,
            json!({
                "QueueUrl": "http://h/000000000000/q",
                "Entries": [
                    {"Id": "a", "MessageBody": "one", "DelaySeconds": 5,
                     "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "csv"}}},
                    {"Id": "b", "MessageBody": "two"},
                ]
            })
        );
        let create = json_input(&params(&[
            ("QueueName", "q"),
            ("Attribute.1.Name", "VisibilityTimeout"),
            ("Attribute.1.Value", "60"),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "sos"),
        ]));
        assert_eq!(
            create,
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "60"}, "tags": {"team": "sos"}})
        );
        let receive = json_input(&params(&[
            ("AttributeName.1", "All"),
            ("MessageAttributeName.1", "kind"),
            ("WaitTimeSeconds", "2"),
        ]));
        assert_eq!(
            receive,
            json!({"AttributeNames": ["All"], "MessageAttributeNames": ["kind"], "WaitTimeSeconds": 2})
        );
    }

    #[test]
    fn answers_are_written_in_the_query_shape() {
        let xml = xml_answer("ListQueues", &json!({"QueueUrls": ["u1", "u2"]})).expect("xml");
        assert!(xml.starts_with(&format!(
            "<ListQueuesResponse xmlns=\"{QUERY_NAMESPACE}\"><ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>"
        )), "{xml}");
        let xml = xml_answer(
            "SendMessageBatch",
            &json!({"Successful": [{"Id": "a", "MessageId": "m"}], "Failed": [{"Id": "b", "SenderFault": true, "Code": "X", "Message": "y"}]}),
        )
        .expect("xml");
        assert!(
            xml.contains(
                "<SendMessageBatchResultEntry><Id>a</Id><MessageId>m</MessageId></SendMessageBatchResultEntry>"
            ),
            "{xml}"
        );
        // The members of an entry in any order (SDKs read them by name): serde_json's map order
        // depends on whether another crate turned on its `preserve_order`.
        let failed =
            xml.split("<BatchResultErrorEntry>").nth(1).and_then(|e| e.split("</BatchResultErrorEntry>").next());
        let failed = failed.unwrap_or_else(|| panic!("no BatchResultErrorEntry in {xml}"));
        for member in ["<Code>X</Code>", "<Id>b</Id>", "<Message>y</Message>", "<SenderFault>true</SenderFault>"] {
            assert!(failed.contains(member), "{member} in {xml}");
        }
        let empty = xml_answer("DeleteQueue", &json!({})).expect("xml");
        assert!(empty.contains("<DeleteQueueResponse") && !empty.contains("DeleteQueueResult"), "{empty}");
        let moved = xml_answer("CancelMessageMoveTask", &json!({"ApproximateNumberOfMessagesMoved": 3})).expect("xml");
        assert!(moved.contains("<ApproximateNumberOfMessagesMoved>3</ApproximateNumberOfMessagesMoved>"), "{moved}");
    }
}
