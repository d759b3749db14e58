//! SNS subscription filter policies: parsed and checked as SNS checks them when a subscription
//! gets one (`Subscribe`, `SetSubscriptionAttributes`), and matched against each published
//! message — its message attributes (`FilterPolicyScope` `MessageAttributes`, the default) or
//! its body (`MessageBody`, where keys may nest).
//!
//! The operators are SNS's: exact strings, numbers, `true`/`false`/`null`; `prefix`, `suffix`,
//! `equals-ignore-case`; `anything-but` (values, or a `prefix`); `numeric` (`=`, or a range of at
//! most one lower and one upper bound); `exists`; `cidr`; `$or` of alternatives at any level.
//! The keys of one level must all match (AND); the values of one key are alternatives (OR).
//! SNS's limits: at most 5 keys, at most 150 combinations (the product of each key's number of
//! values, summed over `$or` alternatives), 256 KB. A message attribute of type `String.Array`
//! (or a body value that is an array) matches when one of its elements does.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// Where a policy looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The message attributes (SNS's default).
    #[default]
    MessageAttributes,
    /// The message body, a JSON object.
    MessageBody,
}

impl Scope {
    /// The scope named `value`, or SNS's reason why it is not one.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "MessageAttributes" => Ok(Self::MessageAttributes),
            "MessageBody" => Ok(Self::MessageBody),
            other => Err(format!(
                "FilterPolicyScope: Invalid value [{other}]. Please use either MessageBody or MessageAttributes"
            )),
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageAttributes => "MessageAttributes",
            Self::MessageBody => "MessageBody",
        }
    }
}

/// Why a policy was refused; SNS words the two kinds differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// A fault in the policy document (`FilterPolicy: …`).
    Policy(String),
    /// A nested policy for the attributes scope.
    NestedForAttributes,
}

impl PolicyError {
    /// The reason as SNS states it after `Invalid parameter: ` (and `Attributes Reason: ` on
    /// `Subscribe`, when `in_attributes`).
    pub fn message(&self, in_attributes: bool) -> String {
        match self {
            Self::NestedForAttributes => {
                "Filter policy scope MessageAttributes does not support nested filter policy".into()
            }
            Self::Policy(reason) if in_attributes => format!("Attributes Reason: FilterPolicy: {reason}"),
            Self::Policy(reason) => format!("FilterPolicy: {reason}"),
        }
    }
}

fn fault(reason: impl Into<String>) -> PolicyError {
    PolicyError::Policy(reason.into())
}

const MAX_KEYS: usize = 5;
const MAX_COMBINATIONS: u64 = 150;
const MAX_POLICY_BYTES: usize = 256 * 1024;

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Eq(f64),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
}

impl Bound {
    fn holds(self, x: f64) -> bool {
        match self {
            Self::Eq(v) => x == v,
            Self::Gt(v) => x > v,
            Self::Ge(v) => x >= v,
            Self::Lt(v) => x < v,
            Self::Le(v) => x <= v,
        }
    }
}

/// One alternative of a key.
#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Pattern>),
    AnythingButPrefix(String),
    Numeric(Vec<Bound>),
    Exists(bool),
    Cidr(IpAddr, u8),
}

/// A value a pattern is held against: from a message attribute or a body.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    String(&'a str),
    Number(f64),
    Bool(bool),
    Null,
}

