//! A bounded, thread-safe LRU cache of clients.
//!
//! [`ClientCache`] keeps at most [`max_size`](ClientCache::max_size) values
//! (by default [`DEFAULT_CACHE_SIZE`], 10, as in boto3-refresh-session) and
//! evicts the least recently used one when a new key would exceed it. It is
//! generic over the value and does not depend on credentials. The session
//! stores wrapped clients in it under a [`CacheKey`] that names the service,
//! region, endpoint and a fingerprint of the client's settings.
//!
//! Like boto3-refresh-session's cache, it is dict-like: inserting a key that
//! exists and removing a key that does not are [`ErrorKind::Cache`] errors.
//! Caching can be switched off with [`ClientCache::disabled`].
//!
//! # Examples
//!
//! ```
//! use aws_refresh_session::cache::{CacheKey, ClientCache};
//!
//! # fn main() -> Result<(), aws_refresh_session::Error> {
//! let cache: ClientCache<CacheKey, String> = ClientCache::new(2)?;
//! let key = CacheKey::new("s3", "us-east-1").with_endpoint("http://127.0.0.1:5000");
//!
//! let client = cache.get_or_insert_with(key.clone(), || "an s3 client".to_owned());
//! assert_eq!(client, "an s3 client");
//! assert_eq!(cache.get(&key).as_deref(), Some("an s3 client"));
//! assert_eq!(cache.stats().hits, 1);
//! # Ok(()) }
//! ```
//!
//! # Locking
//!
//! One [`std::sync::Mutex`] guards the LRU list. Every method holds it only
//! for the lookup or update itself and never across an `.await`:
//! [`get_or_insert_async`](ClientCache::get_or_insert_async) creates the
//! value with the lock released. The synchronous
//! [`get_or_insert_with`](ClientCache::get_or_insert_with) is the one
//! exception that runs user code under the lock (see its docs). Evicted and
//! removed values are dropped after the lock is released, so a client whose
//! `Drop` does work does not stall other threads.
//!
//! # Limitations
//!
//! - Values are returned by clone, so `V` should be cheap to clone (a client
//!   handle, or an `Arc` around one).
//! - A miss in [`get_or_insert_async`](ClientCache::get_or_insert_async) does
//!   not stop other tasks from creating the same value at the same time.
//!   Only one of the values is cached, and the others are dropped.

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use lru::LruCache;

use crate::error::Error;
#[cfg(doc)]
use crate::error::ErrorKind;

/// The default maximum number of cached values: 10, as in boto3-refresh-session.
pub const DEFAULT_CACHE_SIZE: usize = 10;

/// A snapshot of a cache's size and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found a cached value.
    pub hits: u64,
    /// Lookups that found nothing, including every lookup of a disabled
    /// cache.
    pub misses: u64,
    /// Values dropped to make room: by an insert into a full cache or by
    /// [`ClientCache::resize`]. Explicit removals do not count.
    pub evictions: u64,
    /// The number of cached values.
    pub len: usize,
    /// The maximum number of cached values.
    pub max_size: usize,
}

