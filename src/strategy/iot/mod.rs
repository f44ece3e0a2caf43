//! Credentials from the AWS IoT Core credentials provider, with the
//! device's X.509 certificate.
//!
//! The device calls `GET /role-aliases/<alias>/credentials` on its
//! account's credentials endpoint over mutual TLS; the provider assumes the
//! role behind the alias and returns temporary credentials. No AWS keys
//! live on the device. The private key can be a PEM file or, with the
//! `pkcs11` feature, a key that never leaves a PKCS#11 token.
//!
//! The TLS configuration (certificate, key, roots) is built once, when the
//! source is built, and shared by every refresh.
//!
//! # Examples
//!
//! ```no_run
//! use aws_refresh_session::strategy::iot::{IotConfig, IotSource};
//! use aws_refresh_session::CredentialStore;
//!
//! # async fn run() -> Result<(), aws_refresh_session::Error> {
//! let config = IotConfig::builder()
//!     .endpoint("c1b2c3example.credentials.iot.us-east-1.amazonaws.com")
//!     .role_alias("device-role-alias")
//!     .certificate_file("/etc/device/certificate.pem.crt")
//!     .private_key_file("/etc/device/private.pem.key")
//!     .thing_name("sensor-0042")
//!     .build()?;
//! let store = CredentialStore::builder(IotSource::new(config)?).build().await?;
//! let credentials = store.credentials().await?;
//! println!("{} until {:?}", credentials.access_key_id(), credentials.expiry_rfc3339());
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! | failure | error |
//! | --- | --- |
//! | server certificate not trusted | connection error, not retryable: "this client rejected the server certificate …" |
//! | client certificate rejected (unknown CA, expired, revoked) | connection error, not retryable: "the server … rejected the client certificate (TLS alert …)" |
//! | 403, 404 and other statuses | request error with the status, the `x-amzn-errortype` code and the provider's message |
//! | no response within the timeout | timeout error |
//! | connection dropped before the response | connection error |
//! | body not JSON, field missing or malformed | credential error naming the field |
//!
//! # Limitations
//!
//! - One connection per refresh; the TLS session is resumed when the
//!   provider allows it.
//! - Only what the device needs: no MQTT connection.

mod config;
#[cfg(feature = "iot-discovery")]
mod discovery;
mod endpoint;
#[cfg(feature = "pkcs11")]
mod pkcs11;
mod request;
mod response;
mod tls;

use std::fmt;
use std::sync::Arc;

use rustls::ClientConfig;

use crate::credentials::Credentials;
use crate::error::Error;
use crate::strategy::{BoxFuture, CredentialSource};

pub use config::{
    DEFAULT_IOT_TIMEOUT, IotConfig, IotConfigBuilder, MAX_IOT_DURATION, MIN_IOT_DURATION,
};
#[cfg(feature = "iot-discovery")]
pub use discovery::{DiscoveryConfig, discover_credentials_endpoint};
#[cfg(feature = "pkcs11")]
pub use pkcs11::Pkcs11Key;

/// A credential source that calls the AWS IoT Core credentials provider.
///
/// `Debug` shows the configuration without the private key or PIN.
pub struct IotSource {
    config: IotConfig,
    tls: Arc<ClientConfig>,
}

impl IotSource {
    /// Loads the certificate and key (or opens the PKCS#11 token) and builds
    /// the TLS configuration every refresh shares.
    ///
    /// # Errors
    ///
    /// - A validation error naming `certificate`, `private_key` or `ca` when
    ///   a file cannot be read or contains no usable PEM.
    /// - A configuration error when the certificate and the key do not
    ///   match, or the PKCS#11 module, token, PIN or key is wrong.
    pub fn new(config: IotConfig) -> Result<Self, Error> {
        let tls = tls::client_config(&config)?;
        Ok(IotSource { config, tls })
    }

    /// Returns the configuration.
    pub fn config(&self) -> &IotConfig {
        &self.config
    }

    /// Returns the TLS configuration shared by every refresh. Its identity
    /// does not change for the life of the source.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.tls
    }

    async fn fetch_once(&self) -> Result<Credentials, Error> {
        if self.config.accept_invalid_server_certificate {
            tracing::warn!(
                endpoint = %self.config.endpoint,
                "server certificate verification is off for the IoT credentials provider; \
                 anyone on the network path can impersonate it"
            );
        }

        let response = tokio::time::timeout(
            self.config.timeout,
            request::send(&self.config, &self.tls),
        )
        .await
        .map_err(|_| {
            Error::timeout(format!(
                "the IoT credentials provider at {} timed out: no response within {:?}; check the endpoint \
                     and the network, or raise `timeout`",
                self.config.endpoint, self.config.timeout
            ))
        })??;

        let credentials = response::parse(&response, &self.config.role_alias)?;
        tracing::debug!(
            endpoint = %self.config.endpoint,
            role_alias = %self.config.role_alias,
            access_key_id = credentials.access_key_id(),
            expiry = credentials.expiry_rfc3339().as_deref().unwrap_or("never"),
            "IoT credentials received"
        );
        Ok(credentials)
    }
}

impl CredentialSource for IotSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(self.fetch_once())
    }

    fn kind(&self) -> &'static str {
        "iot"
    }
}

impl fmt::Debug for IotSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IotSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