impl Pattern {
    /// Whether the pattern holds for `value` (a value that exists).
    fn matches(&self, value: &Scalar<'_>) -> bool {
        match (self, value) {
            (Self::String(p), Scalar::String(v)) => p == v,
            (Self::Number(p), Scalar::Number(v)) => p == v,
            (Self::Bool(p), Scalar::Bool(v)) => p == v,
            (Self::Null, Scalar::Null) => true,
            (Self::Prefix(p), Scalar::String(v)) => v.starts_with(p.as_str()),
            (Self::Suffix(p), Scalar::String(v)) => v.ends_with(p.as_str()),
            (Self::EqualsIgnoreCase(p), Scalar::String(v)) => p.to_lowercase() == v.to_lowercase(),
            (Self::AnythingBut(excluded), v) => !excluded.iter().any(|p| p.matches(v)),
            (Self::AnythingButPrefix(p), Scalar::String(v)) => !v.starts_with(p.as_str()),
            (Self::Numeric(bounds), Scalar::Number(v)) => bounds.iter().all(|b| b.holds(*v)),
            (Self::Exists(true), _) => true,
            (Self::Cidr(network, bits), Scalar::String(v)) => {
                v.parse::<IpAddr>().is_ok_and(|ip| in_network(ip, *network, *bits))
            }
            _ => false,
        }
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    fn masked(bytes: &[u8], bits: u8) -> Vec<u8> {
        bytes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let keep = u32::from(bits).saturating_sub(u32::try_from(i).unwrap_or(u32::MAX) * 8).min(8);
                if keep == 0 { 0 } else { b & (0xFFu8 << (8 - keep)) }
            })
            .collect()
    }
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => masked(&a.octets(), bits) == masked(&n.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(n)) => masked(&a.octets(), bits) == masked(&n.octets(), bits),
        _ => false,
    }
}

/// One level of a policy: every key must match, and each `$or` group must have an alternative
/// that does.
#[derive(Debug, Clone, PartialEq, Default)]
struct Level {
    keys: Vec<(Vec<String>, Vec<Pattern>)>,
    ors: Vec<Vec<Level>>,
}

/// A checked filter policy.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPolicy {
    root: Level,
    scope: Scope,
}

/// A message attribute as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct AttributeValue<'a> {
    /// `String`, `Number`, `Binary`, `String.Array`, … (with any custom suffix).
    pub data_type: &'a str,
    /// The value (a `Binary` attribute's base64).
    pub value: &'a str,
}

impl FilterPolicy {
    /// Parses and checks `text` for `scope`, as SNS does.
    pub fn parse(text: &str, scope: Scope) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(fault("Filter policy is too large"));
        }
        let value: Value = serde_json::from_str(text).map_err(|err| fault(format!("failed to parse JSON. {err}")))?;
        let Value::Object(map) = value else {
            return Err(fault("Filter policy must be a JSON object"));
        };
        let root = level(&map, &[], scope)?;
        let mut keys = Vec::new();
        root.collect_keys(&mut keys);
        keys.sort();
        keys.dedup();
        if keys.len() > MAX_KEYS {
            return Err(fault("Filter policy can not have more than 5 keys"));
        }
        if root.combinations() > MAX_COMBINATIONS {
            return Err(fault("Filter policy is too complex"));
        }
        Ok(Self { root, scope })
    }

    /// Its scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Whether a message with `attributes` passes (attributes scope).
    pub fn matches_attributes<'a>(&self, attributes: impl Fn(&str) -> Option<AttributeValue<'a>>) -> bool {
        self.root.holds(&|path: &[String]| {
            let name = path.first()?;
            let attribute = attributes(name)?;
            Some(attribute_values(attribute))
        })
    }

    /// Whether a message with `body` passes (body scope): a body that is not a JSON object
    /// passes no policy that has a key.
    pub fn matches_body(&self, body: &str) -> bool {
        let parsed: Option<Map<String, Value>> = serde_json::from_str(body).ok();
        let Some(object) = parsed else { return self.root.keys.is_empty() && self.root.ors.is_empty() };
        let root = Value::Object(object);
        self.root.holds(&|path: &[String]| {
            let mut found = Vec::new();
            collect(&root, path, &mut found);
            (!found.is_empty()).then_some(found)
        })
    }
}

/// The values of a message attribute: its elements when it is an array type, none (beyond
/// existing) for binary attributes, which SNS does not compare.
fn attribute_values(attribute: AttributeValue<'_>) -> Vec<Value> {
    let base = attribute.data_type.split('.').next().unwrap_or_default();
    if attribute.data_type.ends_with(".Array") {
        return match serde_json::from_str(attribute.value) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        };
    }
    match base {
        "Number" => attribute
            .value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .into_iter()
            .collect(),
        "String" => vec![Value::String(attribute.value.to_owned())],
        _ => Vec::new(),
    }
}

