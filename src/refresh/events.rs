//! Refresh events for metrics and logs.

use std::time::SystemTime;

use crate::error::Error;

/// The outcome of the latest refresh attempt, as published to
/// [`CredentialStore::subscribe`](super::CredentialStore::subscribe).
///
/// It carries the access key id and expiry of new credentials, never the
/// secret or the session token.
#[derive(Clone, Debug)]
pub struct RefreshEvent {
    /// The generation of the credentials in the store after this attempt:
    /// 0 before the first success, then one more per success.
    pub generation: u64,
    /// When the attempt finished.
    pub at: SystemTime,
    /// What happened.
    pub outcome: RefreshOutcome,
}

/// The outcome of one refresh attempt.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// No attempt has finished yet.
    Pending,
    /// New credentials replaced the old ones.
    Refreshed {
        /// The new access key id.
        access_key_id: String,
        /// When the new credentials expire; `None` for static credentials.
        expiry: Option<SystemTime>,
        /// The source's kind, such as `"sts"`.
        source: &'static str,
    },
    /// The attempt failed; the previous credentials, if any, stay in use
    /// until they expire.
    Failed {
        /// The error the attempt failed with.
        error: Error,
        /// How many attempts in a row have failed.
        consecutive_failures: u32,
    },
}
