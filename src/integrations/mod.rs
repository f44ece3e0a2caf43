//! Bridges between the credential store and other AWS and HTTP libraries.
//!
//! - [`sdk`]: an AWS SDK credentials provider and `SdkConfig` builder, so
//!   official `aws-sdk-*` clients sign with the store's current credentials.
//! - `reqwest` (feature `reqwest`): a `reqwest-middleware` middleware that
//!   signs each request.

#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod sdk;

pub use sdk::{SdkCredentialsProvider, sdk_config};
