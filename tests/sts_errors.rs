//! How STS failures surface: typed request errors with status and code,
//! connection errors and timeouts, against canned servers on 127.0.0.1.
#![cfg(feature = "sts")]

mod support;

use std::time::Duration;

use aws_refresh_session::strategy::sts::{
    AssumeRoleConfig, MfaTokenProvider, StsClientConfig, StsClientConfigBuilder, StsConfig,
    StsSource,
};
use aws_refresh_session::{CredentialSource, Credentials, Error};

use support::canned::{CannedServer, Reply, sts_error};

const ROLE: &str = "arn:aws:iam::123456789012:role/app";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn client(endpoint: &str) -> StsClientConfigBuilder {
    StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(endpoint)
        .credentials(Credentials::new("AKIDEXAMPLE", SECRET, None, None))
        .max_attempts(1)
}

async fn fetch_with(client: StsClientConfigBuilder) -> Error {
    let config = StsConfig::builder(
        AssumeRoleConfig::builder(ROLE).build().unwrap(),
        client.build().unwrap(),
    )
    .build()
    .unwrap();
    let source = StsSource::new(config).await.unwrap();
    let error = source.fetch().await.unwrap_err();
    assert!(!format!("{error} {error:?}").contains(SECRET), "{error:?}");
    error
}

#[tokio::test]
async fn throttling_is_retryable_request_error() {
    let server =
        CannedServer::start(Reply::Status(400, sts_error("Throttling", "Rate exceeded"))).await;

    let error = fetch_with(client(&server.endpoint)).await;

    assert!(error.is_request(), "{error:?}");
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.code(), Some("Throttling"));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn server_error_is_retryable() {
    let server = CannedServer::start(Reply::Status(
        503,
        sts_error("ServiceUnavailable", "try later"),
    ))
    .await;

    let error = fetch_with(client(&server.endpoint)).await;

    assert_eq!(error.status(), Some(503));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn region_disabled_is_not_retryable() {
    let body = sts_error(
        "RegionDisabledException",
        "STS is not activated in this region for account:123456789012",
    );
    let server = CannedServer::start(Reply::Status(403, body)).await;

    let error = fetch_with(client(&server.endpoint)).await;

    assert_eq!(error.status(), Some(403));
    assert_eq!(error.code(), Some("RegionDisabledException"));
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("activate"), "{error}");
}

#[tokio::test]
async fn expired_base_token_keeps_its_code() {
    let server = CannedServer::start(Reply::Status(
        400,
        sts_error(
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
    ))
    .await;

    let error = fetch_with(client(&server.endpoint)).await;

    assert_eq!(error.code(), Some("ExpiredToken"));
    assert!(error.to_string().contains("expired"), "{error}");
}

#[tokio::test]
async fn moto_error_shape_is_read_from_body() {
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error>\
                <Code>AccessDenied</Code><Message>not authorized</Message><Type>Sender</Type>\
                </Error></Errors></ErrorResponse>";
    let server = CannedServer::start(Reply::Status(403, body.to_owned())).await;

    let error = fetch_with(client(&server.endpoint)).await;

    assert_eq!(error.code(), Some("AccessDenied"));
    assert!(error.to_string().contains("not authorized"), "{error}");
}

#[tokio::test]
async fn sdk_retries_calls_without_mfa() {
    let server =
        CannedServer::start(Reply::Status(503, sts_error("ServiceUnavailable", "x"))).await;

    fetch_with(client(&server.endpoint).max_attempts(2)).await;

    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn calls_with_token_code_are_not_retried() {
    let server =
        CannedServer::start(Reply::Status(503, sts_error("ServiceUnavailable", "x"))).await;
    let assume_role = AssumeRoleConfig::builder(ROLE)
        .serial_number("arn:aws:iam::123456789012:mfa/alice")
        .build()
        .unwrap();
    let provider = MfaTokenProvider::function(|| async { Ok("123456".to_owned()) });
    let config = StsConfig::builder(
        assume_role,
        client(&server.endpoint).max_attempts(3).build().unwrap(),
    )
    .mfa_token_provider(provider)
    .build()
    .unwrap();
    let source = StsSource::new(config).await.unwrap();

    let error = source.fetch().await.unwrap_err();

    assert_eq!(error.status(), Some(503));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn refused_connection_is_connection_error() {
    // Bind and drop: nothing listens on the port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let error = fetch_with(client(&format!("http://127.0.0.1:{port}"))).await;

    assert!(error.is_connection(), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = CannedServer::start(Reply::Hang).await;

    let error =
        fetch_with(client(&server.endpoint).operation_timeout(Duration::from_millis(300))).await;

    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_retryable());
}
