//! Behaviour of the credential store: single flight, windows, background
//! refresh, invalidation, deferred mode, shutdown and events.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_refresh_session::clock::{Clock, SharedClock, TokioClock};
use aws_refresh_session::refresh::{Lookup, RefreshEvent, RefreshOutcome};
use aws_refresh_session::{CredentialStore, RefreshMode, RefreshPolicy};
use futures_util::future::join_all;
use support::*;

const HOUR: Duration = Duration::from_secs(3600);

fn lookup_key(store: &CredentialStore) -> Option<String> {
    match store.lookup() {
        Lookup::Ready(current) => Some(current.access_key_id().to_owned()),
        Lookup::Wait => None,
    }
}

#[tokio::test(start_paused = true)]
async fn cold_start_is_single_flight() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR })
        .with_latency(Duration::from_millis(50));
    let store = build(
        &source,
        &clock,
        RefreshPolicy::default().mode(RefreshMode::Deferred),
    )
    .await;
    assert_eq!(source.calls(), 0, "deferred mode fetches nothing at build");

    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.credentials().await })
        })
        .collect();
    let results = join_all(tasks).await;

    assert_eq!(source.calls(), 1);
    for result in results {
        let credentials = result.unwrap().expect("every waiter gets credentials");
        assert_eq!(credentials.access_key_id(), key(1));
    }
}

#[tokio::test(start_paused = true)]
async fn mandatory_window_is_single_flight() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR })
        .with_latency(Duration::from_millis(50));
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Deferred, secs(300), secs(60)),
    )
    .await;
    store.credentials().await.unwrap();
    let expiry = start() + HOUR + Duration::from_millis(50);

    // Jump straight into the mandatory window without a request.
    sleep_until(&clock, expiry - secs(30)).await;
    assert_eq!(source.calls(), 1);
    assert!(
        lookup_key(&store).is_none(),
        "lookup waits inside the mandatory window"
    );

    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.credentials().await })
        })
        .collect();
    let results = join_all(tasks).await;

    assert_eq!(source.calls(), 2);
    for result in results {
        assert_eq!(result.unwrap().unwrap().access_key_id(), key(2));
    }
}

#[tokio::test(start_paused = true)]
async fn advisory_window_requests_never_wait() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR })
        .with_latency(Duration::from_millis(50));
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Deferred, secs(300), secs(60)),
    )
    .await;
    store.credentials().await.unwrap();
    let expiry = start() + HOUR + Duration::from_millis(50);
    sleep_until(&clock, expiry - secs(240)).await;

    let before = clock.now();
    assert_eq!(
        lookup_key(&store),
        Some(key(1)),
        "lookup is Ready with gen1"
    );
    let results = join_all((0..1000).map(|_| store.credentials())).await;
    let after = clock.now();

    assert_eq!(before, after, "no request waited for the refresh");
    for result in results {
        assert_eq!(result.unwrap().access_key_id(), key(1));
    }

    // Let the spawned fetch start; it then sleeps on its 50 ms latency.
    tokio::task::yield_now().await;
    assert_eq!(clock.now(), before);
    assert_eq!(
        source.calls(),
        2,
        "the first advisory request started one refresh"
    );
    assert_eq!(
        lookup_key(&store),
        Some(key(1)),
        "gen1 is served while the source sleeps"
    );

    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(source.calls(), 2);
    assert_eq!(lookup_key(&store), Some(key(2)));
}

#[tokio::test(start_paused = true)]
async fn background_refresh_within_jitter_bounds() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let advisory = secs(15 * 60);
    let jitter = secs(60);
    let policy = RefreshPolicy::default().max_jitter(jitter);
    let store = build(&source, &clock, policy).await;
    let expiry = start() + HOUR;
    assert_eq!(source.calls(), 1);

    sleep_until(&clock, expiry - advisory - jitter - secs(1)).await;
    assert_eq!(
        source.calls(),
        1,
        "no refresh before expiry - advisory - max jitter"
    );

    sleep_until(&clock, expiry - advisory + secs(1)).await;
    assert_eq!(source.calls(), 2, "the task refreshed without any request");
    let refreshed_at = source.call_times()[1];
    assert!(
        refreshed_at >= expiry - advisory - jitter,
        "{refreshed_at:?}"
    );
    assert!(refreshed_at <= expiry - advisory, "{refreshed_at:?}");
    assert_eq!(store.generation(), 2);
    assert_eq!(lookup_key(&store), Some(key(2)));
}

