//! The AWS query protocol that STS and SNS speak: form-encoded `Action=…` parameters in, an XML
//! document out. Inputs decode into each action's typed struct (serde); replies serialise with
//! quick-xml into `<{Action}Response xmlns=…><{Action}Result>…</{Action}Result>
//! <ResponseMetadata>…</ResponseMetadata></{Action}Response>`.

use std::collections::BTreeMap;

use quick_xml::events::BytesText;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aws::uuid;
use crate::error::AwsError;

/// The form parameters of one request, kept as bytes until an action decodes them.
#[derive(Debug, Clone)]
pub struct Form(Vec<u8>);

/// What a query-protocol action needs of every request.
#[derive(Debug, serde::Deserialize)]
struct ActionOnly {
    #[serde(rename = "Action", default)]
    action: String,
}

impl Form {
    /// The parameters of a request: its form body, or its query string when the body is empty
    /// (a GET, or a presigned URL).
    pub fn new(query: &str, body: &[u8]) -> Self {
        if body.is_empty() { Self(query.as_bytes().to_vec()) } else { Self(body.to_vec()) }
    }

    /// The `Action` parameter (empty when missing).
    pub fn action(&self) -> String {
        serde_urlencoded::from_bytes::<ActionOnly>(&self.0).map(|a| a.action).unwrap_or_default()
    }

    /// The parameters as the action's input struct; `invalid` makes the service's error for a
    /// missing or malformed parameter.
    pub fn decode<T: DeserializeOwned>(&self, invalid: impl FnOnce(String) -> AwsError) -> Result<T, AwsError> {
        serde_urlencoded::from_bytes(&self.0).map_err(|err| invalid(err.to_string()))
    }
}

/// The entries of a flattened query map such as `Attributes.entry.N.key` / `.value`, in order of
/// N, from the parameters an input struct gathered with `#[serde(flatten)]`.
pub fn entries(params: &BTreeMap<String, String>, prefix: &str, key: &str, value: &str) -> Vec<(String, String)> {
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

/// A list as the query protocol writes it: `<member>…</member>` elements.
#[derive(Debug, Serialize)]
pub struct Members<T> {
    /// The items.
    pub member: Vec<T>,
}

/// A map as the query protocol writes it: `<entry><key/><value/></entry>` elements.
#[derive(Debug, Serialize)]
pub struct Entries {
    /// The pairs.
    pub entry: Vec<Entry>,
}

/// One pair of [`Entries`].
#[derive(Debug, Serialize)]
pub struct Entry {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

impl FromIterator<(String, String)> for Entries {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self { entry: iter.into_iter().map(|(key, value)| Entry { key, value }).collect() }
    }
}

/// The XML answer to `action`, with `result` (if any) inside `<{action}Result>`.
pub fn reply<T: Serialize>(namespace: &str, action: &str, result: Option<&T>) -> Result<String, AwsError> {
    let mut writer = quick_xml::Writer::new(Vec::new());
    let mut failure = None;
    writer
        .create_element(format!("{action}Response"))
        .with_attribute(("xmlns", namespace))
        .write_inner_content(|w| {
            if let Some(result) = result
                && let Err(err) = w.write_serializable(&format!("{action}Result"), result)
            {
                failure = Some(err.to_string());
            }
            w.create_element("ResponseMetadata").write_inner_content(|w| {
                w.create_element("RequestId").write_text_content(BytesText::new(&uuid())).map(drop)
            })?;
            Ok(())
        })
        .map_err(|err| AwsError::internal(format!("writing the answer failed: {err}")))?;
    if let Some(err) = failure {
        return Err(AwsError::internal(format!("writing the answer failed: {err}")));
    }
    String::from_utf8(writer.into_inner()).map_err(|err| AwsError::internal(err.to_string()))
}

/// The query protocol's error document.
#[derive(Debug, Serialize)]
struct ErrorResponse<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'a str,
    #[serde(rename = "Error")]
    error: ErrorBody<'a>,
    #[serde(rename = "RequestId")]
    request_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody<'a> {
    r#type: &'static str,
    code: &'a str,
    message: &'a str,
}

/// `err` as the query protocol's `<ErrorResponse>` in `namespace`.
pub fn error_document(namespace: &str, err: &AwsError) -> String {
    let document = ErrorResponse {
        xmlns: namespace,
        error: ErrorBody {
            r#type: if err.is_server_fault() { "Receiver" } else { "Sender" },
            code: &err.code,
            message: &err.message,
        },
        request_id: uuid(),
    };
    quick_xml::se::to_string_with_root("ErrorResponse", &document).unwrap_or_else(|_| {
        format!("<ErrorResponse xmlns=\"{namespace}\"><Error><Code>InternalError</Code></Error></ErrorResponse>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Listed {
        topics: Members<Topic>,
    }

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Topic {
        topic_arn: String,
    }

    #[test]
    fn replies_nest_result_and_metadata() {
        let listed = Listed { topics: Members { member: vec![Topic { topic_arn: "arn:a&b".into() }] } };
        let xml = reply("urn:ns", "ListTopics", Some(&listed)).expect("xml");
        assert!(
            xml.starts_with(
                "<ListTopicsResponse xmlns=\"urn:ns\"><ListTopicsResult><Topics><member><TopicArn>arn:a&amp;b\
                 </TopicArn></member></Topics></ListTopicsResult><ResponseMetadata><RequestId>"
            ),
            "{xml}"
        );
        let empty = reply::<()>("urn:ns", "DeleteTopic", None).expect("xml");
        assert!(empty.starts_with("<DeleteTopicResponse xmlns=\"urn:ns\"><ResponseMetadata>"), "{empty}");
    }

    #[test]
    fn errors_name_type_code_and_message() {
        let xml = error_document("urn:sns", &AwsError::new("NotFound", 404, "Topic <x> does not exist"));
        assert!(xml.starts_with(
            "<ErrorResponse xmlns=\"urn:sns\"><Error><Type>Sender</Type><Code>NotFound</Code>\
             <Message>Topic &lt;x&gt; does not exist</Message></Error><RequestId>"
        ));
    }

    #[test]
    fn forms_decode_into_typed_inputs() {
        #[derive(Debug, serde::Deserialize)]
        struct Input {
            #[serde(rename = "Name")]
            name: String,
            #[serde(rename = "Tag")]
            tag: Option<String>,
            #[serde(flatten)]
            rest: BTreeMap<String, String>,
        }
        let form = Form::new(
            "",
            b"Action=CreateTopic&Name=t&Attributes.entry.2.key=B&Attributes.entry.2.value=2\
            &Attributes.entry.1.key=A&Attributes.entry.1.value=1",
        );
        assert_eq!(form.action(), "CreateTopic");
        let input: Input = form.decode(|m| AwsError::new("InvalidParameter", 400, m)).expect("decodes");
        assert_eq!((input.name.as_str(), input.tag), ("t", None));
        assert_eq!(
            entries(&input.rest, "Attributes", "key", "value"),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        let missing =
            Form::new("Action=CreateTopic", b"").decode::<Input>(|m| AwsError::new("InvalidParameter", 400, m));
        assert_eq!(missing.expect_err("Name is required").code, "InvalidParameter");
    }
}
