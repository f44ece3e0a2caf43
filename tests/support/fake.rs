//! A scripted, counting credential source and helpers for the refresh tests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_refresh_session::clock::{Clock, SharedClock, TokioClock};
use aws_refresh_session::strategy::{BoxFuture, CredentialSource};
use aws_refresh_session::{CredentialStore, Credentials, Error, RefreshMode, RefreshPolicy};

/// 2026-12-04T19:20:00Z, the start of every test's clock.
pub const START_SECS: u64 = 1_796_412_000;

/// Marks every secret key the fake hands out, so a test can search for it.
pub const SECRET_MARK: &str = "fakeSECRETkey";
/// Marks every session token the fake hands out.
pub const TOKEN_MARK: &str = "fakeSESSIONtoken";

pub fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START_SECS)
}

/// Returns the access key id of the `generation`-th successful fetch.
pub fn key(generation: usize) -> String {
    format!("ASIAGEN{generation}EXAMPLE")
}

/// What the fake does on one call.
#[derive(Clone, Debug)]
pub enum Step {
    /// Returns credentials that expire `lifetime` after the call.
    Succeed { lifetime: Duration },
    /// Returns credentials without an expiry.
    Static,
    /// Returns credentials that expired `ago` before the call.
    Expired { ago: Duration },
    /// Fails with this error.
    Fail(Error),
}

/// Returns a throttling error, as STS sends it: retryable.
pub fn throttled() -> Error {
    Error::request(400, Some("Throttling".into()), "rate exceeded")
}

/// Returns an access-denied error: not retryable.
pub fn access_denied() -> Error {
    Error::request(
        403,
        Some("AccessDenied".into()),
        "not authorized to assume the role",
    )
}

#[derive(Debug)]
struct Inner {
    clock: TokioClock,
    latency: Mutex<Duration>,
    script: Mutex<VecDeque<Step>>,
    fallback: Mutex<Step>,
    calls: AtomicUsize,
    successes: AtomicUsize,
    call_times: Mutex<Vec<SystemTime>>,
}

/// A credential source that counts its calls, sleeps `latency` on tokio's
/// clock, and plays scripted steps before falling back to a default step.
#[derive(Clone, Debug)]
pub struct FakeSource {
    inner: Arc<Inner>,
}

impl FakeSource {
    pub fn new(clock: TokioClock, fallback: Step) -> Self {
        FakeSource {
            inner: Arc::new(Inner {
                clock,
                latency: Mutex::new(Duration::ZERO),
                script: Mutex::new(VecDeque::new()),
                fallback: Mutex::new(fallback),
                calls: AtomicUsize::new(0),
                successes: AtomicUsize::new(0),
                call_times: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn with_latency(self, latency: Duration) -> Self {
        *self.inner.latency.lock().unwrap() = latency;
        self
    }

    /// Queues `step` for the next calls, before the fallback.
    pub fn push(&self, step: Step) {
        self.inner.script.lock().unwrap().push_back(step);
    }

    /// Changes what every call does once the queued steps are used up.
    pub fn set_fallback(&self, step: Step) {
        *self.inner.fallback.lock().unwrap() = step;
    }

    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// When each call started, by the test clock.
    pub fn call_times(&self) -> Vec<SystemTime> {
        self.inner.call_times.lock().unwrap().clone()
    }
}

impl CredentialSource for FakeSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.calls.fetch_add(1, Ordering::SeqCst);
            inner.call_times.lock().unwrap().push(inner.clock.now());
            let step = inner
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| inner.fallback.lock().unwrap().clone());

            let latency = *inner.latency.lock().unwrap();
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }

            let now = inner.clock.now();
            let expiry = match step {
                Step::Fail(error) => return Err(error),
                Step::Succeed { lifetime } => Some(now + lifetime),
                Step::Static => None,
                Step::Expired { ago } => Some(now - ago),
            };
            let generation = inner.successes.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Credentials::new(
                key(generation),
                format!("{SECRET_MARK}{generation}/+="),
                Some(format!("{TOKEN_MARK}{generation}+/=")),
                expiry,
            ))
        })
    }

    fn kind(&self) -> &'static str {
        "fake"
    }
}

/// Returns a store policy with the given mode, fixed windows and no jitter.
pub fn policy(mode: RefreshMode, advisory: Duration, mandatory: Duration) -> RefreshPolicy {
    RefreshPolicy::default()
        .mode(mode)
        .advisory_window(advisory)
        .mandatory_window(mandatory)
        .max_jitter(Duration::ZERO)
}

pub async fn build(
    source: &FakeSource,
    clock: &TokioClock,
    policy: RefreshPolicy,
) -> CredentialStore {
    let shared: SharedClock = Arc::new(clock.clone());
    CredentialStore::builder(source.clone())
        .clock(shared)
        .policy(policy)
        .build()
        .await
        .expect("the store builds")
}

/// Sleeps on tokio's paused clock until the test clock reads `at`.
pub async fn sleep_until(clock: &TokioClock, at: SystemTime) {
    let now = clock.now();
    let delay = at
        .duration_since(now)
        .expect("sleep_until a time in the past");
    tokio::time::sleep(delay).await;
}

pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Seconds from `from` to `to`, as a float.
pub fn gap(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap().as_secs_f64()
}
