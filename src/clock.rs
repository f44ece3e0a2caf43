//! Time, injected.
//!
//! Every decision about expiry and every `x-amz-date` comes from a [`Clock`],
//! so tests control time instead of sleeping. Production uses
//! [`SystemClock`]. Tests pick [`ManualClock`] when they set the time by hand,
//! or [`TokioClock`] when tokio's paused time should drive both the clock and
//! the background refresher's sleeps.
//!
//! This is the only module allowed to call `SystemTime::now` and
//! `Instant::now` (`clippy.toml` rejects them elsewhere).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Returns the current time.
    fn now(&self) -> SystemTime;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to.
///
/// Clones share one time, so a test can keep a clone and advance the clock
/// that a store or layer holds.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use aws_refresh_session::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_440_938_160));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_440_938_220));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// Creates a clock that reads `start` until moved.
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: SystemTime) {
        *self.lock() = now;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SystemTime> {
        // The guarded value is a plain `SystemTime`, so a poisoned lock still
        // holds a valid time.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.lock()
    }
}

/// A wall clock that advances with tokio's clock.
///
/// It reads `start` plus the tokio time elapsed since it was created. Under
/// `tokio::time::pause()` tokio's clock jumps ahead whenever every task is
/// asleep, so expiry checks and the refresher's timers stay in step without
/// real waiting.
#[derive(Clone, Debug)]
pub struct TokioClock {
    start: SystemTime,
    anchor: tokio::time::Instant,
}

impl TokioClock {
    /// Creates a clock that reads `start` now and moves with tokio's time.
    #[allow(clippy::disallowed_methods)]
    pub fn new(start: SystemTime) -> Self {
        TokioClock {
            start,
            anchor: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.start + self.anchor.elapsed()
    }
}

/// Returns the system clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::new(UNIX_EPOCH);
        let other = clock.clone();

        other.advance(Duration::from_secs(5));

        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = TokioClock::new(UNIX_EPOCH);

        tokio::time::sleep(Duration::from_secs(90)).await;

        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(90));
    }
}
