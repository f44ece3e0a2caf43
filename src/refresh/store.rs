//! The credential store: lock-free reads, single-flight refreshes.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwapOption, Guard};
use tokio::sync::{Notify, watch};

use super::events::{RefreshEvent, RefreshOutcome};
use super::policy::{RefreshMode, RefreshPolicy, Windows};
use crate::clock::{self, SharedClock};
use crate::credentials::{Credentials, format_rfc3339};
use crate::error::Error;
use crate::strategy::{CredentialSource, SharedSource};

/// One generation of credentials with its precomputed refresh boundaries,
/// so the request path only compares times.
pub(crate) struct Snapshot {
    pub(crate) credentials: Credentials,
    pub(crate) generation: u64,
    /// `None` for static credentials, which are never refreshed.
    pub(crate) windows: Option<Windows>,
    /// Set by `invalidate`: requests wait for the replacement.
    pub(crate) invalidated: AtomicBool,
}

/// The result of a request-path lookup that does not wait.
pub enum Lookup {
    /// Credentials to sign with now. Drop it before the next `.await`.
    Ready(Current),
    /// No usable credentials without waiting: call
    /// [`CredentialStore::credentials`].
    Wait,
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::Ready(current) => f.debug_tuple("Ready").field(&**current).finish(),
            Lookup::Wait => f.write_str("Wait"),
        }
    }
}

/// A borrowed view of the current credentials.
///
/// It pins one generation without a lock. It is meant for the instant of
/// signing: holding it across an `.await` keeps that generation alive and
/// slows writers (see `arc_swap::Guard`).
pub struct Current {
    guard: Guard<Option<Arc<Snapshot>>>,
}

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Current")
            .field("generation", &self.generation())
            .field("credentials", &**self)
            .finish()
    }
}

impl Current {
    /// Returns the generation these credentials belong to.
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    fn snapshot(&self) -> &Snapshot {
        // `Current` is only built from a guard that holds `Some`.
        self.guard
            .as_deref()
            .expect("Current is built from a loaded snapshot")
    }
}

impl std::ops::Deref for Current {
    type Target = Credentials;

    fn deref(&self) -> &Credentials {
        &self.snapshot().credentials
    }
}

/// A handle to a credential store. Clones share one store.
///
/// The current credentials live in an [`arc_swap::ArcSwapOption`]: the
/// request path reads them without a lock, and a background task (or, in
/// deferred mode, the first request that finds them ageing) replaces them
/// before they expire. Refreshes are single-flight: however many requests
/// wait, the source is called once.
///
/// Dropping the last handle stops the background task.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use aws_refresh_session::{CredentialStore, Credentials, Error};
/// use aws_refresh_session::strategy::CustomSource;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let source = CustomSource::new("example", || async {
///     Ok(Credentials::new("AKIDEXAMPLE", "secret", None, None))
/// });
/// let store = CredentialStore::builder(source).build().await?;
/// let credentials = store.credentials().await?;
/// assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CredentialStore {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) current: ArcSwapOption<Snapshot>,
    pub(crate) source: SharedSource,
    pub(crate) clock: SharedClock,
    pub(crate) policy: RefreshPolicy,
    pub(crate) runtime: tokio::runtime::Handle,

    /// True while a fetch runs; the single-flight gate.
    refreshing: AtomicBool,
    /// Bumped after every finished fetch; waiters watch it.
    finished: watch::Sender<u64>,
    /// The last failure, until a success clears it.
    last_error: ArcSwapOption<Error>,
    consecutive_failures: AtomicU32,
    /// Milliseconds since the epoch before which no new fetch starts,
    /// except a forced one.
    next_attempt_ms: AtomicU64,
    generation: AtomicU64,

    /// Wakes the background task early: invalidation, forced refresh, drop.
    pub(crate) wake: Arc<Notify>,
    events: watch::Sender<RefreshEvent>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The background task keeps only a weak handle and sleeps on this
        // notification; it wakes, fails to upgrade, and exits.
        self.wake.notify_one();
    }
}

/// Builds a [`CredentialStore`].
#[derive(Debug)]
pub struct StoreBuilder {
    source: SharedSource,
    policy: RefreshPolicy,
    clock: SharedClock,
}

