//! The IoT source against a local mutual-TLS provider: the paths that
//! succeed, the request's shape, and background refresh.
#![cfg(feature = "iot")]

#[path = "support/iot_server.rs"]
mod iot_server;

use std::sync::Arc;
use std::time::Duration;

use aws_refresh_session::clock::{Clock, SystemClock};
use aws_refresh_session::refresh::RefreshPolicy;
use aws_refresh_session::strategy::iot::{IotConfig, IotConfigBuilder, IotSource};
use aws_refresh_session::{CredentialSource, CredentialStore, Strategy};
use iot_server::{Authority, Behavior, IotServer, ROLE_ALIAS, ServerOptions};

struct Fixture {
    authority: Authority,
    server: IotServer,
}

impl Fixture {
    async fn start() -> Fixture {
        let authority = Authority::new("Test IoT CA");
        let server = IotServer::start(ServerOptions::new(&authority)).await;
        Fixture { authority, server }
    }

    /// Returns a config that trusts the fixture's CA and presents a fresh
    /// client certificate from it, all as in-memory PEM.
    fn config(&self) -> IotConfigBuilder {
        let client = self.authority.client("test-thing");
        IotConfig::builder()
            .endpoint(self.server.url())
            .role_alias(ROLE_ALIAS)
            .certificate_pem(client.cert_pem)
            .private_key_pem(client.key_pem)
            .ca_pem(self.authority.ca_pem.clone())
    }
}

#[tokio::test]
async fn pem_files_fetch_credentials() {
    let fixture = Fixture::start().await;
    let client = fixture.authority.client("test-thing");
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("certificate.pem.crt");
    let key = dir.path().join("private.pem.key");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&cert, &client.cert_pem).unwrap();
    std::fs::write(&key, &client.key_pem).unwrap();
    std::fs::write(&ca, &fixture.authority.ca_pem).unwrap();

    let config = IotConfig::builder()
        .endpoint(fixture.server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_file(&cert)
        .private_key_file(&key)
        .ca_file(&ca)
        .build()
        .unwrap();
    let source = IotSource::new(config).unwrap();
    let credentials = source.fetch().await.unwrap();

    assert_eq!(credentials.access_key_id(), "ASIAIOT000000001");
    assert_eq!(credentials.secret_access_key(), "iotSecret1/+=");
    assert_eq!(credentials.session_token(), Some("iotToken1+/="));
    assert_eq!(source.kind(), "iot");
}

#[tokio::test]
async fn in_memory_pem_fetches_credentials() {
    let fixture = Fixture::start().await;
    let source = IotSource::new(fixture.config().build().unwrap()).unwrap();

    let credentials = source.fetch().await.unwrap();

    assert_eq!(credentials.access_key_id(), "ASIAIOT000000001");
    let expiry = credentials.expiry().expect("temporary credentials expire");
    let lifetime = expiry.duration_since(SystemClock.now()).unwrap();
    assert!(lifetime > Duration::from_secs(3500), "{lifetime:?}");
    assert!(lifetime <= Duration::from_secs(3600), "{lifetime:?}");
}

#[tokio::test]
async fn requested_duration_sets_lifetime() {
    let fixture = Fixture::start().await;
    let config = fixture
        .config()
        .duration(Duration::from_secs(900))
        .build()
        .unwrap();
    let source = IotSource::new(config).unwrap();

    let credentials = source.fetch().await.unwrap();

    let lifetime = credentials
        .expiry()
        .unwrap()
        .duration_since(SystemClock.now())
        .unwrap();
    assert!(lifetime <= Duration::from_secs(900), "{lifetime:?}");
    assert!(lifetime > Duration::from_secs(800), "{lifetime:?}");
}

