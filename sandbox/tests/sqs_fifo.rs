//! FIFO queues, as the SQS developer guide describes them: `.fifo` names, message groups kept in
//! order with none of a group handed out while one of its messages is in flight, 5-minute
//! deduplication (by id or by content, per queue or per group), sequence numbers, receive
//! attempt ids, FIFO dead-letter queues — driven through the AWS SDK for Rust.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use testkit::{SandboxClients as _, TestSandbox};

async fn fifo_queue(sqs: &Client, name: &str, extra: &[(QueueAttributeName, &str)]) -> String {
    let mut create = sqs.create_queue().queue_name(name).attributes(QueueAttributeName::FifoQueue, "true");
    for (k, v) in extra {
        create = create.attributes(k.clone(), *v);
    }
    create.send().await.expect("create FIFO queue").queue_url().expect("url").to_owned()
}

async fn send(
    sqs: &Client,
    url: &str,
    group: &str,
    body: &str,
) -> aws_sdk_sqs::operation::send_message::SendMessageOutput {
    sqs.send_message()
        .queue_url(url)
        .message_group_id(group)
        .message_deduplication_id(format!("{group}-{body}"))
        .message_body(body)
        .send()
        .await
        .expect("send")
}

async fn receive(sqs: &Client, url: &str, max: i32) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .visibility_timeout(300)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive")
        .messages()
        .to_vec()
}

fn bodies(messages: &[aws_sdk_sqs::types::Message]) -> Vec<&str> {
    messages.iter().filter_map(|m| m.body()).collect()
}

fn system(message: &aws_sdk_sqs::types::Message, name: MessageSystemAttributeName) -> Option<String> {
    message.attributes().and_then(|a| a.get(&name)).cloned()
}

async fn delete(sqs: &Client, url: &str, message: &aws_sdk_sqs::types::Message) {
    sqs.delete_message()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().expect("handle"))
        .send()
        .await
        .expect("delete");
}

#[tokio::test]
async fn fifo_queues_need_the_suffix_and_the_attribute_together() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "orders.fifo", &[]).await;
    assert!(url.ends_with("/000000000000/orders.fifo"));

    let no_attribute = sqs.create_queue().queue_name("plain.fifo").send().await.expect_err("a .fifo name alone");
    assert_eq!(no_attribute.code(), Some("InvalidParameterValue"), "{no_attribute:?}");
    let no_suffix = sqs
        .create_queue()
        .queue_name("plain")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect_err("FifoQueue without .fifo");
    assert_eq!(no_suffix.code(), Some("InvalidParameterValue"), "{no_suffix:?}");
    let fifo_only = sqs
        .create_queue()
        .queue_name("standard")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .expect_err("a FIFO attribute on a standard queue");
    assert!(fifo_only.as_service_error().is_some_and(|e| e.is_invalid_attribute_name()), "{fifo_only:?}");
    let change = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoQueue, "false")
        .send()
        .await
        .expect_err("the queue type is fixed");
    assert!(change.as_service_error().is_some_and(|e| e.is_invalid_attribute_value()), "{change:?}");

    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let get = |name: QueueAttributeName| attributes.attributes().and_then(|a| a.get(&name)).cloned();
    assert_eq!(get(QueueAttributeName::FifoQueue).as_deref(), Some("true"));
    assert_eq!(get(QueueAttributeName::DeduplicationScope).as_deref(), Some("queue"));
    assert_eq!(get(QueueAttributeName::FifoThroughputLimit).as_deref(), Some("perQueue"));
    // The high-throughput settings are accepted.
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .expect("high throughput");
}

