//! Requests signed by the layer with credentials from STS AssumeRole, sent
//! through a real hyper client to moto, which checks every signature.
#![cfg(feature = "sts")]

mod support;

use std::time::Duration;

use aws_refresh_session::signing::{RefreshingCredentialsLayer, SigningSettings, sign_request};
use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig, StsSource};
use aws_refresh_session::{CredentialStore, RefreshPolicy};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, Service, ServiceExt};

use support::moto::{ACCOUNT_ID, Moto};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn sts_store(moto: &Moto, session_name: &str, policy: RefreshPolicy) -> CredentialStore {
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .role_session_name(session_name)
        .duration_seconds(900)
        .build()
        .unwrap();
    let client = StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(&moto.endpoint)
        .credentials(moto.user_credentials())
        .build()
        .unwrap();
    let config = StsConfig::builder(assume_role, client).build().unwrap();
    CredentialStore::builder(StsSource::new(config).await.unwrap())
        .policy(policy)
        .build()
        .await
        .unwrap()
}

/// moto rejects an empty-body request unless `x-amz-content-sha256` is
/// signed, so GET-style STS calls turn the header on.
fn sts_settings() -> SigningSettings {
    SigningSettings::new("sts", "us-east-1").content_sha256_header(true)
}

fn get_caller_identity(endpoint: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(format!(
        "{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15"
    ))
    .body(Full::new(Bytes::new()))
    .unwrap()
}

async fn read<B>(response: http::Response<B>) -> (u16, String)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn layer_signed_get_caller_identity_succeeds() {
    let moto = Moto::start().await;
    let store = sts_store(&moto, "signed-get", RefreshPolicy::default()).await;
    let service = RefreshingCredentialsLayer::new(store, sts_settings()).layer(http_client());

    let response = service
        .oneshot(get_caller_identity(&moto.endpoint))
        .await
        .unwrap();

    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/app-role/signed-get"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn changed_signature_byte_is_rejected() {
    let moto = Moto::start().await;
    let store = sts_store(&moto, "tamper", RefreshPolicy::default()).await;
    let credentials = store.credentials().await.unwrap();
    let now = store.clock().now();
    let mut control = get_caller_identity(&moto.endpoint);
    sign_request(&mut control, &credentials, &sts_settings(), now).unwrap();
    let mut tampered = control.clone();
    let authorization = tampered.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let last = authorization.chars().last().unwrap();
    let changed = if last == '0' { '1' } else { '0' };
    let forged = format!("{}{changed}", &authorization[..authorization.len() - 1]);
    tampered
        .headers_mut()
        .insert("authorization", forged.parse().unwrap());

    let (control_status, control_body) = read(http_client().request(control).await.unwrap()).await;
    let (status, body) = read(http_client().request(tampered).await.unwrap()).await;

    assert_eq!(control_status, 200, "{control_body}");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}

#[tokio::test]
async fn s3_round_trip_with_awkward_keys() {
    let moto = Moto::start().await;
    let store = sts_store(&moto, "s3-test", RefreshPolicy::default()).await;
    let mut s3 = RefreshingCredentialsLayer::new(store, SigningSettings::s3("us-east-1"))
        .layer(http_client());
    let bucket = format!("{}/signed-bucket", moto.endpoint);
    // (key, its percent-encoded path form)
    let keys = [
        ("dir/my file.txt", "dir/my%20file.txt"),
        (
            "ünïcode/ключ.txt",
            "%C3%BCn%C3%AFcode/%D0%BA%D0%BB%D1%8E%D1%87.txt",
        ),
        ("a+b=c.txt", "a%2Bb%3Dc.txt"),
    ];

    let create = http::Request::put(&bucket)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = read(s3.ready().await.unwrap().call(create).await.unwrap()).await;
    assert_eq!(status, 200, "create bucket: {body}");

    for (key, path) in keys {
        let put = http::Request::put(format!("{bucket}/{path}"))
            .body(Full::new(Bytes::from(format!("contents of {key}"))))
            .unwrap();
        let (status, body) = read(s3.ready().await.unwrap().call(put).await.unwrap()).await;
        assert_eq!(status, 200, "put {key}: {body}");
    }

    for (key, path) in keys {
        let get = http::Request::get(format!("{bucket}/{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (status, body) = read(s3.ready().await.unwrap().call(get).await.unwrap()).await;
        assert_eq!(status, 200, "get {key}: {body}");
        assert_eq!(body, format!("contents of {key}"));
    }

    let list = http::Request::get(format!("{bucket}?list-type=2"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = read(s3.ready().await.unwrap().call(list).await.unwrap()).await;
    assert_eq!(status, 200, "list: {body}");
    for (key, _) in keys {
        assert!(
            body.contains(&format!("<Key>{key}</Key>")),
            "{key} missing from {body}"
        );
    }
}

/// With an advisory window 10 seconds shorter than the 900-second
/// lifetime, the store refreshes about every 10 seconds. Each signed call
/// made with a new key succeeds, so moto accepted that key and its token.
#[tokio::test]
async fn signed_calls_survive_background_refresh() {
    let moto = Moto::start().await;
    let policy = RefreshPolicy::default()
        .advisory_window(Duration::from_secs(890))
        .max_jitter(Duration::ZERO);
    let store = sts_store(&moto, "rotation-signed", policy).await;
    let service =
        RefreshingCredentialsLayer::new(store.clone(), sts_settings()).layer(http_client());
    let first_key = store
        .credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_owned();

    let mut keys_used = Vec::<String>::new();
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while moto.assumed_roles().await.len() < 3 {
            let key = store
                .credentials()
                .await
                .unwrap()
                .access_key_id()
                .to_owned();
            let response = service
                .clone()
                .oneshot(get_caller_identity(&moto.endpoint))
                .await
                .unwrap();
            let (status, body) = read(response).await;
            assert_eq!(status, 200, "signed call with key {key}: {body}");
            if !keys_used.contains(&key) {
                keys_used.push(key);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;

    assert!(
        waited.is_ok(),
        "fewer than two background refreshes in 30 s"
    );
    let current = store.credentials().await.unwrap();
    assert_ne!(current.access_key_id(), first_key);
    let response = service
        .clone()
        .oneshot(get_caller_identity(&moto.endpoint))
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(keys_used.len() >= 2, "calls used only keys {keys_used:?}");
}
