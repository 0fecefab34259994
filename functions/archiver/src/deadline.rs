//! The Lambda invocation's deadline, and the reserve we keep before it.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::error::ArchiveError;

/// Longest time we keep between cancelling in-flight work and the deadline itself, so the batch
/// response (and the visibility changes) still get out.
const HARD_STOP_RESERVE: Duration = Duration::from_secs(2);

/// When the invocation ends, and how much of it is kept in reserve: no new step (a message, an
/// element download) starts when less than `margin` is left.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    margin: Duration,
}

impl Deadline {
    /// From Lambda's deadline (`Context::deadline()`, wall-clock).
    pub fn from_system_time(deadline: SystemTime, margin: Duration) -> Self {
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Deadline {
            at: Instant::now() + remaining,
            margin,
        }
    }

    /// `remaining` from now.
    pub fn after(remaining: Duration, margin: Duration) -> Self {
        Deadline {
            at: Instant::now() + remaining,
            margin,
        }
    }

    /// Time left until the deadline.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// True when less than the margin is left: start nothing new.
    pub fn is_near(&self) -> bool {
        self.remaining() < self.margin
    }

    /// `Err(deadline)` when no new `step` should start.
    pub fn check(&self, step: &str) -> Result<(), ArchiveError> {
        if self.is_near() {
            Err(ArchiveError::deadline(step))
        } else {
            Ok(())
        }
    }

    /// When in-flight work is cancelled: shortly before the deadline (half the margin, at most
    /// two seconds), so the handler can still answer Lambda.
    pub fn hard_stop(&self) -> Instant {
        let reserve = (self.margin / 2).min(HARD_STOP_RESERVE);
        self.at.checked_sub(reserve).unwrap_or(self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_within_the_margin_stops_new_work() {
        let far = Deadline::after(Duration::from_secs(60), Duration::from_secs(10));
        assert!(!far.is_near());
        assert!(far.check("download").is_ok());
        assert!(far.hard_stop() < far.at);

        let near = Deadline::after(Duration::from_secs(5), Duration::from_secs(10));
        assert!(near.is_near());
        let error = near.check("download").unwrap_err();
        assert!(error.is_transient());
        assert_eq!(error.reason.as_str(), "deadline");

        let past =
            Deadline::from_system_time(SystemTime::now() - Duration::from_secs(1), Duration::ZERO);
        assert_eq!(past.remaining(), Duration::ZERO);
    }
}
