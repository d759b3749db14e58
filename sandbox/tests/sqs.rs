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

/// The query protocol's code of an SQS error, which the SDK reads from `x-amzn-query-error`
/// (the JSON `__type` gives the typed variant).
fn query_code<E: aws_sdk_sqs::error::ProvideErrorMetadata>(err: &aws_sdk_sqs::error::SdkError<E>) -> String {
    err.as_service_error().and_then(|e| e.code()).unwrap_or_default().to_owned()
}

fn debug_text<E, R>(err: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    R: std::fmt::Debug,
    E: std::fmt::Debug,
{
    format!("{err:?}")
}

#[tokio::test]
async fn a_queue_url_of_another_account_or_region_names_no_queue_and_leaves_the_real_one_alone() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "mine", &[]).await;
    sqs.send_message().queue_url(&url).message_body("kept").send().await.expect("send");
    for other in [
        format!("{}/123456789012/mine", sandbox.url()),
        "https://sqs.eu-west-1.amazonaws.com/000000000000/mine".to_owned(),
    ] {
        let err = sqs.receive_message().queue_url(&other).send().await.expect_err(&other);
        assert!(err.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()), "{other}: {err:?}");
        assert_eq!(query_code(&err), "AWS.SimpleQueueService.NonExistentQueue");
    }
    let got = receive(&sqs, &url, 0, 30).await;
    assert_eq!(got.len(), 1, "the real queue's message was not consumed");
    assert_eq!(got[0].body(), Some("kept"));
}

#[tokio::test]
async fn messages_up_to_1_mib_are_taken_and_a_byte_more_is_refused_as_sqs_counts_size() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "big", &[]).await;
    let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value("x")
        .build()
        .expect("attribute");
    // The size counts the body and the attribute's name, type and value (1 + 6 + 1 bytes).
    let largest = "a".repeat(1024 * 1024 - 8);
    sqs.send_message()
        .queue_url(&url)
        .message_body(&largest)
        .message_attributes("k", attribute.clone())
        .send()
        .await
        .expect("exactly 1 MiB is taken");
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body(format!("{largest}a"))
        .message_attributes("k", attribute)
        .send()
        .await
        .expect_err("a byte more is refused");
    assert_eq!(query_code(&err), "InvalidParameterValue");
    assert!(debug_text(&err).contains("Message must be shorter than 1048576 bytes"), "{err:?}");
    let got = receive(&sqs, &url, 0, 30).await;
    assert_eq!(got[0].body().map(str::len), Some(largest.len()));
    assert_eq!(got[0].body(), Some(largest.as_str()));

    let half = "b".repeat(512 * 1024);
    let entries = [("e1", half.clone()), ("e2", format!("{half}b"))]
        .map(|(id, body)| SendMessageBatchRequestEntry::builder().id(id).message_body(body).build().expect("entry"));
    let err = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries.to_vec()))
        .send()
        .await
        .expect_err("a batch over 1 MiB in all");
    assert!(err.as_service_error().is_some_and(|e| e.is_batch_request_too_long()), "{err:?}");
    assert_eq!(query_code(&err), "AWS.SimpleQueueService.BatchRequestTooLong");
}

#[tokio::test]
async fn a_per_message_delay_overrides_the_queues() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "delays", &[(QueueAttributeName::DelaySeconds, "900")]).await;
    sqs.send_message().queue_url(&url).message_body("now").delay_seconds(0).send().await.expect("no delay");
    sqs.send_message().queue_url(&url).message_body("later").send().await.expect("the queue's delay");
    sqs.send_message().queue_url(&url).message_body("soon").delay_seconds(1).send().await.expect("one second");
    let first = receive(&sqs, &url, 0, 30).await;
    assert_eq!(first.iter().filter_map(|m| m.body()).collect::<Vec<_>>(), ["now"]);
    // A long poll ends when the one-second message becomes visible; the 900 s one stays away.
    let second = receive(&sqs, &url, 5, 30).await;
    assert_eq!(second.iter().filter_map(|m| m.body()).collect::<Vec<_>>(), ["soon"]);
    let err = sqs.send_message().queue_url(&url).message_body("x").delay_seconds(901).send().await.expect_err("901");
    assert_eq!(query_code(&err), "InvalidParameterValue");
}

