//! Archiving Altinn 3 Correspondence, as the sender or as the recipient
//! (`CORRESPONDENCE_ROLE`). Altinn's behaviour this rests on: docs/altinn.md and the
//! Correspondence source, github.com/Altinn/altinn-correspondence.
//!
//! ```text
//! sender (the resource is one of CORRESPONDENCE_RESOURCES)
//!   correspondence event ─▶ events/{eventId}.json under the correspondence
//!                        ─▶ GET details as sender ─▶ details/{fetchedAt}.json (raw bytes)
//!                        ─▶ manifest.json (rebuilt from what is stored) ─▶ follow-up alert
//!   attachment event     ─▶ correspondence-attachments/{attachmentId}/events/{eventId}.json
//!     attachmentpublished ─▶ GET attachment overview; download while the sender may (MD5
//!                            checked) or record Altinn's 2016 "no longer accessible";
//!                            overview.json; a copy under every linked correspondence, whose
//!                            manifest is rebuilt
//!   notificationcreated  ─▶ correspondence-notifications/{orderId}/events/{eventId}.json
//! recipient (the subject is our organisation)
//!   correspondencepublished ─▶ event; details as recipient (once: each call records
//!                              `Fetched` at the sender); every attachment downloaded with the
//!                              recipient route (MD5 and size checked); manifest.json last
//!   other correspondence events ─▶ event; manifest.json rebuilt (no details call)
//! never: a correspondence's /content, markasread or confirm (the seam has no such call)
//! ```
//!
//! `notificationcreated` names only the notification order, and Altinn has no lookup from an
//! order to its correspondence; the order ids are in the correspondence's details (and so in
//! its manifest's `notifications`), which is where a reader joins them.

mod attachment;
mod follow_up;
mod manifest;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use altinn::CorrespondenceRef;
use bytes::Bytes;
use uuid::Uuid;

use super::hand_off::ArchivedEvent;
use super::{JSON, Pipeline, ReceivedEvent};
use crate::correspondence::ArchiveRole;
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::layout::fetched_at;
use crate::metrics::archive_latency;
use crate::outcome::{CorrespondenceSummary, MessageOutcome, RunStats};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::ConditionalPut;
use altinn::correspondence::{CorrespondenceDetails, RESOURCE_URN_PREFIX};
use altinn::{
    CorrespondenceMode, CorrespondenceRole, CorrespondenceTopic, RawJson,
    correspondence_event_suffix,
};

/// The event that makes a recipient archive the correspondence.
const PUBLISHED: &str = "correspondencepublished";
/// The event after which Altinn may no longer know the correspondence.
const PURGED: &str = "correspondencepurged";
/// The sender's attachment event after which its bytes can be downloaded.
const ATTACHMENT_PUBLISHED: &str = "attachmentpublished";

/// One Correspondence event, understood.
struct CorrespondenceEvent<'a> {
    event: &'a ReceivedEvent,
    /// The type after `no.altinn.correspondence.`.
    suffix: &'a str,
    /// Without `urn:altinn:resource:`.
    resource_id: &'a str,
    /// The correspondence, attachment or notification order id.
    resourceinstance: &'a str,
}