#[tokio::test]
async fn a_fifo_send_needs_a_group_and_a_deduplication_id_and_takes_no_delay_of_its_own() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "rules.fifo", &[]).await;
    let no_group =
        sqs.send_message().queue_url(&url).message_body("b").message_deduplication_id("d").send().await.expect_err("");
    assert_eq!(no_group.code(), Some("MissingParameter"), "{no_group:?}");
    assert_eq!(no_group.message(), Some("The request must contain the parameter MessageGroupId."));
    let no_dedup =
        sqs.send_message().queue_url(&url).message_body("b").message_group_id("g").send().await.expect_err("");
    assert_eq!(no_dedup.code(), Some("InvalidParameterValue"), "{no_dedup:?}");
    let delayed = sqs
        .send_message()
        .queue_url(&url)
        .message_body("b")
        .message_group_id("g")
        .message_deduplication_id("d")
        .delay_seconds(2)
        .send()
        .await
        .expect_err("per-message delay");
    assert_eq!(delayed.code(), Some("InvalidParameterValue"), "{delayed:?}");
    sqs.send_message()
        .queue_url(&url)
        .message_body("b")
        .message_group_id("g")
        .message_deduplication_id("d")
        .delay_seconds(0)
        .send()
        .await
        .expect("a delay of 0 is accepted");
    // A deduplication id on a standard queue is refused.
    let standard = sqs.create_queue().queue_name("standard").send().await.expect("queue");
    let err = sqs
        .send_message()
        .queue_url(standard.queue_url().expect("url"))
        .message_body("b")
        .message_deduplication_id("d")
        .send()
        .await
        .expect_err("dedup id on a standard queue");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
}

#[tokio::test]
async fn a_group_waits_while_one_of_its_messages_is_in_flight_and_others_go_on() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "groups.fifo", &[]).await;
    for (group, body) in [("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3"), ("b", "b2")] {
        send(&sqs, &url, group, body).await;
    }
    let first = receive(&sqs, &url, 1).await;
    assert_eq!(bodies(&first), ["a1"]);
    // a1 in flight: nothing more of group a, but group b goes on.
    let second = receive(&sqs, &url, 10).await;
    assert_eq!(bodies(&second), ["b1", "b2"], "one receive may take several of a group, in order");
    assert!(receive(&sqs, &url, 10).await.is_empty(), "both groups have a message in flight");
    delete(&sqs, &url, &first[0]).await;
    assert_eq!(bodies(&receive(&sqs, &url, 10).await), ["a2", "a3"]);
}

#[tokio::test]
async fn a_message_made_visible_again_comes_back_before_the_rest_of_its_group() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "retry.fifo", &[]).await;
    for body in ["1", "2", "3"] {
        send(&sqs, &url, "g", body).await;
    }
    let first = receive(&sqs, &url, 1).await;
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(first[0].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("give it back");
    let again = receive(&sqs, &url, 10).await;
    assert_eq!(bodies(&again), ["1", "2", "3"], "the group starts over from its first message");
    assert_eq!(system(&again[0], MessageSystemAttributeName::ApproximateReceiveCount).as_deref(), Some("2"));

    // With "2" still in flight, "1" given back can be received again, but "3" after "2" waits.
    // (What SQS does; LocalStack's AWS-validated test_fifo_message_group_visibility_after_change_message_visibility
    // and test_fifo_group_visibility_extends_with_change_message_visibility record it.)
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(again[0].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("give back 1");
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(again[2].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("give back 3");
    assert_eq!(bodies(&receive(&sqs, &url, 10).await), ["1"], "3 waits behind 2, which is in flight");
}

#[tokio::test]
async fn deduplication_ids_and_contents_are_remembered_per_queue_or_per_group() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "dedup.fifo", &[]).await;
    let first = send(&sqs, &url, "g", "same").await;
    let again = send(&sqs, &url, "g", "same").await;
    assert_eq!(first.message_id(), again.message_id(), "a repeated deduplication id answers the first send");
    assert_eq!(first.sequence_number(), again.sequence_number());
    let got = receive(&sqs, &url, 10).await;
    assert_eq!(bodies(&got), ["same"], "delivered once");
    delete(&sqs, &url, &got[0]).await;
    send(&sqs, &url, "g", "same").await;
    assert!(receive(&sqs, &url, 10).await.is_empty(), "still within the 5-minute interval after a delete");

    let content = fifo_queue(&sqs, "content.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&content)
            .message_group_id("g")
            .message_body("by content")
            .send()
            .await
            .expect("send");
    }
    sqs.send_message().queue_url(&content).message_group_id("g").message_body("other").send().await.expect("send");
    assert_eq!(bodies(&receive(&sqs, &content, 10).await), ["by content", "other"]);

    let scoped = fifo_queue(&sqs, "scoped.fifo", &[(QueueAttributeName::DeduplicationScope, "messageGroup")]).await;
    for group in ["g1", "g2", "g1"] {
        sqs.send_message()
            .queue_url(&scoped)
            .message_group_id(group)
            .message_deduplication_id("one-id")
            .message_body(group)
            .send()
            .await
            .expect("send");
    }
    let mut got: Vec<String> =
        receive(&sqs, &scoped, 10).await.iter().filter_map(|m| m.body().map(str::to_owned)).collect();
    got.sort();
    assert_eq!(got, ["g1", "g2"], "per group, the same id in two groups is two messages");
}

