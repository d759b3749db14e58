//! # setup — make the pipeline's bucket, topic, queues and wiring, on any target
//!
//! In the original the bucket, the SNS topic, the SQS queue, the subscription and the bucket's
//! notification were made by hand in the AWS console. This example makes them with the SDK on
//! whatever target `common` picks — the sandbox, LocalStack, moto, or AWS — and looks before it
//! changes anything, so a second run changes nothing and says so. (`infra/template.yaml` deploys
//! the same names to AWS with CloudFormation, Lambda included.)
//!
//! ```text
//! cargo run -p sandbox -- --no-seed                        # an empty sandbox, in another terminal
//! cargo run -p setup -- --endpoint-url http://127.0.0.1:4566 --env-file
//! cargo run -p setup -- --bucket my-sos-data               # on AWS (bucket names are global)
//! cargo run -p setup -- --bucket my-sos-data --lambda-arn arn:aws:lambda:us-east-1:123456789012:function:sos-notifier
//! ```
//!
//! 1. Connect (with `--mfa`, through an MFA session as the original did).
//! 2. The bucket, versioned (every upload kept, even of the same key), with a lifecycle rule that
//!    expires a replaced version after `--noncurrent-days` days.
//! 3. The dead-letter queue, then the queue with its redrive policy.
//! 4. The topic.
//! 5. The queue policy (only the topic may send), and the queue's subscription to the topic.
//! 6. The bucket's notification: every new object's event straight to the topic (S3 → SNS, where
//!    no Lambda runs; the topic policy lets S3 publish), or with `--lambda-arn` to the notifier
//!    function (S3 → Lambda → SNS).
//! 7. The `.env` lines for `uploader` and `subscriber`.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    NotificationConfiguration, VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use clap::Parser;
use common::target::SandboxReason;
use common::{Aws, CommonArgs, OptionalMfa, Target};
use setup::notification::{Destination, Plan};
use setup::policy;

/// Make the SOS pipeline's bucket, topic, queue (with dead-letter queue), subscription and bucket
/// notification, or check that they are in place; print the .env lines for uploader and subscriber.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// The SNS topic that announces new data.
    #[arg(long, env = "SOS_TOPIC", default_value = common::DEFAULT_TOPIC)]
    topic: String,

    /// The SQS queue subscribed to the topic; its dead-letter queue is named QUEUE-dlq.
    #[arg(long, env = "SOS_QUEUE", default_value = common::DEFAULT_QUEUE)]
    queue: String,

    /// Receives after which a message that keeps failing moves to the dead-letter queue.
    #[arg(long, default_value_t = setup::DEFAULT_MAX_RECEIVES, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_receives: u32,

    /// Days a replaced version of an object is kept before S3 expires it (the bucket is
    /// versioned, so a second upload of a key keeps the first; this lifecycle rule bounds what
    /// that costs).
    #[arg(long, value_name = "DAYS", default_value_t = setup::versions::DEFAULT_NONCURRENT_DAYS,
          value_parser = clap::value_parser!(i32).range(1..=36500))]
    noncurrent_days: i32,

    /// Send the bucket's ObjectCreated events to this Lambda function (the deployed notifier)
    /// instead of straight to the topic. setup does not create the function or its permission
    /// to be invoked by S3: deploy infra/template.yaml for that.
    #[arg(long, env = "SOS_NOTIFIER_ARN", value_name = "ARN")]
    lambda_arn: Option<String>,

    /// Also write the settings into this .env file (default ./.env): its lines for these keys
    /// are replaced, every other line is kept.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = ".env")]
    env_file: Option<PathBuf>,

    #[command(flatten)]
    mfa: OptionalMfa,

    #[command(flatten)]
    common: CommonArgs,
}

/// What a step found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    InPlace,
}

/// Prints one step's result and counts the changes.
#[derive(Debug, Default)]
struct Report {
    changes: u32,
}

