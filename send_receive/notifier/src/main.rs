//! The `notifier` Lambda function: S3 `ObjectCreated` events in, one SNS message per new object out.
//!
//! The logic is [`notifier::handle`]; this binary only wires it to the Lambda runtime. It reads the topic to
//! publish to from the environment variable `TOPIC_ARN` and builds its SNS client from the function's role.
//!
//! # Deploying
//!
//! `infra/template.yaml` deploys it with everything around it; the README's "Deploy to AWS" has the
//! commands. The package is built with [cargo-lambda](https://www.cargo-lambda.info) (`bash
//! scripts/python-env` installs it in `.venv`, with the zig it links with, so the binary runs on
//! Amazon Linux 2023's glibc):
//!
//! ```text
//! cargo lambda build --profile lambda --output-format zip -p notifier          # → target/lambda/notifier/bootstrap.zip
//! cargo lambda build --profile lambda --output-format zip --arm64 -p notifier  # for Graviton (needs the aarch64 target)
//! ```
//!
//! By hand: a function with runtime `provided.al2023`, handler `bootstrap`, that zip, the environment
//! variable `TOPIC_ARN` set to the SNS topic's ARN, and a role allowed `sns:Publish` on that topic and
//! to write its log group; S3 allowed to invoke it (`lambda:InvokeFunction` for `s3.amazonaws.com`,
//! source ARN the bucket); and an `s3:ObjectCreated:*` notification on the bucket that targets it
//! (`cargo run -p setup -- --lambda-arn <function ARN>` adds one). `RUST_LOG` sets the log level.
//!
//! `tests/runtime_api.rs` runs this binary under a local Lambda Runtime API, publishing to a sandbox.

use aws_config::BehaviorVersion;
use aws_lambda_events::event::s3::S3Event;
use clap::Parser;
use lambda_runtime::{LambdaEvent, service_fn};

/// The environment variable naming the SNS topic to publish to.
const TOPIC_ARN_VAR: &str = "TOPIC_ARN";

/// The SOS pipeline's Lambda function: each S3 ObjectCreated event in, one SNS announcement out.
///
/// Lambda runs it with no arguments, under its Runtime API (`AWS_LAMBDA_RUNTIME_API`), with the
/// topic's ARN in TOPIC_ARN. Build the package with `cargo lambda build --profile lambda
/// --output-format zip -p notifier`; infra/template.yaml deploys it.
#[derive(Debug, Parser)]
#[command(version)]
struct Opt {
    /// The ARN of the SNS topic to publish the announcements to.
    #[arg(long, env = TOPIC_ARN_VAR, value_name = "ARN")]
    topic_arn: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // `--help` and `--version` print and exit here, before anything needs TOPIC_ARN.
    let opt = Opt::parse();
    lambda_runtime::tracing::init_default_subscriber();

    let topic_arn = match topic_arn(opt.topic_arn) {
        Ok(topic_arn) => topic_arn,
        Err(message) => {
            tracing::error!("{message}");
            return Err(message.into());
        }
    };
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let sns = aws_sdk_sns::Client::new(&config);

    let (sns, topic_arn) = (&sns, topic_arn.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        notifier::handle(event.payload, sns, topic_arn).await
    }))
    .await
}

/// The topic ARN from `--topic-arn` or `TOPIC_ARN`, or a message saying what to set.
fn topic_arn(given: Option<String>) -> Result<String, String> {
    match given {
        Some(topic_arn) if !topic_arn.trim().is_empty() => Ok(topic_arn.trim().to_owned()),
        _ => Err(format!(
            "{TOPIC_ARN_VAR} is not set: set it in the function's environment to the ARN of the SNS topic to publish \
             to, e.g. arn:aws:sns:us-east-1:123456789012:SnowObservingSystemsDataAvailability"
        )),
    }
}
