//! The queue engine: queues and their messages in memory, every change written through the
//! store's group commit before the caller is answered. It knows nothing of wire formats; the
//! wire layers (`wire.rs` for JSON 1.0) decode requests into its calls and encode its results.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;

use super::attributes::{
    self, Attributes, DEDUP_WINDOW_MS, MAX_MESSAGE_BYTES, check_message_attributes, check_queue_attribute, check_text,
    default_value, md5_hex, md5_of_attributes, message_size, valid_fifo_id,
};
use super::errors::{
    deleted_recently, invalid, invalid_attribute_name, invalid_value, missing, no_queue, not_in_flight,
    purge_in_progress, queue_exists, receipt_handle_invalid,
};
use super::redrive::{self, MoveTask, RedrivePolicy};
use crate::aws::{now_ms, queue_arn, uuid};
use crate::error::AwsError;
use crate::state::{
    Change, Committed, DedupEntry, GroupCommit, MessageMeta, MessageState, Store, StoreError, StoredMessage,
};
use crate::{ACCOUNT_ID, REGION};

pub(super) type Result<T> = std::result::Result<T, AwsError>;

pub(super) const QUEUE_RECORD: &str = "sqs-queue";
/// How many of a message's latest receipt handles are remembered (only the newest deletes it).
const KEPT_HANDLES: usize = 4;
/// After a delete or a purge, how long SQS refuses the same again.
const SIXTY_SECONDS_MS: u64 = 60_000;
/// The longest `WaitTimeSeconds`.
pub(super) const MAX_WAIT_SECONDS: u64 = 20;

/// What the store keeps of a queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct QueueRecord {
    pub(super) attributes: BTreeMap<String, String>,
    pub(super) created_s: u64,
    #[serde(default)]
    pub(super) last_modified_s: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) tags: BTreeMap<String, String>,
}

/// A message as the engine holds it.
#[derive(Debug, Clone)]
pub(super) struct Message {
    pub(super) id: String,
    pub(super) body: Arc<str>,
    pub(super) attributes: Arc<Attributes>,
    pub(super) sent_ms: u64,
    pub(super) state: MessageState,
    pub(super) meta: MessageMeta,
}

impl Message {
    fn stored(&self, queue: &str) -> Result<StoredMessage> {
        Ok(StoredMessage {
            id: self.id.clone(),
            queue: queue.to_owned(),
            body: self.body.clone(),
            attributes: (!self.attributes.is_empty())
                .then(|| serde_json::to_string(&*self.attributes))
                .transpose()
                .map_err(|err| AwsError::internal(err.to_string()))?,
            sent_ms: self.sent_ms,
            state: self.state.clone(),
            meta: self.meta.clone(),
        })
    }

    /// Received and not yet visible again.
    pub(super) fn in_flight(&self, now: u64) -> bool {
        self.state.visible_at_ms > now && self.state.receive_count > 0
    }

    /// Not yet visible since it was sent (a delay).
    pub(super) fn delayed(&self, now: u64) -> bool {
        self.state.visible_at_ms > now && self.state.receive_count == 0
    }

    fn expired(&self, retention_ms: u64, now: u64) -> bool {
        self.meta.enqueued_ms.unwrap_or(self.sent_ms).saturating_add(retention_ms) <= now
    }

    fn latest_handle(&self) -> Option<&str> {
        self.state.receipt_handles.last().map(String::as_str)
    }
}

/// A FIFO deduplication entry in memory.
#[derive(Debug, Clone)]
struct Dedup {
    message_id: String,
    sequence: Option<String>,
    expires_ms: u64,
}

/// A FIFO receive, remembered by its `ReceiveRequestAttemptId`.
#[derive(Debug, Clone)]
struct Attempt {
    taken: Vec<(String, String)>,
    expires_ms: u64,
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) name: String,
    pub(super) record: QueueRecord,
    pub(super) fifo: bool,
    /// Messages in arrival order, by an ever-growing position.
    pub(super) messages: BTreeMap<u64, Message>,
    /// Message id → position.
    ids: HashMap<String, u64>,
    pub(super) arrivals: Arc<Notify>,
    dedup: HashMap<String, Dedup>,
    attempts: HashMap<String, Attempt>,
    purged_at_ms: Option<u64>,
    /// When the retention periods were last looked at (at most once a second).
    expiry_checked_ms: u64,
}

impl Queue {
    fn new(name: &str, record: QueueRecord) -> Self {
        Self {
            name: name.to_owned(),
            fifo: record.attributes.get("FifoQueue").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            record,
            messages: BTreeMap::new(),
            ids: HashMap::new(),
            arrivals: Arc::new(Notify::new()),
            dedup: HashMap::new(),
            attempts: HashMap::new(),
            purged_at_ms: None,
            expiry_checked_ms: 0,
        }
    }

