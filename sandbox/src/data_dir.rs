//! The data directory as one process's own: the lock that lets only one process serve it, the file
//! that tells others where that process serves it, and where it is unless told otherwise.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The lock file a serving process holds (exclusively) for as long as it runs.
pub(crate) const LOCK_FILE: &str = ".sandbox.lock";
/// The file holding the URL of the process that holds the lock.
pub(crate) const URL_FILE: &str = ".sandbox.url";

/// The per-user directory where the sandbox keeps its data unless told otherwise:
/// `$XDG_DATA_HOME/sos-sandbox` (usually `~/.local/share/sos-sandbox`) on Linux,
/// `~/Library/Application Support/sos-sandbox` on macOS.
pub fn default_data_dir() -> PathBuf {
    dirs::data_local_dir().unwrap_or_else(std::env::temp_dir).join("sos-sandbox")
}

/// The URL recorded by the process that serves `data_dir`, if any process does now.
///
/// Returns `None` when no process holds the data directory's lock.
pub fn serving_url(data_dir: &Path) -> Option<String> {
    let lock = OpenOptions::new().read(true).write(true).open(data_dir.join(LOCK_FILE)).ok()?;
    match lock.try_lock() {
        // Nobody holds it: whatever URL file is there is stale.
        Ok(()) => None,
        Err(_) => read_url_file(data_dir),
    }
}

fn read_url_file(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(URL_FILE)).ok().map(|s| s.trim().to_owned())
}

/// Takes the lock of `data_dir`, or says which process serves it.
pub(crate) fn acquire_lock(data_dir: &Path) -> Result<File, Error> {
    let path = data_dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(Error::io("opening", &path))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(TryLockError::WouldBlock) => {
            Err(Error::DataDirInUse { data_dir: data_dir.to_path_buf(), url: read_url_file(data_dir) })
        }
        Err(TryLockError::Error(source)) => Err(Error::Io { action: "locking", path, source }),
    }
}

/// Records `url` as where this process serves `data_dir` (through a temp file and a rename, so a
/// reader never sees half a URL).
pub(crate) fn write_url_file(data_dir: &Path, url: &str) -> Result<(), Error> {
    let path = data_dir.join(URL_FILE);
    let tmp = data_dir.join(format!("{URL_FILE}.{}", std::process::id()));
    let mut file = File::create(&tmp).map_err(Error::io("writing", &tmp))?;
    writeln!(file, "{url}").map_err(Error::io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("writing", &path))
}

/// Removes the URL file when this process stops serving `data_dir`.
pub(crate) fn remove_url_file(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(URL_FILE));
}