#[tokio::test]
async fn change_message_visibility_batch_changes_each_entry_and_reports_each_failure() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "vis-batch", &[]).await;
    sqs.send_message().queue_url(&url).message_body("one").send().await.expect("send");
    let got = receive(&sqs, &url, 0, 300).await;
    let entry = |id: &str, handle: &str, timeout: i32| {
        aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
            .id(id)
            .receipt_handle(handle)
            .visibility_timeout(timeout)
            .build()
            .expect("entry")
    };
    let out = sqs
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(entry("ok", got[0].receipt_handle().expect("handle"), 0))
        .entries(entry("bad", "not-a-handle", 0))
        .send()
        .await
        .expect("batch");
    assert_eq!(out.successful().iter().map(|s| s.id()).collect::<Vec<_>>(), ["ok"]);
    assert_eq!(
        out.failed().iter().map(|f| (f.id(), f.code())).collect::<Vec<_>>(),
        [("bad", "ReceiptHandleIsInvalid")]
    );
    assert_eq!(receive(&sqs, &url, 0, 30).await.len(), 1, "visible again at once");
}

#[tokio::test]
async fn queue_tags_are_kept_changed_and_removed() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = sqs
        .create_queue()
        .queue_name("tagged")
        .tags("team", "sos")
        .tags("stage", "dev")
        .send()
        .await
        .expect("create with tags")
        .queue_url()
        .expect("url")
        .to_owned();
    let tags = |out: aws_sdk_sqs::operation::list_queue_tags::ListQueueTagsOutput| {
        let mut tags: Vec<(String, String)> = out.tags().cloned().unwrap_or_default().into_iter().collect();
        tags.sort();
        tags
    };
    let listed = tags(sqs.list_queue_tags().queue_url(&url).send().await.expect("list"));
    assert_eq!(listed, [("stage".into(), "dev".into()), ("team".into(), "sos".into())]);
    sqs.tag_queue().queue_url(&url).tags("stage", "prod").tags("x", "").send().await.expect("tag");
    sqs.untag_queue().queue_url(&url).tag_keys("team").tag_keys("absent").send().await.expect("untag");
    let listed = tags(sqs.list_queue_tags().queue_url(&url).send().await.expect("list"));
    assert_eq!(listed, [("stage".into(), "prod".into()), ("x".into(), String::new())]);
    let fifty_one = (0..51).fold(sqs.tag_queue().queue_url(&url), |call, i| call.tags(format!("k{i}"), "v"));
    assert_eq!(query_code(&fifty_one.send().await.expect_err("more than 50 tags")), "InvalidParameterValue");
}

#[tokio::test]
async fn list_queues_pages_by_max_results() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    for name in ["page-a", "page-b", "page-c"] {
        queue(&sqs, name, &[]).await;
    }
    let first = sqs.list_queues().queue_name_prefix("page-").max_results(2).send().await.expect("page 1");
    assert_eq!(first.queue_urls().len(), 2);
    let token = first.next_token().expect("more to come");
    let second =
        sqs.list_queues().queue_name_prefix("page-").max_results(2).next_token(token).send().await.expect("page 2");
    assert_eq!(second.queue_urls().len(), 1);
    assert!(second.queue_urls()[0].ends_with("/page-c"));
    assert_eq!(second.next_token(), None);
}

#[tokio::test]
async fn purge_and_recreate_are_limited_to_once_a_minute_as_on_sqs() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "purged", &[]).await;
    sqs.send_message().queue_url(&url).message_body("gone").send().await.expect("send");
    sqs.purge_queue().queue_url(&url).send().await.expect("first purge");
    assert!(receive(&sqs, &url, 0, 30).await.is_empty(), "purged");
    let err = sqs.purge_queue().queue_url(&url).send().await.expect_err("second purge within 60 s");
    assert!(err.as_service_error().is_some_and(|e| e.is_purge_queue_in_progress()), "{err:?}");
    sqs.delete_queue().queue_url(&url).send().await.expect("delete");
    let err = sqs.create_queue().queue_name("purged").send().await.expect_err("recreated within 60 s");
    assert!(err.as_service_error().is_some_and(|e| e.is_queue_deleted_recently()), "{err:?}");
}

#[tokio::test]
async fn queue_attributes_are_checked_as_sqs_checks_them() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "attrs", &[]).await;
    let err = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "43201")
        .send()
        .await
        .expect_err("over 12 hours");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_attribute_value()), "{err:?}");
    let err = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::from("NoSuchAttribute"))
        .send()
        .await
        .expect_err("unknown attribute");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_attribute_name()), "{err:?}");
    let all =
        sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::All).send().await.expect("all");
    let get = |name: QueueAttributeName| all.attributes().and_then(|a| a.get(&name)).cloned();
    assert_eq!(get(QueueAttributeName::MaximumMessageSize).as_deref(), Some("1048576"));
    assert_eq!(get(QueueAttributeName::QueueArn).as_deref(), Some("arn:aws:sqs:us-east-1:000000000000:attrs"));
}

