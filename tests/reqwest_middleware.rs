//! `SigningMiddleware` in a `reqwest-middleware` client: signed STS and S3
//! calls that moto verifies, signing errors that stop the request, and
//! invalidation on an `x-amzn-ErrorType` expired-token header.
#![cfg(all(feature = "reqwest", feature = "sts"))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_refresh_session::integrations::reqwest::SigningMiddleware;
use aws_refresh_session::signing::{PayloadMode, SigningSettings};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig};
use aws_refresh_session::{Credentials, Error, RefreshableSession, Strategy};
use bytes::Bytes;
use http_body_util::Full;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

use support::http_server::LocalServer;
use support::moto::{ACCOUNT_ID, Moto};

async fn sts_session(moto: &Moto, session_name: &str) -> RefreshableSession {
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
    RefreshableSession::builder()
        .strategy(Strategy::sts(config))
        .build()
        .await
        .unwrap_or_else(|error| panic!("building the STS session failed: {error:?}"))
}

fn signing_client(middleware: SigningMiddleware) -> ClientWithMiddleware {
    // No proxy lookup from the environment: every request goes straight to
    // 127.0.0.1.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    ClientBuilder::new(client).with(middleware).build()
}

#[tokio::test]
async fn get_caller_identity_through_middleware() {
    let moto = Moto::start().await;
    let session = sts_session(&moto, "reqwest-sts").await;
    let settings = SigningSettings::new("sts", "us-east-1").content_sha256_header(true);
    let client = signing_client(SigningMiddleware::from_session(&session, settings).unwrap());

    let response = client
        .get(format!(
            "{}/?Action=GetCallerIdentity&Version=2011-06-15",
            moto.endpoint
        ))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();

    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/app-role/reqwest-sts"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn s3_put_and_get_through_middleware() {
    let moto = Moto::start().await;
    let session = sts_session(&moto, "reqwest-s3").await;
    let middleware =
        SigningMiddleware::from_session(&session, SigningSettings::s3("us-east-1")).unwrap();
    let client = signing_client(middleware);
    let bucket = format!("{}/reqwest-bucket", moto.endpoint);

    let created = client.put(&bucket).send().await.unwrap();
    let created_status = created.status();
    let created_body = created.text().await.unwrap();
    let put = client
        .put(format!("{bucket}/dir/key with space.txt"))
        .body("signed through reqwest")
        .send()
        .await
        .unwrap();
    let put_status = put.status();
    let put_body = put.text().await.unwrap();
    let got = client
        .get(format!("{bucket}/dir/key with space.txt"))
        .send()
        .await
        .unwrap();
    let got_status = got.status();
    let got_body = got.text().await.unwrap();

    assert_eq!(created_status, 200, "{created_body}");
    assert_eq!(put_status, 200, "{put_body}");
    assert_eq!(got_status, 200, "{got_body}");
    assert_eq!(got_body, "signed through reqwest");
}

#[tokio::test]
async fn tampered_key_is_rejected_by_moto() {
    let moto = Moto::start().await;
    // The user's key id with a wrong secret: moto must return 403, which
    // shows the test above passes because the signature is right.
    let wrong = Credentials::new(&moto.access_key_id, "not-the-secret", None, None);
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(CustomSource::new("wrong", move || {
            let wrong = wrong.clone();
            async move { Ok(wrong) }
        })))
        .build()
        .await
        .unwrap();
    let settings = SigningSettings::new("sts", "us-east-1").content_sha256_header(true);
    let client = signing_client(SigningMiddleware::from_session(&session, settings).unwrap());

    let response = client
        .get(format!(
            "{}/?Action=GetCallerIdentity&Version=2011-06-15",
            moto.endpoint
        ))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();

    assert_eq!(status, 403, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}

fn static_session_source() -> CustomSource {
    CustomSource::new("static", || async {
        Ok(Credentials::new(
            "AKIDEXAMPLE",
            "secret-example",
            None,
            None,
        ))
    })
}

#[tokio::test]
async fn streaming_body_is_a_signing_error() {
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(static_session_source()))
        .build()
        .await
        .unwrap();
    let middleware =
        SigningMiddleware::from_session(&session, SigningSettings::new("sts", "us-east-1"))
            .unwrap();
    let client = signing_client(middleware);
    let stream = reqwest::Body::wrap(Full::new(Bytes::from_static(b"streamed")));

    // Port 9 (discard) is never reached: signing fails first.
    let error = client
        .post("http://127.0.0.1:9/")
        .body(stream)
        .send()
        .await
        .unwrap_err();

    assert!(error.is_middleware(), "{error:?}");
    let reqwest_middleware::Error::Middleware(inner) = &error else {
        panic!("expected a middleware error, got {error:?}");
    };
    let ours = inner.downcast_ref::<Error>().expect("the crate's Error");
    assert!(ours.is_signing(), "{ours:?}");
    assert!(ours.to_string().contains("PayloadMode::Unsigned"), "{ours}");
}

#[tokio::test]
async fn invalid_settings_are_rejected() {
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(static_session_source()))
        .build()
        .await
        .unwrap();

    let error =
        SigningMiddleware::from_session(&session, SigningSettings::new("sts", "")).unwrap_err();

    assert_eq!(error.parameter(), Some("region"));
}

#[tokio::test]
async fn middleware_debug_hides_secrets() {
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(static_session_source()))
        .build()
        .await
        .unwrap();
    let middleware =
        SigningMiddleware::from_session(&session, SigningSettings::new("sts", "us-east-1"))
            .unwrap();

    let printed = format!("{middleware:?}");

    assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
    assert!(!printed.contains("secret-example"), "{printed}");
}

/// Starts a server on 127.0.0.1 that returns a JSON-protocol expired-token
/// error to `AKIDGEN1` and 200 to any other key, and records the keys.
async fn json_expiring_server() -> (LocalServer, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let server = LocalServer::start(move |request| {
        let authorization = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let key = authorization
            .split("Credential=")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("<unsigned>")
            .to_owned();
        recorded.lock().unwrap().push(key.clone());

        let response = if key == "AKIDGEN1" {
            http::Response::builder()
                .status(400)
                .header("x-amzn-ErrorType", "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/")
                .body(Full::new(Bytes::from_static(b"{\"__type\":\"ExpiredTokenException\"}")))
        } else {
            http::Response::builder().body(Full::new(Bytes::from_static(b"{}")))
        };
        response.unwrap()
    })
    .await;
    (server, seen)
}

#[tokio::test]
async fn expired_token_header_invalidates_key() {
    let (server, seen) = json_expiring_server().await;
    let url = format!("{}/", server.url());
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let source = CustomSource::new("counting", move || {
        let generation = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            Ok(Credentials::new(
                format!("AKIDGEN{generation}"),
                "secret",
                Some(format!("token-gen{generation}")),
                Some(aws_refresh_session::clock::system().now() + Duration::from_secs(15 * 60)),
            ))
        }
    });
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .build()
        .await
        .unwrap();
    let settings = SigningSettings::new("dynamodb", "us-east-1").payload(PayloadMode::Signed);
    let client = signing_client(SigningMiddleware::from_session(&session, settings).unwrap());

    let first = client.post(&url).body("{}").send().await.unwrap();
    let second = client.post(&url).body("{}").send().await.unwrap();

    assert_eq!(first.status(), 400);
    assert_eq!(second.status(), 200);
    assert_eq!(*seen.lock().unwrap(), ["AKIDGEN1", "AKIDGEN2"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
