//! The invocation deadline as the functions should use it.
//!
//! Lambda passes the deadline as epoch milliseconds. Local emulators do not always: cargo-lambda's
//! `watch` (1.9) sends the constant `600000`, an instant in 1970, so a function that honours its
//! deadline would hand every message back unstarted. A deadline that is absent (0) or lies more
//! than a day in the past cannot be a real Lambda deadline; it is read as "unknown" and replaced by
//! Lambda's longest timeout counted from now.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lambda's longest function timeout, the budget assumed when the deadline is unusable.
pub const MAX_LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);

/// How far in the past a deadline may lie and still be believed (clock skew, a late poll).
const PLAUSIBLE_PAST: Duration = Duration::from_secs(24 * 60 * 60);

/// The deadline to work against, given Lambda's `deadline_epoch_ms` and the current time.
pub fn effective_deadline(deadline_epoch_ms: u64, now: SystemTime) -> SystemTime {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_epoch_ms);
    let plausible = now
        .checked_sub(PLAUSIBLE_PAST)
        .is_none_or(|earliest| deadline >= earliest);
    if deadline_epoch_ms != 0 && plausible {
        deadline
    } else {
        tracing::debug!(
            deadline_epoch_ms,
            "invocation deadline is not a real Lambda deadline; assuming the longest Lambda timeout"
        );
        now + MAX_LAMBDA_TIMEOUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_deadline_is_kept() {
        let now = SystemTime::now();
        let in_a_minute = now + Duration::from_secs(60);
        let ms = in_a_minute.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let got = effective_deadline(ms, now);
        assert!(got.duration_since(in_a_minute).unwrap_or_default() < Duration::from_millis(1));
        // A deadline just passed (a late poll) is still believed: there is no time left.
        let a_second_ago = (now - Duration::from_secs(1))
            .duration_since(UNIX_EPOCH)
            .unwrap();
        assert!(effective_deadline(a_second_ago.as_millis() as u64, now) < now);
    }

    #[test]
    fn emulator_and_missing_deadlines_get_the_longest_lambda_budget() {
        let now = SystemTime::now();
        // cargo lambda watch sends this constant.
        assert_eq!(effective_deadline(600_000, now), now + MAX_LAMBDA_TIMEOUT);
        assert_eq!(effective_deadline(0, now), now + MAX_LAMBDA_TIMEOUT);
    }
}
