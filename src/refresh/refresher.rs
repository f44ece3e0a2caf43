//! The background task that refreshes ahead of expiry.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::Instrument;

use super::store::{CredentialStore, Shared};

/// The background refresher of one [`CredentialStore`], as a future.
///
/// [`StoreBuilder::build`](super::StoreBuilder::build) spawns it on the
/// current runtime; [`StoreBuilder::build_with_refresher`](super::StoreBuilder::build_with_refresher)
/// hands it back to run elsewhere. It sleeps until the scheduled refresh
/// time (or the end of a backoff), refreshes, and repeats. It holds only a
/// weak handle while it sleeps and ends when the last store handle is
/// dropped. It runs in the tracing span that was current when it was built.
pub struct Refresher {
    future: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresher").finish_non_exhaustive()
    }
}

impl Refresher {
    pub(crate) fn new(store: &CredentialStore) -> Self {
        let weak = Arc::downgrade(&store.shared);
        let wake = Arc::clone(&store.shared.wake);
        let span = tracing::debug_span!("credential_refresher", source = store.source_kind());
        Refresher {
            future: Box::pin(run(weak, wake).instrument(span)),
        }
    }
}

impl IntoFuture for Refresher {
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        self.future
    }
}

async fn run(weak: Weak<Shared>, wake: Arc<Notify>) {
    while let Some(delay) = next_delay(&weak) {
        // Sleep holding only the weak handle, so dropping the store ends us.
        match delay {
            Some(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }

        let Some(shared) = weak.upgrade() else {
            break;
        };
        if let Some(generation) = shared.refresh_due(shared.clock.now()) {
            let mut finished = shared.finished();
            let seen = *finished.borrow_and_update();
            // Passing the generation makes a request-path fetch that already
            // replaced it win the race instead of causing a second fetch.
            if shared.start_refresh(false, Some(generation)) || shared.is_refreshing() {
                // The fetch task has its own timeout; wait for it without
                // keeping the store alive longer than the fetch does.
                drop(shared);
                let _ = finished.wait_for(|count| *count > seen).await;
            }
        }
    }
    tracing::debug!("credential store dropped; background refresher stopped");
}

/// Returns `None` when the store is gone, `Some(None)` to sleep until woken
/// (static credentials), or `Some(Some(delay))`.
fn next_delay(weak: &Weak<Shared>) -> Option<Option<Duration>> {
    let shared = weak.upgrade()?;
    let now = shared.clock.now();
    Some(
        shared
            .next_wake()
            .map(|wake_at| wake_at.duration_since(now).unwrap_or(Duration::ZERO)),
    )
}