#[tokio::test]
async fn sequence_numbers_grow_and_come_back_with_the_group_and_deduplication_ids() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "seq.fifo", &[]).await;
    let a = send(&sqs, &url, "g", "a").await.sequence_number().expect("a sequence number").to_owned();
    let entries = ["b", "c"].map(|body| {
        SendMessageBatchRequestEntry::builder()
            .id(body)
            .message_body(body)
            .message_group_id("g")
            .message_deduplication_id(body)
            .build()
            .expect("entry")
    });
    let batch =
        sqs.send_message_batch().queue_url(&url).set_entries(Some(entries.to_vec())).send().await.expect("batch");
    let numbers: Vec<u128> = std::iter::once(a.as_str())
        .chain(batch.successful().iter().filter_map(|s| s.sequence_number()))
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(numbers.len(), 3);
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    let got = receive(&sqs, &url, 10).await;
    assert_eq!(system(&got[0], MessageSystemAttributeName::SequenceNumber), Some(a));
    assert_eq!(system(&got[0], MessageSystemAttributeName::MessageGroupId).as_deref(), Some("g"));
    assert_eq!(system(&got[1], MessageSystemAttributeName::MessageDeduplicationId).as_deref(), Some("b"));
}

#[tokio::test]
async fn a_retried_receive_with_the_same_attempt_id_gets_the_same_messages() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "attempt.fifo", &[]).await;
    for body in ["1", "2"] {
        send(&sqs, &url, "g", body).await;
    }
    let attempt = |id: &str| {
        sqs.receive_message().queue_url(&url).max_number_of_messages(10).receive_request_attempt_id(id).send()
    };
    let first = attempt("try-1").await.expect("receive").messages().to_vec();
    let retried = attempt("try-1").await.expect("retry").messages().to_vec();
    assert_eq!(bodies(&first), ["1", "2"]);
    let handles = |m: &[aws_sdk_sqs::types::Message]| {
        m.iter().filter_map(|m| m.receipt_handle().map(str::to_owned)).collect::<Vec<_>>()
    };
    assert_eq!(handles(&retried), handles(&first), "same messages, same receipt handles");
    assert!(attempt("try-2").await.expect("a new attempt").messages().is_empty(), "the group is in flight");
    // Once one of them is deleted, the attempt id no longer returns them.
    delete(&sqs, &url, &first[0]).await;
    assert!(attempt("try-1").await.expect("after a change").messages().is_empty());
}

#[tokio::test]
async fn a_fifo_queue_takes_only_a_fifo_dead_letter_queue_and_keeps_the_group_there() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let standard_dlq = sqs.create_queue().queue_name("plain-dlq").send().await.expect("queue");
    let policy = |dlq: &str| {
        format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:{dlq}","maxReceiveCount":1}}"#)
    };
    let err = sqs
        .create_queue()
        .queue_name("work.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::RedrivePolicy, policy("plain-dlq"))
        .send()
        .await
        .expect_err("a standard dead-letter queue for a FIFO queue");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    assert!(standard_dlq.queue_url().is_some());
    let dlq = fifo_queue(&sqs, "work-dlq.fifo", &[]).await;
    let url = fifo_queue(&sqs, "work.fifo", &[(QueueAttributeName::RedrivePolicy, &policy("work-dlq.fifo"))]).await;
    send(&sqs, &url, "g", "poison").await;
    send(&sqs, &url, "g", "next").await;
    let first = receive(&sqs, &url, 1).await;
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(first[0].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("give it back");
    // The next receive moves "poison" (received once, maxReceiveCount 1) and hands out "next".
    assert_eq!(bodies(&receive(&sqs, &url, 1).await), ["next"]);
    let dead = receive(&sqs, &dlq, 10).await;
    assert_eq!(bodies(&dead), ["poison"]);
    assert_eq!(system(&dead[0], MessageSystemAttributeName::MessageGroupId).as_deref(), Some("g"));
    assert_eq!(
        system(&dead[0], MessageSystemAttributeName::DeadLetterQueueSourceArn).as_deref(),
        Some("arn:aws:sqs:us-east-1:000000000000:work.fifo")
    );
}

#[tokio::test]
async fn a_fifo_receipt_handle_expires_with_its_visibility_timeout() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "expire.fifo", &[]).await;
    send(&sqs, &url, "g", "m").await;
    let got = sqs.receive_message().queue_url(&url).visibility_timeout(0).send().await.expect("receive");
    let err = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle(got.messages()[0].receipt_handle().expect("handle"))
        .send()
        .await
        .expect_err("expired");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    assert!(err.message().is_some_and(|m| m.ends_with("Reason: The receipt handle has expired.")), "{err:?}");
}

