//! Background-refreshed temporary AWS credentials and SigV4 request signing,
//! as a Tower layer.
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
