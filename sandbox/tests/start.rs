//! How a sandbox starts on a used machine. Reachable from the network, it is not open to everyone:
//! bound beyond loopback it refuses the well-known keys and accepts its own (made once, kept 0600
//! in the data directory), and its own paths answer this machine only; on loopback nothing
//! changes. A port already taken stops the start before the data directory is seeded, and a data
//! directory started empty is not seeded by a later start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use sandbox::keys::{KEYS_FILE, KeyPair, LongTermKeys};
use sandbox::{SEED_BUCKET, Sandbox, SandboxOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A sandbox listening on every interface (0.0.0.0): beyond loopback, although the tests reach it
/// through 127.0.0.1.
async fn on_every_interface(data_dir: &Path) -> Sandbox {
    let options = SandboxOptions {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        ..SandboxOptions::ephemeral(data_dir)
    };
    start_again(options).await
}

/// Starts a sandbox on a data directory another one of this test has just released. The release
/// is the lock file's close, and a process another test forks at that moment holds a copy of the
/// file until it runs its program: so wait for the lock, up to 10 s, rather than fail at once.
async fn start_again(options: SandboxOptions) -> Sandbox {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Sandbox::start(options.clone()).await {
            Err(sandbox::Error::DataDirInUse { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            started => return started.expect("the sandbox starts"),
        }
    }
}

/// The URL through which this machine reaches `sandbox`: 127.0.0.1 and its port.
fn loopback_url(sandbox: &Sandbox) -> String {
    format!("http://127.0.0.1:{}", sandbox.addr().port())
}

fn config(url: &str, key: &KeyPair) -> aws_config::SdkConfig {
    testkit::config_with(url, Credentials::new(&key.access_key_id, &key.secret_access_key, None, None, "test"))
}

fn s3(url: &str, key: &KeyPair) -> aws_sdk_s3::Client {
    testkit::s3_client(&config(url, key))
}

fn well_known() -> LongTermKeys {
    LongTermKeys::well_known()
}

#[tokio::test]
async fn bound_beyond_loopback_test_test_is_refused_with_invalid_access_key_id_and_its_own_keys_work() {
    let data = tempfile::tempdir().expect("data");
    let sandbox = on_every_interface(data.path()).await;
    let url = loopback_url(&sandbox);
    let own = sandbox.keys().clone();
    assert!(!own.are_well_known(), "keys of its own");

    for refused in [&well_known().user, &well_known().app] {
        let err = s3(&url, refused).list_buckets().send().await.expect_err("the well-known key is refused");
        assert_eq!(err.code(), Some("InvalidAccessKeyId"), "{}: {err:?}", refused.access_key_id);
    }
    let sqs = aws_sdk_sqs::Client::new(&config(&url, &well_known().user));
    let err = sqs.list_queues().send().await.expect_err("refused by SQS too");
    assert_eq!(aws_sdk_sqs::error::ProvideErrorMetadata::code(&err), Some("InvalidClientTokenId"));

    let listed = s3(&url, &own.user).list_buckets().send().await.expect("its own user key works");
    assert!(listed.buckets().iter().any(|b| b.name() == Some(SEED_BUCKET)));
    s3(&url, &own.app).head_bucket().bucket(SEED_BUCKET).send().await.expect("its own application key works");
    let sts = aws_sdk_sts::Client::new(&config(&url, &own.user));
    let me = sts.get_caller_identity().send().await.expect("STS with its own key");
    assert_eq!(me.arn(), Some("arn:aws:iam::000000000000:user/sandbox"));

    // Kept for the owner only, and the same keys on the next start.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(sandbox.data_dir().join(KEYS_FILE)).expect("keys file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(sandbox);
    let again = on_every_interface(data.path()).await;
    assert_eq!(again.keys(), &own);
    // The notifier's in-process SNS client signs with the application key: uploads are still
    // announced on the seeded queue.
    s3(&loopback_url(&again), &own.user)
        .put_object()
        .bucket(SEED_BUCKET)
        .key("announced.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("upload");
    let sqs = aws_sdk_sqs::Client::new(&config(&loopback_url(&again), &own.user));
    let queue = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("queue");
    let got = sqs
        .receive_message()
        .queue_url(queue.queue_url().expect("url"))
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive");
    let body = got.messages().first().and_then(|m| m.body()).expect("the upload is announced");
    assert!(body.contains("announced.txt"), "{body}");
}

#[tokio::test]
async fn on_loopback_it_keeps_test_test_and_makes_no_keys() {
    let data = tempfile::tempdir().expect("data");
    let sandbox = Sandbox::start(SandboxOptions::ephemeral(data.path())).await.expect("sandbox");
    assert!(sandbox.keys().are_well_known());
    s3(sandbox.url(), &well_known().user).list_buckets().send().await.expect("test/test works on loopback");
    assert!(!sandbox.data_dir().join(KEYS_FILE).exists(), "no keys file on loopback");
    let health = get(sandbox.addr(), "/_sandbox/health").await;
    assert!(health.contains("\"keys\":\"well-known\""), "{health}");
}

/// `GET path` from this machine to `addr`; the whole answer, head and body.
async fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    answer
}

/// An address of this machine that is not a loopback one (the one it would send from to a
/// documentation address; no packet is sent), if it has one.
fn another_address_of_this_machine() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn its_own_paths_answer_this_machine_only_when_this_machine_has_another_address_to_test_from() {
    let data = tempfile::tempdir().expect("data");
    let sandbox = on_every_interface(data.path()).await;
    let port = sandbox.addr().port();
    let here = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let health = get(here, "/_sandbox/health").await;
    assert!(health.starts_with("HTTP/1.1 200") && health.contains("\"data_dir\""), "details on loopback: {health}");
    assert!(get(here, "/_sandbox/chaos/faults").await.starts_with("HTTP/1.1 200"));

    let Some(other) = another_address_of_this_machine() else {
        return;
    };
    // Connected through that address, the client's address is that one too: not loopback.
    let there = SocketAddr::new(other, port);
    let health = get(there, "/_sandbox/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"service\":\"sos-sandbox\"") && health.contains("\"keys\":\"own\""), "{health}");
    for detail in ["data_dir", "pid", "mfa_serial"] {
        assert!(!health.contains(detail), "{detail} is not shown beyond loopback: {health}");
    }
    for path in ["/_sandbox/chaos/faults", "/_sandbox/chaos/effects", "/_aws/sqs/messages"] {
        let answer = get(there, path).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{path}: {answer}");
    }
}

#[tokio::test]
async fn a_port_in_use_stops_the_start_before_the_data_directory_is_seeded() {
    let busy = tempfile::tempdir().expect("data");
    let running = Sandbox::start(SandboxOptions::ephemeral(busy.path())).await.expect("sandbox");
    let data = tempfile::tempdir().expect("data");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--port", &running.addr().port().to_string(), "--data-dir"])
        .arg(data.path())
        .env_clear()
        .output()
        .await
        .expect("sandbox runs");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("cannot listen on") && err.contains("Pick another port with --port"), "{err}");
    assert!(!sandbox::holds_data(data.path()), "nothing seeded");
    assert!(!data.path().join(SEED_BUCKET).exists(), "no bucket made");
}