impl Report {
    fn step(&mut self, what: &str, outcome: Outcome) {
        let said = match outcome {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::InPlace => "in place",
        };
        if outcome != Outcome::InPlace {
            self.changes += 1;
        }
        println!("   {what}: {said}");
    }
}

async fn run(opt: Opt) -> anyhow::Result<()> {
    let bucket = opt.common.bucket();
    let mut report = Report::default();

    // 1. Connect (with --mfa, through an MFA session). One SDK configuration serves the S3, SQS
    //    and SNS clients.
    let aws = Aws::load(&opt.common).await?;
    println!("{}", aws.announcement());
    if let Target::Sandbox { embedded: true, .. } = aws.target() {
        println!(
            "Note: this embedded sandbox ends with this command, and its topics, queues and notifications with it \
             (the bucket stays on disk). For a lasting pipeline run `cargo run -p sandbox -- --no-seed` in another \
             terminal, then setup again."
        );
    }
    let config = if opt.mfa.enabled {
        aws.mfa_session_config(opt.common.profile.as_deref(), &opt.mfa.args).await?
    } else {
        aws.sdk_config().clone()
    };
    let s3 = aws.s3_client_with(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let region = config.region().map(|r| r.as_ref().to_owned()).unwrap_or_else(|| "us-east-1".into());
    println!("\n1. Connected (region {region}).");

    // 2. The bucket, versioned so that a second upload of a key keeps the first (each
    //    announcement names its version), and a lifecycle rule so that replaced versions do not
    //    pile up for ever.
    println!("\n2. Bucket");
    report.step(&format!("s3://{bucket}"), ensure_bucket(&s3, &bucket, &region).await?);
    report.step("versioning", ensure_versioning(&s3, &bucket).await?);
    let rule = format!("lifecycle (replaced versions expire after {} days)", opt.noncurrent_days);
    report.step(&rule, ensure_lifecycle(&s3, &bucket, opt.noncurrent_days).await?);

    // 3. The dead-letter queue first (the queue's redrive policy names it), kept 14 days so a
    //    failed announcement can be inspected; then the queue, which moves a message there after
    //    --max-receives failed receives.
    println!("\n3. Queues");
    let dlq_name = setup::dead_letter_queue_name(&opt.queue);
    let retention = setup::DLQ_RETENTION_SECONDS.to_string();
    let dlq = ensure_queue(&sqs, &dlq_name, &[(QueueAttributeName::MessageRetentionPeriod, retention)]).await?;
    report.step(&format!("{dlq_name} (dead-letter queue)"), dlq.outcome);
    let redrive = policy::redrive_policy(&dlq.arn, opt.max_receives);
    let queue = ensure_queue(&sqs, &opt.queue, &[(QueueAttributeName::RedrivePolicy, redrive)]).await?;
    report.step(&format!("{} (to {dlq_name} after {} receives)", opt.queue, opt.max_receives), queue.outcome);

    // 4. The topic.
    println!("\n4. Topic");
    let (topic_arn, outcome) = ensure_topic(&sns, &opt.topic).await?;
    report.step(&topic_arn, outcome);

    // 5. Let the topic (and only it) send to the queue, then subscribe the queue.
    println!("\n5. Topic → queue");
    report.step("queue policy (the topic may send)", ensure_queue_policy(&sqs, &queue, &topic_arn).await?);
    report.step("subscription", ensure_subscription(&sns, &topic_arn, &queue).await?);

    // 6. The bucket's notification: to the topic, or with --lambda-arn to the notifier function.
    let destination = match &opt.lambda_arn {
        Some(arn) => Destination::Lambda(arn),
        None => Destination::Topic(&topic_arn),
    };
    println!("\n6. Bucket → {}", if opt.lambda_arn.is_some() { "notifier function → topic" } else { "topic" });
    ensure_notification(&s3, &sns, &bucket, destination, &mut report).await?;

    // 7. What uploader and subscriber need, in the `.env` keys of the original scripts.
    if report.changes == 0 {
        println!("\n7. Nothing to change: everything was already in place.");
    } else {
        println!("\n7. Done: {} change{}.", report.changes, if report.changes == 1 { "" } else { "s" });
    }
    print_env_lines(&aws, &bucket, &queue.url, &topic_arn, opt.env_file.as_deref())
}

/// Step 2: HeadBucket says whether the bucket exists and is ours; outside us-east-1, CreateBucket
/// needs the region as its location constraint.
async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) -> anyhow::Result<Outcome> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(Outcome::InPlace),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
            let mut create = s3.create_bucket().bucket(bucket);
            if region != "us-east-1" {
                let location = BucketLocationConstraint::from(region);
                create = create.create_bucket_configuration(
                    CreateBucketConfiguration::builder().location_constraint(location).build(),
                );
            }
            match create.send().await {
                Ok(_) => Ok(Outcome::Created),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {
                    Ok(Outcome::InPlace)
                }
                Err(err) if err.as_service_error().is_some_and(|e| e.is_bucket_already_exists()) => bail!(
                    "the bucket name {bucket} is taken by another AWS account (bucket names are global); choose \
                     another with --bucket"
                ),
                Err(err) => Err(err).with_context(|| format!("creating bucket {bucket}")),
            }
        }
        // A HEAD response has no body, so S3 cannot say why; name the usual reasons.
        Err(err) if err.raw_response().is_some_and(|r| r.status().as_u16() == 403) => bail!(
            "access to bucket {bucket} denied (403): it belongs to another account (bucket names are global: \
             choose another with --bucket), or this identity may not use it (it lacks s3:ListBucket, or a policy \
             requires MFA: add --mfa)"
        ),
        Err(err) => Err(err).with_context(|| format!("looking for bucket {bucket}")),
    }
}

