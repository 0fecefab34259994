//! A correspondence's `manifest.json`: a pure function of what is stored under the
//! correspondence, written again by every event.
//!
//! **Why a write never loses a status another concurrent run saw.** Every status comes from an
//! object a run stores *before* it writes the manifest (its event, its details answer), and
//! those objects are write-once. A run builds the manifest from a listing, PUTs it, then lists
//! again; if the second listing holds an object the manifest did not include, it builds and
//! PUTs again. The manifest left in S3 is the last one PUT, and its writer listed *after* that
//! PUT and found nothing missing (S3 lists are strongly consistent), so everything stored
//! before that moment is in it; anything stored later belongs to a run that has yet to write
//! its own manifest, and goes through the same loop. Each extra round needs another run to
//! have stored something in between, so the loop is bounded; past the bound the message is
//! retried later (a transient failure), when the burst is over.

use std::collections::{BTreeMap, HashSet};

use altinn::CloudEvent;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::super::instance::now_rfc3339;
use super::super::{JSON, Pipeline};
use crate::correspondence::ArchiveRole;
use crate::correspondence::{
    AttachmentOverviewRecord, AttachmentRecord, AttachmentState, CORRESPONDENCE_MANIFEST_VERSION,
    CorrespondenceManifest, CorrespondenceObject, CorrespondenceObjectRole, EventRecord,
    NotificationRecord, StatusRecord, StatusSource, event_status, is_notification_event,
    merge_statuses,
};
use crate::error::{ArchiveError, FailureReason};
use crate::layout::{ATTACHMENT_OVERVIEW_NAME, FOLLOW_UP_FOLDER, HAND_OFF_FOLDER, MANIFEST_NAME};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::StoredObject;
use altinn::correspondence::CorrespondenceDetails;
use altinn::correspondence_event_suffix;

/// How many times one run builds and writes the manifest before it gives up for now (each
/// extra round means another run stored something meanwhile; a burst of that many events for
/// one correspondence is rare, and the retry finishes the work).
const MAX_MANIFEST_ROUNDS: u32 = 8;

/// What an object under a correspondence is, by its path below the correspondence's prefix.
enum Kind<'a> {
    Event,
    Details,
    /// `attachments/{id}/overview.json`.
    AttachmentOverview(&'a str),
    /// `attachments/{id}/{name}`.
    Attachment(&'a str),
    /// The manifest itself and the follow-up claims: not part of the archive.
    NotArchived,
    Other,
}

fn kind(relative: &str) -> Kind<'_> {
    if relative == MANIFEST_NAME
        || relative.starts_with(FOLLOW_UP_FOLDER)
        || relative.starts_with(HAND_OFF_FOLDER)
    {
        return Kind::NotArchived;
    }
    if relative.starts_with("events/") {
        return Kind::Event;
    }
    if relative.starts_with("details/") {
        return Kind::Details;
    }
    if let Some(rest) = relative.strip_prefix("attachments/")
        && let Some((id, name)) = rest.split_once('/')
    {
        return if name == ATTACHMENT_OVERVIEW_NAME {
            Kind::AttachmentOverview(id)
        } else {
            Kind::Attachment(id)
        };
    }
    Kind::Other
}

/// The manifest being put together from the stored objects, in key order.
#[derive(Default)]
struct Parts {
    objects: Vec<CorrespondenceObject>,
    details_statuses: Vec<StatusRecord>,
    event_statuses: Vec<StatusRecord>,
    notification_events: Vec<EventRecord>,
    /// The newest details answer (the keys sort by fetch time).
    newest: Option<CorrespondenceDetails>,
    attachments: BTreeMap<String, AttachmentRecord>,
}

impl Parts {
    fn object(&mut self, key: &str, role: CorrespondenceObjectRole, bytes: &[u8]) {
        self.objects.push(CorrespondenceObject {
            key: key.to_owned(),
            role,
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        });
    }

