//! SigV4 request signing as a Tower layer.
//!
//! [`RefreshingCredentialsLayer`] wraps a service that takes
//! `http::Request`s. Its [`SigningService`] signs each request with the
//! current credentials of a [`CredentialStore`](crate::CredentialStore),
//! through the `aws-sigv4` crate, and then calls the inner service.
//! [`sign_request`] is the same signing step as a plain function, and
//! [`presign_url`] / [`presign_with_store`] return presigned URLs.
//!
//! # Examples
//!
//! The defaults: sign for STS, hashing an in-memory body.
//!
//! ```
//! use std::convert::Infallible;
//! use aws_refresh_session::signing::{RefreshingCredentialsLayer, SigningSettings};
//! use aws_refresh_session::strategy::CustomSource;
//! use aws_refresh_session::{CredentialStore, Credentials};
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let source = CustomSource::new("example", || async {
//!     Ok(Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None))
//! });
//! let store = CredentialStore::builder(source).build().await?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(RefreshingCredentialsLayer::new(store, SigningSettings::new("sts", "us-east-1")))
//!     .service(service_fn(|request: http::Request<Full<Bytes>>| async move {
//!         // A real stack sends the request here (hyper, reqwest, tonic ...).
//!         assert!(request.headers().contains_key("authorization"));
//!         Ok::<_, Infallible>(http::Response::new(()))
//!     }));
//!
//! let request = http::Request::post("https://sts.us-east-1.amazonaws.com/")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(Full::new(Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-15")))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(()) }
//! ```
//!
//! Customised: S3 uploads that stream their body unsigned, a proxy header
//! left out of the signature, and a presigned download URL.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use aws_refresh_session::signing::{
//!     PayloadMode, PresignOptions, RefreshingCredentialsLayer, SigningSettings,
//! };
//! use aws_refresh_session::strategy::CustomSource;
//! use aws_refresh_session::{CredentialStore, Credentials};
//! use http_body_util::BodyExt;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let source = CustomSource::new("example", || async {
//!     Ok(Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None))
//! });
//! let store = CredentialStore::builder(source).build().await?;
//! let settings = SigningSettings::s3("eu-west-1")
//!     .payload(PayloadMode::Unsigned)
//!     .exclude_header("x-forwarded-for");
//! let layer = RefreshingCredentialsLayer::try_new(store, settings)?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(layer.clone())
//!     .service(service_fn(|request: http::Request<_>| async move {
//!         assert_eq!(request.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
//!         Ok::<_, Infallible>(http::Response::new(()))
//!     }));
//! // Any body type works in unsigned mode, including streams.
//! let body = http_body_util::Full::new(bytes::Bytes::from_static(b"large object")).boxed();
//! let request = http::Request::put("https://bucket.s3.eu-west-1.amazonaws.com/key").body(body)?;
//! service.oneshot(request).await?;
//!
//! let download = http::Request::get("https://bucket.s3.eu-west-1.amazonaws.com/key").body(String::new())?;
//! let url = layer.presign(&download, &PresignOptions::new(Duration::from_secs(3600))).await?;
//! assert!(url.as_str().contains("X-Amz-Expires=3600"));
//! # Ok(()) }
//! ```
//!
//! # Limitations
//!
//! - [`PayloadMode::Signed`] needs the body's bytes in `call`, which is
//!   synchronous: it accepts `http_body_util::Full<Bytes>`, `String`, and
//!   any body whose `size_hint().exact()` is `Some(0)`. A boxed or streaming
//!   body is rejected with a signing error that names the fix.
//! - Clock skew is learned from the `Date` header of 400 and 403 responses
//!   only (see [`CLOCK_SKEW_THRESHOLD`]); the failed request itself is not
//!   retried here, so put a retry layer outside this one.
//! - A request needs a host to be signed. tonic's generated clients send
//!   only the path unless they are built with `with_origin(service, uri)`,
//!   so build them that way over a layered `Channel`, with
//!   [`PayloadMode::Unsigned`] for the streamed gRPC body.
//! - When AWS rejects the credentials with `ExpiredToken`,
//!   `ExpiredTokenException` or `InvalidToken`, the layer invalidates them
//!   (see [`SigningSettings::invalidate_on_expired_token`]) so the next
//!   request is signed with fresh ones. The rejected request itself is not
//!   replayed: a retry layer outside this one sends it again. Codes that
//!   appear only past the first [`MAX_SCANNED_BODY_BYTES`] of the body, or
//!   in a body the caller never reads, go unnoticed.
//!
//! # Logging
//!
//! No secret key, session token or `authorization` value is logged at any
//! level. `aws-sigv4` 1.6.6 logs the request and canonical request at TRACE
//! level: header signing hands it no credential headers, and presigning,
//! whose canonical query holds the session token, runs with its events
//! silenced.

mod error;
mod future;
pub(crate) mod invalidate;
mod layer;
mod presign;
mod service;
mod settings;
mod sign;
mod skew;

pub use error::SigningServiceError;
pub use future::ResponseFuture;
pub use invalidate::{MAX_SCANNED_BODY_BYTES, ResponseBody};
pub use layer::RefreshingCredentialsLayer;
pub use presign::{
    MAX_PRESIGN_EXPIRY, MIN_PRESIGN_EXPIRY, PresignOptions, PresignedUrl, presign_url,
    presign_with_store,
};
pub use service::SigningService;
pub(crate) use settings::validate_scope_part;
pub use settings::{DEFAULT_EXCLUDED_HEADERS, DEFAULT_PAYLOAD_MODE, PayloadMode, SigningSettings};
pub use sign::sign_request;
pub use skew::CLOCK_SKEW_THRESHOLD;