    pub(super) fn attribute<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.record
            .attributes
            .get(name)
            .map(String::as_str)
            .or_else(|| default_value(name, self.fifo))
            .and_then(|v| v.parse().ok())
    }

    fn flag(&self, name: &str) -> bool {
        self.record.attributes.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn visibility_s(&self) -> u64 {
        self.attribute("VisibilityTimeout").unwrap_or(30)
    }

    fn retention_ms(&self) -> u64 {
        self.attribute::<u64>("MessageRetentionPeriod").unwrap_or(345_600) * 1000
    }

    pub(super) fn redrive(&self) -> Option<RedrivePolicy> {
        RedrivePolicy::parse(self.record.attributes.get("RedrivePolicy")?).ok()
    }

    pub(super) fn arn(&self) -> String {
        queue_arn(&self.name)
    }

    fn push(&mut self, position: u64, message: Message) {
        self.ids.insert(message.id.clone(), position);
        self.messages.insert(position, message);
    }

    pub(super) fn remove(&mut self, position: u64) -> Option<Message> {
        let message = self.messages.remove(&position)?;
        self.ids.remove(&message.id);
        Some(message)
    }

    fn find(&self, id: &str) -> Option<(u64, &Message)> {
        let position = *self.ids.get(id)?;
        self.messages.get(&position).map(|m| (position, m))
    }

    /// For each message, whether a receive now could return it: it is visible and, on a FIFO
    /// queue, no earlier message of its group is invisible (in flight or delayed). As on SQS, a
    /// group's visible messages before its first invisible one can be received, those after it
    /// wait.
    pub(super) fn receivable(&self, now: u64) -> Vec<bool> {
        let mut stalled: HashSet<&str> = HashSet::new();
        self.messages
            .values()
            .map(|m| {
                let visible = m.state.visible_at_ms <= now;
                match &m.meta.group {
                    Some(group) if self.fifo => {
                        let free = !stalled.contains(group.as_str());
                        if !visible {
                            stalled.insert(group);
                        }
                        visible && free
                    }
                    _ => visible,
                }
            })
            .collect()
    }

    /// Messages whose retention period is over, removed; their deletes appended to `changes`.
    /// Looks at most once a second: retention periods are whole seconds, and a receive must not
    /// cost a pass over a deep queue.
    fn drop_expired(&mut self, now: u64, changes: &mut Vec<Change>) {
        if now.saturating_sub(self.expiry_checked_ms) < 1000 {
            return;
        }
        self.expiry_checked_ms = now;
        let retention = self.retention_ms();
        let expired: Vec<u64> =
            self.messages.iter().filter(|(_, m)| m.expired(retention, now)).map(|(position, _)| *position).collect();
        for position in expired {
            if let Some(message) = self.remove(position) {
                changes.push(Change::DeleteMessage(message.id));
            }
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// The body.
    pub body: String,
    /// Message attributes.
    pub attributes: Attributes,
    /// Per-message delay; `None` takes the queue's.
    pub delay_seconds: Option<i64>,
    /// FIFO (or fair standard queues): the message group.
    pub group_id: Option<String>,
    /// FIFO: the deduplication id.
    pub dedup_id: Option<String>,
    /// The `AWSTraceHeader` system attribute.
    pub trace_header: Option<String>,
}

impl NewMessage {
    /// A body with attributes and an optional delay (the shape SNS and S3 deliver).
    pub fn new(body: String, attributes: Attributes) -> Self {
        Self { body, attributes, ..Self::default() }
    }
}

/// What a send answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message id (the first send's, for a deduplicated FIFO send).
    pub message_id: String,
    /// MD5 of the body.
    pub md5_of_body: String,
    /// MD5 of the message attributes, when there are any.
    pub md5_of_attributes: Option<String>,
    /// MD5 of the system attributes, when there are any.
    pub md5_of_system_attributes: Option<String>,
    /// FIFO: the sequence number.
    pub sequence_number: Option<String>,
}

/// One received message, with its new receipt handle.
#[derive(Debug, Clone)]
pub struct Taken {
    pub(super) message: Message,
    pub(super) handle: String,
}

/// How to receive.
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    /// At most this many (1 to 10).
    pub max: usize,
    /// The visibility timeout for these messages, else the queue's.
    pub visibility: Option<u64>,
    /// How long to wait for a message.
    pub wait: Duration,
    /// FIFO: the attempt id, for a retried receive to get the same messages.
    pub attempt_id: Option<String>,
}

/// Queues, deleted names, move tasks: everything under the engine's one lock.
#[derive(Debug, Default)]
pub(super) struct Queues {
    pub(super) queues: HashMap<String, Queue>,
    /// Queue name → when it was deleted.
    deleted: HashMap<String, u64>,
    pub(super) tasks: BTreeMap<String, MoveTask>,
    next_position: u64,
    last_sequence: u128,
}

impl Queues {
    pub(super) fn queue(&self, name: &str) -> Result<&Queue> {
        self.queues.get(name).ok_or_else(no_queue)
    }

    pub(super) fn queue_mut(&mut self, name: &str) -> Result<&mut Queue> {
        self.queues.get_mut(name).ok_or_else(no_queue)
    }

    pub(super) fn next_position(&mut self) -> u64 {
        self.next_position += 1;
        self.next_position
    }

    /// A FIFO sequence number: 20 digits, growing, unique across restarts (it starts from the clock).
    pub(super) fn next_sequence(&mut self, now: u64) -> String {
        let from_clock = u128::from(now) * 10_000_000;
        self.last_sequence = (self.last_sequence + 1).max(from_clock);
        format!("{:020}", self.last_sequence)
    }

    /// `message` moved from its queue to `to` (a dead-letter queue or a redrive), made visible
    /// now; returns the store change.
    pub(super) fn move_into(
        &mut self,
        to: &str,
        mut message: Message,
        meta: MessageMeta,
        state: MessageState,
    ) -> Result<Change> {
        let position = self.next_position();
        let destination = self.queue_mut(to)?;
        message.meta = meta;
        message.state = state;
        let change = Change::MoveMessage {
            id: message.id.clone(),
            queue: to.to_owned(),
            state: message.state.clone(),
            meta: message.meta.clone(),
        };
        destination.push(position, message);
        destination.arrivals.notify_waiters();
        Ok(change)
    }
}

/// The engine's shared half: what the background move tasks hold too.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<Queues>,
    pub(super) commit: GroupCommit,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Queues> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// All queues of the sandbox.
#[derive(Debug, Clone)]
pub struct Sqs {
    pub(super) shared: Arc<Shared>,
}

/// The queue name a queue URL names, after SQS's checks: `scheme://host/<account>/<name>` in this
/// account (and, for an AWS-style host, this region), or a bare queue name, which SQS takes too.
pub fn queue_name(url: &str) -> Result<String> {
    if !url.contains('/') {
        return if url.is_empty() { Err(missing("QueueUrl")) } else { Ok(url.to_owned()) };
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let [account, name] = segments[..] else { return Err(no_queue()) };
    let host = host.split(':').next().unwrap_or_default();
    let host_region = host
        .strip_prefix("sqs.")
        .and_then(|h| h.split('.').next())
        .or_else(|| host.strip_suffix(".queue.amazonaws.com"))
        .filter(|r| r.contains('-'));
    if account != ACCOUNT_ID || host_region.is_some_and(|r| r != REGION) || name.is_empty() {
        return Err(no_queue());
    }
    Ok(name.to_owned())
}

/// The queue name a queue ARN names, when it is a queue of this account and region.
pub fn arn_queue(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", _, "sqs", region, account, name] if region == REGION && account == ACCOUNT_ID && !name.is_empty() => {
            Some(name)
        }
        _ => None,
    }
}

