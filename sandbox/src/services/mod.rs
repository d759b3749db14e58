//! The services behind the sandbox's one port. Each decodes its own inputs, changes its state
//! (kept in `state`), and encodes its own answers; none knows HTTP, signatures or callers'
//! policies, which the gate in `http` has applied before a request reaches them.

pub mod query;
pub mod s3;
pub mod sns;
pub mod sqs;
pub mod sts;
