//! Hot-path credential reads while a writer replaces the credentials every
//! millisecond.
//!
//! Two reader threads each read the access key `iters` times, and criterion
//! gets their mean elapsed time, so a sample is the per-read cost under
//! contention. The same thread setup measures two stores:
//!
//! - `credential_store_lookup`: [`CredentialStore::lookup`], the signing
//!   path (an `ArcSwap` load plus the expiry-window checks), fed by
//!   `refresh_now()` with an instant source;
//! - `rwlock_arc_clone`: a `std::sync::RwLock<Arc<Credentials>>` read and an
//!   `Arc` clone, fed by replacing the `Arc` under the write lock;
//! - `rwlock_arc_clone_expiry_check`: the same plus the clock read and
//!   expiry comparison that `lookup` also does, for a like-for-like ratio.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, RwLock};
use std::thread;
use std::time::Duration;

use aws_refresh_session::clock;
use aws_refresh_session::refresh::Lookup;
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials, RefreshMode, RefreshPolicy};
use criterion::{Criterion, criterion_group, criterion_main};

const READERS: usize = 2;
const WRITE_EVERY: Duration = Duration::from_millis(1);
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

fn fresh_credentials() -> Credentials {
    Credentials::new(
        "ASIABENCHEXAMPLE",
        "benchSecretKey",
        Some("benchSessionToken".into()),
        Some(clock::system().now() + LIFETIME),
    )
}

/// Runs `write` every millisecond on one thread and `read` `iters` times on
/// each of the reader threads. Returns the readers' mean elapsed time.
fn contended<R, W>(iters: u64, read: R, write: W) -> Duration
where
    R: Fn() + Send + Sync + 'static,
    W: Fn() + Send + 'static,
{
    let read = Arc::new(read);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(READERS + 1));

    let writer = {
        let stop = Arc::clone(&stop);
        let start = Arc::clone(&start);
        thread::spawn(move || {
            start.wait();
            while !stop.load(Ordering::Relaxed) {
                write();
                thread::sleep(WRITE_EVERY);
            }
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let read = Arc::clone(&read);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                // Measuring elapsed time is what a benchmark is for; the
                // crate's clock rule is about credential expiry.
                #[allow(clippy::disallowed_methods)]
                let began = std::time::Instant::now();
                for _ in 0..iters {
                    read();
                }
                began.elapsed()
            })
        })
        .collect();

    let total: Duration = readers
        .into_iter()
        .map(|reader| reader.join().expect("reader thread panicked"))
        .sum();
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread panicked");
    total / READERS as u32
}

fn bench_reads(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let source = CustomSource::new("bench", || async { Ok(fresh_credentials()) });
    let store = runtime
        .block_on(
            CredentialStore::builder(source)
                .policy(RefreshPolicy::default().mode(RefreshMode::Background))
                .build(),
        )
        .expect("store builds");

    let mut group = c.benchmark_group("credential_read_under_writer");

    group.bench_function("credential_store_lookup", |b| {
        b.iter_custom(|iters| {
            let reader = store.clone();
            let writer = store.clone();
            let handle = runtime.handle().clone();
            contended(
                iters,
                move || match reader.lookup() {
                    Lookup::Ready(current) => {
                        black_box(current.access_key_id().len());
                    }
                    Lookup::Wait => panic!("fresh credentials must not wait"),
                },
                move || {
                    handle
                        .block_on(writer.refresh_now())
                        .expect("instant source refreshes");
                },
            )
        });
    });

    let lock = Arc::new(RwLock::new(Arc::new(fresh_credentials())));
    group.bench_function("rwlock_arc_clone", |b| {
        b.iter_custom(|iters| {
            let reader = Arc::clone(&lock);
            let writer = Arc::clone(&lock);
            contended(
                iters,
                move || {
                    let credentials = Arc::clone(&reader.read().expect("lock poisoned"));
                    black_box(credentials.access_key_id().len());
                },
                move || {
                    *writer.write().expect("lock poisoned") = Arc::new(fresh_credentials());
                },
            )
        });
    });

    // The store's lookup also reads the clock to check the expiry windows;
    // this variant adds the same clock read and comparison to the baseline.
    group.bench_function("rwlock_arc_clone_expiry_check", |b| {
        b.iter_custom(|iters| {
            let reader = Arc::clone(&lock);
            let writer = Arc::clone(&lock);
            let clock = clock::system();
            contended(
                iters,
                move || {
                    let credentials = Arc::clone(&reader.read().expect("lock poisoned"));
                    let fresh = credentials
                        .expiry()
                        .is_some_and(|expiry| clock.now() < expiry);
                    black_box((fresh, credentials.access_key_id().len()));
                },
                move || {
                    *writer.write().expect("lock poisoned") = Arc::new(fresh_credentials());
                },
            )
        });
    });

    group.finish();
}

criterion_group!(benches, bench_reads);
criterion_main!(benches);
