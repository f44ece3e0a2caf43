//! `RefreshableSession` without a network: builder errors, clones sharing
//! one store and one refresher, consistent credentials, refresh events and
//! the client cache.
//!
//! The source is a counting `CustomSource` whose call `n` returns the access
//! key `AKIDGEN<n>`, the secret `secret-gen<n>` and the token
//! `token-gen<n>`, valid for 15 minutes on the session's clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use aws_refresh_session::clock::{SharedClock, TokioClock};
use aws_refresh_session::refresh::RefreshOutcome;
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{Credentials, Error, RefreshPolicy, RefreshableSession, Strategy};

/// 2026-12-04T16:00:00Z.
fn start() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_400_000)
}

/// A source whose call `n` returns generation `n`, valid for 15 minutes.
/// `alive` is captured by the source, so its strong count shows whether the
/// source (and the store that owns it) still exists.
fn counting_source(clock: SharedClock, calls: Arc<AtomicU32>, alive: Arc<()>) -> CustomSource {
    CustomSource::new("counting", move || {
        let _alive = &alive;
        let generation = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let expiry = clock.now() + Duration::from_secs(15 * 60);
        async move {
            Ok(Credentials::new(
                format!("AKIDGEN{generation}"),
                format!("secret-gen{generation}"),
                Some(format!("token-gen{generation}")),
                Some(expiry),
            ))
        }
    })
}

struct Counted {
    session: RefreshableSession,
    calls: Arc<AtomicU32>,
    alive: Arc<()>,
}

async fn counted_session() -> Counted {
    counted_session_with(|builder| builder).await
}

async fn counted_session_with(
    configure: impl FnOnce(aws_refresh_session::SessionBuilder) -> aws_refresh_session::SessionBuilder,
) -> Counted {
    let clock: SharedClock = Arc::new(TokioClock::new(start()));
    let calls = Arc::new(AtomicU32::new(0));
    let alive = Arc::new(());
    let source = counting_source(clock.clone(), Arc::clone(&calls), Arc::clone(&alive));
    let builder = RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .clock(clock);
    let session = configure(builder)
        .build()
        .await
        .expect("building the session from the counting source failed");
    Counted {
        session,
        calls,
        alive,
    }
}

fn custom_strategy() -> Strategy {
    Strategy::custom(CustomSource::new("static", || async {
        Ok(Credentials::new("AKIDSTATIC", "secret-static", None, None))
    }))
}

#[tokio::test]
async fn builder_without_strategy_fails() {
    let error = RefreshableSession::builder().build().await.unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains("strategy"), "{error}");
}

#[tokio::test]
async fn builder_rejects_invalid_policy() {
    let policy = RefreshPolicy::default()
        .advisory_window(Duration::from_secs(10))
        .mandatory_window(Duration::from_secs(60));

    let error = RefreshableSession::builder()
        .strategy(custom_strategy())
        .policy(policy)
        .build()
        .await
        .unwrap_err();

    assert!(error.is_validation(), "{error:?}");
    assert_eq!(error.parameter(), Some("advisory_window"));
}

#[cfg(feature = "client")]
#[tokio::test]
async fn builder_rejects_zero_cache_size() {
    let error = RefreshableSession::builder()
        .strategy(custom_strategy())
        .client_cache_size(0)
        .build()
        .await
        .unwrap_err();

    assert!(error.is_validation(), "{error:?}");
    assert_eq!(error.parameter(), Some("max_size"));
    assert_eq!(error.value(), Some("0"));
}