/// The values at `path` below `value`, looking into arrays at every step.
fn collect(value: &Value, path: &[String], out: &mut Vec<Value>) {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|item| collect(item, path, out)),
        (Value::Object(map), Some((key, rest))) => {
            if let Some(child) = map.get(key) {
                collect(child, rest, out);
            }
        }
        (value, None) => out.push(value.clone()),
        _ => {}
    }
}

fn scalar(value: &Value) -> Option<Scalar<'_>> {
    match value {
        Value::String(s) => Some(Scalar::String(s)),
        Value::Number(n) => n.as_f64().map(Scalar::Number),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Null => Some(Scalar::Null),
        _ => None,
    }
}

impl Level {
    /// Whether this level holds, `lookup` giving the values at a key's path (`None`: absent).
    fn holds(&self, lookup: &dyn Fn(&[String]) -> Option<Vec<Value>>) -> bool {
        let keys_hold = self.keys.iter().all(|(path, patterns)| match lookup(path) {
            None => patterns.contains(&Pattern::Exists(false)),
            Some(values) => patterns.iter().any(|pattern| match pattern {
                Pattern::Exists(exists) => *exists,
                pattern => values.iter().filter_map(scalar).any(|v| pattern.matches(&v)),
            }),
        });
        keys_hold && self.ors.iter().all(|alternatives| alternatives.iter().any(|level| level.holds(lookup)))
    }

    fn collect_keys(&self, out: &mut Vec<Vec<String>>) {
        out.extend(self.keys.iter().map(|(path, _)| path.clone()));
        for level in self.ors.iter().flatten() {
            level.collect_keys(out);
        }
    }

    fn combinations(&self) -> u64 {
        let keys: u64 = self.keys.iter().map(|(_, p)| p.len() as u64).product();
        let ors: u64 =
            self.ors.iter().map(|alternatives| alternatives.iter().map(Level::combinations).sum::<u64>()).product();
        keys.saturating_mul(ors.max(1))
    }
}

/// One level of the policy document, at `path`.
fn level(map: &Map<String, Value>, path: &[String], scope: Scope) -> Result<Level, PolicyError> {
    let mut out = Level::default();
    for (key, value) in map {
        match value {
            Value::Array(alternatives)
                if key == "$or" && alternatives.len() > 1 && alternatives.iter().all(Value::is_object) =>
            {
                let group = alternatives
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|alternative| level(alternative, path, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                out.ors.push(group);
            }
            Value::Array(values) => {
                if values.is_empty() {
                    return Err(fault("Empty arrays are not allowed"));
                }
                let patterns = values.iter().map(pattern).collect::<Result<Vec<_>, _>>()?;
                let mut key_path = path.to_vec();
                key_path.push(key.clone());
                out.keys.push((key_path, patterns));
            }
            Value::Object(nested) => {
                if scope == Scope::MessageAttributes {
                    return Err(PolicyError::NestedForAttributes);
                }
                let mut key_path = path.to_vec();
                key_path.push(key.clone());
                let nested = level(nested, &key_path, scope)?;
                out.keys.extend(nested.keys);
                out.ors.extend(nested.ors);
            }
            _ => return Err(fault(format!("\"{key}\" must be an object or an array"))),
        }
    }
    Ok(out)
}

/// One value of a key's array: a literal or an operator object.
fn pattern(value: &Value) -> Result<Pattern, PolicyError> {
    match value {
        Value::String(s) => Ok(Pattern::String(s.clone())),
        Value::Number(n) => n.as_f64().map(Pattern::Number).ok_or_else(|| fault("Invalid number")),
        Value::Bool(b) => Ok(Pattern::Bool(*b)),
        Value::Null => Ok(Pattern::Null),
        Value::Array(_) => Err(fault("Match value must be String, number, true, false, or null")),
        Value::Object(operator) => {
            let mut entries = operator.iter();
            let (Some((name, operand)), None) = (entries.next(), entries.next()) else {
                return Err(fault("Only one key allowed in match expression"));
            };
            let string = |what: &str| {
                operand
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| fault(format!("{what} match pattern must be a string")))
            };
            match name.as_str() {
                "prefix" => Ok(Pattern::Prefix(string("prefix")?)),
                "suffix" => Ok(Pattern::Suffix(string("suffix")?)),
                "equals-ignore-case" => Ok(Pattern::EqualsIgnoreCase(string("equals-ignore-case")?)),
                "exists" => operand
                    .as_bool()
                    .map(Pattern::Exists)
                    .ok_or_else(|| fault("exists match pattern must be either true or false.")),
                "numeric" => numeric(operand),
                "anything-but" => anything_but(operand),
                "cidr" => cidr(&string("cidr")?),
                other => Err(fault(format!("Unrecognized match type {other}"))),
            }
        }
    }
}

