//! SQS's errors, each with both of its codes: the JSON protocol's `__type` and the query
//! protocol's code (which the JSON protocol also sends, in the `x-amzn-query-error` header, and
//! which boto3 and the SDKs' query-compatible clients report). The pairs and messages are AWS's.

use crate::error::AwsError;

/// An SQS error: JSON `__type`, query code, message (HTTP 400).
pub(crate) fn error(json_type: &'static str, code: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(code, 400, message).json_type(json_type)
}

/// `QueueDoesNotExist` / `AWS.SimpleQueueService.NonExistentQueue`.
pub(crate) fn no_queue() -> AwsError {
    error("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

/// `InvalidParameterValueException` / `InvalidParameterValue`.
pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    error("InvalidParameterValueException", "InvalidParameterValue", message)
}

/// `InvalidParameterValue` for one parameter, in SQS's words.
pub(crate) fn invalid_value(parameter: &str, value: impl std::fmt::Display, reason: &str) -> AwsError {
    invalid(format!("Value {value} for parameter {parameter} is invalid. Reason: {reason}"))
}

/// `MissingRequiredParameterException` / `MissingParameter`.
pub(crate) fn missing(parameter: &str) -> AwsError {
    error(
        "MissingRequiredParameterException",
        "MissingParameter",
        format!("The request must contain the parameter {parameter}."),
    )
}

/// `InvalidAttributeName`.
pub(crate) fn invalid_attribute_name(message: impl Into<String>) -> AwsError {
    error("InvalidAttributeName", "InvalidAttributeName", message)
}

/// `InvalidAttributeValue`.
pub(crate) fn invalid_attribute_value(name: &str, reason: Option<&str>) -> AwsError {
    let reason = reason.map(|r| format!(" Reason: {r}")).unwrap_or_default();
    error("InvalidAttributeValue", "InvalidAttributeValue", format!("Invalid value for the parameter {name}.{reason}"))
}

/// `QueueNameExists` / `QueueAlreadyExists`.
pub(crate) fn queue_exists(attribute: &str) -> AwsError {
    error(
        "QueueNameExists",
        "QueueAlreadyExists",
        format!("A queue already exists with the same name and a different value for attribute {attribute}"),
    )
}

/// `QueueDeletedRecently`.
pub(crate) fn deleted_recently() -> AwsError {
    error(
        "QueueDeletedRecently",
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
    )
}

/// `ReceiptHandleIsInvalid`.
pub(crate) fn receipt_handle_invalid(handle: &str) -> AwsError {
    error(
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
        format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
    )
}

/// `MessageNotInflight`.
pub(crate) fn not_in_flight() -> AwsError {
    error(
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
        "Message does not exist or is not available for visibility timeout change.",
    )
}

/// `EmptyBatchRequest`, for a batch of `entry_name`s.
pub(crate) fn empty_batch(entry_name: &str) -> AwsError {
    error(
        "EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest",
        format!("There should be at least one {entry_name} in the request."),
    )
}

/// `TooManyEntriesInBatchRequest`.
pub(crate) fn too_many_entries(sent: usize) -> AwsError {
    error(
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        format!("Maximum number of entries per request are 10. You have sent {sent}."),
    )
}

/// `BatchEntryIdsNotDistinct`.
pub(crate) fn ids_not_distinct(id: &str) -> AwsError {
    error("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", format!("Id {id} repeated."))
}

/// `BatchRequestTooLong`.
pub(crate) fn batch_too_long(sent: usize, limit: usize) -> AwsError {
    error(
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
        format!("Batch requests cannot be longer than {limit} bytes. You have sent {sent} bytes."),
    )
}

/// `InvalidBatchEntryId`.
pub(crate) fn invalid_batch_id() -> AwsError {
    error(
        "InvalidBatchEntryId",
        "AWS.SimpleQueueService.InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 \
         letters long.",
    )
}

/// `InvalidMessageContents`.
pub(crate) fn invalid_contents() -> AwsError {
    error(
        "InvalidMessageContents",
        "InvalidMessageContents",
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD \
         | #x10000 to #x10FFFF",
    )
}

/// `PurgeQueueInProgress`.
pub(crate) fn purge_in_progress(queue: &str) -> AwsError {
    error(
        "PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        format!("Only one PurgeQueue operation on {queue} is allowed every 60 seconds."),
    )
}

/// `ResourceNotFoundException` (HTTP 404), for the message move tasks.
pub(crate) fn resource_not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceNotFoundException", 404, message).json_type("ResourceNotFoundException")
}

/// An action SQS does not have.
pub(crate) fn invalid_action(action: &str) -> AwsError {
    error("InvalidAction", "InvalidAction", format!("The action {action} is not valid for this endpoint."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_json_type_and_its_query_code() {
        let pairs = [
            (no_queue(), "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
            (invalid("x"), "InvalidParameterValueException", "InvalidParameterValue"),
            (missing("MessageBody"), "MissingRequiredParameterException", "MissingParameter"),
            (queue_exists("DelaySeconds"), "QueueNameExists", "QueueAlreadyExists"),
            (
                too_many_entries(11),
                "TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ),
            (batch_too_long(2, 1), "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"),
            (invalid_batch_id(), "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId"),
            (purge_in_progress("q"), "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress"),
            (not_in_flight(), "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"),
        ];
        for (err, json_type, code) in pairs {
            assert_eq!((err.json_type, err.code.as_ref()), (Some(json_type), code));
        }
        assert_eq!(resource_not_found("x").status, 404);
    }
}
