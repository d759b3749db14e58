//! What the subscriber keeps beside each file it writes: `.<name>.sos.json`, the size, ETag and
//! version of the bytes on disk, when they were uploaded, and whether the application's program
//! (`--exec`) has run on them. With it a repeated announcement is recognised (skipped, the program
//! not run twice), a message that comes back after a failed program runs the program again
//! without downloading again, and an older upload announced late does not replace a newer file.
//!
//! The record is one small file per downloaded file, written in place (opened, truncated,
//! written; never a temp file and a rename): the only inode a file costs besides itself. A crash
//! mid-write leaves a record that does not parse, which reads as no record: the file is
//! downloaded again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::message::Announcement;

/// What is recorded beside a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Bytes on disk.
    pub size: u64,
    /// Their ETag, without quotes.
    pub etag: String,
    /// Their version, on a versioned bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// When they were uploaded (RFC 3339), as announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// S3's sequencer of their event, as announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    /// Whether `--exec` has run on them (always, without `--exec`). Records written before this
    /// field were written once their file was handled.
    #[serde(default = "handled_before")]
    pub handled: bool,
}

fn handled_before() -> bool {
    true
}

/// Where the record of `file` is: a hidden file beside it.
pub fn path_for(file: &Path) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    file.with_file_name(format!(".{name}.sos.json"))
}

/// The record of `file`, if there is one that parses and `file` has the size it records.
pub async fn read(file: &Path) -> Option<Record> {
    let bytes = tokio::fs::read(path_for(file)).await.ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    let on_disk = tokio::fs::metadata(file).await.ok()?.len();
    (on_disk == record.size).then_some(record)
}

/// Writes the record of `file` in place.
pub async fn write(file: &Path, record: &Record) -> std::io::Result<()> {
    let json = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    tokio::fs::write(path_for(file), json).await
}

/// What to do about an announcement, given the record of the file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The announced bytes are on disk and handled: a repeated announcement.
    Skip,
    /// The announced bytes are on disk, but the program has not run on them.
    Handle,
    /// Download the announced bytes into the file's place.
    Download,
    /// The announced upload is older than the one on disk: download it beside the file, handle
    /// it there, and leave the newer file in place.
    DownloadAside,
}

impl Record {
    /// Whether these are the bytes `announcement` names: its version, or (on a bucket without
    /// versions) its ETag and size.
    pub fn is(&self, announcement: &Announcement) -> bool {
        match (&announcement.version_id, &self.version_id) {
            (Some(announced), Some(recorded)) => announced == recorded,
            _ => {
                announcement.etag.as_deref().map(|e| e.trim_matches('"')) == Some(self.etag.as_str())
                    && announcement.size.is_none_or(|size| size == self.size)
            }
        }
    }

    /// Whether the bytes on disk are a later upload than `announcement`'s (both versioned): by
    /// S3's sequencer when both have one, else by the event times.
    pub fn is_newer_than(&self, announcement: &Announcement) -> bool {
        if announcement.version_id.is_none() || self.version_id.is_none() {
            return false;
        }
        match (&self.sequencer, &announcement.sequencer) {
            // Sequencers are hex of varying length: a longer one is later, else compare as text.
            (Some(ours), Some(theirs)) => (ours.len(), ours.as_str()) > (theirs.len(), theirs.as_str()),
            _ => match (&self.event_time, &announcement.event_time) {
                (Some(ours), Some(theirs)) => ours > theirs,
                _ => false,
            },
        }
    }
}

