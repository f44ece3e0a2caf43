//! The session: one object that owns the credentials and hands out what
//! signs with them.
//!
//! A [`RefreshableSession`] is built from a [`Strategy`](crate::Strategy) and a
//! [`RefreshPolicy`](crate::RefreshPolicy). It owns one [`CredentialStore`] (and so one
//! background refresher) shared by every clone, and offers:
//!
//! - [`layer`](RefreshableSession::layer): a [`RefreshingCredentialsLayer`]
//!   for any tower stack;
//! - [`client`](RefreshableSession::client) (feature `client`): a signing
//!   hyper client, cached per service, region, endpoint and settings;
//! - [`credentials`](RefreshableSession::credentials),
//!   [`whoami`](RefreshableSession::whoami),
//!   [`refresh_now`](RefreshableSession::refresh_now),
//!   [`invalidate`](RefreshableSession::invalidate) and
//!   [`subscribe`](RefreshableSession::subscribe);
//! - [`sdk_config`](RefreshableSession::sdk_config): an `aws_types::SdkConfig`
//!   builder whose credentials come from the session.
//!
//! # Examples
//!
//! ```
//! use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
//! use aws_refresh_session::strategy::CustomSource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), aws_refresh_session::Error> {
//! let source = CustomSource::new("broker", || async {
//!     Ok(Credentials::new("AKIDEXAMPLE", "secret", None, None))
//! });
//! let session = RefreshableSession::builder()
//!     .strategy(Strategy::custom(source))
//!     .build()
//!     .await?;
//!
//! let layer = session.layer("sts", "us-east-1")?;
//! assert_eq!(layer.settings().service(), "sts");
//! assert_eq!(session.credentials().await?.access_key_id(), "AKIDEXAMPLE");
//! # Ok(()) }
//! ```

mod builder;
#[cfg(feature = "client")]
mod client;

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use crate::credentials::Credentials;
use crate::error::Error;
use crate::refresh::{CredentialStore, RefreshEvent};
use crate::signing::{RefreshingCredentialsLayer, SigningSettings};

pub use builder::SessionBuilder;
#[cfg(feature = "client")]
pub use client::{ClientBody, HttpsClient, SessionClient};

/// A set of refreshing credentials and everything that signs with them.
///
/// Cloning is cheap; clones share one store, one background refresher and
/// one client cache. The refresher stops when the last clone (and every
/// layer and client made from it) is dropped.
#[derive(Clone)]
pub struct RefreshableSession {
    inner: Arc<Inner>,
}

struct Inner {
    store: CredentialStore,
    #[cfg(feature = "client")]
    clients: crate::cache::ClientCache<crate::cache::CacheKey, SessionClient>,
    #[cfg(feature = "sts")]
    identity: builder::IdentityClient,
}

impl RefreshableSession {
    /// Starts a builder.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// Returns credentials to sign with: key id, secret, token and expiry
    /// from one generation. Waits only when the store must (cold start,
    /// mandatory window, past expiry).
    ///
    /// # Errors
    ///
    /// The store's error: the source's error, an expired error, or a
    /// timeout.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        self.inner.store.credentials().await
    }

    /// Fetches new credentials now, ignoring backoff.
    ///
    /// # Errors
    ///
    /// The source's error, or a timeout.
    pub async fn refresh_now(&self) -> Result<Credentials, Error> {
        self.inner.store.refresh_now().await
    }

    /// Marks the current credentials stale if their access key id is
    /// `access_key_id`, and starts a refresh. Returns whether it did.
    pub fn invalidate(&self, access_key_id: &str) -> bool {
        self.inner.store.invalidate(access_key_id)
    }

    /// Returns a receiver of refresh events (generation, expiry, outcome),
    /// for metrics.
    pub fn subscribe(&self) -> watch::Receiver<RefreshEvent> {
        self.inner.store.subscribe()
    }

    /// Returns the credential store.
    pub fn store(&self) -> &CredentialStore {
        &self.inner.store
    }

    /// Returns a signing layer for `service` in `region`, with S3 rules for
    /// `"s3"` and the defaults of [`SigningSettings::new`] otherwise.
    ///
    /// # Errors
    ///
    /// A validation error for an empty or malformed service or region.
    pub fn layer(&self, service: &str, region: &str) -> Result<RefreshingCredentialsLayer, Error> {
        self.layer_with(default_settings(service, region))
    }

    /// Returns a signing layer with explicit settings.
    ///
    /// # Errors
    ///
    /// A validation error for invalid settings.
    pub fn layer_with(
        &self,
        settings: SigningSettings,
    ) -> Result<RefreshingCredentialsLayer, Error> {
        RefreshingCredentialsLayer::try_new(self.inner.store.clone(), settings)
    }

    /// Calls STS `GetCallerIdentity` with the current credentials.
    ///
    /// STS sessions use their own STS client; other strategies use the one
    /// set with [`SessionBuilder::identity_client`].
    ///
    /// # Errors
    ///
    /// A configuration error when a non-STS session has no identity client,
    /// or the call's request, connection or timeout error.
    #[cfg(feature = "sts")]
    pub async fn whoami(&self) -> Result<crate::strategy::sts::CallerIdentity, Error> {
        let credentials = self.credentials().await?;
        self.inner.identity.whoami(&credentials).await
    }

    /// Returns an `aws_types::SdkConfig` builder whose credentials come from
    /// this session, for official `aws-sdk-*` clients.
    ///
    /// # Errors
    ///
    /// A validation error for an invalid region.
    pub fn sdk_config(&self, region: &str) -> Result<aws_types::sdk_config::Builder, Error> {
        self.inner.store.sdk_config(region)
    }

    /// Returns an `aws-sdk-*` credentials provider backed by this session.
    pub fn sdk_provider(&self) -> crate::integrations::SdkCredentialsProvider {
        self.inner.store.sdk_provider()
    }
}

impl fmt::Debug for RefreshableSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RefreshableSession");
        debug.field("store", &self.inner.store);
        #[cfg(feature = "client")]
        debug.field("clients", &self.inner.clients.stats());
        debug.finish()
    }
}

/// Returns the settings `layer(service, region)` uses.
pub(crate) fn default_settings(service: &str, region: &str) -> SigningSettings {
    if service == "s3" {
        SigningSettings::s3(region)
    } else {
        SigningSettings::new(service, region)
    }
}