#[tokio::test]
async fn the_standalone_sandbox_beyond_loopback_says_so_and_pastes_its_own_keys() {
    let data = tempfile::tempdir().expect("data");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["--host", "0.0.0.0", "--port", "0", "--data-dir"])
        .arg(data.path())
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sandbox starts");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        use tokio::io::AsyncBufReadExt as _;
        while !banner.contains("Role ") {
            if stdout.read_line(&mut banner).await.expect("read") == 0 {
                break;
            }
        }
    })
    .await
    .expect("the banner within 30 s");
    let keys = LongTermKeys::own(data.path()).expect("the keys it made");
    let first = banner.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("Listening beyond loopback on 0.0.0.0:") && first.contains("test/test is refused"),
        "{banner}"
    );
    let paste = format!(
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
        keys.user.access_key_id, keys.user.secret_access_key
    );
    assert!(banner.lines().any(|l| l == paste), "{banner}");
    assert!(!banner.contains("AWS_ACCESS_KEY_ID=test"), "{banner}");
    child.kill().await.expect("stop");

    let printed = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .arg("keys")
        .arg("--data-dir")
        .arg(data.path())
        .env_clear()
        .output()
        .await
        .expect("sandbox keys");
    assert!(printed.status.success());
    assert!(String::from_utf8_lossy(&printed.stdout).contains(paste.trim_start()), "the same keys");
}

#[tokio::test]
async fn a_data_directory_started_empty_is_not_seeded_by_a_later_start() {
    let data = tempfile::tempdir().expect("data");
    let empty = Sandbox::start(SandboxOptions { seed: false, ..SandboxOptions::ephemeral(data.path()) })
        .await
        .expect("empty sandbox");
    // What setup makes there: the seed's queue name, with other attributes than the seed's.
    let sqs = aws_sdk_sqs::Client::new(&config(empty.url(), &well_known().user));
    sqs.create_queue()
        .queue_name(sandbox::SEED_QUEUE)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "45")
        .send()
        .await
        .expect("queue");
    drop(empty);

    let again = start_again(SandboxOptions::ephemeral(data.path())).await;
    let buckets = s3(again.url(), &well_known().user).list_buckets().send().await.expect("list");
    assert!(buckets.buckets().is_empty(), "nothing seeded: {:?}", buckets.buckets());
    let sqs = aws_sdk_sqs::Client::new(&config(again.url(), &well_known().user));
    let queue = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("the user's queue");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue.queue_url().expect("url"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .expect("attributes");
    assert_eq!(
        attributes.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)),
        Some(&"45".to_owned()),
        "kept as the user made it"
    );
}