#[tokio::test]
async fn request_has_provider_shape() {
    let fixture = Fixture::start().await;
    fixture.server.expect_thing_name("example-thing");
    let config = fixture
        .config()
        .thing_name("example-thing")
        .duration(Duration::from_secs(3600))
        .build()
        .unwrap();

    IotSource::new(config).unwrap().fetch().await.unwrap();

    let requests = fixture.server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.path,
        format!("/role-aliases/{ROLE_ALIAS}/credentials")
    );
    assert_eq!(request.headers["x-amzn-iot-thingname"], "example-thing");
    assert_eq!(
        request.headers["x-amzn-iot-credential-duration-seconds"],
        "3600"
    );
    assert!(!request.headers.contains_key("x-amz-iot-thingname"));
    assert!(!request.headers.contains_key("authorization"));
    assert!(!request.headers.contains_key("x-amz-date"));
    assert!(!request.headers.contains_key("x-amz-security-token"));
}

#[tokio::test]
async fn optional_headers_absent_when_unset() {
    let fixture = Fixture::start().await;

    IotSource::new(fixture.config().build().unwrap())
        .unwrap()
        .fetch()
        .await
        .unwrap();

    let request = &fixture.server.requests()[0];
    assert!(!request.headers.contains_key("x-amzn-iot-thingname"));
    assert!(
        !request
            .headers
            .contains_key("x-amzn-iot-credential-duration-seconds")
    );
}

#[tokio::test]
async fn tls12_provider_fetches_credentials() {
    let authority = Authority::new("Test IoT CA");
    let mut options = ServerOptions::new(&authority);
    options.tls12_only = true;
    let server = IotServer::start(options).await;
    let client = authority.client("test-thing");
    let config = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .build()
        .unwrap();

    let credentials = IotSource::new(config).unwrap().fetch().await.unwrap();

    assert_eq!(credentials.access_key_id(), "ASIAIOT000000001");
}

#[tokio::test]
async fn strategy_iot_builds_iot_source() {
    let fixture = Fixture::start().await;

    let source = Strategy::Iot(fixture.config().build().unwrap())
        .into_source()
        .await
        .unwrap();
    let credentials = source.fetch().await.unwrap();

    assert_eq!(source.kind(), "iot");
    assert_eq!(credentials.access_key_id(), "ASIAIOT000000001");
}

#[tokio::test]
async fn tls_config_is_shared_across_refreshes() {
    let fixture = Fixture::start().await;
    let source = IotSource::new(fixture.config().build().unwrap()).unwrap();
    let before = Arc::clone(source.client_config());

    for _ in 0..3 {
        source.fetch().await.unwrap();
    }

    assert!(Arc::ptr_eq(&before, source.client_config()));
    assert_eq!(fixture.server.handshakes(), 3);
    // Only a client that keeps one config (and its session cache) across
    // refreshes can resume the TLS session.
    assert!(
        fixture.server.resumed_handshakes() >= 1,
        "resumed {} of 3 handshakes",
        fixture.server.resumed_handshakes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_refreshes_short_lived_credentials() {
    let fixture = Fixture::start().await;
    // Credentials that live 8 s, refreshed 6 s before expiry: about every
    // 2 s of real time.
    fixture.server.set_behavior(Behavior::Credentials {
        lifetime: Some(Duration::from_secs(8)),
    });
    let source = Arc::new(IotSource::new(fixture.config().build().unwrap()).unwrap());
    let config_before = Arc::clone(source.client_config());
    let policy = RefreshPolicy::default()
        .advisory_window(Duration::from_secs(6))
        .mandatory_window(Duration::from_secs(1))
        .max_jitter(Duration::ZERO)
        .min_refresh_interval(Duration::from_secs(1));

    let store = CredentialStore::builder(Arc::clone(&source))
        .policy(policy)
        .build()
        .await
        .unwrap();
    let first = store.credentials().await.unwrap();

    let mut waited = Duration::ZERO;
    while store.generation() < 3 && waited < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    }

    assert!(
        store.generation() >= 3,
        "generation {} after {waited:?}",
        store.generation()
    );
    let latest = store.credentials().await.unwrap();
    assert_ne!(latest.access_key_id(), first.access_key_id());
    assert!(fixture.server.request_count() >= 3);
    assert!(Arc::ptr_eq(&config_before, source.client_config()));
    assert!(fixture.server.resumed_handshakes() >= 1);
}
