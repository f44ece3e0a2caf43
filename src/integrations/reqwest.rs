//! A `reqwest-middleware` middleware that signs requests with SigV4.
//!
//! [`SigningMiddleware`] signs each `reqwest::Request` with the current
//! credentials of a [`CredentialStore`] (or a [`RefreshableSession`]) through
//! [`sign_request`], the same signing step as the Tower layer.
//!
//! # Examples
//!
//! ```no_run
//! use aws_refresh_session::integrations::reqwest::SigningMiddleware;
//! use aws_refresh_session::signing::SigningSettings;
//! use aws_refresh_session::strategy::CustomSource;
//! use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let source = CustomSource::new("example", || async {
//! #     Ok(Credentials::new("AKIDEXAMPLE", "secret", None, None))
//! # });
//! let session = RefreshableSession::builder()
//!     .strategy(Strategy::custom(source))
//!     .build()
//!     .await?;
//! let settings = SigningSettings::new("sts", "us-east-1").content_sha256_header(true);
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(SigningMiddleware::from_session(&session, settings)?)
//!     .build();
//!
//! let response = client
//!     .get("http://127.0.0.1:5000/?Action=GetCallerIdentity&Version=2011-06-15")
//!     .send()
//!     .await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! A request that cannot be signed is not sent: the middleware returns
//! `reqwest_middleware::Error::Middleware` around this crate's
//! [`Error`]. Get it back with
//! `error.downcast_ref::<aws_refresh_session::Error>()` on the `anyhow`
//! error.
//!
//! # Limitations
//!
//! - [`PayloadMode::Signed`] needs the body in memory
//!   (`reqwest::Body::as_bytes` returns `Some`): a streaming body is a
//!   signing error. Use [`PayloadMode::Unsigned`] or
//!   [`PayloadMode::Precomputed`] for streams.
//! - The body is copied once per request to sign it.
//! - Expired-token rejections are recognised from the `x-amzn-ErrorType`
//!   header only (JSON protocols). The XML protocols (STS, S3) name the
//!   code only in the body, which this middleware does not read. For those,
//!   use the Tower layer or call [`CredentialStore::invalidate`] yourself.
//! - Clock skew is not learned from responses, unlike the Tower layer.

use std::fmt;

use bytes::Bytes;
use http::Extensions;
use http_body_util::Full;
use reqwest_middleware::{Middleware, Next};

use crate::credentials::Credentials;
use crate::error::Error;
use crate::refresh::{CredentialStore, Lookup};
use crate::session::RefreshableSession;
use crate::signing::invalidate::{error_type_code, is_expired_token_code, report_rejected};
use crate::signing::{PayloadMode, SigningSettings, sign_request};

/// A `reqwest-middleware` middleware that signs every request with SigV4,
/// using a [`CredentialStore`]'s current credentials.
///
/// It reads the credentials without waiting in the common case and waits
/// for the store's refresh only when the store must (cold start, mandatory
/// window, invalidation, expiry). When a response carries an
/// `x-amzn-ErrorType` of `ExpiredToken`, `ExpiredTokenException` or
/// `InvalidToken`, it invalidates the credentials that signed the request
/// (unless
/// [`SigningSettings::invalidate_on_expired_token`] is off), so the next
/// request uses fresh ones.
///
/// See the [module docs](self) for an example.
#[derive(Clone)]
pub struct SigningMiddleware {
    store: CredentialStore,
    settings: SigningSettings,
}

impl SigningMiddleware {
    /// Creates a middleware that signs with `store`'s credentials under
    /// `settings`.
    ///
    /// # Errors
    ///
    /// A validation error naming `service` or `region` when it is invalid.
    pub fn new(store: CredentialStore, settings: SigningSettings) -> Result<Self, Error> {
        settings.validate()?;
        Ok(SigningMiddleware { store, settings })
    }

    /// Creates a middleware that signs with `session`'s credentials.
    ///
    /// # Errors
    ///
    /// A validation error naming `service` or `region` when it is invalid.
    pub fn from_session(
        session: &RefreshableSession,
        settings: SigningSettings,
    ) -> Result<Self, Error> {
        SigningMiddleware::new(session.store().clone(), settings)
    }

    /// Returns the signing settings.
    pub fn settings(&self) -> &SigningSettings {
        &self.settings
    }

    /// Returns the credential store.
    pub fn store(&self) -> &CredentialStore {
        &self.store
    }

    /// Signs `request` in place with `credentials` and returns the access key
    /// id to invalidate if AWS rejects it.
    fn sign(
        &self,
        request: &mut reqwest::Request,
        credentials: &Credentials,
    ) -> Result<Option<String>, Error> {
        let body = match self.settings.payload_mode() {
            PayloadMode::Signed => match request.body() {
                None => Bytes::new(),
                Some(body) => match body.as_bytes() {
                    Some(bytes) => Bytes::copy_from_slice(bytes),
                    None => {
                        return Err(Error::signing(
                            "the reqwest body is a stream, so its SHA-256 cannot be signed; \
                             pass the body as bytes or a string, or use PayloadMode::Unsigned \
                             or PayloadMode::Precomputed",
                        ));
                    }
                },
            },
            // The body does not enter the signature in these modes.
            _ => Bytes::new(),
        };

        let mut signable = http::Request::builder()
            .method(request.method().clone())
            .uri(request.url().as_str())
            .body(Full::new(body))
            .map_err(|error| {
                Error::signing(format!(
                    "the request URL for host {:?} cannot be signed; pass an absolute http or https URL",
                    request.url().host_str().unwrap_or_default()
                ))
                .with_source(error)
            })?;
        *signable.headers_mut() = request.headers().clone();

        let time = self.store.clock().now();
        sign_request(&mut signable, credentials, &self.settings, time)?;
        *request.headers_mut() = signable.into_parts().0.headers;

        Ok(self
            .settings
            .invalidates_on_expired_token()
            .then(|| credentials.access_key_id().to_owned()))
    }

    /// Signs with the credentials the store has ready, or waits for them.
    async fn sign_with_current(
        &self,
        request: &mut reqwest::Request,
    ) -> Result<Option<String>, Error> {
        // The guard of `lookup` must not live across the `.await` below, so
        // the fast path finishes in its own statement.
        let ready = match self.store.lookup() {
            Lookup::Ready(current) => Some(self.sign(request, &current)),
            Lookup::Wait => None,
        };
        match ready {
            Some(signed) => signed,
            None => {
                let credentials = self.store.credentials().await?;
                self.sign(request, &credentials)
            }
        }
    }
}

#[async_trait::async_trait]
impl Middleware for SigningMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let signed_with = match self.sign_with_current(&mut request).await {
            Ok(signed_with) => signed_with,
            Err(error) => {
                tracing::error!(
                    error = %error,
                    host = request.url().host_str().unwrap_or_default(),
                    "request not signed"
                );
                return Err(reqwest_middleware::Error::middleware(error));
            }
        };

        let response = next.run(request, extensions).await?;

        if let Some(access_key_id) = signed_with
            && response.status().is_client_error()
            && let Some(code) = error_type_code(response.headers())
            && is_expired_token_code(code)
        {
            report_rejected(&self.store, &access_key_id, code);
        }
        Ok(response)
    }
}

impl fmt::Debug for SigningMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningMiddleware")
            .field("store", &self.store)
            .field("settings", &self.settings)
            .finish()
    }
}
