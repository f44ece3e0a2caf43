//! A bridge that lets official `aws-sdk-*` clients use a [`CredentialStore`].
//!
//! [`SdkCredentialsProvider`] implements the SDK's
//! [`ProvideCredentials`]
//! by asking the store for its current credentials on every call, so an SDK
//! client signs with the store's credentials of that moment. Those are
//! refreshed in the background, replaced after
//! [`CredentialStore::invalidate`], and never expired.
//! [`sdk_config`] (or [`CredentialStore::sdk_config`]) returns an
//! [`aws_types::sdk_config::Builder`] preloaded with that provider, the
//! region, the store's clock, a behavior version and no identity cache.
//!
//! # Examples
//!
//! ```no_run
//! use aws_refresh_session::{CredentialStore, Credentials, Error};
//! use aws_refresh_session::strategy::CustomSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! # let source = CustomSource::new("example", || async {
//! #     Ok(Credentials::new("AKIDEXAMPLE", "secret", None, None))
//! # });
//! let store = CredentialStore::builder(source).build().await?;
//! let config = store
//!     .sdk_config("us-east-1")?
//!     .endpoint_url("http://127.0.0.1:5000")
//!     // Add the HTTP client your SDK crates are built with, for example
//!     // `aws_smithy_http_client::Builder::new().build_https()`.
//!     .build();
//! let s3 = aws_sdk_s3::Client::new(&config);
//! # Ok(()) }
//! ```
//!
//! # Why no identity cache
//!
//! By default an SDK client keeps each identity in a lazy cache and asks the
//! provider again only when the cached identity is 5 to 10 seconds from its
//! expiry (a 10 s buffer less up to 5 s of jitter, in `aws-smithy-runtime`
//! 1.16.2's `LazyCache`). A
//! store refreshes much earlier, in its advisory window, and can replace
//! credentials that AWS rejected before they expire. Behind the lazy cache,
//! the SDK would keep signing with the old credentials in both cases. The
//! store already is a cache with lock-free reads, so the builder sets an
//! identity cache that calls the provider on every request. Each call is one
//! atomic load and a reference-counted clone.
//!
//! Without its identity cache the SDK puts no load timeout around the
//! provider. The wait is bounded by the store's refresh timeout
//! ([`RefreshPolicy::refresh_timeout`](crate::RefreshPolicy::refresh_timeout)).

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::identity::{
    IdentityFuture, ResolveCachedIdentity, ResolveIdentity, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use aws_types::sdk_config::{Builder as SdkConfigBuilder, TimeSource};

use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind};
use crate::refresh::{CredentialStore, Lookup};

/// An AWS SDK credentials provider that returns a [`CredentialStore`]'s
/// current credentials.
///
/// Each call goes through [`CredentialStore::credentials`]: it returns at
/// once in the common case and waits for the store's single-flight refresh
/// only when the store itself would (cold start, mandatory window,
/// invalidation, expiry).
///
/// Pair it with an SDK identity cache that does not cache (as
/// [`sdk_config`] does), or the SDK keeps using replaced credentials; see
/// the [module docs](self#why-no-identity-cache).
#[derive(Clone)]
pub struct SdkCredentialsProvider {
    store: CredentialStore,
}

impl SdkCredentialsProvider {
    /// Wraps `store`. Clones of the store share its credentials.
    pub fn new(store: CredentialStore) -> Self {
        SdkCredentialsProvider { store }
    }

    /// Returns the wrapped store.
    pub fn store(&self) -> &CredentialStore {
        &self.store
    }

    /// Wraps the provider in the SDK's shared provider type.
    pub fn into_shared(self) -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(self)
    }
}

impl fmt::Debug for SdkCredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkCredentialsProvider")
            .field("store", &self.store)
            .finish()
    }
}

impl ProvideCredentials for SdkCredentialsProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            match self.store.credentials().await {
                Ok(credentials) => Ok(credentials.as_sdk().clone()),
                Err(error) => Err(to_credentials_error(&self.store, error)),
            }
        })
    }

    fn fallback_on_interrupt(&self) -> Option<aws_credential_types::Credentials> {
        // Only what the store can hand out without waiting. The SDK's
        // `SharedCredentialsProvider` (aws-credential-types 1.3) does not
        // forward this call to the provider it wraps, so this is reached
        // only when the provider is used directly.
        match self.store.lookup() {
            Lookup::Ready(current) => Some(current.as_sdk().clone()),
            Lookup::Wait => None,
        }
    }
}

