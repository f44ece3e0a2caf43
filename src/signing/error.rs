//! The signing service's error: a signing failure or the inner service's own.

use std::fmt;

use crate::error::Error;

/// The error of [`SigningService`](super::SigningService): either the
/// request could not be signed (the inner service was not called), or the
/// inner service failed.
///
/// `Display` and `source` are those of the wrapped error.
#[derive(Debug)]
pub enum SigningServiceError<E> {
    /// The request was not signed and the inner service was not called:
    /// missing or expired credentials, an invalid request, or invalid
    /// settings.
    Signing(Error),
    /// The inner service returned this error.
    Service(E),
}

impl<E> SigningServiceError<E> {
    /// Returns true when the request could not be signed.
    pub fn is_signing(&self) -> bool {
        matches!(self, SigningServiceError::Signing(_))
    }

    /// Returns true when the inner service failed.
    pub fn is_service(&self) -> bool {
        matches!(self, SigningServiceError::Service(_))
    }

    /// Returns the signing failure, if this is one.
    pub fn signing_error(&self) -> Option<&Error> {
        match self {
            SigningServiceError::Signing(error) => Some(error),
            SigningServiceError::Service(_) => None,
        }
    }

    /// Returns the inner service's error, if this is one.
    pub fn service_error(&self) -> Option<&E> {
        match self {
            SigningServiceError::Signing(_) => None,
            SigningServiceError::Service(error) => Some(error),
        }
    }

    /// Returns the inner service's error, or `Err` with the signing failure.
    ///
    /// # Errors
    ///
    /// The signing failure when the request was never sent.
    pub fn into_inner(self) -> Result<E, Error> {
        match self {
            SigningServiceError::Signing(error) => Err(error),
            SigningServiceError::Service(error) => Ok(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for SigningServiceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningServiceError::Signing(error) => fmt::Display::fmt(error, f),
            SigningServiceError::Service(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SigningServiceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SigningServiceError::Signing(error) => error.source(),
            SigningServiceError::Service(error) => error.source(),
        }
    }
}

impl<E> From<Error> for SigningServiceError<E> {
    fn from(error: Error) -> Self {
        SigningServiceError::Signing(error)
    }
}
