//! S3 event notifications: S3 → notifier (the Lambda stand-in) → SNS → SQS as seeded, and S3 →
//! SQS / S3 → SNS with filters, in the JSON shape S3 sends.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter, TopicConfiguration,
};
use sandbox::SEED_BUCKET;
use serde_json::Value;
use testkit::{SandboxClients as _, TestSandbox};

/// Waits (long polling, up to 10 s) for the next message body on `queue`, deleting it.
async fn next_body(sqs: &aws_sdk_sqs::Client, queue: &str) -> String {
    let url = sqs.get_queue_url().queue_name(queue).send().await.expect("queue");
    let url = url.queue_url().expect("url");
    for _ in 0..2 {
        let out = sqs.receive_message().queue_url(url).wait_time_seconds(5).send().await.expect("receive");
        if let Some(message) = out.messages().first() {
            let handle = message.receipt_handle().expect("handle");
            sqs.delete_message().queue_url(url).receipt_handle(handle).send().await.expect("delete");
            return message.body().expect("body").to_owned();
        }
    }
    panic!("no message reached {queue} within 10 s");
}

#[tokio::test]
async fn a_put_to_the_seeded_bucket_reaches_the_seeded_queue_through_the_notifier() {
    let sandbox = TestSandbox::start().await;
    let c = sandbox.clients();
    for key in ["plain.geojson", "Missouri Open Loop sample output/with space.csv", "a+b/snow ü+ice.geojson"] {
        let put = c.s3.put_object().bucket(SEED_BUCKET).key(key).body(ByteStream::from_static(b"12345")).send().await;
        let etag = put.expect("put").e_tag().expect("etag").trim_matches('"').to_owned();
        let envelope: Value = serde_json::from_str(&next_body(&c.sqs, sandbox::SEED_QUEUE).await).expect("envelope");
        assert_eq!(envelope["Type"], "Notification");
        let message: Value = serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("our JSON");
        assert_eq!(message["key"], key, "the key arrives decoded, exactly");
        assert_eq!(message["bucket"], SEED_BUCKET);
        assert_eq!(message["size"], 5);
        assert_eq!(message["etag"].as_str().map(|e| e.trim_matches('"')), Some(etag.as_str()));
        assert_eq!(message["event_name"], "ObjectCreated:Put");
        assert!(message["event_time"].is_string());
    }
}

#[tokio::test]
async fn multipart_uploads_and_copies_are_announced_too() {
    let sandbox = TestSandbox::start().await;
    let c = sandbox.clients();
    let upload = c.s3.create_multipart_upload().bucket(SEED_BUCKET).key("mpu.bin").send().await.expect("create");
    let id = upload.upload_id().expect("id");
    let part =
        c.s3.upload_part()
            .bucket(SEED_BUCKET)
            .key("mpu.bin")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(vec![7u8; 1000]))
            .send()
            .await
            .expect("part");
    c.s3.complete_multipart_upload()
        .bucket(SEED_BUCKET)
        .key("mpu.bin")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).set_e_tag(part.e_tag).build())
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let envelope: Value = serde_json::from_str(&next_body(&c.sqs, sandbox::SEED_QUEUE).await).expect("envelope");
    let message: Value = serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(message["event_name"], "ObjectCreated:CompleteMultipartUpload");
    assert_eq!(message["size"], 1000);

    c.s3.copy_object()
        .bucket(SEED_BUCKET)
        .key("copy.bin")
        .copy_source(format!("{SEED_BUCKET}/mpu.bin"))
        .send()
        .await
        .expect("copy");
    let envelope: Value = serde_json::from_str(&next_body(&c.sqs, sandbox::SEED_QUEUE).await).expect("envelope");
    let message: Value = serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(
        (message["key"].as_str(), message["event_name"].as_str()),
        (Some("copy.bin"), Some("ObjectCreated:Copy"))
    );
}

fn suffix(value: &str) -> NotificationConfigurationFilter {
    NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(FilterRule::builder().name(FilterRuleName::Suffix).value(value).build())
                .build(),
        )
        .build()
}

