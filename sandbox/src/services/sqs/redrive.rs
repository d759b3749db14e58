//! Dead-letter queues and the way back from them: redrive policies (`RedrivePolicy`,
//! `RedriveAllowPolicy`) checked as SQS checks them, `ListDeadLetterSourceQueues`, and message
//! move tasks (`StartMessageMoveTask`, `ListMessageMoveTasks`, `CancelMessageMoveTask`).
//!
//! A move task runs in the background at its rate (or as fast as it can without one), moving
//! the messages that were in the dead-letter queue when it started to its destination — a
//! queue it names, or each message's original source queue. Every step commits the moved
//! messages together with the task's progress, so a task survives a restart where it left off.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::engine::{Queues, Result, Sqs, arn_queue};
use super::errors::{invalid, invalid_value, resource_not_found};
use crate::aws::{now_ms, queue_arn, uuid};
use crate::error::AwsError;
use crate::state::{Change, MessageMeta, MessageState, Store, StoreError};

const TASK_RECORD: &str = "sqs-move-task";
/// The most tags a queue may have.
const MAX_TAGS: usize = 50;
/// Most messages one step of a task without a rate moves before it lets others in.
const UNLIMITED_STEP: usize = 100;

/// A queue's `RedrivePolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RedrivePolicy {
    pub(super) dead_letter_queue: String,
    pub(super) dead_letter_arn: String,
    pub(super) max_receive_count: u32,
}

impl RedrivePolicy {
    /// The policy in `text`, or SQS's reason why it is not one.
    pub(super) fn parse(text: &str) -> std::result::Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| "Redrive policy is not a valid JSON map.".to_owned())?;
        let map = value.as_object().ok_or("Redrive policy is not a valid JSON map.")?;
        let arn = map
            .get("deadLetterTargetArn")
            .and_then(serde_json::Value::as_str)
            .ok_or("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")?;
        let count = match map.get("maxReceiveCount") {
            Some(serde_json::Value::String(s)) => s.parse::<i64>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(_) => None,
            None => return Err("Redrive policy does not contain mandatory attribute: maxReceiveCount.".into()),
        };
        let count = count
            .filter(|c| (1..=1000).contains(c))
            .ok_or("Invalid value for maxReceiveCount, valid values are from 1 to 1000 both inclusive.")?;
        let name = arn_queue(arn).ok_or("Dead-letter target owner should be same as the source.")?;
        Ok(Self {
            dead_letter_queue: name.to_owned(),
            dead_letter_arn: arn.to_owned(),
            max_receive_count: u32::try_from(count).unwrap_or(1),
        })
    }
}

/// A queue's `RedriveAllowPolicy`: which queues may use it as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowPolicy {
    All,
    None,
    Queues(Vec<String>),
}

impl AllowPolicy {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Raw {
            redrive_permission: String,
            source_queue_arns: Option<Vec<String>>,
        }
        let raw: Raw = serde_json::from_str(text).map_err(|err| format!("Invalid redrive allow policy: {err}"))?;
        match (raw.redrive_permission.as_str(), raw.source_queue_arns) {
            ("allowAll", None) => Ok(Self::All),
            ("denyAll", None) => Ok(Self::None),
            ("byQueue", Some(arns)) if (1..=10).contains(&arns.len()) => Ok(Self::Queues(arns)),
            ("byQueue", _) => {
                Err("Amazon SQS supports 1 to 10 sourceQueueArns when redrivePermission is byQueue.".into())
            }
            ("allowAll" | "denyAll", Some(_)) => {
                Err("Amazon SQS supports sourceQueueArns only when redrivePermission is byQueue.".into())
            }
            (other, _) => Err(format!("Invalid redrivePermission {other}; use allowAll, denyAll or byQueue.")),
        }
    }

    fn allows(&self, source_arn: &str) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Queues(arns) => arns.iter().any(|a| a == source_arn),
        }
    }
}