fn anything_but(operand: &Value) -> Result<Pattern, PolicyError> {
    let literal = |v: &Value| match v {
        Value::String(s) => Ok(Pattern::String(s.clone())),
        Value::Number(n) => n.as_f64().map(Pattern::Number).ok_or_else(|| fault("Invalid number")),
        _ => Err(fault("Inside anything but list, start|null|boolean is not supported.")),
    };
    match operand {
        Value::Array(values) if !values.is_empty() => {
            Ok(Pattern::AnythingBut(values.iter().map(literal).collect::<Result<_, _>>()?))
        }
        Value::String(_) | Value::Number(_) => Ok(Pattern::AnythingBut(vec![literal(operand)?])),
        Value::Object(inner) => {
            let mut entries = inner.iter();
            match (entries.next(), entries.next()) {
                (Some((name, value)), None) if name == "prefix" => value
                    .as_str()
                    .map(|p| Pattern::AnythingButPrefix(p.to_owned()))
                    .ok_or_else(|| fault("prefix match pattern must be a string")),
                (Some((name, _)), None) => Err(fault(format!("Unsupported anything-but pattern: {name}"))),
                _ => Err(fault("Only one key allowed in match expression")),
            }
        }
        _ => Err(fault("Value of anything-but must be an array or single string/number value.")),
    }
}

fn numeric(operand: &Value) -> Result<Pattern, PolicyError> {
    let Value::Array(items) = operand else {
        return Err(fault("Value of numeric must be an array."));
    };
    let shown = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let first = items.first().ok_or_else(|| fault("Invalid member in numeric match: ]"))?;
    let operator = |v: &Value| -> Result<String, PolicyError> {
        match v {
            Value::String(s) if ["=", "<", "<=", ">", ">="].contains(&s.as_str()) => Ok(s.clone()),
            Value::String(s) => Err(fault(format!("Unrecognized numeric range operator: {s}"))),
            other => Err(fault(format!("Invalid member in numeric match: {}", shown(other)))),
        }
    };
    let value_of = |op: &str, v: Option<&Value>| -> Result<f64, PolicyError> {
        let name = if op == "=" { "equals" } else { op };
        v.and_then(Value::as_f64).ok_or_else(|| fault(format!("Value of {name} must be numeric")))
    };
    let bound = |op: &str, v: f64| match op {
        "=" => Bound::Eq(v),
        ">" => Bound::Gt(v),
        ">=" => Bound::Ge(v),
        "<" => Bound::Lt(v),
        _ => Bound::Le(v),
    };
    let op = operator(first)?;
    let value = value_of(&op, items.get(1))?;
    if op == "=" || op.starts_with('<') {
        if items.len() > 2 {
            return Err(fault("Too many elements in numeric expression"));
        }
        return Ok(Pattern::Numeric(vec![bound(&op, value)]));
    }
    let lower = bound(&op, value);
    let Some(second) = items.get(2) else { return Ok(Pattern::Numeric(vec![lower])) };
    let upper_op = match second {
        Value::String(s) if s == "<" || s == "<=" => s.clone(),
        Value::String(s) => return Err(fault(format!("Bad numeric range operator: {s}"))),
        other => return Err(fault(format!("Bad value in numeric range: {}", shown(other)))),
    };
    let upper = value_of(&upper_op, items.get(3))?;
    if items.len() > 4 {
        return Err(fault("Too many terms in numeric range expression"));
    }
    if upper <= value {
        return Err(fault("Bottom must be less than top"));
    }
    Ok(Pattern::Numeric(vec![lower, bound(&upper_op, upper)]))
}

