//! The layer that wraps a service in [`SigningService`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tower::Layer;

use super::presign::{PresignOptions, PresignedUrl, presign_with_store_skewed};
use super::service::SigningService;
use super::settings::SigningSettings;
use super::skew::ClockSkew;
use crate::credentials::Credentials;
use crate::error::Error;
use crate::refresh::CredentialStore;

/// A Tower layer that signs every request with SigV4, using the current
/// credentials of a [`CredentialStore`].
///
/// Clones share the store and the learned clock skew.
///
/// See the [module docs](super) for examples.
#[derive(Clone)]
pub struct RefreshingCredentialsLayer {
    pub(crate) signer: Signer,
}

/// The state shared by the layer, its services and their futures, behind
/// one `Arc`.
#[derive(Clone)]
pub(crate) struct Signer {
    pub(crate) shared: Arc<SignerShared>,
}

pub(crate) struct SignerShared {
    pub(crate) store: CredentialStore,
    pub(crate) settings: SigningSettings,
    pub(crate) skew: ClockSkew,
    /// Set when `new` was given invalid settings: every request fails with it.
    pub(crate) invalid: Option<Error>,
}

impl Signer {
    /// Returns the time to sign with: the store's clock plus the learned skew.
    pub(crate) fn signing_time(&self) -> SystemTime {
        let now = self.shared.store.clock().now();
        if self.shared.settings.learns_clock_skew() {
            self.shared.skew.apply(now)
        } else {
            now
        }
    }

    /// Returns a cheap clone of the credentials that sign a request, to
    /// invalidate them if AWS rejects them, or `None` when the settings
    /// switch that off.
    pub(crate) fn keep_for_invalidation(&self, credentials: &Credentials) -> Option<Credentials> {
        self.shared
            .settings
            .invalidates_on_expired_token()
            .then(|| credentials.clone())
    }
}

impl RefreshingCredentialsLayer {
    /// Creates a layer that signs with `store`'s credentials under
    /// `settings`.
    ///
    /// Invalid settings (see [`SigningSettings::validate`]) make every
    /// request fail with the validation error; use
    /// [`try_new`](Self::try_new) to reject them here instead.
    pub fn new(store: CredentialStore, settings: SigningSettings) -> Self {
        let invalid = settings.validate().err();
        if let Some(error) = &invalid {
            tracing::error!(error = %error, "signing layer built with invalid settings; every request will fail");
        }
        RefreshingCredentialsLayer {
            signer: Signer {
                shared: Arc::new(SignerShared {
                    store,
                    settings,
                    skew: ClockSkew::default(),
                    invalid,
                }),
            },
        }
    }

    /// Creates a layer like [`new`](Self::new), checking the settings first.
    ///
    /// # Errors
    ///
    /// A validation error naming `service` or `region` when it is invalid.
    pub fn try_new(store: CredentialStore, settings: SigningSettings) -> Result<Self, Error> {
        settings.validate()?;
        Ok(RefreshingCredentialsLayer::new(store, settings))
    }

    /// Returns the signing settings.
    pub fn settings(&self) -> &SigningSettings {
        &self.signer.shared.settings
    }

    /// Returns the credential store.
    pub fn store(&self) -> &CredentialStore {
        &self.signer.shared.store
    }

    /// Returns the clock offset learned from AWS responses, in milliseconds
    /// (AWS's clock minus the local one); 0 when none was learned.
    pub fn clock_skew_millis(&self) -> i64 {
        self.signer.shared.skew.offset_ms()
    }

    /// Presigns `request` with the store's credentials and this layer's
    /// settings and clock skew. See
    /// [`presign_with_store`](super::presign_with_store).
    ///
    /// # Errors
    ///
    /// As [`presign_with_store`](super::presign_with_store).
    pub async fn presign<B>(
        &self,
        request: &http::Request<B>,
        options: &PresignOptions,
    ) -> Result<PresignedUrl, Error>
    where
        B: http_body::Body + 'static,
    {
        if let Some(error) = &self.signer.shared.invalid {
            return Err(error.clone());
        }
        let skew = self.signer.shared.skew.offset_ms();
        let skew = if self.settings().learns_clock_skew() {
            skew
        } else {
            0
        };
        presign_with_store_skewed(self.store(), request, self.settings(), options, skew).await
    }
}

impl<S> Layer<S> for RefreshingCredentialsLayer {
    type Service = SigningService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigningService::new(inner, self.signer.clone())
    }
}

impl fmt::Debug for RefreshingCredentialsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshingCredentialsLayer")
            .field("store", &self.signer.shared.store)
            .field("settings", &self.signer.shared.settings)
            .field("clock_skew_millis", &self.clock_skew_millis())
            .finish()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("service", &self.shared.settings.service())
            .field("region", &self.shared.settings.region())
            .field("clock_skew_millis", &self.shared.skew.offset_ms())
            .finish()
    }
}