/// A bounded, thread-safe LRU cache with hit, miss and eviction counters.
///
/// See the [module docs](self) for the locking rules.
///
/// # Disabled mode
///
/// A cache built with [`ClientCache::disabled`] stores nothing:
///
/// - `get_or_insert_*` always creates a new value and returns it (a miss).
/// - [`get`](Self::get) returns `None` (a miss); [`contains`](Self::contains)
///   returns `false`.
/// - [`insert`](Self::insert) accepts the value and drops it, so inserting
///   one key twice is not an error.
/// - [`remove`](Self::remove) returns the not-found error, because no key is
///   ever present.
/// - [`pop_lru`](Self::pop_lru) returns `None`; [`keys`](Self::keys),
///   [`entries`](Self::entries) and [`len`](Self::len) are empty;
///   [`clear`](Self::clear) does nothing.
/// - [`resize`](Self::resize) validates the size and records it for
///   [`max_size`](Self::max_size); nothing is stored either way.
pub struct ClientCache<K, V> {
    entries: Mutex<LruCache<K, V>>,
    enabled: bool,
    // Kept outside the lock so `max_size` never waits for it.
    max_size: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl<K: Hash + Eq, V> ClientCache<K, V> {
    /// Creates a cache that keeps at most `max_size` values.
    ///
    /// # Errors
    ///
    /// A validation error naming `max_size` when it is 0. Use
    /// [`ClientCache::disabled`] to switch caching off.
    pub fn new(max_size: usize) -> Result<Self, Error> {
        let capacity = validate_max_size(max_size)?;
        Ok(ClientCache::build(capacity, true))
    }

    /// Creates a cache that stores nothing: every `get_or_insert_*` call
    /// creates a new value. See [Disabled mode](Self#disabled-mode).
    pub fn disabled() -> Self {
        ClientCache::build(default_capacity(), false)
    }

    fn build(capacity: NonZeroUsize, enabled: bool) -> Self {
        ClientCache {
            // `sparse` allocates as entries arrive, so a large `max_size`
            // costs nothing up front.
            entries: Mutex::new(LruCache::sparse(capacity)),
            enabled,
            max_size: AtomicUsize::new(capacity.get()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Returns whether the cache stores values (false for
    /// [`ClientCache::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Returns the maximum number of cached values.
    pub fn max_size(&self) -> usize {
        self.max_size.load(Ordering::Acquire)
    }

    /// Returns the number of cached values.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Returns true when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the number of lookups that found a cached value.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Returns the number of lookups that found nothing.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Returns the number of values evicted to make room.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Returns the size and counters at one moment.
    ///
    /// Each counter is read on its own, so under concurrent use the numbers
    /// may come from slightly different instants.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits(),
            misses: self.misses(),
            evictions: self.evictions(),
            len: self.len(),
            max_size: self.max_size(),
        }
    }

    /// Returns whether `key` is cached, without marking it recently used and
    /// without counting a hit or a miss.
    pub fn contains(&self, key: &K) -> bool {
        self.lock().contains(key)
    }

    /// Changes the maximum size. Shrinking evicts the least recently used
    /// values first and counts them as evictions.
    ///
    /// # Errors
    ///
    /// A validation error naming `max_size` when `max_size` is 0.
    pub fn resize(&self, max_size: usize) -> Result<(), Error> {
        let capacity = validate_max_size(max_size)?;

        let mut evicted = Vec::new();
        {
            let mut entries = self.lock();
            while entries.len() > capacity.get() {
                match entries.pop_lru() {
                    Some(entry) => evicted.push(entry),
                    None => break,
                }
            }
            entries.resize(capacity);
            self.max_size.store(capacity.get(), Ordering::Release);
        }

        self.evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        if !evicted.is_empty() {
            tracing::debug!(
                evicted = evicted.len(),
                max_size,
                "client cache shrunk; least recently used entries evicted"
            );
        }
        Ok(())
    }

    /// Removes and returns the least recently used entry, or `None` when the
    /// cache is empty. This is a removal, not an eviction.
    pub fn pop_lru(&self) -> Option<(K, V)> {
        self.lock().pop_lru()
    }

    /// Removes every entry. The counters keep their values.
    pub fn clear(&self) {
        let mut removed = Vec::new();
        {
            let mut entries = self.lock();
            while let Some(entry) = entries.pop_lru() {
                removed.push(entry);
            }
        }
        drop(removed);
    }

    /// Locks the LRU list, recovering it from a poisoned lock.
    ///
    /// The user code that runs under the lock is `create`, which runs before
    /// the list changes, and the key's `Hash` and `Eq`. So a panic leaves the
    /// list as it was, unless a key's `Hash` or `Eq` itself panics.
    fn lock(&self) -> MutexGuard<'_, LruCache<K, V>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn record_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an entry evicted by `push` and hands it back so it is dropped
    /// after the lock is released.
    fn record_eviction(&self, evicted: Option<(K, V)>) -> Option<(K, V)> {
        if evicted.is_some() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        evicted
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ClientCache<K, V> {
    /// Returns a clone of the value cached under `key` and marks it most
    /// recently used. Counts a hit or a miss.
    pub fn get(&self, key: &K) -> Option<V> {
        if !self.enabled {
            self.record_miss();
            return None;
        }

        let value = self.lock().get(key).cloned();
        match value {
            Some(_) => self.record_hit(),
            None => self.record_miss(),
        }
        value
    }

    /// Returns the keys, from most to least recently used.
    pub fn keys(&self) -> Vec<K> {
        self.lock().iter().map(|(key, _)| key.clone()).collect()
    }

    /// Returns clones of the entries, from most to least recently used.
    pub fn entries(&self) -> Vec<(K, V)> {
        self.lock()
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// Returns the value cached under `key`, or creates it with `create`,
    /// caches it and returns it.
    ///
    /// `create` runs while the cache's lock is held, so concurrent callers
    /// never create the same value twice. This makes it the right choice for
    /// quick, synchronous construction. `create` must not call back into this
    /// cache (that would deadlock) and should not block. For slow or async
    /// construction use [`get_or_insert_async`](Self::get_or_insert_async).
    ///
    /// Counts a hit, or a miss plus an eviction when the cache was full.
    pub fn get_or_insert_with(&self, key: K, create: impl FnOnce() -> V) -> V {
        match self.get_or_try_insert_with(key, || Ok::<V, std::convert::Infallible>(create())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with), for a `create`
    /// that can fail. On failure nothing is cached and the error is
    /// returned.
    ///
    /// # Errors
    ///
    /// The error `create` returned.
    pub fn get_or_try_insert_with<E>(
        &self,
        key: K,
        create: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if !self.enabled {
            self.record_miss();
            return create();
        }

        let mut entries = self.lock();
        if let Some(value) = entries.get(&key) {
            let value = value.clone();
            drop(entries);
            self.record_hit();
            return Ok(value);
        }

        self.record_miss();
        let value = create()?;
        let evicted = entries.push(key, value.clone());
        drop(entries);

        drop(self.record_eviction(evicted));
        Ok(value)
    }

    /// Returns the value cached under `key`, or awaits `create` with the lock
    /// released, then caches its value unless another task cached one first.
    ///
    /// Steps: look up under the lock, and on a miss release the lock and
    /// await `create()`. Then lock again and insert the new value. If a
    /// racing task inserted a value first, that value is kept and returned,
    /// and the new one is dropped. Either way every racing caller ends with
    /// the one cached value.
    ///
    /// Counts a hit, or a miss plus an eviction when the cache was full.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while `create` runs caches nothing; the cache is
    /// never left locked.
    pub async fn get_or_insert_async<F, Fut>(&self, key: K, create: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let created = self
            .get_or_try_insert_async(key, || async {
                Ok::<V, std::convert::Infallible>(create().await)
            })
            .await;
        match created {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_async`](Self::get_or_insert_async), for a
    /// `create` that can fail. On failure nothing is cached.
    ///
    /// # Errors
    ///
    /// The error `create` returned.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while `create` runs caches nothing.
    pub async fn get_or_try_insert_async<F, Fut, E>(&self, key: K, create: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if !self.enabled {
            self.record_miss();
            return create().await;
        }

        // The guard is a temporary of this statement, so it is released
        // before the `.await` below.
        let cached = self.lock().get(&key).cloned();
        if let Some(value) = cached {
            self.record_hit();
            return Ok(value);
        }

        self.record_miss();
        let created = create().await?;

        let (value, evicted, lost_race) = {
            let mut entries = self.lock();
            match entries.get(&key) {
                Some(existing) => (existing.clone(), None, true),
                None => {
                    let evicted = entries.push(key, created.clone());
                    (created, evicted, false)
                }
            }
        };

        drop(self.record_eviction(evicted));
        if lost_race {
            tracing::debug!("another task cached this client first; dropping the new one");
        }
        Ok(value)
    }
}

impl<K: Hash + Eq + fmt::Display, V> ClientCache<K, V> {
    /// Caches `value` under `key` as the most recently used entry, evicting
    /// the least recently used one when the cache is full.
    ///
    /// # Errors
    ///
    /// A cache error naming the key when the key is already cached; remove
    /// it first. A disabled cache accepts and drops every value.
    pub fn insert(&self, key: K, value: V) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }

        let evicted = {
            let mut entries = self.lock();
            if entries.contains(&key) {
                return Err(Error::cache(format!(
                    "key `{key}` is already cached; remove it first or call get_or_insert_with"
                )));
            }
            entries.push(key, value)
        };

        drop(self.record_eviction(evicted));
        Ok(())
    }

    /// Removes and returns the value cached under `key`.
    ///
    /// # Errors
    ///
    /// A cache error naming the key when it is not cached.
    pub fn remove(&self, key: &K) -> Result<V, Error> {
        let removed = self.lock().pop(key);
        removed.ok_or_else(|| {
            Error::cache(format!(
                "key `{key}` is not cached; check keys() for the cached keys"
            ))
        })
    }
}

impl<K: Hash + Eq, V> Default for ClientCache<K, V> {
    /// Creates an enabled cache of [`DEFAULT_CACHE_SIZE`] values.
    fn default() -> Self {
        ClientCache::build(default_capacity(), true)
    }
}

impl<K: Hash + Eq + fmt::Debug, V> fmt::Debug for ClientCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are not printed: a client's `Debug` may show its settings.
        let entries = self.lock();
        let keys = KeysDebug(&entries);
        f.debug_struct("ClientCache")
            .field("enabled", &self.enabled)
            .field("max_size", &self.max_size())
            .field("keys", &keys)
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .field("evictions", &self.evictions())
            .finish()
    }
}

/// Lists an LRU's keys, most recently used first.
struct KeysDebug<'a, K, V>(&'a LruCache<K, V>);

impl<K: Hash + Eq + fmt::Debug, V> fmt::Debug for KeysDebug<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(key, _)| key))
            .finish()
    }
}

fn default_capacity() -> NonZeroUsize {
    NonZeroUsize::new(DEFAULT_CACHE_SIZE).unwrap_or(NonZeroUsize::MIN)
}

fn validate_max_size(max_size: usize) -> Result<NonZeroUsize, Error> {
    NonZeroUsize::new(max_size).ok_or_else(|| {
        Error::validation(
            "max_size",
            Some(max_size.to_string()),
            "`max_size` 0 is invalid; pass at least 1, or use ClientCache::disabled() to switch caching off",
        )
    })
}

/// The key a session caches a client under: service, region, optional
/// endpoint and a fingerprint of the client's settings.
///
/// It contains no secret. The fingerprint is a hash the caller computes over
/// the settings that change how a client behaves (signing settings, timeouts,
/// retries). [`CacheKey::fingerprint_of`] computes one from any `Hash`
/// value. Never hash a secret into it.
///
/// `Display` reads `service/region[@endpoint]#fingerprint`, with the
/// fingerprint as 16 hex digits. A user name and password in the endpoint
/// (`http://user:pass@host`) are replaced by `***` in `Display` and `Debug`.
///
/// # Examples
///
/// ```
/// use aws_refresh_session::cache::CacheKey;
///
/// let key = CacheKey::new("s3", "us-east-1")
///     .with_endpoint("http://127.0.0.1:5000")
///     .with_fingerprint(0xabc);
/// assert_eq!(key.to_string(), "s3/us-east-1@http://127.0.0.1:5000#0000000000000abc");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    service: String,
    region: String,
    endpoint: Option<String>,
    fingerprint: u64,
}

impl CacheKey {
    /// Creates a key for `service` in `region`, with no endpoint and a
    /// fingerprint of 0.
    pub fn new(service: impl Into<String>, region: impl Into<String>) -> Self {
        CacheKey {
            service: service.into(),
            region: region.into(),
            endpoint: None,
            fingerprint: 0,
        }
    }

    /// Sets the endpoint URL the client sends requests to.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sets the fingerprint of the client's settings.
    pub fn with_fingerprint(mut self, fingerprint: u64) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    /// Computes a settings fingerprint from any hashable value.
    ///
    /// The hash is stable within one process, which is all a cache key
    /// needs; it may differ between Rust versions, so never persist it.
    pub fn fingerprint_of<T: Hash + ?Sized>(settings: &T) -> u64 {
        // `DefaultHasher::new` uses fixed keys, so equal settings give equal
        // fingerprints for the life of the process.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        settings.hash(&mut hasher);
        hasher.finish()
    }

    /// Returns the service name, such as `s3`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Returns the region, such as `us-east-1`.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Returns the endpoint URL, if one is set.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Returns the settings fingerprint.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service, self.region)?;
        if let Some(endpoint) = &self.endpoint {
            write!(f, "@{}", RedactedEndpoint(endpoint))?;
        }
        write!(f, "#{:016x}", self.fingerprint)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheKey")
            .field("service", &self.service)
            .field("region", &self.region)
            .field(
                "endpoint",
                &self
                    .endpoint
                    .as_deref()
                    .map(|endpoint| RedactedEndpoint(endpoint).to_string()),
            )
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .finish()
    }
}

/// Returns whether the port written in `uri`'s authority, if any, is one
/// a client can connect to (1 to 65535).
///
/// `http::Uri::port_u16` returns `None` for a port that does not fit in a
/// `u16`, such as 65536, and callers would then use the scheme's default
/// port without a word.
pub(crate) fn has_valid_port(uri: &http::Uri) -> bool {
    let Some(authority) = uri.authority() else {
        return true;
    };
    // The text after the last `:` is a port unless it ends an IPv6
    // literal such as `[::1]`.
    match authority.as_str().rsplit_once(':') {
        Some((_, port)) if !port.contains(']') && !port.is_empty() => {
            port.parse::<u16>().is_ok_and(|port| port != 0)
        }
        _ => true,
    }
}

/// Prints an endpoint URL with any user information replaced by `***`.
pub(crate) struct RedactedEndpoint<'a>(pub(crate) &'a str);

impl RedactedEndpoint<'_> {
    /// Returns whether the URL carries user information (`user:password@`).
    pub(crate) fn has_userinfo(&self) -> bool {
        self.to_string() != self.0
    }
}

impl fmt::Display for RedactedEndpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let authority_start = url.find("://").map_or(0, |index| index + 3);
        let rest = &url[authority_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());

        // RFC 3986: user information ends at the last `@` of the authority.
        match rest[..authority_len].rfind('@') {
            Some(at) => write!(f, "{}***{}", &url[..authority_start], &rest[at..]),
            None => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    fn cache(max_size: usize) -> ClientCache<&'static str, u32> {
        ClientCache::new(max_size).unwrap()
    }

    #[test]
    fn default_size_is_ten() {
        let cache: ClientCache<&str, u32> = ClientCache::default();

        assert_eq!(cache.max_size(), DEFAULT_CACHE_SIZE);
        assert_eq!(DEFAULT_CACHE_SIZE, 10);
        assert!(cache.is_enabled());
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_max_size_is_validation_error() {
        let error = ClientCache::<&str, u32>::new(0).unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("max_size"));
        assert_eq!(error.value(), Some("0"));
        assert_eq!(
            error.to_string(),
            "validation error: `max_size` 0 is invalid; pass at least 1, or use ClientCache::disabled() to switch caching off"
        );
    }

    #[test]
    fn huge_max_size_allocates_nothing_up_front() {
        let cache = cache(usize::MAX);

        cache.insert("a", 1).unwrap();

        assert_eq!(cache.max_size(), usize::MAX);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn get_counts_hits_and_misses() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();

        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"b"), None);
        assert_eq!(cache.get(&"a"), Some(1));

        assert_eq!(cache.hits(), 2);
        assert_eq!(cache.misses(), 1);
        assert_eq!(cache.evictions(), 0);
    }

    #[test]
    fn insert_into_full_cache_evicts_lru() {
        let cache = cache(2);

        cache.insert("a", 1).unwrap();
        cache.insert("b", 2).unwrap();
        cache.insert("c", 3).unwrap();

        assert!(!cache.contains(&"a"));
        assert_eq!(cache.keys(), vec!["c", "b"]);
        assert_eq!(cache.evictions(), 1);
    }

    #[test]
    fn get_marks_entry_most_recently_used() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();
        cache.insert("b", 2).unwrap();

        assert_eq!(cache.get(&"a"), Some(1));
        cache.insert("c", 3).unwrap();

        assert!(cache.contains(&"a"));
        assert!(!cache.contains(&"b"));
        assert_eq!(cache.keys(), vec!["c", "a"]);
    }

    #[test]
    fn contains_does_not_change_order() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();
        cache.insert("b", 2).unwrap();

        assert!(cache.contains(&"a"));
        cache.insert("c", 3).unwrap();

        assert!(!cache.contains(&"a"));
        assert_eq!(cache.hits(), 0);
        assert_eq!(cache.misses(), 0);
    }

    #[test]
    fn insert_existing_key_is_cache_error() {
        let cache: ClientCache<CacheKey, u32> = ClientCache::new(2).unwrap();
        let key = CacheKey::new("s3", "us-east-1").with_fingerprint(7);
        cache.insert(key.clone(), 1).unwrap();

        let error = cache.insert(key.clone(), 2).unwrap_err();

        assert!(error.is_cache());
        assert_eq!(
            error.to_string(),
            "cache error: key `s3/us-east-1#0000000000000007` is already cached; remove it first or call get_or_insert_with"
        );
        assert_eq!(cache.get(&key), Some(1));
    }

    #[test]
    fn remove_returns_value() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();

        assert_eq!(cache.remove(&"a").unwrap(), 1);
        assert!(cache.is_empty());
        assert_eq!(cache.evictions(), 0);
    }

