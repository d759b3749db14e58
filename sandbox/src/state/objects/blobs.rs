//! Object bytes in files: `<data dir>/.s3/blobs/<xx>/<id>`, where `id` is 32 random hex digits and
//! `xx` its first two (so that no folder grows past a few thousand entries). A file is never named
//! by a key, so any key S3 accepts is stored the same way, and deleting an object leaves nothing
//! behind.
//!
//! A file is written under its final name before any row names it: until the row commits, nobody
//! can reach it, so no temp-file-and-rename is needed; a crash in between leaves a file that no
//! row names, and [`Blobs::sweep`] removes those at start.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use super::Data;

/// How many bytes a writer gathers before it hands them to a blocking write.
const WRITE_CHUNK: usize = 1024 * 1024;

/// The folder of object files, and whether each file is synced before its row commits.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    sync: bool,
    leases: Arc<Mutex<HashMap<String, Leased>>>,
}

/// A blob being read: by how many readers, and whether its row is gone (remove it when the last
/// reader is done).
#[derive(Debug, Default)]
struct Leased {
    readers: usize,
    doomed: bool,
}

/// A reader's hold on the files of the version it read: while it lives, removing them is
/// deferred (an overwrite or delete that commits meanwhile removes them when it is dropped).
#[derive(Debug)]
pub struct Lease {
    blobs: Blobs,
    ids: Vec<String>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut doomed = Vec::new();
        {
            let mut leases = self.blobs.leases();
            for id in &self.ids {
                if let Some(leased) = leases.get_mut(id) {
                    leased.readers -= 1;
                    if leased.readers == 0 {
                        if leased.doomed {
                            doomed.push(id.clone());
                        }
                        leases.remove(id);
                    }
                }
            }
        }
        for id in doomed {
            let _ = std::fs::remove_file(self.blobs.path(&id));
        }
    }
}

/// A new blob id: 32 random hex digits.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the clock and a counter are unique enough within one data directory.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[8..].copy_from_slice(&n.to_le_bytes());
    }
    hex::encode(bytes)
}

