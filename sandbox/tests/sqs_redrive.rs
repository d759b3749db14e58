//! The way back from a dead-letter queue, as the SQS developer guide describes it:
//! `ListDeadLetterSourceQueues`, `RedriveAllowPolicy`, and message move tasks
//! (`StartMessageMoveTask` to the original source or a given destination, at a rate;
//! `ListMessageMoveTasks`; `CancelMessageMoveTask`) — including a task that outlives a restart.

use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use sandbox::SandboxOptions;
use testkit::{SandboxClients as _, TestSandbox};

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:000000000000:{name}")
}

fn redrive_to(dlq: &str) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(dlq))
}

async fn queue(sqs: &Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut create = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        create = create.attributes(k.clone(), *v);
    }
    create.send().await.expect("create queue").queue_url().expect("url").to_owned()
}

async fn drain(sqs: &Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages()
            .to_vec();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// A queue `source` with dead-letter queue `dlq` (maxReceiveCount 1) and `bodies` in the
/// dead-letter queue: each received once, made visible, then moved by the next receive.
async fn dead_letters(sqs: &Client, source: &str, dlq: &str, bodies: &[&str]) -> (String, String) {
    let dlq_url = queue(sqs, dlq, &[]).await;
    let url = queue(sqs, source, &[(QueueAttributeName::RedrivePolicy, &redrive_to(dlq))]).await;
    for body in bodies {
        sqs.send_message().queue_url(&url).message_body(*body).send().await.expect("send");
    }
    sqs.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(0).send().await.expect("once");
    let moved = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("moves them");
    assert!(moved.messages().is_empty(), "every message went to the dead-letter queue");
    (url, dlq_url)
}

async fn wait_for_status(sqs: &Client, dlq: &str, status: &str) -> aws_sdk_sqs::types::ListMessageMoveTasksResultEntry {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tasks = sqs.list_message_move_tasks().source_arn(arn(dlq)).send().await.expect("list tasks");
        if let Some(task) = tasks.results().first()
            && task.status() == Some(status)
        {
            return task.clone();
        }
        assert!(Instant::now() < deadline, "no {status} task for {dlq}: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sorted_bodies(messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
    let mut bodies: Vec<String> = messages.iter().filter_map(|m| m.body().map(str::to_owned)).collect();
    bodies.sort();
    bodies
}

#[tokio::test]
async fn dead_letter_sources_are_listed_and_messages_say_where_they_came_from() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let (_, dlq_url) = dead_letters(&sqs, "src-a", "shared-dlq", &["x"]).await;
    queue(&sqs, "src-b", &[(QueueAttributeName::RedrivePolicy, &redrive_to("shared-dlq"))]).await;
    let sources = sqs.list_dead_letter_source_queues().queue_url(&dlq_url).send().await.expect("sources");
    let names: Vec<&str> = sources.queue_urls().iter().filter_map(|u| u.rsplit('/').next()).collect();
    assert_eq!(names, ["src-a", "src-b"]);
    let dead = drain(&sqs, &dlq_url).await;
    let source = dead[0].attributes().and_then(|a| a.get(&MessageSystemAttributeName::DeadLetterQueueSourceArn));
    assert_eq!(source.map(String::as_str), Some(arn("src-a").as_str()));
}

#[tokio::test]
async fn a_move_task_without_a_destination_takes_each_message_back_to_its_source() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    let (url, dlq_url) = dead_letters(&sqs, "origin", "origin-dlq", &["m1", "m2", "m3"]).await;
    let started = sqs.start_message_move_task().source_arn(arn("origin-dlq")).send().await.expect("start");
    assert!(started.task_handle().is_some());
    let task = wait_for_status(&sqs, "origin-dlq", "COMPLETED").await;
    assert_eq!(
        (task.approximate_number_of_messages_moved(), task.approximate_number_of_messages_to_move()),
        (3, Some(3))
    );
    assert_eq!(task.destination_arn(), None);
    assert_eq!(task.task_handle(), None, "only a running task has a handle");
    let back = drain(&sqs, &url).await;
    assert_eq!(sorted_bodies(&back), ["m1", "m2", "m3"]);
    let count = back[0].attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount));
    assert_eq!(count.map(String::as_str), Some("1"), "a moved message starts its receive count again");
    assert!(drain(&sqs, &dlq_url).await.is_empty(), "nothing left behind");
}

