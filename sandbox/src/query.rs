//! The AWS query protocol's answers, shared by STS and SNS: form-encoded `Action=…` requests in,
//! XML documents out.

use std::collections::HashMap;

/// An answer: HTTP status and XML body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// XML.
    pub body: String,
}

/// A query-protocol error: its code, HTTP status and message.
#[derive(Debug)]
pub struct QueryError {
    /// The AWS error code.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// The message.
    pub message: String,
}

impl QueryError {
    /// An error with `code`, `status` and `message`.
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { code, status, message: message.into() }
    }

    /// The XML error document, in `namespace`.
    pub fn into_reply(self, namespace: &str) -> Reply {
        let kind = if self.status >= 500 { "Receiver" } else { "Sender" };
        Reply {
            status: self.status,
            body: format!(
                "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message>\
                 </Error><RequestId>{}</RequestId></ErrorResponse>",
                self.code,
                xml_escape(&self.message),
                request_id()
            ),
        }
    }
}

/// A successful answer to `action` with `result` (XML) inside `<{action}Result>`.
pub fn ok_reply(namespace: &str, action: &str, result: &str) -> Reply {
    Reply {
        status: 200,
        body: format!(
            "<{action}Response xmlns=\"{namespace}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            request_id()
        ),
    }
}

/// A random request id in UUID form.
pub fn request_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    let hex = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Escapes text for XML content.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The entries of a flattened query map such as `Attributes.entry.N.key` / `.value`, in order
/// of N: `(prefix, "key", "value")` → pairs.
pub fn entries(params: &HashMap<String, String>, prefix: &str, key: &str, value: &str) -> Vec<(String, String)> {
    let mut found: Vec<(u32, String, String)> = params
        .iter()
        .filter_map(|(name, k)| {
            let rest = name.strip_prefix(prefix)?.strip_prefix(".entry.")?;
            let (n, field) = rest.split_once('.')?;
            (field == key).then_some(())?;
            let n: u32 = n.parse().ok()?;
            let v = params.get(&format!("{prefix}.entry.{n}.{value}"))?;
            Some((n, k.clone(), v.clone()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, k, v)| (k, v)).collect()
}

/// Now as `2026-11-24T21:00:00.123Z`, the timestamp form of SNS envelopes and S3 events.
pub fn timestamp_ms() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}
