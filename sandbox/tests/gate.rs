//! The gate every request passes: one table of {S3, STS, SQS, SNS} × {long-term key, application
//! key, MFA session, role session, expired session, wrong secret, unknown key} × {MFA required,
//! not required} → the exact answer AWS gives, one row each, through the AWS SDK for Rust.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use sandbox::identity::{APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY, MFA_SERIAL, ROLE_ARN};
use sandbox::{Sandbox, SandboxOptions};
use testkit::{SandboxClients as _, TestSandbox, mfa_code};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    S3,
    Sts,
    Sqs,
    Sns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    LongTerm,
    App,
    MfaSession,
    RoleSession,
    ExpiredSession,
    WrongSecret,
    Unknown,
}

use Key::*;
use Service::*;

/// `(service, credentials, MFA required, the error code AWS answers — None for success)`.
const TABLE: &[(Service, Key, bool, Option<&str>)] = &[
    (S3, LongTerm, false, None),
    (S3, App, false, None),
    (S3, MfaSession, false, None),
    (S3, RoleSession, false, None),
    (S3, ExpiredSession, false, Some("ExpiredToken")),
    (S3, WrongSecret, false, Some("SignatureDoesNotMatch")),
    (S3, Unknown, false, Some("InvalidAccessKeyId")),
    (S3, LongTerm, true, Some("AccessDenied")),
    (S3, App, true, None),
    (S3, MfaSession, true, None),
    (S3, RoleSession, true, None),
    (S3, ExpiredSession, true, Some("ExpiredToken")),
    (S3, WrongSecret, true, Some("SignatureDoesNotMatch")),
    (S3, Unknown, true, Some("InvalidAccessKeyId")),
    (Sts, LongTerm, false, None),
    (Sts, App, false, None),
    (Sts, MfaSession, false, None),
    (Sts, RoleSession, false, None),
    (Sts, ExpiredSession, false, Some("ExpiredToken")),
    (Sts, WrongSecret, false, Some("SignatureDoesNotMatch")),
    (Sts, Unknown, false, Some("InvalidClientTokenId")),
    // STS stays open without MFA: it is where the MFA session comes from.
    (Sts, LongTerm, true, None),
    (Sts, App, true, None),
    (Sts, MfaSession, true, None),
    (Sts, RoleSession, true, None),
    (Sts, ExpiredSession, true, Some("ExpiredToken")),
    (Sts, WrongSecret, true, Some("SignatureDoesNotMatch")),
    (Sts, Unknown, true, Some("InvalidClientTokenId")),
    (Sqs, LongTerm, false, None),
    (Sqs, App, false, None),
    (Sqs, MfaSession, false, None),
    (Sqs, RoleSession, false, None),
    (Sqs, ExpiredSession, false, Some("ExpiredToken")),
    (Sqs, WrongSecret, false, Some("SignatureDoesNotMatch")),
    (Sqs, Unknown, false, Some("InvalidClientTokenId")),
    (Sqs, LongTerm, true, Some("AccessDenied")),
    (Sqs, App, true, None),
    (Sqs, MfaSession, true, None),
    (Sqs, RoleSession, true, None),
    (Sqs, ExpiredSession, true, Some("ExpiredToken")),
    (Sqs, WrongSecret, true, Some("SignatureDoesNotMatch")),
    (Sqs, Unknown, true, Some("InvalidClientTokenId")),
    (Sns, LongTerm, false, None),
    (Sns, App, false, None),
    (Sns, MfaSession, false, None),
    (Sns, RoleSession, false, None),
    (Sns, ExpiredSession, false, Some("ExpiredToken")),
    (Sns, WrongSecret, false, Some("SignatureDoesNotMatch")),
    (Sns, Unknown, false, Some("InvalidClientTokenId")),
    (Sns, LongTerm, true, Some("AccessDenied")),
    (Sns, App, true, None),
    (Sns, MfaSession, true, None),
    (Sns, RoleSession, true, None),
    (Sns, ExpiredSession, true, Some("ExpiredToken")),
    (Sns, WrongSecret, true, Some("SignatureDoesNotMatch")),
    (Sns, Unknown, true, Some("InvalidClientTokenId")),
];

/// The sandbox's configuration with `credentials` and no retries: one answer per call.
fn config(sandbox: &Sandbox, credentials: Credentials) -> aws_config::SdkConfig {
    sandbox.config_as(credentials).to_builder().retry_config(aws_config::retry::RetryConfig::disabled()).build()
}

fn long_term(key: &str, secret: &str) -> Credentials {
    Credentials::new(key, secret, None, None, "test")
}

fn session(out: Option<&aws_sdk_sts::types::Credentials>) -> Credentials {
    let c = out.expect("credentials in the answer");
    Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_owned()), None, "sts")
}