/// One plain HTTP/1.1 GET to the sandbox; `(status, content type, body)`.
async fn http_get(sandbox: &sandbox::Sandbox, path_and_query: &str, accept: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr()).await.expect("connect");
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
        sandbox.addr()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8(response).expect("text");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[tokio::test]
async fn the_developer_endpoint_lists_a_queues_messages_without_changing_them() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "peeked", &[]).await;
    for body in ["message-1", "message-2", "message-3"] {
        sqs.send_message().queue_url(&url).message_body(body).send().await.expect("send");
    }
    sqs.send_message().queue_url(&url).message_body("delayed").delay_seconds(600).send().await.expect("send");
    let taken = sqs.receive_message().queue_url(&url).visibility_timeout(300).send().await.expect("receive");
    assert_eq!(taken.messages()[0].body(), Some("message-1"));

    let path = format!("/_aws/sqs/messages?QueueUrl={}", url.replace(':', "%3A").replace('/', "%2F"));
    let (status, content_type, body) = http_get(&sandbox, &path, "application/json").await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let listed = &doc["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"];
    let bodies: Vec<&str> =
        listed.as_array().expect("two messages").iter().filter_map(|m| m["Body"].as_str()).collect();
    assert_eq!(bodies, ["message-2", "message-3"], "visible messages only, by default");
    let attributes = |m: &serde_json::Value| -> std::collections::BTreeMap<String, String> {
        m["Attribute"]
            .as_array()
            .expect("attributes")
            .iter()
            .map(|a| {
                (a["Name"].as_str().unwrap_or_default().to_owned(), a["Value"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    };
    assert_eq!(attributes(&listed[0]).get("ApproximateReceiveCount").map(String::as_str), Some("0"));

    let everything = format!("{path}&ShowInvisible=true&ShowDelayed=true");
    let (_, _, body) = http_get(&sandbox, &everything, "application/json").await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let listed = doc["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"].as_array().cloned().expect("list");
    let seen: Vec<(String, String, String)> = listed
        .iter()
        .map(|m| {
            let a = attributes(m);
            (m["Body"].as_str().unwrap_or_default().to_owned(), a["IsVisible"].clone(), a["IsDelayed"].clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("message-1".into(), "false".into(), "false".into()),
            ("message-2".into(), "true".into(), "false".into()),
            ("message-3".into(), "true".into(), "false".into()),
            ("delayed".into(), "false".into(), "true".into()),
        ]
    );
    assert_eq!(attributes(&listed[0]).get("ApproximateReceiveCount").map(String::as_str), Some("1"));

    let (status, content_type, xml) = http_get(&sandbox, &path, "*/*").await;
    assert_eq!((status, content_type.as_str()), (200, "text/xml"));
    assert!(xml.starts_with("<ReceiveMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"), "{xml}");
    assert_eq!(xml.matches("<Message>").count(), 2, "{xml}");

    // The path form names the queue by region, account and name.
    let (_, _, xml) = http_get(&sandbox, "/_aws/sqs/messages/us-east-1/000000000000/peeked", "*/*").await;
    assert_eq!(xml.matches("<Message>").count(), 2, "{xml}");
    let (status, _, _) = http_get(&sandbox, "/_aws/sqs/messages/us-east-1/123456789012/peeked", "*/*").await;
    assert_eq!(status, 400, "another account's queue does not exist");

    // Looking changed nothing: the next receive still gets message-2, received for the first time.
    let next = receive(&sqs, &url, 0, 30).await;
    assert_eq!(next.iter().filter_map(|m| m.body()).collect::<Vec<_>>(), ["message-2", "message-3"]);
    assert_eq!(receive_count(&next[0]), Some("1"));
}

#[tokio::test]
async fn an_sdk_pointed_at_the_developer_endpoint_receives_every_message_without_side_effects() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let url = queue(&sqs, "sdk-peek", &[]).await;
    for body in ["a", "b"] {
        sqs.send_message().queue_url(&url).message_body(body).send().await.expect("send");
    }
    let peek = format!("{}/_aws/sqs/messages", sandbox.url()).as_str().sqs();
    let out = peek.receive_message().queue_url(&url).max_number_of_messages(1).send().await.expect("peek");
    assert_eq!(out.messages().iter().filter_map(|m| m.body()).collect::<Vec<_>>(), ["a", "b"], "max is ignored");
    assert_eq!(receive(&sqs, &url, 0, 30).await.len(), 2, "nothing was taken");
}
