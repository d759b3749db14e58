//! S3 notification configuration XML, as `PutBucketNotificationConfiguration` sends it and the
//! store keeps it: parsed, checked for overlaps, matched against a key, and written back — what
//! the sandbox writes, it reads back the same.
//!
//! Input: a key, a newline, the XML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandbox::notify;

fuzz_target!(|data: &[u8]| {
    let (key, xml) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]), &data[i + 1..]),
        None => (Default::default(), data),
    };
    let Some(config) = notify::from_xml_bytes(xml) else { return };
    let _ = notify::check_overlaps(&config);
    for name in ["s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"] {
        for q in config.queue_configurations.iter().flatten() {
            let _ = notify::covers(&q.events, &q.filter, name, &key);
        }
        for t in config.topic_configurations.iter().flatten() {
            let _ = notify::covers(&t.events, &t.filter, name, &key);
        }
        for l in config.lambda_function_configurations.iter().flatten() {
            let _ = notify::covers(&l.events, &l.filter, name, &key);
        }
    }
    if let Ok(written) = notify::to_xml(&config) {
        let back = notify::from_xml(&written).expect("the sandbox reads back what it stored");
        assert_eq!(format!("{back:?}"), format!("{config:?}"), "stored as {written}");
    }
});
