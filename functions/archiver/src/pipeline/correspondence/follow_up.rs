//! One follow-up alert per (correspondence, event type), whatever duplicates arrive: an SNS
//! message behind the claim `follow-up/{typeSuffix}.json` under the correspondence, and a
//! `CorrespondenceNeedsFollowUp` hand-off event behind its own claim (both sent once, see
//! `pipeline/claim.rs`).

use super::super::Pipeline;
use super::super::claim::SendOnce;
use super::CorrespondenceEvent;
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::follow_up::{FollowUp, needs_follow_up};
use crate::seams::{AltinnSource, ArchiveTarget};

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// For an event that needs follow-up: `Some(true)` when this run sent the SNS alert,
    /// `Some(false)` when it was sent before (or another message sends it) or no topic is
    /// configured; `None` otherwise.
    pub(super) async fn follow_up(
        &self,
        event: &CorrespondenceEvent<'_>,
        correspondence_id: &str,
        manifest_key: &str,
        deadline: &Deadline,
    ) -> Result<Option<bool>, ArchiveError> {
        if !needs_follow_up(event.suffix) {
            return Ok(None);
        }
        let received = &event.event.event;
        let alert = FollowUp {
            correspondence_id: correspondence_id.to_owned(),
            resource_id: event.resource_id.to_owned(),
            event_type: received.event_type.clone(),
            event_id: received.id.clone(),
            event_time: received.time.clone(),
            manifest_key: Some(manifest_key.to_owned()),
        };
        let message_id = event.event.message_id.as_deref();
        self.hand_off_follow_up(&alert, event.suffix, message_id, deadline)
            .await?;
        let Some(sink) = &self.follow_up else {
            tracing::info!(
                event_type = event.suffix,
                "needs follow-up; no FOLLOW_UP_TOPIC_ARN, so no message"
            );
            return Ok(Some(false));
        };
        let claim_key = self.settings.layout.follow_up_claim(
            event.resource_id,
            correspondence_id,
            event.suffix,
        )?;
        let claim = SendOnce {
            key: &claim_key,
            event_id: &received.id,
            message_id,
            ttl: self.settings.send_claim_ttl,
            busy: FailureReason::FollowUpInProgress,
            what: "this follow-up alert",
        };
        let sent = self
            .send_once(claim, deadline, || sink.send(&alert))
            .await?;
        Ok(Some(sent))
    }
}
