//! The sandbox's SNS: topics, SQS subscriptions (raw or enveloped delivery, filter policies),
//! `Publish` and `PublishBatch` over the query protocol.
//!
//! A message published to a topic reaches each subscribed queue whose filter policy it passes,
//! as SNS delivers it: in the standard JSON envelope (`Type`, `MessageId`, `TopicArn`, `Subject`,
//! `Message`, `Timestamp`, signature fields, `MessageAttributes`), or, with the subscription
//! attribute `RawMessageDelivery=true`, as the bare message with its attributes as SQS message
//! attributes. A publish is answered once every delivery is in its queue's durable store.
//! FIFO topics (`.fifo`, `FifoTopic=true`) take a message group and a deduplication id and pass
//! both on to FIFO queues. Topics, their attributes and subscriptions are kept in the durable
//! store.
//!
//! Layers, as in SQS: `wire` (the query protocol, one function per action), `engine` (topics,
//! subscriptions, delivery), `filter` (filter policies: checked on subscribe, matched on publish).

mod engine;
pub mod filter;
mod wire;

pub use engine::{Publication, PublishAttribute, Published, Sns};
pub use wire::{NAMESPACE, handle};
