//! The `notifier` Lambda function: S3 `ObjectCreated` events in, one SNS message per new object out.
//!
//! The logic is [`notifier::handle`]; this binary only wires it to the Lambda runtime. It reads the topic to
//! publish to from the environment variable `TOPIC_ARN` and builds its SNS client from the function's role.
//!
//! # Deploying
//!
//! Build it with [cargo-lambda](https://www.cargo-lambda.info) (Amazon Linux 2023, `bootstrap` executable):
//!
//! ```text
//! cargo lambda build --release -p notifier          # → target/lambda/notifier/bootstrap
//! cargo lambda build --release --arm64 -p notifier  # for a Graviton (arm64) function
//! ```
//!
//! Then create the function with runtime `provided.al2023`, handler `bootstrap` (the zip of
//! `target/lambda/notifier/`), the environment variable `TOPIC_ARN` set to the SNS topic's ARN, and a role allowed
//! `sns:Publish` on that topic (plus the basic execution policy for CloudWatch Logs). Allow S3 to invoke it
//! (`lambda:InvokeFunction` for principal `s3.amazonaws.com`, source ARN the bucket) and add an `s3:ObjectCreated:*`
//! notification on the bucket that targets the function. `cargo lambda deploy notifier --env-var TOPIC_ARN=…` does
//! the first part; the `infra/` template does all of it. Logs go to CloudWatch; `RUST_LOG` (or the function's
//! logging configuration) sets the level.

use aws_config::BehaviorVersion;
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};

/// The environment variable naming the SNS topic to publish to.
const TOPIC_ARN_VAR: &str = "TOPIC_ARN";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();

    let topic_arn = match topic_arn_from_env() {
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

/// The topic ARN from `TOPIC_ARN`, or a message saying what to set.
fn topic_arn_from_env() -> Result<String, String> {
    match std::env::var(TOPIC_ARN_VAR) {
        Ok(topic_arn) if !topic_arn.trim().is_empty() => Ok(topic_arn.trim().to_owned()),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(format!(
            "{TOPIC_ARN_VAR} is not set: set it in the function's environment to the ARN of the SNS topic to publish \
             to, e.g. arn:aws:sns:us-east-1:123456789012:SnowObservingSystemsDataAvailability"
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{TOPIC_ARN_VAR} is not valid UTF-8")),
    }
}
