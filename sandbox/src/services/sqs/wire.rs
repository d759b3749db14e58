//! SQS's AWS JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.<Operation>`), which current SDKs and
//! boto3 speak: each operation's input decoded into a typed struct, the engine called, its
//! result encoded. One function per operation; [`handle`] dispatches.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::attributes::{Attributes, MAX_MESSAGE_BYTES, md5_hex, md5_of_attributes, message_size, valid_batch_id};
use super::engine::{MAX_WAIT_SECONDS, NewMessage, Peeked, ReceiveOptions, Sent, Sqs, Taken, queue_name, queue_url};
use super::errors::{
    batch_too_long, empty_batch, error, ids_not_distinct, invalid, invalid_action, invalid_batch_id, invalid_value,
    too_many_entries,
};
use super::redrive::MoveTask;
use crate::ACCOUNT_ID;
use crate::aws::queue_arn;
use crate::error::AwsError;

type Result<T> = std::result::Result<T, AwsError>;

/// What SQS answers to an input that does not decode: a missing parameter, or a bad value.
fn decode_error(err: &serde_json::Error) -> AwsError {
    let text = err.to_string();
    match text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        Some(name) => super::errors::missing(name),
        None if err.is_syntax() || err.is_eof() => {
            error("SerializationException", "SerializationException", format!("The body is not valid JSON: {text}"))
        }
        None => invalid(format!("Invalid value: {text}")),
    }
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|err| decode_error(&err))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|err| AwsError::internal(err.to_string()))
}

fn empty() -> Result<Vec<u8>> {
    Ok(b"{}".to_vec())
}

/// Handles one JSON-protocol call with its `body`; `base_url` is how the caller reached the
/// sandbox (queue URLs are made from it). The answer is the JSON document.
pub async fn handle(sqs: &Sqs, operation: &str, body: &[u8], base_url: &str) -> Result<Vec<u8>> {
    let body = if body.is_empty() { b"{}" } else { body };
    match operation {
        "CreateQueue" => create_queue(sqs, decode(body)?, base_url).await,
        "GetQueueUrl" => get_queue_url(sqs, decode(body)?, base_url),
        "ListQueues" => list_queues(sqs, decode(body)?, base_url),
        "DeleteQueue" => delete_queue(sqs, decode(body)?).await,
        "PurgeQueue" => purge_queue(sqs, decode(body)?).await,
        "GetQueueAttributes" => get_queue_attributes(sqs, decode(body)?),
        "SetQueueAttributes" => set_queue_attributes(sqs, decode(body)?).await,
        "SendMessage" => send_message(sqs, decode(body)?).await,
        "SendMessageBatch" => send_message_batch(sqs, decode(body)?).await,
        "ReceiveMessage" => receive_message(sqs, decode(body)?).await,
        "DeleteMessage" => delete_message(sqs, decode(body)?).await,
        "DeleteMessageBatch" => delete_message_batch(sqs, decode(body)?).await,
        "ChangeMessageVisibility" => change_message_visibility(sqs, decode(body)?).await,
        "ChangeMessageVisibilityBatch" => change_message_visibility_batch(sqs, decode(body)?).await,
        "TagQueue" => tag_queue(sqs, decode(body)?).await,
        "UntagQueue" => untag_queue(sqs, decode(body)?).await,
        "ListQueueTags" => list_queue_tags(sqs, decode(body)?),
        "ListDeadLetterSourceQueues" => list_dead_letter_source_queues(sqs, decode(body)?, base_url),
        "StartMessageMoveTask" => start_message_move_task(sqs, decode(body)?).await,
        "ListMessageMoveTasks" => list_message_move_tasks(sqs, decode(body)?),
        "CancelMessageMoveTask" => cancel_message_move_task(sqs, decode(body)?).await,
        other => Err(invalid_action(other)),
    }
}

impl Sqs {
    /// Handles one JSON-protocol call (see [`handle`]).
    pub async fn handle(&self, operation: &str, body: &[u8], base_url: &str) -> Result<Vec<u8>> {
        handle(self, operation, body, base_url).await
    }
}

// ---- queues ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueInput {
    queue_name: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags")]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlOutput {
    queue_url: String,
}