/// Whether `name` has the shape of a blob id (so the sweep never touches anything else).
fn is_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Blobs {
    /// The blob folder under `root` (created, with its 256 fan-out folders, when missing).
    pub fn open(root: &Path, sync: bool) -> io::Result<Self> {
        let dir = root.join("blobs");
        for i in 0..=255u8 {
            std::fs::create_dir_all(dir.join(format!("{i:02x}")))?;
        }
        Ok(Self { dir, sync, leases: Arc::default() })
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Leased>> {
        self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A hold on blobs `ids` for a reader (take it under the store's lock, with the row).
    pub fn lease(&self, ids: Vec<String>) -> Lease {
        if !ids.is_empty() {
            let mut leases = self.leases();
            for id in &ids {
                leases.entry(id.clone()).or_default().readers += 1;
            }
        }
        Lease { blobs: self.clone(), ids }
    }

    /// Where blob `id` lives.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id.get(..2).unwrap_or("00")).join(id)
    }

    /// Opens blob `id` for reading.
    pub fn open_blob(&self, id: &str) -> io::Result<File> {
        File::open(self.path(id))
    }

    /// A writer of a new object's bytes that keeps them in memory up to `inline_max` bytes and
    /// moves them to a file beyond that (always a file when `inline_max` is 0).
    pub fn payload_writer(&self, inline_max: usize) -> PayloadWriter {
        PayloadWriter { blobs: self.clone(), inline_max, buffer: BytesMut::new(), file: None, size: 0 }
    }

    /// Copies `len` bytes from offset `start` of blob `id` into a new blob, in the kernel
    /// (`copy_file_range`, or a reflink where the file system has them) rather than through
    /// this process. Blocking: call it from a blocking thread.
    pub fn copy_range(&self, id: &str, start: u64, len: u64) -> io::Result<String> {
        use std::io::{Read as _, Seek as _};
        let mut source = self.open_blob(id)?;
        source.seek(io::SeekFrom::Start(start))?;
        let new = new_id();
        let path = self.path(&new);
        let result = (|| {
            let mut target = File::create(&path)?;
            let copied = io::copy(&mut (&mut source).take(len), &mut target)?;
            if copied != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the source blob is shorter than its row says",
                ));
            }
            self.finish_file(&target, &path)
        })();
        match result {
            Ok(()) => Ok(new),
            Err(err) => {
                let _ = std::fs::remove_file(&path);
                Err(err)
            }
        }
    }

    /// Makes a new file durable as the store's durability asks: with `--fsync`, its bytes and
    /// its name reach the disk before its row commits.
    fn finish_file(&self, file: &File, path: &Path) -> io::Result<()> {
        if self.sync {
            file.sync_all()?;
            if let Some(parent) = path.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(())
    }

    /// Removes the blobs `ids` (after the rows that named them are gone), on a blocking thread.
    pub fn remove_later(&self, mut ids: Vec<String>) {
        {
            let mut leases = self.leases();
            ids.retain(|id| match leases.get_mut(id) {
                Some(leased) => {
                    leased.doomed = true;
                    false
                }
                None => true,
            });
        }
        if ids.is_empty() {
            return;
        }
        let this = self.clone();
        let remove = move || {
            for id in ids {
                if let Err(err) = std::fs::remove_file(this.path(&id))
                    && err.kind() != io::ErrorKind::NotFound
                {
                    // Left for the sweep at the next start.
                    tracing::warn!("could not remove the object file {id}: {err}");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }

    /// Removes every file under the blob folder that `referenced` does not name: what a crash
    /// left between writing a file and committing its row, or between deleting a row and its
    /// file. Returns how many were removed. Run at start, before any request.
    pub fn sweep(&self, referenced: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for fan in std::fs::read_dir(&self.dir)? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(fan.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if is_id(name) && !referenced.contains(name) {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Moves (by a hard link: the source stays until the caller removes it) an existing file
    /// into a new blob; used by the import of an earlier data directory.
    pub fn adopt(&self, file: &Path) -> io::Result<String> {
        let id = new_id();
        let path = self.path(&id);
        std::fs::hard_link(file, &path).or_else(|_| std::fs::copy(file, &path).map(drop))?;
        if self.sync {
            File::open(&path)?.sync_all()?;
        }
        Ok(id)
    }
}

/// A file being written, with the write in flight (if any) on a blocking thread.
#[derive(Debug)]
struct OpenBlob {
    id: String,
    path: PathBuf,
    file: Option<File>,
    pending: Option<JoinHandle<(File, io::Result<()>)>>,
}

impl OpenBlob {
    /// Waits for the write in flight, if any.
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(pending) = self.pending.take() {
            let (file, result) = pending.await.map_err(io::Error::other)?;
            self.file = Some(file);
            result?;
        }
        Ok(())
    }

    /// Hands `bytes` to a blocking write once the previous one is done: the next chunk arrives
    /// from the network while this one goes to the file.
    async fn write(&mut self, bytes: Bytes) -> io::Result<()> {
        self.settle().await?;
        let mut file = self.file.take().ok_or_else(|| io::Error::other("the object file was lost"))?;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let result = file.write_all(&bytes);
            (file, result)
        }));
        Ok(())
    }
}

/// A new object's (or part's) bytes on their way in: gathered in memory while they fit in
/// `inline_max`, else written to a new blob. Dropped unfinished, it removes its file.
#[derive(Debug)]
pub struct PayloadWriter {
    blobs: Blobs,
    inline_max: usize,
    buffer: BytesMut,
    file: Option<OpenBlob>,
    size: u64,
}

impl PayloadWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `chunk`.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.size += chunk.len() as u64;
        self.buffer.extend_from_slice(chunk);
        if self.file.is_none() && self.buffer.len() <= self.inline_max {
            return Ok(());
        }
        if self.file.is_none() {
            let id = new_id();
            let path = self.blobs.path(&id);
            let file = File::create(&path)?;
            self.file = Some(OpenBlob { id, path, file: Some(file), pending: None });
        }
        if self.buffer.len() >= WRITE_CHUNK
            && let Some(open) = &mut self.file
        {
            let bytes = self.buffer.split().freeze();
            open.write(bytes).await?;
        }
        Ok(())
    }

    /// The bytes as stored: inline, or the blob they were written to (synced as the store's
    /// durability asks).
    pub async fn finish(mut self) -> io::Result<Data> {
        if self.file.is_none() && self.inline_max == 0 {
            // A writer that keeps nothing inline (a part's) makes a file even for no bytes.
            let id = new_id();
            let path = self.blobs.path(&id);
            let file = File::create(&path)?;
            self.file = Some(OpenBlob { id, path, file: Some(file), pending: None });
        }
        let Some(mut open) = self.file.take() else {
            return Ok(Data::Inline(std::mem::take(&mut self.buffer).freeze()));
        };
        let rest = std::mem::take(&mut self.buffer).freeze();
        match close(&mut open, rest, self.blobs.clone()).await {
            Ok(()) => Ok(Data::Pieces(vec![super::Piece { blob: std::mem::take(&mut open.id), size: self.size }])),
            Err(err) => {
                let _ = std::fs::remove_file(&open.path);
                Err(err)
            }
        }
    }
}

