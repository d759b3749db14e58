//! A small journal of the messages a subscriber holds, so that after a crash the next start gives
//! them back to the queue at once instead of after their visibility timeout.
//!
//! Each running subscriber keeps `.sos-inflight.<pid>.log` in its download directory: the queue
//! URL on its first line, then a line `+<id> <receipt handle>` when a message is received and
//! `-<id>` when it is deleted or left for retry. Lines are appended to the one file (no temp file,
//! no rename: a message costs no inode), and when the file has grown to many times what it holds
//! it is rewritten in place with only the messages still held. It is removed at a clean exit.
//! At start, [`Journal::recover`] reads the journals of processes that are no longer running and
//! makes their messages visible again (`ChangeMessageVisibilityBatch`, 0) — a handle the queue
//! has meanwhile given to someone else is refused, which is fine — then removes them. A live
//! process's journal is never touched. Only recovery speed depends on the journal: a line lost in
//! a crash leaves its message to come back after its visibility timeout.
//!
//! Journals of the earlier format (`.sos-inflight.<pid>.json`, rewritten whole each time) are
//! recovered too.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use serde::Deserialize;

const PREFIX: &str = ".sos-inflight.";
const SUFFIX: &str = ".log";
/// The earlier format's suffix, and its temp file's.
const OLD_SUFFIX: &str = ".json";
const OLD_TEMP_SUFFIX: &str = ".tmp";
/// The journal is compacted once it has this many lines for every message it holds (and some).
const COMPACT_FACTOR: usize = 8;
const COMPACT_MIN_LINES: usize = 256;

#[derive(Debug, Default)]
struct State {
    file: Option<File>,
    held: BTreeMap<String, String>,
    lines: usize,
}

/// This process's journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    queue_url: String,
    state: Mutex<State>,
}

/// What [`Journal::recover`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Journals of stopped processes read.
    pub journals: usize,
    /// Messages made visible again.
    pub released: usize,
}

impl Journal {
    /// The journal of this process for `queue_url`, in `dir` (nothing is written until a message
    /// is added).
    pub fn new(dir: &Path, queue_url: &str) -> Self {
        let path = dir.join(format!("{PREFIX}{}{SUFFIX}", std::process::id()));
        Self { path, queue_url: queue_url.to_owned(), state: Mutex::new(State::default()) }
    }

    /// Records that message `id` is held, with `receipt_handle`.
    pub fn add(&self, id: &str, receipt_handle: &str) {
        self.update(|state| {
            state.held.insert(id.to_owned(), receipt_handle.to_owned());
            format!("+{id} {receipt_handle}\n")
        });
    }

    /// Records that message `id` is no longer held (deleted, or left for the queue to retry).
    pub fn remove(&self, id: &str) {
        self.update(|state| {
            state.held.remove(id);
            format!("-{id}\n")
        });
    }

    /// Removes the journal file (at a clean exit, when nothing is held).
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    fn update(&self, change: impl FnOnce(&mut State) -> String) {
        let Ok(mut state) = self.state.lock() else { return };
        let line = change(&mut state);
        if let Err(err) = self.append(&mut state, &line) {
            tracing::warn!(path = %self.path.display(), %err, "could not update the in-flight journal");
        }
    }

    fn append(&self, state: &mut State, line: &str) -> std::io::Result<()> {
        if state.file.is_none() {
            let mut file = File::options().create(true).truncate(true).write(true).open(&self.path)?;
            writeln!(file, "{}", self.queue_url)?;
            state.file = Some(file);
        }
        let compact = state.lines >= COMPACT_MIN_LINES && state.lines >= COMPACT_FACTOR * state.held.len().max(1);
        let Some(file) = state.file.as_mut() else { return Ok(()) };
        if compact {
            // Rewritten in place: the same file, truncated, then what is held.
            let mut text = format!("{}\n", self.queue_url);
            for (id, handle) in &state.held {
                text.push_str(&format!("+{id} {handle}\n"));
            }
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(text.as_bytes())?;
            state.lines = state.held.len();
            return Ok(());
        }
        file.write_all(line.as_bytes())?;
        state.lines += 1;
        Ok(())
    }