#[tokio::test(start_paused = true)]
async fn background_refresh_at_advisory_boundary() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Background, secs(300), secs(60)),
    )
    .await;
    let expiry = start() + HOUR;

    sleep_until(&clock, expiry - secs(301)).await;
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(1));
    assert_eq!(source.calls(), 1);

    sleep_until(&clock, expiry - secs(299)).await;
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(2));
    assert_eq!(source.calls(), 2);

    sleep_until(&clock, expiry - secs(1)).await;
    assert_eq!(store.credentials().await.unwrap().access_key_id(), key(2));
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn static_credentials_never_refresh() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Static);
    let store = build(&source, &clock, RefreshPolicy::default()).await;

    for _ in 0..30 {
        tokio::time::sleep(secs(24 * 3600)).await;
        assert_eq!(store.credentials().await.unwrap().access_key_id(), key(1));
    }

    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn invalidate_ignores_wrong_key() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(&source, &clock, RefreshPolicy::default()).await;

    assert!(!store.invalidate("ASIASOMEOTHERKEY"));
    tokio::time::sleep(secs(1)).await;

    assert_eq!(source.calls(), 1);
    assert_eq!(lookup_key(&store), Some(key(1)));
}

#[tokio::test(start_paused = true)]
async fn invalidate_current_key_refreshes_once() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR })
        .with_latency(Duration::from_millis(50));
    let store = build(&source, &clock, RefreshPolicy::default()).await;

    assert!(store.invalidate(&key(1)));
    assert!(
        lookup_key(&store).is_none(),
        "invalidated credentials are not handed out"
    );
    let results = join_all((0..100).map(|_| store.credentials())).await;

    for result in results {
        assert_eq!(result.unwrap().access_key_id(), key(2));
    }
    assert_eq!(source.calls(), 2);
    assert!(
        !store.invalidate(&key(1)),
        "a late report about gen1 is ignored"
    );
    tokio::time::sleep(secs(60)).await;
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_now_ignores_backoff() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(&source, &clock, RefreshPolicy::default()).await;

    source.push(Step::Fail(access_denied()));
    let error = store.refresh_now().await.unwrap_err();
    assert_eq!(error.code(), Some("AccessDenied"));
    assert_eq!(source.calls(), 2);

    let credentials = store.refresh_now().await.unwrap();

    assert_eq!(
        source.calls(),
        3,
        "the forced refresh ran despite the backoff"
    );
    assert_eq!(credentials.access_key_id(), key(2));
    assert_eq!(lookup_key(&store), Some(key(2)));
}

#[tokio::test(start_paused = true)]
async fn deferred_mode_refreshes_on_request() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR })
        .with_latency(Duration::from_millis(50));
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let store = build(
        &source,
        &clock,
        policy(RefreshMode::Deferred, secs(300), secs(60)),
    )
    .await;
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        baseline,
        "deferred mode spawns no background task"
    );
    store.credentials().await.unwrap();
    let expiry = start() + HOUR + Duration::from_millis(50);

    sleep_until(&clock, expiry - secs(200)).await;
    assert_eq!(source.calls(), 1, "nothing refreshed without a request");

    let first = store.credentials().await.unwrap();
    assert_eq!(
        first.access_key_id(),
        key(1),
        "the first advisory request does not wait"
    );
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 2);

    tokio::time::sleep(Duration::from_millis(60)).await;
    let later = store.credentials().await.unwrap();
    assert_eq!(later.access_key_id(), key(2));
    assert_eq!(source.calls(), 2);
}

