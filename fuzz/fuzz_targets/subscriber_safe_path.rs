//! The subscriber's key → path mapping: whatever the key, the path it accepts stays inside the
//! download directory and is made only of plain names.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else { return };
    let dir = Path::new("/downloads");
    if let Ok(path) = subscriber::safe_path::local_path(dir, key) {
        assert!(path.starts_with(dir), "{key:?} → {}", path.display());
        let below = path.strip_prefix(dir).expect("inside");
        assert!(below.components().all(|c| matches!(c, Component::Normal(_))), "{key:?} → {}", path.display());
        assert_eq!(below.components().count(), key.split('/').count(), "{key:?}");
    }
});
