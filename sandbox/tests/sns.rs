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

/// Every message now in `url` (publish answers once its deliveries are in the queues, so
/// nothing more is on its way), bodies in arrival order.
async fn all_bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            return bodies;
        }
        bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
    }
}

fn attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type(data_type).string_value(value).build().expect("attribute")
}

/// A queue subscribed to `topic` with raw delivery and `attributes`; its URL.
async fn filtered_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic: &str,
    name: &str,
    attributes: &[(&str, &str)],
) -> String {
    let url = sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url().expect("url").to_owned();
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:us-east-1:000000000000:{name}"))
        .attributes("RawMessageDelivery", "true");
    for (k, v) in attributes {
        subscribe = subscribe.attributes(*k, *v);
    }
    subscribe.send().await.expect("subscribe");
    url
}

#[tokio::test]
async fn every_filter_operator_lets_through_exactly_the_messages_it_matches() {
    let sandbox = TestSandbox::start().await;
    let (sns, sqs) = (sandbox.sns(), sandbox.sqs());
    let topic = sns.create_topic().name("filters").send().await.expect("topic").topic_arn().expect("arn").to_owned();
    let attributes_scope = "MessageAttributes";
    let cases: &[(&str, &str, &[&str])] = &[
        (r#"{"kind":["geojson"]}"#, attributes_scope, &["m1"]),
        (r#"{"size":[500]}"#, attributes_scope, &["m2"]),
        (r#"{"key":[{"prefix":"Missouri/"}]}"#, attributes_scope, &["m1"]),
        (r#"{"key":[{"suffix":".geojson"}]}"#, attributes_scope, &["m1", "m4"]),
        (r#"{"kind":[{"equals-ignore-case":"GEOJSON"}]}"#, attributes_scope, &["m1", "m4"]),
        (r#"{"kind":[{"anything-but":["csv"]}]}"#, attributes_scope, &["m1", "m4"]),
        (r#"{"key":[{"anything-but":{"prefix":"tmp/"}}]}"#, attributes_scope, &["m1", "m2"]),
        (r#"{"size":[{"numeric":[">",0,"<=",100]}]}"#, attributes_scope, &["m1"]),
        (r#"{"ip":[{"exists":true}]}"#, attributes_scope, &["m1", "m2"]),
        (r#"{"ip":[{"exists":false}]}"#, attributes_scope, &["m3", "m4"]),
        (r#"{"ip":[{"cidr":"10.0.0.0/8"}]}"#, attributes_scope, &["m1"]),
        (r#"{"$or":[{"kind":["csv"]},{"size":[{"numeric":["=",0]}]}]}"#, attributes_scope, &["m2", "m4"]),
        (r#"{"tags":["swe"]}"#, attributes_scope, &["m1"]),
        (r#"{"site":{"name":["Ohio"]}}"#, "MessageBody", &["m2"]),
        (r#"{"key":[{"prefix":"tmp/"}],"size":[0]}"#, "MessageBody", &["m4"]),
    ];
    let mut queues = Vec::new();
    for (i, (policy, scope, _)) in cases.iter().enumerate() {
        let url = filtered_queue(
            &sns,
            &sqs,
            &topic,
            &format!("f{i}"),
            &[("FilterPolicy", policy), ("FilterPolicyScope", scope)],
        )
        .await;
        queues.push(url);
    }
    // Name, body (none: a plain-text message), message attributes (name, type, value).
    type Published<'a> = (&'a str, serde_json::Value, Vec<(&'a str, &'a str, &'a str)>);
    let messages: [Published<'_>; 4] = [
        (
            "m1",
            serde_json::json!({"kind":"geojson","key":"Missouri/a.geojson","size":5,"site":{"name":"Missouri"}}),
            vec![
                ("kind", "String", "geojson"),
                ("key", "String", "Missouri/a.geojson"),
                ("size", "Number", "5"),
                ("ip", "String", "10.0.0.5"),
                ("tags", "String.Array", r#"["snow","swe"]"#),
            ],
        ),
        (
            "m2",
            serde_json::json!({"kind":"csv","key":"old/Missouri/b.csv","size":500,"site":{"name":"Ohio"}}),
            vec![
                ("kind", "String", "csv"),
                ("key", "String", "old/Missouri/b.csv"),
                ("size", "Number", "500"),
                ("ip", "String", "192.168.1.1"),
            ],
        ),
        ("m3", serde_json::Value::Null, vec![]),
        (
            "m4",
            serde_json::json!({"kind":"GeoJSON","key":"tmp/c.geojson","size":0}),
            vec![("kind", "String", "GeoJSON"), ("key", "String", "tmp/c.geojson"), ("size", "Number", "0")],
        ),
    ];
    for (name, body, attributes) in &messages {
        let mut body = body.clone();
        if let serde_json::Value::Object(map) = &mut body {
            map.insert("name".into(), serde_json::json!(name));
        }
        let text = if body.is_null() { format!("plain text {name}") } else { body.to_string() };
        let mut publish = sns.publish().topic_arn(&topic).message(text);
        for (k, t, v) in attributes {
            publish = publish.message_attributes(*k, attribute(t, v));
        }
        publish.send().await.expect("publish");
    }
    for ((policy, scope, expected), url) in cases.iter().zip(&queues) {
        let got: Vec<String> = all_bodies(&sqs, url)
            .await
            .iter()
            .map(|b| match serde_json::from_str::<serde_json::Value>(b) {
                Ok(v) => v["name"].as_str().unwrap_or_default().to_owned(),
                Err(_) => b.trim_start_matches("plain text ").to_owned(),
            })
            .collect();
        assert_eq!(got, *expected, "{policy} ({scope})");
    }
}

#[tokio::test]
async fn filter_policies_are_checked_when_set_and_can_be_changed_later() {
    let sandbox = TestSandbox::start().await;
    let (sns, sqs) = (sandbox.sns(), sandbox.sqs());
    let topic = sns.create_topic().name("checked").send().await.expect("topic").topic_arn().expect("arn").to_owned();
    sqs.create_queue().queue_name("q").send().await.expect("queue");
    let subscribe = |policy: &str| {
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint("arn:aws:sqs:us-east-1:000000000000:q")
            .attributes("FilterPolicy", policy)
            .send()
    };
    let err = subscribe("not json").await.expect_err("not JSON");
    assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_exception()), "{err:?}");
    assert!(
        format!("{err:?}").contains("Invalid parameter: Attributes Reason: FilterPolicy: failed to parse JSON."),
        "{err:?}"
    );
    let err = subscribe(r#"{"a":{"b":["c"]}}"#).await.expect_err("nested for the attributes scope");
    assert!(format!("{err:?}").contains("Filter policy scope MessageAttributes does not support nested filter policy"));
    let err = subscribe(r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#).await.expect_err("6 keys");
    assert!(format!("{err:?}").contains("Filter policy can not have more than 5 keys"), "{err:?}");

    let arn = subscribe(r#"{"kind":["geojson"]}"#).await.expect("valid").subscription_arn().expect("arn").to_owned();
    let again = subscribe(r#"{"kind":["csv"]}"#).await.expect_err("the same endpoint with other attributes");
    assert!(format!("{again:?}").contains("Subscription already exists with different attributes"), "{again:?}");
    let attributes = sns.get_subscription_attributes().subscription_arn(&arn).send().await.expect("attributes");
    let attributes = attributes.attributes().expect("map");
    assert_eq!(attributes.get("FilterPolicy").map(String::as_str), Some(r#"{"kind":["geojson"]}"#));
    assert_eq!(attributes.get("FilterPolicyScope").map(String::as_str), Some("MessageAttributes"));

    let bad = sns
        .set_subscription_attributes()
        .subscription_arn(&arn)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"kind":[]}"#)
        .send()
        .await
        .expect_err("empty array");
    assert!(format!("{bad:?}").contains("Invalid parameter: FilterPolicy: Empty arrays are not allowed"), "{bad:?}");
    let bad_scope = sns
        .set_subscription_attributes()
        .subscription_arn(&arn)
        .attribute_name("FilterPolicyScope")
        .attribute_value("Everything")
        .send()
        .await
        .expect_err("unknown scope");
    assert!(bad_scope.as_service_error().is_some_and(|e| e.is_invalid_parameter_exception()), "{bad_scope:?}");
    sns.set_subscription_attributes()
        .subscription_arn(&arn)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"kind":["csv"]}"#)
        .send()
        .await
        .expect("change");
    for kind in ["geojson", "csv"] {
        sns.publish()
            .topic_arn(&topic)
            .message(kind)
            .message_attributes("kind", attribute("String", kind))
            .send()
            .await
            .expect("publish");
    }
    let url = sqs.get_queue_url().queue_name("q").send().await.expect("url").queue_url().expect("url").to_owned();
    let envelopes = all_bodies(&sqs, &url).await;
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    assert!(envelopes[0].contains(r#""Message":"csv""#), "{envelopes:?}");
}

#[tokio::test]
async fn publish_batch_delivers_each_entry_and_reports_each_failure() {
    let sandbox = TestSandbox::start().await;
    let (sns, sqs) = (sandbox.sns(), sandbox.sqs());
    let topic = sns.create_topic().name("batch").send().await.expect("topic").topic_arn().expect("arn").to_owned();
    let url = filtered_queue(&sns, &sqs, &topic, "batch-q", &[]).await;
    let entry =
        |id: &str, message: &str| aws_sdk_sns::types::PublishBatchRequestEntry::builder().id(id).message(message);
    let bad_attribute = MessageAttributeValue::builder()
        .data_type("String")
        .binary_value(aws_sdk_sns::primitives::Blob::new("x"))
        .build();
    let out = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(entry("one", "first").build().expect("entry"))
        .publish_batch_request_entries(
            entry("bad", "refused").message_attributes("a", bad_attribute.expect("attribute")).build().expect("entry"),
        )
        .publish_batch_request_entries(entry("two", "second").build().expect("entry"))
        .send()
        .await
        .expect("batch");
    let mut ok: Vec<&str> = out.successful().iter().filter_map(|s| s.id()).collect();
    ok.sort_unstable();
    assert_eq!(ok, ["one", "two"]);
    assert_eq!(out.failed().iter().map(|f| (f.id(), f.code())).collect::<Vec<_>>(), [("bad", "ParameterValueInvalid")]);
    assert_eq!(all_bodies(&sqs, &url).await, ["first", "second"]);

    let eleven = (0..11).fold(sns.publish_batch().topic_arn(&topic), |call, i| {
        call.publish_batch_request_entries(entry(&format!("e{i}"), "x").build().expect("entry"))
    });
    let err = eleven.send().await.expect_err("11 entries");
    assert!(err.as_service_error().is_some_and(|e| e.is_too_many_entries_in_batch_request_exception()), "{err:?}");
    let twice = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(entry("same", "x").build().expect("entry"))
        .publish_batch_request_entries(entry("same", "y").build().expect("entry"))
        .send()
        .await
        .expect_err("ids not distinct");
    assert!(twice.as_service_error().is_some_and(|e| e.is_batch_entry_ids_not_distinct_exception()), "{twice:?}");
}

#[tokio::test]
async fn a_fifo_topic_passes_groups_and_deduplication_on_to_a_fifo_queue() {
    let sandbox = TestSandbox::start().await;
    let (sns, sqs) = (sandbox.sns(), sandbox.sqs());
    let topic = sns
        .create_topic()
        .name("ordered.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .send()
        .await
        .expect("FIFO topic")
        .topic_arn()
        .expect("arn")
        .to_owned();
    let standard =
        sns.create_topic().name("unordered").send().await.expect("topic").topic_arn().expect("arn").to_owned();
    let url = sqs
        .create_queue()
        .queue_name("ordered.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("FIFO queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let endpoint = "arn:aws:sqs:us-east-1:000000000000:ordered.fifo";
    let err =
        sns.subscribe().topic_arn(&standard).protocol("sqs").endpoint(endpoint).send().await.expect_err("standard");
    assert!(format!("{err:?}").contains("FIFO SQS Queues can not be subscribed to standard SNS topics"), "{err:?}");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(endpoint)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    let no_group = sns.publish().topic_arn(&topic).message("x").send().await.expect_err("no group");
    assert!(format!("{no_group:?}").contains("The MessageGroupId parameter is required for FIFO topics"));
    let mut ids = Vec::new();
    for body in ["1", "2", "2", "3"] {
        let out = sns.publish().topic_arn(&topic).message(body).message_group_id("site").send().await.expect("publish");
        assert!(out.sequence_number().is_some());
        ids.push(out.message_id().expect("id").to_owned());
    }
    assert_eq!(ids[1], ids[2], "the same content within 5 minutes is the same message");
    assert_eq!(all_bodies(&sqs, &url).await, ["1", "2", "3"]);
}
