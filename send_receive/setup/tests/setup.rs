//! The `setup` binary against sandboxes: an empty one becomes the whole pipeline and a second run
//! changes nothing; then the built `uploader` and `subscriber` move a file through S3 → SNS → SQS
//! with no Lambda. Also: the seeded sandbox's notifier is kept, `--lambda-arn` wires the function,
//! and someone else's notification is never overwritten.

use std::path::Path;
use std::process::Output;

use aws_sdk_sqs::types::QueueAttributeName;
use sandbox::{SEED_BUCKET, SEED_DLQ, SEED_QUEUE, SandboxOptions};
use serde_json::Value;
use testkit::{Clients, Machine, SandboxClients as _, TestSandbox, workspace_binary};

const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:SnowObservingSystemsDataAvailability";

/// A sandbox in this process (seeded or empty), and a working directory for the binaries.
struct World {
    sandbox: TestSandbox,
    machine: Machine,
    clients: Clients,
}

impl World {
    async fn start(seed: bool) -> Self {
        Self::start_with(|options| SandboxOptions { seed, ..options }).await
    }

    async fn start_with(options: impl FnOnce(SandboxOptions) -> SandboxOptions) -> Self {
        let sandbox = TestSandbox::with(options).await;
        let clients = sandbox.clients();
        Self { sandbox, machine: Machine::new(), clients }
    }

    /// Runs a binary in the work directory as a user on a machine with no AWS configuration would,
    /// the sandbox named by `--endpoint-url` (or by the `.env` setup writes).
    async fn run(&self, program: &Path, args: &[&str]) -> Output {
        self.machine.command(program).args(args).output().await.expect("the binary runs")
    }

    async fn setup(&self, args: &[&str]) -> (bool, String, String) {
        let url = self.sandbox.url().to_owned();
        let mut all = vec!["--endpoint-url", url.as_str()];
        all.extend_from_slice(args);
        let out = self.run(Path::new(env!("CARGO_BIN_EXE_setup")), &all).await;
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), stdout.into_owned(), stderr.into_owned())
    }

    fn queue_url(&self, name: &str) -> String {
        format!("{}/000000000000/{name}", self.sandbox.url())
    }

    async fn queue_attributes(&self, name: &str) -> std::collections::HashMap<QueueAttributeName, String> {
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(self.queue_url(name))
            .attribute_names(QueueAttributeName::All);
        out.send().await.expect("queue attributes").attributes.unwrap_or_default()
    }

    async fn topic_policy(&self) -> Option<Value> {
        let out = self.clients.sns.get_topic_attributes().topic_arn(TOPIC_ARN).send().await.expect("topic attributes");
        let policy = out.attributes().and_then(|a| a.get("Policy"))?;
        Some(serde_json::from_str(policy).expect("the topic policy is JSON"))
    }
}