/// Checks the redrive policies among the attributes `attributes` that queue `name` (FIFO or
/// not) is about to have: its dead-letter queue exists, is of its type and lets it in; its own
/// allow policy is well formed.
pub(super) fn check_policies(
    state: &Queues,
    name: &str,
    fifo: bool,
    attributes: &BTreeMap<String, String>,
) -> Result<()> {
    if let Some(text) = attributes.get("RedriveAllowPolicy") {
        AllowPolicy::parse(text).map_err(|reason| invalid_value("RedriveAllowPolicy", text, &reason))?;
    }
    let Some(text) = attributes.get("RedrivePolicy") else { return Ok(()) };
    let bad = |reason: &str| invalid_value("RedrivePolicy", text, reason);
    let policy = RedrivePolicy::parse(text).map_err(|reason| bad(&reason))?;
    let dlq = state.queues.get(&policy.dead_letter_queue).ok_or_else(|| bad("Dead letter target does not exist."))?;
    if dlq.fifo != fifo {
        return Err(bad("Dead-letter queue must be same type of queue as the source."));
    }
    if let Some(allow) = dlq.record.attributes.get("RedriveAllowPolicy").and_then(|t| AllowPolicy::parse(t).ok())
        && !allow.allows(&queue_arn(name))
    {
        return Err(bad(&format!(
            "Queue {} does not allow {} to use it as a dead-letter queue (its RedriveAllowPolicy).",
            policy.dead_letter_arn,
            queue_arn(name)
        )));
    }
    Ok(())
}

/// Checks `tags` to add to a queue that keeps `kept` others: SQS's limits.
pub(super) fn check_tags(tags: &BTreeMap<String, String>, kept: usize) -> Result<()> {
    if kept + tags.len() > MAX_TAGS {
        return Err(invalid(format!("Too many tags added for queue. A queue can have at most {MAX_TAGS} tags.")));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid(format!("Tag key {key:?} must be 1 to 128 characters long.")));
        }
        if value.chars().count() > 256 {
            return Err(invalid(format!("Tag value of {key:?} must be at most 256 characters long.")));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!("Tag key {key:?} uses the reserved prefix aws:.")));
        }
    }
    Ok(())
}

/// Where a move task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Moving.
    Running,
    /// Done.
    Completed,
    /// Stopped by `CancelMessageMoveTask`.
    Cancelled,
    /// Stopped by an error (`failure` says which).
    Failed,
}

impl TaskStatus {
    /// SQS's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
        }
    }
}

/// A message move task, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveTask {
    /// Its id.
    pub id: String,
    /// The dead-letter queue it empties.
    pub source: String,
    /// Where messages go; `None`: each back to its original source queue.
    pub destination: Option<String>,
    /// Messages per second, when limited.
    pub rate: Option<u32>,
    /// Where it is.
    pub status: TaskStatus,
    /// Messages moved so far.
    pub moved: u64,
    /// Messages in the source when it started.
    pub to_move: u64,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// Why it failed.
    pub failure: Option<String>,
}

impl MoveTask {
    pub(super) fn is_running(&self) -> bool {
        self.status == TaskStatus::Running
    }

    /// The handle SQS gives for it: base64 of `{"taskId", "sourceArn"}`.
    pub fn handle(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::json!({ "taskId": self.id, "sourceArn": queue_arn(&self.source) });
        base64::engine::general_purpose::STANDARD.encode(json.to_string())
    }

    fn change(&self) -> Result<Change> {
        Change::put_record(TASK_RECORD, &self.id, self).map_err(AwsError::from)
    }
}

/// The task id and source ARN in a task handle, if it is one.
fn decode_handle(handle: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(handle).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some((value.get("taskId")?.as_str()?.to_owned(), value.get("sourceArn")?.as_str()?.to_owned()))
}

/// The move tasks the store holds.
pub(super) fn load_tasks(store: &Store) -> std::result::Result<BTreeMap<String, MoveTask>, StoreError> {
    Ok(store.records::<MoveTask>(TASK_RECORD)?.into_iter().collect())
}

/// What one step of a task did.
enum Step {
    /// Moved some; go on after this long.
    Continue(Duration),
    /// Nothing visible to move now; look again after this long.
    Wait(Duration),
    /// The task is over.
    Done,
}

impl Sqs {
    /// The queues whose dead-letter queue is `name`, sorted.
    pub fn dead_letter_sources(&self, name: &str) -> Result<Vec<String>> {
        let state = self.lock();
        state.queue(name)?;
        let mut sources: Vec<String> = state
            .queues
            .values()
            .filter(|q| q.redrive().is_some_and(|r| r.dead_letter_queue == name))
            .map(|q| q.name.clone())
            .collect();
        sources.sort();
        Ok(sources)
    }