#[tokio::test]
async fn queue_and_topic_targets_get_s3_events_that_pass_their_filters() {
    let sandbox = TestSandbox::start().await;
    let c = sandbox.clients();
    c.s3.create_bucket().bucket("direct").send().await.expect("bucket");
    c.sqs.create_queue().queue_name("direct-events").send().await.expect("queue");
    c.sqs.create_queue().queue_name("via-topic").send().await.expect("queue");
    let topic = c.sns.create_topic().name("s3-events").send().await.expect("topic");
    let topic = topic.topic_arn().expect("arn").to_owned();
    c.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:via-topic")
        .send()
        .await
        .expect("subscribe");
    let config = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder()
                .queue_arn("arn:aws:sqs:us-east-1:000000000000:direct-events")
                .events(Event::S3ObjectCreated)
                .filter(suffix(".geojson"))
                .build()
                .expect("queue config"),
        )
        .topic_configurations(
            TopicConfiguration::builder()
                .topic_arn(&topic)
                .events(Event::S3ObjectCreatedPut)
                .filter(suffix(".txt"))
                .build()
                .expect("topic config"),
        )
        .build();
    // As S3 does, the sandbox refuses entries that share an event for keys both could match.
    let mut overlapping = config.clone();
    overlapping.topic_configurations = Some(vec![
        TopicConfiguration::builder()
            .topic_arn(&topic)
            .events(Event::S3ObjectCreatedPut)
            .build()
            .expect("topic config"),
    ]);
    let refused = c.s3.put_bucket_notification_configuration().bucket("direct").notification_configuration(overlapping);
    let refused = refused.send().await.expect_err("overlapping configurations are refused");
    assert_eq!(refused.as_service_error().and_then(|e| e.meta().code()), Some("InvalidArgument"), "{refused:?}");
    // …and a destination that does not exist.
    let mut dangling = config.clone();
    dangling.topic_configurations = Some(vec![
        TopicConfiguration::builder()
            .topic_arn("arn:aws:sns:us-east-1:000000000000:no-such-topic")
            .events(Event::S3ObjectCreatedPut)
            .build()
            .expect("topic config"),
    ]);
    let refused = c.s3.put_bucket_notification_configuration().bucket("direct").notification_configuration(dangling);
    let refused = refused.send().await.expect_err("a missing topic is refused");
    assert!(format!("{refused:?}").contains("Unable to validate the following destination"), "{refused:?}");

    c.s3.put_bucket_notification_configuration()
        .bucket("direct")
        .notification_configuration(config)
        .send()
        .await
        .expect("configure");
    let stored = c.s3.get_bucket_notification_configuration().bucket("direct").send().await.expect("get");
    assert_eq!(stored.queue_configurations().len(), 1);
    assert_eq!(stored.topic_configurations().len(), 1);
    // S3 sends s3:TestEvent to every queue and topic a new configuration names.
    let test: Value = serde_json::from_str(&next_body(&c.sqs, "direct-events").await).expect("test event");
    assert_eq!((test["Service"].as_str(), test["Event"].as_str()), (Some("Amazon S3"), Some("s3:TestEvent")));
    assert_eq!(test["Bucket"], "direct");
    let envelope: Value = serde_json::from_str(&next_body(&c.sqs, "via-topic").await).expect("envelope");
    let test: Value = serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("test event");
    assert_eq!(test["Event"], "s3:TestEvent");

    for key in ["skip me.txt", "data/new file+1.geojson"] {
        c.s3.put_object().bucket("direct").key(key).body(ByteStream::from_static(b"{}")).send().await.expect("put");
    }
    // The queue target's filter passes only the .geojson file; S3's own event format, key encoded.
    let event: Value = serde_json::from_str(&next_body(&c.sqs, "direct-events").await).expect("S3 event");
    let record = &event["Records"][0];
    assert_eq!(record["eventSource"], "aws:s3");
    assert_eq!(record["eventName"], "ObjectCreated:Put");
    assert_eq!(record["s3"]["bucket"]["name"], "direct");
    assert_eq!(record["s3"]["object"]["key"], "data/new+file%2B1.geojson");
    assert_eq!(record["s3"]["object"]["size"], 2);
    // The topic target's filter passes only the .txt file, in an SNS envelope.
    let envelope: Value = serde_json::from_str(&next_body(&c.sqs, "via-topic").await).expect("envelope");
    let event: Value = serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("S3 event");
    assert_eq!(event["Records"][0]["s3"]["object"]["key"], "skip+me.txt");
    // (A short long poll: a wrongly delivered event would arrive within it.)
    let more =
        c.sqs.receive_message().queue_url(format!("{}/000000000000/via-topic", sandbox.url())).wait_time_seconds(1);
    let more = more.send().await;
    assert!(more.expect("receive").messages().is_empty(), "the .geojson event went to the queue target only");
}