fn statements(policy: &Value) -> &Vec<Value> {
    policy["Statement"].as_array().expect("a Statement list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_sandbox_becomes_the_pipeline_a_second_run_changes_nothing_and_files_flow_through_it() {
    let world = World::start(false).await;
    let c = &world.clients;
    assert!(c.s3.list_buckets().send().await.expect("list").buckets().is_empty(), "the sandbox starts empty");

    // First run: everything is made, and the .env written.
    let (ok, stdout, stderr) = world.setup(&["--env-file"]).await;
    assert!(ok, "setup failed: {stdout}\n{stderr}");
    assert!(stdout.contains("7. Done: 10 changes."), "{stdout}");
    assert!(!stdout.contains("in place"), "nothing existed before: {stdout}");
    let env = std::fs::read_to_string(world.machine.work().join(".env")).expect(".env written");
    assert_eq!(
        env,
        format!(
            "s3_bucket={SEED_BUCKET}\nsqs_url={}\nsns_topic_arn={TOPIC_ARN}\nAWS_ENDPOINT_URL={}\n",
            world.queue_url(SEED_QUEUE),
            world.sandbox.url()
        )
    );

    let queue_policy = check_what_the_first_run_made(&world).await;

    // Second run (the flag now comes from the .env it wrote): nothing to change, nothing changed.
    let (ok, stdout, stderr) = world.setup(&["--env-file"]).await;
    assert!(ok, "second run failed: {stdout}\n{stderr}");
    assert!(stdout.contains("7. Nothing to change: everything was already in place."), "{stdout}");
    assert_eq!(stdout.matches(": in place").count(), 10, "{stdout}");
    assert!(!stdout.contains("created") && !stdout.contains("updated"), "{stdout}");
    assert!(stdout.contains("# already in .env"), "{stdout}");
    assert_eq!(std::fs::read_to_string(world.machine.work().join(".env")).expect(".env"), env);
    assert_eq!(world.queue_attributes(SEED_QUEUE).await[&QueueAttributeName::Policy], queue_policy);

    check_that_files_flow_through(&world).await;
}

/// What setup's first run made, read back through the SDK: the bucket (versioned, with the
/// lifecycle rule), the queues, the subscription, both policies and the notification. Returns the
/// queue's policy, which a second run must leave as it is.
async fn check_what_the_first_run_made(world: &World) -> String {
    let c = &world.clients;
    c.s3.head_bucket().bucket(SEED_BUCKET).send().await.expect("the bucket exists");
    let versioning = c.s3.get_bucket_versioning().bucket(SEED_BUCKET).send().await.expect("versioning");
    assert_eq!(versioning.status(), Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled));
    let lifecycle = c.s3.get_bucket_lifecycle_configuration().bucket(SEED_BUCKET).send().await.expect("lifecycle");
    let [rule] = lifecycle.rules() else { panic!("one lifecycle rule: {lifecycle:?}") };
    assert_eq!(rule.id(), Some(setup::versions::LIFECYCLE_RULE_ID));
    assert_eq!(
        rule.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()),
        Some(setup::versions::DEFAULT_NONCURRENT_DAYS)
    );
    let dlq = world.queue_attributes(SEED_DLQ).await;
    assert_eq!(dlq.get(&QueueAttributeName::MessageRetentionPeriod).map(String::as_str), Some("1209600"));
    let dlq_arn = dlq.get(&QueueAttributeName::QueueArn).expect("DLQ ARN").clone();
    let queue = world.queue_attributes(SEED_QUEUE).await;
    let queue_arn = queue.get(&QueueAttributeName::QueueArn).expect("queue ARN").clone();
    let redrive: Value = serde_json::from_str(&queue[&QueueAttributeName::RedrivePolicy]).expect("redrive JSON");
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(redrive["maxReceiveCount"], 5);
    let policy: Value = serde_json::from_str(&queue[&QueueAttributeName::Policy]).expect("queue policy JSON");
    let [statement] = statements(&policy).as_slice() else { panic!("one statement: {policy}") };
    assert_eq!(statement["Principal"]["Service"], "sns.amazonaws.com");
    assert_eq!(statement["Action"], "sqs:SendMessage");
    assert_eq!(statement["Resource"], queue_arn.as_str());
    assert_eq!(statement["Condition"]["ArnEquals"]["aws:SourceArn"], TOPIC_ARN);
    let subscriptions = c.sns.list_subscriptions_by_topic().topic_arn(TOPIC_ARN).send().await.expect("subscriptions");
    let endpoints: Vec<_> = subscriptions.subscriptions().iter().map(|s| (s.protocol(), s.endpoint())).collect();
    assert_eq!(endpoints, [(Some("sqs"), Some(queue_arn.as_str()))]);
    let topic_policy = world.topic_policy().await.expect("a topic policy");
    let [statement] = statements(&topic_policy).as_slice() else { panic!("one statement: {topic_policy}") };
    assert_eq!(statement["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(statement["Condition"]["ArnLike"]["aws:SourceArn"], format!("arn:aws:s3:::{SEED_BUCKET}"));
    let notification = c.s3.get_bucket_notification_configuration().bucket(SEED_BUCKET).send().await.expect("get");
    let [entry] = notification.topic_configurations() else { panic!("one topic entry: {notification:?}") };
    assert_eq!(entry.topic_arn(), TOPIC_ARN);
    assert_eq!(entry.events().iter().map(|e| e.as_str()).collect::<Vec<_>>(), ["s3:ObjectCreated:*"]);
    assert!(notification.lambda_function_configurations().is_empty());
    queue[&QueueAttributeName::Policy].clone()
}

/// The pipeline works: uploader → S3 → SNS (S3's own event) → SQS → subscriber, configured only by
/// the .env that setup wrote.
async fn check_that_files_flow_through(world: &World) {
    let bytes: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(world.machine.work().join("run.bin"), &bytes).expect("sample file");
    let uploaded = world.run(&workspace_binary("uploader"), &["run.bin", "--key", "runs/model run 1.bin"]).await;
    assert!(uploaded.status.success(), "uploader: {}", String::from_utf8_lossy(&uploaded.stderr));
    let subscribed = world
        .run(
            &workspace_binary("subscriber"),
            &["--download-dir", "downloads", "--max-messages", "1", "--idle-exit", "60"],
        )
        .await;
    let sub_out = String::from_utf8_lossy(&subscribed.stdout);
    assert!(subscribed.status.success(), "subscriber: {sub_out}\n{}", String::from_utf8_lossy(&subscribed.stderr));
    let downloaded = std::fs::read(world.machine.work().join("downloads/runs/model run 1.bin")).expect("downloaded");
    assert!(downloaded == bytes, "the download differs from the upload");
    // The message was deleted once handled, and nothing failed into the dead-letter queue.
    for name in [SEED_QUEUE, SEED_DLQ] {
        let attributes = world.queue_attributes(name).await;
        for count in
            [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
        {
            assert_eq!(attributes.get(&count).map(String::as_str), Some("0"), "{name} {count}");
        }
    }
}

#[tokio::test]
async fn on_the_seeded_sandbox_the_notifier_function_is_kept_and_only_the_queue_policy_is_added() {
    let world = World::start(true).await;
    let (ok, stdout, stderr) = world.setup(&[]).await;
    assert!(ok, "setup failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("already goes to the function {}; kept", sandbox::notify::NOTIFIER_ARN)),
        "{stdout}"
    );
    assert!(stdout.contains("queue policy (the topic may send): created"), "{stdout}");
    assert!(stdout.contains("versioning: in place"), "the seeded bucket is versioned: {stdout}");
    assert!(stdout.contains("lifecycle (replaced versions expire after 30 days): created"), "{stdout}");
    assert!(stdout.contains("7. Done: 2 changes."), "{stdout}");
    assert!(!stdout.contains("topic policy"), "S3 does not publish to the topic itself here: {stdout}");
    assert_eq!(world.topic_policy().await, None);
    let (ok, stdout, _) = world.setup(&[]).await;
    assert!(ok && stdout.contains("7. Nothing to change"), "{stdout}");
}

#[tokio::test]
async fn with_lambda_arn_new_objects_go_to_the_notifier_function_which_publishes_our_format() {
    let world = World::start(false).await;
    let (ok, stdout, stderr) = world.setup(&["--lambda-arn", sandbox::notify::NOTIFIER_ARN]).await;
    assert!(ok, "setup failed: {stdout}\n{stderr}");
    assert!(stdout.contains("6. Bucket → notifier function → topic"), "{stdout}");
    assert!(!stdout.contains("topic policy"), "{stdout}");
    let c = &world.clients;
    let notification = c.s3.get_bucket_notification_configuration().bucket(SEED_BUCKET).send().await.expect("get");
    let [entry] = notification.lambda_function_configurations() else { panic!("{notification:?}") };
    assert_eq!(entry.lambda_function_arn(), sandbox::notify::NOTIFIER_ARN);
    assert!(notification.topic_configurations().is_empty());

    c.s3.put_object()
        .bucket(SEED_BUCKET)
        .key("a b.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
        .send()
        .await
        .expect("put");
    let received = c.sqs.receive_message().queue_url(world.queue_url(SEED_QUEUE)).wait_time_seconds(10).send().await;
    let received = received.expect("receive");
    let [message] = received.messages() else { panic!("one announcement: {received:?}") };
    let envelope: Value = serde_json::from_str(message.body().expect("body")).expect("SNS envelope");
    let announcement: Value = serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("JSON");
    assert_eq!(announcement["key"], "a b.txt");
    assert_eq!(announcement["size"], 5);
    assert_eq!(envelope["TopicArn"], TOPIC_ARN);
    let (ok, stdout, _) = world.setup(&["--lambda-arn", sandbox::notify::NOTIFIER_ARN]).await;
    assert!(ok && stdout.contains("7. Nothing to change"), "{stdout}");
}

#[tokio::test]
async fn another_destination_for_new_objects_is_reported_and_left_alone() {
    let world = World::start(false).await;
    let c = &world.clients;
    c.s3.create_bucket().bucket(SEED_BUCKET).send().await.expect("bucket");
    let other = c.sqs.create_queue().queue_name("someone-elses").send().await.expect("queue");
    let other_arn = "arn:aws:sqs:us-east-1:000000000000:someone-elses";
    let config = aws_sdk_s3::types::NotificationConfiguration::builder()
        .queue_configurations(
            aws_sdk_s3::types::QueueConfiguration::builder()
                .queue_arn(other_arn)
                .events(aws_sdk_s3::types::Event::S3ObjectCreatedPut)
                .build()
                .expect("entry"),
        )
        .build();
    c.s3.put_bucket_notification_configuration()
        .bucket(SEED_BUCKET)
        .notification_configuration(config)
        .send()
        .await
        .expect("configure");
    assert!(other.queue_url().is_some());

    let (ok, stdout, stderr) = world.setup(&[]).await;
    assert!(!ok, "setup must refuse: {stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(other_arn) && errors[0].contains("one destination per event"), "{stderr}");
    let after = c.s3.get_bucket_notification_configuration().bucket(SEED_BUCKET).send().await.expect("get");
    let [entry] = after.queue_configurations() else { panic!("{after:?}") };
    assert_eq!(entry.queue_arn(), other_arn);
    assert!(after.topic_configurations().is_empty());
    // Everything before that step was made; a .env is printed only on success.
    assert!(stdout.contains("subscription: created"), "{stdout}");
    assert!(!stdout.contains("s3_bucket="), "{stdout}");
}

#[tokio::test]
async fn where_every_call_needs_mfa_setup_works_with_mfa_and_says_why_without() {
    let world = World::start_with(|o| SandboxOptions { seed: false, require_mfa: true, ..o }).await;
    let (ok, stdout, stderr) = world.setup(&[]).await;
    assert!(!ok, "the long-term key alone must be refused: {stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert!(errors.len() == 1 && errors[0].contains("MFA"), "{stderr}");

    let code = sandbox::mfa::MfaDevice::new(sandbox::mfa::DEFAULT_MFA_SECRET).expect("device").current_code();
    let serial = sandbox::identity::MFA_SERIAL;
    let (ok, stdout, stderr) =
        world.setup(&["--mfa", "--mfa-serial", serial, "--token-code", &code, "--no-cache"]).await;
    assert!(ok, "setup with MFA failed: {stdout}\n{stderr}");
    assert!(stdout.contains("7. Done: 10 changes."), "{stdout}");
    assert!(!stdout.contains(&code), "the code is not printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_adds_an_application_with_its_dlq_and_subscription_and_leaves_the_others_as_they_were() {
    let world = World::start(false).await;
    let c = &world.clients;
    let (ok, stdout, stderr) = world.setup(&[]).await;
    assert!(ok, "{stdout}\n{stderr}");
    let first = world.queue_attributes(SEED_QUEUE).await;

    // A second application's queue.
    let (ok, stdout, stderr) = world.setup(&["--queue", "ForecastApp"]).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("ForecastApp-dlq (dead-letter queue): created"), "{stdout}");
    assert!(stdout.contains("ForecastApp (to ForecastApp-dlq after 5 receives): created"), "{stdout}");
    assert!(stdout.contains("subscription: created"), "{stdout}");
    assert!(stdout.contains(&format!("sqs_url={}", world.queue_url("ForecastApp"))), "{stdout}");
    assert_eq!(world.queue_attributes(SEED_QUEUE).await, first, "the first application's queue is untouched");
    let second = world.queue_attributes("ForecastApp").await;
    let redrive: Value = serde_json::from_str(&second[&QueueAttributeName::RedrivePolicy]).expect("redrive");
    assert_eq!(
        redrive["deadLetterTargetArn"],
        world.queue_attributes("ForecastApp-dlq").await[&QueueAttributeName::QueueArn].as_str()
    );
    let subscriptions = c.sns.list_subscriptions_by_topic().topic_arn(TOPIC_ARN).send().await.expect("subscriptions");
    let mut endpoints: Vec<&str> = subscriptions.subscriptions().iter().filter_map(|s| s.endpoint()).collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [second[&QueueAttributeName::QueueArn].as_str(), first[&QueueAttributeName::QueueArn].as_str()],
        "both queues subscribed"
    );

    // Fan-out: one upload, one announcement on each queue.
    let bytes = b"for every application".to_vec();
    std::fs::write(world.machine.work().join("both.txt"), &bytes).expect("file");
    let url = world.sandbox.url().to_owned();
    let uploaded = world.run(&workspace_binary("uploader"), &["both.txt", "--endpoint-url", &url]).await;
    assert!(uploaded.status.success(), "{}", String::from_utf8_lossy(&uploaded.stderr));
    // S3 also sent its s3:TestEvent through the topic when the bucket's notification was set:
    // the seeded queue may hold it before the announcement.
    for queue in [SEED_QUEUE, "ForecastApp"] {
        let mut announcements = Vec::new();
        for _ in 0..5 {
            let got = c.sqs.receive_message().queue_url(world.queue_url(queue)).wait_time_seconds(5);
            let got = got.max_number_of_messages(10).send().await.expect("receive");
            let bodies = got.messages().iter().filter_map(|m| m.body()).map(str::to_owned);
            announcements.extend(bodies.filter(|body| !body.contains("s3:TestEvent")));
            if !announcements.is_empty() {
                break;
            }
        }
        let [body] = &announcements[..] else { panic!("one announcement on {queue}: {announcements:?}") };
        assert!(body.contains("both.txt"), "{queue}: {body}");
    }
}
