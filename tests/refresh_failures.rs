//! Behaviour of the credential store when its source fails: serve-stale,
//! backoff, expiry, rejected credentials, and what reaches the logs.

mod support;

use std::error::Error as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_refresh_session::clock::{Clock, TokioClock};
use aws_refresh_session::{Error, RefreshMode, RefreshPolicy};
use support::*;

const HOUR: Duration = Duration::from_secs(3600);

/// Attempts made at or after `from`, by the fake's call log.
fn attempts_since(source: &FakeSource, from: SystemTime) -> Vec<SystemTime> {
    source
        .call_times()
        .into_iter()
        .filter(|time| *time >= from)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn serve_stale_until_expiry_then_fail() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Background, secs(300), secs(60)),
    )
    .await;
    let expiry = start() + HOUR;
    source.set_fallback(Step::Fail(throttled()));

    // One request per second from T-300 s to T+5 s.
    sleep_until(&clock, expiry - secs(300)).await;
    let mut served = 0;
    let mut expired_errors = 0;
    for _ in 0..=305 {
        let now = clock.now();
        match store.credentials().await {
            Ok(credentials) => {
                assert!(now < expiry, "signed at {now:?}, after expiry");
                assert!(
                    credentials.expiry().unwrap() > clock.now(),
                    "handed out expired credentials"
                );
                assert_eq!(credentials.access_key_id(), key(1));
                served += 1;
            }
            Err(error) => {
                assert!(
                    now >= expiry,
                    "failed at {now:?} with valid credentials: {error}"
                );
                assert!(error.is_expired(), "{error:?}");
                let cause = error
                    .source()
                    .expect("the expired error carries the last refresh error");
                let cause = cause
                    .downcast_ref::<Error>()
                    .expect("the cause is the source's error");
                assert_eq!(cause.code(), Some("Throttling"));
                expired_errors += 1;
            }
        }
        tokio::time::sleep(secs(1)).await;
    }

    assert_eq!(served, 300, "every request before expiry got gen1");
    assert_eq!(expired_errors, 6, "every request from expiry on failed");
    let attempts = attempts_since(&source, expiry - secs(300));
    assert!(
        attempts.len() >= 4,
        "only {} attempts before expiry",
        attempts.len()
    );
    assert!(
        attempts.len() <= 40,
        "{} attempts for 306 requests",
        attempts.len()
    );
    let gaps: Vec<f64> = attempts
        .windows(2)
        .map(|pair| gap(pair[0], pair[1]))
        .collect();
    assert!(gaps[1] > gaps[0], "backoff did not grow: {gaps:?}");
    assert!(gaps[2] > gaps[1], "backoff did not grow: {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn non_retryable_error_waits_max_backoff() {
    let clock = TokioClock::new(start());
    let lifetime = secs(12 * 3600);
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime });
    let store = build(
        &source,
        &clock,
        RefreshPolicy::default().max_jitter(Duration::ZERO),
    )
    .await;
    let expiry = start() + lifetime;
    let advisory = secs(3600);
    source.set_fallback(Step::Fail(access_denied()));

    // A request every second through the whole advisory window.
    sleep_until(&clock, expiry - advisory).await;
    for _ in 0..3600 {
        if clock.now() < expiry {
            store.credentials().await.unwrap();
        }
        tokio::time::sleep(secs(1)).await;
    }

    let attempts = attempts_since(&source, expiry - advisory);
    let gaps: Vec<f64> = attempts
        .windows(2)
        .map(|pair| gap(pair[0], pair[1]))
        .collect();
    assert!(
        attempts.len() >= 4,
        "{} attempts: the store stopped retrying",
        attempts.len()
    );
    // 5 minutes, jittered on the upper half, while the expiry is far enough
    // away not to cap it.
    for pause in &gaps[..4] {
        assert!(
            *pause >= 150.0 - 0.01,
            "pause {pause} s after access denied: {gaps:?}"
        );
        assert!(
            *pause <= 300.0 + 0.01,
            "pause {pause} s after access denied: {gaps:?}"
        );
    }
    // Closer to expiry, a quarter of the remaining time caps the pause,
    // down to the 1 s floor: more attempts, but never a hot loop.
    for (index, pair) in attempts.windows(2).enumerate() {
        let cap = 300f64.min(gap(pair[0], expiry) / 4.0);
        let pause = gaps[index];
        assert!(
            pause >= (cap / 2.0).max(1.0) - 0.01,
            "pause {pause} s below half of {cap} s: {gaps:?}"
        );
    }
    let first_half_hour = attempts
        .iter()
        .filter(|time| **time < expiry - secs(1800))
        .count();
    assert!(
        first_half_hour <= 12,
        "{first_half_hour} attempts in 30 min: {gaps:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_and_caps_before_expiry() {
    let clock = TokioClock::new(start());
    let lifetime = secs(12 * 3600);
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime });
    let store = build(
        &source,
        &clock,
        RefreshPolicy::default().max_jitter(Duration::ZERO),
    )
    .await;
    let expiry = start() + lifetime;
    source.set_fallback(Step::Fail(throttled()));

    // No requests: the background task alone retries until expiry.
    sleep_until(&clock, expiry + secs(1)).await;

    let attempts = attempts_since(&source, expiry - secs(3600));
    assert!(
        attempts.len() >= 8,
        "only {} attempts before expiry",
        attempts.len()
    );
    for pair in attempts.windows(2) {
        let failures = attempts.iter().position(|time| *time == pair[0]).unwrap() as u32 + 1;
        let exponential = (5.0 * 2f64.powi(failures as i32 - 1)).min(300.0);
        let remaining = gap(pair[0], expiry);
        let cap = exponential.min(remaining / 4.0);
        let pause = gap(pair[0], pair[1]);
        assert!(
            pause <= cap.max(1.0) + 0.01,
            "failure {failures}: pause {pause} s above {cap} s"
        );
        assert!(
            pause >= (cap / 2.0).max(1.0) - 0.01,
            "failure {failures}: pause {pause} s below half of {cap} s"
        );
    }
    let last_minute = attempts
        .iter()
        .filter(|time| **time >= expiry - secs(60))
        .count();
    assert!(
        last_minute >= 3,
        "only {last_minute} attempts in the last minute before expiry"
    );
    assert!(store.credentials().await.unwrap_err().is_expired());
}