#[tokio::test]
async fn a_move_task_to_a_given_destination_keeps_its_rate() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    dead_letters(&sqs, "rated", "rated-dlq", &["1", "2", "3", "4"]).await;
    let destination = queue(&sqs, "elsewhere", &[]).await;
    let started = Instant::now();
    sqs.start_message_move_task()
        .source_arn(arn("rated-dlq"))
        .destination_arn(arn("elsewhere"))
        .max_number_of_messages_per_second(4)
        .send()
        .await
        .expect("start");
    let task = wait_for_status(&sqs, "rated-dlq", "COMPLETED").await;
    assert!(started.elapsed() >= Duration::from_millis(500), "4 messages at 4 a second take most of a second");
    assert_eq!(task.max_number_of_messages_per_second(), Some(4));
    assert_eq!(task.destination_arn(), Some(arn("elsewhere").as_str()));
    assert_eq!(sorted_bodies(&drain(&sqs, &destination).await), ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn move_tasks_are_refused_and_cancelled_as_sqs_does() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    queue(&sqs, "not-a-dlq", &[]).await;
    let err = sqs.start_message_move_task().source_arn(arn("not-a-dlq")).send().await.expect_err("not a DLQ");
    assert_eq!(err.message(), Some("Source queue must be configured as a Dead Letter Queue."));
    let err = sqs.start_message_move_task().source_arn(arn("absent")).send().await.expect_err("no source");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");

    let bodies: Vec<String> = (0..10).map(|i| format!("slow-{i}")).collect();
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    dead_letters(&sqs, "slow", "slow-dlq", &refs).await;
    let err = sqs
        .start_message_move_task()
        .source_arn(arn("slow-dlq"))
        .destination_arn(arn("absent"))
        .send()
        .await
        .expect_err("no destination");
    assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    let handle = sqs
        .start_message_move_task()
        .source_arn(arn("slow-dlq"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .expect("start")
        .task_handle()
        .expect("handle")
        .to_owned();
    let err = sqs.start_message_move_task().source_arn(arn("slow-dlq")).send().await.expect_err("one at a time");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    let running = wait_for_status(&sqs, "slow-dlq", "RUNNING").await;
    assert_eq!(running.task_handle(), Some(handle.as_str()));
    let cancelled = sqs.cancel_message_move_task().task_handle(&handle).send().await.expect("cancel");
    assert!(cancelled.approximate_number_of_messages_moved() < 10);
    wait_for_status(&sqs, "slow-dlq", "CANCELLED").await;
    let err = sqs.cancel_message_move_task().task_handle("foobared").send().await.expect_err("not a handle");
    assert_eq!(err.message(), Some("Value for parameter TaskHandle is invalid."));
}

#[tokio::test]
async fn a_redrive_allow_policy_decides_who_may_use_a_dead_letter_queue() {
    let sandbox = TestSandbox::start().await;
    let sqs = sandbox.sqs();
    queue(&sqs, "closed-dlq", &[(QueueAttributeName::RedriveAllowPolicy, r#"{"redrivePermission":"denyAll"}"#)]).await;
    let err = sqs
        .create_queue()
        .queue_name("refused")
        .attributes(QueueAttributeName::RedrivePolicy, redrive_to("closed-dlq"))
        .send()
        .await
        .expect_err("denyAll");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    let allow = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#, arn("chosen"));
    queue(&sqs, "picky-dlq", &[(QueueAttributeName::RedriveAllowPolicy, &allow)]).await;
    queue(&sqs, "chosen", &[(QueueAttributeName::RedrivePolicy, &redrive_to("picky-dlq"))]).await;
    let err = sqs
        .create_queue()
        .queue_name("other")
        .attributes(QueueAttributeName::RedrivePolicy, redrive_to("picky-dlq"))
        .send()
        .await
        .expect_err("not in sourceQueueArns");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    let err = sqs
        .create_queue()
        .queue_name("malformed")
        .attributes(QueueAttributeName::RedriveAllowPolicy, r#"{"redrivePermission":"byQueue"}"#)
        .send()
        .await
        .expect_err("byQueue without sourceQueueArns");
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
}

/// A task at one message a second is stopped by a shutdown after it moved some; the sandbox
/// started again on the same directory finishes it, and every message arrives exactly once.
#[tokio::test]
async fn a_move_task_goes_on_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bodies: Vec<String> = (0..4).map(|i| format!("restart-{i}")).collect();
    {
        let sandbox = testkit::start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
        let sqs = sandbox.sqs();
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        dead_letters(&sqs, "survivor", "survivor-dlq", &refs).await;
        queue(&sqs, "landing", &[]).await;
        sqs.start_message_move_task()
            .source_arn(arn("survivor-dlq"))
            .destination_arn(arn("landing"))
            .max_number_of_messages_per_second(1)
            .send()
            .await
            .expect("start");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tasks = sqs.list_message_move_tasks().source_arn(arn("survivor-dlq")).send().await.expect("list");
            if tasks.results().first().is_some_and(|t| t.approximate_number_of_messages_moved() >= 1) {
                break;
            }
            assert!(Instant::now() < deadline, "the task moved nothing");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sandbox.shutdown().await;
    }
    let sandbox = testkit::start_sandbox(SandboxOptions::ephemeral(dir.path())).await;
    let sqs = sandbox.sqs();
    let task = wait_for_status(&sqs, "survivor-dlq", "COMPLETED").await;
    assert_eq!(task.approximate_number_of_messages_moved(), 4);
    let landing =
        sqs.get_queue_url().queue_name("landing").send().await.expect("queue").queue_url().expect("url").to_owned();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(sorted_bodies(&drain(&sqs, &landing).await), expected, "each exactly once");
    let dlq = sqs
        .get_queue_url()
        .queue_name("survivor-dlq")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    assert!(drain(&sqs, &dlq).await.is_empty());
}
