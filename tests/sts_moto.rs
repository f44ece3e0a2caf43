//! The STS source end to end against a real moto server with request
//! authentication on, so every AssumeRole signature is checked.
#![cfg(feature = "sts")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_refresh_session::clock::{Clock, ManualClock, SystemClock};
use aws_refresh_session::refresh::RefreshOutcome;
use aws_refresh_session::strategy::sts::{
    AssumeRoleConfig, CallerIdentity, MfaTokenProvider, StsClientConfig, StsConfig, StsSource,
};
use aws_refresh_session::{CredentialStore, Credentials, RefreshPolicy, Strategy};

use support::moto::{ACCOUNT_ID, Moto};
use support::proxy::RecordingProxy;

const SERIAL: &str = "arn:aws:iam::123456789012:mfa/app-user";

fn client_config(endpoint: &str, credentials: Credentials) -> StsClientConfig {
    StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(endpoint)
        .credentials(credentials)
        .build()
        .unwrap()
}

async fn source(moto: &Moto, endpoint: &str, assume_role: AssumeRoleConfig) -> StsSource {
    let config = StsConfig::builder(
        assume_role,
        client_config(endpoint, moto.user_credentials()),
    )
    .build()
    .unwrap();
    StsSource::new(config).await.unwrap()
}

#[tokio::test]
async fn store_assumes_role_with_user_keys() {
    let moto = Moto::start().await;
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .role_session_name("store-test")
        .duration_seconds(900)
        .build()
        .unwrap();
    let source = source(&moto, &moto.endpoint, assume_role).await;

    let store = CredentialStore::builder(source).build().await.unwrap();
    let credentials = store.credentials().await.unwrap();

    assert!(
        credentials.access_key_id().starts_with("ASIA"),
        "{credentials:?}"
    );
    assert_ne!(credentials.access_key_id(), moto.access_key_id);
    assert!(credentials.session_token().is_some());
    assert_eq!(store.source_kind(), "sts");
    let assumed = moto.assumed_roles().await;
    assert_eq!(assumed.len(), 1);
    assert_eq!(assumed[0].access_key_id, credentials.access_key_id());
    assert_eq!(assumed[0].role_arn, moto.role_arn);
    assert_eq!(assumed[0].session_name, "store-test");
}

#[tokio::test]
async fn duration_seconds_sets_expiry() {
    let moto = Moto::start().await;
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .duration_seconds(1800)
        .build()
        .unwrap();
    let source = source(&moto, &moto.endpoint, assume_role).await;

    let credentials = aws_refresh_session::CredentialSource::fetch(&source)
        .await
        .unwrap();

    let lifetime = credentials
        .expiry()
        .unwrap()
        .duration_since(SystemClock.now())
        .unwrap();
    assert!(lifetime > Duration::from_secs(1700), "{lifetime:?}");
    assert!(lifetime <= Duration::from_secs(1800), "{lifetime:?}");
}

#[tokio::test]
async fn strategy_enum_builds_sts_source() {
    let moto = Moto::start().await;
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .external_id("partner-42")
        .tag("team", "billing")
        .transitive_tag_key("team")
        .source_identity("alice")
        .build()
        .unwrap();
    let config = StsConfig::builder(
        assume_role,
        client_config(&moto.endpoint, moto.user_credentials()),
    )
    .build()
    .unwrap();

    let source = Strategy::sts(config).into_source().await.unwrap();
    let store = CredentialStore::builder(source).build().await.unwrap();

    assert_eq!(store.source_kind(), "sts");
    let assumed = moto.assumed_roles().await;
    assert_eq!(assumed.len(), 1);
    assert_eq!(assumed[0].session_name, "aws-refresh-session");
    assert_eq!(assumed[0].external_id.as_deref(), Some("partner-42"));
}

