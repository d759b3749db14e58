//! The rules SQS applies to what callers name and send: queue attributes (which exist, their
//! ranges, which only FIFO queues take), message attributes (names, types, values), message
//! bodies (the characters SQS allows), sizes as SQS counts them, and the MD5 digests SQS returns.

use std::collections::BTreeMap;

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};

use super::errors::{invalid, invalid_attribute_name, invalid_attribute_value, invalid_contents};
use crate::error::AwsError;

type Result<T> = std::result::Result<T, AwsError>;

/// The largest message SQS takes, and the largest batch (the sum of its messages).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The most message attributes one message may carry.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// A FIFO deduplication id stays known this long.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

/// A message attribute, as SQS's JSON protocol writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    /// `String`, `Number`, `Binary`, optionally with a custom suffix (`String.json`).
    pub data_type: String,
    /// The value of a `String` or `Number` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// The base64 value of a `Binary` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
}

impl MessageAttribute {
    /// A string-valued attribute.
    pub fn string(data_type: &str, value: &str) -> Self {
        Self { data_type: data_type.to_owned(), string_value: Some(value.to_owned()), binary_value: None }
    }

    /// The base type: `String`, `Number` or `Binary` (what precedes a custom suffix).
    pub fn base_type(&self) -> &str {
        self.data_type.split('.').next().unwrap_or_default()
    }

    fn binary(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(self.binary_value.as_deref()?).ok()
    }

    /// The bytes SQS counts toward the message size: name, type and value.
    fn size(&self, name: &str) -> usize {
        let value = match self.base_type() {
            "Binary" => self.binary().map_or(0, |b| b.len()),
            _ => self.string_value.as_deref().map_or(0, str::len),
        };
        name.len() + self.data_type.len() + value
    }
}

/// Message attributes by name.
pub type Attributes = BTreeMap<String, MessageAttribute>;

/// The MD5 of `bytes`, in hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The MD5 of message attributes as SQS computes it (and boto3 checks it): for each attribute
/// in name order, length-prefixed name, data type, a transport byte, and value.
pub fn md5_of_attributes(attributes: &Attributes) -> String {
    fn push(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, attr) in attributes {
        push(&mut buf, name.as_bytes());
        push(&mut buf, attr.data_type.as_bytes());
        if attr.binary_value.is_some() {
            buf.push(2);
            push(&mut buf, &attr.binary().unwrap_or_default());
        } else {
            buf.push(1);
            push(&mut buf, attr.string_value.as_deref().unwrap_or_default().as_bytes());
        }
    }
    md5_hex(&buf)
}

/// Whether `c` is a character SQS allows in a body or attribute value.
fn allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A body SQS accepts: characters it allows (empty bodies are refused earlier, as missing).
pub fn check_text(text: &str) -> Result<()> {
    if text.chars().all(allowed_char) { Ok(()) } else { Err(invalid_contents()) }
}

/// Checks message `attributes` as SQS does: how many, their names, types and values. The
/// error names the first attribute at fault.
pub fn check_message_attributes(attributes: &Attributes) -> Result<()> {
    if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    for (name, attribute) in attributes {
        check_attribute_name(name)?;
        let kind = attribute.base_type();
        let suffix_ok = attribute.data_type.len() <= 256
            && attribute.data_type[kind.len()..].strip_prefix('.').is_none_or(|custom| !custom.is_empty());
        if !matches!(kind, "String" | "Number" | "Binary") || !suffix_ok {
            return Err(invalid(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following supported \
                 type prefixes: Binary, Number, String."
            )));
        }
        match kind {
            "Binary" => {
                if attribute.binary().is_none_or(|b| b.is_empty()) {
                    return Err(invalid(format!(
                        "Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
                    )));
                }
            }
            _ => {
                let value = attribute.string_value.as_deref().unwrap_or_default();
                if value.is_empty() {
                    return Err(invalid(format!(
                        "Message (user) attribute '{name}' must contain a non-empty value of type 'String'."
                    )));
                }
                check_text(value)?;
                if kind == "Number" && !is_sqs_number(value) {
                    return Err(invalid(format!("Could not cast message attribute '{name}' value to number.")));
                }
            }
        }
    }
    Ok(())
}

/// A message attribute name: up to 256 characters of `A-Za-z0-9_-.`, no leading, trailing or
/// doubled period, not starting with `AWS.` or `Amazon.` (any case).
fn check_attribute_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "Message (user) attribute name must not be empty."
    } else if name.len() > 256 {
        "Message (user) attribute name must be shorter than 256 characters."
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        "Message (user) attribute name can only contain alphanumeric characters, hyphens, underscores and periods."
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        "Message (user) attribute name can not start or end with a period, or contain two periods in a row."
    } else if ["aws.", "amazon."].iter().any(|p| name.to_ascii_lowercase().starts_with(p)) {
        "Message (user) attribute names starting with 'AWS.' or 'Amazon.' are reserved for use by Amazon."
    } else {
        return Ok(());
    };
    Err(invalid(format!("{reason} Attribute name: {name}")))
}

