//! Where credentials come from.
//!
//! Every strategy implements [`CredentialSource`]: an async `fetch` that
//! returns fresh [`Credentials`] or a typed [`Error`]. The refresh store calls
//! it, one call at a time, whenever the current credentials need replacing.
//! [`Strategy`] is the config enum a session is built from.

pub mod custom;
#[cfg(feature = "iot")]
pub mod iot;
#[cfg(feature = "sts")]
pub mod sts;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::credentials::Credentials;
use crate::error::Error;

pub use custom::{CustomSource, ProcessSource};

/// A boxed, sendable future, as returned by [`CredentialSource::fetch`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared credential source.
pub type SharedSource = Arc<dyn CredentialSource>;

/// Something that fetches temporary AWS credentials.
///
/// Implementations must be cancel-safe: the store may drop a fetch that runs
/// past its refresh timeout. Errors should say whether a retry may help
/// ([`Error::with_retryable`]): the store backs off briefly after retryable
/// failures and waits its maximum backoff after the others.
///
/// # Examples
///
/// ```
/// use aws_refresh_session::strategy::{BoxFuture, CredentialSource};
/// use aws_refresh_session::{Credentials, Error};
///
/// #[derive(Debug)]
/// struct Fixed;
///
/// impl CredentialSource for Fixed {
///     fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
///         Box::pin(async { Ok(Credentials::new("AKIDEXAMPLE", "secret", None, None)) })
///     }
///
///     fn kind(&self) -> &'static str {
///         "fixed"
///     }
/// }
/// ```
pub trait CredentialSource: Send + Sync + fmt::Debug + 'static {
    /// Fetches a new set of credentials.
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>>;

    /// Returns a short name for logs and events, such as `"sts"`.
    fn kind(&self) -> &'static str;
}

impl<S: CredentialSource + ?Sized> CredentialSource for Arc<S> {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        (**self).fetch()
    }

    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}

/// The credential strategy a session is built from.
// A config value built once per session, so the size of its largest
// variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum Strategy {
    /// Any [`CredentialSource`]: a user function ([`CustomSource`]), an
    /// external `credential_process` command ([`ProcessSource`]), or an
    /// implementation of the trait.
    Custom(SharedSource),
    /// STS `AssumeRole`, called through an SDK client built once.
    #[cfg(feature = "sts")]
    Sts(sts::StsConfig),
    /// The AWS IoT Core credentials provider, authenticated by the device's
    /// X.509 certificate.
    #[cfg(feature = "iot")]
    Iot(iot::IotConfig),
}

impl Strategy {
    /// Wraps any credential source.
    pub fn custom(source: impl CredentialSource) -> Self {
        Strategy::Custom(Arc::new(source))
    }

    /// Assumes a role through STS.
    #[cfg(feature = "sts")]
    pub fn sts(config: sts::StsConfig) -> Self {
        Strategy::Sts(config)
    }

    /// Gets credentials from the AWS IoT Core credentials provider.
    #[cfg(feature = "iot")]
    pub fn iot(config: iot::IotConfig) -> Self {
        Strategy::Iot(config)
    }

    /// Validates the configuration and builds the source it describes.
    ///
    /// # Errors
    ///
    /// A validation or configuration error for settings that cannot work.
    pub async fn into_source(self) -> Result<SharedSource, Error> {
        match self {
            Strategy::Custom(source) => Ok(source),
            #[cfg(feature = "sts")]
            Strategy::Sts(config) => Ok(Arc::new(sts::StsSource::new(config).await?)),
            #[cfg(feature = "iot")]
            Strategy::Iot(config) => Ok(Arc::new(iot::IotSource::new(config)?)),
        }
    }
}