/// Writes the last bytes of `open`, waits for every write, and makes the file durable.
async fn close(open: &mut OpenBlob, rest: Bytes, blobs: Blobs) -> io::Result<()> {
    if !rest.is_empty() {
        open.write(rest).await?;
    }
    open.settle().await?;
    let file = open.file.take().ok_or_else(|| io::Error::other("the object file was lost"))?;
    let path = open.path.clone();
    tokio::task::spawn_blocking(move || blobs.finish_file(&file, &path)).await.map_err(io::Error::other)?
}

impl Drop for PayloadWriter {
    fn drop(&mut self) {
        if let Some(open) = self.file.take() {
            // A write may still be in flight; the file is removed whatever it does (on Unix a
            // removed file's open handle writes nowhere anyone can see).
            let _ = std::fs::remove_file(&open.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_payloads_stay_inline_and_large_ones_go_to_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = Blobs::open(dir.path(), false).expect("blobs");
        let mut small = blobs.payload_writer(10);
        small.write(b"0123456789").await.expect("write");
        assert!(matches!(small.finish().await.expect("finish"), Data::Inline(b) if b.as_ref() == b"0123456789"));

        let mut large = blobs.payload_writer(10);
        let bytes: Vec<u8> = (0..3 * WRITE_CHUNK + 5).map(|i| (i % 251) as u8).collect();
        for chunk in bytes.chunks(70_000) {
            large.write(chunk).await.expect("write");
        }
        let Data::Pieces(pieces) = large.finish().await.expect("finish") else { panic!("expected a file") };
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].size, bytes.len() as u64);
        assert_eq!(std::fs::read(blobs.path(&pieces[0].blob)).expect("read"), bytes);
    }

    #[tokio::test]
    async fn an_abandoned_writer_leaves_no_file_and_the_sweep_removes_unnamed_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = Blobs::open(dir.path(), false).expect("blobs");
        let mut writer = blobs.payload_writer(0);
        writer.write(b"abc").await.expect("write");
        drop(writer);
        let count = |blobs: &Blobs| {
            std::fs::read_dir(&blobs.dir)
                .expect("dir")
                .map(|fan| std::fs::read_dir(fan.expect("fan").path()).expect("fan dir").count())
                .sum::<usize>()
        };
        assert_eq!(count(&blobs), 0);

        let mut keep = blobs.payload_writer(0);
        keep.write(b"keep").await.expect("write");
        let Data::Pieces(kept) = keep.finish().await.expect("finish") else { panic!("file") };
        let mut lose = blobs.payload_writer(0);
        lose.write(b"lose").await.expect("write");
        let Data::Pieces(_lost) = lose.finish().await.expect("finish") else { panic!("file") };
        let referenced = HashSet::from([kept[0].blob.clone()]);
        assert_eq!(blobs.sweep(&referenced).expect("sweep"), 1);
        assert_eq!(count(&blobs), 1);
        assert!(blobs.path(&kept[0].blob).exists());
    }

    #[test]
    fn a_range_copy_has_exactly_the_bytes_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = Blobs::open(dir.path(), true).expect("blobs");
        let id = new_id();
        std::fs::write(blobs.path(&id), b"0123456789").expect("write");
        let copy = blobs.copy_range(&id, 3, 4).expect("copy");
        assert_eq!(std::fs::read(blobs.path(&copy)).expect("read"), b"3456");
        assert!(blobs.copy_range(&id, 8, 5).is_err(), "past the end");
    }
}