fn cidr(text: &str) -> Result<Pattern, PolicyError> {
    let (address, bits) = text.split_once('/').ok_or_else(|| fault("Malformed CIDR, one '/' required"))?;
    let ip: IpAddr = address.parse().map_err(|_| fault(format!("Nonstandard IP address: {address}")))?;
    let bits: u8 = bits.parse().map_err(|_| fault("Malformed CIDR, mask bits must be an integer"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(fault("Malformed CIDR, mask bits must be an integer"));
    }
    Ok(Pattern::Cidr(ip, bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(pairs: &'a [(&'a str, &'a str, &'a str)]) -> impl Fn(&str) -> Option<AttributeValue<'a>> + 'a {
        move |name| pairs.iter().find(|(n, _, _)| *n == name).map(|(_, t, v)| AttributeValue { data_type: t, value: v })
    }

    fn passes(policy: &str, pairs: &[(&str, &str, &str)]) -> bool {
        FilterPolicy::parse(policy, Scope::MessageAttributes).expect(policy).matches_attributes(attrs(pairs))
    }

    fn body_passes(policy: &str, body: &str) -> bool {
        FilterPolicy::parse(policy, Scope::MessageBody).expect(policy).matches_body(body)
    }

    fn refusal(policy: &str, scope: Scope) -> String {
        FilterPolicy::parse(policy, scope).expect_err(policy).message(false)
    }

    #[test]
    fn exact_strings_and_numbers() {
        assert!(passes(r#"{"kind":["geojson","csv"]}"#, &[("kind", "String", "csv")]));
        assert!(!passes(r#"{"kind":["geojson"]}"#, &[("kind", "String", "csv")]));
        assert!(!passes(r#"{"kind":["geojson"]}"#, &[]), "no attributes: no match");
        assert!(passes(r#"{"n":[301.5]}"#, &[("n", "Number", "3.015e2")]));
        assert!(!passes(r#"{"n":[5]}"#, &[("n", "String", "5")]), "a number matches Number attributes");
        assert!(passes(r#"{"kind":["a"],"n":[1]}"#, &[("kind", "String", "a"), ("n", "Number", "1")]));
        assert!(!passes(r#"{"kind":["a"],"n":[1]}"#, &[("kind", "String", "a")]), "keys are ANDed");
    }

    #[test]
    fn prefix_suffix_and_equals_ignore_case() {
        assert!(passes(r#"{"key":[{"prefix":"Missouri/"}]}"#, &[("key", "String", "Missouri/a.csv")]));
        assert!(!passes(r#"{"key":[{"prefix":"Missouri/"}]}"#, &[("key", "String", "Ohio/a.csv")]));
        assert!(passes(r#"{"key":[{"suffix":".geojson"}]}"#, &[("key", "String", "x.geojson")]));
        assert!(!passes(r#"{"key":[{"suffix":".geojson"}]}"#, &[("key", "String", "x.csv")]));
        assert!(passes(r#"{"c":[{"equals-ignore-case":"RED"}]}"#, &[("c", "String", "rEd")]));
        assert!(!passes(r#"{"c":[{"equals-ignore-case":"RED"}]}"#, &[("c", "String", "reds")]));
    }

    #[test]
    fn anything_but() {
        let policy = r#"{"c":[{"anything-but":["red","blue"]}]}"#;
        assert!(passes(policy, &[("c", "String", "green")]));
        assert!(!passes(policy, &[("c", "String", "red")]));
        assert!(!passes(policy, &[]), "an absent attribute is not anything-but");
        assert!(passes(r#"{"p":[{"anything-but":[100,500]}]}"#, &[("p", "Number", "100.1")]));
        assert!(!passes(r#"{"p":[{"anything-but":100}]}"#, &[("p", "Number", "100")]));
        assert!(passes(r#"{"p":[{"anything-but":[100,500]}]}"#, &[("p", "String.Array", "[100,50]")]));
        assert!(passes(r#"{"c":[{"anything-but":{"prefix":"tmp/"}}]}"#, &[("c", "String", "data/x")]));
        assert!(!passes(r#"{"c":[{"anything-but":{"prefix":"tmp/"}}]}"#, &[("c", "String", "tmp/x")]));
    }

    #[test]
    fn numeric_ranges() {
        let policy = r#"{"p":[{"numeric":[">",0,"<=",150]}]}"#;
        assert!(passes(policy, &[("p", "Number", "150")]));
        assert!(!passes(policy, &[("p", "Number", "0")]));
        assert!(!passes(policy, &[("p", "Number", "150.00001")]));
        assert!(passes(r#"{"p":[{"numeric":["=",301.5]}]}"#, &[("p", "Number", "301.5")]));
        assert!(passes(r#"{"p":[{"numeric":["<",0]}]}"#, &[("p", "Number", "-3")]));
        assert!(!passes(r#"{"p":[{"numeric":["<",0]}]}"#, &[("p", "String", "-3")]), "numeric is for numbers");
    }

    #[test]
    fn exists_and_cidr() {
        assert!(passes(r#"{"store":[{"exists":true}]}"#, &[("store", "String", "x")]));
        assert!(!passes(r#"{"store":[{"exists":true}]}"#, &[]));
        assert!(passes(r#"{"store":[{"exists":false}]}"#, &[]));
        assert!(!passes(r#"{"store":[{"exists":false}]}"#, &[("store", "String", "x")]));
        assert!(passes(r#"{"ip":[{"cidr":"10.0.0.0/24"}]}"#, &[("ip", "String", "10.0.0.255")]));
        assert!(!passes(r#"{"ip":[{"cidr":"10.0.0.0/24"}]}"#, &[("ip", "String", "10.0.1.0")]));
        assert!(passes(r#"{"ip":[{"cidr":"2001:db8::/32"}]}"#, &[("ip", "String", "2001:db8:1::1")]));
    }

    #[test]
    fn string_arrays_match_on_any_element() {
        assert!(passes(r#"{"tags":["b"]}"#, &[("tags", "String.Array", r#"["a","b"]"#)]));
        assert!(!passes(r#"{"tags":["c"]}"#, &[("tags", "String.Array", r#"["a","b"]"#)]));
        assert!(!passes(r#"{"tags":["a"]}"#, &[("tags", "String.Array", "not json")]));
    }

    #[test]
    fn or_alternatives() {
        let policy =
            r#"{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"]}]}"#;
        assert!(passes(policy, &[("source", "String", "aws.cloudwatch"), ("namespace", "String", "AWS/EC2")]));
        assert!(passes(policy, &[("source", "String", "aws.cloudwatch"), ("metricName", "String", "CPUUtilization")]));
        assert!(!passes(policy, &[("source", "String", "aws.cloudwatch")]));
    }

    #[test]
    fn bodies_with_nested_keys() {
        let policy = r#"{"object":{"key":[{"prefix":"Missouri"}]},"size":[{"numeric":[">",0]}]}"#;
        assert!(body_passes(policy, r#"{"object":{"key":"Missouri/x"},"size":3}"#));
        assert!(!body_passes(policy, r#"{"object":{"key":"Ohio/x"},"size":3}"#));
        assert!(!body_passes(policy, "not json"));
        assert!(body_passes(r#"{"a":{"b":["x"]}}"#, r#"{"a":[{"b":"y"},{"b":"x"}]}"#), "arrays of objects");
        assert!(body_passes(r#"{"flag":[true],"none":[null]}"#, r#"{"flag":true,"none":null}"#));
        assert!(body_passes(r#"{"gone":[{"exists":false}]}"#, r#"{"other":1}"#));
    }

    #[test]
    fn policies_are_refused_with_sns_reasons() {
        let cases = [
            (r#"{"key":[["value"]]}"#, "FilterPolicy: Match value must be String, number, true, false, or null"),
            (r#"{"key":[{"wrong-operator":true}]}"#, "FilterPolicy: Unrecognized match type wrong-operator"),
            (
                r#"{"key":[{"suffix":"value","prefix":"value2"}]}"#,
                "FilterPolicy: Only one key allowed in match expression",
            ),
            (r#"{"key":[]}"#, "FilterPolicy: Empty arrays are not allowed"),
            (r#"{"key":[{"suffix":100}]}"#, "FilterPolicy: suffix match pattern must be a string"),
            (r#"{"key":"value"}"#, "FilterPolicy: \"key\" must be an object or an array"),
            (r#"{"key":[{"numeric":[]}]}"#, "FilterPolicy: Invalid member in numeric match: ]"),
            (r#"{"key":[{"numeric":["operator"]}]}"#, "FilterPolicy: Unrecognized numeric range operator: operator"),
            (r#"{"key":[{"numeric":["=","000"]}]}"#, "FilterPolicy: Value of equals must be numeric"),
            (r#"{"key":[{"numeric":["<",100,">",10]}]}"#, "FilterPolicy: Too many elements in numeric expression"),
            (r#"{"key":[{"numeric":[">=",1,">",2]}]}"#, "FilterPolicy: Bad numeric range operator: >"),
            (r#"{"key":[{"numeric":[">",3,"<",1]}]}"#, "FilterPolicy: Bottom must be less than top"),
            (r#"{"key":[{"numeric":[">",20,30]}]}"#, "FilterPolicy: Bad value in numeric range: 30"),
            (
                r#"{"key":[{"numeric":[">",20,"<",30,"<",50]}]}"#,
                "FilterPolicy: Too many terms in numeric range expression",
            ),
            (r#"{"key":[{"exists":"no"}]}"#, "FilterPolicy: exists match pattern must be either true or false."),
            (
                r#"{"key":[{"anything-but":{"suffix":"test"}}]}"#,
                "FilterPolicy: Unsupported anything-but pattern: suffix",
            ),
            (r#"{"key":[{"anything-but":{"prefix":false}}]}"#, "FilterPolicy: prefix match pattern must be a string"),
            (r#"{"key":[{"cidr":"10.0.0.0"}]}"#, "FilterPolicy: Malformed CIDR, one '/' required"),
            (r#"{"key":[{"cidr":"xx.11.xx/8"}]}"#, "FilterPolicy: Nonstandard IP address: xx.11.xx"),
            (
                r#"{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}"#,
                "FilterPolicy: Filter policy can not have more than 5 keys",
            ),
        ];
        for (policy, reason) in cases {
            assert_eq!(refusal(policy, Scope::MessageAttributes), reason, "{policy}");
        }
        assert!(refusal("invalid", Scope::MessageAttributes).starts_with("FilterPolicy: failed to parse JSON."));
        let many: Vec<String> = (0..151).map(|i| i.to_string()).collect();
        let complex = serde_json::json!({ "a": many }).to_string();
        assert_eq!(refusal(&complex, Scope::MessageAttributes), "FilterPolicy: Filter policy is too complex");
        assert_eq!(
            FilterPolicy::parse(r#"{"a":{"b":["x"]}}"#, Scope::MessageAttributes).expect_err("nested").message(true),
            "Filter policy scope MessageAttributes does not support nested filter policy"
        );
        assert_eq!(
            FilterPolicy::parse(r#"{"a":[]}"#, Scope::MessageAttributes).expect_err("empty").message(true),
            "Attributes Reason: FilterPolicy: Empty arrays are not allowed"
        );
    }
}
