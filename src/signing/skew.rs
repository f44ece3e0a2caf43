//! Clock skew learned from AWS's `Date` response header.
//!
//! AWS rejects a signature whose `x-amz-date` is more than 5 minutes away
//! from its own clock (`RequestTimeTooSkewed`, or `SignatureDoesNotMatch` /
//! `InvalidSignatureException` with "Signature expired"), and sends its
//! time in the `Date` header. The layer stores the difference and signs later
//! requests with the local time plus that offset, so the next attempt
//! succeeds even when the host's clock is wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header::DATE};

/// Offsets smaller than this are treated as no skew, and a new measurement
/// replaces the stored offset only when it differs from it by at least this
/// much.
///
/// Value: 60 seconds. `Date` has one-second resolution and responses take
/// time to arrive, so smaller differences are noise; AWS tolerates 5 minutes.
pub const CLOCK_SKEW_THRESHOLD: Duration = Duration::from_secs(60);

/// The offset to add to the local clock, shared by clones of a layer.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClockSkew {
    offset_ms: Arc<AtomicI64>,
}

impl ClockSkew {
    /// Returns the stored offset in milliseconds (server minus local).
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Replaces the stored offset.
    pub(crate) fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Returns `local` corrected by the stored offset.
    pub(crate) fn apply(&self, local: SystemTime) -> SystemTime {
        shift(local, self.offset_ms())
    }

    /// Learns the offset from a response's `Date` header, read at `local`.
    ///
    /// Only 400 and 403 responses count: AWS reports a skewed signature with
    /// them, while a successful response may come from a cache that keeps an
    /// old `Date`.
    pub(crate) fn observe(&self, status: StatusCode, headers: &HeaderMap, local: SystemTime) {
        if status != StatusCode::BAD_REQUEST && status != StatusCode::FORBIDDEN {
            return;
        }
        let Some(server) = headers
            .get(DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| httpdate::parse_http_date(value).ok())
        else {
            return;
        };

        let measured = difference_ms(server, local);
        let threshold = CLOCK_SKEW_THRESHOLD.as_millis() as i64;
        let stored = self.offset_ms();
        if (measured - stored).abs() < threshold {
            return;
        }
        let offset = if measured.abs() < threshold {
            0
        } else {
            measured
        };
        self.offset_ms.store(offset, Ordering::Relaxed);
        tracing::warn!(
            offset_ms = offset,
            status = status.as_u16(),
            "local clock differs from AWS; signing with the corrected time"
        );
    }
}

fn difference_ms(server: SystemTime, local: SystemTime) -> i64 {
    match server.duration_since(local) {
        Ok(ahead) => i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX),
        Err(behind) => -i64::try_from(behind.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn shift(time: SystemTime, offset_ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(offset_ms.unsigned_abs());
    let shifted = if offset_ms >= 0 {
        time.checked_add(magnitude)
    } else {
        time.checked_sub(magnitude)
    };
    shifted.unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::UNIX_EPOCH;

    fn local() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn date(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(DATE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forbidden_with_far_date_sets_offset() {
        let skew = ClockSkew::default();

        skew.observe(
            StatusCode::FORBIDDEN,
            &date("Sun, 30 Aug 2015 12:56:00 GMT"),
            local(),
        );

        assert_eq!(skew.offset_ms(), 20 * 60 * 1000);
        assert_eq!(skew.apply(local()), local() + Duration::from_secs(1200));
    }

    #[test]
    fn small_difference_is_ignored() {
        let skew = ClockSkew::default();

        skew.observe(
            StatusCode::FORBIDDEN,
            &date("Sun, 30 Aug 2015 12:36:59 GMT"),
            local(),
        );

        assert_eq!(skew.offset_ms(), 0);
    }

    #[test]
    fn success_response_is_ignored() {
        let skew = ClockSkew::default();

        skew.observe(
            StatusCode::OK,
            &date("Sun, 30 Aug 2015 12:56:00 GMT"),
            local(),
        );

        assert_eq!(skew.offset_ms(), 0);
    }

    #[test]
    fn clock_behind_gives_negative_offset() {
        let skew = ClockSkew::default();

        skew.observe(
            StatusCode::BAD_REQUEST,
            &date("Sun, 30 Aug 2015 12:16:00 GMT"),
            local(),
        );

        assert_eq!(skew.offset_ms(), -20 * 60 * 1000);
    }

    #[test]
    fn corrected_clock_resets_offset() {
        let skew = ClockSkew::default();
        skew.observe(
            StatusCode::FORBIDDEN,
            &date("Sun, 30 Aug 2015 12:56:00 GMT"),
            local(),
        );

        skew.observe(
            StatusCode::FORBIDDEN,
            &date("Sun, 30 Aug 2015 12:36:10 GMT"),
            local(),
        );

        assert_eq!(skew.offset_ms(), 0);
    }
}
