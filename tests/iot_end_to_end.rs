//! End to end: the local IoT provider vends credentials from a real
//! AssumeRole against moto. With request authentication on, moto accepts
//! calls signed with what the device received, both by the SDK and by the
//! crate's signing layer in a `RefreshableSession` built with
//! `Strategy::Iot`.
#![cfg(all(feature = "iot", feature = "sts"))]

#[path = "support/iot_server.rs"]
mod iot_server;
mod support;

use std::sync::Arc;
use std::time::SystemTime;

use aws_refresh_session::credentials::format_rfc3339;
use aws_refresh_session::signing::SigningSettings;
use aws_refresh_session::strategy::iot::{IotConfig, IotSource};
use aws_refresh_session::strategy::sts::StsClientConfig;
use aws_refresh_session::{CredentialStore, Credentials, RefreshableSession, Strategy};
use aws_sdk_sts::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use iot_server::{Authority, Behavior, IotServer, ROLE_ALIAS, ServerOptions, Vended, Vendor};
use support::moto::{ACCOUNT_ID, Moto};
use tower::{ServiceBuilder, ServiceExt};

/// The role moto's bootstrap creates for its user to assume.
const ROLE_NAME: &str = "app-role";
const SESSION_NAME: &str = "iot-device";

fn sts_client(url: &str, credentials: &Credentials) -> aws_sdk_sts::Client {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(credentials.as_sdk().clone()))
        .http_client(http_client)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// Vends credentials the way the real provider does: AssumeRole on the
/// role behind the alias.
fn assume_role_vendor(moto_url: String, broker: Credentials, role_arn: String) -> Vendor {
    Vendor(Arc::new(move || {
        let client = sts_client(&moto_url, &broker);
        let role_arn = role_arn.clone();
        Box::pin(async move {
            let output = client
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(SESSION_NAME)
                .duration_seconds(900)
                .send()
                .await
                .map_err(|error| format!("{error:?}"))?;
            let credentials = output
                .credentials()
                .ok_or("no credentials in AssumeRole output")?;
            let expiration = SystemTime::try_from(*credentials.expiration())
                .map_err(|error| error.to_string())?;
            Ok(Vended {
                access_key_id: credentials.access_key_id().to_owned(),
                secret_access_key: credentials.secret_access_key().to_owned(),
                session_token: credentials.session_token().to_owned(),
                expiration: format_rfc3339(expiration),
            })
        })
    }))
}

/// Starts a local IoT provider that vends credentials from AssumeRole on
/// moto's role, and returns it with a device config that trusts it.
async fn provider_for(moto: &Moto) -> (IotServer, IotConfig) {
    let authority = Authority::new("Test IoT CA");
    let server = IotServer::start(ServerOptions::new(&authority)).await;
    server.set_behavior(Behavior::Delegate(assume_role_vendor(
        moto.endpoint.clone(),
        moto.user_credentials(),
        moto.role_arn.clone(),
    )));
    let device = authority.client("device-thing");
    let config = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(device.cert_pem)
        .private_key_pem(device.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .thing_name("device-thing")
        .build()
        .unwrap();
    (server, config)
}

/// Builds an IoT session whose `whoami` calls moto's STS.
async fn iot_session(moto: &Moto, config: IotConfig) -> RefreshableSession {
    let identity_client = StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(&moto.endpoint)
        .build()
        .unwrap();
    RefreshableSession::builder()
        .strategy(Strategy::Iot(config))
        .identity_client(identity_client)
        .build()
        .await
        .unwrap()
}

fn get_caller_identity(endpoint: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(format!(
        "{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15"
    ))
    .body(Full::new(Bytes::new()))
    .unwrap()
}

fn assumed_role_arn() -> String {
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{ROLE_NAME}/{SESSION_NAME}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vended_credentials_pass_moto_auth() {
    let moto = Moto::start().await;
    let (_server, config) = provider_for(&moto).await;
    let store = CredentialStore::builder(IotSource::new(config).unwrap())
        .build()
        .await
        .unwrap();
    let credentials = store.credentials().await.unwrap();

    let identity = sts_client(&moto.endpoint, &credentials)
        .get_caller_identity()
        .send()
        .await
        .unwrap();

    assert_eq!(identity.arn(), Some(assumed_role_arn().as_str()));
    assert!(
        credentials.access_key_id().starts_with("ASIA"),
        "{}",
        credentials.access_key_id()
    );
}

/// The device's credentials reach moto through the session's signing
/// layer, not the SDK: moto checks the layer's signature and session token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_session_layer_call_passes_moto_auth() {
    let moto = Moto::start().await;
    let (server, config) = provider_for(&moto).await;
    let session = iot_session(&moto, config).await;
    // moto rejects an empty-body request unless x-amz-content-sha256 is
    // signed.
    let layer = session
        .layer_with(SigningSettings::new("sts", "us-east-1").content_sha256_header(true))
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build_http());

    let response = service
        .oneshot(get_caller_identity(&moto.endpoint))
        .await
        .unwrap();

    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("<Arn>{}</Arn>", assumed_role_arn())),
        "{body}"
    );
    let signed_with = session.credentials().await.unwrap();
    let assumed = moto.assumed_roles().await;
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    assert_eq!(assumed[0].access_key_id, signed_with.access_key_id());
    assert_eq!(assumed[0].session_name, SESSION_NAME);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_session_whoami_names_assumed_role() {
    let moto = Moto::start().await;
    let (_server, config) = provider_for(&moto).await;
    let session = iot_session(&moto, config).await;

    let identity = session.whoami().await.unwrap();

    assert_eq!(identity.arn, assumed_role_arn());
    assert_eq!(identity.account, ACCOUNT_ID);
    assert!(
        identity.user_id.ends_with(&format!(":{SESSION_NAME}")),
        "{}",
        identity.user_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_rejects_tampered_vended_secret() {
    let moto = Moto::start().await;
    let (_server, config) = provider_for(&moto).await;
    let credentials =
        aws_refresh_session::CredentialSource::fetch(&IotSource::new(config).unwrap())
            .await
            .unwrap();
    let tampered = Credentials::new(
        credentials.access_key_id(),
        "tamperedSecretKeyThatMotoMustReject0000",
        credentials.session_token().map(str::to_owned),
        credentials.expiry(),
    );

    let error = sts_client(&moto.endpoint, &tampered)
        .get_caller_identity()
        .send()
        .await
        .expect_err("moto accepted a wrong secret, so authentication is off");

    let response = error.raw_response().expect("moto responded");
    let body = String::from_utf8_lossy(response.body().bytes().unwrap_or_default()).into_owned();
    assert_eq!(response.status().as_u16(), 403);
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}