/// One call of `service` with `credentials`: the error code, or `None` when it succeeded.
async fn call(sandbox: &Sandbox, service: Service, credentials: Credentials) -> Option<String> {
    let config = config(sandbox, credentials);
    fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(err: E) -> Option<String> {
        Some(err.code().unwrap_or("(no code)").to_owned())
    }
    match service {
        S3 => testkit::s3_client(&config)
            .list_objects_v2()
            .bucket(sandbox::SEED_BUCKET)
            .send()
            .await
            .err()
            .and_then(|e| code(e.into_service_error())),
        Sts => aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .err()
            .and_then(|e| code(e.into_service_error())),
        Sqs => aws_sdk_sqs::Client::new(&config)
            .list_queues()
            .send()
            .await
            .err()
            .and_then(|e| code(e.into_service_error())),
        Sns => aws_sdk_sns::Client::new(&config)
            .list_topics()
            .send()
            .await
            .err()
            .and_then(|e| code(e.into_service_error())),
    }
}

/// The credentials of every kind the table names, on `sandbox`.
async fn credentials(sandbox: &Sandbox) -> Vec<(Key, Credentials)> {
    let user = long_term(sandbox::ACCESS_KEY_ID, sandbox::SECRET_ACCESS_KEY);
    let sts = aws_sdk_sts::Client::new(&config(sandbox, user.clone()));
    let mfa =
        sts.get_session_token().serial_number(MFA_SERIAL).token_code(mfa_code()).send().await.expect("MFA session");
    let role = sts
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("table")
        .serial_number(MFA_SERIAL)
        .token_code(mfa_code())
        .send()
        .await
        .expect("role session");
    // The shortest session this sandbox grants (1 s): wait until the sandbox calls it expired.
    let short = sts.get_session_token().duration_seconds(1).send().await.expect("short session");
    let expired = session(short.credentials());
    let expired_sts = aws_sdk_sts::Client::new(&config(sandbox, expired.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = expired_sts.get_caller_identity().send().await;
        if answer.as_ref().err().and_then(|e| e.as_service_error()).and_then(|e| e.code()) == Some("ExpiredToken") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a 1 s session did not expire within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    vec![
        (LongTerm, user),
        (App, long_term(APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY)),
        (MfaSession, session(mfa.credentials())),
        (RoleSession, session(role.credentials())),
        (ExpiredSession, expired),
        (WrongSecret, long_term(sandbox::ACCESS_KEY_ID, "not-the-secret")),
        (Unknown, long_term("AKIAUNKNOWNKEY000000", "whatever")),
    ]
}

#[tokio::test]
async fn every_service_answers_every_caller_as_aws_does() {
    let mut failures = Vec::new();
    for require_mfa in [false, true] {
        let sandbox = TestSandbox::with(|o| SandboxOptions { require_mfa, min_session_seconds: 1, ..o }).await;
        let keys = credentials(&sandbox).await;
        for &(service, key, mfa, expected) in TABLE.iter().filter(|row| row.2 == require_mfa) {
            let (_, creds) = keys.iter().find(|(k, _)| *k == key).expect("every key kind is made");
            let got = call(&sandbox, service, creds.clone()).await;
            if got.as_deref() != expected {
                failures
                    .push(format!("{service:?} × {key:?} × MFA required {mfa}: expected {expected:?}, got {got:?}"));
            }
        }
    }
    assert_eq!(TABLE.len(), 4 * 7 * 2, "one row per service, key and policy");
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), TABLE.len(), failures.join("\n"));
}

/// The refusal of a long-term key under the MFA policy names MFA, on SNS as on every service.
#[tokio::test]
async fn sns_publish_without_mfa_is_refused_naming_mfa() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { require_mfa: true, ..o }).await;
    let sns =
        aws_sdk_sns::Client::new(&config(&sandbox, long_term(sandbox::ACCESS_KEY_ID, sandbox::SECRET_ACCESS_KEY)));
    let topic = sandbox::aws::topic_arn(sandbox::SEED_TOPIC);
    let err = sns.publish().topic_arn(&topic).message("no MFA").send().await.expect_err("refused");
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"));
    assert!(err.message().unwrap_or_default().contains("MFA"), "{err:?}");
    // Nothing was delivered: the seeded queue is still empty.
    let app = long_term(APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY);
    let sqs = aws_sdk_sqs::Client::new(&config(&sandbox, app));
    let url = format!("{}/{}/{}", sandbox.url(), sandbox::ACCOUNT_ID, sandbox::SEED_QUEUE);
    let got = sqs.receive_message().queue_url(url).wait_time_seconds(0).send().await.expect("receive");
    assert!(got.messages().is_empty(), "a refused publish delivers nothing");
}