    fn event(&mut self, key: &str, bytes: &[u8]) {
        self.object(key, CorrespondenceObjectRole::Event, bytes);
        let Ok(event) = CloudEvent::parse(bytes) else {
            return;
        };
        let Some(suffix) = correspondence_event_suffix(&event.event_type) else {
            return;
        };
        if let Some(status) = event_status(suffix) {
            self.event_statuses.push(StatusRecord {
                status: status.to_owned(),
                status_changed: event.time.clone().unwrap_or_default(),
                status_text: None,
                source: StatusSource::Event,
                event_id: Some(event.id.clone()),
            });
        }
        if is_notification_event(suffix) {
            self.notification_events.push(EventRecord {
                event_id: event.id.clone(),
                event_type: suffix.to_owned(),
                time: event.time.clone(),
                key: key.to_owned(),
            });
        }
    }

    fn details(&mut self, key: &str, bytes: &[u8]) {
        self.object(key, CorrespondenceObjectRole::Details, bytes);
        let Ok(details) = serde_json::from_slice::<CorrespondenceDetails>(bytes) else {
            tracing::warn!(
                key,
                "a stored details answer cannot be read; its statuses are left out"
            );
            return;
        };
        let record = |status: &str, changed: &str, text: Option<&String>| StatusRecord {
            status: status.to_owned(),
            status_changed: changed.to_owned(),
            status_text: text.cloned(),
            source: StatusSource::Details,
            event_id: None,
        };
        for entry in &details.status_history {
            self.details_statuses.push(record(
                &entry.status,
                &entry.status_changed,
                entry.status_text.as_ref(),
            ));
        }
        if let Some(changed) = &details.status_changed {
            self.details_statuses.push(record(
                &details.status,
                changed,
                details.status_text.as_ref(),
            ));
        }
        for attachment in details.attachments() {
            let entry = self.attachment(&attachment.id.to_string());
            entry.file_name = attachment.file_name.clone().or(entry.file_name.take());
            entry.checksum = attachment.checksum.clone().or(entry.checksum.take());
        }
        self.newest = Some(details);
    }

    fn attachment(&mut self, id: &str) -> &mut AttachmentRecord {
        self.attachments
            .entry(id.to_owned())
            .or_insert_with(|| AttachmentRecord {
                attachment_id: id.to_owned(),
                file_name: None,
                checksum: None,
                state: AttachmentState::NotDownloaded,
                key: None,
                size: None,
                sha256: None,
            })
    }

    fn overview(&mut self, key: &str, id: &str, bytes: &[u8]) {
        self.object(key, CorrespondenceObjectRole::AttachmentOverview, bytes);
        let Ok(record) = serde_json::from_slice::<AttachmentOverviewRecord>(bytes) else {
            return;
        };
        let text = |field: &str| record.overview[field].as_str().map(str::to_owned);
        let entry = self.attachment(id);
        entry.file_name = entry.file_name.take().or(text("fileName"));
        entry.checksum = entry.checksum.take().or(text("checksum"));
        if entry.state != AttachmentState::Downloaded {
            entry.state = record.state;
        }
        if let Some(data) = record.data {
            entry.key = Some(data.key);
            entry.size = Some(data.size);
            entry.sha256 = Some(data.sha256);
        }
    }