    /// `StartMessageMoveTask`: returns the task handle.
    pub async fn start_move_task(
        &self,
        source_arn: &str,
        destination_arn: Option<&str>,
        rate: Option<i64>,
    ) -> Result<String> {
        if let Some(rate) = rate
            && !(1..=500).contains(&rate)
        {
            return Err(invalid_value("MaxNumberOfMessagesPerSecond", rate, "Must be between 1 and 500."));
        }
        let (handle, id, committed) = {
            let mut state = self.lock();
            let not_found = |parameter: &str| {
                resource_not_found(format!(
                    "The resource that you specified for the {parameter} parameter doesn't exist."
                ))
            };
            let source = arn_queue(source_arn)
                .filter(|n| state.queues.contains_key(*n))
                .ok_or_else(|| not_found("SourceArn"))?;
            let destination = match destination_arn {
                Some(arn) => Some(
                    arn_queue(arn)
                        .filter(|n| state.queues.contains_key(*n))
                        .ok_or_else(|| not_found("DestinationArn"))?,
                ),
                None => None,
            };
            let is_dead_letter_queue =
                state.queues.values().any(|q| q.redrive().is_some_and(|r| r.dead_letter_queue == source));
            if !is_dead_letter_queue {
                return Err(invalid("Source queue must be configured as a Dead Letter Queue."));
            }
            if state.tasks.values().any(|t| t.source == source && t.is_running()) {
                return Err(invalid(
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given \
                     time.",
                ));
            }
            let task = MoveTask {
                id: uuid(),
                source: source.to_owned(),
                destination: destination.map(str::to_owned),
                rate: rate.and_then(|r| u32::try_from(r).ok()),
                status: TaskStatus::Running,
                moved: 0,
                to_move: state.queue(source)?.messages.len() as u64,
                started_ms: now_ms(),
                failure: None,
            };
            let change = task.change()?;
            let (handle, id) = (task.handle(), task.id.clone());
            state.tasks.insert(task.id.clone(), task);
            (handle, id, self.shared.commit.submit(vec![change]))
        };
        committed.wait().await?;
        self.run_task(id);
        Ok(handle)
    }

