//! The notifier's handling of an S3 event: the event JSON as Lambda delivers it, the
//! announcements it makes of it, and the SNS subject of each (ASCII, within SNS's limit).
#![no_main]

use aws_lambda_events::event::s3::S3Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<S3Event>(data) else { return };
    for message in notifier::messages(&event) {
        let subject = notifier::subject(&message.key);
        assert!(subject.len() <= notifier::SUBJECT_MAX_CHARS, "{subject:?}");
        assert!(subject.chars().all(|c| c.is_ascii() && !c.is_ascii_control()), "{subject:?}");
        let json = serde_json::to_string(&message).expect("an announcement encodes");
        assert!(subscriber::message::parse(&json).is_ok() || message.key.is_empty(), "{json}");
    }
});