/// What to do about `announcement`, given `record`, the record of the file it names.
pub fn plan(record: Option<&Record>, announcement: &Announcement) -> Plan {
    match record {
        Some(record) if record.is(announcement) && record.handled => Plan::Skip,
        Some(record) if record.is(announcement) => Plan::Handle,
        Some(record) if record.is_newer_than(announcement) => Plan::DownloadAside,
        _ => Plan::Download,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announced(etag: &str, version: Option<&str>, time: &str) -> Announcement {
        Announcement {
            bucket: None,
            key: "k".into(),
            size: Some(3),
            etag: Some(etag.into()),
            version_id: version.map(str::to_owned),
            event_time: Some(time.into()),
            sequencer: None,
        }
    }

    fn recorded(etag: &str, version: Option<&str>, time: &str, handled: bool) -> Record {
        Record {
            size: 3,
            etag: etag.into(),
            version_id: version.map(str::to_owned),
            event_time: Some(time.into()),
            sequencer: None,
            handled,
        }
    }

    #[test]
    fn the_same_bytes_are_skipped_once_handled_and_handled_when_not() {
        let a = announced("e1", None, "2026-01-01T00:00:00.000Z");
        assert_eq!(plan(Some(&recorded("e1", None, "2026-01-01T00:00:00.000Z", true)), &a), Plan::Skip);
        assert_eq!(plan(Some(&recorded("e1", None, "2026-01-01T00:00:00.000Z", false)), &a), Plan::Handle);
        assert_eq!(plan(Some(&recorded("e0", None, "2025-01-01T00:00:00.000Z", true)), &a), Plan::Download);
        assert_eq!(plan(None, &a), Plan::Download);
        let quoted = announced("\"e1\"", None, "2026-01-01T00:00:00.000Z");
        assert_eq!(plan(Some(&recorded("e1", None, "x", true)), &quoted), Plan::Skip, "quotes do not matter");
    }

    #[test]
    fn versions_decide_when_both_sides_have_one() {
        let v2 = announced("same", Some("v2"), "2026-01-01T00:00:02.000Z");
        assert_eq!(plan(Some(&recorded("same", Some("v2"), "2026-01-01T00:00:02.000Z", true)), &v2), Plan::Skip);
        // Same ETag (the same bytes uploaded twice), another version: its own upload.
        assert_eq!(plan(Some(&recorded("same", Some("v1"), "2026-01-01T00:00:01.000Z", true)), &v2), Plan::Download);
        let v1 = announced("same", Some("v1"), "2026-01-01T00:00:01.000Z");
        assert_eq!(
            plan(Some(&recorded("same", Some("v2"), "2026-01-01T00:00:02.000Z", true)), &v1),
            Plan::DownloadAside,
            "an older upload announced late goes beside the newer file"
        );
    }

    #[test]
    fn sequencers_order_uploads_before_event_times() {
        let mut older = announced("a", Some("v1"), "2026-01-01T00:00:09.000Z");
        older.sequencer = Some("0055AED6DCD90281E5".into());
        let mut newer = recorded("b", Some("v2"), "2026-01-01T00:00:01.000Z", true);
        newer.sequencer = Some("0055AED6DCD90281E6".into());
        assert!(newer.is_newer_than(&older), "the sequencer decides, not the clock");
        newer.sequencer = Some("55AED6DCD90281E6".into());
        assert!(!newer.is_newer_than(&older), "a shorter sequencer is earlier");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_record_is_rewritten_in_place_and_one_that_does_not_fit_its_file_reads_as_none() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("data.bin");
        tokio::fs::write(&file, b"abc").await.expect("file");
        write(&file, &recorded("e1", None, "t", false)).await.expect("write");
        let inode = std::fs::metadata(path_for(&file)).expect("record").ino();
        write(&file, &recorded("e1", None, "t", true)).await.expect("rewrite");
        assert_eq!(std::fs::metadata(path_for(&file)).expect("record").ino(), inode, "the same inode");
        assert_eq!(read(&file).await.map(|r| r.handled), Some(true));
        tokio::fs::write(&file, b"abcd").await.expect("the file changed size");
        assert_eq!(read(&file).await, None);
        tokio::fs::write(path_for(&file), b"{\"size\":").await.expect("a torn record");
        assert_eq!(read(&file).await, None);
        tokio::fs::write(path_for(&file), br#"{"size":4,"etag":"old"}"#).await.expect("an older record");
        assert_eq!(read(&file).await.map(|r| r.handled), Some(true), "written before handled existed");
    }
}
