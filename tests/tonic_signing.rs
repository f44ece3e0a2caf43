//! The tonic example's client and server: a tonic channel wrapped in the
//! signing layer in unsigned-payload mode calls the gRPC health service,
//! whose interceptor checks the shape of each SigV4 signature.

#[path = "../examples/tonic/signature.rs"]
#[allow(dead_code)]
mod signature;

use std::sync::{Arc, Mutex};

use aws_refresh_session::signing::{PayloadMode, SigningSettings};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
use http::Uri;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

use signature::{ExpectedSignature, SeenSignature};

const ACCESS_KEY_ID: &str = "AKIDTONICTEST";
const SECRET_ACCESS_KEY: &str = "tonic-test-secret-do-not-leak";
const SERVICE: &str = "vpc-lattice-svcs";
const REGION: &str = "eu-central-1";

fn expected() -> ExpectedSignature {
    ExpectedSignature {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        region: REGION.to_owned(),
        service: SERVICE.to_owned(),
        unsigned_payload: true,
    }
}

async fn session() -> RefreshableSession {
    let source = CustomSource::new("static-test-keys", || async {
        Ok(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
        ))
    });
    RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .build()
        .await
        .unwrap()
}

fn unsigned_payload_settings() -> SigningSettings {
    SigningSettings::new(SERVICE, REGION)
        .payload(PayloadMode::Unsigned)
        .content_sha256_header(true)
}

fn check_request() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn signed_channel_passes_check() {
    let seen = Arc::new(Mutex::new(Vec::<SeenSignature>::new()));
    let (addr, server) = signature::spawn_health_server(expected(), Arc::clone(&seen))
        .await
        .unwrap();
    let origin: Uri = format!("http://{addr}").parse().unwrap();
    let channel = Channel::builder(origin.clone()).connect().await.unwrap();
    let signed = ServiceBuilder::new()
        .layer(
            session()
                .await
                .layer_with(unsigned_payload_settings())
                .unwrap(),
        )
        .service(channel);
    let mut client = HealthClient::with_origin(signed, origin);

    let first = client.check(check_request()).await.unwrap();
    let second = client.check(check_request()).await.unwrap();

    assert_eq!(first.into_inner().status(), ServingStatus::Serving.into());
    assert_eq!(second.into_inner().status(), ServingStatus::Serving.into());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].access_key_id, ACCESS_KEY_ID);
    assert_eq!(seen[0].service, SERVICE);
    assert_eq!(seen[0].region, REGION);
    for header in ["host", "x-amz-date", "x-amz-content-sha256", "content-type"] {
        assert!(
            seen[0].signed_headers.iter().any(|name| name == header),
            "{header} not signed: {:?}",
            seen[0].signed_headers
        );
    }
    assert!(
        !seen[0].signed_headers.iter().any(|name| name == "te"),
        "hop-by-hop te signed: {:?}",
        seen[0].signed_headers
    );
    server.abort();
}

#[tokio::test]
async fn unsigned_channel_is_unauthenticated() {
    let seen = Arc::new(Mutex::new(Vec::<SeenSignature>::new()));
    let (addr, server) = signature::spawn_health_server(expected(), Arc::clone(&seen))
        .await
        .unwrap();
    let channel = Channel::builder(format!("http://{addr}").parse().unwrap())
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);

    let status = client.check(check_request()).await.unwrap_err();

    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("authorization"), "{status:?}");
    assert!(seen.lock().unwrap().is_empty());
    server.abort();
}

#[tokio::test]
async fn wrong_region_is_unauthenticated() {
    let seen = Arc::new(Mutex::new(Vec::<SeenSignature>::new()));
    let (addr, server) = signature::spawn_health_server(expected(), Arc::clone(&seen))
        .await
        .unwrap();
    let origin: Uri = format!("http://{addr}").parse().unwrap();
    let channel = Channel::builder(origin.clone()).connect().await.unwrap();
    let settings = SigningSettings::new(SERVICE, "us-east-1")
        .payload(PayloadMode::Unsigned)
        .content_sha256_header(true);
    let signed = ServiceBuilder::new()
        .layer(session().await.layer_with(settings).unwrap())
        .service(channel);
    let mut client = HealthClient::with_origin(signed, origin);

    let status = client.check(check_request()).await.unwrap_err();

    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("region"), "{status:?}");
    server.abort();
}

#[tokio::test]
async fn missing_origin_fails_before_sending() {
    // Without `with_origin` tonic hands the layer a path-only URI, so the
    // request cannot be signed and never reaches the server.
    let seen = Arc::new(Mutex::new(Vec::<SeenSignature>::new()));
    let (addr, server) = signature::spawn_health_server(expected(), Arc::clone(&seen))
        .await
        .unwrap();
    let channel = Channel::builder(format!("http://{addr}").parse().unwrap())
        .connect()
        .await
        .unwrap();
    let signed = ServiceBuilder::new()
        .layer(
            session()
                .await
                .layer_with(unsigned_payload_settings())
                .unwrap(),
        )
        .service(channel);
    let mut client = HealthClient::new(signed);

    let status = client.check(check_request()).await.unwrap_err();

    assert!(status.message().contains("no host"), "{status:?}");
    assert!(!status.message().contains(SECRET_ACCESS_KEY), "{status:?}");
    assert!(seen.lock().unwrap().is_empty());
    server.abort();
}

#[test]
fn malformed_signatures_are_rejected() {
    let valid = "AWS4-HMAC-SHA256 Credential=AKIDTONICTEST/20261204/eu-central-1/vpc-lattice-svcs/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let cases = [
        (valid, "20261204T120000Z", None),
        (
            &valid.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")[..],
            "20261204T120000Z",
            Some("algorithm"),
        ),
        (
            &valid.replace("0123456789abcdef0123", "0123456789ABCDEF0123")[..],
            "20261204T120000Z",
            Some("hex"),
        ),
        (
            &valid.replace("aws4_request", "aws4")[..],
            "20261204T120000Z",
            Some("scope"),
        ),
        (
            &valid.replace("host;", "")[..],
            "20261204T120000Z",
            Some("host"),
        ),
        (valid, "20261205T120000Z", Some("date")),
        (valid, "2026-12-04", Some("YYYYMMDDTHHMMSSZ")),
    ];
    for (authorization, amz_date, error) in cases {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert("authorization", authorization.parse().unwrap());
        metadata.insert("x-amz-date", amz_date.parse().unwrap());
        metadata.insert("x-amz-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());

        let result = signature::check_signature(&metadata, &expected());

        match error {
            None => assert!(result.is_ok(), "{authorization}: {result:?}"),
            Some(word) => {
                let message = result.unwrap_err();
                assert!(
                    message.contains(word),
                    "{authorization} {amz_date}: {message}"
                );
            }
        }
    }
}