/// Step 2: versioning on (GetBucketVersioning first, so a second run changes nothing).
async fn ensure_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Outcome> {
    let current = s3.get_bucket_versioning().bucket(bucket).send().await;
    let current = current.with_context(|| format!("reading the versioning of bucket {bucket}"))?;
    if current.status() == Some(&BucketVersioningStatus::Enabled) {
        return Ok(Outcome::InPlace);
    }
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    let put = s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await;
    put.with_context(|| format!("turning on versioning for bucket {bucket}"))?;
    Ok(Outcome::Updated)
}

/// Step 2: the lifecycle rule that expires replaced versions, beside any other rules the bucket has.
async fn ensure_lifecycle(s3: &aws_sdk_s3::Client, bucket: &str, days: i32) -> anyhow::Result<Outcome> {
    let existing = match s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => out.rules().to_vec(),
        Err(err) if err.code() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(err) => return Err(err).with_context(|| format!("reading the lifecycle rules of bucket {bucket}")),
    };
    let Some(rules) = setup::versions::lifecycle_plan(&existing, days) else { return Ok(Outcome::InPlace) };
    let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build()?;
    let put = s3.put_bucket_lifecycle_configuration().bucket(bucket).lifecycle_configuration(config).send().await;
    put.with_context(|| format!("setting the lifecycle rules of bucket {bucket}"))?;
    Ok(if existing.is_empty() { Outcome::Created } else { Outcome::Updated })
}

/// Step 4: CreateTopic returns the ARN of an existing topic too; listing first tells whether this
/// run made it.
async fn ensure_topic(sns: &aws_sdk_sns::Client, name: &str) -> anyhow::Result<(String, Outcome)> {
    let mut topics = sns.list_topics().into_paginator().items().send();
    while let Some(topic) = topics.try_next().await.context("listing SNS topics")? {
        if let Some(arn) = topic.topic_arn().filter(|arn| arn.rsplit(':').next() == Some(name)) {
            return Ok((arn.to_owned(), Outcome::InPlace));
        }
    }
    let created = sns.create_topic().name(name).send().await.with_context(|| format!("creating topic {name}"))?;
    Ok((created.topic_arn().context("CreateTopic returned no ARN")?.to_owned(), Outcome::Created))
}

