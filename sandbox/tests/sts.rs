//! The sandbox's STS and its MFA policy, driven through the AWS SDK for Rust.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use sandbox::identity::{APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY, MFA_SERIAL, ROLE_ARN};
use sandbox::mfa::{DEFAULT_MFA_SECRET, MfaDevice};
use sandbox::{SEED_BUCKET, Sandbox, SandboxOptions};
use testkit::{SandboxClients as _, mfa_code as code, start_sandbox, user_credentials as user};

async fn start(dir: &tempfile::TempDir, require_mfa: bool) -> Sandbox {
    start_sandbox(SandboxOptions { require_mfa, min_session_seconds: 1, ..SandboxOptions::ephemeral(dir.path()) }).await
}

fn long_term(key: &str, secret: &str) -> Credentials {
    Credentials::new(key, secret, None, None, "test")
}

fn sts(sandbox: &Sandbox, credentials: Credentials) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sandbox.config_as(credentials))
}

fn s3(sandbox: &Sandbox, credentials: Credentials) -> aws_sdk_s3::Client {
    testkit::s3_client(&sandbox.config_as(credentials))
}

fn session(out: Option<&aws_sdk_sts::types::Credentials>) -> Credentials {
    let c = out.expect("credentials in the answer");
    Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_owned()), None, "sts")
}

async fn list_code(client: &aws_sdk_s3::Client) -> Option<String> {
    match client.list_objects_v2().bucket(SEED_BUCKET).send().await {
        Ok(_) => None,
        Err(err) => Some(aws_sdk_s3::Error::from(err).code().unwrap_or("?").to_owned()),
    }
}

#[tokio::test]
async fn mfa_required_denies_the_long_term_key_and_admits_an_mfa_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start(&dir, true).await;

    let err = s3(&sandbox, user()).list_objects_v2().bucket(SEED_BUCKET).send().await.expect_err("denied");
    let err = aws_sdk_s3::Error::from(err);
    assert_eq!(err.code(), Some("AccessDenied"));
    assert!(err.message().unwrap_or_default().contains("MFA"), "the refusal names MFA: {err:?}");

    let out = sts(&sandbox, user())
        .get_session_token()
        .serial_number(MFA_SERIAL)
        .token_code(code())
        .send()
        .await
        .expect("a valid code gets a session");
    let creds = out.credentials().expect("credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(list_code(&s3(&sandbox, session(out.credentials()))).await, None, "the MFA session may use S3");

    let who = sts(&sandbox, session(out.credentials())).get_caller_identity().send().await.expect("identity");
    assert_eq!(who.arn(), Some(sandbox::identity::USER_ARN));

    // A session obtained without MFA is still refused S3.
    let plain = sts(&sandbox, user()).get_session_token().send().await.expect("a session without MFA");
    assert_eq!(list_code(&s3(&sandbox, session(plain.credentials()))).await.as_deref(), Some("AccessDenied"));
}

#[tokio::test]
async fn the_application_key_is_exempt_from_mfa() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start(&dir, true).await;
    let app = long_term(APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY);
    assert_eq!(list_code(&s3(&sandbox, app.clone())).await, None);
    let out = sts(&sandbox, app).get_session_token().send().await.expect("session");
    assert_eq!(list_code(&s3(&sandbox, session(out.credentials()))).await, None, "and so are its sessions");
}

#[tokio::test]
async fn wrong_stale_and_malformed_codes_are_refused_with_aws_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start(&dir, true).await;
    let device = MfaDevice::new(DEFAULT_MFA_SECRET).expect("device");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let good = device.current_code();
    let wrong = format!("{:06}", (good.parse::<u32>().expect("digits") + 1) % 1_000_000);
    for (code, expected) in [
        (wrong.as_str(), "AccessDenied"),
        (device.code_at(now - 600).as_str(), "AccessDenied"),
        ("12345", "ValidationError"),
        ("12345a", "ValidationError"),
    ] {
        let err = sts(&sandbox, user())
            .get_session_token()
            .serial_number(MFA_SERIAL)
            .token_code(code)
            .send()
            .await
            .expect_err("refused");
        assert_eq!(aws_sdk_sts::Error::from(err).code(), Some(expected), "code {code:?}");
    }
}

#[tokio::test]
async fn session_credentials_are_checked_on_every_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start(&dir, false).await;
    let out = sts(&sandbox, user()).get_session_token().send().await.expect("session");
    let c = out.credentials().expect("credentials");

    let bad_token =
        Credentials::new(c.access_key_id(), c.secret_access_key(), Some("not-the-token".into()), None, "test");
    assert_eq!(list_code(&s3(&sandbox, bad_token.clone())).await.as_deref(), Some("InvalidToken"));
    let err = sts(&sandbox, bad_token).get_caller_identity().send().await.expect_err("bad token");
    assert_eq!(aws_sdk_sts::Error::from(err).code(), Some("InvalidClientTokenId"));

    let unknown = Credentials::new("ASIAUNKNOWNKEY000000", "secret", Some("token".into()), None, "test");
    let err = sts(&sandbox, unknown).get_caller_identity().send().await.expect_err("unknown key");
    assert_eq!(aws_sdk_sts::Error::from(err).code(), Some("InvalidClientTokenId"));

    let err = sts(&sandbox, long_term("test", "wrong")).get_caller_identity().send().await.expect_err("bad secret");
    assert_eq!(aws_sdk_sts::Error::from(err).code(), Some("SignatureDoesNotMatch"));

    let err = sts(&sandbox, session(out.credentials())).get_session_token().send().await.expect_err("not allowed");
    assert_eq!(aws_sdk_sts::Error::from(err).code(), Some("AccessDenied"), "GetSessionToken needs long-term keys");
}

