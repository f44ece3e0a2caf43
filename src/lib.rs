//! Background-refreshed temporary AWS credentials and SigV4 request signing,
//! as a Tower layer.
//!
//! A [`RefreshableSession`] is built from a [`Strategy`] (STS `AssumeRole`,
//! the AWS IoT Core X.509 credentials provider, or a custom source) and a
//! [`RefreshPolicy`]. It owns a [`CredentialStore`]: the current credentials
//! sit in an `ArcSwap` that requests read without a lock, and a background
//! task replaces them before they expire. [`RefreshingCredentialsLayer`]
//! signs every request of a tower service with them through `aws-sigv4`.
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use aws_refresh_session::strategy::CustomSource;
//! use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // Any async function can feed the session; STS and IoT have their own
//! // strategies (`Strategy::Sts`, `Strategy::Iot`).
//! let source = CustomSource::new("broker", || async {
//!     Ok(Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None))
//! });
//! let session = RefreshableSession::builder()
//!     .strategy(Strategy::custom(source))
//!     .build()
//!     .await?;
//!
//! // Wrap any service that takes `http::Request`s: a hyper client, an axum
//! // proxy's upstream, a tonic channel.
//! let client = ServiceBuilder::new()
//!     .layer(session.layer("sts", "us-east-1")?)
//!     .service(service_fn(|request: http::Request<Full<Bytes>>| async move {
//!         let authorization = request.headers()["authorization"].to_str().unwrap().to_owned();
//!         Ok::<_, Infallible>(http::Response::new(authorization))
//!     }));
//!
//! let request = http::Request::get("https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
//!     .body(Full::new(Bytes::new()))?;
//! let response = client.oneshot(request).await?;
//! assert!(response.body().get_ref().starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `sts` (default): [`Strategy::Sts`] and `RefreshableSession::whoami`.
//! - `client` (default): `RefreshableSession::client`, cached signing hyper
//!   clients.
//! - `default-chain`: aws-config's default credential chain as the base
//!   credentials of the STS client, only when asked for.
//! - `iot`, `iot-discovery`, `pkcs11`: the IoT Core credentials provider,
//!   endpoint discovery, and private keys in a PKCS#11 token.
//! - `reqwest`: a `reqwest-middleware` middleware.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub, missing_debug_implementations)]

pub mod cache;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod integrations;
pub mod refresh;
pub mod session;
pub mod signing;
pub mod strategy;

pub use cache::{CacheKey, ClientCache};
pub use credentials::Credentials;
pub use error::{Error, ErrorKind};
pub use integrations::SdkCredentialsProvider;
pub use refresh::{CredentialStore, RefreshMode, RefreshPolicy};
pub use session::{RefreshableSession, SessionBuilder};
pub use signing::{PayloadMode, RefreshingCredentialsLayer, SigningSettings};
pub use strategy::{CredentialSource, Strategy};
