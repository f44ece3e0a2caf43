//! IoT configuration: endpoint forms, bounds, key choice, certificate and
//! key checks, the dangerous verification switch, and what `Debug` hides.
#![cfg(feature = "iot")]

#[path = "support/iot_server.rs"]
mod iot_server;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_refresh_session::CredentialSource;
use aws_refresh_session::strategy::iot::{IotConfig, IotConfigBuilder, IotSource};
use iot_server::{Authority, IotServer, ROLE_ALIAS, ServerOptions};
use tracing_subscriber::fmt::MakeWriter;

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn with_endpoint(endpoint: &str) -> IotConfigBuilder {
    IotConfig::builder()
        .endpoint(endpoint)
        .role_alias(ROLE_ALIAS)
        .certificate_pem("unused")
        .private_key_pem("unused")
}

#[test]
fn credentials_endpoint_is_kept() {
    let config = with_endpoint("c1b2c3example.credentials.iot.us-east-1.amazonaws.com")
        .build()
        .unwrap();

    assert_eq!(
        config.endpoint(),
        "https://c1b2c3example.credentials.iot.us-east-1.amazonaws.com"
    );
}

#[test]
fn data_endpoint_is_rewritten_with_warning() {
    let logs = Logs::default();

    let config = tracing::subscriber::with_default(logs.subscriber(), || {
        with_endpoint("a1b2c3example-ats.iot.us-east-1.amazonaws.com")
            .build()
            .unwrap()
    });

    let text = logs.text();
    assert_eq!(
        config.endpoint(),
        "https://a1b2c3example.credentials.iot.us-east-1.amazonaws.com"
    );
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("****-ats.iot.us-east-1.amazonaws.com"),
        "{text}"
    );
    assert!(
        text.contains("****.credentials.iot.us-east-1.amazonaws.com"),
        "{text}"
    );
    assert!(!text.contains("a1b2c3example"), "{text}");
}

#[test]
fn legacy_data_endpoint_is_rewritten() {
    let config = with_endpoint("a1b2c3example.iot.ap-southeast-2.amazonaws.com")
        .build()
        .unwrap();

    assert_eq!(
        config.endpoint(),
        "https://a1b2c3example.credentials.iot.ap-southeast-2.amazonaws.com"
    );
}

#[test]
fn other_hosts_are_rejected() {
    for endpoint in [
        "sts.amazonaws.com",
        "iot.example.com",
        "localhost",
        "127.0.0.1",
    ] {
        let error = with_endpoint(endpoint).build().unwrap_err();

        assert!(error.is_validation(), "{endpoint}: {error}");
        assert_eq!(error.parameter(), Some("endpoint"), "{endpoint}");
        assert_eq!(error.value(), Some(endpoint), "{endpoint}");
    }
}

#[test]
fn explicit_url_is_accepted() {
    let config = with_endpoint("https://127.0.0.1:8443").build().unwrap();

    assert_eq!(config.endpoint(), "https://127.0.0.1:8443");
}

#[test]
fn plain_http_url_is_rejected() {
    let error = with_endpoint("http://127.0.0.1:8443").build().unwrap_err();

    assert_eq!(error.parameter(), Some("endpoint"));
    assert!(error.message().contains("https"), "{error}");
}

#[test]
fn duration_bounds_are_enforced() {
    let valid = with_endpoint("https://127.0.0.1:1");

    assert!(
        valid
            .clone()
            .duration(Duration::from_secs(900))
            .build()
            .is_ok()
    );
    assert!(
        valid
            .clone()
            .duration(Duration::from_secs(43_200))
            .build()
            .is_ok()
    );
    for seconds in [0, 899, 43_201, 86_400] {
        let error = valid
            .clone()
            .duration(Duration::from_secs(seconds))
            .build()
            .unwrap_err();
        assert!(error.is_validation(), "{seconds}");
        assert_eq!(error.parameter(), Some("duration"), "{seconds}");
    }
}

#[test]
fn missing_key_is_configuration_error() {
    let error = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem("unused")
        .build()
        .unwrap_err();

    assert!(error.is_configuration(), "{error}");
    assert!(error.message().contains("no private key"), "{error}");
}

#[cfg(feature = "pkcs11")]
#[test]
fn both_keys_is_configuration_error() {
    use aws_refresh_session::strategy::iot::Pkcs11Key;

    let error = with_endpoint("https://127.0.0.1:1")
        .pkcs11_key(
            Pkcs11Key::new("/usr/lib/softhsm/libsofthsm2.so")
                .token_label("device")
                .user_pin("1234")
                .key_label("device-key"),
        )
        .build()
        .unwrap_err();

    assert!(error.is_configuration(), "{error}");
    assert!(error.message().contains("both"), "{error}");
}

