//! How the IoT source fails: each failure gives its typed error, and a
//! running store keeps serving its still-valid credentials through all of
//! them.
#![cfg(feature = "iot")]

#[path = "support/iot_server.rs"]
mod iot_server;

use std::time::Duration;

use aws_refresh_session::strategy::iot::{IotConfig, IotConfigBuilder, IotSource};
use aws_refresh_session::{CredentialSource, CredentialStore, Error};
use iot_server::{Authority, Behavior, Identity, IotServer, ROLE_ALIAS, ServerOptions};

/// The timeout the tests configure, short because the provider is local.
const SHORT_TIMEOUT: Duration = Duration::from_millis(500);

fn config(server: &IotServer, ca_pem: &str, client: Identity) -> IotConfigBuilder {
    IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .ca_pem(ca_pem.to_owned())
        .timeout(SHORT_TIMEOUT)
}

async fn fetch_error(config: IotConfigBuilder) -> Error {
    let source = IotSource::new(config.build().unwrap()).unwrap();
    source.fetch().await.unwrap_err()
}

async fn server(tls12_only: bool) -> (Authority, IotServer) {
    let authority = Authority::new("Test IoT CA");
    let mut options = ServerOptions::new(&authority);
    options.tls12_only = tls12_only;
    let server = IotServer::start(options).await;
    (authority, server)
}