/// Maps a store error to the SDK's credentials error, keeping it as the
/// source. Neither carries a secret, because the crate's errors never
/// contain one.
fn to_credentials_error(store: &CredentialStore, error: Error) -> CredentialsError {
    match error.kind() {
        ErrorKind::Timeout => {
            tracing::warn!(
                source = store.source_kind(),
                error = %error,
                "the SDK asked for credentials and the store timed out"
            );
            CredentialsError::provider_timed_out(store.policy().timeout())
        }
        ErrorKind::Validation | ErrorKind::Configuration => {
            CredentialsError::invalid_configuration(error)
        }
        // The source returned malformed or incomplete credentials.
        ErrorKind::Credential => CredentialsError::unhandled(error),
        _ => CredentialsError::provider_error(error),
    }
}

/// An SDK time source that reads the store's clock, so the SDK signs with
/// the same time the store judges expiry by. The SDK adds to it any clock
/// skew it measures from a service's `Date` response header.
#[derive(Debug)]
struct ClockTimeSource(SharedClock);

impl TimeSource for ClockTimeSource {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

/// An SDK identity cache that caches nothing: every request resolves its
/// identity through the provider. It behaves as
/// `aws_smithy_runtime::client::identity::IdentityCache::no_cache()`,
/// without depending on `aws-smithy-runtime`.
#[derive(Debug)]
struct NoIdentityCache;

impl ResolveCachedIdentity for NoIdentityCache {
    fn resolve_cached_identity<'a>(
        &'a self,
        resolver: SharedIdentityResolver,
        runtime_components: &'a RuntimeComponents,
        config_bag: &'a ConfigBag,
    ) -> IdentityFuture<'a> {
        IdentityFuture::new(async move {
            resolver
                .resolve_identity(runtime_components, config_bag)
                .await
        })
    }
}

/// Starts an [`SdkConfig`](aws_types::SdkConfig) builder whose clients sign
/// with `store`'s current credentials.
///
/// The builder contains:
/// - the credentials provider [`SdkCredentialsProvider`],
/// - an identity cache that caches nothing (see the
///   [module docs](self#why-no-identity-cache)),
/// - `region`,
/// - the store's clock as the SDK's time source (the SDK still corrects it
///   by the clock skew it measures from responses),
/// - [`BehaviorVersion::latest`]; call `behavior_version` on the builder to
///   pin another.
///
/// Add an endpoint, an HTTP client and any other settings, then `build()`.
/// Overriding the identity cache with a caching one makes clients keep
/// replaced credentials until they near expiry.
///
/// # Errors
///
/// A validation error naming `region` when it is empty or contains
/// whitespace.
pub fn sdk_config(store: &CredentialStore, region: &str) -> Result<SdkConfigBuilder, Error> {
    // The same rule the signing settings apply, so a region the SDK would
    // put into a credential scope is valid there too.
    crate::signing::validate_scope_part("region", region, "us-east-1")?;

    Ok(aws_types::SdkConfig::builder()
        .credentials_provider(store.sdk_provider().into_shared())
        .identity_cache(NoIdentityCache)
        .region(Region::new(region.to_owned()))
        .time_source(ClockTimeSource(store.clock().clone()))
        .behavior_version(BehaviorVersion::latest()))
}

impl CredentialStore {
    /// Returns an AWS SDK credentials provider backed by this store.
    pub fn sdk_provider(&self) -> SdkCredentialsProvider {
        SdkCredentialsProvider::new(self.clone())
    }

