//! Reading rules and effects from JSON (the admin API's bodies, a `--chaos` file): typed serde,
//! unknown fields refused, each field checked as it is read, and every mistake one line that
//! names the rule and the field. Nothing here panics on untrusted bytes.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};

use super::FaultError;
use serde_path_to_error::Segment;

use super::{Effects, MAX_DELAY_MS, Rule};

/// The longest text a field takes.
const MAX_TEXT: usize = 1024;
/// The longest error line.
const MAX_LINE: usize = 400;

/// Parses a JSON array of rules (the body of `POST`/`DELETE /_sandbox/chaos/faults`, or a
/// `--chaos` file). The error is one line naming the rule and the field.
pub fn parse_rules(bytes: &[u8]) -> Result<Vec<Rule>, String> {
    let shape = "a JSON array of rules, such as [{\"service\":\"s3\"}]";
    let rules: Vec<Object<Rule>> = parse(bytes, "the chaos rules", shape, |index| format!("rule {}", index + 1))?;
    Ok(rules.into_iter().map(|rule| rule.0).collect())
}

/// Reads and parses a rules file (`--chaos FILE`, `SOS_SANDBOX_CHAOS`).
pub fn load_rules(path: &std::path::Path) -> Result<Vec<Rule>, String> {
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read the chaos rules: {err}"))?;
    parse_rules(&bytes)
}

/// Parses `{"latency": MS, "jitter": MS}` (both optional, 0 when missing).
pub fn parse_effects(bytes: &[u8]) -> Result<Effects, String> {
    let effects: Object<Effects> =
        parse(bytes, "the chaos effects", "a JSON object such as {\"latency\": 300}", |_| String::new())?;
    Ok(effects.0)
}

/// `bytes` as one JSON value of type `T`, or one line saying what is wrong with `what`.
fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    shape: &str,
    item: impl Fn(usize) -> String,
) -> Result<T, String> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|err| mistake(&err, what, shape, item))?;
    json.end().map_err(|err| one_line(&format!("{what} are not valid JSON: {}", without_position(&err))))?;
    Ok(value)
}

/// serde_json's message without the position it ends with, which the field's name says better.
fn without_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    message.strip_suffix(&position).map(str::to_owned).unwrap_or(message)
}

/// The rules as `GET` lists them.
pub fn rules_json(rules: &[Rule]) -> String {
    serde_json::to_string(rules).unwrap_or_else(|_| "[]".to_owned())
}

/// The effects as `GET` shows them.
pub fn effects_json(effects: &Effects) -> String {
    serde_json::to_string(effects).unwrap_or_else(|_| "{}".to_owned())
}

/// One line for a mistake in `what` (which must be `shape`): `rule 2: error.code must be …`.
fn mistake(
    err: &serde_path_to_error::Error<serde_json::Error>,
    what: &str,
    shape: &str,
    item: impl Fn(usize) -> String,
) -> String {
    let inner = err.inner();
    let message = without_position(inner);
    let message = message.as_str();
    if inner.is_syntax() || inner.is_eof() {
        return one_line(&format!("{what} are not valid JSON: {message}"));
    }
    let mut item_name = None;
    let mut fields = Vec::new();
    for segment in err.path().iter() {
        match segment {
            Segment::Seq { index } if item_name.is_none() && fields.is_empty() => item_name = Some(item(*index)),
            Segment::Seq { index } => fields.push(index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => fields.push(key.clone()),
            Segment::Unknown => fields.push("?".to_owned()),
        }
    }
    let field = fields.join(".");
    let line = match (item_name, field.is_empty(), reworded(message)) {
        // The whole body has the wrong shape.
        (None, true, Reworded::MustBe { .. }) => format!("{what} must be {shape}"),
        (item, _, Reworded::UnknownField(rest)) => {
            // The path ends with the unknown field itself.
            let (name, after) = rest.split_once('`').unwrap_or((rest, ""));
            let full = if fields.last().is_some_and(|last| last == name) { field.clone() } else { name.to_owned() };
            join(item, &format!("unknown field `{full}`{after}"))
        }
        (item, _, Reworded::MustBe { expected, got }) => join(item, &format!("{field} must be {expected}, got {got}")),
        (item, _, Reworded::As(text)) => join(item, &[field.as_str(), text].join(" ")),
    };
    one_line(line.trim())
}

/// A serde message, worded as the API's mistakes are.
enum Reworded<'a> {
    /// `unknown field `x`, expected …` without its `unknown field `` start.
    UnknownField(&'a str),
    /// `invalid type: X, expected Y` (or `invalid value`) as `must be Y, got X`.
    MustBe { expected: String, got: &'a str },
    /// One of this module's own messages (`must be …`), or another of serde's.
    As(&'a str),
}

fn reworded(message: &str) -> Reworded<'_> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return Reworded::UnknownField(rest);
    }
    let mismatch = message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: "));
    if let Some((got, expected)) = mismatch.and_then(|m| m.split_once(", expected ")) {
        // serde names Rust types; a reader of the API thinks in JSON.
        let expected = match expected {
            "f64" => "a number",
            "u64" | "u16" => "a whole number",
            "a boolean" => "true or false",
            other => other,
        };
        return Reworded::MustBe { expected: expected.to_owned(), got };
    }
    Reworded::As(message)
}

fn join(item: Option<String>, rest: &str) -> String {
    match item {
        Some(item) => format!("{item}: {}", rest.trim()),
        None => rest.trim().to_owned(),
    }
}

/// `line` with control characters replaced and cut to [`MAX_LINE`] characters, so that a mistake
/// stays one short line whatever field name or value caused it.
fn one_line(line: &str) -> String {
    let mut out: String = line.chars().take(MAX_LINE).map(|c| if c.is_control() { '?' } else { c }).collect();
    if line.chars().count() > MAX_LINE {
        out.push('…');
    }
    out
}

// ---- field checks, run by serde as it reads each field (`deserialize_with`) ----

/// A `T` read from a JSON object only: serde would also read a struct from an array of its fields.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData)).map(Object)
    }
}

