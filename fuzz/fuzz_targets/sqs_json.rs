//! SQS's JSON protocol inputs: `Sqs::handle` with arbitrary bytes for each operation, on a store
//! in a temp dir. Long polls run on a paused clock, so a 20 s wait ends at once.
//!
//! Input: one byte choosing the operation, then the body.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sandbox::services::sqs::Sqs;
use sandbox::state::{Durability, Store};

const OPERATIONS: &[&str] = &[
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "DeleteQueue",
    "PurgeQueue",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "ListMessageMoveTasks",
    "CancelMessageMoveTask",
];
const BASE_URL: &str = "http://127.0.0.1:4566";

struct World {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    sqs: Sqs,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path(), Durability::Process).expect("store"));
        let sqs = Sqs::open(store).expect("sqs");
        // Queues for the seed inputs to name: `q`, and `dlq` as its dead-letter queue; `f.fifo`.
        sqs.create_queue(BASE_URL, "dlq", &BTreeMap::new()).expect("dlq");
        sqs.create_queue(BASE_URL, "f.fifo", &BTreeMap::from([("FifoQueue".to_owned(), "true".to_owned())]))
            .expect("f.fifo");
        let redrive = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"2"}"#;
        sqs.create_queue(BASE_URL, "q", &BTreeMap::from([("RedrivePolicy".to_owned(), redrive.to_owned())]))
            .expect("q");
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("runtime");
        World { _dir: dir, runtime, sqs }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else { return };
    let operation = OPERATIONS[usize::from(choice) % OPERATIONS.len()];
    let world = world();
    let _ = world.runtime.block_on(world.sqs.handle(operation, body, BASE_URL));
});