impl StoreBuilder {
    /// Sets the refresh policy. Defaults to [`RefreshPolicy::default`].
    pub fn policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the clock. Defaults to the system clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Validates the policy, fetches the first credentials (unless the mode
    /// is [`RefreshMode::Deferred`]) and spawns the background refresher on
    /// the current tokio runtime (unless deferred).
    ///
    /// # Errors
    ///
    /// A validation error for a bad policy, or the first fetch's error.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn build(self) -> Result<CredentialStore, Error> {
        let mode = self.policy.mode;
        let (store, refresher) = self.build_with_refresher().await?;
        if let Some(refresher) = refresher {
            store.shared.runtime.spawn(refresher.into_future());
        }
        debug_assert!(mode == RefreshMode::Deferred || store.shared.current.load().is_some());
        Ok(store)
    }

    /// Like [`build`](Self::build), but hands the background refresher back
    /// instead of spawning it, so it can run on an executor of the caller's
    /// choice. It is `None` in deferred mode. The future ends when the last
    /// store handle is dropped.
    ///
    /// # Errors
    ///
    /// A validation error for a bad policy, or the first fetch's error.
    pub async fn build_with_refresher(
        self,
    ) -> Result<(CredentialStore, Option<super::refresher::Refresher>), Error> {
        self.policy.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::configuration(
                "the credential store needs a tokio runtime; build it inside one (for example under #[tokio::main])",
            )
        })?;

        let (finished, _) = watch::channel(0);
        let (events, _) = watch::channel(RefreshEvent {
            generation: 0,
            at: self.clock.now(),
            outcome: RefreshOutcome::Pending,
        });
        let store = CredentialStore {
            shared: Arc::new(Shared {
                current: ArcSwapOption::empty(),
                source: self.source,
                clock: self.clock,
                policy: self.policy,
                runtime,
                refreshing: AtomicBool::new(false),
                finished,
                last_error: ArcSwapOption::empty(),
                consecutive_failures: AtomicU32::new(0),
                next_attempt_ms: AtomicU64::new(0),
                generation: AtomicU64::new(0),
                wake: Arc::new(Notify::new()),
                events,
            }),
        };

        if store.shared.policy.mode == RefreshMode::Deferred {
            return Ok((store, None));
        }

        store.refresh_now().await?;
        let refresher = super::refresher::Refresher::new(&store);
        Ok((store, Some(refresher)))
    }
}

impl CredentialStore {
    /// Starts a builder for a store fed by `source`.
    pub fn builder(source: impl CredentialSource) -> StoreBuilder {
        StoreBuilder::from_shared(Arc::new(source))
    }

    /// Looks at the current credentials without waiting and without a lock.
    ///
    /// Inside the advisory window this also starts a refresh (once, and
    /// subject to backoff) without waiting for it, so a late or dead
    /// background task never leaves the store to expire.
    pub fn lookup(&self) -> Lookup {
        self.lookup_generation().0
    }

    /// Does the work of [`lookup`](Self::lookup), and also returns the
    /// generation it looked at (0 for none).
    fn lookup_generation(&self) -> (Lookup, u64) {
        let guard = self.shared.current.load();
        let Some(snapshot) = guard.as_deref() else {
            return (Lookup::Wait, 0);
        };
        let generation = snapshot.generation;
        if snapshot.invalidated.load(Ordering::Acquire) {
            return (Lookup::Wait, generation);
        }
        let Some(windows) = snapshot.windows else {
            return (Lookup::Ready(Current { guard }), generation);
        };

        let now = self.shared.clock.now();
        if now >= windows.mandatory_at {
            return (Lookup::Wait, generation);
        }
        if now >= windows.advisory_at {
            self.shared.start_refresh(false, Some(generation));
        }
        (Lookup::Ready(Current { guard }), generation)
    }

