//! The sandbox's SQS: standard and FIFO queues over the AWS JSON 1.0 protocol (`X-Amz-Target:
//! AmazonSQS.<Operation>`), which current SDKs and boto3 speak, and over the older query protocol
//! (`Action=…`, XML), which older SDKs speak.
//!
//! Semantics follow SQS's documentation: a received message stays in the queue, invisible for
//! the visibility timeout, and comes back if it is not deleted in time; every receive counts; a
//! queue with a redrive policy moves a message to its dead-letter queue once its receive count
//! would pass `maxReceiveCount`, and a message move task brings messages back. FIFO queues keep
//! each message group in order, hand out none of a group while one of its messages is in flight,
//! and drop a repeated deduplication id for 5 minutes. Long polling (`WaitTimeSeconds`) wakes the
//! moment a message arrives or becomes visible again — waiters sleep on a `Notify`, not in a
//! retry loop.
//!
//! Layers, as s3s splits protocol from backend: `wire` decodes each operation's JSON, calls the
//! engine and encodes its answer; `query` reads the query protocol's forms into the same inputs
//! and writes its XML; `engine` holds the queues and messages; `redrive` the
//! dead-letter policies and move tasks; `attributes` the rules for what callers send; `errors`
//! SQS's error codes; `developer` the look into a queue that tests use (`/_aws/sqs/messages`). Every change is written through the store's group commit (see
//! `state::messaging`) before the caller is answered, so whatever SQS acknowledged survives a
//! restart — a message in flight too, which comes back when its visibility timeout ends.

mod attributes;
mod developer;
mod engine;
mod errors;
mod query;
mod redrive;
mod wire;

pub use attributes::{Attributes, MessageAttribute, md5_of_attributes};
pub use developer::{MESSAGES_PATH, QUERY_NAMESPACE, ViewFormat, messages_view};
pub use engine::{NewMessage, Peeked, ReceiveOptions, Sent, Sqs, Taken, arn_queue, queue_name, queue_url};
pub use query::handle_query;
pub use redrive::{MoveTask, TaskStatus};
pub use wire::handle;