async fn create_queue(sqs: &Sqs, input: CreateQueueInput, base_url: &str) -> Result<Vec<u8>> {
    let queue_url = sqs.create(base_url, &input.queue_name, &input.attributes, &input.tags).await?;
    encode(&QueueUrlOutput { queue_url })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueUrlInput {
    queue_name: String,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    queue_owner_aws_account_id: Option<String>,
}

fn get_queue_url(sqs: &Sqs, input: GetQueueUrlInput, base_url: &str) -> Result<Vec<u8>> {
    let queue_url = sqs.queue_url_of(base_url, &input.queue_name, input.queue_owner_aws_account_id.as_deref())?;
    encode(&QueueUrlOutput { queue_url })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    #[serde(default)]
    queue_name_prefix: String,
    queue_url: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// One page of `names` (sorted): after the token's name, at most `max` (1 to 1,000) when given;
/// the next token when more remain.
fn page(names: Vec<String>, max: Option<i64>, token: Option<&str>) -> Result<(Vec<String>, Option<String>)> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if let Some(max) = max
        && !(1..=1000).contains(&max)
    {
        return Err(invalid_value("MaxResults", max, "Must be between 1 and 1000, if provided."));
    }
    let after = match token {
        Some(token) => Some(
            engine
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid("Invalid NextToken value."))?,
        ),
        None => None,
    };
    let rest: Vec<String> = names.into_iter().filter(|n| after.as_ref().is_none_or(|a| n > a)).collect();
    let limit = max.map_or(1000, |m| usize::try_from(m).unwrap_or(1000));
    let more = max.is_some() && rest.len() > limit;
    let page: Vec<String> = rest.into_iter().take(limit).collect();
    let next = more.then(|| page.last().map(|last| engine.encode(last))).flatten();
    Ok((page, next))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    queue_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn list_queues(sqs: &Sqs, input: ListInput, base_url: &str) -> Result<Vec<u8>> {
    let (names, next_token) =
        page(sqs.queue_names(&input.queue_name_prefix), input.max_results, input.next_token.as_deref())?;
    encode(&ListQueuesOutput { queue_urls: names.iter().map(|n| queue_url(base_url, n)).collect(), next_token })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlInput {
    queue_url: String,
}

async fn delete_queue(sqs: &Sqs, input: QueueUrlInput) -> Result<Vec<u8>> {
    sqs.delete_queue(&queue_name(&input.queue_url)?).await?;
    empty()
}

async fn purge_queue(sqs: &Sqs, input: QueueUrlInput) -> Result<Vec<u8>> {
    sqs.purge(&queue_name(&input.queue_url)?).await?;
    empty()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesInput {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesOutput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
}

fn get_queue_attributes(sqs: &Sqs, input: GetQueueAttributesInput) -> Result<Vec<u8>> {
    let attributes = sqs.attributes(&queue_name(&input.queue_url)?, &input.attribute_names)?;
    encode(&AttributesOutput { attributes })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetQueueAttributesInput {
    queue_url: String,
    attributes: BTreeMap<String, String>,
}

async fn set_queue_attributes(sqs: &Sqs, input: SetQueueAttributesInput) -> Result<Vec<u8>> {
    sqs.set_attributes(&queue_name(&input.queue_url)?, &input.attributes).await?;
    empty()
}

// ---- sending ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendFields {
    message_body: String,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: Attributes,
    #[serde(default)]
    message_system_attributes: Attributes,
    message_group_id: Option<String>,
    message_deduplication_id: Option<String>,
}

impl SendFields {
    fn into_message(self) -> Result<NewMessage> {
        let mut system = self.message_system_attributes;
        let trace_header = match system.remove("AWSTraceHeader") {
            Some(attribute) if attribute.data_type == "String" && attribute.string_value.is_some() => {
                attribute.string_value
            }
            Some(_) => return Err(invalid("AWSTraceHeader must be a String attribute with a value.")),
            None => None,
        };
        if let Some(name) = system.keys().next() {
            return Err(invalid(format!("Message system attribute name '{name}' is invalid.")));
        }
        Ok(NewMessage {
            body: self.message_body,
            attributes: self.message_attributes,
            delay_seconds: self.delay_seconds,
            group_id: self.message_group_id,
            dedup_id: self.message_deduplication_id,
            trace_header,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageInput {
    queue_url: String,
    #[serde(flatten)]
    fields: SendFields,
}

/// The answer to `SendMessage`, and one entry of `SendMessageBatch`'s.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
    #[serde(rename = "MD5OfMessageSystemAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_system_attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
}

impl SendOutput {
    fn new(id: Option<String>, sent: Sent) -> Self {
        Self {
            id,
            message_id: sent.message_id,
            md5_of_message_body: sent.md5_of_body,
            md5_of_message_attributes: sent.md5_of_attributes,
            md5_of_message_system_attributes: sent.md5_of_system_attributes,
            sequence_number: sent.sequence_number,
        }
    }
}

async fn send_message(sqs: &Sqs, input: SendMessageInput) -> Result<Vec<u8>> {
    let name = queue_name(&input.queue_url)?;
    let sent = sqs.send_message(&name, input.fields.into_message()?).await?;
    encode(&SendOutput::new(None, sent))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendEntry {
    id: String,
    #[serde(flatten)]
    fields: SendFields,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchInput<E> {
    queue_url: String,
    entries: Vec<E>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchFailure {
    id: String,
    sender_fault: bool,
    code: String,
    message: String,
}

impl BatchFailure {
    fn new(id: String, err: AwsError) -> Self {
        Self { id, sender_fault: !err.is_server_fault(), code: err.code.into_owned(), message: err.message }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchOutput<T> {
    successful: Vec<T>,
    failed: Vec<BatchFailure>,
}

impl<T> BatchOutput<T> {
    /// Each entry's `result` with its id: a success made by `ok`, or a failure. A server fault
    /// fails the whole batch, as it would on SQS.
    fn collect<R>(ids: Vec<String>, results: Vec<Result<R>>, ok: impl Fn(String, R) -> T) -> Result<Self> {
        let mut out = Self { successful: Vec::new(), failed: Vec::new() };
        for (id, result) in ids.into_iter().zip(results) {
            match result {
                Ok(value) => out.successful.push(ok(id, value)),
                Err(err) if err.is_server_fault() => return Err(err),
                Err(err) => out.failed.push(BatchFailure::new(id, err)),
            }
        }
        Ok(out)
    }
}

/// The checks every batch gets before its entries: not empty, at most 10, ids well formed and
/// distinct.
fn check_batch<'a>(entry_name: &str, ids: impl ExactSizeIterator<Item = &'a str>) -> Result<()> {
    match ids.len() {
        0 => return Err(empty_batch(entry_name)),
        n if n > 10 => return Err(too_many_entries(n)),
        _ => {}
    }
    let mut seen = HashSet::new();
    for id in ids {
        if !valid_batch_id(id) {
            return Err(invalid_batch_id());
        }
        if !seen.insert(id) {
            return Err(ids_not_distinct(id));
        }
    }
    Ok(())
}

async fn send_message_batch(sqs: &Sqs, input: BatchInput<SendEntry>) -> Result<Vec<u8>> {
    let name = queue_name(&input.queue_url)?;
    check_batch("SendMessageBatchRequestEntry", input.entries.iter().map(|e| e.id.as_str()))?;
    let total: usize =
        input.entries.iter().map(|e| message_size(&e.fields.message_body, &e.fields.message_attributes)).sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(batch_too_long(total, MAX_MESSAGE_BYTES));
    }
    let mut ids = Vec::with_capacity(input.entries.len());
    let mut messages = Vec::with_capacity(input.entries.len());
    let mut refused = Vec::new();
    for entry in input.entries {
        match entry.fields.into_message() {
            Ok(message) => {
                ids.push(entry.id);
                messages.push(message);
            }
            Err(err) => refused.push(BatchFailure::new(entry.id, err)),
        }
    }
    let results = sqs.send_batch(&name, messages).await?;
    let mut out = BatchOutput::collect(ids, results, |id, sent| SendOutput::new(Some(id), sent))?;
    out.failed.extend(refused);
    encode(&out)
}

// ---- receiving ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageInput {
    queue_url: String,
    max_number_of_messages: Option<i64>,
    wait_time_seconds: Option<i64>,
    visibility_timeout: Option<i64>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    receive_request_attempt_id: Option<String>,
}

/// A received message as the JSON protocol writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReceivedMessage {
    pub(super) message_id: String,
    pub(super) receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub(super) md5_of_body: String,
    pub(super) body: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) attributes: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) message_attributes: Attributes,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    pub(super) md5_of_message_attributes: Option<String>,
}

/// Which attributes of a received message the caller asked for.
pub(super) struct Wanted<'a> {
    system: Vec<&'a str>,
    message: &'a [String],
}

impl<'a> Wanted<'a> {
    pub(super) fn new(system: impl IntoIterator<Item = &'a str>, message: &'a [String]) -> Self {
        Self { system: system.into_iter().collect(), message }
    }

    fn system(&self, name: &str) -> bool {
        self.system.iter().any(|n| *n == "All" || *n == name)
    }

    fn message(&self, name: &str) -> bool {
        self.message.iter().any(|wanted| {
            wanted == "All"
                || wanted == ".*"
                || wanted == name
                || wanted
                    .strip_suffix(".*")
                    .is_some_and(|prefix| name.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
        })
    }
}

/// A message with the system and message attributes `wanted`, as `ReceiveMessage` returns it;
/// `extra` adds attributes of the sandbox's own (the `/_aws/sqs/messages` view).
pub(super) fn received(
    message: &super::engine::Message,
    handle: String,
    wanted: &Wanted<'_>,
    extra: &[(&'static str, String)],
) -> ReceivedMessage {
    let state = &message.state;
    let meta = &message.meta;
    let system = [
        ("ApproximateReceiveCount", Some(state.receive_count.to_string())),
        ("SentTimestamp", Some(message.sent_ms.to_string())),
        ("ApproximateFirstReceiveTimestamp", Some(state.first_received_ms.unwrap_or(message.sent_ms).to_string())),
        ("SenderId", Some(ACCOUNT_ID.to_owned())),
        ("AWSTraceHeader", meta.trace_header.clone()),
        ("MessageGroupId", meta.group.clone()),
        ("MessageDeduplicationId", meta.dedup.clone()),
        ("SequenceNumber", meta.sequence.clone()),
        ("DeadLetterQueueSourceArn", meta.dead_letter_source.clone()),
    ];
    let mut attributes: BTreeMap<&'static str, String> =
        system.into_iter().filter(|(k, _)| wanted.system(k)).filter_map(|(k, v)| Some((k, v?))).collect();
    attributes.extend(extra.iter().cloned());
    let message_attributes: Attributes =
        message.attributes.iter().filter(|(k, _)| wanted.message(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    ReceivedMessage {
        md5_of_body: md5_hex(message.body.as_bytes()),
        message_id: message.id.clone(),
        receipt_handle: handle,
        body: message.body.to_string(),
        attributes,
        md5_of_message_attributes: (!message_attributes.is_empty()).then(|| md5_of_attributes(&message_attributes)),
        message_attributes,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReceiveOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) messages: Vec<ReceivedMessage>,
}

async fn receive_message(sqs: &Sqs, input: ReceiveMessageInput) -> Result<Vec<u8>> {
    let name = queue_name(&input.queue_url)?;
    let max = input.max_number_of_messages.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(invalid_value("MaxNumberOfMessages", max, "Must be between 1 and 10, if provided."));
    }
    let wait = match input.wait_time_seconds {
        Some(wait) if !(0..=i64::try_from(MAX_WAIT_SECONDS).unwrap_or(20)).contains(&wait) => {
            return Err(invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided."));
        }
        Some(wait) => u64::try_from(wait).unwrap_or(0),
        None => sqs.default_wait(&name)?,
    };
    let visibility = match input.visibility_timeout {
        Some(v) if !(0..=43_200).contains(&v) => {
            return Err(invalid_value("VisibilityTimeout", v, "Must be between 0 and 43200, if provided."));
        }
        v => v.and_then(|v| u64::try_from(v).ok()),
    };
    let options = ReceiveOptions {
        max: usize::try_from(max).unwrap_or(1),
        visibility,
        wait: Duration::from_secs(wait),
        attempt_id: input.receive_request_attempt_id,
    };
    let taken: Vec<Taken> = sqs.receive(&name, &options).await?;
    let wanted = Wanted::new(
        input.attribute_names.iter().chain(&input.message_system_attribute_names).map(String::as_str),
        &input.message_attribute_names,
    );
    let messages = taken.into_iter().map(|t| received(&t.message, t.handle, &wanted, &[])).collect();
    encode(&ReceiveOutput { messages })
}

/// The `/_aws/sqs/messages` view of a queue as `ReceiveMessage`'s JSON output: every system
/// and message attribute, and whether each message is visible or delayed when asked to show those.
pub(super) fn peek_output(peeked: &[Peeked], show_invisible: bool, show_delayed: bool) -> ReceiveOutput {
    let all = ["All".to_owned()];
    let wanted = Wanted::new(["All"], &all);
    let messages = peeked
        .iter()
        .map(|p| {
            let mut extra = Vec::new();
            if show_invisible {
                extra.push(("IsVisible", p.visible.to_string()));
            }
            if show_delayed {
                extra.push(("IsDelayed", p.delayed.to_string()));
            }
            received(&p.message, "SQS/BACKDOOR/ACCESS".to_owned(), &wanted, &extra)
        })
        .collect();
    ReceiveOutput { messages }
}

// ---- deleting and visibility ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageInput {
    queue_url: String,
    receipt_handle: String,
}

async fn delete_message(sqs: &Sqs, input: DeleteMessageInput) -> Result<Vec<u8>> {
    sqs.delete(&queue_name(&input.queue_url)?, &input.receipt_handle).await?;
    empty()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteEntry {
    id: String,
    receipt_handle: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdOutput {
    id: String,
}

async fn delete_message_batch(sqs: &Sqs, input: BatchInput<DeleteEntry>) -> Result<Vec<u8>> {
    let name = queue_name(&input.queue_url)?;
    check_batch("DeleteMessageBatchRequestEntry", input.entries.iter().map(|e| e.id.as_str()))?;
    let handles: Vec<String> = input.entries.iter().map(|e| e.receipt_handle.clone()).collect();
    let results = sqs.delete_batch(&name, &handles).await?;
    let ids = input.entries.into_iter().map(|e| e.id).collect();
    encode(&BatchOutput::collect(ids, results, |id, ()| IdOutput { id })?)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeVisibilityInput {
    queue_url: String,
    receipt_handle: String,
    visibility_timeout: i64,
}

async fn change_message_visibility(sqs: &Sqs, input: ChangeVisibilityInput) -> Result<Vec<u8>> {
    sqs.change_visibility(&queue_name(&input.queue_url)?, &input.receipt_handle, input.visibility_timeout).await?;
    empty()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeVisibilityEntry {
    id: String,
    receipt_handle: String,
    #[serde(default)]
    visibility_timeout: i64,
}

async fn change_message_visibility_batch(sqs: &Sqs, input: BatchInput<ChangeVisibilityEntry>) -> Result<Vec<u8>> {
    let name = queue_name(&input.queue_url)?;
    check_batch("ChangeMessageVisibilityBatchRequestEntry", input.entries.iter().map(|e| e.id.as_str()))?;
    let entries: Vec<(String, i64)> =
        input.entries.iter().map(|e| (e.receipt_handle.clone(), e.visibility_timeout)).collect();
    let results = sqs.change_visibility_batch(&name, &entries).await?;
    let ids = input.entries.into_iter().map(|e| e.id).collect();
    encode(&BatchOutput::collect(ids, results, |id, ()| IdOutput { id })?)
}

// ---- tags ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagQueueInput {
    queue_url: String,
    tags: BTreeMap<String, String>,
}

async fn tag_queue(sqs: &Sqs, input: TagQueueInput) -> Result<Vec<u8>> {
    sqs.change_tags(&queue_name(&input.queue_url)?, &input.tags, &[]).await?;
    empty()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagQueueInput {
    queue_url: String,
    tag_keys: Vec<String>,
}

async fn untag_queue(sqs: &Sqs, input: UntagQueueInput) -> Result<Vec<u8>> {
    sqs.change_tags(&queue_name(&input.queue_url)?, &BTreeMap::new(), &input.tag_keys).await?;
    empty()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagsOutput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

fn list_queue_tags(sqs: &Sqs, input: QueueUrlInput) -> Result<Vec<u8>> {
    encode(&TagsOutput { tags: sqs.tags(&queue_name(&input.queue_url)?)? })
}

// ---- dead-letter queues and redrive ----

#[derive(Debug, Serialize)]
struct DeadLetterSourcesOutput {
    #[serde(rename = "queueUrls")]
    queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn list_dead_letter_source_queues(sqs: &Sqs, input: ListInput, base_url: &str) -> Result<Vec<u8>> {
    let url = input.queue_url.ok_or_else(|| super::errors::missing("QueueUrl"))?;
    let sources = sqs.dead_letter_sources(&queue_name(&url)?)?;
    let (names, next_token) = page(sources, input.max_results, input.next_token.as_deref())?;
    encode(&DeadLetterSourcesOutput { queue_urls: names.iter().map(|n| queue_url(base_url, n)).collect(), next_token })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartMoveTaskInput {
    source_arn: String,
    destination_arn: Option<String>,
    max_number_of_messages_per_second: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TaskHandleOutput {
    task_handle: String,
}

async fn start_message_move_task(sqs: &Sqs, input: StartMoveTaskInput) -> Result<Vec<u8>> {
    let task_handle = sqs
        .start_move_task(&input.source_arn, input.destination_arn.as_deref(), input.max_number_of_messages_per_second)
        .await?;
    encode(&TaskHandleOutput { task_handle })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMoveTasksInput {
    source_arn: String,
    max_results: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MoveTaskOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    task_handle: Option<String>,
    status: &'static str,
    source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_number_of_messages_per_second: Option<u32>,
    approximate_number_of_messages_moved: u64,
    approximate_number_of_messages_to_move: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    started_timestamp: u64,
}

impl From<MoveTask> for MoveTaskOutput {
    fn from(task: MoveTask) -> Self {
        Self {
            task_handle: task.is_running().then(|| task.handle()),
            status: task.status.as_str(),
            source_arn: queue_arn(&task.source),
            destination_arn: task.destination.as_deref().map(queue_arn),
            max_number_of_messages_per_second: task.rate,
            approximate_number_of_messages_moved: task.moved,
            approximate_number_of_messages_to_move: task.to_move,
            failure_reason: task.failure,
            started_timestamp: task.started_ms,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListMoveTasksOutput {
    results: Vec<MoveTaskOutput>,
}

fn list_message_move_tasks(sqs: &Sqs, input: ListMoveTasksInput) -> Result<Vec<u8>> {
    let tasks = sqs.move_tasks(&input.source_arn, input.max_results)?;
    encode(&ListMoveTasksOutput { results: tasks.into_iter().map(MoveTaskOutput::from).collect() })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CancelMoveTaskInput {
    task_handle: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CancelMoveTaskOutput {
    approximate_number_of_messages_moved: u64,
}

async fn cancel_message_move_task(sqs: &Sqs, input: CancelMoveTaskInput) -> Result<Vec<u8>> {
    let moved = sqs.cancel_move_task(&input.task_handle).await?;
    encode(&CancelMoveTaskOutput { approximate_number_of_messages_moved: moved })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_that_do_not_decode_get_sqs_codes() {
        let missing = decode::<SendMessageInput>(br#"{"QueueUrl":"u"}"#).expect_err("no body");
        assert_eq!(
            (missing.code.as_ref(), missing.message.as_str()),
            ("MissingParameter", "The request must contain the parameter MessageBody.")
        );
        let negative = decode::<ReceiveMessageInput>(br#"{"QueueUrl":"u","MaxNumberOfMessages":"x"}"#)
            .expect_err("a string for a number");
        assert_eq!(negative.code, "InvalidParameterValue");
        let garbage = decode::<SendMessageInput>(b"{not json").expect_err("not JSON");
        assert_eq!(garbage.code, "SerializationException");
    }

    #[test]
    fn batches_are_checked_before_their_entries() {
        assert_eq!(
            check_batch("E", [].into_iter()).expect_err("empty").code,
            "AWS.SimpleQueueService.EmptyBatchRequest"
        );
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        let err = check_batch("E", eleven.iter().map(String::as_str)).expect_err("eleven");
        assert_eq!(err.message, "Maximum number of entries per request are 10. You have sent 11.");
        assert_eq!(
            check_batch("E", ["a", "a"].into_iter()).expect_err("twice").code,
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
        );
        assert_eq!(
            check_batch("E", ["a.b"].into_iter()).expect_err("period").code,
            "AWS.SimpleQueueService.InvalidBatchEntryId"
        );
    }

    #[test]
    fn lists_page_with_opaque_tokens() {
        let names: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
        let (first, token) = page(names.clone(), Some(2), None).expect("page 1");
        assert_eq!(first, ["a", "b"]);
        let (second, none) = page(names.clone(), Some(2), token.as_deref()).expect("page 2");
        assert_eq!((second.as_slice(), none), (["c".to_owned()].as_slice(), None));
        let (all, none) = page(names, None, None).expect("no max");
        assert_eq!((all.len(), none), (3, None));
    }

    #[test]
    fn message_attribute_names_select_by_name_prefix_or_all() {
        let wanted = ["a.*".to_owned(), "exact".to_owned()];
        let w = Wanted::new([], &wanted);
        assert!(w.message("a.b") && w.message("exact"));
        assert!(!w.message("ab") && !w.message("a") && !w.message("other"));
    }
}
