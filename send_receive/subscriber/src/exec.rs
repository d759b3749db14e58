//! `subscriber --exec PROGRAM [ARGS…]`: the application's own code, run on each file once it is on
//! disk.
//!
//! The program gets the file's path as its last argument (no shell is involved, so no quoting
//! matters) and `SOS_BUCKET`, `SOS_KEY`, `SOS_SIZE`, `SOS_ETAG` in its environment. Its standard
//! output and error pass through, each line prefixed with `[key] `. Exit code 0 means the file
//! is handled; anything else, or running past the timeout (the program is then killed), is an
//! [`ExecError`], and the subscriber leaves the message for the queue to offer again.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// The program to run and its leading arguments.
#[derive(Debug, Clone)]
pub struct Exec {
    /// The program and its arguments (the file's path is appended).
    pub command: Vec<String>,
    /// How long one run may take.
    pub timeout: Duration,
}

/// What the file's run said.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started.
    #[error("--exec {program}: cannot start it: {source}")]
    Start {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited with a failure.
    #[error("--exec {program} exited with {status}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// It ran past the timeout and was killed.
    #[error("--exec {program} ran longer than {secs} s (--exec-timeout) and was stopped")]
    TimedOut {
        /// The program.
        program: String,
        /// The timeout.
        secs: u64,
    },
}

/// What the program is told about the file.
#[derive(Debug, Clone)]
pub struct FileInfo<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The key.
    pub key: &'a str,
    /// The size in bytes.
    pub size: u64,
    /// The ETag, without quotes.
    pub etag: &'a str,
    /// Where it is on disk.
    pub path: &'a Path,
}

impl Exec {
    /// Runs the program on `file`, passing its output through, and waits for it (at most the
    /// timeout).
    pub async fn run(&self, file: &FileInfo<'_>) -> Result<(), ExecError> {
        let program = self.command.first().cloned().unwrap_or_default();
        let mut child = tokio::process::Command::new(&program)
            .args(&self.command[1..])
            .arg(file.path)
            .env("SOS_BUCKET", file.bucket)
            .env("SOS_KEY", file.key)
            .env("SOS_SIZE", file.size.to_string())
            .env("SOS_ETAG", file.etag)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ExecError::Start { program: program.clone(), source })?;
        let out = child.stdout.take().map(|s| tokio::spawn(pass_through(s, file.key.to_owned(), false)));
        let err = child.stderr.take().map(|s| tokio::spawn(pass_through(s, file.key.to_owned(), true)));
        let status = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(source)) => return Err(ExecError::Start { program, source }),
            Err(_) => {
                let _ = child.kill().await;
                return Err(ExecError::TimedOut { program, secs: self.timeout.as_secs() });
            }
        };
        // The program has exited; its output ends once every process holding the pipes has.
        for task in [out, err].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if status.success() { Ok(()) } else { Err(ExecError::Failed { program, status }) }
    }
}

/// Copies `stream` line by line to this process's stdout (or stderr), each line prefixed with
/// `[key] `.
async fn pass_through(stream: impl AsyncRead + Unpin, key: String, to_stderr: bool) {
    let mut reader = BufReader::new(stream);
    let mut bytes = Vec::new();
    while reader.read_until(b'\n', &mut bytes).await.is_ok_and(|n| n > 0) {
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\n', '\r']);
        if to_stderr {
            eprintln!("[{key}] {line}");
        } else {
            println!("[{key}] {line}");
        }
        bytes.clear();
    }
}
