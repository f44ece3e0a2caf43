//! The credential store, its refresh policy and its background refresher.
//!
//! [`CredentialStore`] keeps one generation of credentials in an
//! `ArcSwapOption`. Requests read it with [`CredentialStore::lookup`]
//! (no lock, no waiting) and fall back to [`CredentialStore::credentials`]
//! only at cold start, inside the mandatory window, after invalidation, or
//! past expiry. [`RefreshPolicy`] sets the windows, timeouts and backoff.
//!
//! # Limitations
//!
//! - A [`Current`] pins one generation; hold it for the instant of signing,
//!   never across an `.await`.
//! - The refresher's timers and the expiry checks use the injected clock; a
//!   wall clock that jumps (NTP step, suspended VM) makes the next wake-up
//!   early or late. The request path re-checks expiry on every call, so a
//!   late timer never lets expired credentials sign.

mod events;
mod policy;
mod refresher;
mod store;

pub use events::{RefreshEvent, RefreshOutcome};
pub use policy::{
    AdvisoryWindow, DEFAULT_ADVISORY_WINDOW_LONG, DEFAULT_ADVISORY_WINDOW_MEDIUM,
    DEFAULT_ADVISORY_WINDOW_SHORT, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX,
    DEFAULT_MANDATORY_WINDOW, DEFAULT_MAX_JITTER, DEFAULT_MIN_REFRESH_INTERVAL,
    DEFAULT_REFRESH_TIMEOUT, RefreshMode, RefreshPolicy,
};
pub use refresher::Refresher;
pub use store::{CredentialStore, Current, Lookup, StoreBuilder};
