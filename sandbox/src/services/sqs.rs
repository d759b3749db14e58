//! The sandbox's SQS: standard queues over the AWS JSON 1.0 protocol (`X-Amz-Target:
//! AmazonSQS.<Operation>`), which current SDKs and boto3 speak.
//!
//! Semantics follow SQS: a received message stays in the queue, invisible for the visibility
//! timeout, and comes back if it is not deleted in time; every receive counts; a queue with a
//! redrive policy moves a message to its dead-letter queue once its receive count would pass
//! `maxReceiveCount`. Long polling (`WaitTimeSeconds`) wakes the moment a message arrives or
//! becomes visible again — waiters sleep on a [`Notify`], not in a retry loop.
//!
//! Queues and messages (body, attributes, receive count, visibility deadline, sent time) are
//! written to the durable store before an operation answers, so whatever SQS acknowledged
//! survives a restart — and so does a message in flight, which comes back when its visibility
//! timeout ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::ACCOUNT_ID;
use crate::aws::{arn_name, now_ms, queue_arn, uuid};
use crate::error::AwsError;
use crate::state::{MessageState, Store, StoreError, StoredMessage};

const DEFAULT_VISIBILITY: u64 = 30;
const MAX_WAIT_SECONDS: u64 = 20;
const MAX_BODY: usize = 256 * 1024;
const QUEUE_RECORD: &str = "sqs-queue";
/// How many of a message's latest receipt handles still delete it.
const KEPT_HANDLES: usize = 4;

type Result<T> = std::result::Result<T, AwsError>;

fn error(json_type: &'static str, code: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(code, 400, message).json_type(json_type)
}

fn no_queue() -> AwsError {
    error(
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist for this wsdl version.",
    )
}

fn invalid(message: impl Into<String>) -> AwsError {
    error("InvalidParameterValue", "InvalidParameterValue", message)
}

/// What SQS answers to an input that does not decode: a missing parameter, or a bad value.
fn decode_error(err: &serde_json::Error) -> AwsError {
    let text = err.to_string();
    match text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        Some(name) => {
            error("MissingParameter", "MissingParameter", format!("The request must contain the parameter {name}."))
        }
        None if err.is_syntax() || err.is_eof() => {
            error("SerializationException", "SerializationException", format!("The body is not valid JSON: {text}"))
        }
        None => invalid(format!("Invalid value: {text}")),
    }
}

/// A message attribute, as SQS's JSON protocol writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    /// `String`, `Number`, `Binary`, optionally with a custom suffix (`String.json`).
    pub data_type: String,
    /// The value of a `String` or `Number` attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// The base64 value of a `Binary` attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
}

impl MessageAttribute {
    /// A string-valued attribute.
    pub fn string(data_type: &str, value: &str) -> Self {
        Self { data_type: data_type.to_owned(), string_value: Some(value.to_owned()), binary_value: None }
    }
}

type Attributes = BTreeMap<String, MessageAttribute>;

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    attributes: Attributes,
    sent_ms: u64,
    state: MessageState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct QueueRecord {
    attributes: BTreeMap<String, String>,
    created_s: u64,
}

#[derive(Debug)]
struct Queue {
    name: String,
    record: QueueRecord,
    messages: VecDeque<Message>,
    arrivals: Arc<Notify>,
}

impl Queue {
    fn new(name: &str, record: QueueRecord) -> Self {
        Self { name: name.to_owned(), record, messages: VecDeque::new(), arrivals: Arc::new(Notify::new()) }
    }

    fn attribute<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.record.attributes.get(name).and_then(|v| v.parse().ok())
    }

    fn visibility(&self) -> u64 {
        self.attribute("VisibilityTimeout").unwrap_or(DEFAULT_VISIBILITY)
    }

    /// `(dead-letter queue name, maxReceiveCount)` of the redrive policy.
    fn redrive(&self) -> Option<(String, u32)> {
        let policy: serde_json::Value = serde_json::from_str(self.record.attributes.get("RedrivePolicy")?).ok()?;
        let arn = policy.get("deadLetterTargetArn")?.as_str()?;
        let max = match policy.get("maxReceiveCount")? {
            serde_json::Value::String(s) => s.parse().ok()?,
            serde_json::Value::Number(n) => u32::try_from(n.as_u64()?).ok()?,
            _ => return None,
        };
        Some((arn_name(arn).to_owned(), max))
    }
}