    /// Starts an SDK config builder whose clients sign with this store's
    /// current credentials. See [`sdk_config`].
    ///
    /// # Errors
    ///
    /// A validation error naming `region` when it is empty or contains
    /// whitespace.
    pub fn sdk_config(&self, region: &str) -> Result<SdkConfigBuilder, Error> {
        sdk_config(self, region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credentials;
    use crate::clock::{Clock, ManualClock};
    use crate::refresh::{RefreshMode, RefreshPolicy};
    use crate::strategy::CustomSource;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, UNIX_EPOCH};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "session-token-that-must-not-print";

    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_400_000)
    }

    /// A source that returns `AKIDGEN<n>` credentials valid for 15 minutes
    /// of `clock` time, counting its calls.
    fn counting_source(clock: ManualClock, calls: Arc<AtomicU32>) -> CustomSource {
        CustomSource::new("counting", move || {
            let generation = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let expiry = clock.now() + Duration::from_secs(15 * 60);
            async move {
                Ok(Credentials::new(
                    format!("AKIDGEN{generation}"),
                    SECRET,
                    Some(TOKEN.to_owned()),
                    Some(expiry),
                ))
            }
        })
    }

    async fn store(clock: &ManualClock, calls: &Arc<AtomicU32>) -> CredentialStore {
        CredentialStore::builder(counting_source(clock.clone(), Arc::clone(calls)))
            .clock(Arc::new(clock.clone()))
            .build()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn provider_returns_current_credentials() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;
        let provider = store.sdk_provider();

        let first = provider.provide_credentials().await.unwrap();
        store.refresh_now().await.unwrap();
        let second = provider.provide_credentials().await.unwrap();

        assert_eq!(first.access_key_id(), "AKIDGEN1");
        assert_eq!(first.session_token(), Some(TOKEN));
        assert_eq!(second.access_key_id(), "AKIDGEN2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn provider_follows_invalidation() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;
        let provider = store.sdk_provider();

        assert!(store.invalidate("AKIDGEN1"));
        let credentials = provider.provide_credentials().await.unwrap();

        assert_eq!(credentials.access_key_id(), "AKIDGEN2");
    }

    #[tokio::test]
    async fn fallback_returns_usable_credentials() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;
        let provider = store.sdk_provider();

        let fallback = provider.fallback_on_interrupt().unwrap();

        assert_eq!(fallback.access_key_id(), "AKIDGEN1");
    }

    #[tokio::test]
    async fn fallback_is_none_past_expiry() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;
        let provider = store.sdk_provider();

        clock.advance(Duration::from_secs(16 * 60));

        assert!(provider.fallback_on_interrupt().is_none());
    }

    #[tokio::test]
    async fn source_failure_maps_to_provider_error() {
        let source = CustomSource::new("failing", || async {
            Err::<Credentials, _>(Error::connection(
                "connecting to 127.0.0.1:9 failed; check the endpoint",
            ))
        });
        let store = CredentialStore::builder(source)
            .policy(RefreshPolicy::default().mode(RefreshMode::Deferred))
            .build()
            .await
            .unwrap();

        let error = store
            .sdk_provider()
            .provide_credentials()
            .await
            .unwrap_err();

        assert!(
            matches!(error, CredentialsError::ProviderError(_)),
            "{error:?}"
        );
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert_eq!(
            source,
            "connection error: connecting to 127.0.0.1:9 failed; check the endpoint"
        );
    }

    #[test]
    fn error_kinds_map_to_sdk_variants() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let store = runtime.block_on(async {
            let clock = ManualClock::new(start());
            store(&clock, &Arc::new(AtomicU32::new(0))).await
        });

        let cases = [
            (Error::timeout("slow"), "ProviderTimedOut"),
            (
                Error::validation("region", None, "bad"),
                "InvalidConfiguration",
            ),
            (Error::configuration("bad"), "InvalidConfiguration"),
            (Error::credential("expiration", "bad"), "Unhandled"),
            (Error::expired("expired"), "ProviderError"),
            (
                Error::request(403, Some("AccessDenied".into()), "denied"),
                "ProviderError",
            ),
        ];
        for (error, variant) in cases {
            let mapped = format!("{:?}", to_credentials_error(&store, error));
            assert!(mapped.starts_with(variant), "{mapped} is not {variant}");
        }
    }

    #[tokio::test]
    async fn provider_debug_hides_secrets() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;

        let debug = format!("{:?}", store.sdk_provider());

        assert!(debug.contains("AKIDGEN1"), "{debug}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains(TOKEN), "{debug}");
    }

    #[tokio::test]
    async fn sdk_config_carries_store_settings() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;

        let config = store.sdk_config("eu-west-1").unwrap().build();

        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        assert!(config.behavior_version().is_some());
        assert!(config.identity_cache().is_some());
        assert_eq!(config.time_source().unwrap().now(), start());
        let credentials = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDGEN1");
    }

    #[tokio::test]
    async fn sdk_config_rejects_bad_region() {
        let clock = ManualClock::new(start());
        let calls = Arc::new(AtomicU32::new(0));
        let store = store(&clock, &calls).await;

        for region in ["", "us east 1"] {
            let error = store.sdk_config(region).unwrap_err();
            assert!(error.is_validation());
            assert_eq!(error.parameter(), Some("region"));
        }
    }
}