    #[test]
    fn remove_missing_key_is_cache_error() {
        let cache = cache(2);

        let error = cache.remove(&"nope").unwrap_err();

        assert!(error.is_cache());
        assert_eq!(
            error.to_string(),
            "cache error: key `nope` is not cached; check keys() for the cached keys"
        );
    }

    #[test]
    fn pop_lru_takes_least_recent() {
        let cache = cache(3);
        cache.insert("a", 1).unwrap();
        cache.insert("b", 2).unwrap();
        cache.get(&"a");

        assert_eq!(cache.pop_lru(), Some(("b", 2)));
        assert_eq!(cache.pop_lru(), Some(("a", 1)));
        assert_eq!(cache.pop_lru(), None);
        assert_eq!(cache.evictions(), 0);
    }

    #[test]
    fn clear_empties_and_keeps_counters() {
        let cache = cache(3);
        cache.insert("a", 1).unwrap();
        cache.get(&"a");

        cache.clear();

        assert!(cache.is_empty());
        assert_eq!(cache.keys(), Vec::<&str>::new());
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn keys_and_entries_run_mru_to_lru() {
        let cache = cache(3);
        cache.insert("a", 1).unwrap();
        cache.insert("b", 2).unwrap();
        cache.insert("c", 3).unwrap();
        cache.get(&"a");

        assert_eq!(cache.keys(), vec!["a", "c", "b"]);
        assert_eq!(cache.entries(), vec![("a", 1), ("c", 3), ("b", 2)]);
    }

    #[test]
    fn resize_shrink_evicts_lru_first() {
        let cache = cache(4);
        for (key, value) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
            cache.insert(key, value).unwrap();
        }
        cache.get(&"a");

        cache.resize(2).unwrap();

        assert_eq!(cache.keys(), vec!["a", "d"]);
        assert_eq!(cache.max_size(), 2);
        assert_eq!(cache.evictions(), 2);
    }