/// With an advisory window longer than the lifetime, every request finds
/// the new credentials inside the advisory window. The minimum refresh
/// interval must still stop a fetch per request.
#[tokio::test(start_paused = true)]
async fn short_lifetime_not_fetched_per_request() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(
        clock.clone(),
        Step::Succeed {
            lifetime: secs(600),
        },
    );
    let policy = policy(RefreshMode::Deferred, secs(900), secs(60)).min_refresh_interval(secs(5));
    let store = build(&source, &clock, policy).await;

    // One request every 100 ms for 10 s.
    for _ in 0..100 {
        store.credentials().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        source.calls() <= 3,
        "{} fetches for 100 requests in 10 s",
        source.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_store_stops_refresher_task() {
    let clock = TokioClock::new(start());
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();

    for step in [Step::Succeed { lifetime: HOUR }, Step::Static] {
        let source = FakeSource::new(clock.clone(), step);
        let store = build(&source, &clock, RefreshPolicy::default()).await;
        let copy = store.clone();
        assert_eq!(
            metrics.num_alive_tasks(),
            baseline + 1,
            "the refresher runs"
        );

        drop(store);
        drop(copy);
        tokio::time::sleep(secs(1)).await;

        assert_eq!(metrics.num_alive_tasks(), baseline, "the refresher ended");
    }
}

#[tokio::test(start_paused = true)]
async fn handed_back_refresher_ends_on_drop() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let shared: SharedClock = Arc::new(clock.clone());
    let (store, refresher) = CredentialStore::builder(source.clone())
        .clock(shared)
        .build_with_refresher()
        .await
        .unwrap();
    let handle = tokio::spawn(
        refresher
            .expect("background mode hands back a refresher")
            .into_future(),
    );

    // Let it refresh once, so it has been through a full cycle.
    tokio::time::sleep(HOUR).await;
    assert_eq!(source.calls(), 2);
    assert!(!handle.is_finished());
    drop(store);

    let ended = tokio::time::timeout(secs(5), handle).await;

    assert!(
        ended.is_ok(),
        "the refresher did not end after the store was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn events_report_generations() {
    let clock = TokioClock::new(start());
    let source = FakeSource::new(clock.clone(), Step::Succeed { lifetime: HOUR });
    let store = build(&source, &clock, RefreshPolicy::default()).await;
    let mut events = store.subscribe();
    let first: RefreshEvent = events.borrow_and_update().clone();
    assert_eq!(first.generation, 1);
    assert!(matches!(first.outcome, RefreshOutcome::Refreshed { .. }));

    source.push(Step::Fail(throttled()));
    store.refresh_now().await.unwrap_err();
    events.changed().await.unwrap();
    let failed = events.borrow_and_update().clone();

    assert_eq!(failed.generation, 1, "a failure keeps the generation");
    match &failed.outcome {
        RefreshOutcome::Failed {
            error,
            consecutive_failures,
        } => {
            assert_eq!(error.code(), Some("Throttling"));
            assert_eq!(*consecutive_failures, 1);
        }
        other => panic!("expected Failed, got {other:?}"),
    }

    store.refresh_now().await.unwrap();
    events.changed().await.unwrap();
    let refreshed = events.borrow_and_update().clone();

    assert_eq!(refreshed.generation, 2);
    match &refreshed.outcome {
        RefreshOutcome::Refreshed {
            access_key_id,
            expiry,
            source,
        } => {
            assert_eq!(access_key_id, &key(2));
            assert_eq!(*expiry, Some(refreshed.at + HOUR));
            assert_eq!(*source, "fake");
        }
        other => panic!("expected Refreshed, got {other:?}"),
    }
    let printed = format!("{refreshed:?} {failed:?}");
    assert!(!printed.contains(SECRET_MARK), "{printed}");
    assert!(!printed.contains(TOKEN_MARK), "{printed}");
}

/// On a multi-threaded runtime a request can find gen1 in the mandatory
/// window, lose the race to the refresh that replaces it, and must then
/// use gen2 instead of starting a second fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mandatory_window_single_flight_across_threads() {
    use aws_refresh_session::clock::ManualClock;

    for trial in 0..2000 {
        let clock = ManualClock::new(start());
        let source = CountingInstant::default();
        let shared: SharedClock = Arc::new(clock.clone());
        let store = CredentialStore::builder(source.clone())
            .clock(shared)
            .policy(policy(RefreshMode::Deferred, secs(300), secs(60)))
            .build()
            .await
            .unwrap();
        store.credentials().await.unwrap();
        clock.advance(HOUR - secs(30));

        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .credentials()
                        .await
                        .map(|c| c.access_key_id().to_owned())
                })
            })
            .collect();
        let results = join_all(tasks).await;

        assert_eq!(
            source.calls(),
            2,
            "trial {trial}: a request started a second fetch"
        );
        for result in results {
            assert_eq!(result.unwrap().unwrap(), key(2), "trial {trial}");
        }
    }
}

/// An instant source for the multi-threaded test, where `FakeSource`'s
/// tokio-clock timestamps do not apply.
#[derive(Clone, Debug, Default)]
struct CountingInstant {
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingInstant {
    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_refresh_session::CredentialSource for CountingInstant {
    fn fetch(
        &self,
    ) -> aws_refresh_session::strategy::BoxFuture<
        '_,
        Result<aws_refresh_session::Credentials, aws_refresh_session::Error>,
    > {
        let generation = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Box::pin(async move {
            Ok(aws_refresh_session::Credentials::new(
                key(generation),
                format!("{SECRET_MARK}{generation}"),
                None,
                Some(start() + HOUR * generation as u32),
            ))
        })
    }

    fn kind(&self) -> &'static str {
        "counting"
    }
}

#[tokio::test(start_paused = true)]
async fn invalidated_static_credentials_wait() {
    let clock = TokioClock::new(start());
    let source =
        FakeSource::new(clock.clone(), Step::Static).with_latency(Duration::from_millis(50));
    let store = build(&source, &clock, RefreshPolicy::default()).await;

    assert!(store.invalidate(&key(1)));
    assert!(
        lookup_key(&store).is_none(),
        "invalidated static credentials are not handed out"
    );
    let credentials = store.credentials().await.unwrap();

    assert_eq!(credentials.access_key_id(), key(2));
    assert_eq!(source.calls(), 2);
}
