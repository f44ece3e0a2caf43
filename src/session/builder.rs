//! Building a [`RefreshableSession`].

use std::sync::Arc;

use super::{Inner, RefreshableSession};
use crate::clock::SharedClock;
use crate::error::Error;
use crate::refresh::{CredentialStore, RefreshPolicy};
use crate::strategy::Strategy;

/// Builds a [`RefreshableSession`]. Strategy-specific settings live in the
/// strategy's config type; this builder contains what every session shares.
#[derive(Debug)]
pub struct SessionBuilder {
    strategy: Option<Strategy>,
    policy: RefreshPolicy,
    clock: Option<SharedClock>,
    client_cache_size: Option<usize>,
    client_cache_enabled: bool,
    #[cfg(feature = "sts")]
    identity_client: Option<crate::strategy::sts::StsClientConfig>,
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            strategy: None,
            policy: RefreshPolicy::default(),
            clock: None,
            client_cache_size: None,
            client_cache_enabled: true,
            #[cfg(feature = "sts")]
            identity_client: None,
        }
    }
}

impl SessionBuilder {
    /// Sets where credentials come from. Required.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Sets the refresh policy, including the mode (background or
    /// deferred). Defaults to [`RefreshPolicy::default`].
    pub fn policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the clock. Defaults to the system clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sets how many wrapped clients [`RefreshableSession::client`] keeps.
    /// Defaults to [`DEFAULT_CACHE_SIZE`](crate::cache::DEFAULT_CACHE_SIZE)
    /// (10); 0 is a validation error at build.
    pub fn client_cache_size(mut self, max_size: usize) -> Self {
        self.client_cache_size = Some(max_size);
        self
    }

    /// Turns the client cache off: every `client()` call builds a new
    /// client.
    pub fn disable_client_cache(mut self) -> Self {
        self.client_cache_enabled = false;
        self.client_cache_size = None;
        self
    }

    /// Sets the STS client that [`RefreshableSession::whoami`] uses for
    /// sessions that are not STS sessions (IoT, custom). STS sessions use
    /// their own client.
    #[cfg(feature = "sts")]
    pub fn identity_client(mut self, config: crate::strategy::sts::StsClientConfig) -> Self {
        self.identity_client = Some(config);
        self
    }

    /// Validates everything, builds the credential source and, unless the
    /// policy is deferred, fetches the first credentials and starts the
    /// background refresher.
    ///
    /// # Errors
    ///
    /// A configuration error without a strategy; a validation error for an
    /// invalid policy or cache size; the strategy's validation errors; the
    /// first fetch's error (for example an `AccessDenied` request error).
    pub async fn build(self) -> Result<RefreshableSession, Error> {
        let strategy = self.strategy.ok_or_else(|| {
            Error::configuration(
                "the session has no strategy; call SessionBuilder::strategy with Strategy::Sts, Strategy::Iot or Strategy::Custom",
            )
        })?;
        self.policy.validate()?;
        #[cfg(feature = "client")]
        let clients = client_cache(self.client_cache_enabled, self.client_cache_size)?;

        #[cfg(feature = "sts")]
        let (source, identity) = match strategy {
            Strategy::Sts(config) => {
                if self.identity_client.is_some() {
                    tracing::warn!(
                        "identity_client is ignored for STS sessions; whoami uses the session's own STS client"
                    );
                }
                let source = Arc::new(crate::strategy::sts::StsSource::new(config).await?);
                let identity = IdentityClient::Sts(Arc::clone(&source));
                (source as crate::strategy::SharedSource, identity)
            }
            other => {
                let identity = match self.identity_client {
                    // Built once here, so every whoami call reuses its
                    // connection pool.
                    Some(config) => {
                        IdentityClient::Client(Box::new(config.build_sdk_client().await?))
                    }
                    None => IdentityClient::None,
                };
                (other.into_source().await?, identity)
            }
        };
        #[cfg(not(feature = "sts"))]
        let source = strategy.into_source().await?;

        let mut store = CredentialStore::builder(source).policy(self.policy);
        if let Some(clock) = self.clock {
            store = store.clock(clock);
        }
        let store = store.build().await?;

        Ok(RefreshableSession {
            inner: Arc::new(Inner {
                store,
                #[cfg(feature = "client")]
                clients,
                #[cfg(feature = "sts")]
                identity,
            }),
        })
    }
}

#[cfg(feature = "client")]
fn client_cache(
    enabled: bool,
    size: Option<usize>,
) -> Result<crate::cache::ClientCache<crate::cache::CacheKey, super::SessionClient>, Error> {
    if !enabled {
        return Ok(crate::cache::ClientCache::disabled());
    }
    crate::cache::ClientCache::new(size.unwrap_or(crate::cache::DEFAULT_CACHE_SIZE))
}

/// The STS client that `whoami` calls.
#[cfg(feature = "sts")]
pub(super) enum IdentityClient {
    /// The STS session's own source and SDK client.
    Sts(Arc<crate::strategy::sts::StsSource>),
    /// The client built from the config given for a non-STS session.
    Client(Box<aws_sdk_sts::Client>),
    None,
}

#[cfg(feature = "sts")]
impl IdentityClient {
    pub(super) async fn whoami(
        &self,
        credentials: &crate::Credentials,
    ) -> Result<crate::strategy::sts::CallerIdentity, Error> {
        match self {
            IdentityClient::Sts(source) => source.whoami(credentials).await,
            IdentityClient::Client(client) => {
                crate::strategy::sts::get_caller_identity(client, credentials).await
            }
            IdentityClient::None => Err(Error::configuration(
                "whoami needs an STS client for sessions that are not STS sessions; \
                 set SessionBuilder::identity_client with the STS region and endpoint",
            )),
        }
    }
}