    /// `ListMessageMoveTasks`: the tasks of source `source_arn`, newest first, at most `max`.
    pub fn move_tasks(&self, source_arn: &str, max: Option<i64>) -> Result<Vec<MoveTask>> {
        let max = max.unwrap_or(1);
        if !(1..=10).contains(&max) {
            return Err(invalid_value("MaxResults", max, "Must be between 1 and 10, if provided."));
        }
        let state = self.lock();
        let source = arn_queue(source_arn).filter(|n| state.queues.contains_key(*n)).ok_or_else(|| {
            resource_not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
        })?;
        let mut tasks: Vec<MoveTask> = state.tasks.values().filter(|t| t.source == source).cloned().collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.started_ms));
        tasks.truncate(usize::try_from(max).unwrap_or(1));
        Ok(tasks)
    }

    /// `CancelMessageMoveTask`: returns how many messages it had moved.
    pub async fn cancel_move_task(&self, handle: &str) -> Result<u64> {
        let (id, source_arn) =
            decode_handle(handle).ok_or_else(|| invalid("Value for parameter TaskHandle is invalid."))?;
        let (moved, committed) = {
            let mut state = self.lock();
            if arn_queue(&source_arn).is_none_or(|n| !state.queues.contains_key(n)) {
                return Err(resource_not_found(
                    "The resource that you specified for the SourceArn parameter doesn't exist.",
                ));
            }
            let task = state
                .tasks
                .get_mut(&id)
                .filter(|t| t.is_running())
                .ok_or_else(|| resource_not_found("Task does not exist."))?;
            task.status = TaskStatus::Cancelled;
            let (moved, change) = (task.moved, task.change()?);
            (moved, self.shared.commit.submit(vec![change]))
        };
        committed.wait().await?;
        Ok(moved)
    }

    /// Runs task `id` in the background until it is over (when there is a runtime to run it on),
    /// or until this SQS is dropped: the task holds it weakly, so a sandbox that stops stops its
    /// tasks, and the next one on the same data directory resumes them.
    pub(super) fn run_task(&self, id: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("message move task {id} cannot run outside a tokio runtime");
            return;
        };
        let shared = std::sync::Arc::downgrade(&self.shared);
        runtime.spawn(async move {
            loop {
                let Some(shared) = shared.upgrade() else { return };
                let (step, committed) = match (Sqs { shared }).step_task(&id) {
                    Ok(stepped) => stepped,
                    Err(err) => {
                        tracing::error!(%err, "message move task {id} stopped");
                        return;
                    }
                };
                if let Err(err) = committed.wait().await {
                    tracing::error!(%err, "message move task {id} could not record its progress");
                    return;
                }
                match step {
                    Step::Done => return,
                    Step::Continue(pause) | Step::Wait(pause) if pause.is_zero() => tokio::task::yield_now().await,
                    Step::Continue(pause) | Step::Wait(pause) => tokio::time::sleep(pause).await,
                }
            }
        });
    }

    /// One step of task `id`: moves up to a step's worth of visible messages, recording them
    /// and the task's progress in one commit.
    fn step_task(&self, id: &str) -> Result<(Step, crate::state::Committed)> {
        let mut state = self.lock();
        let now = now_ms();
        let Some(task) = state.tasks.get(id).filter(|t| t.is_running()).cloned() else {
            return Ok((Step::Done, crate::state::Committed::nothing()));
        };
        let mut task = task;
        let mut changes = Vec::new();
        let finish = |task: &mut MoveTask, status: TaskStatus, failure: Option<&str>| {
            task.status = status;
            task.failure = failure.map(str::to_owned);
        };
        // At a rate: a tenth of a second's worth per step (at least one message), then a pause
        // that keeps to the rate.
        let (per_step, pause) = match task.rate {
            Some(rate) => {
                let per_step = (rate / 10).max(1);
                (
                    usize::try_from(per_step).unwrap_or(1),
                    Duration::from_millis(u64::from(per_step) * 1000 / u64::from(rate.max(1))),
                )
            }
            None => (UNLIMITED_STEP, Duration::ZERO),
        };
        let remaining = usize::try_from(task.to_move.saturating_sub(task.moved)).unwrap_or(usize::MAX);
        let step = match state.queues.get(&task.source) {
            None => {
                finish(&mut task, TaskStatus::Failed, Some("AWS.SimpleQueueService.NonExistentQueue"));
                Step::Done
            }
            Some(_) if remaining == 0 => {
                finish(&mut task, TaskStatus::Completed, None);
                Step::Done
            }
            Some(source) if source.messages.is_empty() => {
                finish(&mut task, TaskStatus::Completed, None);
                Step::Done
            }
            Some(source) => {
                let picked: Vec<u64> = source
                    .messages
                    .iter()
                    .filter(|(_, m)| m.state.visible_at_ms <= now)
                    .map(|(p, _)| *p)
                    .take(per_step.min(remaining))
                    .collect();
                if picked.is_empty() {
                    Step::Wait(Duration::from_millis(100))
                } else {
                    match self.move_messages(&mut state, &task, &picked, now, &mut changes) {
                        Ok(moved) => {
                            task.moved += moved;
                            if task.moved >= task.to_move {
                                finish(&mut task, TaskStatus::Completed, None);
                                Step::Done
                            } else {
                                Step::Continue(pause)
                            }
                        }
                        Err(reason) => {
                            finish(&mut task, TaskStatus::Failed, Some(&reason));
                            Step::Done
                        }
                    }
                }
            }
        };
        changes.push(task.change()?);
        state.tasks.insert(task.id.clone(), task);
        Ok((step, self.shared.commit.submit(changes)))
    }

    /// Moves the messages at `positions` of the task's source to their destination; returns how
    /// many moved, or the failure reason SQS would give.
    fn move_messages(
        &self,
        state: &mut Queues,
        task: &MoveTask,
        positions: &[u64],
        now: u64,
        changes: &mut Vec<Change>,
    ) -> std::result::Result<u64, String> {
        let mut moved = 0;
        for position in positions {
            let Some(message) = state.queues.get(&task.source).and_then(|q| q.messages.get(position)) else { continue };
            let destination = task.destination.clone().or_else(|| message.meta.origin.clone());
            let Some(destination) = destination.filter(|d| state.queues.contains_key(d)) else {
                return Err("AWS.SimpleQueueService.NonExistentQueue".into());
            };
            let destination_fifo = state.queues.get(&destination).is_some_and(|q| q.fifo);
            if destination_fifo && message.meta.group.is_none() {
                return Err("InvalidParameterValue".into());
            }
            let sequence = destination_fifo.then(|| state.next_sequence(now));
            let Some(message) = state.queues.get_mut(&task.source).and_then(|q| q.remove(*position)) else { continue };
            let meta = MessageMeta {
                sequence: sequence.or(message.meta.sequence.clone()).filter(|_| destination_fifo),
                dead_letter_source: None,
                enqueued_ms: Some(now),
                ..message.meta.clone()
            };
            let fresh = MessageState { visible_at_ms: now, ..MessageState::default() };
            changes.push(state.move_into(&destination, message, meta, fresh).map_err(|e| e.message)?);
            moved += 1;
        }
        Ok(moved)
    }
}