#[tokio::test]
async fn expired_session_credentials_get_expired_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start(&dir, false).await;
    let out = sts(&sandbox, user()).get_session_token().duration_seconds(1).send().await.expect("session");
    let expires = std::time::SystemTime::try_from(*out.credentials().expect("credentials").expiration()).expect("time");
    let creds = session(out.credentials());
    // Wait for the moment the session ends (its lifetime is the condition), then a little more.
    let left = expires.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO);
    tokio::time::sleep(left + Duration::from_millis(1100)).await;
    assert_eq!(list_code(&s3(&sandbox, creds.clone())).await.as_deref(), Some("ExpiredToken"));
    let err = sts(&sandbox, creds).get_caller_identity().send().await.expect_err("expired");
    assert_eq!(aws_sdk_sts::Error::from(err).code(), Some("ExpiredToken"));
}

#[tokio::test]
async fn the_seeded_role_requires_mfa_and_reports_the_assumed_role() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start(&dir, true).await;
    let err = sts(&sandbox, user())
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("no-mfa")
        .send()
        .await
        .expect_err("trust requires MFA");
    assert_eq!(aws_sdk_sts::Error::from(err).code(), Some("AccessDenied"));

    let out = sts(&sandbox, user())
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("with-mfa")
        .serial_number(MFA_SERIAL)
        .token_code(code())
        .send()
        .await
        .expect("assume role with MFA");
    let role = session(out.credentials());
    let who = sts(&sandbox, role.clone()).get_caller_identity().send().await.expect("identity");
    assert_eq!(who.arn(), Some("arn:aws:sts::000000000000:assumed-role/sos-data/with-mfa"));
    assert_eq!(list_code(&s3(&sandbox, role)).await, None, "the role session counts as MFA-authenticated");
}

#[tokio::test]
async fn sessions_survive_a_restart_of_the_sandbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    let creds = {
        let sandbox = start(&dir, false).await;
        let out = sts(&sandbox, user()).get_session_token().send().await.expect("session");
        sandbox.shutdown().await;
        session(out.credentials())
    };
    let sandbox = start(&dir, false).await;
    assert_eq!(list_code(&s3(&sandbox, creds)).await, None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(sandbox::state::DB_FILE)).expect("kept").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the session store holds secrets");
    }
}

/// A data directory written before the durable store (objects as files, sessions in
/// `.sandbox.sessions.json`, queues only in memory) opens as it is: its sessions still work and
/// move into the store, its objects stay, and the queues and topic are seeded.
#[tokio::test]
async fn a_data_directory_of_the_previous_version_opens_with_its_sessions_and_objects() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join(SEED_BUCKET)).expect("bucket dir");
    std::fs::write(dir.path().join(SEED_BUCKET).join("kept.txt"), b"from before").expect("object");
    std::fs::write(dir.path().join(".sandbox.seeded"), b"seeded\n").expect("marker");
    let expires_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 3600;
    let legacy = serde_json::json!([{
        "access_key_id": "ASIAOLDVERSION000001",
        "secret_access_key": "old-secret",
        "session_token": "old-token",
        "expires_at": expires_at,
        "arn": sandbox::identity::USER_ARN,
        "user_id": "AIDASANDBOXUSER00001",
        "mfa_authenticated": true,
        "mfa_exempt": false,
    }]);
    std::fs::write(dir.path().join(".sandbox.sessions.json"), legacy.to_string()).expect("sessions");

    let sandbox = start(&dir, true).await;
    let old = Credentials::new("ASIAOLDVERSION000001", "old-secret", Some("old-token".into()), None, "old");
    let listed =
        s3(&sandbox, old).list_objects_v2().bucket(SEED_BUCKET).send().await.expect("the old MFA session works");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["kept.txt"], "the objects stay as they were; the sample objects are not seeded again");
    assert!(!dir.path().join(".sandbox.sessions.json").exists(), "the sessions moved into the store");
    let stored = sandbox::identity::stored_sessions(dir.path()).expect("stored");
    assert!(stored.iter().any(|s| s.access_key_id == "ASIAOLDVERSION000001"));
    let app = long_term(APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY);
    let sqs = aws_sdk_sqs::Client::new(&sandbox.config_as(app));
    let url = sqs.get_queue_url().queue_name(sandbox::SEED_QUEUE).send().await.expect("the seeded queue exists");
    assert!(url.queue_url().is_some_and(|u| u.ends_with(sandbox::SEED_QUEUE)));
}