#[tokio::test]
async fn whoami_returns_assumed_role_arn() {
    let moto = Moto::start().await;
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .role_session_name("whoami-test")
        .build()
        .unwrap();
    let source = Arc::new(source(&moto, &moto.endpoint, assume_role).await);
    let store = CredentialStore::builder(Arc::clone(&source))
        .build()
        .await
        .unwrap();
    let credentials = store.credentials().await.unwrap();

    let identity = source.whoami(&credentials).await.unwrap();

    assert_eq!(identity.account, ACCOUNT_ID);
    assert_eq!(
        identity.arn,
        format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/app-role/whoami-test")
    );
    assert!(identity.user_id.ends_with(":whoami-test"), "{identity:?}");
}

#[tokio::test]
async fn whoami_with_user_keys_returns_user() {
    let moto = Moto::start().await;
    let config = StsClientConfig::builder()
        .endpoint_url(&moto.endpoint)
        .build()
        .unwrap();

    let identity = CallerIdentity::fetch(&config, &moto.user_credentials())
        .await
        .unwrap();

    assert_eq!(identity.arn, moto.user_arn);
    assert_eq!(identity.account, ACCOUNT_ID);
}

#[tokio::test]
async fn forbidden_role_is_access_denied() {
    let moto = Moto::start().await;
    let assume_role = AssumeRoleConfig::builder(&moto.forbidden_role_arn)
        .build()
        .unwrap();
    let source = source(&moto, &moto.endpoint, assume_role).await;

    let error = CredentialStore::builder(source).build().await.unwrap_err();

    assert!(error.is_request(), "{error:?}");
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.code(), Some("AccessDenied"));
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("trust policy"), "{error}");
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains(&moto.secret_access_key), "{printed}");
    assert!(moto.assumed_roles().await.is_empty());
}

#[tokio::test]
async fn wrong_secret_fails_signature_check() {
    let moto = Moto::start().await;
    let wrong = Credentials::new(&moto.access_key_id, "not-the-secret", None, None);
    let config = StsConfig::builder(
        AssumeRoleConfig::builder(&moto.role_arn).build().unwrap(),
        client_config(&moto.endpoint, wrong),
    )
    .build()
    .unwrap();
    let source = StsSource::new(config).await.unwrap();

    let error = CredentialStore::builder(source).build().await.unwrap_err();

    assert!(error.is_request(), "{error:?}");
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.code(), Some("SignatureDoesNotMatch"));
    assert!(!format!("{error} {error:?}").contains("not-the-secret"));
}

#[tokio::test]
async fn unknown_access_key_is_rejected() {
    let moto = Moto::start().await;
    let unknown = Credentials::new("AKIAUNKNOWNKEY000000", "secret", None, None);
    let config = StsConfig::builder(
        AssumeRoleConfig::builder(&moto.role_arn).build().unwrap(),
        client_config(&moto.endpoint, unknown),
    )
    .build()
    .unwrap();
    let source = StsSource::new(config).await.unwrap();

    let error = CredentialStore::builder(source).build().await.unwrap_err();

    assert_eq!(error.status(), Some(403));
    assert_eq!(error.code(), Some("InvalidClientTokenId"));
}

#[tokio::test]
async fn mfa_provider_runs_once_per_refresh() {
    let moto = Moto::start().await;
    let proxy = RecordingProxy::start(moto.addr).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let provider = MfaTokenProvider::function(move || {
        let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(format!("{}", 111_111 * call)) }
    });
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .serial_number(SERIAL)
        .build()
        .unwrap();
    let config = StsConfig::builder(
        assume_role,
        client_config(&proxy.endpoint, moto.user_credentials()),
    )
    .mfa_token_provider(provider)
    .build()
    .unwrap();
    let store = CredentialStore::builder(StsSource::new(config).await.unwrap())
        .build()
        .await
        .unwrap();
    let first = store.credentials().await.unwrap();

    let second = store.refresh_now().await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_ne!(first.access_key_id(), second.access_key_id());
    assert_eq!(moto.assumed_roles().await.len(), 2);
    let sent = proxy.sent();
    assert_eq!(sent.matches("TokenCode=111111").count(), 1, "{sent}");
    assert_eq!(sent.matches("TokenCode=222222").count(), 1, "{sent}");
    assert_eq!(
        sent.matches("SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Fapp-user")
            .count(),
        2,
        "{sent}"
    );
}