    /// Returns credentials to sign with, waiting for a refresh only when it
    /// must: at cold start, inside the mandatory window, after
    /// invalidation, or past expiry.
    ///
    /// # Errors
    ///
    /// - The source's error when there were never any credentials.
    /// - An expired error, whose source is the last refresh error, when the
    ///   credentials expired and no refresh replaced them.
    /// - A timeout error when the refresh did not finish within the refresh
    ///   timeout and nothing valid is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the refresh runs in its own task and completes for the
    /// other waiters.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        let seen_generation = match self.lookup_generation() {
            (Lookup::Ready(current), _) => return Ok((*current).clone()),
            (Lookup::Wait, generation) => generation,
        };

        let mut finished = self.shared.finished.subscribe();
        let seen = *finished.borrow_and_update();
        let started = self.shared.start_refresh(false, Some(seen_generation));
        if started || self.shared.refreshing.load(Ordering::Acquire) {
            let wait = finished.wait_for(|count| *count > seen);
            // On timeout, fall through and use whatever is still valid.
            let _ = tokio::time::timeout(self.shared.policy.refresh_timeout, wait).await;
        }

        self.shared.usable_or_error()
    }

    /// Fetches new credentials now, ignoring backoff, and returns them. If a
    /// refresh is already in flight, waits for that one instead.
    ///
    /// # Errors
    ///
    /// The fetch's error, or a timeout error.
    pub async fn refresh_now(&self) -> Result<Credentials, Error> {
        let mut finished = self.shared.finished.subscribe();
        let seen = *finished.borrow_and_update();
        self.shared.start_refresh(true, None);

        let wait = finished.wait_for(|count| *count > seen);
        if tokio::time::timeout(self.shared.policy.refresh_timeout, wait)
            .await
            .is_err()
        {
            return Err(self.shared.timeout_error());
        }

        match self.shared.last_error.load_full() {
            Some(error) if self.shared.consecutive_failures.load(Ordering::Acquire) > 0 => {
                Err((*error).clone())
            }
            _ => self.shared.usable_or_error(),
        }
    }

    /// Marks the current credentials stale if their access key id is
    /// `access_key_id`, and starts a refresh. Returns whether it did.
    ///
    /// Call it when AWS rejects a request with `ExpiredToken` or
    /// `InvalidToken`. Naming the key that failed makes a late report about
    /// credentials that were already replaced harmless. The first report
    /// about a generation refreshes at once, ignoring backoff; later reports
    /// about the same generation wait for the backoff of a failed refresh.
    pub fn invalidate(&self, access_key_id: &str) -> bool {
        let guard = self.shared.current.load();
        let Some(snapshot) = guard.as_deref() else {
            return false;
        };
        if snapshot.credentials.access_key_id() != access_key_id {
            tracing::debug!(
                access_key_id,
                current = snapshot.credentials.access_key_id(),
                "ignoring invalidation of credentials that were already replaced"
            );
            return false;
        }

        // Only the first report skips the backoff. A signing service reports
        // every rejected request, so later reports about the same credentials
        // would otherwise call a failing source once per request.
        let first_report = !snapshot.invalidated.swap(true, Ordering::AcqRel);
        if first_report {
            tracing::info!(access_key_id, "credentials invalidated; refreshing");
        }
        self.shared.start_refresh(first_report, None);
        true
    }

    /// Returns a receiver of refresh events: the latest outcome, with the
    /// generation, the new expiry and access key id, or the error.
    pub fn subscribe(&self) -> watch::Receiver<RefreshEvent> {
        self.shared.events.subscribe()
    }

    /// Returns the generation of the current credentials: 0 before the
    /// first success, then one more per success.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Returns the last refresh error, until a success clears it.
    pub fn last_error(&self) -> Option<Error> {
        self.shared
            .last_error
            .load_full()
            .map(|error| (*error).clone())
    }

    /// Returns the source's kind, such as `"sts"`.
    pub fn source_kind(&self) -> &'static str {
        self.shared.source.kind()
    }

    /// Returns the store's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.shared.clock
    }

    /// Returns the refresh policy.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.shared.policy
    }

    /// Returns the source the store fetches from.
    pub fn source(&self) -> &SharedSource {
        &self.shared.source
    }
}

impl StoreBuilder {
    pub(crate) fn from_shared(source: SharedSource) -> Self {
        StoreBuilder {
            source,
            policy: RefreshPolicy::default(),
            clock: clock::system(),
        }
    }
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.shared.current.load();
        f.debug_struct("CredentialStore")
            .field("source", &self.shared.source.kind())
            .field("generation", &self.generation())
            .field(
                "access_key_id",
                &current
                    .as_deref()
                    .map(|snapshot| snapshot.credentials.access_key_id()),
            )
            .field(
                "expiry",
                &current
                    .as_deref()
                    .and_then(|snapshot| snapshot.credentials.expiry_rfc3339()),
            )
            .field("policy", &self.shared.policy)
            .finish()
    }
}

impl Shared {
    /// Returns the generation that needs replacing now (0 when the store
    /// is empty), or `None` when no refresh is due, for the background task.
    pub(crate) fn refresh_due(&self, now: SystemTime) -> Option<u64> {
        match self.current.load().as_deref() {
            None => Some(0),
            Some(snapshot) => {
                let due = snapshot.invalidated.load(Ordering::Acquire)
                    || snapshot
                        .windows
                        .is_some_and(|windows| now >= windows.scheduled_at);
                due.then_some(snapshot.generation)
            }
        }
    }

