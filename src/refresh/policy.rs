//! When to refresh, how long a request may wait, and how to back off.
//!
//! Let `r` be the time left before the credentials expire:
//!
//! - `r` above the advisory window: use the credentials as they are.
//! - `r` inside the advisory window: refresh in the background; requests
//!   keep signing with the current credentials and never wait.
//! - `r` inside the mandatory window: a request waits (up to the refresh
//!   timeout) for the one in-flight refresh, then signs with whatever is
//!   still valid.
//! - `r <= 0`: a request fails with an expired error; it never signs with
//!   expired credentials.

use std::time::{Duration, SystemTime};

use crate::error::Error;

/// The advisory window for credentials that live 20 minutes or less.
pub const DEFAULT_ADVISORY_WINDOW_SHORT: Duration = Duration::from_secs(5 * 60);
/// The advisory window for credentials that live under 90 minutes.
pub const DEFAULT_ADVISORY_WINDOW_MEDIUM: Duration = Duration::from_secs(15 * 60);
/// The advisory window for credentials that live 90 minutes or more.
pub const DEFAULT_ADVISORY_WINDOW_LONG: Duration = Duration::from_secs(60 * 60);
/// The mandatory window: 60 seconds.
pub const DEFAULT_MANDATORY_WINDOW: Duration = Duration::from_secs(60);
/// How long one fetch, and a request waiting for it, may take: 60 seconds.
///
/// It is longer than the sources' own limits (30 s for an MFA or
/// `credential_process` command, 20 s for one STS call, 10 s for the IoT
/// provider), so their more specific timeout errors reach the caller first.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(60);
/// The upper bound of the random head start taken off the scheduled
/// refresh time, so a fleet started together does not call STS together:
/// 60 seconds.
pub const DEFAULT_MAX_JITTER: Duration = Duration::from_secs(60);
/// The first backoff after a retryable failure: 5 seconds, doubling after
/// each further failure.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(5);
/// The longest backoff, and the backoff after a failure that is not
/// retryable: 5 minutes.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// The shortest time between two scheduled refreshes: 5 seconds. It stops
/// credentials that live shorter than their advisory window from being
/// refreshed in a loop.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The shortest pause between two failed attempts, however close the expiry.
const MIN_BACKOFF: Duration = Duration::from_secs(1);

/// How many attempts a backoff leaves at least before the credentials
/// expire.
const ATTEMPTS_BEFORE_EXPIRY: u32 = 4;

/// Whether a background task refreshes the credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshMode {
    /// A background task refreshes at `expiry - advisory - jitter`, and
    /// retries failures with backoff. The default.
    #[default]
    Background,
    /// No task: the first request inside the advisory window starts the
    /// refresh without waiting for it (the Python original's
    /// `defer_refresh=True`). The first credentials are fetched by the first
    /// request rather than when the store is built.
    Deferred,
}

/// The advisory window: fixed, or chosen by the credentials' lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdvisoryWindow {
    /// 5 minutes for credentials that live 20 minutes or less, 15 minutes
    /// below 90 minutes, 60 minutes otherwise, and never more than three
    /// quarters of the lifetime. The default.
    #[default]
    ByLifetime,
    /// A fixed window.
    Fixed(Duration),
}

/// The rules the credential store refreshes by.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aws_refresh_session::refresh::{RefreshMode, RefreshPolicy};
///
/// let policy = RefreshPolicy::default()
///     .advisory_window(Duration::from_secs(10 * 60))
///     .mandatory_window(Duration::from_secs(2 * 60))
///     .mode(RefreshMode::Deferred);
/// assert!(policy.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    pub(crate) mode: RefreshMode,
    pub(crate) advisory: AdvisoryWindow,
    pub(crate) mandatory: Duration,
    pub(crate) refresh_timeout: Duration,
    pub(crate) max_jitter: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) min_refresh_interval: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            mode: RefreshMode::Background,
            advisory: AdvisoryWindow::ByLifetime,
            mandatory: DEFAULT_MANDATORY_WINDOW,
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            max_jitter: DEFAULT_MAX_JITTER,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
        }
    }
}

