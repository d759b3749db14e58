//! What the sandbox acknowledged survives the sandbox process being killed (SIGKILL) at any
//! moment and restarted on the same data directory: objects, messages (count and bodies),
//! messages in flight (back after their visibility timeout), receive counts (so the
//! dead-letter queue still takes a message after `maxReceiveCount` across restarts), and the
//! announcement of every acknowledged upload into a bucket with notifications, even while SNS
//! fails a share of the notifier's publishes.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use testkit::{SandboxClients as _, SandboxProcess};

/// No retries: a request to a killed sandbox must fail, not wait for the next one.
fn config(url: &str) -> aws_config::SdkConfig {
    url.config().to_builder().retry_config(aws_config::retry::RetryConfig::disabled()).build()
}

fn s3(url: &str) -> aws_sdk_s3::Client {
    testkit::s3_client(&config(url))
}

fn sqs(url: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&config(url))
}

/// A pseudo-random number from the OS, for kill moments and sizes.
fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS randomness");
    u64::from_le_bytes(bytes) % n
}

fn object_bytes(i: u64) -> Vec<u8> {
    let len = usize::try_from(random_below(64 * 1024)).expect("small");
    (0..len).map(|j| u8::try_from((i as usize * 31 + j) % 251).expect("below 251")).collect()
}

/// Writes objects and messages as fast as it can until the server dies under it; returns what
/// was acknowledged and what was attempted.
async fn write_until_killed(
    url: &str,
    queue_url: &str,
    round: u64,
) -> (BTreeMap<String, Vec<u8>>, BTreeSet<String>, BTreeSet<String>) {
    let (s3, sqs) = (s3(url), sqs(url));
    let mut objects = BTreeMap::new();
    let (mut acked, mut attempted) = (BTreeSet::new(), BTreeSet::new());
    for i in 0.. {
        let key = format!("crash/{round}/{i}.bin");
        let bytes = object_bytes(i);
        let put = s3.put_object().bucket(sandbox::SEED_BUCKET).key(&key).body(bytes.clone().into()).send().await;
        if put.is_err() {
            break;
        }
        objects.insert(key, bytes);
        let body = format!("round {round} message {i}");
        attempted.insert(body.clone());
        if sqs.send_message().queue_url(queue_url).message_body(&body).send().await.is_err() {
            break;
        }
        acked.insert(body);
    }
    (objects, acked, attempted)
}

async fn receive_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        for message in out.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_acknowledged_survives_sigkill_at_random_moments() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir: PathBuf = temp.path().join("data");
    let mut server = SandboxProcess::start(&data_dir, &[]);
    let queue_url = sqs(server.url())
        .create_queue()
        .queue_name("crash")
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_owned();

    let (mut objects, mut acked, mut attempted) = (BTreeMap::new(), BTreeSet::new(), BTreeSet::new());
    for round in 0..3 {
        let url = server.url().to_owned();
        let writer = tokio::spawn({
            let queue_url = queue_url.clone();
            async move { write_until_killed(&url, &queue_url, round).await }
        });
        tokio::time::sleep(Duration::from_millis(200 + random_below(600))).await;
        server.kill();
        let (o, a, t) = writer.await.expect("writer");
        assert!(!a.is_empty(), "round {round}: nothing was acknowledged before the kill");
        objects.extend(o);
        acked.extend(a);
        attempted.extend(t);
        server = SandboxProcess::start(&data_dir, &[]);
    }

    let s3 = s3(server.url());
    for (key, bytes) in &objects {
        let got = s3.get_object().bucket(sandbox::SEED_BUCKET).key(key).send().await;
        let got = got.unwrap_or_else(|err| panic!("{key} was acknowledged but is gone: {err:?}"));
        let body = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(body.as_ref(), bytes.as_slice(), "{key} reads back equal");
    }
    let received = receive_all(&sqs(server.url()), &queue_url).await;
    let unique: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(unique.len(), received.len(), "no message came twice");
    let lost: Vec<&String> = acked.difference(&unique).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged messages were lost: {lost:?}", lost.len(), acked.len());
    assert!(unique.is_subset(&attempted), "only sent messages come back");
    println!("{} objects and {} messages acknowledged across 3 kills, all back", objects.len(), acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_messages_and_receive_counts_survive_a_kill() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir = temp.path().join("data");
    let mut server = SandboxProcess::start(&data_dir, &[]);
    let client = sqs(server.url());
    let dlq = client.create_queue().queue_name("counts-dlq").send().await.expect("dlq");
    let policy =
        format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"2"}}"#, sandbox::aws::queue_arn("counts-dlq"));
    let main = client
        .create_queue()
        .queue_name("counts")
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .expect("queue");
    let (main_url, dlq_url) = (main.queue_url().expect("url").to_owned(), dlq.queue_url().expect("url").to_owned());
    client.send_message().queue_url(&main_url).message_body("survivor").send().await.expect("send");

    // Received (count 1) with a visibility timeout that outlasts the restart: in flight at the kill.
    let receive = |client: aws_sdk_sqs::Client, wait: i32, visibility: i32| {
        let url = main_url.clone();
        async move {
            client
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(wait)
                .visibility_timeout(visibility)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .expect("receive")
                .messages()
                .to_vec()
        }
    };
    let first = receive(client.clone(), 0, 3).await;
    assert_eq!(first.len(), 1);
    server.kill();
    server = SandboxProcess::start(&data_dir, &[]);
    let client = sqs(server.url());
    // Back after its visibility timeout, with its count: this is its second receive.
    let second = receive(client.clone(), 20, 0).await;
    assert_eq!(second.len(), 1, "the in-flight message came back after its visibility timeout");
    assert_eq!(second[0].body(), Some("survivor"));
    let count = second[0].attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount));
    assert_eq!(count.map(String::as_str), Some("2"), "the receive count survived the kill");

    server.kill();
    server = SandboxProcess::start(&data_dir, &[]);
    let client = sqs(server.url());
    // A third receive would pass maxReceiveCount 2: the message moves to the dead-letter queue.
    assert!(receive(client.clone(), 0, 0).await.is_empty(), "past maxReceiveCount it is not delivered again");
    let dead = client.receive_message().queue_url(&dlq_url).wait_time_seconds(5).send().await.expect("dlq receive");
    assert_eq!(dead.messages().len(), 1);
    assert_eq!(dead.messages()[0].body(), Some("survivor"));
    drop(server);
}