/// A rule's error, from a JSON object only.
pub(super) fn error<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FaultError>, D::Error> {
    Ok(Option::<Object<FaultError>>::deserialize(d)?.map(|error| error.0))
}

/// Text of at most [`MAX_TEXT`] characters.
pub(super) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) if text.len() > MAX_TEXT => Err(D::Error::custom(format!("must be at most {MAX_TEXT} characters"))),
        text => Ok(text),
    }
}

/// Text on one line: line breaks become spaces (an error's message goes in a header and a log line).
pub(super) fn one_line_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(text(d)?.map(|text| text.replace(['\r', '\n'], " ")))
}

/// One of the services the sandbox serves, in lower case.
pub(super) fn service<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(name) = text(d)? else { return Ok(None) };
    match ["s3", "sqs", "sns", "sts"].into_iter().find(|known| known.eq_ignore_ascii_case(&name)) {
        Some(known) => Ok(Some(known.to_owned())),
        None => Err(D::Error::custom(format!("must be one of s3, sqs, sns, sts, got {name:?}"))),
    }
}

/// A chance, from 0 to 1.
pub(super) fn probability<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        Some(p) if !(0.0..=1.0).contains(&p) => Err(D::Error::custom(format!("must be between 0 and 1, got {p}"))),
        p => Ok(p),
    }
}

/// A count of at least 1.
pub(super) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(d)? {
        Some(0) => Err(D::Error::custom("must be a whole number of at least 1, got 0")),
        n => Ok(n),
    }
}

/// An HTTP error status, 400–599.
pub(super) fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let status = d.deserialize_option(Whole { what: "an HTTP error status (400–599)" })?;
    match status.filter(|s| !(400..=599).contains(s)) {
        Some(status) => Err(D::Error::custom(format!("must be an HTTP error status (400–599), got {status}"))),
        None => Ok(status.and_then(|s| u16::try_from(s).ok())),
    }
}

/// An AWS error code: letters, digits, `.`, `_`, `-`, `:`.
pub(super) fn error_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(code) = text(d)? else { return Ok(None) };
    if code.is_empty()
        || code.len() > 128
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
    {
        return Err(D::Error::custom(format!(
            "must be an AWS error code such as SlowDown (letters, digits, `.`, `_`, `-`, `:`), got {:?}",
            code.chars().take(64).collect::<String>()
        )));
    }
    Ok(Some(code))
}

/// Milliseconds from 0 to [`MAX_DELAY_MS`]; `null` is 0.
pub(super) fn delay<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match d.deserialize_option(Whole { what: "a whole number of milliseconds" })? {
        Some(ms) if ms > MAX_DELAY_MS => {
            Err(D::Error::custom(format!("must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}, got {ms}")))
        }
        ms => Ok(ms.unwrap_or(0)),
    }
}

/// A whole number (or `null`), which a mistake calls `what`.
struct Whole {
    what: &'static str,
}

