//! Adding the pipeline's entry to a bucket's notification configuration.
//!
//! `PutBucketNotificationConfiguration` replaces the whole configuration, and S3 refuses two
//! entries that share an event type for keys both could match. So `setup` reads the current
//! configuration, keeps every entry that is not its own, and adds its entry only when no other
//! one already takes the bucket's `ObjectCreated` events.

use aws_sdk_s3::types::{
    Event, LambdaFunctionConfiguration, NotificationConfiguration, NotificationConfigurationFilter, TopicConfiguration,
};

use crate::{NOTIFICATION_ID, OBJECT_CREATED_EVENTS};

/// Where the bucket's `ObjectCreated` events should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// Straight to the SNS topic (S3 → SNS): no Lambda needed; subscribers get S3's own event.
    Topic(&'a str),
    /// To the notifier Lambda function, which publishes to the topic (S3 → Lambda → SNS).
    Lambda(&'a str),
}

impl Destination<'_> {
    fn arn(&self) -> &str {
        match self {
            Self::Topic(arn) | Self::Lambda(arn) => arn,
        }
    }
}

/// What to do with the bucket's configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The configuration already sends every new object's event to the destination.
    InPlace,
    /// A Lambda function already receives every new object's event; it is left alone (it is the
    /// deployed or sandbox notifier, which publishes to the topic).
    LambdaKept(String),
    /// Write this configuration: the current one with the pipeline's entry added or corrected.
    Put(NotificationConfiguration),
}

/// Why the entry cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Another destination already takes the bucket's `ObjectCreated` events.
    #[error(
        "the bucket already sends ObjectCreated events to {0}, and S3 allows one destination per event; remove \
         that entry from the bucket's notification configuration, or pass --lambda-arn if it is the notifier"
    )]
    Taken(String),
}

/// Decides how to make `current` send every `ObjectCreated` event to `wanted`.
pub fn plan(current: &NotificationConfiguration, wanted: Destination<'_>) -> Result<Plan, PlanError> {
    let topics = current.topic_configurations();
    let lambdas = current.lambda_function_configurations();
    let queues = current.queue_configurations();
    let complete = |events: &[Event], filter: Option<&NotificationConfigurationFilter>| {
        events.iter().any(|e| e.as_str() == OBJECT_CREATED_EVENTS) && !has_rules(filter)
    };
    let in_place = match wanted {
        Destination::Topic(arn) => topics.iter().any(|t| t.topic_arn() == arn && complete(t.events(), t.filter())),
        Destination::Lambda(arn) => {
            lambdas.iter().any(|l| l.lambda_function_arn() == arn && complete(l.events(), l.filter()))
        }
    };
    if in_place {
        return Ok(Plan::InPlace);
    }
    if let Destination::Topic(_) = wanted
        && let Some(lambda) = lambdas.iter().find(|l| complete(l.events(), l.filter()))
    {
        return Ok(Plan::LambdaKept(lambda.lambda_function_arn().to_owned()));
    }

    // Drop the pipeline's own entries (an earlier run's, or one for the same destination with
    // other events), then make sure nobody else takes ObjectCreated events.
    let ours = |id: Option<&str>, arn: &str| id == Some(NOTIFICATION_ID) || arn == wanted.arn();
    let topics: Vec<TopicConfiguration> = topics.iter().filter(|t| !ours(t.id(), t.topic_arn())).cloned().collect();
    let lambdas: Vec<LambdaFunctionConfiguration> =
        lambdas.iter().filter(|l| !ours(l.id(), l.lambda_function_arn())).cloned().collect();
    let others = topics
        .iter()
        .map(|t| (t.topic_arn(), t.events()))
        .chain(lambdas.iter().map(|l| (l.lambda_function_arn(), l.events())))
        .chain(queues.iter().map(|q| (q.queue_arn(), q.events())));
    for (arn, events) in others {
        if events.iter().any(|e| e.as_str().starts_with("s3:ObjectCreated:")) {
            return Err(PlanError::Taken(arn.to_owned()));
        }
    }

    let event = Event::from(OBJECT_CREATED_EVENTS);
    let (topics, lambdas) = match wanted {
        Destination::Topic(arn) => {
            let entry = TopicConfiguration::builder().id(NOTIFICATION_ID).topic_arn(arn).events(event).build();
            (push(topics, entry.expect("the ARN and events, its required fields, are set")), lambdas)
        }
        Destination::Lambda(arn) => {
            let entry = LambdaFunctionConfiguration::builder()
                .id(NOTIFICATION_ID)
                .lambda_function_arn(arn)
                .events(event)
                .build();
            (topics, push(lambdas, entry.expect("the ARN and events, its required fields, are set")))
        }
    };
    let config = NotificationConfiguration::builder()
        .set_topic_configurations(Some(topics).filter(|t| !t.is_empty()))
        .set_lambda_function_configurations(Some(lambdas).filter(|l| !l.is_empty()))
        .set_queue_configurations(current.queue_configurations.clone())
        .set_event_bridge_configuration(current.event_bridge_configuration.clone());
    Ok(Plan::Put(config.build()))
}