/// Puts objects into the seeded bucket (whose uploads the notifier announces) as fast as it can
/// until the server dies under it; returns the keys whose PutObject was acknowledged.
async fn put_until_killed(url: &str, round: u64) -> BTreeSet<String> {
    let s3 = s3(url);
    let mut acked = BTreeSet::new();
    for i in 0.. {
        let key = format!("announced/{round}/{i}.geojson");
        let put = s3.put_object().bucket(sandbox::SEED_BUCKET).key(&key).body(b"{}".to_vec().into()).send().await;
        if put.is_err() {
            break;
        }
        acked.insert(key);
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_upload_is_announced_across_kills_while_sns_fails() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data_dir: PathBuf = temp.path().join("data");
    // 30% of SNS publishes fail (the notifier's included): deliveries wait and are retried.
    let rules = temp.path().join("chaos.json");
    std::fs::write(&rules, r#"[{"service":"sns","operation":"Publish","probability":0.3}]"#).expect("rules");
    let chaos = ["--chaos", rules.to_str().expect("a UTF-8 temp path")];
    let mut server = SandboxProcess::start(&data_dir, &chaos);

    let mut acked = BTreeSet::new();
    for round in 0..3 {
        let url = server.url().to_owned();
        let writer = tokio::spawn(async move { put_until_killed(&url, round).await });
        tokio::time::sleep(Duration::from_millis(200 + random_below(600))).await;
        server.kill();
        let round_acked = writer.await.expect("writer");
        assert!(!round_acked.is_empty(), "round {round}: nothing was acknowledged before the kill");
        acked.extend(round_acked);
        server = SandboxProcess::start(&data_dir, &chaos);
    }

    // After the last restart (SNS still failing 30%), every acknowledged upload is announced.
    let sqs = sqs(server.url());
    let queue = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("seeded queue");
    let queue = queue.queue_url().expect("url").to_owned();
    let mut announced = BTreeSet::new();
    let draining = tokio::time::Instant::now();
    let deadline = draining + Duration::from_secs(120);
    while !acked.is_subset(&announced) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} acknowledged uploads were not announced within 120 s: {:?}",
            acked.difference(&announced).count(),
            acked.len(),
            acked.difference(&announced).take(10).collect::<Vec<_>>()
        );
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let mut done = Vec::new();
        for (i, message) in out.messages().iter().enumerate() {
            let envelope: serde_json::Value =
                serde_json::from_str(message.body().unwrap_or_default()).expect("an SNS envelope");
            let announcement: serde_json::Value =
                serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("an announcement");
            announced.insert(announcement["key"].as_str().expect("key").to_owned());
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()
                .expect("entry");
            done.push(entry);
        }
        if !done.is_empty() {
            sqs.delete_message_batch().queue_url(&queue).set_entries(Some(done)).send().await.expect("delete");
        }
    }
    println!(
        "{} uploads acknowledged across 3 kills with 30% of publishes failing, all announced {:?} after the last restart",
        acked.len(),
        draining.elapsed()
    );
}
