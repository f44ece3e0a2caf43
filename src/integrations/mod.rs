//! Bridges between the credential store and other AWS and HTTP libraries.
//!
//! - [`sdk`]: an AWS SDK credentials provider and `SdkConfig` builder, so
//!   official `aws-sdk-*` clients sign with the store's current credentials.

pub mod sdk;

pub use sdk::{SdkCredentialsProvider, sdk_config};