#[tokio::test]
async fn builder_reports_first_fetch_error() {
    let source = CustomSource::new("broken", || async {
        Err::<Credentials, _>(Error::connection(
            "connecting to the broker at 127.0.0.1:9 failed; check that it runs",
        ))
    });

    let error = RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .build()
        .await
        .unwrap_err();

    assert!(error.is_connection(), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_refresher() {
    let Counted { session, calls, .. } = counted_session().await;
    let clone = session.clone();
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // 15-minute credentials refresh 5 minutes (less up to 60 s of jitter)
    // before expiry, so 12 minutes hold exactly one background refresh.
    tokio::time::sleep(Duration::from_secs(12 * 60)).await;

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        session.credentials().await.unwrap().access_key_id(),
        "AKIDGEN2"
    );
    assert_eq!(
        clone.credentials().await.unwrap().access_key_id(),
        "AKIDGEN2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_through_clone_reaches_original() {
    let Counted { session, calls, .. } = counted_session().await;
    let clone = session.clone();

    clone.refresh_now().await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        session.credentials().await.unwrap().access_key_id(),
        "AKIDGEN2"
    );
    assert_eq!(session.store().generation(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_clone_reads_fetch_once() {
    let Counted { session, calls, .. } = counted_session().await;
    // After invalidation every reader must wait for the one refresh.
    let clones: Vec<_> = (0..8).map(|_| session.clone()).collect();
    assert!(session.invalidate("AKIDGEN1"));

    let mut readers = Vec::new();
    for clone in clones {
        readers.push(tokio::spawn(async move { clone.credentials().await }));
    }
    for reader in readers {
        let credentials = reader.await.unwrap().unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDGEN2");
    }

    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[cfg(feature = "client")]
#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_refresher() {
    let Counted {
        session,
        calls,
        alive,
    } = counted_session().await;
    let clone = session.clone();
    let layer = session.layer("sts", "us-east-1").unwrap();
    let client = session
        .client_with(
            aws_refresh_session::SigningSettings::new("sts", "us-east-1"),
            "http://127.0.0.1:9",
        )
        .unwrap();
    assert_eq!(Arc::strong_count(&alive), 2);

    drop(session);
    drop(clone);
    drop(layer);
    // The client alone still keeps the store, and so the refresher, alive.
    tokio::time::sleep(Duration::from_secs(12 * 60)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    drop(client);
    tokio::time::sleep(Duration::from_secs(2 * 60 * 60)).await;

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(Arc::strong_count(&alive), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_come_from_one_generation() {
    let Counted { session, .. } = counted_session().await;

    let refresher = {
        let session = session.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                session.refresh_now().await.unwrap();
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let session = session.clone();
        readers.push(tokio::spawn(async move {
            let mut checked = 0;
            for _ in 0..500 {
                let credentials = session.credentials().await.unwrap();
                let generation = credentials
                    .access_key_id()
                    .strip_prefix("AKIDGEN")
                    .unwrap()
                    .to_owned();
                assert_eq!(
                    credentials.secret_access_key(),
                    format!("secret-gen{generation}")
                );
                assert_eq!(
                    credentials.session_token(),
                    Some(format!("token-gen{generation}").as_str())
                );
                checked += 1;
                tokio::task::yield_now().await;
            }
            checked
        }));
    }

    refresher.await.unwrap();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), 500);
    }
    assert_eq!(session.store().generation(), 51);
}

#[tokio::test(start_paused = true)]
async fn subscribe_delivers_refreshed_event() {
    let Counted { session, .. } = counted_session().await;
    let mut events = session.subscribe();

    let credentials = session.refresh_now().await.unwrap();

    assert!(events.has_changed().unwrap());
    let event = events.borrow_and_update().clone();
    assert_eq!(event.generation, 2);
    match &event.outcome {
        RefreshOutcome::Refreshed {
            access_key_id,
            expiry,
            source,
        } => {
            assert_eq!(access_key_id, "AKIDGEN2");
            assert_eq!(*expiry, credentials.expiry());
            assert!(expiry.is_some());
            assert_eq!(*source, "counting");
        }
        other => panic!("expected a Refreshed event, got {other:?}"),
    }
    let printed = format!("{event:?}");
    assert!(!printed.contains("secret-gen"), "{printed}");
    assert!(!printed.contains("token-gen"), "{printed}");
}

#[tokio::test(start_paused = true)]
async fn subscribe_delivers_failed_event() {
    let clock: SharedClock = Arc::new(TokioClock::new(start()));
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let source_clock = clock.clone();
    let source = CustomSource::new("flaky", move || {
        let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
        let expiry = source_clock.now() + Duration::from_secs(15 * 60);
        async move {
            if call == 1 {
                Ok(Credentials::new(
                    "AKIDGEN1",
                    "secret-gen1",
                    Some("token-gen1".to_owned()),
                    Some(expiry),
                ))
            } else {
                Err(Error::connection(
                    "connecting to the broker at 127.0.0.1:9 failed; check that it runs",
                ))
            }
        }
    });
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .clock(clock)
        .build()
        .await
        .unwrap();
    let mut events = session.subscribe();

    let error = session.refresh_now().await.unwrap_err();

    assert!(error.is_connection(), "{error:?}");
    let event = events.borrow_and_update().clone();
    assert_eq!(event.generation, 1);
    match &event.outcome {
        RefreshOutcome::Failed {
            error,
            consecutive_failures,
        } => {
            assert!(error.is_connection());
            assert_eq!(*consecutive_failures, 1);
        }
        other => panic!("expected a Failed event, got {other:?}"),
    }
    let printed = format!("{event:?}");
    assert!(!printed.contains("secret-gen"), "{printed}");
    assert!(!printed.contains("token-gen"), "{printed}");
    // The old credentials are still served.
    assert_eq!(
        session.credentials().await.unwrap().access_key_id(),
        "AKIDGEN1"
    );
}

#[tokio::test]
async fn session_debug_hides_secrets() {
    let Counted { session, .. } = counted_session().await;

    let printed = format!("{session:?}");

    assert!(printed.contains("AKIDGEN1"), "{printed}");
    assert!(!printed.contains("secret-gen"), "{printed}");
    assert!(!printed.contains("token-gen"), "{printed}");
}

#[cfg(feature = "client")]
mod client_cache {
    use super::*;
    use aws_refresh_session::SigningSettings;

    const LOCAL: &str = "http://127.0.0.1:9";
    const OTHER_LOCAL: &str = "http://127.0.0.1:10";

    #[tokio::test]
    async fn same_service_region_hits_cache() {
        let Counted { session, .. } = counted_session().await;

        let first = session
            .client_with(SigningSettings::new("sts", "us-east-1"), LOCAL)
            .unwrap();
        let second = session
            .client_with(SigningSettings::new("sts", "us-east-1"), LOCAL)
            .unwrap();

        let cache = session.client_cache();
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.misses(), 1);
        assert_eq!(cache.hits(), 1);
        assert_eq!(first.cache_key(), second.cache_key());
    }

    #[tokio::test]
    async fn other_region_or_endpoint_adds_entry() {
        let Counted { session, .. } = counted_session().await;

        session
            .client_with(SigningSettings::new("sts", "us-east-1"), LOCAL)
            .unwrap();
        session
            .client_with(SigningSettings::new("sts", "eu-west-1"), LOCAL)
            .unwrap();
        session
            .client_with(SigningSettings::new("sts", "us-east-1"), OTHER_LOCAL)
            .unwrap();
        session
            .client_with(
                SigningSettings::new("sts", "us-east-1").content_sha256_header(true),
                LOCAL,
            )
            .unwrap();

        let cache = session.client_cache();
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.hits(), 0);
        assert_eq!(cache.misses(), 4);
    }

    #[tokio::test]
    async fn lru_evicts_beyond_max_size() {
        let Counted { session, .. } =
            counted_session_with(|builder| builder.client_cache_size(2)).await;

        let oldest = session
            .client_with(SigningSettings::new("sts", "us-east-1"), LOCAL)
            .unwrap();
        session
            .client_with(SigningSettings::new("sts", "us-west-2"), LOCAL)
            .unwrap();
        session
            .client_with(SigningSettings::new("sts", "eu-west-1"), LOCAL)
            .unwrap();

        let cache = session.client_cache();
        assert_eq!(cache.max_size(), 2);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.evictions(), 1);
        assert!(!cache.contains(oldest.cache_key()));
    }

    #[tokio::test]
    async fn disabled_cache_builds_each_time() {
        let Counted { session, .. } =
            counted_session_with(|builder| builder.disable_client_cache()).await;

        session
            .client_with(SigningSettings::new("sts", "us-east-1"), LOCAL)
            .unwrap();
        session
            .client_with(SigningSettings::new("sts", "us-east-1"), LOCAL)
            .unwrap();

        let cache = session.client_cache();
        assert!(!cache.is_enabled());
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.hits(), 0);
        assert_eq!(cache.misses(), 2);
    }

    #[tokio::test]
    async fn invalid_endpoint_is_not_cached() {
        let Counted { session, .. } = counted_session().await;

        let error = session
            .client_with(SigningSettings::new("sts", "us-east-1"), "127.0.0.1:9")
            .unwrap_err();

        assert_eq!(error.parameter(), Some("endpoint"));
        assert_eq!(session.client_cache().len(), 0);
    }

    #[tokio::test]
    async fn invalid_region_is_rejected() {
        let Counted { session, .. } = counted_session().await;

        let error = session
            .client_with(SigningSettings::new("sts", "us east 1"), LOCAL)
            .unwrap_err();

        assert_eq!(error.parameter(), Some("region"));
        assert_eq!(session.client_cache().len(), 0);
    }
}
