//! Claims: small S3 objects created with `If-None-Match: *` so that exactly one run does a
//! thing that must not be done twice (the write-back in the feedback task, a follow-up
//! alert, a hand-off event). A claim older than its lifetime belonged to a run that died and
//! may be taken over.
//!
//! A message sent once ([`Pipeline::send_once`]) goes through three claim states: created as
//! `claimed` (exactly one run wins), the message is sent, then the claim is rewritten as
//! `sent`. A later run that finds it `sent` sends nothing; one that finds it `claimed` and
//! younger than the lifetime waits (a transient failure asking to come back after it); an
//! older one is taken over. A run whose send fails releases the claim, so the retry sends at
//! once. A claim names the SQS message of its run: a later receive of that message takes it
//! over at once (that receive is over), and any other message leaves the send to it, since
//! that message comes back until it has sent. Two windows are left, both after a send that
//! went out: a crash before the `sent` mark (the message's next receive sends again), and an
//! S3 outage that lasts past the run's deadline (a later message that finds the claim stale
//! sends again). Either way the second message has the same content.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::instance::now_rfc3339;
use super::{JSON, Pipeline};
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::{ConditionalPut, StoreError};

/// Logged (at ERROR) when a message went out but its claim is still `claimed`: a later run
/// that finds the claim stale sends it again.
pub const UNMARKED: &str = "was sent but its claim could not be marked sent before the deadline";

/// How long before the run's hard stop the `sent` mark stops trying, so that the message
/// still ends as sent rather than being cut off (and received again, which would send again).
const MARK_SENT_RESERVE: Duration = Duration::from_secs(1);

/// The state a send-once claim records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum ClaimState {
    Claimed,
    Sent,
}

/// The send-once claim object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    state: ClaimState,
    event_id: String,
    /// The SQS message of the run that claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    at: String,
}

impl Claim {
    fn bytes(state: ClaimState, claim: &SendOnce<'_>) -> Bytes {
        let claim = Claim {
            state,
            event_id: claim.event_id.to_owned(),
            message_id: claim.message_id.map(str::to_owned),
            at: now_rfc3339(),
        };
        Bytes::from(serde_json::to_vec(&claim).unwrap_or_default())
    }
}

