//! The subscriber's reading of an SQS message body (our announcement, S3's event, raw or in SNS
//! envelopes), and the local path of every key it announces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    if let Ok(announcements) = subscriber::message::parse(body) {
        for announcement in announcements {
            let dir = std::path::Path::new("/downloads");
            if let Ok(path) = subscriber::safe_path::local_path(dir, &announcement.key) {
                assert!(path.starts_with(dir));
            }
        }
    }
});