impl RefreshPolicy {
    /// Sets the refresh mode. Defaults to [`RefreshMode::Background`].
    pub fn mode(mut self, mode: RefreshMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets a fixed advisory window. Defaults to
    /// [`AdvisoryWindow::ByLifetime`].
    pub fn advisory_window(mut self, window: Duration) -> Self {
        self.advisory = AdvisoryWindow::Fixed(window);
        self
    }

    /// Chooses the advisory window by the credentials' lifetime (the
    /// default).
    pub fn advisory_window_by_lifetime(mut self) -> Self {
        self.advisory = AdvisoryWindow::ByLifetime;
        self
    }

    /// Sets the mandatory window. Defaults to [`DEFAULT_MANDATORY_WINDOW`]
    /// (60 s).
    pub fn mandatory_window(mut self, window: Duration) -> Self {
        self.mandatory = window;
        self
    }

    /// Sets how long one fetch may run, and how long a request waits for
    /// it. Defaults to [`DEFAULT_REFRESH_TIMEOUT`] (60 s).
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
        self
    }

    /// Sets the largest random head start taken off the scheduled refresh
    /// time. Defaults to [`DEFAULT_MAX_JITTER`] (60 s); `Duration::ZERO`
    /// turns jitter off.
    pub fn max_jitter(mut self, jitter: Duration) -> Self {
        self.max_jitter = jitter;
        self
    }

    /// Sets the first and the longest backoff after failed fetches. Defaults
    /// to [`DEFAULT_BACKOFF_BASE`] (5 s) and [`DEFAULT_BACKOFF_MAX`]
    /// (5 min).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }

    /// Sets the shortest time between two scheduled refreshes. Defaults to
    /// [`DEFAULT_MIN_REFRESH_INTERVAL`] (5 s).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Returns the refresh mode.
    pub fn refresh_mode(&self) -> RefreshMode {
        self.mode
    }

    /// Returns how long a fetch may run.
    pub fn timeout(&self) -> Duration {
        self.refresh_timeout
    }

    /// Checks that the settings can work together.
    ///
    /// # Errors
    ///
    /// A validation error naming the setting when a fixed advisory window is
    /// shorter than the mandatory window, a timeout or backoff is zero, or
    /// the base backoff exceeds the maximum.
    pub fn validate(&self) -> Result<(), Error> {
        if let AdvisoryWindow::Fixed(advisory) = self.advisory
            && advisory < self.mandatory
        {
            return Err(Error::validation(
                "advisory_window",
                Some(format!("{advisory:?}")),
                format!(
                    "advisory window {advisory:?} is shorter than the mandatory window {:?}; \
                     make the advisory window at least as long",
                    self.mandatory
                ),
            ));
        }
        if self.refresh_timeout.is_zero() {
            return Err(Error::validation(
                "refresh_timeout",
                Some("0s".into()),
                "refresh timeout is zero; give fetches at least a few seconds",
            ));
        }
        if self.backoff_base.is_zero() || self.backoff_base > self.backoff_max {
            return Err(Error::validation(
                "backoff",
                Some(format!("{:?}..{:?}", self.backoff_base, self.backoff_max)),
                "backoff base must be above zero and at most the maximum backoff",
            ));
        }
        Ok(())
    }