/// Step 5, the queue's policy: only the topic may send to the queue.
async fn ensure_queue_policy(sqs: &aws_sdk_sqs::Client, queue: &Queue, topic_arn: &str) -> anyhow::Result<Outcome> {
    let statement = policy::queue_statement(&queue.arn, topic_arn);
    let existing = queue.attributes.get(&QueueAttributeName::Policy).map(String::as_str);
    let Some(merged) = policy::merged(existing, &statement).with_context(|| format!("the policy of {}", queue.url))?
    else {
        return Ok(Outcome::InPlace);
    };
    sqs.set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(QueueAttributeName::Policy, merged)
        .send()
        .await
        .with_context(|| format!("setting the policy of {}", queue.url))?;
    Ok(if existing.is_some() { Outcome::Updated } else { Outcome::Created })
}

/// Step 5, the subscription: SNS wraps each message in its JSON envelope (RawMessageDelivery
/// stays false), which the subscriber reads.
async fn ensure_subscription(sns: &aws_sdk_sns::Client, topic_arn: &str, queue: &Queue) -> anyhow::Result<Outcome> {
    let mut subscriptions = sns.list_subscriptions_by_topic().topic_arn(topic_arn).into_paginator().items().send();
    while let Some(subscription) = subscriptions.try_next().await.context("listing the topic's subscriptions")? {
        if subscription.protocol() == Some("sqs") && subscription.endpoint() == Some(queue.arn.as_str()) {
            return Ok(Outcome::InPlace);
        }
    }
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(&queue.arn)
        .send()
        .await
        .with_context(|| format!("subscribing {} to the topic", queue.url))?;
    Ok(Outcome::Created)
}

/// Step 6. PutBucketNotificationConfiguration replaces the whole configuration, so read it, add
/// this pipeline's entry and keep the others. S3 checks the destination when the configuration is
/// written, so the topic's policy comes first.
async fn ensure_notification(
    s3: &aws_sdk_s3::Client,
    sns: &aws_sdk_sns::Client,
    bucket: &str,
    destination: Destination<'_>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let current = s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("reading the notification configuration of {bucket}"))?;
    let current = NotificationConfiguration::builder()
        .set_topic_configurations(current.topic_configurations)
        .set_queue_configurations(current.queue_configurations)
        .set_lambda_function_configurations(current.lambda_function_configurations)
        .set_event_bridge_configuration(current.event_bridge_configuration)
        .build();
    let plan = setup::notification::plan(&current, destination).with_context(|| format!("bucket {bucket}"))?;
    if let (Destination::Topic(topic_arn), Plan::InPlace | Plan::Put(_)) = (destination, &plan) {
        let outcome = ensure_topic_policy(sns, topic_arn, bucket).await?;
        report.step("topic policy (S3 may publish this bucket's events)", outcome);
    }
    let outcome = match plan {
        Plan::InPlace => Outcome::InPlace,
        Plan::LambdaKept(function) => {
            println!("   every new object already goes to the function {function}; kept");
            Outcome::InPlace
        }
        Plan::Put(config) => {
            s3.put_bucket_notification_configuration()
                .bucket(bucket)
                .notification_configuration(config)
                .send()
                .await
                .with_context(|| format!("setting the notification configuration of {bucket}"))?;
            if current_is_empty(&current) { Outcome::Created } else { Outcome::Updated }
        }
    };
    report.step(&format!("{} on s3://{bucket}", setup::OBJECT_CREATED_EVENTS), outcome);
    Ok(())
}

/// Step 6, the topic's policy: S3 may publish this bucket's events to the topic.
async fn ensure_topic_policy(sns: &aws_sdk_sns::Client, topic_arn: &str, bucket: &str) -> anyhow::Result<Outcome> {
    let statement =
        policy::topic_statement(topic_arn, bucket).with_context(|| format!("{topic_arn} is not an SNS topic ARN"))?;
    let attributes = sns
        .get_topic_attributes()
        .topic_arn(topic_arn)
        .send()
        .await
        .with_context(|| format!("reading the attributes of {topic_arn}"))?;
    let existing = attributes.attributes().and_then(|a| a.get("Policy")).map(String::as_str);
    let Some(merged) = policy::merged(existing, &statement).context("the topic's policy")? else {
        return Ok(Outcome::InPlace);
    };
    sns.set_topic_attributes()
        .topic_arn(topic_arn)
        .attribute_name("Policy")
        .attribute_value(merged)
        .send()
        .await
        .context("setting the topic's policy")?;
    Ok(if existing.is_some() { Outcome::Updated } else { Outcome::Created })
}