#[tokio::test(start_paused = true)]
async fn already_expired_credentials_rejected() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Expired { ago: secs(10) });
    let store = build(
        &source,
        &clock,
        RefreshPolicy::default().mode(RefreshMode::Deferred),
    )
    .await;

    let error = store.credentials().await.unwrap_err();

    assert!(error.is_credential(), "{error:?}");
    assert_eq!(error.parameter(), Some("expiration"));
    assert!(error.to_string().contains("already expired"), "{error}");
    assert_eq!(source.calls(), 1);
    assert_eq!(store.generation(), 0, "expired credentials are not stored");

    // An immediate second request gets the stored error during the
    // backoff instead of a new call in a tight loop.
    let again = store.credentials().await.unwrap_err();
    assert_eq!(again.parameter(), Some("expiration"));
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn background_build_rejects_expired_credentials() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Expired { ago: secs(10) });
    let shared: aws_refresh_session::clock::SharedClock = Arc::new(clock.clone());

    let error = aws_refresh_session::CredentialStore::builder(source.clone())
        .clock(shared)
        .build()
        .await
        .unwrap_err();

    assert_eq!(error.parameter(), Some("expiration"));
    assert_eq!(source.calls(), 1);
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn trace_logs_never_contain_secrets() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    // The runtime is single-threaded, so a thread-local default sees the
    // spawned refresh tasks too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Background, secs(300), secs(60)),
    )
    .await;
    let expiry = start() + HOUR;

    // A scheduled refresh, an invalidation, then failures through expiry.
    sleep_until(&clock, expiry - secs(299)).await;
    let second = store.credentials().await.unwrap();
    assert!(store.invalidate(second.access_key_id()));
    let third = store.credentials().await.unwrap();
    source.set_fallback(Step::Fail(throttled()));
    sleep_until(&clock, third.expiry().unwrap() + secs(30)).await;
    let expired = store.credentials().await.unwrap_err();
    tracing::info!(error = %expired, debug = ?expired, store = ?store, credentials = ?third, "test summary");

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(&key(1)), "the access key id is logged");
    assert!(
        logs.contains("credentials refreshed"),
        "successes are logged"
    );
    assert!(
        logs.contains("credential refresh failed"),
        "failures are logged"
    );
    assert!(
        logs.contains("no valid credentials are left"),
        "expiry is logged"
    );
    assert!(
        logs.contains("ERROR"),
        "failing requests are logged at error level"
    );
    assert!(!logs.contains(SECRET_MARK), "a secret key reached the logs");
    assert!(
        !logs.contains(TOKEN_MARK),
        "a session token reached the logs"
    );
}

#[tokio::test(start_paused = true)]
async fn mandatory_wait_bounded_by_timeout() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let policy = policy(RefreshMode::Deferred, secs(300), secs(60)).refresh_timeout(secs(10));
    let store = build(&source, &clock, policy).await;
    store.credentials().await.unwrap();
    let expiry = start() + HOUR;
    let source = source.with_latency(secs(3600));

    sleep_until(&clock, expiry - secs(40)).await;
    let asked_at = clock.now();
    let credentials = store.credentials().await.unwrap();

    assert_eq!(
        credentials.access_key_id(),
        key(1),
        "still-valid gen1 after the wait"
    );
    assert!(
        gap(asked_at, clock.now()) <= 10.0 + 0.01,
        "waited past the refresh timeout"
    );
    assert_eq!(source.calls(), 2);
    // The fetch's own timeout fires at the same instant as the waiter's.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let error = store
        .last_error()
        .expect("the hung fetch was recorded as failed");
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn cold_start_error_not_cached_forever() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    source.push(Step::Fail(access_denied()));
    let store = build(
        &source,
        &clock,
        RefreshPolicy::default().mode(RefreshMode::Deferred),
    )
    .await;

    let error = store.credentials().await.unwrap_err();
    assert_eq!(error.code(), Some("AccessDenied"));
    assert_eq!(source.calls(), 1);

    // The maximum backoff (5 minutes) later, a request fetches again.
    tokio::time::sleep(secs(301)).await;
    let credentials = store.credentials().await.unwrap();

    assert_eq!(credentials.access_key_id(), key(1));
    assert_eq!(source.calls(), 2);
    assert!(store.last_error().is_none(), "a success clears the error");
}

