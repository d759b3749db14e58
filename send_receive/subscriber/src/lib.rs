//! The parts of the SOS subscriber its tests exercise directly, kept apart from its `main.rs`: `message` and
//! `safe_path` are pure functions; `exec` runs a program; `journal` writes files and, after a crash, calls SQS.
//!
//! - [`message`] turns the body of an SQS message into the objects it announces, whichever way the announcement
//!   arrived (our notifier's JSON, or S3's own event notification, raw or inside an SNS envelope).
//! - [`exec`] runs the application's program on each downloaded file (`--exec`).
//! - [`journal`] records the messages in hand, so a restart after a crash gives them back at once.
//! - [`safe_path`] turns an S3 key into a local path that cannot leave the download directory.

pub mod exec;
pub mod journal;
pub mod message;
pub mod safe_path;