    /// Gives back to their queues the messages that stopped subscribers held according to their
    /// journals in `dir`, and removes those journals.
    pub async fn recover(sqs: &aws_sdk_sqs::Client, dir: &Path) -> Recovered {
        let mut recovered = Recovered::default();
        let Ok(entries) = std::fs::read_dir(dir) else { return recovered };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(PREFIX) else { continue };
            let (pid, kind) =
                match (rest.strip_suffix(SUFFIX), rest.strip_suffix(OLD_SUFFIX), rest.strip_suffix(OLD_TEMP_SUFFIX)) {
                    (Some(pid), _, _) => (pid, Kind::Log),
                    (_, Some(pid), _) => (pid, Kind::OldJson),
                    (_, _, Some(pid)) => (pid, Kind::OldTemp),
                    _ => continue,
                };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if common::transfer::process_alive(pid) {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let held = match kind {
                // Killed while rewriting an old-format journal: the journal itself is the one to read.
                Kind::OldTemp => None,
                Kind::OldJson => read_old(&text),
                Kind::Log => Some(read_log(&text)),
            };
            if let Some((queue_url, handles)) = held {
                recovered.released += release(sqs, &queue_url, &handles).await;
                recovered.journals += 1;
            }
            let _ = std::fs::remove_file(entry.path());
        }
        recovered
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Log,
    OldJson,
    OldTemp,
}

/// The queue URL and the handles still held, from a journal's lines (a torn last line is
/// ignored).
fn read_log(text: &str) -> (String, Vec<String>) {
    let mut lines = text.lines();
    let queue_url = lines.next().unwrap_or_default().to_owned();
    let mut held: BTreeMap<&str, &str> = BTreeMap::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix('+')
            && let Some((id, handle)) = rest.split_once(' ')
        {
            held.insert(id, handle);
        } else if let Some(id) = line.strip_prefix('-') {
            held.remove(id);
        }
    }
    (queue_url, held.into_values().map(str::to_owned).collect())
}

fn read_old(text: &str) -> Option<(String, Vec<String>)> {
    #[derive(Deserialize)]
    struct Contents {
        queue_url: String,
        handles: BTreeMap<String, String>,
    }
    let contents: Contents = serde_json::from_str(text).ok()?;
    Some((contents.queue_url, contents.handles.into_values().collect()))
}

/// Makes the messages of `handles` visible again, ten at a time; returns how many were.
async fn release(sqs: &aws_sdk_sqs::Client, queue_url: &str, handles: &[String]) -> usize {
    let mut released = 0;
    for chunk in handles.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        match sqs.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
            Ok(out) => {
                released += out.successful().len();
                if !out.failed().is_empty() {
                    tracing::info!(stale = out.failed().len(), "some of a journal's handles are stale");
                }
            }
            Err(err) => {
                tracing::info!(error = %common::error::describe(&err), "a journal's handles could not be released")
            }
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_what_is_held_and_ignores_a_torn_line() {
        let text = "http://q\n+a ha\n+b hb\n-a\n+c hc\n-c\n+d h";
        let (url, handles) = read_log(text);
        assert_eq!(url, "http://q");
        // "+d h" is a complete line to the parser; a line cut before its space is not.
        assert_eq!(handles, ["hb", "h"]);
        let (_, handles) = read_log("http://q\n+a ha\n+b");
        assert_eq!(handles, ["ha"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_journal_is_appended_and_compacted_in_its_one_file() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Journal::new(dir.path(), "http://queue");
        journal.add("first", "h1");
        let path = dir.path().join(format!("{PREFIX}{}{SUFFIX}", std::process::id()));
        let inode = std::fs::metadata(&path).expect("journal").ino();
        for i in 0..1000 {
            journal.add(&format!("m{i}"), &format!("handle {i}"));
            journal.remove(&format!("m{i}"));
        }
        assert_eq!(std::fs::metadata(&path).expect("journal").ino(), inode, "never replaced by another file");
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(text.lines().count() < 300, "compacted: {} lines", text.lines().count());
        assert_eq!(read_log(&text), ("http://queue".to_owned(), vec!["h1".to_owned()]));
        let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(files.len(), 1, "one file: the journal");
        journal.close();
        assert!(!path.exists());
    }
}