#[tokio::test(start_paused = true)]
async fn recovers_after_expiry_when_source_returns() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Background, secs(300), secs(60)),
    )
    .await;
    let expiry = start() + HOUR;
    source.set_fallback(Step::Fail(throttled()));

    sleep_until(&clock, expiry + secs(10)).await;
    assert!(store.credentials().await.unwrap_err().is_expired());
    source.set_fallback(Step::Succeed { lifetime: HOUR });
    // Past expiry the retryable backoff is at most 5 minutes.
    tokio::time::sleep(secs(301)).await;

    let credentials = store.credentials().await.unwrap();
    assert_eq!(credentials.access_key_id(), key(2));
    assert!(credentials.expiry().unwrap() > clock.now());
}

#[tokio::test(start_paused = true)]
async fn dead_refresher_request_path_refreshes() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let shared: aws_refresh_session::clock::SharedClock = Arc::new(clock.clone());
    let policy = policy(RefreshMode::Background, secs(300), secs(60));
    let (store, refresher) = aws_refresh_session::CredentialStore::builder(source.clone())
        .clock(shared)
        .policy(policy)
        .build_with_refresher()
        .await
        .unwrap();
    // The refresher is never run, as if its task had died.
    drop(refresher);
    let expiry = start() + HOUR;

    sleep_until(&clock, expiry - secs(200)).await;
    assert_eq!(
        source.calls(),
        1,
        "nothing refreshes without the task or a request"
    );
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(1));
    tokio::time::sleep(secs(1)).await;

    assert_eq!(source.calls(), 2);
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(2));
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiter_does_not_cancel_refresh() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR })
        .with_latency(Duration::from_millis(50));
    let store = build(
        &source,
        &clock,
        RefreshPolicy::default().mode(RefreshMode::Deferred),
    )
    .await;

    let cancelled = tokio::time::timeout(Duration::from_millis(10), store.credentials()).await;
    assert!(cancelled.is_err(), "the first waiter gave up");
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(source.calls(), 1);
    assert_eq!(
        store.generation(),
        1,
        "the refresh finished without its waiter"
    );
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(1));
    assert_eq!(source.calls(), 1);
}

/// A signing service invalidates on every `ExpiredToken`. While the source
/// fails, repeated reports about the same credentials must not bypass the
/// backoff and call the source once per failed request.
#[tokio::test(start_paused = true)]
async fn repeated_invalidation_respects_backoff() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(&source, &clock, RefreshPolicy::default()).await;
    source.set_fallback(Step::Fail(throttled()));

    // 100 rejected requests over 10 s, each reporting gen1.
    for _ in 0..100 {
        store.invalidate(&key(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(source.calls() >= 2, "the first invalidation refreshes");
    assert!(
        source.calls() <= 5,
        "{} fetches for 100 invalidations in 10 s",
        source.calls()
    );
}

/// A source that panics on its first call and then works.
#[derive(Debug, Default)]
struct PanicsOnce {
    calls: std::sync::atomic::AtomicUsize,
}

impl aws_refresh_session::CredentialSource for PanicsOnce {
    fn fetch(
        &self,
    ) -> aws_refresh_session::strategy::BoxFuture<'_, Result<aws_refresh_session::Credentials, Error>>
    {
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Box::pin(async move {
            if call == 1 {
                panic!("the source has a bug");
            }
            Ok(aws_refresh_session::Credentials::new(
                key(call),
                SECRET_MARK,
                None,
                None,
            ))
        })
    }

    fn kind(&self) -> &'static str {
        "panics-once"
    }
}

#[tokio::test(start_paused = true)]
async fn panicking_source_does_not_block_refreshes() {
    let source = Arc::new(PanicsOnce::default());
    let shared: aws_refresh_session::clock::SharedClock = Arc::new(TokioClock::new(start()));
    let store = aws_refresh_session::CredentialStore::builder(Arc::clone(&source))
        .clock(shared)
        .policy(RefreshPolicy::default().mode(RefreshMode::Deferred))
        .build()
        .await
        .unwrap();

    let error = tokio::time::timeout(secs(1), store.credentials())
        .await
        .expect("the request did not wait out the refresh timeout")
        .unwrap_err();
    assert!(error.to_string().contains("panicked"), "{error}");

    let credentials = store.refresh_now().await.unwrap();
    assert_eq!(credentials.access_key_id(), key(2));
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(2));
}