/// Step 7: the `.env` lines for uploader and subscriber, written into `env_file` too if given.
fn print_env_lines(
    aws: &Aws,
    bucket: &str,
    queue_url: &str,
    topic_arn: &str,
    env_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut lines: Vec<(&str, &str)> = vec![
        (common::settings::DOTENV_BUCKET, bucket),
        (common::settings::DOTENV_QUEUE_URL, queue_url),
        (common::settings::DOTENV_TOPIC_ARN, topic_arn),
    ];
    match aws.target() {
        Target::Endpoint { url, .. } => lines.push(("AWS_ENDPOINT_URL", url)),
        Target::Sandbox { reason: SandboxReason::Asked, .. } => lines.push(("SOS_SANDBOX", "true")),
        Target::Sandbox { .. } | Target::Aws { .. } => {}
    }
    println!("\n# .env for uploader and subscriber");
    for (key, value) in &lines {
        println!("{key}={value}");
    }
    if let Some(path) = env_file {
        let changed = setup::env_file::write(path, &lines).with_context(|| format!("writing {}", path.display()))?;
        println!("# {} {}", if changed { "written to" } else { "already in" }, path.display());
    }
    Ok(())
}

/// A queue as `setup` found or made it.
struct Queue {
    url: String,
    arn: String,
    attributes: HashMap<QueueAttributeName, String>,
    outcome: Outcome,
}

// ANCHOR: ensure_queue
/// Finds queue `name` and sets any of `wanted` that differ, or creates it with `wanted`.
async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    wanted: &[(QueueAttributeName, String)],
) -> anyhow::Result<Queue> {
    let (url, created) = match sqs.get_queue_url().queue_name(name).send().await {
        Ok(found) => (found.queue_url().context("GetQueueUrl returned no URL")?.to_owned(), false),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()) => {
            let created = sqs
                .create_queue()
                .queue_name(name)
                .set_attributes(Some(wanted.iter().cloned().collect()))
                .send()
                .await
                .with_context(|| format!("creating queue {name}"))?;
            (created.queue_url().context("CreateQueue returned no URL")?.to_owned(), true)
        }
        Err(err) => return Err(err).with_context(|| format!("looking for queue {name}")),
    };
    let found = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .with_context(|| format!("reading the attributes of queue {name}"))?;
    let mut attributes = found.attributes.unwrap_or_default();
    let arn =
        attributes.get(&QueueAttributeName::QueueArn).with_context(|| format!("queue {name} has no ARN"))?.clone();

    let differing: HashMap<QueueAttributeName, String> = wanted
        .iter()
        .filter(|(attribute, value)| {
            let have = attributes.get(attribute).map(String::as_str);
            match attribute {
                QueueAttributeName::RedrivePolicy => !policy::redrive_matches(have, value),
                _ => have != Some(value.as_str()),
            }
        })
        .cloned()
        .collect();
    let outcome = if created {
        Outcome::Created
    } else if differing.is_empty() {
        Outcome::InPlace
    } else {
        sqs.set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(differing.clone()))
            .send()
            .await
            .with_context(|| format!("updating queue {name}"))?;
        attributes.extend(differing);
        Outcome::Updated
    };
    Ok(Queue { url, arn, attributes, outcome })
}
// ANCHOR_END: ensure_queue

fn current_is_empty(config: &NotificationConfiguration) -> bool {
    config.topic_configurations().is_empty()
        && config.queue_configurations().is_empty()
        && config.lambda_function_configurations().is_empty()
}

common::example_main!(Opt, run);
