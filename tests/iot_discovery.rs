//! Credentials-endpoint discovery with `DescribeEndpoint`, against moto.
#![cfg(feature = "iot-discovery")]

mod support;

use aws_refresh_session::Credentials;
use aws_refresh_session::strategy::iot::{
    DiscoveryConfig, IotConfig, discover_credentials_endpoint,
};

fn operator_credentials() -> Credentials {
    Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
    )
}

#[tokio::test]
async fn describe_endpoint_returns_credentials_endpoint() {
    // The SDK signs this GET without x-amz-content-sha256, which moto
    // cannot verify, so authentication stays off here.
    let moto = support::moto::Moto::start_without_auth().await;
    let config =
        DiscoveryConfig::new("eu-west-1", moto.user_credentials()).endpoint_url(&moto.endpoint);

    let endpoint = discover_credentials_endpoint(&config).await.unwrap();

    assert!(
        endpoint.ends_with(".credentials.iot.eu-west-1.amazonaws.com"),
        "{endpoint}"
    );
    let iot = IotConfig::builder()
        .endpoint(&endpoint)
        .role_alias("alias")
        .certificate_pem("unused")
        .private_key_pem("unused")
        .build()
        .unwrap();
    assert_eq!(iot.endpoint(), format!("https://{endpoint}"));
}

#[tokio::test]
async fn unreachable_endpoint_is_connection_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = DiscoveryConfig::new("eu-west-1", operator_credentials())
        .endpoint_url(format!("http://127.0.0.1:{port}"));

    let error = discover_credentials_endpoint(&config).await.unwrap_err();

    assert!(error.is_connection(), "{error:?}");
}

#[tokio::test]
async fn empty_region_is_rejected() {
    let config =
        DiscoveryConfig::new("", operator_credentials()).endpoint_url("http://127.0.0.1:1");

    let error = discover_credentials_endpoint(&config).await.unwrap_err();

    assert_eq!(error.parameter(), Some("region"));
}

#[test]
fn debug_hides_secret() {
    let config = DiscoveryConfig::new("eu-west-1", operator_credentials());

    let printed = format!("{config:?}");

    assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
    assert!(printed.contains("AKIAIOSFODNN7EXAMPLE"), "{printed}");
}
