//! SNS filter policies and what they are held against: a policy document parsed for both scopes
//! (`MessageAttributes`, `MessageBody`), and, when SNS would accept it, matched against message
//! attributes and a message body taken from the rest of the input.
//!
//! Input: the policy, a NUL byte, then the message: a JSON object of attributes
//! (`{"name": {"Type": "String.Array", "Value": "[1,2]"}}`) that doubles as the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox::services::sns::filter::{AttributeValue, FilterPolicy, Scope};

fuzz_target!(|data: &[u8]| {
    let (policy, message) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[..0]),
    };
    let Ok(policy) = std::str::from_utf8(policy) else { return };
    let message = String::from_utf8_lossy(message);
    let attributes: Vec<(String, String, String)> = serde_json::from_str::<serde_json::Value>(&message)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|map| {
            map.into_iter()
                .map(|(name, a)| {
                    let field = |f: &str| a.get(f).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
                    (name, field("Type"), field("Value"))
                })
                .collect()
        })
        .unwrap_or_default();
    for scope in [Scope::MessageAttributes, Scope::MessageBody] {
        match FilterPolicy::parse(policy, scope) {
            Ok(parsed) => {
                let _ = parsed.matches_body(&message);
                let _ = parsed.matches_attributes(|name| {
                    attributes
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .map(|(_, t, v)| AttributeValue { data_type: t, value: v })
                });
            }
            Err(err) => {
                let reason = err.message(true);
                assert!(!reason.is_empty() && reason.len() < 4096, "a reason SNS could send: {reason}");
            }
        }
    }
});
