//! The delivery of S3's events: a task that reads the outbox (events committed with the writes
//! that caused them), sends each to its destination — a queue, a topic, or the Lambda stand-in,
//! which runs `notifier`'s handler in-process with an SNS client pointed at the sandbox — and
//! deletes it once the destination took it.
//!
//! **The promise: every acknowledged write into a bucket with notifications is announced at
//! least once.** A failed delivery is tried again after a backoff (0.1 s, doubling, at most
//! [`MAX_BACKOFF`]), as S3 and Lambda's asynchronous invocation retry; the events wait on disk, so
//! a restart resumes them. An event still failing [`MAX_EVENT_AGE`] after its write (six hours:
//! Lambda's default maximum event age) is given up on with an `ERROR` log line that holds its
//! destination and body — never silently. A delivery whose answer was lost may be repeated:
//! at least once, not exactly once, as on AWS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::Notify;

use super::notify::NOTIFIER_ARN;
use crate::aws::{arn_name, now_ms};
use crate::services::sns::Sns;
use crate::services::sqs::Sqs;
use crate::state::objects::outbox::{Outbox, Outcome, Pending};

/// How long an event whose delivery keeps failing is retried.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(6 * 60 * 60);
/// The longest wait between two attempts of one event.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The first wait after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Deliveries in flight at a time.
const IN_FLIGHT: usize = 32;

/// Sends the outbox's events to their destinations.
#[derive(Debug)]
pub(crate) struct Delivery {
    outbox: Outbox,
    sqs: Arc<Sqs>,
    sns: Arc<Sns>,
    lambda: aws_sdk_sns::Client,
    lambda_topic: String,
    wake: Notify,
}

/// The wait before attempt `attempts + 1` of an event.
fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(attempts.min(16))).min(MAX_BACKOFF)
}

impl Delivery {
    /// Delivery to `sqs` and `sns`; the Lambda stand-in publishes to `lambda_topic` with the SNS
    /// client `lambda` (the sandbox gives it one that reaches its own SNS in-process, through the
    /// gate and the fault rules, signed with the MFA-exempt application key as a Lambda's role
    /// would be exempt).
    pub(crate) fn new(
        outbox: Outbox,
        sqs: Arc<Sqs>,
        sns: Arc<Sns>,
        lambda: aws_sdk_sns::Client,
        lambda_topic: String,
    ) -> Self {
        Self { outbox, sqs, sns, lambda, lambda_topic, wake: Notify::new() }
    }

    /// Tells the task that new events are in the outbox.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until the task is aborted: keeps up to [`IN_FLIGHT`] deliveries going, claiming
    /// events from the outbox as deliveries finish, and records each outcome as it comes.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut in_flight = FuturesUnordered::new();
        // The events being delivered: still due in the outbox until settled, so skipped when
        // more are read. (Kept in memory only: after a restart every unsettled event is due.)
        let mut delivering = HashSet::new();
        loop {
            let room = IN_FLIGHT - in_flight.len();
            match self.outbox.due(now_ms(), room + delivering.len()) {
                Ok(due) => {
                    let new: Vec<Pending> =
                        due.into_iter().filter(|p| !delivering.contains(&p.seq)).take(room).collect();
                    for pending in new {
                        delivering.insert(pending.seq);
                        in_flight.push(self.attempt(pending));
                    }
                }
                Err(err) => {
                    tracing::error!("the S3 event outbox could not be read: {err}; trying again in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if in_flight.is_empty() {
                self.idle().await;
                continue;
            }
            tokio::select! {
                Some(outcome) = in_flight.next() => {
                    let mut outcomes = vec![outcome];
                    while let Some(Some(outcome)) = in_flight.next().now_or_never() {
                        outcomes.push(outcome);
                    }
                    if let Err(err) = self.outbox.settle(&outcomes) {
                        // Still due: delivered again (at least once).
                        tracing::error!("the S3 event outbox could not be updated: {err}");
                    }
                    for outcome in &outcomes {
                        delivering.remove(&outcome.seq());
                    }
                }
                () = self.wake.notified(), if in_flight.len() < IN_FLIGHT => {}
            }
        }
    }

    /// Waits until an event is added or the next retry is due.
    async fn idle(&self) {
        let next = self.outbox.next_due_ms().unwrap_or(None);
        match next {
            Some(at) => {
                let wait = Duration::from_millis(at.saturating_sub(now_ms()));
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            None => self.wake.notified().await,
        }
    }

    /// One attempt at one event.
    async fn attempt(&self, pending: Pending) -> Outcome {
        let result = self.send(&pending.destination, &pending.event).await;
        let now = now_ms();
        match result {
            Ok(()) => Outcome::Delivered(pending.seq),
            Err(reason) => {
                let age = Duration::from_millis(now.saturating_sub(pending.created_ms));
                if age >= MAX_EVENT_AGE {
                    tracing::error!(
                        destination = pending.destination,
                        event = pending.event,
                        "an S3 event was given up on after {} attempts over {} minutes: {reason}",
                        pending.attempts + 1,
                        age.as_secs() / 60
                    );
                    return Outcome::Dropped(pending.seq);
                }
                let wait = backoff(pending.attempts);
                // Every failure of a new event, then fewer as they repeat (1st, 2nd, 4th, 8th…).
                if (pending.attempts + 1).is_power_of_two() {
                    tracing::warn!(
                        "delivering an S3 event to {} failed (attempt {}): {reason}; next attempt in {wait:?}",
                        pending.destination,
                        pending.attempts + 1
                    );
                }
                Outcome::Retry(pending.seq, now + u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
            }
        }
    }

    /// Sends `event` to `destination` (an SQS queue, SNS topic or Lambda function ARN).
    async fn send(&self, destination: &str, event: &str) -> Result<(), String> {
        match destination.split(':').nth(2) {
            Some("sqs") => self
                .sqs
                .send(arn_name(destination), event.to_owned(), Default::default(), 0)
                .map(drop)
                .map_err(|err| err.to_string()),
            Some("sns") => self
                .sns
                .publish(destination, event, Some("Amazon S3 Notification"), &[])
                .map(drop)
                .map_err(|err| err.to_string()),
            Some("lambda") if destination == NOTIFIER_ARN => {
                let event: aws_lambda_events::event::s3::S3Event =
                    serde_json::from_str(event).map_err(|err| format!("not an S3 event: {err}"))?;
                match notifier::handle(event, &self.lambda, &self.lambda_topic).await {
                    Ok(output) => {
                        tracing::info!("the notifier published {} announcement(s)", output.message_ids.len());
                        Ok(())
                    }
                    Err(err) => Err(format!("the notifier failed: {err}")),
                }
            }
            _ => Err(format!("the sandbox cannot deliver to {destination} (its only function is {NOTIFIER_ARN})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(1600));
        assert_eq!(backoff(9), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
