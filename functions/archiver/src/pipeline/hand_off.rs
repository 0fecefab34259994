//! When the pipeline puts hand-off events on the bus (what they hold is in
//! [`crate::hand_off`]): each archived-type event behind its own send-once claim
//! ([`Pipeline::send_once`]), so a duplicate delivery, a retry after a crash or a concurrent
//! run sends nothing twice, and a failed `PutEvents` fails the message, whose retry finds the
//! archive done and only sends.

use std::sync::Arc;

use altinn::InstanceRef;
use sha2::{Digest, Sha256};

use super::claim::SendOnce;
use super::instance::now_rfc3339;
use super::{Pipeline, ReceivedEvent};
use crate::correspondence::ArchiveRole;
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::follow_up::FollowUp;
use crate::hand_off::{
    ArchiveFailed, CorrespondenceArchived, HandOff, HandOffSink, InstanceArchived,
};
use crate::manifest::Manifest;
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::StoredObject;

/// The bus the pipeline hands off to, and the bucket its events name.
#[derive(Clone)]
pub struct HandOffBus {
    pub sink: Arc<dyn HandOffSink>,
    pub bucket: String,
}

/// What an `InstanceArchived` event says about the manifest: known to the run that wrote it,
/// read back from the bucket by a later one.
pub(super) struct WrittenManifest {
    pub(super) sha256: String,
    pub(super) event_id: String,
    pub(super) archived_at: String,
}

impl WrittenManifest {
    pub(super) fn new(stored: &StoredObject, manifest: &Manifest) -> Self {
        WrittenManifest {
            sha256: stored.sha256.clone(),
            event_id: manifest.event_id.clone(),
            archived_at: manifest.archived_at.clone(),
        }
    }
}

/// The Correspondence event a `CorrespondenceArchived` is about.
pub(super) struct ArchivedEvent<'a> {
    pub(super) role: ArchiveRole,
    pub(super) resource_id: &'a str,
    pub(super) event_id: &'a str,
    pub(super) event_type: &'a str,
    /// The SQS message it came in, when known.
    pub(super) message_id: Option<&'a str>,
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// `InstanceArchived` for the instance whose manifest is at `manifest_key`, once per
    /// instance. `written` is `None` when this run did not write the manifest: it is then read
    /// from the bucket, and only when the event was not sent yet.
    pub(super) async fn hand_off_instance(
        &self,
        instance: &InstanceRef,
        manifest_key: &str,
        written: Option<WrittenManifest>,
        completed: bool,
        event: &ReceivedEvent,
        deadline: &Deadline,
    ) -> Result<(), ArchiveError> {
        let Some(bus) = &self.hand_off else {
            return Ok(());
        };
        let claim_key = self.settings.layout.instance_hand_off_claim(instance)?;
        let send = || async {
            let written = match written {
                Some(written) => written,
                None => self.read_manifest(manifest_key).await?,
            };
            let event = HandOff::InstanceArchived(InstanceArchived {
                org: instance.org.clone(),
                app: instance.app.clone(),
                party_id: instance.party_id.to_string(),
                instance_guid: instance.instance_guid.to_string(),
                bucket: bus.bucket.clone(),
                manifest_key: manifest_key.to_owned(),
                manifest_sha256: written.sha256,
                event_id: written.event_id,
                archived_at: written.archived_at,
                completed,
            });
            bus.sink.put(&event).await
        };
        let claim = self.hand_off_claim(&claim_key, &event.event.id, event.message_id.as_deref());
        self.send_once(claim, deadline, send).await?;
        Ok(())
    }

    /// `CorrespondenceArchived` for one Correspondence event that rewrote the manifest of
    /// `correspondence_id`, once per (correspondence, event).
    pub(super) async fn hand_off_correspondence(
        &self,
        event: &ArchivedEvent<'_>,
        correspondence_id: &str,
        manifest: &StoredObject,
        deadline: &Deadline,
    ) -> Result<(), ArchiveError> {
        let Some(bus) = &self.hand_off else {
            return Ok(());
        };
        let claim_key = self.settings.layout.correspondence_hand_off_claim(
            event.resource_id,
            correspondence_id,
            event.event_id,
        )?;
        let archived = HandOff::CorrespondenceArchived(CorrespondenceArchived {
            role: event.role.as_str().to_owned(),
            resource_id: event.resource_id.to_owned(),
            correspondence_id: correspondence_id.to_owned(),
            bucket: bus.bucket.clone(),
            manifest_key: manifest.key.clone(),
            manifest_sha256: manifest.sha256.clone(),
            event_id: event.event_id.to_owned(),
            event_type: event.event_type.to_owned(),
            archived_at: now_rfc3339(),
        });
        let claim = self.hand_off_claim(&claim_key, event.event_id, event.message_id);
        self.send_once(claim, deadline, || bus.sink.put(&archived))
            .await?;
        Ok(())
    }

    /// `CorrespondenceNeedsFollowUp`, once per (correspondence, event type), beside the SNS
    /// alert (each has its own claim, so one failing never sends the other twice).
    pub(super) async fn hand_off_follow_up(
        &self,
        alert: &FollowUp,
        type_suffix: &str,
        message_id: Option<&str>,
        deadline: &Deadline,
    ) -> Result<(), ArchiveError> {
        let Some(bus) = &self.hand_off else {
            return Ok(());
        };
        let claim_key = self.settings.layout.follow_up_hand_off_claim(
            &alert.resource_id,
            &alert.correspondence_id,
            type_suffix,
        )?;
        let event = HandOff::CorrespondenceNeedsFollowUp(alert.clone());
        let claim = self.hand_off_claim(&claim_key, &alert.event_id, message_id);
        self.send_once(claim, deadline, || bus.sink.put(&event))
            .await?;
        Ok(())
    }

    /// `ArchiveFailed` for a message about to be dead-lettered. No claim: it is sent before
    /// the dead letter, so only a failed dead-letter send (the message then comes back) can
    /// send it twice.
    pub async fn hand_off_failure(&self, failed: ArchiveFailed) -> Result<(), ArchiveError> {
        match &self.hand_off {
            Some(bus) => bus.sink.put(&HandOff::ArchiveFailed(failed)).await,
            None => Ok(()),
        }
    }

    fn hand_off_claim<'a>(
        &self,
        key: &'a str,
        event_id: &'a str,
        message_id: Option<&'a str>,
    ) -> SendOnce<'a> {
        SendOnce {
            key,
            event_id,
            message_id,
            ttl: self.settings.send_claim_ttl,
            busy: FailureReason::HandOffInProgress,
            what: "this hand-off event",
        }
    }

    /// The facts of a manifest another run wrote, read back in one request (its SHA-256 is
    /// that of the bytes, as the store's metadata says too).
    async fn read_manifest(&self, key: &str) -> Result<WrittenManifest, ArchiveError> {
        let bytes = self
            .target
            .get_bytes(key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
            .ok_or_else(|| {
                ArchiveError::transient(
                    FailureReason::StorageUnavailable,
                    format!("{key}: the manifest could not be read back for its hand-off event"),
                )
            })?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            ArchiveError::permanent(
                FailureReason::InvalidInput,
                format!("{key} is not a manifest: {e}"),
            )
        })?;
        Ok(WrittenManifest {
            sha256: hex::encode(Sha256::digest(&bytes)),
            event_id: manifest.event_id,
            archived_at: manifest.archived_at,
        })
    }
}