/// The URL of queue `name` under `base_url`.
pub fn queue_url(base_url: &str, name: &str) -> String {
    conventions::sandbox_queue_url(base_url, name)
}

fn valid_queue_name(name: &str, fifo: bool) -> bool {
    let stem = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
    stem.is_some_and(|stem| {
        (1..=80).contains(&name.len())
            && !stem.is_empty()
            && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn store_error(err: StoreError) -> AwsError {
    AwsError::from(err)
}

impl Sqs {
    /// SQS over `store`, with the queues, messages and move tasks it holds; running move tasks
    /// resume (when called inside a tokio runtime).
    pub fn open(store: Arc<Store>) -> std::result::Result<Self, StoreError> {
        let mut state = Queues::default();
        for (name, record) in store.records::<QueueRecord>(QUEUE_RECORD)? {
            state.queues.insert(name.clone(), Queue::new(&name, record));
        }
        for stored in store.messages()? {
            let position = state.next_position();
            let Some(queue) = state.queues.get_mut(&stored.queue) else { continue };
            let attributes =
                stored.attributes.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default();
            if let Some(sequence) = stored.meta.sequence.as_deref().and_then(|s| s.parse::<u128>().ok()) {
                state.last_sequence = state.last_sequence.max(sequence);
            }
            queue.push(
                position,
                Message {
                    id: stored.id,
                    body: stored.body,
                    attributes: Arc::new(attributes),
                    sent_ms: stored.sent_ms,
                    state: stored.state,
                    meta: stored.meta,
                },
            );
        }
        for entry in store.dedup_entries(now_ms())? {
            if let Some(sequence) = entry.sequence.as_deref().and_then(|s| s.parse::<u128>().ok()) {
                state.last_sequence = state.last_sequence.max(sequence);
            }
            if let Some(queue) = state.queues.get_mut(&entry.queue) {
                queue.dedup.insert(
                    entry.key,
                    Dedup { message_id: entry.message_id, sequence: entry.sequence, expires_ms: entry.expires_ms },
                );
            }
        }
        state.tasks = redrive::load_tasks(&store)?;
        let running: Vec<String> = state.tasks.values().filter(|t| t.is_running()).map(|t| t.id.clone()).collect();
        let commit = store.group_commit().clone();
        let sqs = Self { shared: Arc::new(Shared { state: Mutex::new(state), commit }) };
        for id in running {
            sqs.run_task(id);
        }
        Ok(sqs)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Queues> {
        self.shared.lock()
    }

    fn submit(&self, changes: Vec<Change>) -> Committed {
        self.shared.commit.submit(changes)
    }

    /// Creates `name` with `attributes` and `tags`, or finds it when it exists with the same
    /// attribute values; returns its URL under `base_url`.
    pub async fn create(
        &self,
        base_url: &str,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let (url, committed) = self.create_locked(base_url, name, attributes, tags)?;
        committed.wait().await?;
        Ok(url)
    }

    /// [`Sqs::create`] without tags, blocking this thread until it is on disk (the seed's way).
    pub fn create_queue(&self, base_url: &str, name: &str, attributes: &BTreeMap<String, String>) -> Result<String> {
        let (url, committed) = self.create_locked(base_url, name, attributes, &BTreeMap::new())?;
        committed.wait_blocking()?;
        Ok(url)
    }

    fn create_locked(
        &self,
        base_url: &str,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<(String, Committed)> {
        let fifo_asked = attributes.get("FifoQueue");
        let fifo = match fifo_asked.map(String::as_str) {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(super::errors::invalid_attribute_value("FifoQueue", None)),
            None => false,
        };
        if !valid_queue_name(name, fifo) {
            return Err(invalid(if fifo {
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must \
                 end with .fifo suffix and be 1 to 80 in length."
            } else {
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            }));
        }
        for (k, v) in attributes {
            check_queue_attribute(k, v, fifo, true)?;
        }
        redrive::check_tags(tags, 0)?;
        let committed = {
            let mut state = self.lock();
            let now = now_ms();
            if let Some(queue) = state.queues.get(name) {
                // As SQS: creating an existing queue is fine with the same attributes, an error with others.
                let differs = attributes.iter().find(|(k, v)| {
                    let current =
                        queue.record.attributes.get(*k).map(String::as_str).or_else(|| default_value(k, queue.fifo));
                    current != Some(v.as_str())
                });
                if let Some((attribute, _)) = differs {
                    return Err(queue_exists(attribute));
                }
                return Ok((queue_url(base_url, name), Committed::nothing()));
            }
            if state.deleted.get(name).is_some_and(|at| now.saturating_sub(*at) < SIXTY_SECONDS_MS) {
                return Err(deleted_recently());
            }
            let mut all = BTreeMap::from([("VisibilityTimeout".to_owned(), "30".to_owned())]);
            all.extend(attributes.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())));
            if fifo {
                all.insert("FifoQueue".into(), "true".into());
            } else {
                all.remove("FifoQueue");
            }
            redrive::check_policies(&state, name, fifo, &all)?;
            let record =
                QueueRecord { attributes: all, created_s: now / 1000, last_modified_s: now / 1000, tags: tags.clone() };
            let change = Change::put_record(QUEUE_RECORD, name, &record).map_err(store_error)?;
            state.queues.insert(name.to_owned(), Queue::new(name, record));
            state.deleted.remove(name);
            self.submit(vec![change])
        };
        Ok((queue_url(base_url, name), committed))
    }

    /// The URL of queue `name`, when it exists (in `owner`'s account, when given).
    pub fn queue_url_of(&self, base_url: &str, name: &str, owner: Option<&str>) -> Result<String> {
        if owner.is_some_and(|o| o != ACCOUNT_ID) || !self.lock().queues.contains_key(name) {
            return Err(no_queue());
        }
        Ok(queue_url(base_url, name))
    }

    /// Whether the queue with ARN `arn` exists.
    pub fn has_queue_arn(&self, arn: &str) -> bool {
        arn_queue(arn).is_some_and(|name| self.lock().queues.contains_key(name))
    }

    /// The names of the queues whose name starts with `prefix`, sorted.
    pub fn queue_names(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self.lock().queues.keys().filter(|n| n.starts_with(prefix)).cloned().collect();
        names.sort();
        names
    }

    /// Deletes queue `name` and its messages.
    pub async fn delete_queue(&self, name: &str) -> Result<()> {
        let committed = {
            let mut state = self.lock();
            let queue = state.queues.remove(name).ok_or_else(no_queue)?;
            queue.arrivals.notify_waiters();
            state.deleted.insert(name.to_owned(), now_ms());
            self.submit(vec![
                Change::DeleteRecord { kind: QUEUE_RECORD, key: name.to_owned() },
                Change::DeleteQueueMessages(name.to_owned()),
                Change::DeleteDedup { queue: Some(name.to_owned()), now_ms: 0 },
            ])
        };
        Ok(committed.wait().await?)
    }

    /// Deletes every message of `name` (once a minute at most, as SQS) and forgets its
    /// deduplication ids.
    pub async fn purge(&self, name: &str) -> Result<()> {
        let committed = {
            let mut state = self.lock();
            let queue = state.queue_mut(name)?;
            let now = now_ms();
            if queue.purged_at_ms.is_some_and(|at| now.saturating_sub(at) < SIXTY_SECONDS_MS) {
                return Err(purge_in_progress(name));
            }
            queue.purged_at_ms = Some(now);
            queue.messages.clear();
            queue.ids.clear();
            queue.dedup.clear();
            queue.attempts.clear();
            self.submit(vec![
                Change::DeleteQueueMessages(name.to_owned()),
                Change::DeleteDedup { queue: Some(name.to_owned()), now_ms: 0 },
            ])
        };
        Ok(committed.wait().await?)
    }

    /// The attributes of `name` that `wanted` names (`All` for all of them).
    pub fn attributes(&self, name: &str, wanted: &[String]) -> Result<BTreeMap<String, String>> {
        if let Some(unknown) = wanted.iter().find(|w| !attributes::known_attribute(w)) {
            return Err(invalid_attribute_name(format!("Unknown Attribute {unknown}.")));
        }
        let state = self.lock();
        let queue = state.queue(name)?;
        let now = now_ms();
        let mut all = queue.record.attributes.clone();
        let retention = queue.retention_ms();
        let live = || queue.messages.values().filter(|m| !m.expired(retention, now));
        let visible = live().filter(|m| m.state.visible_at_ms <= now).count();
        all.insert("ApproximateNumberOfMessages".into(), visible.to_string());
        all.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            live().filter(|m| m.in_flight(now)).count().to_string(),
        );
        all.insert("ApproximateNumberOfMessagesDelayed".into(), live().filter(|m| m.delayed(now)).count().to_string());
        all.insert("QueueArn".into(), queue.arn());
        all.insert("CreatedTimestamp".into(), queue.record.created_s.to_string());
        all.insert(
            "LastModifiedTimestamp".into(),
            queue.record.last_modified_s.max(queue.record.created_s).to_string(),
        );
        let defaults = attributes::DEFAULTS.iter().chain(if queue.fifo { &attributes::FIFO_DEFAULTS[..] } else { &[] });
        for (name, value) in defaults {
            all.entry((*name).to_owned()).or_insert_with(|| (*value).to_owned());
        }
        if !all.contains_key("KmsMasterKeyId") {
            all.entry("SqsManagedSseEnabled".into()).or_insert_with(|| "true".into());
        }
        Ok(all.into_iter().filter(|(k, _)| wanted.iter().any(|w| w == "All" || w == k)).collect())
    }

    /// Sets attributes of `name` (an empty value removes an optional one, as SQS does).
    pub async fn set_attributes(&self, name: &str, changes: &BTreeMap<String, String>) -> Result<()> {
        let committed = {
            let mut state = self.lock();
            let queue = state.queue(name)?;
            let fifo = queue.fifo;
            for (k, v) in changes {
                check_queue_attribute(k, v, fifo, false)?;
            }
            let mut record = queue.record.clone();
            for (k, v) in changes {
                if v.is_empty()
                    && matches!(k.as_str(), "RedrivePolicy" | "RedriveAllowPolicy" | "Policy" | "KmsMasterKeyId")
                {
                    record.attributes.remove(k);
                } else {
                    record.attributes.insert(k.clone(), v.clone());
                }
            }
            redrive::check_policies(&state, name, fifo, &record.attributes)?;
            record.last_modified_s = now_ms() / 1000;
            let change = Change::put_record(QUEUE_RECORD, name, &record).map_err(store_error)?;
            let queue = state.queue_mut(name)?;
            queue.record = record;
            queue.arrivals.notify_waiters();
            self.submit(vec![change])
        };
        Ok(committed.wait().await?)
    }

    /// Sends `body` to queue `name`, blocking this thread until it is on disk (S3's event
    /// notifications use this; async callers use [`Sqs::send_message`]).
    pub fn send(&self, name: &str, body: String, attributes: Attributes, delay: u64) -> Result<Sent> {
        let message = NewMessage {
            delay_seconds: (delay > 0).then(|| i64::try_from(delay).unwrap_or(i64::MAX)),
            ..NewMessage::new(body, attributes)
        };
        let (sent, committed) = self.deliver(name, message)?;
        committed.wait_blocking()?;
        Ok(sent)
    }

    /// `SendMessage`.
    pub async fn send_message(&self, name: &str, message: NewMessage) -> Result<Sent> {
        let (sent, committed) = self.deliver(name, message)?;
        committed.wait().await?;
        Ok(sent)
    }

    /// Sends `message` to queue `name` in memory and queues the store write; the caller awaits
    /// the returned [`Committed`] before acknowledging (SNS awaits all of a publish's deliveries
    /// together).
    pub fn deliver(&self, name: &str, message: NewMessage) -> Result<(Sent, Committed)> {
        let mut changes = Vec::with_capacity(2);
        let mut state = self.lock();
        let sent = send_locked(&mut state, name, message, &mut changes)?;
        Ok((sent, self.submit(changes)))
    }

    /// `SendMessageBatch` after the batch-wide checks: each entry's own result, in order; the
    /// batch fails as a whole only for a missing queue or a FIFO entry without its group or
    /// deduplication id (as SQS).
    pub async fn send_batch(&self, name: &str, entries: Vec<NewMessage>) -> Result<Vec<Result<Sent>>> {
        let (results, committed) = {
            let mut state = self.lock();
            let queue = state.queue(name)?;
            if queue.fifo {
                let content_based = queue.flag("ContentBasedDeduplication");
                for entry in &entries {
                    if entry.group_id.is_none() {
                        return Err(invalid("The request must contain the parameter MessageGroupId."));
                    }
                    if entry.dedup_id.is_none() && !content_based {
                        return Err(invalid(
                            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId \
                             provided explicitly",
                        ));
                    }
                }
            }
            let mut changes = Vec::with_capacity(entries.len() * 2);
            let results: Vec<Result<Sent>> =
                entries.into_iter().map(|entry| send_locked(&mut state, name, entry, &mut changes)).collect();
            (results, self.submit(changes))
        };
        committed.wait().await?;
        Ok(results)
    }

    /// Takes up to `options.max` messages of `name` (see [`take_locked`]); the changes are
    /// committed before this returns. Also returns how long until a message may become visible
    /// when none was.
    fn take(&self, name: &str, options: &ReceiveOptions) -> Result<(Vec<Taken>, Option<Duration>, Committed)> {
        let mut state = self.lock();
        let mut changes = Vec::new();
        let (taken, next) = take_locked(&mut state, name, options, now_ms(), &mut changes)?;
        Ok((taken, next, self.submit(changes)))
    }

    /// The queue's `ReceiveMessageWaitTimeSeconds`: how long a receive that names no wait waits.
    pub fn default_wait(&self, name: &str) -> Result<u64> {
        Ok(self.lock().queue(name)?.attribute("ReceiveMessageWaitTimeSeconds").unwrap_or(0))
    }

    /// `ReceiveMessage`, long-polling up to `options.wait` for a message.
    pub async fn receive(&self, name: &str, options: &ReceiveOptions) -> Result<Vec<Taken>> {
        let deadline = tokio::time::Instant::now() + options.wait;
        loop {
            // Register for wake-ups before looking, so an arrival in between is not missed.
            let arrivals = self.lock().queue(name)?.arrivals.clone();
            let notified = arrivals.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (messages, next_visible, committed) = self.take(name, options)?;
            committed.wait().await?;
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

    /// `DeleteMessage` by receipt handle.
    pub async fn delete(&self, name: &str, handle: &str) -> Result<()> {
        let committed = {
            let mut state = self.lock();
            let mut changes = Vec::new();
            delete_locked(state.queue_mut(name)?, handle, now_ms(), &mut changes)?;
            self.submit(changes)
        };
        Ok(committed.wait().await?)
    }

    /// `DeleteMessageBatch`: each handle's result, in order.
    pub async fn delete_batch(&self, name: &str, handles: &[String]) -> Result<Vec<Result<()>>> {
        let (results, committed) = {
            let mut state = self.lock();
            let queue = state.queue_mut(name)?;
            let now = now_ms();
            let mut changes = Vec::new();
            let results = handles.iter().map(|h| delete_locked(queue, h, now, &mut changes)).collect();
            (results, self.submit(changes))
        };
        committed.wait().await?;
        Ok(results)
    }

    /// `ChangeMessageVisibility`.
    pub async fn change_visibility(&self, name: &str, handle: &str, timeout: i64) -> Result<()> {
        let results = self.change_visibility_batch(name, &[(handle.to_owned(), timeout)]).await?;
        results.into_iter().next().unwrap_or(Ok(()))
    }

    /// `ChangeMessageVisibilityBatch`: each entry's result, in order.
    pub async fn change_visibility_batch(&self, name: &str, entries: &[(String, i64)]) -> Result<Vec<Result<()>>> {
        let (results, committed) = {
            let mut state = self.lock();
            let queue = state.queue_mut(name)?;
            let now = now_ms();
            let mut changes = Vec::new();
            let results =
                entries.iter().map(|(h, t)| change_visibility_locked(queue, h, *t, now, &mut changes)).collect();
            queue.arrivals.notify_waiters();
            (results, self.submit(changes))
        };
        committed.wait().await?;
        Ok(results)
    }

    /// The tags of `name`.
    pub fn tags(&self, name: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.lock().queue(name)?.record.tags.clone())
    }

    /// Adds (or replaces) tags of `name`, or, with `remove`, removes the keys named.
    pub async fn change_tags(&self, name: &str, add: &BTreeMap<String, String>, remove: &[String]) -> Result<()> {
        let committed = {
            let mut state = self.lock();
            let queue = state.queue_mut(name)?;
            let mut record = queue.record.clone();
            redrive::check_tags(add, record.tags.keys().filter(|k| !add.contains_key(*k)).count())?;
            record.tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
            for key in remove {
                record.tags.remove(key);
            }
            let change = Change::put_record(QUEUE_RECORD, name, &record).map_err(store_error)?;
            queue.record = record;
            self.submit(vec![change])
        };
        Ok(committed.wait().await?)
    }

    /// The messages of `name` as they are, changing nothing: those a receive could take now,
    /// plus those in flight (`show_invisible`) and those delayed (`show_delayed`). Each with
    /// whether it is visible and whether it is delayed.
    pub fn peek(&self, name: &str, show_invisible: bool, show_delayed: bool) -> Result<Vec<Peeked>> {
        let state = self.lock();
        let queue = state.queue(name)?;
        let now = now_ms();
        let retention = queue.retention_ms();
        let receivable = queue.receivable(now);
        Ok(queue
            .messages
            .values()
            .zip(receivable)
            .filter(|(m, _)| !m.expired(retention, now))
            .filter(|(m, visible)| *visible || (show_delayed && m.delayed(now)) || (show_invisible && !m.delayed(now)))
            .map(|(m, visible)| Peeked { message: m.clone(), visible, delayed: m.delayed(now) })
            .collect())
    }
}

/// A message as [`Sqs::peek`] shows it.
#[derive(Debug, Clone)]
pub struct Peeked {
    pub(super) message: Message,
    /// A receive could take it now.
    pub visible: bool,
    /// It was sent with a delay that is not over.
    pub delayed: bool,
}

/// Checks `message` for queue `queue` as SQS does before it accepts it.
fn check_message(queue: &Queue, message: &NewMessage) -> Result<()> {
    if message.body.is_empty() {
        return Err(missing("MessageBody"));
    }
    check_text(&message.body)?;
    check_message_attributes(&message.attributes)?;
    let max = queue.attribute::<usize>("MaximumMessageSize").unwrap_or(MAX_MESSAGE_BYTES);
    if message_size(&message.body, &message.attributes) > max {
        return Err(invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
        )));
    }
    if let Some(delay) = message.delay_seconds {
        if !(0..=900).contains(&delay) {
            return Err(invalid_value("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900."));
        }
        if queue.fifo && delay > 0 {
            return Err(invalid_value(
                "DelaySeconds",
                delay,
                "The request include parameter that is not valid for this queue type.",
            ));
        }
    }
    if let Some(group) = &message.group_id
        && !valid_fifo_id(group)
    {
        return Err(invalid_value(
            "MessageGroupId",
            group,
            "MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
        ));
    }
    if let Some(dedup) = &message.dedup_id {
        if !queue.fifo {
            return Err(invalid_value(
                "MessageDeduplicationId",
                dedup,
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        if !valid_fifo_id(dedup) {
            return Err(invalid_value(
                "MessageDeduplicationId",
                dedup,
                "MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
            ));
        }
    }
    if queue.fifo {
        if message.group_id.is_none() {
            return Err(missing("MessageGroupId"));
        }
        if message.dedup_id.is_none() && !queue.flag("ContentBasedDeduplication") {
            return Err(invalid(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided \
                 explicitly",
            ));
        }
    }
    Ok(())
}

/// The MD5 of the system attributes SQS returns for `AWSTraceHeader`.
fn md5_of_trace_header(trace: &str) -> String {
    let attributes =
        Attributes::from([("AWSTraceHeader".to_owned(), attributes::MessageAttribute::string("String", trace))]);
    md5_of_attributes(&attributes)
}

/// `SendMessage` under the lock: checks, FIFO deduplication, the message in memory, its
/// store changes appended to `changes`.
fn send_locked(state: &mut Queues, name: &str, message: NewMessage, changes: &mut Vec<Change>) -> Result<Sent> {
    let now = now_ms();
    let queue = state.queue(name)?;
    check_message(queue, &message)?;
    let md5_of_body = md5_hex(message.body.as_bytes());
    let md5_of_attributes = (!message.attributes.is_empty()).then(|| md5_of_attributes(&message.attributes));
    let md5_of_system_attributes = message.trace_header.as_deref().map(md5_of_trace_header);
    let fifo = queue.fifo;
    let dedup_key = fifo.then(|| {
        let id = message.dedup_id.clone().unwrap_or_else(|| hex::encode(Sha256::digest(message.body.as_bytes())));
        let scoped = queue.record.attributes.get("DeduplicationScope").is_some_and(|s| s == "messageGroup");
        let key =
            if scoped { format!("{}\u{0}{id}", message.group_id.as_deref().unwrap_or_default()) } else { id.clone() };
        (key, id)
    });
    if let Some((key, _)) = &dedup_key
        && let Some(seen) = queue.dedup.get(key).filter(|d| d.expires_ms > now)
    {
        // Within the deduplication interval: accepted, not delivered again.
        return Ok(Sent {
            message_id: seen.message_id.clone(),
            md5_of_body,
            md5_of_attributes,
            md5_of_system_attributes,
            sequence_number: seen.sequence.clone(),
        });
    }
    let delay = match message.delay_seconds {
        Some(delay) => u64::try_from(delay).unwrap_or(0),
        None => queue.attribute("DelaySeconds").unwrap_or(0),
    };
    let sequence = fifo.then(|| state.next_sequence(now));
    let position = state.next_position();
    let queue = state.queue_mut(name)?;
    let stored = Message {
        id: uuid(),
        body: message.body.into(),
        attributes: Arc::new(message.attributes),
        sent_ms: now,
        state: MessageState { visible_at_ms: now + delay * 1000, ..MessageState::default() },
        meta: MessageMeta {
            group: message.group_id,
            dedup: dedup_key.as_ref().map(|(_, id)| id.clone()),
            sequence: sequence.clone(),
            trace_header: message.trace_header,
            ..MessageMeta::default()
        },
    };
    changes.push(Change::InsertMessage(stored.stored(name)?));
    if let Some((key, _)) = dedup_key {
        let entry =
            Dedup { message_id: stored.id.clone(), sequence: sequence.clone(), expires_ms: now + DEDUP_WINDOW_MS };
        changes.push(Change::PutDedup(DedupEntry {
            queue: name.to_owned(),
            key: key.clone(),
            message_id: entry.message_id.clone(),
            sequence: entry.sequence.clone(),
            expires_ms: entry.expires_ms,
        }));
        if queue.dedup.len() >= 10_000 {
            queue.dedup.retain(|_, d| d.expires_ms > now);
            changes.push(Change::DeleteDedup { queue: None, now_ms: now });
        }
        queue.dedup.insert(key, entry);
    }
    let sent = Sent {
        message_id: stored.id.clone(),
        md5_of_body,
        md5_of_attributes,
        md5_of_system_attributes,
        sequence_number: sequence,
    };
    queue.push(position, stored);
    queue.arrivals.notify_waiters();
    Ok(sent)
}

/// A message past its queue's `maxReceiveCount` moved to the dead-letter queue: the store change.
fn dead_letter(state: &mut Queues, from: &str, message: Message, dlq: &str, now: u64) -> Result<Change> {
    let source = state.queue(from)?;
    let source_arn = source.arn();
    let fifo = source.fifo;
    let mut meta = message.meta.clone();
    meta.origin.get_or_insert_with(|| from.to_owned());
    meta.dead_letter_source = Some(source_arn);
    if fifo {
        // A FIFO message's retention starts again in its dead-letter queue; a standard one's does not.
        meta.enqueued_ms = Some(now);
    }
    let state_now = MessageState { visible_at_ms: now, ..message.state.clone() };
    state.move_into(dlq, message, meta, state_now)
}

/// `ReceiveMessage` under the lock: expired messages dropped, messages past the redrive limit
/// moved to the dead-letter queue, up to `options.max` messages taken — on a FIFO queue, in
/// order within each group, never from a group with a message in flight.
fn take_locked(
    state: &mut Queues,
    name: &str,
    options: &ReceiveOptions,
    now: u64,
    changes: &mut Vec<Change>,
) -> Result<(Vec<Taken>, Option<Duration>)> {
    let queue = state.queue_mut(name)?;
    queue.drop_expired(now, changes);
    let visibility_ms = options.visibility.unwrap_or_else(|| queue.visibility_s()) * 1000;
    if queue.fifo
        && let Some(attempt_id) = &options.attempt_id
    {
        queue.attempts.retain(|_, a| a.expires_ms > now);
        if let Some(again) = retried_attempt(queue, attempt_id, now, visibility_ms, changes) {
            return Ok((again, None));
        }
    }
    let redrive = queue.redrive().filter(|r| r.dead_letter_queue != name);
    let dlq = redrive.as_ref().map(|r| r.dead_letter_queue.clone()).filter(|d| {
        let exists = state.queues.contains_key(d);
        if !exists {
            tracing::warn!("dead-letter queue {d} is missing; messages past maxReceiveCount stay where they are");
        }
        exists
    });
    let max_receives = redrive.map(|r| r.max_receive_count).filter(|_| dlq.is_some());
    let queue = state.queue_mut(name)?;
    let mut taken = Vec::new();
    let mut dead = Vec::new();
    let past_limit = |message: &Message| max_receives.is_some_and(|max| message.state.receive_count >= max);
    if queue.fifo {
        // A FIFO queue's messages group by group (the group of the oldest message first), each
        // group in order and stopping at its first message that is not visible (in flight or
        // delayed): a group's next message is not handed out while an earlier one is in flight.
        let mut groups: Vec<(&str, Vec<u64>)> = Vec::new();
        let mut stalled: HashSet<&str> = HashSet::new();
        for (position, message) in &queue.messages {
            let group = message.meta.group.as_deref().unwrap_or_default();
            if stalled.contains(group) {
                continue;
            }
            if message.state.visible_at_ms > now {
                stalled.insert(group);
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, positions)) => positions.push(*position),
                None => groups.push((group, vec![*position])),
            }
        }
        let order: Vec<u64> = groups.into_iter().flat_map(|(_, positions)| positions).collect();
        for position in order {
            if taken.len() >= options.max {
                break;
            }
            let Some(message) = queue.messages.get_mut(&position) else { continue };
            if past_limit(message) {
                dead.push(position);
            } else {
                taken.push(receive_one(message, name, now, visibility_ms, changes));
            }
        }
    } else {
        // A standard queue's in arrival order, the visible ones.
        for (position, message) in queue.messages.iter_mut() {
            if taken.len() >= options.max {
                break;
            }
            if message.state.visible_at_ms > now {
                continue;
            }
            if past_limit(message) {
                dead.push(*position);
            } else {
                taken.push(receive_one(message, name, now, visibility_ms, changes));
            }
        }
    }
    if queue.fifo
        && let Some(attempt_id) = &options.attempt_id
        && !taken.is_empty()
    {
        let remembered = taken.iter().map(|t| (t.message.id.clone(), t.handle.clone())).collect();
        queue.attempts.insert(attempt_id.clone(), Attempt { taken: remembered, expires_ms: now + DEDUP_WINDOW_MS });
    }
    let next_visible = if taken.is_empty() {
        queue
            .messages
            .values()
            .filter(|m| m.state.visible_at_ms > now)
            .map(|m| Duration::from_millis(m.state.visible_at_ms - now))
            .min()
    } else {
        None
    };
    if let Some(dlq) = dlq {
        let moved: Vec<Message> = dead.into_iter().filter_map(|p| state.queue_mut(name).ok()?.remove(p)).collect();
        for message in moved {
            changes.push(dead_letter(state, name, message, &dlq, now)?);
        }
    }
    Ok((taken, next_visible))
}

/// `message` received now: its receive count, first receive, visibility and a new receipt
/// handle; the store change appended to `changes`.
fn receive_one(message: &mut Message, queue: &str, now: u64, visibility_ms: u64, changes: &mut Vec<Change>) -> Taken {
    let handle = format!("{}#{}", message.id, uuid());
    let state = &mut message.state;
    state.receive_count += 1;
    state.first_received_ms.get_or_insert(now);
    state.visible_at_ms = now + visibility_ms;
    state.receipt_handles.push(handle.clone());
    let excess = state.receipt_handles.len().saturating_sub(KEPT_HANDLES);
    state.receipt_handles.drain(..excess);
    changes.push(Change::UpdateMessage { id: message.id.clone(), queue: queue.to_owned(), state: state.clone() });
    Taken { message: message.clone(), handle }
}

/// A FIFO receive retried with the same attempt id: the same messages with the same receipt
/// handles, their visibility timeout started again — if none of them was deleted or changed.
fn retried_attempt(
    queue: &mut Queue,
    attempt_id: &str,
    now: u64,
    visibility_ms: u64,
    changes: &mut Vec<Change>,
) -> Option<Vec<Taken>> {
    let attempt = queue.attempts.get(attempt_id)?.clone();
    let unchanged = attempt.taken.iter().all(|(id, handle)| {
        queue.find(id).is_some_and(|(_, m)| m.latest_handle() == Some(handle.as_str()) && m.in_flight(now))
    });
    if !unchanged {
        queue.attempts.remove(attempt_id);
        return None;
    }
    let mut again = Vec::new();
    for (id, handle) in attempt.taken {
        let position = *queue.ids.get(&id)?;
        let message = queue.messages.get_mut(&position)?;
        message.state.visible_at_ms = now + visibility_ms;
        changes.push(Change::UpdateMessage { id: id.clone(), queue: queue.name.clone(), state: message.state.clone() });
        again.push(Taken { message: message.clone(), handle });
    }
    Some(again)
}

/// The message id in a receipt handle (`<id>#<random>`), if it has that shape.
fn handle_id(handle: &str) -> Option<&str> {
    handle.split_once('#').map(|(id, _)| id).filter(|id| !id.is_empty())
}

/// `DeleteMessage` under the lock. As SQS: a message already gone is deleted; an older receipt
/// handle of a message received again succeeds without deleting it; on a FIFO queue, a handle
/// whose visibility timeout is over has expired.
fn delete_locked(queue: &mut Queue, handle: &str, now: u64, changes: &mut Vec<Change>) -> Result<()> {
    let id = handle_id(handle).ok_or_else(|| receipt_handle_invalid(handle))?;
    let Some((position, message)) = queue.find(id) else { return Ok(()) };
    if message.latest_handle() != Some(handle) {
        if message.state.receipt_handles.iter().any(|h| h == handle) {
            return Ok(());
        }
        return Err(receipt_handle_invalid(handle));
    }
    if queue.fifo && !message.in_flight(now) {
        return Err(invalid_value("ReceiptHandle", handle, "The receipt handle has expired."));
    }
    queue.remove(position);
    queue.attempts.retain(|_, a| a.taken.iter().all(|(taken, _)| taken != id));
    changes.push(Change::DeleteMessage(id.to_owned()));
    queue.arrivals.notify_waiters();
    Ok(())
}

/// `ChangeMessageVisibility` under the lock: only the newest receipt handle of a message in
/// flight.
fn change_visibility_locked(
    queue: &mut Queue,
    handle: &str,
    timeout: i64,
    now: u64,
    changes: &mut Vec<Change>,
) -> Result<()> {
    if !(0..=43_200).contains(&timeout) {
        return Err(invalid_value("VisibilityTimeout", timeout, "Must be between 0 and 43200, if provided."));
    }
    let id = handle_id(handle).ok_or_else(|| receipt_handle_invalid(handle))?;
    let position = *queue.ids.get(id).ok_or_else(not_in_flight)?;
    let message = queue.messages.get_mut(&position).ok_or_else(not_in_flight)?;
    if message.latest_handle() != Some(handle) || !message.in_flight(now) {
        return Err(not_in_flight());
    }
    message.state.visible_at_ms = now + u64::try_from(timeout).unwrap_or(0) * 1000;
    changes.push(Change::UpdateMessage { id: id.to_owned(), queue: queue.name.clone(), state: message.state.clone() });
    queue.attempts.retain(|_, a| a.taken.iter().all(|(taken, _)| taken != id));
    Ok(())
}

impl Taken {
    /// The message id.
    pub fn id(&self) -> &str {
        &self.message.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_must_name_this_account_and_region() {
        assert_eq!(queue_name("http://127.0.0.1:4566/000000000000/q").expect("ours"), "q");
        assert_eq!(queue_name("https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo").expect("AWS style"), "q.fifo");
        assert_eq!(queue_name("q").expect("a bare name"), "q");
        for other in [
            "http://127.0.0.1:4566/123456789012/q",
            "https://sqs.eu-west-1.amazonaws.com/000000000000/q",
            "https://eu-west-1.queue.amazonaws.com/000000000000/q",
            "http://127.0.0.1:4566/q",
            "http://127.0.0.1:4566/000000000000/",
            "http://127.0.0.1:4566/000000000000/a/b",
        ] {
            assert_eq!(queue_name(other).expect_err(other).code, "AWS.SimpleQueueService.NonExistentQueue", "{other}");
        }
        assert_eq!(arn_queue("arn:aws:sqs:us-east-1:000000000000:q"), Some("q"));
        assert_eq!(arn_queue("arn:aws:sqs:us-east-1:123456789012:q"), None);
        assert_eq!(arn_queue("arn:aws:sqs:eu-west-1:000000000000:q"), None);
        assert_eq!(arn_queue("arn:aws:sns:us-east-1:000000000000:q"), None);
    }

    #[test]
    fn queue_names_follow_sqs_rules_for_each_type() {
        assert!(valid_queue_name("a-b_c", false) && valid_queue_name("a.fifo", true));
        assert!(!valid_queue_name("a.fifo", false), "a standard queue's name has no period");
        assert!(!valid_queue_name("a", true), "a FIFO queue's name ends with .fifo");
        assert!(!valid_queue_name(".fifo", true) && !valid_queue_name(&"a".repeat(81), false));
    }

    fn message(id: &str, sent_ms: u64, enqueued_ms: Option<u64>) -> Message {
        Message {
            id: id.into(),
            body: "b".into(),
            attributes: Arc::default(),
            sent_ms,
            state: MessageState::default(),
            meta: MessageMeta { enqueued_ms, ..MessageMeta::default() },
        }
    }

    #[test]
    fn messages_past_the_retention_period_are_dropped_and_their_rows_deleted() {
        let record = QueueRecord {
            attributes: BTreeMap::from([("MessageRetentionPeriod".to_owned(), "60".to_owned())]),
            created_s: 0,
            last_modified_s: 0,
            tags: BTreeMap::new(),
        };
        let mut queue = Queue::new("q", record);
        queue.push(1, message("old", 1_000, None));
        queue.push(2, message("new", 30_000, None));
        // A FIFO message moved to its dead-letter queue counts from the move.
        queue.push(3, message("moved", 1_000, Some(40_000)));
        let mut changes = Vec::new();
        queue.drop_expired(60_999, &mut changes);
        assert!(changes.is_empty(), "nothing is 60 s old yet");
        queue.expiry_checked_ms = 0;
        queue.drop_expired(61_000, &mut changes);
        assert_eq!(queue.messages.values().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["new", "moved"]);
        assert!(matches!(changes.as_slice(), [Change::DeleteMessage(id)] if id == "old"));
        queue.drop_expired(90_000, &mut changes);
        assert_eq!(queue.messages.values().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["moved"]);
        queue.drop_expired(90_500, &mut changes);
        queue.drop_expired(100_000, &mut changes);
        assert!(queue.messages.is_empty());
        // Expired at 100.1 s, but the last look was at 100 s: the next is at 101 s.
        queue.push(4, message("soon", 40_100, None));
        queue.drop_expired(100_500, &mut changes);
        assert_eq!(queue.messages.len(), 1, "looked at once a second at most");
        queue.drop_expired(101_000, &mut changes);
        assert!(queue.messages.is_empty());
    }

    #[test]
    fn sequence_numbers_grow_and_have_twenty_digits() {
        let mut state = Queues::default();
        let a = state.next_sequence(1_700_000_000_000);
        let b = state.next_sequence(1_700_000_000_000);
        let c = state.next_sequence(1_000);
        assert_eq!(a.len(), 20);
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