#[tokio::test]
async fn mfa_command_code_is_sent() {
    let moto = Moto::start().await;
    let proxy = RecordingProxy::start(moto.addr).await;
    let provider = MfaTokenProvider::command(["printf", "token %s\\n", "135790"]).unwrap();
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .serial_number(SERIAL)
        .build()
        .unwrap();
    let config = StsConfig::builder(
        assume_role,
        client_config(&proxy.endpoint, moto.user_credentials()),
    )
    .mfa_token_provider(provider)
    .build()
    .unwrap();

    CredentialStore::builder(StsSource::new(config).await.unwrap())
        .build()
        .await
        .unwrap();

    assert_eq!(proxy.sent().matches("TokenCode=135790").count(), 1);
}

/// The static code serves the first AssumeRole call. A refresh that would
/// reuse it fails with a distinct, non-retryable error, and the store keeps
/// serving the first credentials.
#[tokio::test]
async fn static_token_code_is_used_once() {
    let moto = Moto::start().await;
    let proxy = RecordingProxy::start(moto.addr).await;
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .serial_number(SERIAL)
        .token_code("246810")
        .build()
        .unwrap();
    let config = StsConfig::builder(
        assume_role,
        client_config(&proxy.endpoint, moto.user_credentials()),
    )
    .build()
    .unwrap();
    let store = CredentialStore::builder(StsSource::new(config).await.unwrap())
        .build()
        .await
        .unwrap();
    let first = store.credentials().await.unwrap();

    let error = store.refresh_now().await.unwrap_err();

    assert!(error.is_validation(), "{error:?}");
    assert_eq!(error.parameter(), Some("token_code"));
    assert!(
        error.to_string().contains("MFA token code required"),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(!error.to_string().contains("246810"), "{error}");
    assert_eq!(moto.assumed_roles().await.len(), 1);
    assert_eq!(proxy.sent().matches("TokenCode=246810").count(), 1);
    let still = store.credentials().await.unwrap();
    assert_eq!(still.access_key_id(), first.access_key_id());
}

/// With an advisory window 10 seconds shorter than the 900-second
/// lifetime, the background task refreshes about every 10 seconds of real
/// time. Each new key works.
#[tokio::test]
async fn background_refresh_rotates_keys() {
    let moto = Moto::start().await;
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .role_session_name("rotation-test")
        .duration_seconds(900)
        .build()
        .unwrap();
    let source = Arc::new(source(&moto, &moto.endpoint, assume_role).await);
    let policy = RefreshPolicy::default()
        .advisory_window(Duration::from_secs(890))
        .max_jitter(Duration::ZERO);
    let store = CredentialStore::builder(Arc::clone(&source))
        .policy(policy)
        .build()
        .await
        .unwrap();
    let first = store.credentials().await.unwrap();

    let mut seen = vec![first.access_key_id().to_owned()];
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while moto.assumed_roles().await.len() < 3 {
            let current = store.credentials().await.unwrap();
            if !seen.iter().any(|key| key == current.access_key_id()) {
                let identity = source.whoami(&current).await.unwrap();
                assert!(identity.arn.ends_with("/rotation-test"), "{identity:?}");
                seen.push(current.access_key_id().to_owned());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;

    assert!(
        waited.is_ok(),
        "fewer than two background refreshes in 30 s: {seen:?}"
    );
    let assumed = moto.assumed_roles().await;
    let current = store.credentials().await.unwrap();
    assert_eq!(
        current.access_key_id(),
        assumed.last().unwrap().access_key_id
    );
    assert_ne!(current.access_key_id(), first.access_key_id());
    assert!(store.generation() >= 3, "generation {}", store.generation());
    let identity = source.whoami(&current).await.unwrap();
    assert_eq!(identity.account, ACCOUNT_ID);
}

/// The MFA refresh case: a serial number with only a static token code.
/// Inside the mandatory window the failed refresh leaves the first
/// credentials in use. Past expiry, requests fail with an expired error
/// whose cause is the "MFA token code required" error, and repeated
/// requests do not retry in a loop.
#[tokio::test]
async fn static_token_code_expiry_is_clear() {
    let moto = Moto::start().await;
    let clock = ManualClock::new(SystemClock.now());
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .serial_number(SERIAL)
        .token_code("975310")
        .duration_seconds(900)
        .build()
        .unwrap();
    let config = StsConfig::builder(
        assume_role,
        client_config(&moto.endpoint, moto.user_credentials()),
    )
    .build()
    .unwrap();
    let store = CredentialStore::builder(StsSource::new(config).await.unwrap())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    let first = store.credentials().await.unwrap();
    let expiry = first.expiry().unwrap();
    let events = store.subscribe();

    clock.set(expiry - Duration::from_secs(30));
    let inside_mandatory = store.credentials().await.unwrap();
    clock.set(expiry + Duration::from_secs(1));
    let mut errors = Vec::new();
    for _ in 0..20 {
        errors.push(store.credentials().await.unwrap_err());
    }

    assert_eq!(inside_mandatory.access_key_id(), first.access_key_id());
    for error in &errors {
        assert!(error.is_expired(), "{error:?}");
        let cause = std::error::Error::source(error)
            .and_then(|cause| cause.downcast_ref::<aws_refresh_session::Error>())
            .unwrap_or_else(|| panic!("no MFA cause in {error:?}"));
        assert_eq!(cause.parameter(), Some("token_code"));
        assert!(
            cause.to_string().contains("MFA token code required"),
            "{cause}"
        );
    }
    let RefreshOutcome::Failed {
        consecutive_failures,
        ..
    } = events.borrow().outcome.clone()
    else {
        panic!("the last refresh did not fail: {:?}", events.borrow());
    };
    assert!(consecutive_failures <= 2, "{consecutive_failures} attempts");
    assert_eq!(moto.assumed_roles().await.len(), 1);
}

#[tokio::test]
async fn trace_logs_hold_no_secrets() {
    let moto = Moto::start().await;
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buffer.clone())
        .with_ansi(false)
        // Timestamps carry six-digit fractions that could match the code.
        .without_time()
        .finish();
    // Global, because the store refreshes in tasks of its own. nextest runs
    // each test in its own process, so no other test's logs mix in.
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber is set");
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .serial_number(SERIAL)
        .build()
        .unwrap();
    let provider = MfaTokenProvider::function(|| async { Ok("864209".to_owned()) });
    let config = StsConfig::builder(
        assume_role,
        client_config(&moto.endpoint, moto.user_credentials()),
    )
    .mfa_token_provider(provider)
    .build()
    .unwrap();

    let source = Arc::new(StsSource::new(config).await.unwrap());
    let store = CredentialStore::builder(Arc::clone(&source))
        .build()
        .await
        .unwrap();
    let credentials = store.credentials().await.unwrap();
    source.whoami(&credentials).await.unwrap();

    let logs = buffer.text();
    assert!(logs.contains("role assumed"), "{logs}");
    assert!(
        logs.contains("STS.AssumeRole"),
        "no SDK trace of AssumeRole: {logs}"
    );
    assert!(logs.contains(credentials.access_key_id()), "{logs}");
    for (name, secret) in [
        ("user secret key", moto.secret_access_key.as_str()),
        ("temporary secret key", credentials.secret_access_key()),
        ("session token", credentials.session_token().unwrap()),
        ("MFA token code", "864209"),
    ] {
        assert!(!logs.contains(secret), "{name} in the logs");
    }
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

#[tokio::test]
async fn credentials_provider_supplies_base_keys() {
    let moto = Moto::start().await;
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new(
            &moto.access_key_id,
            &moto.secret_access_key,
            None,
            None,
            "test",
        ),
    );
    let client = StsClientConfig::builder()
        .endpoint_url(&moto.endpoint)
        .credentials_provider(provider)
        .build()
        .unwrap();
    let config = StsConfig::builder(
        AssumeRoleConfig::builder(&moto.role_arn).build().unwrap(),
        client,
    )
    .build()
    .unwrap();

    let store = CredentialStore::builder(StsSource::new(config).await.unwrap())
        .build()
        .await
        .unwrap();

    let credentials = store.credentials().await.unwrap();
    assert_eq!(
        moto.assumed_roles().await[0].access_key_id,
        credentials.access_key_id()
    );
}