    fn finish(
        self,
        role: ArchiveRole,
        resource_id: &str,
        correspondence_id: &str,
    ) -> CorrespondenceManifest {
        let status_history =
            merge_statuses(self.details_statuses.into_iter().chain(self.event_statuses));
        let notifications = self
            .newest
            .iter()
            .flat_map(|details| &details.notifications)
            .map(|n| NotificationRecord {
                id: n.id.clone(),
                is_reminder: n.is_reminder,
                notification_channel: n.notification_channel.clone(),
                created: n.created.clone(),
                processing_status: n.processing_status.clone(),
                notification_status_details: n.notification_status_details.clone(),
            })
            .collect();
        CorrespondenceManifest {
            version: CORRESPONDENCE_MANIFEST_VERSION,
            correspondence_id: correspondence_id.to_owned(),
            resource_id: resource_id.to_owned(),
            role,
            written_at: now_rfc3339(),
            latest_status: status_history.last().cloned(),
            status_history,
            notifications,
            notification_events: self.notification_events,
            attachments: self.attachments.into_values().collect(),
            objects: self.objects,
        }
    }
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Builds the correspondence's manifest from what is stored and writes it, again while
    /// concurrent runs keep adding objects (see the module docs); the manifest as last written.
    pub(super) async fn write_correspondence_manifest(
        &self,
        role: ArchiveRole,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<StoredObject, ArchiveError> {
        let layout = &self.settings.layout;
        let prefix = layout.correspondence_prefix(resource_id, correspondence_id)?;
        let manifest_key = layout.correspondence_manifest(resource_id, correspondence_id)?;
        let mut keys = self.archived_keys(&prefix).await?;
        for round in 1..=MAX_MANIFEST_ROUNDS {
            let manifest = self
                .build_correspondence_manifest(role, resource_id, correspondence_id, &prefix, &keys)
                .await?;
            let written = self
                .target
                .put_small(&manifest_key, Bytes::from(manifest.to_json()), JSON)
                .await
                .map_err(|e| ArchiveError::from_store(&e))?;
            let now = self.archived_keys(&prefix).await?;
            let included: HashSet<&String> = keys.iter().collect();
            if now.iter().all(|key| included.contains(key)) {
                return Ok(written);
            }
            tracing::info!(
                round,
                "objects were stored while the manifest was written; writing it again"
            );
            keys = now;
        }
        Err(ArchiveError::transient(
            FailureReason::ManifestUnsettled,
            format!(
                "{manifest_key}: other runs kept storing objects through {MAX_MANIFEST_ROUNDS} \
                 writes of the manifest"
            ),
        ))
    }

    /// The keys under the correspondence that its manifest describes, sorted.
    async fn archived_keys(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        let mut keys: Vec<String> = self
            .target
            .list_keys(prefix)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
            .into_iter()
            .filter(|key| {
                let relative = key.strip_prefix(prefix).unwrap_or(key);
                !matches!(kind(relative), Kind::NotArchived)
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// The manifest of the objects at `keys` (the small ones are read, the attachments' digests
    /// taken from their metadata).
    async fn build_correspondence_manifest(
        &self,
        role: ArchiveRole,
        resource_id: &str,
        correspondence_id: &str,
        prefix: &str,
        keys: &[String],
    ) -> Result<CorrespondenceManifest, ArchiveError> {
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        let mut parts = Parts::default();
        for key in keys {
            let relative = key.strip_prefix(prefix).unwrap_or(key);
            let kind = kind(relative);
            if let Kind::Attachment(_) | Kind::Other = kind {
                // Incomplete (no digests yet, or a crash before they were written): left out
                // until a run stores it whole.
                let Some(stored) = self.target.stored_object(key).await.map_err(store_error)?
                else {
                    continue;
                };
                let role = match kind {
                    Kind::Attachment(id) => {
                        let entry = parts.attachment(id);
                        entry.state = AttachmentState::Downloaded;
                        entry.key = Some(stored.key.clone());
                        entry.size = Some(stored.size);
                        entry.sha256 = Some(stored.sha256.clone());
                        CorrespondenceObjectRole::Attachment
                    }
                    _ => CorrespondenceObjectRole::Other,
                };
                parts.objects.push(CorrespondenceObject {
                    key: stored.key,
                    role,
                    size: stored.size,
                    sha256: stored.sha256,
                });
                continue;
            }
            let Some(bytes) = self.target.get_bytes(key).await.map_err(store_error)? else {
                continue;
            };
            match kind {
                Kind::Event => parts.event(key, &bytes),
                Kind::Details => parts.details(key, &bytes),
                Kind::AttachmentOverview(id) => parts.overview(key, id, &bytes),
                Kind::Attachment(_) | Kind::Other | Kind::NotArchived => {}
            }
        }
        Ok(parts.finish(role, resource_id, correspondence_id))
    }
}