impl CorrespondenceEvent<'_> {
    /// What its `CorrespondenceArchived` hand-off event names, archived as `role`.
    fn archived(&self, role: ArchiveRole) -> ArchivedEvent<'_> {
        ArchivedEvent {
            role,
            resource_id: self.resource_id,
            event_id: &self.event.event.id,
            event_type: &self.event.event.event_type,
            message_id: self.event.message_id.as_deref(),
        }
    }

    fn id(&self, what: &str) -> Result<Uuid, ArchiveError> {
        self.resourceinstance.parse().map_err(|_| {
            ArchiveError::permanent(
                FailureReason::InvalidEvent,
                format!("resourceinstance is not a {what} id (a GUID)"),
            )
        })
    }
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Routes a Correspondence event by the configured role (see the module docs). Without a
    /// role it is only stored, under `correspondence/{resourceId}/{resourceinstance}/events/`.
    pub(super) async fn handle_correspondence(
        &self,
        event: &ReceivedEvent,
        correspondence: &CorrespondenceRef,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<MessageOutcome, ArchiveError> {
        let id = &event.event.id;
        let Some(mode) = &self.settings.correspondence else {
            let key = self
                .settings
                .layout
                .correspondence_event(correspondence, id)?;
            return self.store_event(event, key).await;
        };
        let suffix = correspondence_event_suffix(&event.event.event_type).ok_or_else(|| {
            ArchiveError::permanent(FailureReason::InvalidEvent, "no Correspondence event type")
        })?;
        let resource_id = correspondence
            .resource
            .strip_prefix(RESOURCE_URN_PREFIX)
            .ok_or_else(|| {
                ArchiveError::permanent(
                    FailureReason::InvalidEvent,
                    "resource is not an urn:altinn:resource: URN",
                )
            })?;
        check_ours(mode, event, &correspondence.resource)?;
        let understood = CorrespondenceEvent {
            event,
            suffix,
            resource_id,
            resourceinstance: &correspondence.resourceinstance,
        };
        let role = mode.role();
        // A type Altinn defines but does not publish yet (`correspondencearchived`, …) is
        // placed by the API its source names.
        let topic = CorrespondenceTopic::of_event_type(&event.event.event_type).or_else(|| {
            let environment = self.settings.allowlist.environment();
            CorrespondenceTopic::of_source(&event.event.source, environment)
        });
        let summary = match (topic, role) {
            (Some(CorrespondenceTopic::Correspondence), CorrespondenceRole::Sender) => {
                self.sender_correspondence_event(&understood, deadline)
                    .await?
            }
            (Some(CorrespondenceTopic::Correspondence), CorrespondenceRole::Recipient) => {
                self.recipient_correspondence_event(&understood, deadline, stats)
                    .await?
            }
            (Some(CorrespondenceTopic::Attachment), _) => {
                self.attachment_event(&understood, role, deadline, stats)
                    .await?
            }
            (Some(CorrespondenceTopic::Notification), _) => {
                let layout = &self.settings.layout;
                let key = layout.notification_event(understood.resourceinstance, id)?;
                self.keep_event(&key, event).await?
            }
            // Neither type nor source says: kept where events without a role go.
            (None, _) => {
                let key = self
                    .settings
                    .layout
                    .correspondence_event(correspondence, id)?;
                return self.store_event(event, key).await;
            }
        };
        Ok(MessageOutcome::CorrespondenceArchived(summary))
    }

    /// Sender: the event, a new details version, the manifest, the follow-up alert.
    async fn sender_correspondence_event(
        &self,
        event: &CorrespondenceEvent<'_>,
        deadline: &Deadline,
    ) -> Result<CorrespondenceSummary, ArchiveError> {
        let correspondence_id = event.id("correspondence")?;
        let cid = correspondence_id.to_string();
        let key = self.settings.layout.correspondence_event_under(
            event.resource_id,
            &cid,
            &event.event.event.id,
        )?;
        let mut summary = self.keep_event(&key, event.event).await?;
        deadline.check("fetch the correspondence's details")?;
        match self
            .altinn
            .correspondence_details(CorrespondenceRole::Sender, correspondence_id)
            .await
        {
            Ok(details) => {
                self.store_details(event.resource_id, correspondence_id, &details)
                    .await?;
                self.link_stored_attachments(event.resource_id, &details.value)
                    .await?;
                summary.details_fetched = true;
            }
            // Altinn forgets a purged correspondence, but its events still belong in the
            // record: the purge itself, and any event that arrives after it (a late read,
            // a retry). One we archived details of existed, so a 404 now means it is gone;
            // one we never saw may be a configuration error, and is dead-lettered.
            Err(error) if error.reason == FailureReason::CorrespondenceNotFound => {
                let known = event.suffix == PURGED
                    || !self
                        .stored_details(event.resource_id, &cid)
                        .await?
                        .is_empty();
                if !known {
                    return Err(error);
                }
                tracing::info!(detail = %error.detail, "no details any more (purged)");
            }
            Err(error) => return Err(error),
        }
        self.finish_correspondence(event, ArchiveRole::Sender, &cid, summary, deadline)
            .await
    }

    /// Recipient: `correspondencepublished` archives the correspondence (details once, every
    /// attachment, the manifest last); any other event is kept and the manifest rebuilt,
    /// without a details call (each one records `Fetched` at the sender).
    async fn recipient_correspondence_event(
        &self,
        event: &CorrespondenceEvent<'_>,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<CorrespondenceSummary, ArchiveError> {
        let correspondence_id = event.id("correspondence")?;
        let cid = correspondence_id.to_string();
        let key = self.settings.layout.correspondence_event_under(
            event.resource_id,
            &cid,
            &event.event.event.id,
        )?;
        let mut summary = self.keep_event(&key, event.event).await?;
        if event.suffix == PUBLISHED {
            let (details, fetched) = self
                .recipient_details(event.resource_id, correspondence_id, deadline)
                .await?;
            summary.details_fetched = fetched;
            self.recipient_attachments(event.resource_id, &details, deadline, stats, &mut summary)
                .await?;
        }
        self.finish_correspondence(event, ArchiveRole::Recipient, &cid, summary, deadline)
            .await
    }

    /// The details to archive a recipient's correspondence by: the newest stored answer when
    /// an earlier run fetched one (a retry or a duplicate must not record another `Fetched`),
    /// else a fresh one, stored first. True when fetched now.
    async fn recipient_details(
        &self,
        resource_id: &str,
        correspondence_id: Uuid,
        deadline: &Deadline,
    ) -> Result<(CorrespondenceDetails, bool), ArchiveError> {
        let cid = correspondence_id.to_string();
        let stored = self.stored_details(resource_id, &cid).await?;
        if let Some(newest) = stored.iter().max() {
            let bytes = self
                .target
                .get_bytes(newest)
                .await
                .map_err(|e| ArchiveError::from_store(&e))?;
            if let Some(details) =
                bytes.and_then(|b| serde_json::from_slice::<CorrespondenceDetails>(&b).ok())
            {
                return Ok((details, false));
            }
        }
        deadline.check("fetch the correspondence's details")?;
        let details = self
            .altinn
            .correspondence_details(CorrespondenceRole::Recipient, correspondence_id)
            .await?;
        self.store_details(resource_id, correspondence_id, &details)
            .await?;
        Ok((details.value, true))
    }

    /// The keys of every details answer archived for the correspondence.
    async fn stored_details(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<Vec<String>, ArchiveError> {
        let prefix = self
            .settings
            .layout
            .correspondence_details_prefix(resource_id, correspondence_id)?;
        self.target
            .list_keys(&prefix)
            .await
            .map_err(|e| ArchiveError::from_store(&e))
    }

    /// Checks a details answer is the correspondence asked for, and stores its raw bytes as
    /// `details/{fetchedAt}.json`.
    async fn store_details(
        &self,
        resource_id: &str,
        correspondence_id: Uuid,
        details: &RawJson<CorrespondenceDetails>,
    ) -> Result<(), ArchiveError> {
        let answer = &details.value;
        let resource = answer
            .resource_id
            .strip_prefix(RESOURCE_URN_PREFIX)
            .unwrap_or(&answer.resource_id);
        if answer.correspondence_id != correspondence_id || resource != resource_id {
            return Err(ArchiveError::permanent(
                FailureReason::CorrespondenceMismatch,
                format!(
                    "details for correspondence {correspondence_id} of {resource_id} name \
                     correspondence {} of {resource}",
                    answer.correspondence_id
                ),
            ));
        }
        let key = self.settings.layout.correspondence_details(
            resource_id,
            &correspondence_id.to_string(),
            &fetched_at(time::OffsetDateTime::now_utc()),
        )?;
        self.target
            .put_small(&key, details.raw.clone(), JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        Ok(())
    }

    /// The manifest (rebuilt from what is stored), its hand-off event, then the follow-up
    /// alert when the event needs one.
    async fn finish_correspondence(
        &self,
        event: &CorrespondenceEvent<'_>,
        role: ArchiveRole,
        correspondence_id: &str,
        mut summary: CorrespondenceSummary,
        deadline: &Deadline,
    ) -> Result<CorrespondenceSummary, ArchiveError> {
        let manifest = self
            .write_correspondence_manifest(role, event.resource_id, correspondence_id)
            .await?;
        if summary.event_new {
            summary.archive_latency =
                archive_latency(event.event.event.time.as_deref(), SystemTime::now());
        }
        self.hand_off_correspondence(
            &event.archived(role),
            correspondence_id,
            &manifest,
            deadline,
        )
        .await?;
        summary.follow_up = self
            .follow_up(event, correspondence_id, &manifest.key, deadline)
            .await?;
        summary.manifest_key = Some(manifest.key);
        Ok(summary)
    }

    /// Attachment events: kept under `correspondence-attachments/{attachmentId}/`; the
    /// sender's `attachmentpublished` also archives the attachment (see [`attachment`]).
    async fn attachment_event(
        &self,
        event: &CorrespondenceEvent<'_>,
        role: CorrespondenceRole,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<CorrespondenceSummary, ArchiveError> {
        let attachment_id = event.id("attachment")?;
        let key = self
            .settings
            .layout
            .attachment_event(&attachment_id.to_string(), &event.event.event.id)?;
        let mut summary = self.keep_event(&key, event.event).await?;
        if role == CorrespondenceRole::Sender && event.suffix == ATTACHMENT_PUBLISHED {
            self.sender_attachment(event, attachment_id, deadline, stats, &mut summary)
                .await?;
        }
        Ok(summary)
    }

    /// Stores the event at `key` unless that event id is there already.
    async fn keep_event(
        &self,
        key: &str,
        event: &ReceivedEvent,
    ) -> Result<CorrespondenceSummary, ArchiveError> {
        let created = self
            .target
            .put_small_if_absent(key, Bytes::clone(&event.raw), JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        Ok(CorrespondenceSummary {
            event_key: key.to_owned(),
            event_new: matches!(created, ConditionalPut::Created(_)),
            ..CorrespondenceSummary::default()
        })
    }
}

/// The event must be about one of our resources (sender) or addressed to our organisation
/// (recipient); the webhook refuses others, so one here came by another way.
fn check_ours(
    mode: &CorrespondenceMode,
    event: &ReceivedEvent,
    resource: &str,
) -> Result<(), ArchiveError> {
    if !mode.is_our_resource(resource) {
        return Err(ArchiveError::permanent(
            FailureReason::CorrespondenceNotOurs,
            "the event's resource is not in CORRESPONDENCE_RESOURCES",
        ));
    }
    if !mode.is_addressed_to_us(event.event.subject.as_deref()) {
        return Err(ArchiveError::permanent(
            FailureReason::CorrespondenceNotOurs,
            "the event's subject is not our organisation (CORRESPONDENCE_RECIPIENT_ORGNO)",
        ));
    }
    Ok(())
}