    /// Returns when the background task should next look, or `None` for
    /// static credentials.
    pub(crate) fn next_wake(&self) -> Option<SystemTime> {
        let scheduled = match self.current.load().as_deref() {
            None => Some(UNIX_EPOCH),
            Some(snapshot) if snapshot.invalidated.load(Ordering::Acquire) => Some(UNIX_EPOCH),
            Some(snapshot) => snapshot.windows.map(|windows| windows.scheduled_at),
        }?;
        Some(scheduled.max(self.next_attempt_at()))
    }

    /// Returns true while a fetch runs.
    pub(crate) fn is_refreshing(&self) -> bool {
        self.refreshing.load(Ordering::Acquire)
    }

    /// Subscribes to the count of finished fetches.
    pub(crate) fn finished(&self) -> watch::Receiver<u64> {
        self.finished.subscribe()
    }

    fn next_attempt_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.next_attempt_ms.load(Ordering::Acquire))
    }

    /// Starts a fetch in its own task unless one runs already or backoff
    /// forbids it (`force` ignores backoff). Returns whether it started one.
    ///
    /// `seen` is the generation the caller found too old (0 for none). If
    /// another fetch replaced it, or failed and set a backoff, after the
    /// caller looked, that fetch's outcome is what the caller needs: no new fetch
    /// starts, and waiters are woken as if one had finished.
    pub(crate) fn start_refresh(self: &Arc<Self>, force: bool, seen: Option<u64>) -> bool {
        if !force && self.clock.now() < self.next_attempt_at() {
            return false;
        }
        if self
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }

        // Winning the flag makes everything the previous fetch stored
        // visible, so these checks catch a fetch that ended after the caller
        // looked (possible on a multi-threaded runtime).
        let replaced = seen.is_some_and(|seen| {
            let current = self.current.load();
            current.as_deref().map_or(0, |snapshot| snapshot.generation) != seen
        });
        let backing_off = !force && self.clock.now() < self.next_attempt_at();
        if replaced || backing_off {
            self.refreshing.store(false, Ordering::Release);
            self.finished.send_modify(|count| *count += 1);
            return true;
        }

        let shared = Arc::clone(self);
        self.runtime.spawn(async move { shared.run_fetch().await });
        true
    }

    async fn run_fetch(self: Arc<Self>) {
        let kind = self.source.kind();
        tracing::debug!(source = kind, "credential refresh started");
        let mut gate = FetchGate {
            shared: &self,
            recorded: false,
        };

        let result =
            match tokio::time::timeout(self.policy.refresh_timeout, self.source.fetch()).await {
                Ok(result) => result.and_then(|credentials| self.check_fresh(credentials)),
                Err(_) => Err(self.timeout_error()),
            };

        match result {
            Ok(credentials) => self.store_success(credentials),
            Err(error) => self.store_failure(error),
        }
        gate.recorded = true;
    }

    fn check_fresh(&self, credentials: Credentials) -> Result<Credentials, Error> {
        let now = self.clock.now();
        match credentials.expiry() {
            Some(expiry) if expiry <= now => Err(Error::credential(
                "expiration",
                format!(
                    "the {} source returned credentials (access key id {}) that already expired at {}; \
                     check the source and the clocks of both machines",
                    self.source.kind(),
                    credentials.access_key_id(),
                    format_rfc3339(expiry),
                ),
            )),
            _ => Ok(credentials),
        }
    }

    fn store_success(&self, credentials: Credentials) {
        let now = self.clock.now();
        let windows = credentials
            .expiry()
            .map(|expiry| self.policy.windows(now, expiry));
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let access_key_id = credentials.access_key_id().to_owned();
        let expiry = credentials.expiry();

        self.current.store(Some(Arc::new(Snapshot {
            credentials,
            generation,
            windows,
            invalidated: AtomicBool::new(false),
        })));
        self.consecutive_failures.store(0, Ordering::Release);
        self.next_attempt_ms.store(0, Ordering::Release);
        self.last_error.store(None);

        tracing::debug!(
            source = self.source.kind(),
            generation,
            access_key_id = %access_key_id,
            expiry = expiry.map(format_rfc3339).as_deref().unwrap_or("never"),
            "credentials refreshed"
        );
        self.events.send_replace(RefreshEvent {
            generation,
            at: now,
            outcome: RefreshOutcome::Refreshed {
                access_key_id,
                expiry,
                source: self.source.kind(),
            },
        });
    }

    fn store_failure(&self, error: Error) {
        let now = self.clock.now();
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        let current = self.current.load();
        let valid_until = current
            .as_deref()
            .and_then(|snapshot| snapshot.credentials.expiry())
            .filter(|expiry| *expiry > now);
        let pause = self
            .policy
            .backoff_after(failures, error.is_retryable(), now, valid_until);
        // A backoff such as `Duration::MAX` saturates instead of
        // overflowing `SystemTime` or wrapping the millisecond count.
        let next_attempt_ms = match now.checked_add(pause) {
            Some(next_attempt) => {
                let since_epoch = next_attempt.duration_since(UNIX_EPOCH).unwrap_or_default();
                u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
            }
            None => u64::MAX,
        };
        self.next_attempt_ms
            .store(next_attempt_ms, Ordering::Release);

        let chain = error_chain(&error);
        let still_valid = valid_until.is_some() || is_static(current.as_deref());
        if still_valid {
            tracing::warn!(
                source = self.source.kind(),
                consecutive_failures = failures,
                retry_in_ms = pause.as_millis() as u64,
                valid_until = valid_until.map(format_rfc3339).as_deref().unwrap_or("never"),
                error = %chain,
                "credential refresh failed; still serving the current credentials"
            );
        } else {
            tracing::error!(
                source = self.source.kind(),
                consecutive_failures = failures,
                retry_in_ms = pause.as_millis() as u64,
                error = %chain,
                "credential refresh failed and no valid credentials are left; requests will fail"
            );
        }

        self.last_error.store(Some(Arc::new(error.clone())));
        self.events.send_replace(RefreshEvent {
            generation: self.generation.load(Ordering::Acquire),
            at: now,
            outcome: RefreshOutcome::Failed {
                error,
                consecutive_failures: failures,
            },
        });
    }

    /// Returns the current credentials if they may still sign, else the
    /// error that explains why not.
    fn usable_or_error(&self) -> Result<Credentials, Error> {
        let now = self.clock.now();
        let guard = self.current.load();
        let last_error = self.last_error.load_full();

        let Some(snapshot) = guard.as_deref() else {
            return Err(match last_error {
                Some(error) => (*error).clone(),
                None => self.timeout_error(),
            });
        };
        match snapshot.windows {
            Some(windows) if now >= windows.expiry => {
                let mut expired = Error::expired(format!(
                    "credentials from the {} source (access key id {}) expired at {} and no refresh replaced them; \
                     see the source error, or call refresh_now() once the source works",
                    self.source.kind(),
                    snapshot.credentials.access_key_id(),
                    format_rfc3339(windows.expiry),
                ));
                if let Some(error) = last_error {
                    // Attach the `Error` itself, not the `Arc` around it, so
                    // callers can downcast the source to this crate's `Error`.
                    expired = expired.with_source((*error).clone());
                }
                Err(expired)
            }
            _ => Ok(snapshot.credentials.clone()),
        }
    }

    fn timeout_error(&self) -> Error {
        Error::timeout(format!(
            "the {} source did not return credentials within {:?}; check that its endpoint is reachable, \
             or raise RefreshPolicy::refresh_timeout",
            self.source.kind(),
            self.policy.refresh_timeout
        ))
    }
}

/// Ends a fetch: opens the single-flight gate and wakes the waiters.
///
/// It runs on drop, so a source that panics (or a fetch task dropped at
/// runtime shutdown) still ends with a recorded failure instead of leaving
/// the gate shut and every later refresh waiting for it.
struct FetchGate<'a> {
    shared: &'a Shared,
    recorded: bool,
}

impl Drop for FetchGate<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            // A panic is a bug in the source, so it waits the maximum
            // backoff like other non-retryable errors.
            self.shared.store_failure(Error::configuration(format!(
                "the {} source panicked while fetching credentials; fix the source",
                self.shared.source.kind()
            )));
        }
        self.shared.refreshing.store(false, Ordering::Release);
        self.shared.finished.send_modify(|count| *count += 1);
    }
}

fn is_static(snapshot: Option<&Snapshot>) -> bool {
    snapshot.is_some_and(|snapshot| snapshot.windows.is_none())
}

/// Formats an error and its causes on one line, for logs.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        chain.push_str(": ");
        chain.push_str(&inner.to_string());
        cause = inner.source();
    }
    chain
}