#[tokio::test]
async fn untrusted_server_ca_is_rejected() {
    let (authority, server) = server(false).await;
    let other = Authority::new("Other CA");

    let error = fetch_error(config(&server, &other.ca_pem, authority.client("t"))).await;

    assert!(error.is_connection(), "{error:?}");
    assert!(
        error
            .message()
            .contains("this client rejected the server certificate"),
        "{error}"
    );
    assert!(
        error.message().contains("not issued by a trusted CA"),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn client_cert_from_other_ca_is_rejected_tls13() {
    let (authority, server) = server(false).await;
    let stranger = Authority::new("Other CA").client("t");

    let error = fetch_error(config(&server, &authority.ca_pem, stranger)).await;

    assert!(error.is_connection(), "{error:?}");
    assert!(
        error.message().contains("rejected the client certificate"),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert_eq!(server.request_count(), 0);
    assert_eq!(server.failed_handshakes().len(), 1);
}

#[tokio::test]
async fn client_cert_from_other_ca_is_rejected_tls12() {
    let (authority, server) = server(true).await;
    let stranger = Authority::new("Other CA").client("t");

    let error = fetch_error(config(&server, &authority.ca_pem, stranger)).await;

    assert!(error.is_connection(), "{error:?}");
    assert!(
        error.message().contains("rejected the client certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn expired_client_cert_is_rejected() {
    let (authority, server) = server(false).await;

    let error = fetch_error(config(
        &server,
        &authority.ca_pem,
        authority.expired_client("t"),
    ))
    .await;

    assert!(error.is_connection(), "{error:?}");
    assert!(
        error.message().contains("rejected the client certificate"),
        "{error}"
    );
    assert!(error.message().contains("CertificateExpired"), "{error}");
}

#[tokio::test]
async fn forbidden_carries_provider_message() {
    let (authority, server) = server(false).await;
    server.set_behavior(Behavior::Error {
        status: 403,
        error_type: "ForbiddenException",
        message: "Access Denied",
    });

    let error = fetch_error(config(&server, &authority.ca_pem, authority.client("t"))).await;

    assert!(error.is_request(), "{error:?}");
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.code(), Some("ForbiddenException"));
    assert!(error.message().contains("Access Denied"), "{error}");
    assert!(
        error.message().contains("{\"message\":\"Access Denied\"}"),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn thing_name_mismatch_is_forbidden() {
    let (authority, server) = server(false).await;
    server.expect_thing_name("registered-thing");

    let error = fetch_error(
        config(&server, &authority.ca_pem, authority.client("t")).thing_name("other-thing"),
    )
    .await;

    assert!(error.is_request(), "{error:?}");
    assert_eq!(error.status(), Some(403));
}

#[tokio::test]
async fn unknown_alias_is_not_found() {
    let (authority, server) = server(false).await;

    let error = fetch_error(
        config(&server, &authority.ca_pem, authority.client("t")).role_alias("missing-alias"),
    )
    .await;

    assert!(error.is_request(), "{error:?}");
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.code(), Some("ResourceNotFoundException"));
    assert!(
        error.message().contains("Role alias does not exist"),
        "{error}"
    );
    assert_eq!(
        server.requests()[0].path,
        "/role-aliases/missing-alias/credentials"
    );
}

#[tokio::test]
async fn malformed_json_is_credential_error() {
    let (authority, server) = server(false).await;
    server.set_behavior(Behavior::MalformedJson);

    let error = fetch_error(config(&server, &authority.ca_pem, authority.client("t"))).await;

    assert!(error.is_credential(), "{error:?}");
    assert_eq!(error.parameter(), Some("credentials"));
}

#[tokio::test]
async fn sts_shaped_body_is_credential_error() {
    let (authority, server) = server(false).await;
    server.set_behavior(Behavior::StsShaped);

    let error = fetch_error(config(&server, &authority.ca_pem, authority.client("t"))).await;

    assert!(error.is_credential(), "{error:?}");
    assert!(error.message().contains("PascalCase"), "{error}");
}

#[tokio::test]
async fn silent_provider_times_out() {
    let (authority, server) = server(false).await;
    server.set_behavior(Behavior::Hang);

    let error = fetch_error(config(&server, &authority.ca_pem, authority.client("t"))).await;

    assert!(error.is_timeout(), "{error:?}");
    assert!(error.message().contains("500ms"), "{error}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn dropped_connection_is_connection_error() {
    let (authority, server) = server(false).await;
    server.set_behavior(Behavior::Drop);

    let error = fetch_error(config(&server, &authority.ca_pem, authority.client("t"))).await;

    assert!(error.is_connection(), "{error:?}");
    assert!(
        error
            .message()
            .contains("closed the connection before responding"),
        "{error}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn closed_port_is_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let authority = Authority::new("Test IoT CA");
    let client = authority.client("t");
    let config = IotConfig::builder()
        .endpoint(format!("https://127.0.0.1:{port}"))
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .build()
        .unwrap();

    let error = IotSource::new(config).unwrap().fetch().await.unwrap_err();

    assert!(error.is_connection(), "{error:?}");
    assert!(
        error
            .message()
            .contains("connecting to the IoT credentials provider"),
        "{error}"
    );
}

/// A failure's name, how to cause it, and the check its error must pass.
type FailureCase = (&'static str, Failure, fn(&Error) -> bool);

/// Returns each failure the provider can produce.
fn failure_cases(authority: &Authority) -> Vec<FailureCase> {
    let other = Authority::new("Other CA");
    vec![
        (
            "server certificate from an untrusted CA",
            Failure::Tls(ServerOptions {
                client_ca_pem: authority.ca_pem.clone(),
                identity: other.server(),
                tls12_only: false,
            }),
            Error::is_connection,
        ),
        (
            "client certificate not trusted by the server",
            Failure::Tls(ServerOptions {
                client_ca_pem: other.ca_pem.clone(),
                identity: authority.server(),
                tls12_only: false,
            }),
            Error::is_connection,
        ),
        (
            "403",
            Failure::Behavior(Behavior::Error {
                status: 403,
                error_type: "ForbiddenException",
                message: "Access Denied",
            }),
            Error::is_request,
        ),
        (
            "malformed JSON",
            Failure::Behavior(Behavior::MalformedJson),
            Error::is_credential,
        ),
        (
            "no answer",
            Failure::Behavior(Behavior::Hang),
            Error::is_timeout,
        ),
        (
            "dropped connection",
            Failure::Behavior(Behavior::Drop),
            Error::is_connection,
        ),
    ]
}

enum Failure {
    Tls(ServerOptions),
    Behavior(Behavior),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_serves_valid_credentials_through_failures() {
    let authority = Authority::new("Test IoT CA");
    let good_options = || ServerOptions::new(&authority);
    let server = IotServer::start(good_options()).await;
    let config = config(&server, &authority.ca_pem, authority.client("t"))
        .build()
        .unwrap();
    let store = CredentialStore::builder(IotSource::new(config).unwrap())
        .build()
        .await
        .unwrap();
    let original = store.credentials().await.unwrap();

    for (name, failure, is_expected_kind) in failure_cases(&authority) {
        match failure {
            Failure::Tls(options) => server.reconfigure(options),
            Failure::Behavior(behavior) => server.set_behavior(behavior),
        }

        let error = store.refresh_now().await.unwrap_err();
        let served = store.credentials().await.unwrap();

        assert!(is_expected_kind(&error), "{name}: {error:?}");
        assert_eq!(served.access_key_id(), original.access_key_id(), "{name}");
        assert_eq!(store.generation(), 1, "{name}");

        server.reconfigure(good_options());
        server.set_behavior(Behavior::Credentials { lifetime: None });
    }

    let recovered = store.refresh_now().await.unwrap();
    assert_ne!(recovered.access_key_id(), original.access_key_id());
}

#[tokio::test]
async fn errors_and_logs_carry_no_secret() {
    let (authority, server) = server(false).await;
    let client = authority.client("t");
    let key_body = client.key_pem.lines().nth(1).unwrap().to_owned();
    let source =
        IotSource::new(config(&server, &authority.ca_pem, client).build().unwrap()).unwrap();
    let credentials = source.fetch().await.unwrap();
    server.set_behavior(Behavior::Error {
        status: 403,
        error_type: "ForbiddenException",
        message: "Access Denied",
    });
    let error = source.fetch().await.unwrap_err();

    for printed in [
        format!("{error:?}"),
        error.to_string(),
        format!("{source:?}"),
    ] {
        assert!(
            !printed.contains(credentials.secret_access_key()),
            "{printed}"
        );
        assert!(
            !printed.contains(credentials.session_token().unwrap()),
            "{printed}"
        );
        assert!(!printed.contains(&key_body), "{printed}");
    }
}