impl<'de> Visitor<'de> for Whole {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_u64(self)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_name_the_rule_and_the_field() {
        let err = |json: &str| parse_rules(json.as_bytes()).expect_err(json);
        assert_eq!(err(r#"[{"probability": 1.5}]"#), "rule 1: probability must be between 0 and 1, got 1.5");
        assert!(err(r#"[{}, {"sevrice": "s3"}]"#).starts_with("rule 2: unknown field `sevrice`"));
        assert!(err(r#"[{"error": {"statusCode": 200}}]"#).starts_with("rule 1: error.statusCode must be"));
        assert!(err(r#"[{"error": {"statusCode": "503"}}]"#).starts_with("rule 1: error.statusCode must be"));
        assert!(err(r#"[{"count": 0}]"#).starts_with("rule 1: count must be"));
        assert!(err(r#"[{"count": -1}]"#).starts_with("rule 1: count must be a whole number"));
        assert!(err(r#"[{"reset": "yes"}]"#).starts_with("rule 1: reset must be true or false"));
        assert_eq!(err(r#"[{"service": "ec2"}]"#), r#"rule 1: service must be one of s3, sqs, sns, sts, got "ec2""#);
        assert!(err(r#"[5]"#).starts_with("rule 1: must be a JSON object"));
        assert!(err(r#"[["s3"]]"#).starts_with("rule 1: must be a JSON object"), "not an array of the fields");
        assert!(err(r#"[{"error": [503]}]"#).starts_with("rule 1: error must be a JSON object"));
        assert!(err(r#"{"service": "s3"}"#).starts_with("the chaos rules must be a JSON array"));
        assert!(err("[").starts_with("the chaos rules are not valid JSON"));
        assert!(err("[] []").starts_with("the chaos rules are not valid JSON"));
        assert!(!err(r#"[{"x\n": 1}]"#).contains('\n'));
        assert!(err(r#"[{"qucket": null}]"#).starts_with("rule 1: unknown field `qucket`"), "a null is no excuse");
        assert!(err(r#"[{"error": {"cod": null}}]"#).starts_with("rule 1: unknown field `error.cod`"));
        assert!(err(&format!(r#"[{{"bucket": "{}"}}]"#, "b".repeat(2000))).len() < 500, "a long value stays short");
    }

    #[test]
    fn nulls_are_missing_fields_and_names_are_read_as_written() {
        let rules = parse_rules(br#"[{"service": "SQS", "queue": null, "error": {"code": null}}]"#).expect("valid");
        assert_eq!(rules[0].service.as_deref(), Some("sqs"));
        assert_eq!(rules[0].queue, None);
        assert_eq!(rules_json(&rules), r#"[{"service":"sqs","error":{}}]"#);
        let message = parse_rules(br#"[{"error": {"message": "two\nlines"}}]"#).expect("valid");
        assert_eq!(message[0].error.as_ref().and_then(|e| e.message.as_deref()), Some("two lines"));
    }

    /// A probability that serde_json's default float parsing would read back as a neighbouring
    /// number (`float_roundtrip` keeps it exact): a rule copied from `GET` into `DELETE` must equal
    /// the one posted, or it would not be removed.
    #[test]
    fn a_listed_probability_parses_back_to_the_same_rule() {
        let posted =
            br#"[{"service":"s3","probability":0.1161111111111111111111111111111111111111111111111111111111}]"#;
        let rules = parse_rules(posted).expect("valid");
        let listed = rules_json(&rules);
        assert_eq!(parse_rules(listed.as_bytes()).expect("listed rules parse"), rules, "{listed}");
        let chaos = super::super::Chaos::new(rules);
        chaos.remove(&parse_rules(listed.as_bytes()).expect("listed rules parse"));
        assert!(chaos.rules().is_empty(), "the listed rule removes the posted one");
    }

    #[test]
    fn effects_parse_with_limits() {
        assert_eq!(parse_effects(br#"{"latency": 300}"#), Ok(Effects { latency: 300, jitter: 0 }));
        assert_eq!(parse_effects(br#"{"latency": null, "jitter": 5}"#), Ok(Effects { latency: 0, jitter: 5 }));
        assert!(parse_effects(br#"{"latency": -1}"#).expect_err("negative").starts_with("latency must be"));
        assert!(parse_effects(br#"{"latency": 600001}"#).expect_err("too long").starts_with("latency must be"));
        assert_eq!(
            parse_effects(br#"{"latency": "slow"}"#),
            Err(r#"latency must be a whole number of milliseconds, got string "slow""#.to_owned())
        );
        assert!(parse_effects(br#"{"delay": 1}"#).expect_err("unknown").contains("`delay`"));
        assert!(
            parse_effects(b"[]").expect_err("not an object").starts_with("the chaos effects must be a JSON object")
        );
    }
}