    /// Computes the refresh boundaries of credentials fetched at
    /// `fetched_at` that expire at `expiry`.
    pub(crate) fn windows(&self, fetched_at: SystemTime, expiry: SystemTime) -> Windows {
        let lifetime = expiry.duration_since(fetched_at).unwrap_or_default();
        let advisory = match self.advisory {
            AdvisoryWindow::Fixed(window) => window,
            // `lifetime - lifetime / 4` is three quarters without the
            // overflow of `lifetime * 3` for an expiry centuries away.
            AdvisoryWindow::ByLifetime => {
                advisory_by_lifetime(lifetime).min(lifetime - lifetime / 4)
            }
        };
        // A mandatory window as long as the lifetime would make every request
        // wait, so it is at most the advisory window and a quarter of
        // the lifetime.
        let mandatory = self.mandatory.min(advisory).min(lifetime / 4);

        // A minimum interval past the end of `SystemTime` (such as
        // `Duration::MAX`) means no refresh before the expiry.
        let earliest = fetched_at
            .checked_add(self.min_refresh_interval)
            .unwrap_or(expiry.max(fetched_at));
        let mandatory_at = expiry.checked_sub(mandatory).unwrap_or(fetched_at);
        // An advisory window as long as the lifetime would start a refresh on
        // every request, so the request path also waits the minimum refresh
        // interval (but never past the mandatory boundary).
        let advisory_at = expiry
            .checked_sub(advisory)
            .unwrap_or(fetched_at)
            .max(earliest)
            .min(mandatory_at);
        let jitter_room = advisory_at.duration_since(earliest).unwrap_or_default() / 4;
        let jitter = random_fraction(self.max_jitter.min(jitter_room));
        let scheduled_at = advisory_at
            .checked_sub(jitter)
            .unwrap_or(advisory_at)
            .max(earliest);

        Windows {
            advisory_at,
            mandatory_at,
            scheduled_at,
            expiry,
        }
    }

    /// Computes the pause after the `failures`-th consecutive failed fetch
    /// at `now`, for credentials that expire at `expiry`.
    pub(crate) fn backoff_after(
        &self,
        failures: u32,
        retryable: bool,
        now: SystemTime,
        expiry: Option<SystemTime>,
    ) -> Duration {
        let exponential = if retryable {
            let doublings = failures.saturating_sub(1).min(16);
            self.backoff_base
                .saturating_mul(1 << doublings)
                .min(self.backoff_max)
        } else {
            self.backoff_max
        };

        // Leave several attempts before still-valid credentials expire.
        let remaining = expiry.and_then(|expiry| expiry.duration_since(now).ok());
        let capped = match remaining {
            Some(remaining) => exponential.min(remaining / ATTEMPTS_BEFORE_EXPIRY),
            None => exponential,
        };

        // Full jitter on the upper half, so a fleet that failed together does
        // not retry together.
        let jittered = capped / 2 + random_fraction(capped / 2);
        jittered.max(MIN_BACKOFF)
    }
}

/// The refresh boundaries of one generation of credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Windows {
    /// From here, requests start a refresh without waiting for it.
    pub(crate) advisory_at: SystemTime,
    /// From here, requests wait for the in-flight refresh.
    pub(crate) mandatory_at: SystemTime,
    /// When the background task refreshes: the advisory boundary less a
    /// random jitter, but not before the minimum refresh interval.
    pub(crate) scheduled_at: SystemTime,
    /// From here, the credentials are never used.
    pub(crate) expiry: SystemTime,
}

fn advisory_by_lifetime(lifetime: Duration) -> Duration {
    if lifetime <= Duration::from_secs(20 * 60) {
        DEFAULT_ADVISORY_WINDOW_SHORT
    } else if lifetime < Duration::from_secs(90 * 60) {
        DEFAULT_ADVISORY_WINDOW_MEDIUM
    } else {
        DEFAULT_ADVISORY_WINDOW_LONG
    }
}

