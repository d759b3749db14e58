//! A small journal of the messages a subscriber holds, so that after a crash the next start gives
//! them back to the queue at once instead of after their visibility timeout.
//!
//! Each running subscriber keeps `.sos-inflight.<pid>.json` in its download directory: the queue
//! URL and the receipt handle of every message it is working on, rewritten (temp file + rename)
//! when one is received and when one is deleted or left for retry, and removed at a clean exit.
//! At start, [`Journal::recover`] reads the journals of processes that are no longer running and
//! makes each of their messages visible again (`ChangeMessageVisibility` 0) — a handle the queue
//! has meanwhile given to someone else is refused, which is fine — then removes the journal.
//! A live process's journal is never touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

const PREFIX: &str = ".sos-inflight.";
const SUFFIX: &str = ".json";
/// The suffix of the journal's temp file while it is rewritten.
const TEMP_SUFFIX: &str = ".tmp";

/// What a journal file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    queue_url: String,
    /// Message id → receipt handle.
    handles: BTreeMap<String, String>,
}

/// This process's journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    contents: Mutex<Contents>,
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
        Self { path, contents: Mutex::new(Contents { queue_url: queue_url.to_owned(), handles: BTreeMap::new() }) }
    }

    /// Records that message `id` is held, with `receipt_handle`.
    pub fn add(&self, id: &str, receipt_handle: &str) {
        self.update(|c| {
            c.handles.insert(id.to_owned(), receipt_handle.to_owned());
        });
    }

    /// Records that message `id` is no longer held (deleted, or left for the queue to retry).
    pub fn remove(&self, id: &str) {
        self.update(|c| {
            c.handles.remove(id);
        });
    }

    /// Removes the journal file (at a clean exit, when nothing is held).
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    fn update(&self, change: impl FnOnce(&mut Contents)) {
        let Ok(mut contents) = self.contents.lock() else { return };
        change(&mut contents);
        let written = if contents.handles.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            }
        } else {
            serde_json::to_vec(&*contents)
                .map_err(std::io::Error::other)
                .and_then(|json| write_atomically(&self.path, &json))
        };
        if let Err(err) = written {
            // Only recovery speed depends on the journal: the visibility timeout still returns
            // the messages of a crashed process.
            tracing::warn!(path = %self.path.display(), %err, "could not update the in-flight journal");
        }
    }

    /// Gives back to their queues the messages that stopped subscribers held according to their
    /// journals in `dir`, and removes those journals.
    pub async fn recover(sqs: &aws_sdk_sqs::Client, dir: &Path) -> Recovered {
        let mut recovered = Recovered::default();
        let Ok(entries) = std::fs::read_dir(dir) else { return recovered };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(PREFIX) else { continue };
            let (pid, temp) = match (rest.strip_suffix(SUFFIX), rest.strip_suffix(TEMP_SUFFIX)) {
                (Some(pid), _) => (pid, false),
                (None, Some(pid)) => (pid, true),
                (None, None) => continue,
            };
            let Ok(pid) = pid.parse::<u32>() else { continue };
            if common::transfer::process_alive(pid) {
                continue;
            }
            if temp {
                // Killed while rewriting its journal: the journal itself is the one to read.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let contents: Contents =
                std::fs::read(entry.path()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
            for handle in contents.handles.values() {
                let released = sqs
                    .change_message_visibility()
                    .queue_url(&contents.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await;
                match released {
                    Ok(_) => recovered.released += 1,
                    Err(err) => tracing::info!(error = %common::error::describe(&err), "a journal's handle is stale"),
                }
            }
            let _ = std::fs::remove_file(entry.path());
            recovered.journals += 1;
        }
        recovered
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_file_name(format!("{PREFIX}{}{TEMP_SUFFIX}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}
