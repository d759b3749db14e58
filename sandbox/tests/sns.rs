//! The sandbox's SNS driven through the AWS SDK for Rust: the envelope SQS subscribers get, and
//! raw delivery.

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use testkit::{SandboxClients as _, TestSandbox};

async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> aws_sdk_sqs::types::Message {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(5)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    out.messages().first().cloned().expect("a delivered message")
}

#[tokio::test]
async fn a_message_published_to_the_seeded_topic_reaches_the_seeded_queue_in_the_sns_envelope() {
    let sandbox = TestSandbox::start().await;
    let (sns, sqs) = (sandbox.sns(), sandbox.sqs());
    let topics = sns.list_topics().send().await.expect("list topics");
    let topic = format!("arn:aws:sns:us-east-1:000000000000:{}", sandbox::SEED_TOPIC);
    assert!(topics.topics().iter().any(|t| t.topic_arn() == Some(topic.as_str())));

    let published = sns
        .publish()
        .topic_arn(&topic)
        .subject("New SOS data")
        .message(r#"{"key":"Optimization_result.geojson"}"#)
        .message_attributes(
            "key",
            MessageAttributeValue::builder().data_type("String").string_value("k").build().expect("attr"),
        )
        .send()
        .await
        .expect("publish");
    let url = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("queue");
    let message = receive_one(&sqs, url.queue_url().expect("url")).await;
    let envelope: serde_json::Value = serde_json::from_str(message.body().expect("body")).expect("JSON envelope");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["MessageId"], published.message_id().expect("id"));
    assert_eq!(envelope["TopicArn"], topic);
    assert_eq!(envelope["Subject"], "New SOS data");
    assert_eq!(envelope["Message"], r#"{"key":"Optimization_result.geojson"}"#);
    assert_eq!(envelope["MessageAttributes"]["key"]["Value"], "k");
    for field in ["Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"] {
        assert!(envelope[field].is_string(), "{field} in {envelope}");
    }
}

#[tokio::test]
async fn raw_delivery_sends_the_bare_message_with_its_attributes() {
    let sandbox = TestSandbox::start().await;
    let (sns, sqs) = (sandbox.sns(), sandbox.sqs());
    let topic = sns.create_topic().name("raw-topic").send().await.expect("topic");
    let topic = topic.topic_arn().expect("arn");
    let queue = sqs.create_queue().queue_name("raw-queue").send().await.expect("queue");
    let queue = queue.queue_url().expect("url");
    sns.subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:raw-queue")
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    sns.publish()
        .topic_arn(topic)
        .message("just the message")
        .message_attributes(
            "bucket",
            MessageAttributeValue::builder().data_type("String").string_value("b").build().expect("attr"),
        )
        .send()
        .await
        .expect("publish");
    let message = receive_one(&sqs, queue).await;
    assert_eq!(message.body(), Some("just the message"));
    let attrs = message.message_attributes().expect("attributes");
    assert_eq!(attrs.get("bucket").and_then(|a| a.string_value()), Some("b"));
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_not_found() {
    let sandbox = TestSandbox::start().await;
    let sns = sandbox.sns();
    let err = sns.publish().topic_arn("arn:aws:sns:us-east-1:000000000000:nope").message("x").send().await;
    let err = err.expect_err("no topic");
    assert!(err.as_service_error().is_some_and(|e| e.is_not_found_exception()), "{err:?}");
}

#[tokio::test]
async fn topic_attributes_are_stored_and_create_topic_refuses_other_values() {
    let sandbox = TestSandbox::start().await;
    let sns = sandbox.sns();
    let created = sns.create_topic().name("with-policy").attributes("DisplayName", "SOS").send().await;
    let arn = created.expect("create").topic_arn().expect("arn").to_owned();
    // The same call again finds the topic; other attribute values are refused, as SNS does.
    let again = sns.create_topic().name("with-policy").attributes("DisplayName", "SOS").send().await;
    assert_eq!(again.expect("same attributes").topic_arn(), Some(arn.as_str()));
    let other = sns.create_topic().name("with-policy").attributes("DisplayName", "other").send().await;
    assert!(format!("{:?}", other.expect_err("other attributes")).contains("different attributes"));

    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Policy")
        .attribute_value(policy)
        .send()
        .await
        .expect("set");
    let attributes = sns.get_topic_attributes().topic_arn(&arn).send().await.expect("get");
    let attributes = attributes.attributes().expect("attributes");
    assert_eq!(attributes.get("Policy").map(String::as_str), Some(policy));
    assert_eq!(attributes.get("DisplayName").map(String::as_str), Some("SOS"));

    let bad = sns.set_topic_attributes().topic_arn(&arn).attribute_name("Policy").attribute_value("{nope");
    let bad = bad.send().await.expect_err("a policy that is not JSON is refused");
    assert!(bad.as_service_error().is_some_and(|e| e.is_invalid_parameter_exception()), "{bad:?}");
    let missing = sns.set_topic_attributes().topic_arn(format!("{arn}-gone")).attribute_name("DisplayName");
    let missing = missing.attribute_value("x").send().await.expect_err("no such topic");
    assert!(missing.as_service_error().is_some_and(|e| e.is_not_found_exception()), "{missing:?}");
}