/// Returns a uniformly random duration in `0..=max`.
fn random_fraction(max: Duration) -> Duration {
    max.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn no_jitter() -> RefreshPolicy {
        RefreshPolicy::default().max_jitter(Duration::ZERO)
    }

    #[test]
    fn advisory_window_follows_lifetime() {
        let policy = no_jitter();
        let cases = [
            (15 * 60, 5 * 60),
            (20 * 60, 5 * 60),
            (60 * 60, 15 * 60),
            (89 * 60, 15 * 60),
            (90 * 60, 60 * 60),
            (12 * 3600, 60 * 60),
        ];

        for (lifetime, advisory) in cases {
            let windows = policy.windows(at(0), at(lifetime));
            assert_eq!(
                windows.advisory_at,
                at(lifetime - advisory),
                "lifetime {lifetime}"
            );
            assert_eq!(
                windows.mandatory_at,
                at(lifetime - 60),
                "lifetime {lifetime}"
            );
        }
    }

    #[test]
    fn short_lifetime_caps_windows() {
        let windows = no_jitter().windows(at(0), at(120));

        assert_eq!(windows.advisory_at, at(30));
        assert_eq!(windows.mandatory_at, at(90));
    }

    #[test]
    fn fixed_advisory_is_honoured_after_min_interval() {
        let policy = no_jitter().advisory_window(Duration::from_secs(890));

        let windows = policy.windows(at(0), at(900));

        assert_eq!(windows.advisory_at, at(10));
        assert_eq!(windows.scheduled_at, at(10));
    }

    #[test]
    fn advisory_longer_than_lifetime_waits_min_interval() {
        let policy = no_jitter().advisory_window(Duration::from_secs(3600));

        let windows = policy.windows(at(100), at(400));

        assert_eq!(windows.advisory_at, at(105));
        assert_eq!(windows.scheduled_at, at(105));
    }

    #[test]
    fn jitter_stays_inside_its_bounds() {
        let policy = RefreshPolicy::default();

        for _ in 0..200 {
            let windows = policy.windows(at(0), at(3600));
            let advisory_at = at(3600 - 15 * 60);
            assert!(windows.scheduled_at <= advisory_at);
            assert!(windows.scheduled_at >= advisory_at - DEFAULT_MAX_JITTER);
        }
    }

    #[test]
    fn retryable_backoff_doubles_up_to_max() {
        let policy = RefreshPolicy::default();
        let expected_caps = [5, 10, 20, 40, 80, 160, 300, 300];

        for (failure, cap) in expected_caps.iter().enumerate() {
            let pause = policy.backoff_after(failure as u32 + 1, true, at(0), None);
            assert!(
                pause <= Duration::from_secs(*cap),
                "failure {failure}: {pause:?}"
            );
            assert!(
                pause >= Duration::from_secs(*cap) / 2,
                "failure {failure}: {pause:?}"
            );
        }
    }

    #[test]
    fn non_retryable_backoff_waits_max() {
        let pause = RefreshPolicy::default().backoff_after(1, false, at(0), None);

        assert!(pause >= DEFAULT_BACKOFF_MAX / 2);
    }

    #[test]
    fn backoff_leaves_attempts_before_expiry() {
        let policy = RefreshPolicy::default();

        let pause = policy.backoff_after(1, false, at(0), Some(at(60)));

        assert!(pause <= Duration::from_secs(15), "{pause:?}");
        assert!(pause >= MIN_BACKOFF);
    }

    #[test]
    fn backoff_never_below_floor() {
        let pause = RefreshPolicy::default().backoff_after(1, true, at(0), Some(at(1)));

        assert_eq!(pause, MIN_BACKOFF);
    }

    #[test]
    fn validate_names_bad_settings() {
        let short = RefreshPolicy::default()
            .advisory_window(Duration::from_secs(30))
            .mandatory_window(Duration::from_secs(60));
        assert_eq!(
            short.validate().unwrap_err().parameter(),
            Some("advisory_window")
        );

        let zero = RefreshPolicy::default().refresh_timeout(Duration::ZERO);
        assert_eq!(
            zero.validate().unwrap_err().parameter(),
            Some("refresh_timeout")
        );

        let inverted =
            RefreshPolicy::default().backoff(Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(
            inverted.validate().unwrap_err().parameter(),
            Some("backoff")
        );
    }
}