/// A `Number` attribute value: a decimal number of up to 38 significant digits.
fn is_sqs_number(value: &str) -> bool {
    let digits = value.trim_start_matches(['-', '+']);
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (digits, None),
    };
    let mantissa_ok = !mantissa.is_empty()
        && mantissa.chars().filter(|c| *c == '.').count() <= 1
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mantissa.chars().any(|c| c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.trim_start_matches(['-', '+']);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    let significant = mantissa.chars().filter(char::is_ascii_digit).skip_while(|c| *c == '0').count();
    mantissa_ok && exponent_ok && significant <= 38
}

/// The size of a message as SQS counts it against `MaximumMessageSize`: the body and each
/// attribute's name, type and value.
pub fn message_size(body: &str, attributes: &Attributes) -> usize {
    body.len() + attributes.iter().map(|(name, a)| a.size(name)).sum::<usize>()
}

/// A batch entry id: 1 to 80 characters of `A-Za-z0-9_-`.
pub fn valid_batch_id(id: &str) -> bool {
    (1..=80).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A message group or deduplication id: 1 to 128 printable ASCII characters without spaces.
pub fn valid_fifo_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| (33..=126).contains(&b))
}

/// The attributes a queue has a value for even when nobody set one, and those values.
pub const DEFAULTS: [(&str, &str); 5] = [
    ("VisibilityTimeout", "30"),
    ("MaximumMessageSize", "1048576"),
    ("MessageRetentionPeriod", "345600"),
    ("DelaySeconds", "0"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
];

/// The attributes a FIFO queue has a value for even when nobody set one.
pub const FIFO_DEFAULTS: [(&str, &str); 3] =
    [("ContentBasedDeduplication", "false"), ("DeduplicationScope", "queue"), ("FifoThroughputLimit", "perQueue")];

/// SQS's value of attribute `name` for a queue that was not given one.
pub fn default_value(name: &str, fifo: bool) -> Option<&'static str> {
    let fifo_defaults = if fifo { &FIFO_DEFAULTS[..] } else { &[] };
    DEFAULTS.iter().chain(fifo_defaults).find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The attributes `GetQueueAttributes` computes rather than stores.
pub const COMPUTED: [&str; 6] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

const FIFO_ONLY: [&str; 3] = ["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

fn integer_in(value: &str, range: std::ops::RangeInclusive<u64>) -> bool {
    value.parse::<u64>().is_ok_and(|v| range.contains(&v))
}

fn boolean(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
}

/// Checks one queue attribute that a caller sets (on `CreateQueue` when `creating`, else on
/// `SetQueueAttributes`) for a queue that is FIFO or not. The redrive policies are checked by the
/// engine, which knows the other queues.
pub fn check_queue_attribute(name: &str, value: &str, fifo: bool, creating: bool) -> Result<()> {
    let bad = |reason: Option<&str>| Err(invalid_attribute_value(name, reason));
    match name {
        "DelaySeconds" if !integer_in(value, 0..=900) => bad(None),
        "MaximumMessageSize" if !integer_in(value, 1024..=1_048_576) => bad(None),
        "MessageRetentionPeriod" if !integer_in(value, 60..=1_209_600) => bad(None),
        "ReceiveMessageWaitTimeSeconds" if !integer_in(value, 0..=20) => bad(None),
        "VisibilityTimeout" if !integer_in(value, 0..=43_200) => bad(None),
        "KmsDataKeyReusePeriodSeconds" if !integer_in(value, 60..=86_400) => bad(None),
        "SqsManagedSseEnabled" if !boolean(value) => bad(None),
        "Policy" if !value.is_empty() && serde_json::from_str::<serde_json::Value>(value).is_err() => {
            bad(Some("Invalid JSON policy document"))
        }
        "DelaySeconds"
        | "MaximumMessageSize"
        | "MessageRetentionPeriod"
        | "ReceiveMessageWaitTimeSeconds"
        | "VisibilityTimeout"
        | "KmsDataKeyReusePeriodSeconds"
        | "SqsManagedSseEnabled"
        | "Policy"
        | "KmsMasterKeyId"
        | "RedrivePolicy"
        | "RedriveAllowPolicy" => Ok(()),
        "FifoQueue" if !creating => bad(Some("Modifying queue type is not supported.")),
        "FifoQueue" => Ok(()),
        name if FIFO_ONLY.contains(&name) && !fifo => Err(match name {
            "ContentBasedDeduplication" => invalid_attribute_name("Unknown Attribute ContentBasedDeduplication."),
            name => invalid_attribute_name(format!("You can specify the {name} only when FifoQueue is set to true.")),
        }),
        "ContentBasedDeduplication" if !boolean(value) => bad(None),
        "DeduplicationScope" if !matches!(value, "messageGroup" | "queue") => bad(None),
        "FifoThroughputLimit" if !matches!(value, "perQueue" | "perMessageGroupId") => bad(None),
        "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit" => Ok(()),
        other => Err(invalid_attribute_name(format!("Unknown Attribute {other}."))),
    }
}

/// Whether `name` is an attribute `GetQueueAttributes` may be asked for.
pub fn known_attribute(name: &str) -> bool {
    name == "All"
        || COMPUTED.contains(&name)
        || DEFAULTS.iter().any(|(n, _)| *n == name)
        || FIFO_ONLY.contains(&name)
        || matches!(
            name,
            "Policy"
                | "RedrivePolicy"
                | "RedriveAllowPolicy"
                | "KmsMasterKeyId"
                | "KmsDataKeyReusePeriodSeconds"
                | "SqsManagedSseEnabled"
                | "FifoQueue"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, MessageAttribute)]) -> Attributes {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn sizes_count_the_body_and_each_attributes_name_type_and_value() {
        let a = attrs(&[("k", MessageAttribute::string("String", "x"))]);
        assert_eq!(message_size("abc", &a), 3 + 1 + 6 + 1);
    }

    #[test]
    fn message_attributes_are_checked_as_sqs_checks_them() {
        let ok = attrs(&[
            ("a.b-c_d", MessageAttribute::string("String.custom", "v")),
            ("n", MessageAttribute::string("Number", "-1.5e3")),
            (
                "bin",
                MessageAttribute { data_type: "Binary".into(), string_value: None, binary_value: Some("AQI=".into()) },
            ),
        ]);
        check_message_attributes(&ok).expect("valid");
        for (name, attribute) in [
            ("", MessageAttribute::string("String", "v")),
            (".a", MessageAttribute::string("String", "v")),
            ("a..b", MessageAttribute::string("String", "v")),
            ("AWS.x", MessageAttribute::string("String", "v")),
            ("amazon.x", MessageAttribute::string("String", "v")),
            ("sp ace", MessageAttribute::string("String", "v")),
            ("t", MessageAttribute::string("Strange", "v")),
            ("t", MessageAttribute::string("String.", "v")),
            ("e", MessageAttribute::string("String", "")),
            ("n", MessageAttribute::string("Number", "12a")),
            ("n", MessageAttribute::string("Number", &"9".repeat(39))),
            ("b", MessageAttribute { data_type: "Binary".into(), string_value: None, binary_value: None }),
            ("c", MessageAttribute::string("String", "bell\u{7}")),
        ] {
            let err = check_message_attributes(&attrs(&[(name, attribute.clone())])).expect_err(name);
            assert!(
                matches!(err.code.as_ref(), "InvalidParameterValue" | "InvalidMessageContents"),
                "{name} {attribute:?}"
            );
        }
        let eleven: Attributes = (0..11).map(|i| (format!("a{i}"), MessageAttribute::string("String", "v"))).collect();
        assert!(check_message_attributes(&eleven).is_err());
    }

    #[test]
    fn bodies_may_hold_only_the_characters_sqs_allows() {
        check_text("tab\tnew\nline\r ü 😀").expect("allowed");
        for bad in ["\u{0}", "\u{8}", "\u{FFFE}", "\u{1F}"] {
            assert_eq!(check_text(bad).expect_err("refused").code, "InvalidMessageContents");
        }
    }

    #[test]
    fn queue_attributes_have_sqs_ranges_and_fifo_only_ones_are_refused_on_standard_queues() {
        check_queue_attribute("VisibilityTimeout", "43200", false, true).expect("max");
        assert_eq!(
            check_queue_attribute("VisibilityTimeout", "43201", false, true).expect_err("over").code,
            "InvalidAttributeValue"
        );
        assert_eq!(
            check_queue_attribute("MaximumMessageSize", "1048577", false, true).expect_err("over").code,
            "InvalidAttributeValue"
        );
        check_queue_attribute("MaximumMessageSize", "1048576", false, true).expect("1 MiB");
        assert_eq!(
            check_queue_attribute("ContentBasedDeduplication", "true", false, true).expect_err("standard").message,
            "Unknown Attribute ContentBasedDeduplication."
        );
        assert_eq!(
            check_queue_attribute("Nonsense", "1", false, true).expect_err("unknown").code,
            "InvalidAttributeName"
        );
        assert_eq!(
            check_queue_attribute("FifoQueue", "true", true, false).expect_err("set later").message,
            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
        );
        check_queue_attribute("DeduplicationScope", "messageGroup", true, true).expect("fifo");
    }

    #[test]
    fn fifo_and_batch_ids_follow_sqs_rules() {
        assert!(
            valid_fifo_id("group-1!~")
                && !valid_fifo_id("")
                && !valid_fifo_id("a b")
                && !valid_fifo_id(&"a".repeat(129))
        );
        assert!(valid_batch_id("m-1_x") && !valid_batch_id("m.1") && !valid_batch_id(&"a".repeat(81)));
    }
}
