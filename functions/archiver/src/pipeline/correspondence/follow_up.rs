//! One follow-up alert per (correspondence, event type), whatever duplicates arrive.
//!
//! The claim `follow-up/{typeSuffix}.json` under the correspondence goes through three states:
//! created with `If-None-Match: *` as `claimed` (exactly one run wins), the alert is sent,
//! then it is rewritten as `sent`. A later run that finds it `sent` sends nothing; one that
//! finds it `claimed` and younger than the claim TTL waits (a transient failure asking to come
//! back after it); one older than the TTL belonged to a run that died, and is taken over. A
//! run whose send fails releases the claim, so the retry sends at once. Only a crash between
//! the send and the `sent` mark can lead to a second message, after the TTL.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::super::instance::now_rfc3339;
use super::super::{JSON, Pipeline};
use super::CorrespondenceEvent;
use crate::error::{ArchiveError, FailureReason};
use crate::follow_up::{FollowUp, needs_follow_up};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::{ConditionalPut, StoreError};

/// The state a claim records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum ClaimState {
    Claimed,
    Sent,
}

/// The claim object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    state: ClaimState,
    event_id: String,
    at: String,
}

impl Claim {
    fn bytes(state: ClaimState, event_id: &str) -> Bytes {
        let claim = Claim {
            state,
            event_id: event_id.to_owned(),
            at: now_rfc3339(),
        };
        Bytes::from(serde_json::to_vec(&claim).unwrap_or_default())
    }
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// For an event that needs follow-up: `Some(true)` when this run sent the alert,
    /// `Some(false)` when it was sent before or no topic is configured; `None` otherwise.
    pub(super) async fn follow_up(
        &self,
        event: &CorrespondenceEvent<'_>,
        correspondence_id: &str,
        manifest_key: &str,
    ) -> Result<Option<bool>, ArchiveError> {
        if !needs_follow_up(event.suffix) {
            return Ok(None);
        }
        let Some(sink) = &self.follow_up else {
            tracing::info!(
                event_type = event.suffix,
                "needs follow-up; no FOLLOW_UP_TOPIC_ARN, so no message"
            );
            return Ok(Some(false));
        };
        let received = &event.event.event;
        let claim_key = self.settings.layout.follow_up_claim(
            event.resource_id,
            correspondence_id,
            event.suffix,
        )?;
        if !self.claim_follow_up(&claim_key, &received.id).await? {
            return Ok(Some(false));
        }
        let alert = FollowUp {
            correspondence_id: correspondence_id.to_owned(),
            resource_id: event.resource_id.to_owned(),
            event_type: received.event_type.clone(),
            event_id: received.id.clone(),
            event_time: received.time.clone(),
            manifest_key: Some(manifest_key.to_owned()),
        };
        if let Err(error) = sink.send(&alert).await {
            if let Err(release) = self.target.delete(&claim_key).await {
                tracing::warn!(error = %release, "could not release the follow-up claim; the retry waits for it to expire");
            }
            return Err(error);
        }
        self.target
            .put_small(
                &claim_key,
                Claim::bytes(ClaimState::Sent, &received.id),
                JSON,
            )
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        Ok(Some(true))
    }

    /// True when this run holds the claim and must send; false when the alert was sent.
    async fn claim_follow_up(&self, key: &str, event_id: &str) -> Result<bool, ArchiveError> {
        let store_error = |e: StoreError| ArchiveError::from_store(&e);
        let claim = Claim::bytes(ClaimState::Claimed, event_id);
        if let ConditionalPut::Created(_) = self
            .target
            .put_small_if_absent(key, claim.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            return Ok(true);
        }
        let existing = self.target.get_bytes(key).await.map_err(store_error)?;
        let state = existing
            .and_then(|bytes| serde_json::from_slice::<Claim>(&bytes).ok())
            .map(|claim| claim.state);
        if state == Some(ClaimState::Sent) {
            return Ok(false);
        }
        self.take_over_claim(
            key,
            claim,
            self.settings.follow_up_claim_ttl,
            FailureReason::FollowUpInProgress,
            "this follow-up alert",
        )
        .await?;
        Ok(true)
    }
}