fn push<T>(mut list: Vec<T>, item: T) -> Vec<T> {
    list.push(item);
    list
}

fn has_rules(filter: Option<&NotificationConfigurationFilter>) -> bool {
    filter.and_then(|f| f.key()).is_some_and(|key| !key.filter_rules().is_empty())
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::types::{FilterRule, FilterRuleName, QueueConfiguration, S3KeyFilter};

    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:SnowObservingSystemsDataAvailability";
    const LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:sos-notifier";

    fn topic(arn: &str, event: &str, id: Option<&str>) -> TopicConfiguration {
        TopicConfiguration::builder()
            .set_id(id.map(Into::into))
            .topic_arn(arn)
            .events(Event::from(event))
            .build()
            .expect("topic")
    }

    fn lambda(arn: &str, event: &str) -> LambdaFunctionConfiguration {
        LambdaFunctionConfiguration::builder()
            .lambda_function_arn(arn)
            .events(Event::from(event))
            .build()
            .expect("lambda")
    }

    fn put(plan: Result<Plan, PlanError>) -> NotificationConfiguration {
        match plan {
            Ok(Plan::Put(config)) => config,
            other => panic!("expected a configuration to write, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_bucket_gets_the_topic_entry() {
        let config = put(plan(&NotificationConfiguration::builder().build(), Destination::Topic(TOPIC)));
        assert_eq!(config.topic_configurations(), [topic(TOPIC, OBJECT_CREATED_EVENTS, Some(NOTIFICATION_ID))]);
        assert!(config.lambda_function_configurations().is_empty());
        // What was written is found in place the next time.
        assert_eq!(plan(&config, Destination::Topic(TOPIC)), Ok(Plan::InPlace));
    }

    #[test]
    fn an_entry_made_elsewhere_with_no_id_counts_as_in_place() {
        // CloudFormation's bucket notifications have no Id property; S3 makes one up.
        let current = NotificationConfiguration::builder()
            .lambda_function_configurations(lambda(LAMBDA, OBJECT_CREATED_EVENTS))
            .build();
        assert_eq!(plan(&current, Destination::Lambda(LAMBDA)), Ok(Plan::InPlace));
        assert_eq!(plan(&current, Destination::Topic(TOPIC)), Ok(Plan::LambdaKept(LAMBDA.to_owned())));
    }

    #[test]
    fn other_entries_are_kept() {
        let removed = topic("arn:aws:sns:us-east-1:123456789012:audit", "s3:ObjectRemoved:*", None);
        let queue = QueueConfiguration::builder()
            .queue_arn("arn:aws:sqs:us-east-1:123456789012:restores")
            .events(Event::from("s3:ObjectRestore:Completed"))
            .build()
            .expect("queue");
        let current = NotificationConfiguration::builder()
            .topic_configurations(removed.clone())
            .queue_configurations(queue.clone())
            .build();
        let config = put(plan(&current, Destination::Lambda(LAMBDA)));
        assert_eq!(config.topic_configurations(), [removed]);
        assert_eq!(config.queue_configurations(), [queue]);
        assert_eq!(config.lambda_function_configurations().len(), 1);
        assert_eq!(config.lambda_function_configurations()[0].lambda_function_arn(), LAMBDA);
    }

    #[test]
    fn a_stale_entry_of_ours_is_replaced() {
        let old = topic("arn:aws:sns:us-east-1:123456789012:OldTopic", OBJECT_CREATED_EVENTS, Some(NOTIFICATION_ID));
        let narrow = topic(TOPIC, "s3:ObjectCreated:Put", None);
        let current =
            NotificationConfiguration::builder().topic_configurations(old).topic_configurations(narrow).build();
        let config = put(plan(&current, Destination::Topic(TOPIC)));
        assert_eq!(config.topic_configurations(), [topic(TOPIC, OBJECT_CREATED_EVENTS, Some(NOTIFICATION_ID))]);
    }

    #[test]
    fn another_object_created_destination_is_not_overwritten() {
        let other = topic("arn:aws:sns:us-east-1:123456789012:someone-elses", "s3:ObjectCreated:Put", None);
        let current = NotificationConfiguration::builder().topic_configurations(other).build();
        assert_eq!(
            plan(&current, Destination::Topic(TOPIC)),
            Err(PlanError::Taken("arn:aws:sns:us-east-1:123456789012:someone-elses".into()))
        );
    }

    #[test]
    fn a_filtered_entry_is_not_the_pipeline() {
        let rule = FilterRule::builder().name(FilterRuleName::Prefix).value("runs/").build();
        let filter =
            NotificationConfigurationFilter::builder().key(S3KeyFilter::builder().filter_rules(rule).build()).build();
        let filtered = TopicConfiguration::builder()
            .topic_arn(TOPIC)
            .events(Event::from(OBJECT_CREATED_EVENTS))
            .filter(filter)
            .build()
            .expect("topic");
        let current = NotificationConfiguration::builder().topic_configurations(filtered).build();
        let config = put(plan(&current, Destination::Topic(TOPIC)));
        assert_eq!(config.topic_configurations(), [topic(TOPIC, OBJECT_CREATED_EVENTS, Some(NOTIFICATION_ID))]);
    }
}
