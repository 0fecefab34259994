//! Claims: small S3 objects created with `If-None-Match: *` so that exactly one run does a
//! thing that must not be done twice (the write-back in the feedback task, a follow-up
//! alert). A claim older than its lifetime belonged to a run that died and may be taken over.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::{JSON, Pipeline};
use crate::error::{ArchiveError, FailureReason};
use crate::seams::{AltinnSource, ArchiveTarget};

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Takes over the claim at `key` that another run created: allowed when it is older than
    /// `ttl` (or gone), and then rewritten with `claim`. A younger claim means that run is
    /// still at work: a transient `busy` failure asking to come back when the claim expires.
    pub(super) async fn take_over_claim(
        &self,
        key: &str,
        claim: Bytes,
        ttl: Duration,
        busy: FailureReason,
        what: &str,
    ) -> Result<(), ArchiveError> {
        let modified = self
            .target
            .last_modified(key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        let age = modified.map(|modified| {
            SystemTime::now()
                .duration_since(modified)
                .unwrap_or(Duration::ZERO)
        });
        if let Some(age) = age
            && age < ttl
        {
            let mut error = ArchiveError::transient(
                busy,
                format!("another run claimed {what} {} s ago", age.as_secs()),
            );
            error.retry_after = Some(ttl - age);
            return Err(error);
        }
        tracing::warn!(
            key,
            "taking over a stale (or just released) claim on {what}"
        );
        self.target
            .put_small(key, claim, JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        Ok(())
    }
}