/// All queues of the sandbox.
#[derive(Debug)]
pub struct Sqs {
    queues: Mutex<HashMap<String, Queue>>,
    store: Arc<Store>,
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The MD5 of message attributes as SQS computes it (and boto3 checks it): for each attribute
/// in name order, length-prefixed name, data type, a transport byte, and value.
fn md5_of_attributes(attributes: &Attributes) -> String {
    fn push(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, attr) in attributes {
        push(&mut buf, name.as_bytes());
        push(&mut buf, attr.data_type.as_bytes());
        if let Some(binary) = &attr.binary_value {
            use base64::Engine as _;
            buf.push(2);
            push(&mut buf, &base64::engine::general_purpose::STANDARD.decode(binary).unwrap_or_default());
        } else {
            buf.push(1);
            push(&mut buf, attr.string_value.as_deref().unwrap_or_default().as_bytes());
        }
    }
    md5_hex(&buf)
}

/// The queue name of a queue URL (`http://host/000000000000/name`).
fn name_of(url: &str) -> Result<&str> {
    url.trim_end_matches('/').rsplit('/').next().filter(|n| !n.is_empty()).ok_or_else(no_queue)
}

fn valid_name(name: &str) -> bool {
    (1..=80).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn queue_url(base_url: &str, name: &str) -> String {
    format!("{}/{ACCOUNT_ID}/{name}", base_url.trim_end_matches('/'))
}

// ---- inputs and outputs of the JSON protocol ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueInput {
    queue_name: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueNameInput {
    queue_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesInput {
    #[serde(default)]
    queue_name_prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlInput {
    queue_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesInput {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetQueueAttributesInput {
    queue_url: String,
    attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageInput {
    queue_url: String,
    message_body: String,
    #[serde(default)]
    delay_seconds: u64,
    #[serde(default)]
    message_attributes: Attributes,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendEntry {
    id: String,
    message_body: String,
    #[serde(default)]
    delay_seconds: u64,
    #[serde(default)]
    message_attributes: Attributes,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchInput<E> {
    queue_url: String,
    entries: Vec<E>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageInput {
    queue_url: String,
    max_number_of_messages: Option<u64>,
    wait_time_seconds: Option<u64>,
    visibility_timeout: Option<u64>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageInput {
    queue_url: String,
    receipt_handle: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteEntry {
    id: String,
    receipt_handle: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeVisibilityInput {
    queue_url: String,
    receipt_handle: String,
    visibility_timeout: u64,
}

/// The answer to `SendMessage`, and one entry of `SendMessageBatch`'s.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
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
    /// Entry `id` of a batch, refused with `err` (the caller's fault: a server fault fails the
    /// whole batch).
    fn new(id: String, err: AwsError) -> Self {
        Self { id, sender_fault: true, code: err.json_type.unwrap_or_default().to_owned(), message: err.message }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchResult<T> {
    successful: Vec<T>,
    failed: Vec<BatchFailure>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteSuccess {
    id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceivedMessage {
    message_id: String,
    receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: String,
    body: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    message_attributes: Attributes,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveResult {
    messages: Vec<ReceivedMessage>,
}

/// A message taken by a receive: what the answer needs.
#[derive(Debug)]
struct Taken {
    message: Message,
    handle: String,
}

impl Sqs {
    /// SQS over `store`, with the queues and messages it holds.
    pub fn open(store: Arc<Store>) -> std::result::Result<Self, StoreError> {
        let mut queues: HashMap<String, Queue> = store
            .records::<QueueRecord>(QUEUE_RECORD)?
            .into_iter()
            .map(|(name, record)| (name.clone(), Queue::new(&name, record)))
            .collect();
        for stored in store.messages()? {
            let Some(queue) = queues.get_mut(&stored.queue) else { continue };
            let attributes =
                stored.attributes.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
            queue.messages.push_back(Message {
                id: stored.id,
                body: stored.body,
                attributes,
                sent_ms: stored.sent_ms,
                state: stored.state,
            });
        }
        Ok(Self { queues: Mutex::new(queues), store })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Queue>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates `name` with `attributes`, or finds it when it exists with the same values; returns
    /// its URL under `base_url`.
    pub fn create_queue(&self, base_url: &str, name: &str, attributes: &BTreeMap<String, String>) -> Result<String> {
        if !valid_name(name) {
            return Err(invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let mut queues = self.lock();
        if let Some(queue) = queues.get(name) {
            // As SQS: creating an existing queue is fine with the same attributes, an error with others.
            let differs = attributes.iter().find(|(k, v)| {
                queue.record.attributes.get(*k).map(String::as_str).or_else(|| default_attribute(k)) != Some(v.as_str())
            });
            if let Some((attribute, _)) = differs {
                return Err(error(
                    "QueueNameExists",
                    "QueueAlreadyExists",
                    format!(
                        "A queue already exists with the same name and a different value for attribute {attribute}"
                    ),
                ));
            }
            return Ok(queue_url(base_url, name));
        }
        let mut all = BTreeMap::from([("VisibilityTimeout".to_owned(), DEFAULT_VISIBILITY.to_string())]);
        all.extend(attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        let record = QueueRecord { attributes: all, created_s: now_ms() / 1000 };
        self.store.write(|w| w.put(QUEUE_RECORD, name, &record))?;
        queues.insert(name.to_owned(), Queue::new(name, record));
        Ok(queue_url(base_url, name))
    }

    /// Whether the queue with ARN `arn` exists.
    pub fn has_queue_arn(&self, arn: &str) -> bool {
        self.lock().contains_key(arn_name(arn)) && arn == queue_arn(arn_name(arn))
    }

    fn with_queue<T>(&self, name: &str, f: impl FnOnce(&mut Queue) -> Result<T>) -> Result<T> {
        let mut queues = self.lock();
        f(queues.get_mut(name).ok_or_else(no_queue)?)
    }

    /// Sends `body` to queue `name` (used by SNS delivery and S3 notifications too).
    pub fn send(&self, name: &str, body: String, attributes: Attributes, delay: u64) -> Result<SendResult> {
        if body.is_empty() || body.len() > MAX_BODY {
            return Err(invalid("The message body must be 1 byte to 256 KiB long"));
        }
        self.with_queue(name, |queue| {
            let delay = delay.max(queue.attribute("DelaySeconds").unwrap_or(0));
            let sent_ms = now_ms();
            let message = Message {
                id: uuid(),
                body,
                attributes,
                sent_ms,
                state: MessageState { visible_at_ms: sent_ms + delay * 1000, ..MessageState::default() },
            };
            let stored = StoredMessage {
                id: message.id.clone(),
                queue: queue.name.clone(),
                body: message.body.clone(),
                attributes: (!message.attributes.is_empty())
                    .then(|| serde_json::to_string(&message.attributes))
                    .transpose()
                    .map_err(|err| AwsError::internal(err.to_string()))?,
                sent_ms,
                state: message.state.clone(),
            };
            self.store.write(|w| w.insert_message(&stored))?;
            let result = SendResult {
                id: None,
                message_id: message.id.clone(),
                md5_of_message_body: md5_hex(message.body.as_bytes()),
                md5_of_message_attributes: (!message.attributes.is_empty())
                    .then(|| md5_of_attributes(&message.attributes)),
            };
            queue.messages.push_back(message);
            queue.arrivals.notify_waiters();
            Ok(result)
        })
    }

    /// Takes up to `max` visible messages of `name`, moving those past the redrive limit to the
    /// dead-letter queue. Returns the messages and, when none was visible, how long until one
    /// may become visible.
    fn take(&self, name: &str, max: usize, visibility: Option<u64>) -> Result<(Vec<Taken>, Option<Duration>)> {
        let mut queues = self.lock();
        let queue = queues.get_mut(name).ok_or_else(no_queue)?;
        let now = now_ms();
        let visibility_ms = visibility.unwrap_or_else(|| queue.visibility()) * 1000;
        let redrive = queue.redrive();
        let dlq_exists = |dlq: &str| dlq != name;
        let (mut taken, mut dead) = (Vec::new(), Vec::new());
        for (index, message) in queue.messages.iter().enumerate() {
            if taken.len() >= max {
                break;
            }
            if message.state.visible_at_ms > now {
                continue;
            }
            if let Some((dlq, max_receives)) = &redrive
                && message.state.receive_count >= *max_receives
                && dlq_exists(dlq)
            {
                dead.push(index);
                continue;
            }
            let handle = format!("{}#{}", message.id, uuid());
            let mut state = message.state.clone();
            state.receive_count += 1;
            state.first_received_ms.get_or_insert(now);
            state.visible_at_ms = now + visibility_ms;
            state.receipt_handles.push(handle.clone());
            let excess = state.receipt_handles.len().saturating_sub(KEPT_HANDLES);
            state.receipt_handles.drain(..excess);
            taken.push((index, state, handle));
        }
        let dlq_name = redrive.map(|(dlq, _)| dlq).filter(|dlq| !dead.is_empty() && queues_has(&queues, dlq));
        // Record every change before answering: the receives, and the moves to the dead-letter queue.
        let queue = queues.get_mut(name).ok_or_else(no_queue)?;
        self.store.write(|w| {
            for (index, state, _) in &taken {
                w.update_message(&queue.messages[*index].id, name, state)?;
            }
            if let Some(dlq) = &dlq_name {
                for index in &dead {
                    let message = &queue.messages[*index];
                    w.update_message(&message.id, dlq, &MessageState { visible_at_ms: now, ..message.state.clone() })?;
                }
            }
            Ok(())
        })?;
        let mut answered = Vec::with_capacity(taken.len());
        for (index, state, handle) in taken {
            let message = &mut queue.messages[index];
            message.state = state;
            answered.push(Taken { message: message.clone(), handle });
        }
        let next_visible = if answered.is_empty() {
            queue.messages.iter().map(|m| Duration::from_millis(m.state.visible_at_ms.saturating_sub(now))).min()
        } else {
            None
        };
        if let Some(dlq) = dlq_name {
            let mut moved = Vec::with_capacity(dead.len());
            for index in dead.into_iter().rev() {
                if let Some(mut message) = queue.messages.remove(index) {
                    message.state.visible_at_ms = now;
                    moved.push(message);
                }
            }
            if let Some(dlq) = queues.get_mut(&dlq) {
                dlq.messages.extend(moved.into_iter().rev());
                dlq.arrivals.notify_waiters();
            }
        }
        Ok((answered, next_visible))
    }

    /// `ReceiveMessage`, long-polling up to `wait` for a message.
    async fn receive(&self, name: &str, max: usize, visibility: Option<u64>, wait: Duration) -> Result<Vec<Taken>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register for wake-ups before looking, so an arrival in between is not missed.
            let arrivals = self.lock().get(name).map(|q| q.arrivals.clone()).ok_or_else(no_queue)?;
            let notified = arrivals.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (messages, next_visible) = self.take(name, max, visibility)?;
            let now = tokio::time::Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            let until = match next_visible {
                Some(delay) => (now + delay).min(deadline),
                None => deadline,
            };
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }

    fn delete(&self, name: &str, handle: &str) -> Result<()> {
        self.with_queue(name, |queue| {
            let id = handle.split('#').next().unwrap_or_default();
            let found =
                queue.messages.iter().position(|m| m.id == id && m.state.receipt_handles.iter().any(|h| h == handle));
            match found {
                Some(index) => {
                    self.store.write(|w| w.delete_message(id))?;
                    queue.messages.remove(index);
                    Ok(())
                }
                // Deleting a message that is already gone succeeds, as on SQS.
                None if handle.contains('#') => Ok(()),
                None => Err(error(
                    "ReceiptHandleIsInvalid",
                    "ReceiptHandleIsInvalid",
                    format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
                )),
            }
        })
    }

    fn change_visibility(&self, name: &str, handle: &str, timeout: u64) -> Result<()> {
        if timeout > 43_200 {
            return Err(invalid("VisibilityTimeout must be between 0 and 43200 seconds"));
        }
        self.with_queue(name, |queue| {
            let id = handle.split('#').next().unwrap_or_default();
            let message = queue
                .messages
                .iter_mut()
                .find(|m| m.id == id && m.state.receipt_handles.iter().any(|h| h == handle))
                .ok_or_else(|| {
                    error("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "Message not in flight")
                })?;
            let state = MessageState { visible_at_ms: now_ms() + timeout * 1000, ..message.state.clone() };
            self.store.write(|w| w.update_message(id, name, &state))?;
            message.state = state;
            queue.arrivals.notify_waiters();
            Ok(())
        })
    }

    fn delete_queue(&self, name: &str) -> Result<()> {
        let mut queues = self.lock();
        if !queues.contains_key(name) {
            return Err(no_queue());
        }
        self.store.write(|w| {
            w.delete(QUEUE_RECORD, name)?;
            w.delete_queue_messages(name)
        })?;
        queues.remove(name);
        Ok(())
    }

    /// Handles one JSON-protocol call with its `body`; `base_url` is how the caller reached the
    /// sandbox. The answer is the JSON document.
    pub async fn handle(&self, operation: &str, body: &[u8], base_url: &str) -> Result<Vec<u8>> {
        let body = if body.is_empty() { b"{}" } else { body };
        match operation {
            "CreateQueue" => {
                let input: CreateQueueInput = decode(body)?;
                let url = self.create_queue(base_url, &input.queue_name, &input.attributes)?;
                encode(&serde_json::json!({ "QueueUrl": url }))
            }
            "GetQueueUrl" => {
                let input: QueueNameInput = decode(body)?;
                if !self.lock().contains_key(&input.queue_name) {
                    return Err(no_queue());
                }
                encode(&serde_json::json!({ "QueueUrl": queue_url(base_url, &input.queue_name) }))
            }
            "ListQueues" => {
                let input: ListQueuesInput = decode(body)?;
                let mut names: Vec<String> =
                    self.lock().keys().filter(|n| n.starts_with(&input.queue_name_prefix)).cloned().collect();
                names.sort();
                let urls: Vec<String> = names.iter().map(|n| queue_url(base_url, n)).collect();
                encode(&serde_json::json!({ "QueueUrls": urls }))
            }
            "DeleteQueue" => {
                let input: QueueUrlInput = decode(body)?;
                self.delete_queue(name_of(&input.queue_url)?)?;
                encode(&serde_json::json!({}))
            }
            "PurgeQueue" => {
                let input: QueueUrlInput = decode(body)?;
                let name = name_of(&input.queue_url)?;
                self.with_queue(name, |q| {
                    self.store.write(|w| w.delete_queue_messages(name))?;
                    q.messages.clear();
                    Ok(())
                })?;
                encode(&serde_json::json!({}))
            }
            "GetQueueAttributes" => {
                let input: GetQueueAttributesInput = decode(body)?;
                let attributes =
                    self.with_queue(name_of(&input.queue_url)?, |q| Ok(attributes_of(q, &input.attribute_names)))?;
                encode(&serde_json::json!({ "Attributes": attributes }))
            }
            "SetQueueAttributes" => {
                let input: SetQueueAttributesInput = decode(body)?;
                let name = name_of(&input.queue_url)?;
                self.with_queue(name, |q| {
                    let mut record = q.record.clone();
                    record.attributes.extend(input.attributes);
                    self.store.write(|w| w.put(QUEUE_RECORD, name, &record))?;
                    q.record = record;
                    q.arrivals.notify_waiters();
                    Ok(())
                })?;
                encode(&serde_json::json!({}))
            }
            "SendMessage" => {
                let input: SendMessageInput = decode(body)?;
                let name = name_of(&input.queue_url)?;
                encode(&self.send(name, input.message_body, input.message_attributes, input.delay_seconds)?)
            }
            "SendMessageBatch" => {
                let input: BatchInput<SendEntry> = decode(body)?;
                let name = name_of(&input.queue_url)?;
                check_batch(input.entries.len())?;
                let (mut successful, mut failed) = (Vec::new(), Vec::new());
                for entry in input.entries {
                    match self.send(name, entry.message_body, entry.message_attributes, entry.delay_seconds) {
                        Ok(result) => successful.push(SendResult { id: Some(entry.id), ..result }),
                        Err(err) if err.json_type == Some("QueueDoesNotExist") || err.is_server_fault() => {
                            return Err(err);
                        }
                        Err(err) => failed.push(BatchFailure::new(entry.id, err)),
                    }
                }
                encode(&BatchResult { successful, failed })
            }
            "ReceiveMessage" => {
                let input: ReceiveMessageInput = decode(body)?;
                let name = name_of(&input.queue_url)?;
                let max = input.max_number_of_messages.unwrap_or(1);
                if !(1..=10).contains(&max) {
                    return Err(invalid("MaxNumberOfMessages must be between 1 and 10"));
                }
                let default_wait =
                    self.with_queue(name, |q| Ok(q.attribute("ReceiveMessageWaitTimeSeconds").unwrap_or(0)))?;
                let wait = input.wait_time_seconds.unwrap_or(default_wait);
                if wait > MAX_WAIT_SECONDS {
                    return Err(invalid("WaitTimeSeconds must be between 0 and 20"));
                }
                let taken = self
                    .receive(
                        name,
                        usize::try_from(max).unwrap_or(1),
                        input.visibility_timeout,
                        Duration::from_secs(wait),
                    )
                    .await?;
                let messages = taken.into_iter().map(|t| received(t, &input)).collect();
                encode(&ReceiveResult { messages })
            }
            "DeleteMessage" => {
                let input: DeleteMessageInput = decode(body)?;
                self.delete(name_of(&input.queue_url)?, &input.receipt_handle)?;
                encode(&serde_json::json!({}))
            }
            "DeleteMessageBatch" => {
                let input: BatchInput<DeleteEntry> = decode(body)?;
                let name = name_of(&input.queue_url)?;
                check_batch(input.entries.len())?;
                let (mut successful, mut failed) = (Vec::new(), Vec::new());
                for entry in input.entries {
                    match self.delete(name, &entry.receipt_handle) {
                        Ok(()) => successful.push(DeleteSuccess { id: entry.id }),
                        Err(err) if err.is_server_fault() => return Err(err),
                        Err(err) => failed.push(BatchFailure::new(entry.id, err)),
                    }
                }
                encode(&BatchResult { successful, failed })
            }
            "ChangeMessageVisibility" => {
                let input: ChangeVisibilityInput = decode(body)?;
                self.change_visibility(name_of(&input.queue_url)?, &input.receipt_handle, input.visibility_timeout)?;
                encode(&serde_json::json!({}))
            }
            other => Err(error(
                "InvalidAction",
                "InvalidAction",
                format!("The action {other} is not valid for this endpoint."),
            )),
        }
    }
}

fn queues_has(queues: &HashMap<String, Queue>, name: &str) -> bool {
    let found = queues.contains_key(name);
    if !found {
        tracing::warn!("dead-letter queue {name} is missing; messages past maxReceiveCount stay where they are");
    }
    found
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|err| decode_error(&err))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|err| AwsError::internal(err.to_string()))
}

fn check_batch(len: usize) -> Result<()> {
    if len == 0 {
        return Err(error(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "There should be at least one entry in the request.",
        ));
    }
    if len > 10 {
        return Err(error(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            "Maximum number of entries per request are 10.",
        ));
    }
    Ok(())
}

/// A taken message as `ReceiveMessage` returns it: only the system and message attributes the
/// caller asked for, as SQS does.
fn received(taken: Taken, input: &ReceiveMessageInput) -> ReceivedMessage {
    let Taken { message, handle } = taken;
    let wanted_system: Vec<&String> =
        input.attribute_names.iter().chain(&input.message_system_attribute_names).collect();
    let all_system = wanted_system.iter().any(|n| *n == "All");
    let state = &message.state;
    let system = [
        ("ApproximateReceiveCount", state.receive_count.to_string()),
        ("SentTimestamp", message.sent_ms.to_string()),
        ("ApproximateFirstReceiveTimestamp", state.first_received_ms.unwrap_or(message.sent_ms).to_string()),
        ("SenderId", ACCOUNT_ID.to_owned()),
    ];
    let attributes = system.into_iter().filter(|(k, _)| all_system || wanted_system.iter().any(|n| n == k)).collect();
    let all_attributes = input.message_attribute_names.iter().any(|n| n == "All" || n == ".*");
    let message_attributes: Attributes = message
        .attributes
        .into_iter()
        .filter(|(k, _)| all_attributes || input.message_attribute_names.contains(k))
        .collect();
    ReceivedMessage {
        md5_of_body: md5_hex(message.body.as_bytes()),
        message_id: message.id,
        receipt_handle: handle,
        body: message.body,
        attributes,
        md5_of_message_attributes: (!message_attributes.is_empty()).then(|| md5_of_attributes(&message_attributes)),
        message_attributes,
    }
}

/// The attributes a queue has a value for even when nobody set one.
const DEFAULTED_ATTRIBUTES: [&str; 4] =
    ["MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"];

/// SQS's value of attribute `name` for a queue that was not given one.
fn default_attribute(name: &str) -> Option<&'static str> {
    match name {
        "MaximumMessageSize" => Some("262144"),
        "MessageRetentionPeriod" => Some("345600"),
        "DelaySeconds" | "ReceiveMessageWaitTimeSeconds" => Some("0"),
        "VisibilityTimeout" => Some("30"),
        _ => None,
    }
}

fn attributes_of(queue: &Queue, wanted: &[String]) -> BTreeMap<String, String> {
    let now = now_ms();
    let mut all = queue.record.attributes.clone();
    let visible = queue.messages.iter().filter(|m| m.state.visible_at_ms <= now).count();
    let invisible = |m: &&Message| m.state.visible_at_ms > now;
    let in_flight = queue.messages.iter().filter(invisible).filter(|m| m.state.receive_count > 0).count();
    let delayed = queue.messages.iter().filter(invisible).filter(|m| m.state.receive_count == 0).count();
    all.insert("ApproximateNumberOfMessages".into(), visible.to_string());
    all.insert("ApproximateNumberOfMessagesNotVisible".into(), in_flight.to_string());
    all.insert("ApproximateNumberOfMessagesDelayed".into(), delayed.to_string());
    all.insert("QueueArn".into(), queue_arn(&queue.name));
    all.insert("CreatedTimestamp".into(), queue.record.created_s.to_string());
    all.insert("LastModifiedTimestamp".into(), queue.record.created_s.to_string());
    for name in DEFAULTED_ATTRIBUTES {
        if let Some(value) = default_attribute(name) {
            all.entry(name.to_owned()).or_insert_with(|| value.to_owned());
        }
    }
    all.into_iter().filter(|(k, _)| wanted.iter().any(|w| w == "All" || w == k)).collect()
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
        let negative = decode::<SendMessageInput>(br#"{"QueueUrl":"u","MessageBody":"b","DelaySeconds":-1}"#)
            .expect_err("negative delay");
        assert_eq!(negative.code, "InvalidParameterValue");
        let garbage = decode::<SendMessageInput>(b"{not json").expect_err("not JSON");
        assert_eq!(garbage.code, "SerializationException");
    }
}
