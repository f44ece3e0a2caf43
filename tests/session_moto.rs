//! `RefreshableSession` against a real moto server with authentication on:
//! refresh independent of the client cache, `whoami`, the AWS SDK bridge
//! across a refresh, and a cached signing client.
#![cfg(all(feature = "sts", feature = "client"))]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use aws_refresh_session::signing::SigningSettings;
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig};
use aws_refresh_session::{RefreshableSession, Strategy};
use aws_smithy_http_client::Builder as HttpClientBuilder;

use support::moto::{ACCOUNT_ID, Moto};
use support::proxy::RecordingProxy;

fn sts_client_config(moto: &Moto) -> StsClientConfig {
    StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(&moto.endpoint)
        .credentials(moto.user_credentials())
        .build()
        .unwrap()
}

async fn sts_session(
    moto: &Moto,
    session_name: &str,
    configure: impl FnOnce(aws_refresh_session::SessionBuilder) -> aws_refresh_session::SessionBuilder,
) -> RefreshableSession {
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .role_session_name(session_name)
        .duration_seconds(900)
        .build()
        .unwrap();
    let config = StsConfig::builder(assume_role, sts_client_config(moto))
        .build()
        .unwrap();
    let builder = RefreshableSession::builder().strategy(Strategy::sts(config));
    configure(builder)
        .build()
        .await
        .unwrap_or_else(|error| panic!("building the STS session failed: {error:?}"))
}

fn assumed_role_arn(session_name: &str) -> String {
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/app-role/{session_name}")
}

/// moto rejects an empty-body request unless `x-amz-content-sha256` is
/// signed, so GET-style STS calls turn the header on.
fn sts_get_settings() -> SigningSettings {
    SigningSettings::new("sts", "us-east-1").content_sha256_header(true)
}

fn get_caller_identity() -> http::Request<Full<Bytes>> {
    http::Request::get("/?Action=GetCallerIdentity&Version=2011-06-15")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn clearing_client_cache_keeps_refresh() {
    let moto = Moto::start().await;
    let session = sts_session(&moto, "cache-clear", |builder| builder.client_cache_size(1)).await;
    let first = session.credentials().await.unwrap();

    // Fill the cache past its size, then empty it: none of this may touch
    // the session's own STS client.
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        session
            .client_with(SigningSettings::new("sts", region), &moto.endpoint)
            .unwrap();
    }
    assert_eq!(session.client_cache().evictions(), 2);
    session.client_cache().clear();
    assert!(session.client_cache().is_empty());

    let refreshed = session.refresh_now().await.unwrap();

    assert_ne!(refreshed.access_key_id(), first.access_key_id());
    assert_eq!(moto.assumed_roles().await.len(), 2);
    let identity = session.whoami().await.unwrap();
    assert_eq!(identity.arn, assumed_role_arn("cache-clear"));
}

#[tokio::test]
async fn whoami_returns_assumed_role_arn() {
    let moto = Moto::start().await;
    let session = sts_session(&moto, "whoami", |builder| builder).await;

    let identity = session.whoami().await.unwrap();

    assert_eq!(identity.arn, assumed_role_arn("whoami"));
    assert_eq!(identity.account, ACCOUNT_ID);
}

fn user_key_source(moto: &Moto) -> CustomSource {
    let credentials = moto.user_credentials();
    CustomSource::new("user-key", move || {
        let credentials = credentials.clone();
        async move { Ok(credentials) }
    })
}

#[tokio::test]
async fn whoami_without_identity_client_fails() {
    let moto = Moto::start().await;
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(user_key_source(&moto)))
        .build()
        .await
        .unwrap();

    let error = session.whoami().await.unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains("identity_client"), "{error}");
}

#[tokio::test]
async fn whoami_with_identity_client_succeeds() {
    let moto = Moto::start().await;
    let identity_client = StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(&moto.endpoint)
        .build()
        .unwrap();
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(user_key_source(&moto)))
        .identity_client(identity_client)
        .build()
        .await
        .unwrap();

    let first = session.whoami().await.unwrap();
    let second = session.whoami().await.unwrap();

    assert_eq!(first.arn, moto.user_arn);
    assert_eq!(second, first);
}

fn s3_client(session: &RefreshableSession, endpoint: &str) -> aws_sdk_s3::Client {
    let sdk_config = session
        .sdk_config("us-east-1")
        .unwrap()
        .endpoint_url(endpoint)
        .http_client(HttpClientBuilder::new().build_http())
        .build();
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

#[tokio::test]
async fn sdk_client_follows_session_refresh() {
    let moto = Moto::start().await;
    let proxy = RecordingProxy::start(moto.addr).await;
    let session = sts_session(&moto, "sdk-bridge", |builder| builder).await;
    let s3 = s3_client(&session, &proxy.endpoint);
    let before = session.credentials().await.unwrap();

    s3.create_bucket()
        .bucket("session-bridge")
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "CreateBucket failed: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            )
        });
    s3.put_object()
        .bucket("session-bridge")
        .key("before")
        .body(Bytes::from_static(b"first generation").into())
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "PutObject before the refresh failed: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            )
        });
    let sent_before = proxy.sent();

    let after = session.refresh_now().await.unwrap();
    let object = s3
        .get_object()
        .bucket("session-bridge")
        .key("before")
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "GetObject after the refresh failed: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            )
        });
    let body = object.body.collect().await.unwrap().into_bytes();
    let sent_after = &proxy.sent()[sent_before.len()..];

    assert_ne!(before.access_key_id(), after.access_key_id());
    assert_eq!(&body[..], b"first generation");
    let credential = |key: &str| format!("Credential={key}/");
    assert!(sent_before.contains(&credential(before.access_key_id())));
    assert!(!sent_before.contains(&credential(after.access_key_id())));
    assert!(sent_after.contains(&credential(after.access_key_id())));
    assert!(!sent_after.contains(&credential(before.access_key_id())));
}

#[tokio::test]
async fn cached_client_sends_signed_get() {
    let moto = Moto::start().await;
    let session = sts_session(&moto, "client-get", |builder| builder).await;
    let client = session
        .client_with(sts_get_settings(), &moto.endpoint)
        .unwrap();

    let response = client.send(get_caller_identity()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);

    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&assumed_role_arn("client-get")), "{body}");
    let again = session
        .client_with(sts_get_settings(), &moto.endpoint)
        .unwrap();
    assert_eq!(again.cache_key(), client.cache_key());
    assert_eq!(session.client_cache().hits(), 1);
}
