//! The sandbox's SQS driven through the AWS SDK for Rust: long polling, visibility, receive
//! counts, dead-letter redrive and batches.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use testkit::{SandboxClients as _, TestSandbox};

async fn queue(sqs: &Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut create = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        create = create.attributes(k.clone(), *v);
    }
    create.send().await.expect("create queue").queue_url().expect("url").to_owned()
}

async fn receive(sqs: &Client, url: &str, wait: i32, visibility: i32) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait)
        .visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive")
        .messages()
        .to_vec()
}

fn receive_count(message: &aws_sdk_sqs::types::Message) -> Option<&str> {
    message.attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount)).map(String::as_str)
}

#[tokio::test]
async fn the_seeded_queue_exists_with_its_dead_letter_queue() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("seeded queue");
    let url = url.queue_url().expect("url");
    assert_eq!(url, format!("{}/000000000000/{}", sandbox.url(), sandbox::SEED_QUEUE));
    let attrs =
        sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await.expect("attrs");
    let policy = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::RedrivePolicy)).expect("redrive policy");
    assert!(policy.contains(sandbox::SEED_DLQ) && policy.contains('5'), "{policy}");
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "long-poll", &[]).await;

    let waiting = tokio::spawn({
        let (sqs, url) = (sqs.clone(), url.clone());
        async move { receive(&sqs, &url, 20, 30).await }
    });
    // Give the receiver time to reach the server and start waiting (nothing outside the server
    // can observe that); it must still be waiting, since the queue is empty. Then send: the poll
    // must end with the message, long before its 20 s.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "an empty queue keeps a 20 s receive waiting");
    sqs.send_message().queue_url(&url).message_body("wake up").send().await.expect("send");
    let got = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woke before 10 s").expect("task");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body(), Some("wake up"));
}

#[tokio::test]
async fn an_undeleted_message_comes_back_after_its_visibility_timeout_with_a_higher_count() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "visibility", &[]).await;
    sqs.send_message().queue_url(&url).message_body("again").send().await.expect("send");

    let first = receive(&sqs, &url, 0, 1).await;
    assert_eq!(receive_count(&first[0]), Some("1"));
    assert!(receive(&sqs, &url, 0, 1).await.is_empty(), "invisible while in flight");
    // Long poll: the wait ends when the message becomes visible again.
    let second = receive(&sqs, &url, 5, 30).await;
    assert_eq!(second.len(), 1, "redelivered");
    assert_eq!(second[0].message_id(), first[0].message_id());
    assert_eq!(receive_count(&second[0]), Some("2"));

    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(second[0].receipt_handle().expect("handle"))
        .send()
        .await
        .expect("delete");
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(second[0].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect_err("a deleted message is not in flight");
    assert!(receive(&sqs, &url, 0, 30).await.is_empty(), "deleted for good");
}

#[tokio::test]
async fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let dlq = queue(&sqs, "poison-dlq", &[]).await;
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:poison-dlq","maxReceiveCount":"2"}"#;
    let url = queue(&sqs, "poison", &[(QueueAttributeName::RedrivePolicy, policy)]).await;
    sqs.send_message().queue_url(&url).message_body("bad").send().await.expect("send");

    assert_eq!(receive(&sqs, &url, 0, 0).await.len(), 1);
    assert_eq!(receive(&sqs, &url, 0, 0).await.len(), 1);
    assert!(receive(&sqs, &url, 0, 0).await.is_empty(), "the third receive finds it gone");
    let dead = receive(&sqs, &dlq, 0, 30).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("bad"));
}

#[tokio::test]
async fn batches_send_receive_and_delete_ten_at_a_time() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "batch", &[]).await;
    let entries: Vec<_> = (0..10)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(format!("body {i}"))
                .build()
                .expect("entry")
        })
        .collect();
    let sent = sqs.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("batch");
    assert_eq!(sent.successful().len(), 10);
    assert!(sent.failed().is_empty());

    let got = receive(&sqs, &url, 0, 30).await;
    assert_eq!(got.len(), 10);
    let entries: Vec<_> = got
        .iter()
        .enumerate()
        .map(|(i, m)| {
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(m.receipt_handle().expect("handle"))
                .build()
                .expect("entry")
        })
        .collect();
    let deleted =
        sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("delete batch");
    assert_eq!(deleted.successful().len(), 10);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attrs");
    let count = |name: QueueAttributeName| attrs.attributes().and_then(|a| a.get(&name)).cloned();
    assert_eq!(count(QueueAttributeName::ApproximateNumberOfMessages).as_deref(), Some("0"));
    assert_eq!(count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible).as_deref(), Some("0"));
}

#[tokio::test]
async fn a_missing_queue_is_queue_does_not_exist() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let err = sqs.get_queue_url().queue_name("nope").send().await.expect_err("no queue");
    assert!(err.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()), "{err:?}");
    let url = format!("{}/000000000000/nope", sandbox.url());
    let err = sqs.receive_message().queue_url(url).send().await.expect_err("no queue");
    assert!(err.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()), "{err:?}");
}

#[tokio::test]
async fn creating_an_existing_queue_with_other_attributes_is_refused() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "settled", &[(QueueAttributeName::MessageRetentionPeriod, "1209600")]).await;
    // Same values (and a default given explicitly): the same queue.
    let again = sqs
        .create_queue()
        .queue_name("settled")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .attributes(QueueAttributeName::DelaySeconds, "0")
        .send()
        .await
        .expect("same attributes");
    assert_eq!(again.queue_url(), Some(url.as_str()));
    let other = sqs
        .create_queue()
        .queue_name("settled")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "60")
        .send()
        .await
        .expect_err("other attributes");
    assert!(other.as_service_error().is_some_and(|e| e.is_queue_name_exists()), "{other:?}");
}
