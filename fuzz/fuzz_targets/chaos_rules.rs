//! The chaos API's inputs: fault rules and effects as posted (or loaded with `--chaos FILE`), and
//! what the pipeline reads of a request to match them (the queue from an SQS JSON body; S3's
//! operation comes from s3s). Listed rules parse back to the same rules; every mistake is one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox::chaos::{self, Call, Chaos};

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
            let call = Call { service: "s3", operation: "PutObject", region: Some("us-east-1"), ..Call::default() };
            let _ = chaos.fault_for(&call);
        }
        Err(line) => assert!(!line.contains(['\n', '\r']), "one line: {line:?}"),
    }
    if let Err(line) = chaos::parse_effects(data) {
        assert!(!line.contains(['\n', '\r']), "one line: {line:?}");
    }
    let _ = chaos::sqs_queue(data);
});