/// Producers send numbered messages to their own groups in parallel, and consumers receive and
/// delete in parallel — first while the producers still send, then on the backlog they leave:
/// every group's messages arrive exactly once and in order, and no group ever has messages out
/// with two consumers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_stay_in_order_under_concurrent_producers_and_consumers() {
    const GROUPS: usize = 6;
    const PER_GROUP: usize = 25;
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = fifo_queue(&sqs, "busy.fifo", &[]).await;

    let producers: Vec<_> = (0..GROUPS)
        .map(|g| {
            let (sqs, url) = (sqs.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0..PER_GROUP {
                    send(&sqs, &url, &format!("g{g}"), &format!("g{g}:{i}")).await;
                }
            })
        })
        .collect();

    // Per group: the next number expected, and whether a message is out.
    let seen: Arc<Mutex<HashMap<String, (usize, bool)>>> = Arc::new(Mutex::new(HashMap::new()));
    let consume = |idle_rounds: usize| {
        (0..4)
            .map(|_| {
                let (sqs, url, seen) = (sqs.clone(), url.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut idle = 0;
                    while idle < idle_rounds {
                        let got = sqs
                            .receive_message()
                            .queue_url(&url)
                            .max_number_of_messages(3)
                            .wait_time_seconds(1)
                            .visibility_timeout(60)
                            .send()
                            .await
                            .expect("receive")
                            .messages()
                            .to_vec();
                        if got.is_empty() {
                            idle += 1;
                            continue;
                        }
                        idle = 0;
                        let mut by_group: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                        for message in &got {
                            let (group, n) = message.body().and_then(|b| b.split_once(':')).expect("group:n");
                            by_group.entry(group.to_owned()).or_default().push(n.parse().expect("n"));
                        }
                        {
                            let mut seen = seen.lock().expect("lock");
                            for (group, numbers) in &by_group {
                                let (next, out) = seen.entry(group.clone()).or_insert((0, false));
                                assert!(!*out, "{group}: handed out while another of its messages was in flight");
                                let expected: Vec<usize> = (*next..*next + numbers.len()).collect();
                                assert_eq!(numbers, &expected, "{group}: out of order");
                                *next += numbers.len();
                                *out = true;
                            }
                        }
                        tokio::task::yield_now().await;
                        {
                            // Mark the groups free before deleting: the delete is what frees them.
                            let mut seen = seen.lock().expect("lock");
                            for group in by_group.keys() {
                                if let Some(entry) = seen.get_mut(group) {
                                    entry.1 = false;
                                }
                            }
                        }
                        for message in &got {
                            delete(&sqs, &url, message).await;
                        }
                    }
                })
            })
            .collect::<Vec<_>>()
    };
    // Consumers beside the producers, until the queue is briefly empty; then on what is left.
    for consumer in consume(1) {
        consumer.await.expect("consumer");
    }
    for producer in producers {
        producer.await.expect("producer");
    }
    for consumer in consume(2) {
        consumer.await.expect("consumer");
    }
    let seen = seen.lock().expect("lock");
    for g in 0..GROUPS {
        assert_eq!(seen.get(&format!("g{g}")).map(|s| s.0), Some(PER_GROUP), "g{g} incomplete: {seen:?}");
    }
}
