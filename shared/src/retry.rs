//! The one backoff rule of the whole system: jittered exponential, with the server's
//! `Retry-After` honoured. The Altinn client (between HTTP attempts), the archiver's data-element
//! re-downloads and its SQS visibility backoff all call [`Backoff::delay`]; only their bases and
//! caps differ, and those are configuration.

use std::time::{Duration, SystemTime};

/// A jittered exponential backoff: `base × 2^(failures − 1)`, capped at `max`, of which the
/// first half is always waited and the second half is random ("equal jitter"), so concurrent
/// clients spread out but never retry at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay ceiling after the first failure; it doubles with each further failure.
    pub base: Duration,
    /// The longest delay, `Retry-After` included.
    pub max: Duration,
}

impl Backoff {
    /// A backoff from `base`, doubling, never longer than `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// How long to wait after the `failures`-th failure in a row (1-based). A server's
    /// `Retry-After` is a floor: the delay is at least that, but never more than `max`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1 << exponent).min(self.max);
        let half = ceiling / 2;
        let jittered = half + half.mul_f64(fastrand::f64());
        jittered
            .max(retry_after.unwrap_or(Duration::ZERO))
            .min(self.max)
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110, section 10.2.3). A date in the
/// past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_with_equal_jitter_and_is_capped() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..100 {
            let first = backoff.delay(1, None);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = backoff.delay(3, None);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let late = backoff.delay(40, None);
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&late));
        }
        let samples: std::collections::HashSet<_> =
            (0..50).map(|_| backoff.delay(2, None)).collect();
        assert!(samples.len() > 1, "the delay is not jittered");
    }

    #[test]
    fn retry_after_is_a_floor_under_the_cap() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(20))),
            Duration::from_secs(20)
        );
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
        assert!(backoff.delay(1, Some(Duration::ZERO)) >= Duration::from_millis(50));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&in_90s, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        for bad in ["", "soon", "-5", "1.5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
