//! The resource policies of the pipeline and the checks that make `setup` idempotent.
//!
//! Each policy `setup` writes is one statement with a fixed `Sid`; merging it into whatever
//! policy the resource has keeps every other statement (a topic's default owner statement, a
//! statement someone else added), and a second run finds the statement equal and changes nothing.

use serde_json::{Value, json};

use crate::Arn;

/// The `Sid` of the queue-policy statement that lets the topic deliver.
pub const QUEUE_STATEMENT_ID: &str = "sos-topic-may-send";
/// The `Sid` of the topic-policy statement that lets S3 publish the bucket's events.
pub const TOPIC_STATEMENT_ID: &str = "sos-bucket-may-publish";

/// The queue-policy statement: SNS may send to `queue_arn`, and only on behalf of `topic_arn`.
pub fn queue_statement(queue_arn: &str, topic_arn: &str) -> Value {
    json!({
        "Sid": QUEUE_STATEMENT_ID,
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } },
    })
}

/// The topic-policy statement: S3 may publish to `topic_arn`, and only events of `bucket` in the
/// topic's own account (the `aws:SourceAccount` condition stops a same-named bucket elsewhere).
pub fn topic_statement(topic_arn: &str, bucket: &str) -> Option<Value> {
    let arn = Arn::parse(topic_arn)?;
    Some(json!({
        "Sid": TOPIC_STATEMENT_ID,
        "Effect": "Allow",
        "Principal": { "Service": "s3.amazonaws.com" },
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {
            "ArnLike": { "aws:SourceArn": format!("arn:{}:s3:::{bucket}", arn.partition) },
            "StringEquals": { "aws:SourceAccount": arn.account },
        },
    }))
}

/// Errors reading an existing policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The resource's policy is not a JSON object with a `Statement` list or object.
    #[error("the existing policy is not valid policy JSON ({0}); fix or remove it first")]
    Malformed(String),
}

/// `existing` (a resource's `Policy` attribute, if any) with `statement` in it, replacing the
/// statement with the same `Sid`; `None` when `existing` already holds an equal statement.
pub fn merged(existing: Option<&str>, statement: &Value) -> Result<Option<String>, PolicyError> {
    let sid = statement.get("Sid").cloned().unwrap_or(Value::Null);
    let mut policy = match existing.map(str::trim).filter(|p| !p.is_empty()) {
        None => json!({ "Version": "2012-10-17", "Statement": [] }),
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| PolicyError::Malformed(e.to_string()))?,
    };
    let object = policy.as_object_mut().ok_or_else(|| PolicyError::Malformed("not an object".into()))?;
    // A policy may hold one statement as an object instead of a list.
    let statements = match object.remove("Statement") {
        None => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err(PolicyError::Malformed("Statement is neither a list nor an object".into())),
    };
    if statements.iter().any(|s| same_statement(s, statement)) {
        return Ok(None);
    }
    let mut statements: Vec<Value> = statements.into_iter().filter(|s| s.get("Sid") != Some(&sid)).collect();
    statements.push(statement.clone());
    object.entry("Version").or_insert_with(|| json!("2012-10-17"));
    object.insert("Statement".into(), Value::Array(statements));
    Ok(Some(policy.to_string()))
}

/// Two statements are the same when equal as JSON, allowing for what IAM rewrites: a one-element
/// list for a single value, and the case of the action's service prefix.
fn same_statement(a: &Value, b: &Value) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(list) if list.len() == 1 => normalized(&list[0]),
        Value::Array(list) => Value::Array(list.iter().map(normalized).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action", Value::String(action)) => Value::String(lowercase_service(action)),
                        _ => normalized(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn lowercase_service(action: &str) -> String {
    match action.split_once(':') {
        Some((service, name)) => format!("{}:{name}", service.to_ascii_lowercase()),
        None => action.to_owned(),
    }
}

/// The `RedrivePolicy` attribute of a queue whose failed messages go to `dlq_arn`.
pub fn redrive_policy(dlq_arn: &str, max_receives: u32) -> String {
    json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives }).to_string()
}

