//! The self-renewing session provider keeps a long-running loop of S3 calls working while its
//! sessions expire underneath it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use common::credentials::SessionTokenProvider;
use sandbox::{SEED_BUCKET, SandboxOptions};
use testkit::{SandboxClients as _, TestSandbox};

/// Counts the sessions the SDK asked for.
#[derive(Debug)]
struct Counting {
    inner: SessionTokenProvider,
    calls: Arc<AtomicUsize>,
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.provide_credentials()
    }
}

#[tokio::test]
async fn s3_calls_keep_working_across_several_session_expirations() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { min_session_seconds: 1, ..o }).await;
    let base = sandbox.config();
    let calls = Arc::new(AtomicUsize::new(0));
    let provider =
        Counting { inner: SessionTokenProvider::new(aws_sdk_sts::Client::new(&base), Some(1)), calls: calls.clone() };
    let config = base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
    let s3 = testkit::s3_client(&config);

    // Sessions last 1 s; keep calling for 3.5 s, as a long-running program would.
    let started = Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_millis(3_500) {
        let listed = s3.list_objects_v2().bucket(SEED_BUCKET).send().await;
        assert!(listed.is_ok(), "request {requests} at {:?} failed: {listed:?}", started.elapsed());
        requests += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sessions = calls.load(Ordering::SeqCst);
    assert!(sessions >= 4, "at least 3 renewals over 3.5 s of 1-second sessions, got {sessions} sessions");
    assert!(requests >= 20, "the loop kept running: {requests} requests");
}