/// What a send-once claim is about: its key, how long it holds off other runs, and the
/// transient reason a run gets while another one holds it.
pub(super) struct SendOnce<'a> {
    pub(super) key: &'a str,
    /// The event of the run that claims (recorded in the claim, for a reader).
    pub(super) event_id: &'a str,
    /// The SQS message of the run that claims, when known.
    pub(super) message_id: Option<&'a str>,
    pub(super) ttl: Duration,
    pub(super) busy: FailureReason,
    /// For logs and error details, e.g. "this follow-up alert".
    pub(super) what: &'a str,
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Sends a message (`send()`, called only when this run holds the claim) at most once
    /// per claim (see the module docs): true when this run sent it, false when it was sent
    /// before.
    pub(super) async fn send_once<F, S>(
        &self,
        claim: SendOnce<'_>,
        deadline: &Deadline,
        send: S,
    ) -> Result<bool, ArchiveError>
    where
        S: FnOnce() -> F,
        F: Future<Output = Result<(), ArchiveError>>,
    {
        // Not started this close to the end: a run stopped between the send and its `sent`
        // mark would have the next receive send again (the send and the mark fit the margin).
        let step = format!("send {}", claim.what);
        deadline.check(&step)?;
        if !self.claim_send(&claim).await? {
            return Ok(false);
        }
        // Claiming takes S3 calls of its own; if they used up the margin, the send waits for
        // the retry rather than risk being cut off before its mark.
        let sent = match deadline.check(&step) {
            Ok(()) => send().await,
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            self.release(&claim).await;
            return Err(error);
        }
        self.mark_sent(&claim, deadline).await;
        Ok(true)
    }

    /// Deletes this run's claim after a send that failed (or never started), so the retry
    /// sends at once.
    async fn release(&self, claim: &SendOnce<'_>) {
        if let Err(error) = self.target.delete(claim.key).await {
            tracing::warn!(error = %error, "could not release the claim on {}; this message takes it over when it comes back", claim.what);
        }
    }

    /// Rewrites the claim as `sent`, trying through an S3 outage until shortly before the
    /// run's hard stop (at least the deadline margin less the put, and usually the rest of the
    /// invocation). If the mark still fails the message is not failed for it: the send went
    /// out, and a retry (which would find its own claim and send again) is the one thing that
    /// surely duplicates it. Only a later message finding the claim stale sends again.
    async fn mark_sent(&self, claim: &SendOnce<'_>, deadline: &Deadline) {
        let backoff = altinn::Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let marking = async {
            for attempt in 1.. {
                let sent = Claim::bytes(ClaimState::Sent, claim);
                match self.target.put_small(claim.key, sent, JSON).await {
                    Ok(_) => return,
                    Err(error) => {
                        tracing::warn!(error = %error, attempt, "could not mark {} sent; trying again", claim.what);
                        tokio::time::sleep(backoff.delay(attempt, None)).await;
                    }
                }
            }
        };
        let hard_stop = deadline.hard_stop();
        let give_up = hard_stop
            .checked_sub(MARK_SENT_RESERVE)
            .unwrap_or(hard_stop);
        if tokio::time::timeout_at(give_up, marking).await.is_err() {
            tracing::error!("{} {UNMARKED}", claim.what);
        }
    }

    /// True when this run holds the claim and must send; false when it was sent, or another
    /// message holds it and will send.
    async fn claim_send(&self, claim: &SendOnce<'_>) -> Result<bool, ArchiveError> {
        let store_error = |e: StoreError| ArchiveError::from_store(&e);
        let claimed = Claim::bytes(ClaimState::Claimed, claim);
        if let ConditionalPut::Created(_) = self
            .target
            .put_small_if_absent(claim.key, claimed.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            return Ok(true);
        }
        let existing = self
            .target
            .get_bytes(claim.key)
            .await
            .map_err(store_error)?
            .and_then(|bytes| serde_json::from_slice::<Claim>(&bytes).ok());
        if existing
            .as_ref()
            .is_some_and(|e| e.state == ClaimState::Sent)
        {
            return Ok(false);
        }
        let holder = existing.and_then(|e| e.message_id);
        match (holder.as_deref(), claim.message_id) {
            // An earlier receive of this very message claimed it (its answer may have been
            // lost): SQS gives a message to one run at a time, so that run is over.
            (Some(holder), Some(ours)) if holder == ours => {
                tracing::info!(
                    "taking over the claim on {} from an earlier receive of this message",
                    claim.what
                );
                self.target
                    .put_small(claim.key, claimed, JSON)
                    .await
                    .map_err(store_error)?;
                return Ok(true);
            }
            // Another message claimed it (a duplicate delivery, another event of the same
            // instance), and that message comes back until it has sent (a failed send
            // releases the claim, a crash brings it back): nothing for this one to do, unless
            // the claim is stale (its message was dead-lettered and redriven as a new one).
            (Some(_), Some(_)) => {
                let age = self.claim_age(claim.key).await?;
                if age.is_some_and(|age| age < claim.ttl) {
                    tracing::info!(
                        "another message holds the claim on {}; it sends",
                        claim.what
                    );
                    return Ok(false);
                }
            }
            _ => {}
        }
        self.take_over_claim(claim.key, claimed, claim.ttl, claim.busy, claim.what)
            .await?;
        Ok(true)
    }

    /// How long ago the claim at `key` was last written; `None` when it is gone.
    async fn claim_age(&self, key: &str) -> Result<Option<Duration>, ArchiveError> {
        let modified = self
            .target
            .last_modified(key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        Ok(modified.map(|modified| {
            SystemTime::now()
                .duration_since(modified)
                .unwrap_or(Duration::ZERO)
        }))
    }

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
        if let Some(age) = self.claim_age(key).await?
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
