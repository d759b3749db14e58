//! The chaos API's inputs: fault rules and effects as posted (or loaded with `--chaos FILE`), and
//! what the pipeline reads of a request to match them (S3's operation from method, path and
//! query; the queue from an SQS JSON body). Listed rules parse back to the same rules; every
//! mistake is one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox::chaos::{self, Chaos, Target};

const METHODS: [http::Method; 5] =
    [http::Method::GET, http::Method::PUT, http::Method::POST, http::Method::DELETE, http::Method::HEAD];

fuzz_target!(|data: &[u8]| {
    match chaos::parse_rules(data) {
        Ok(rules) => {
            let listed = chaos::rules_json(&rules);
            let back = chaos::parse_rules(listed.as_bytes()).expect("listed rules parse");
            assert_eq!(back, rules, "listed as {listed}");
            for rule in &rules {
                let _ = rule.fault();
            }
            let chaos = Chaos::new(rules);
            let target =
                Target { service: "s3", operation: "PutObject", region: Some("us-east-1"), ..Target::default() };
            let _ = chaos.fault_for(&target);
        }
        Err(line) => assert!(!line.contains(['\n', '\r']), "one line: {line:?}"),
    }
    if let Err(line) = chaos::parse_effects(data) {
        assert!(!line.contains(['\n', '\r']), "one line: {line:?}");
    }
    let _ = chaos::sqs_queue(data);
    if let Some((&choice, rest)) = data.split_first() {
        let text = String::from_utf8_lossy(rest);
        let (path, query) = text.split_once('?').unwrap_or((&text, ""));
        let method = &METHODS[usize::from(choice) % METHODS.len()];
        let _ = chaos::s3_operation(method, path, query, &http::HeaderMap::new());
    }
});