    #[test]
    fn resize_grow_keeps_entries() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();
        cache.insert("b", 2).unwrap();

        cache.resize(3).unwrap();
        cache.insert("c", 3).unwrap();

        assert_eq!(cache.len(), 3);
        assert_eq!(cache.evictions(), 0);
    }

    #[test]
    fn resize_to_zero_is_validation_error() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();

        let error = cache.resize(0).unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("max_size"));
        assert_eq!(cache.max_size(), 2);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn get_or_insert_with_creates_once() {
        let cache = cache(2);
        let calls = AtomicU32::new(0);
        let create = || {
            calls.fetch_add(1, Ordering::Relaxed);
            42
        };

        assert_eq!(cache.get_or_insert_with("a", create), 42);
        assert_eq!(cache.get_or_insert_with("a", || unreachable!()), 42);

        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(cache.misses(), 1);
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn get_or_insert_with_evicts_when_full() {
        let cache = cache(1);

        cache.get_or_insert_with("a", || 1);
        cache.get_or_insert_with("b", || 2);

        assert_eq!(cache.keys(), vec!["b"]);
        assert_eq!(cache.evictions(), 1);
    }

    #[test]
    fn failed_creation_caches_nothing() {
        let cache = cache(2);

        let result = cache.get_or_try_insert_with("a", || Err::<u32, _>("no client"));

        assert_eq!(result, Err("no client"));
        assert!(cache.is_empty());
        assert_eq!(cache.misses(), 1);
    }

    #[test]
    fn panicking_creation_leaves_cache_usable() {
        let cache = Arc::new(cache(2));
        cache.insert("a", 1).unwrap();

        let panicking = Arc::clone(&cache);
        let outcome = std::thread::spawn(move || {
            panicking.get_or_insert_with("b", || panic!("creation failed"));
        })
        .join();

        assert!(outcome.is_err());
        assert_eq!(cache.get(&"a"), Some(1));
        assert!(!cache.contains(&"b"));
    }

    #[tokio::test]
    async fn async_insert_creates_outside_lock() {
        let cache = cache(2);

        let value = cache
            .get_or_insert_async("a", || async {
                // The lock is free while the value is created.
                assert!(!cache.contains(&"a"));
                7
            })
            .await;

        assert_eq!(value, 7);
        assert_eq!(cache.get(&"a"), Some(7));
        assert_eq!(cache.misses(), 1);
    }

    #[tokio::test]
    async fn async_insert_race_keeps_first_value() {
        let cache = cache(2);

        let value = cache
            .get_or_insert_async("a", || async {
                // Another task wins the race while this one creates.
                cache.insert("a", 1).unwrap();
                2
            })
            .await;

        assert_eq!(value, 1);
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn async_insert_hit_skips_creation() {
        let cache = cache(2);
        cache.insert("a", 1).unwrap();

        let value = cache
            .get_or_insert_async("a", || async { unreachable!() })
            .await;

        assert_eq!(value, 1);
        assert_eq!(cache.hits(), 1);
    }

    #[tokio::test]
    async fn async_failed_creation_caches_nothing() {
        let cache = cache(2);

        let result = cache
            .get_or_try_insert_async("a", || async { Err::<u32, _>("no client") })
            .await;

        assert_eq!(result, Err("no client"));
        assert!(cache.is_empty());
    }

    #[test]
    fn disabled_cache_always_creates() {
        let cache: ClientCache<&str, u32> = ClientCache::disabled();
        let calls = AtomicU32::new(0);

        for _ in 0..3 {
            let value = cache.get_or_insert_with("a", || calls.fetch_add(1, Ordering::Relaxed));
            assert_eq!(value, calls.load(Ordering::Relaxed) - 1);
        }

        assert!(!cache.is_enabled());
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert_eq!(cache.misses(), 3);
        assert_eq!(cache.hits(), 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let cache: ClientCache<&str, u32> = ClientCache::disabled();

        cache.insert("a", 1).unwrap();
        cache.insert("a", 2).unwrap();

        assert_eq!(cache.get(&"a"), None);
        assert!(!cache.contains(&"a"));
        assert!(cache.keys().is_empty());
        assert_eq!(cache.pop_lru(), None);
        assert!(cache.remove(&"a").unwrap_err().is_cache());
        assert_eq!(cache.misses(), 1);
    }

    #[test]
    fn disabled_cache_resize_validates() {
        let cache: ClientCache<&str, u32> = ClientCache::disabled();

        assert!(cache.resize(0).unwrap_err().is_validation());
        cache.resize(3).unwrap();

        assert_eq!(cache.max_size(), 3);
    }

    #[tokio::test]
    async fn disabled_cache_async_always_creates() {
        let cache: ClientCache<&str, u32> = ClientCache::disabled();

        let first = cache.get_or_insert_async("a", || async { 1 }).await;
        let second = cache.get_or_insert_async("a", || async { 2 }).await;

        assert_eq!(first, 1);
        assert_eq!(second, 2);
        assert!(cache.is_empty());
    }

    #[test]
    fn stats_snapshot_matches_counters() {
        let cache = cache(1);
        cache.insert("a", 1).unwrap();
        cache.get(&"a");
        cache.get(&"b");
        cache.insert("b", 2).unwrap();

        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                evictions: 1,
                len: 1,
                max_size: 1,
            }
        );
    }

    #[test]
    fn contention_counts_add_up() {
        const THREADS: u64 = 8;
        const CALLS: u64 = 10_000;
        const KEYS: u64 = 6;

        let cache: Arc<ClientCache<u64, u64>> = Arc::new(ClientCache::new(4).unwrap());
        let created = Arc::new(AtomicU64::new(0));

        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let cache = Arc::clone(&cache);
                let created = Arc::clone(&created);
                std::thread::spawn(move || {
                    for call in 0..CALLS {
                        let key = (thread * 7 + call) % KEYS;
                        let value = cache.get_or_insert_with(key, || {
                            created.fetch_add(1, Ordering::Relaxed);
                            key * 100
                        });
                        assert_eq!(value, key * 100);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("worker thread panicked");
        }

        let stats = cache.stats();
        assert_eq!(stats.hits + stats.misses, THREADS * CALLS);
        assert_eq!(stats.misses, created.load(Ordering::Relaxed));
        assert_eq!(stats.len, 4);
        // Every miss inserted one entry; all but the four still cached were
        // evicted.
        assert_eq!(stats.evictions, stats.misses - 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn async_racers_share_one_value() {
        const TASKS: u64 = 16;
        const CALLS: u64 = 500;
        const KEYS: u64 = 5;

        // Room for every key, so nothing is evicted and the first cached
        // value of a key stays for the whole test.
        let cache: Arc<ClientCache<u64, u64>> = Arc::new(ClientCache::new(8).unwrap());
        let serial = Arc::new(AtomicU64::new(0));

        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let cache = Arc::clone(&cache);
                let serial = Arc::clone(&serial);
                tokio::spawn(async move {
                    let mut returned = Vec::new();
                    for call in 0..CALLS {
                        let key = (task + call) % KEYS;
                        let serial = Arc::clone(&serial);
                        let value = cache
                            .get_or_insert_async(key, || async move {
                                tokio::task::yield_now().await;
                                serial.fetch_add(1, Ordering::Relaxed)
                            })
                            .await;
                        returned.push((key, value));
                    }
                    returned
                })
            })
            .collect();
        let mut returned = Vec::new();
        for task in tasks {
            returned.extend(task.await.expect("task panicked"));
        }

        for (key, value) in returned {
            assert_eq!(cache.get(&key), Some(value), "key {key}");
        }
        let stats = cache.stats();
        assert_eq!(stats.len, KEYS as usize);
        assert_eq!(stats.evictions, 0);
        assert_eq!(stats.misses, serial.load(Ordering::Relaxed));
        // The final lookups above add one hit per returned value.
        assert_eq!(stats.hits + stats.misses, 2 * TASKS * CALLS);
    }

    #[test]
    fn cache_key_display_formats() {
        let with_endpoint = CacheKey::new("s3", "us-east-1")
            .with_endpoint("http://127.0.0.1:5000")
            .with_fingerprint(0xdead_beef);
        let without_endpoint = CacheKey::new("sts", "eu-west-1");

        assert_eq!(
            with_endpoint.to_string(),
            "s3/us-east-1@http://127.0.0.1:5000#00000000deadbeef"
        );
        assert_eq!(
            without_endpoint.to_string(),
            "sts/eu-west-1#0000000000000000"
        );
    }

    #[test]
    fn cache_key_hides_endpoint_userinfo() {
        let key = CacheKey::new("s3", "us-east-1")
            .with_endpoint("http://user:hunter2@127.0.0.1:5000/path@x");

        assert_eq!(
            key.to_string(),
            "s3/us-east-1@http://***@127.0.0.1:5000/path@x#0000000000000000"
        );
        assert!(!format!("{key:?}").contains("hunter2"));
        assert_eq!(
            key.endpoint(),
            Some("http://user:hunter2@127.0.0.1:5000/path@x")
        );
    }

    #[test]
    fn cache_key_debug_is_readable() {
        let key = CacheKey::new("s3", "us-east-1")
            .with_endpoint("http://127.0.0.1:5000")
            .with_fingerprint(1);

        assert_eq!(
            format!("{key:?}"),
            "CacheKey { service: \"s3\", region: \"us-east-1\", endpoint: Some(\"http://127.0.0.1:5000\"), fingerprint: 0000000000000001 }"
        );
    }

    #[test]
    fn cache_key_equality_uses_every_field() {
        let base = CacheKey::new("s3", "us-east-1").with_fingerprint(1);

        assert_eq!(base, base.clone());
        assert_ne!(base, base.clone().with_fingerprint(2));
        assert_ne!(base, base.clone().with_endpoint("http://127.0.0.1:1"));
        assert_ne!(base, CacheKey::new("s3", "us-west-2").with_fingerprint(1));
        assert_ne!(base, CacheKey::new("sqs", "us-east-1").with_fingerprint(1));
    }

    #[test]
    fn fingerprint_is_stable_per_value() {
        let settings = ("timeout", 30_u32, true);

        assert_eq!(
            CacheKey::fingerprint_of(&settings),
            CacheKey::fingerprint_of(&settings)
        );
        assert_ne!(
            CacheKey::fingerprint_of(&settings),
            CacheKey::fingerprint_of(&("timeout", 31_u32, true))
        );
    }

    #[test]
    fn cache_debug_lists_keys_not_values() {
        let cache: ClientCache<&str, &str> = ClientCache::new(2).unwrap();
        cache.insert("a", "client with settings").unwrap();

        let debug = format!("{cache:?}");

        assert!(debug.contains("\"a\""), "{debug}");
        assert!(!debug.contains("client with settings"), "{debug}");
    }
}