/// Whether an existing `RedrivePolicy` says the same as `wanted` (one made by [`redrive_policy`]):
/// the same dead-letter queue and count, whether SQS returns the count as a number or a string.
pub fn redrive_matches(existing: Option<&str>, wanted: &str) -> bool {
    fn parts(text: &str) -> Option<(String, u64)> {
        let policy: Value = serde_json::from_str(text).ok()?;
        let count = match policy.get("maxReceiveCount")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some((policy.get("deadLetterTargetArn")?.as_str()?.to_owned(), count))
    }
    existing.and_then(parts).is_some_and(|have| parts(wanted) == Some(have))
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:SnowObservingSystemsDataUpdates";
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:SnowObservingSystemsDataAvailability";

    #[test]
    fn a_new_policy_holds_the_statement() {
        let statement = queue_statement(QUEUE, TOPIC);
        let policy: Value =
            serde_json::from_str(&merged(None, &statement).expect("merged").expect("a change")).expect("ok");
        assert_eq!(policy["Version"], "2012-10-17");
        assert_eq!(policy["Statement"], json!([statement]));
        assert_eq!(policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"], TOPIC);
    }

    #[test]
    fn merging_twice_changes_nothing_the_second_time() {
        let statement = queue_statement(QUEUE, TOPIC);
        let once = merged(None, &statement).expect("merged").expect("a change");
        assert_eq!(merged(Some(&once), &statement).expect("ok"), None);
    }

    #[test]
    fn iam_rewrites_are_not_changes() {
        let statement = topic_statement(TOPIC, "sos-data").expect("ok");
        let mut rewritten = statement.clone();
        rewritten["Action"] = json!("sns:Publish");
        rewritten["Resource"] = json!([TOPIC]);
        let existing = json!({ "Version": "2012-10-17", "Statement": rewritten }).to_string();
        assert_eq!(merged(Some(&existing), &statement).expect("ok"), None);
    }

    #[test]
    fn other_statements_are_kept_and_a_stale_one_replaced() {
        let owner = json!({ "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": { "AWS": "*" },
                            "Action": "SNS:Subscribe", "Resource": TOPIC });
        let stale = topic_statement(TOPIC, "old-bucket").expect("ok");
        let existing = json!({ "Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [owner, stale] });
        let statement = topic_statement(TOPIC, "new-bucket").expect("ok");
        let policy: Value =
            serde_json::from_str(&merged(Some(&existing.to_string()), &statement).expect("merged").expect("a change"))
                .expect("ok");
        assert_eq!(policy["Version"], "2008-10-17");
        assert_eq!(policy["Id"], "__default_policy_ID");
        assert_eq!(policy["Statement"], json!([owner, statement]));
    }

    #[test]
    fn the_topic_statement_names_the_bucket_and_account() {
        let statement = topic_statement("arn:aws-cn:sns:cn-north-1:111122223333:t", "b").expect("ok");
        assert_eq!(statement["Condition"]["ArnLike"]["aws:SourceArn"], "arn:aws-cn:s3:::b");
        assert_eq!(statement["Condition"]["StringEquals"]["aws:SourceAccount"], "111122223333");
        assert_eq!(topic_statement("not-an-arn", "b"), None);
    }

    #[test]
    fn a_malformed_policy_is_an_error_not_overwritten() {
        assert!(merged(Some("{not json"), &queue_statement(QUEUE, TOPIC)).is_err());
        assert!(merged(Some(r#"{"Statement": 3}"#), &queue_statement(QUEUE, TOPIC)).is_err());
    }

    #[test]
    fn redrive_policies_compare_by_meaning() {
        let dlq = "arn:aws:sqs:us-east-1:123456789012:SnowObservingSystemsDataUpdates-dlq";
        let wanted = redrive_policy(dlq, 5);
        assert!(redrive_matches(Some(&wanted), &wanted));
        let as_string = format!(r#"{{"deadLetterTargetArn":"{dlq}","maxReceiveCount":"5"}}"#);
        assert!(redrive_matches(Some(&as_string), &wanted));
        assert!(!redrive_matches(Some(&redrive_policy(dlq, 3)), &wanted));
        assert!(!redrive_matches(Some(&redrive_policy("arn:aws:sqs:us-east-1:1:other", 5)), &wanted));
        assert!(!redrive_matches(Some("not json"), &wanted));
        assert!(!redrive_matches(None, &wanted));
    }
}