#[test]
fn mismatched_certificate_and_key_fail_at_build() {
    let authority = Authority::new("Test IoT CA");
    let first = authority.client("first");
    let second = authority.client("second");
    let config = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem(first.cert_pem)
        .private_key_pem(second.key_pem)
        .build()
        .unwrap();

    let error = IotSource::new(config).unwrap_err();

    assert!(error.is_configuration(), "{error}");
    assert!(error.message().contains("do not match"), "{error}");
}

#[test]
fn unreadable_files_name_the_parameter() {
    let config = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_file("/nonexistent/certificate.pem")
        .private_key_file("/nonexistent/private.key")
        .build()
        .unwrap();

    let error = IotSource::new(config).unwrap_err();

    assert!(error.is_validation(), "{error}");
    assert_eq!(error.parameter(), Some("certificate"));
    assert_eq!(error.value(), Some("/nonexistent/certificate.pem"));
}

#[test]
fn garbage_pem_names_the_parameter() {
    let authority = Authority::new("Test IoT CA");
    let client = authority.client("t");

    let no_certificate = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem("not a certificate")
        .private_key_pem(client.key_pem.clone())
        .build()
        .unwrap();
    let no_key = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem.clone())
        .private_key_pem("not a key")
        .build()
        .unwrap();
    let no_ca = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .ca_pem("not a CA")
        .build()
        .unwrap();

    assert_eq!(
        IotSource::new(no_certificate).unwrap_err().parameter(),
        Some("certificate")
    );
    assert_eq!(
        IotSource::new(no_key).unwrap_err().parameter(),
        Some("private_key")
    );
    assert_eq!(IotSource::new(no_ca).unwrap_err().parameter(), Some("ca"));
}

#[test]
fn default_roots_need_no_ca() {
    let authority = Authority::new("Test IoT CA");
    let client = authority.client("t");
    let config = IotConfig::builder()
        .endpoint("c1b2c3example.credentials.iot.us-east-1.amazonaws.com")
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .build()
        .unwrap();

    assert!(IotSource::new(config).is_ok());
}

#[test]
fn debug_hides_key_pem() {
    let authority = Authority::new("Test IoT CA");
    let client = authority.client("t");
    let key_body = client.key_pem.lines().nth(1).unwrap().to_owned();
    let builder = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem);
    let config = builder.clone().build().unwrap();
    let source = IotSource::new(config.clone()).unwrap();

    for printed in [
        format!("{builder:?}"),
        format!("{config:?}"),
        format!("{source:#?}"),
    ] {
        assert!(!printed.contains(&key_body), "{printed}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    }
}

#[tokio::test]
async fn unverified_server_warns_on_every_refresh() {
    let authority = Authority::new("Test IoT CA");
    let untrusted = Authority::new("Untrusted server CA");
    let server = IotServer::start(ServerOptions {
        client_ca_pem: authority.ca_pem.clone(),
        identity: untrusted.server(),
        tls12_only: false,
    })
    .await;
    let client = authority.client("t");
    let config = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .danger_accept_invalid_server_certificate()
        .build()
        .unwrap();
    let source = IotSource::new(config).unwrap();
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());

    source.fetch().await.unwrap();
    source.fetch().await.unwrap();

    let warnings = logs
        .text()
        .matches("server certificate verification is off")
        .count();
    assert_eq!(warnings, 2, "{}", logs.text());
}

#[tokio::test]
async fn verification_is_on_by_default() {
    let authority = Authority::new("Test IoT CA");
    let untrusted = Authority::new("Untrusted server CA");
    let server = IotServer::start(ServerOptions {
        client_ca_pem: authority.ca_pem.clone(),
        identity: untrusted.server(),
        tls12_only: false,
    })
    .await;
    let client = authority.client("t");
    let config = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(client.cert_pem)
        .private_key_pem(client.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .build()
        .unwrap();

    let error = IotSource::new(config).unwrap().fetch().await.unwrap_err();

    assert!(error.is_connection(), "{error}");
    assert!(
        !IotConfig::builder()
            .endpoint("https://127.0.0.1:1")
            .role_alias("a")
            .certificate_pem("c")
            .private_key_pem("k")
            .build()
            .unwrap()
            .accepts_invalid_server_certificate()
    );
}
