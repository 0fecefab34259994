//! Correspondence attachments: streamed from Altinn into the archive with the element
//! machinery ([`ArchiveTarget::upload_element`]: flat memory, the size and MD5 checked before
//! the object counts as stored), downloaded again when cut short or mismatching.
//!
//! Altinn's attachment `checksum` is the lower-case hex MD5 of the bytes (not Storage's Base64
//! `contentHash`); the size to check is the download's `Content-Length`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::super::element::upload_failure;
use super::super::instance::now_rfc3339;
use super::super::{JSON, Pipeline};
use super::CorrespondenceEvent;
use crate::correspondence::ArchiveRole;
use crate::correspondence::{
    AttachmentOverviewRecord, AttachmentState, CORRESPONDENCE_MANIFEST_VERSION, StoredBytes,
};
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::outcome::{CorrespondenceSummary, RunStats};
use crate::seams::{AltinnSource, ArchiveTarget, SenderDownload};
use crate::store::{ElementUpload, StoredObject};
use altinn::correspondence::CorrespondenceDetails;

/// Content type when Altinn gives none.
const OCTET_STREAM: &str = "application/octet-stream";
/// The `dataType` metadata of a stored attachment (instance elements carry their own).
const ATTACHMENT_DATA_TYPE: &str = "correspondence-attachment";

/// What became of one attachment.
pub(super) enum AttachmentResult {
    Stored {
        object: StoredObject,
        downloaded: bool,
    },
    NoLongerAccessible {
        detail: String,
    },
}

/// One attachment to archive.
struct Wanted<'a> {
    key: &'a str,
    file_name: Option<&'a str>,
    content_type: &'a str,
    /// Altinn's hex MD5, when it gave one.
    checksum: Option<&'a str>,
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// The sender's `attachmentpublished`: the overview, the bytes while the sender may still
    /// download them (or Altinn's 2016 recorded), the overview record, and a copy of that record
    /// under every linked correspondence, whose manifest is then rebuilt (and handed off).
    pub(super) async fn sender_attachment(
        &self,
        event: &CorrespondenceEvent<'_>,
        attachment_id: Uuid,
        deadline: &Deadline,
        stats: &RunStats,
        summary: &mut CorrespondenceSummary,
    ) -> Result<(), ArchiveError> {
        let layout = &self.settings.layout;
        let resource_id = event.resource_id;
        let aid = attachment_id.to_string();
        deadline.check("fetch the attachment overview")?;
        let overview = self.altinn.attachment_overview(attachment_id).await?;
        if overview.value.attachment_id != attachment_id {
            return Err(ArchiveError::permanent(
                FailureReason::CorrespondenceMismatch,
                format!(
                    "the overview of attachment {aid} is of attachment {}",
                    overview.value.attachment_id
                ),
            ));
        }
        let key = layout.attachment_data(&aid)?;
        let wanted = Wanted {
            key: &key,
            file_name: overview.value.file_name.as_deref(),
            content_type: overview.value.data_type.as_deref().unwrap_or(OCTET_STREAM),
            checksum: overview.value.checksum.as_deref(),
        };
        let fetch = || {
            self.altinn
                .download_sender_attachment(attachment_id)
                .boxed()
        };
        let result = self
            .archive_attachment(&wanted, deadline, stats, fetch)
            .await?;
        count(summary, &result);
        let (state, data, detail) = match result {
            AttachmentResult::Stored { object, .. } => (
                AttachmentState::Downloaded,
                Some(stored_bytes(object)),
                None,
            ),
            AttachmentResult::NoLongerAccessible { detail } => {
                tracing::info!(attachment_id = %aid, "the sender may no longer download the attachment (2016)");
                (
                    AttachmentState::NoLongerAccessibleToSender,
                    None,
                    Some(detail),
                )
            }
        };
        let record = AttachmentOverviewRecord {
            version: CORRESPONDENCE_MANIFEST_VERSION,
            attachment_id: aid.clone(),
            fetched_at: now_rfc3339(),
            overview: serde_json::from_slice(&overview.raw).unwrap_or_default(),
            state,
            data,
            detail,
        };
        let record = Bytes::from(record.to_json());
        self.target
            .put_small(&layout.attachment_overview(&aid)?, record.clone(), JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        for correspondence_id in &overview.value.correspondence_ids {
            let cid = correspondence_id.to_string();
            // Write-once under the correspondence, like everything its manifest is built from.
            let linked = layout.correspondence_attachment_overview(resource_id, &cid, &aid)?;
            self.target
                .put_small_if_absent(&linked, record.clone(), JSON)
                .await
                .map_err(|e| ArchiveError::from_store(&e))?;
            let manifest = self
                .write_correspondence_manifest(ArchiveRole::Sender, resource_id, &cid)
                .await?;
            let archived = event.archived(ArchiveRole::Sender);
            self.hand_off_correspondence(&archived, &cid, &manifest, deadline)
                .await?;
        }
        Ok(())
    }

    /// Links the attachments a sender's `details` names whose `attachmentpublished` came before
    /// this correspondence used them (an attachment uploaded first, a correspondence made with
    /// it later): their overview record is copied under the correspondence (write-once), so its
    /// manifest lists the bytes kept under `correspondence-attachments/`. Only details fetched
    /// before publication name the attachments, so this runs on the early events.
    pub(super) async fn link_stored_attachments(
        &self,
        resource_id: &str,
        details: &CorrespondenceDetails,
    ) -> Result<(), ArchiveError> {
        let layout = &self.settings.layout;
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        let cid = details.correspondence_id.to_string();
        for attachment in details.attachments() {
            let aid = attachment.id.to_string();
            let linked = layout.correspondence_attachment_overview(resource_id, &cid, &aid)?;
            if self.target.exists(&linked).await.map_err(store_error)? {
                continue;
            }
            let shared = layout.attachment_overview(&aid)?;
            let Some(record) = self.target.get_bytes(&shared).await.map_err(store_error)? else {
                continue;
            };
            self.target
                .put_small_if_absent(&linked, record, JSON)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// The recipient's copy of every attachment in `details`, under the correspondence.
    pub(super) async fn recipient_attachments(
        &self,
        resource_id: &str,
        details: &CorrespondenceDetails,
        deadline: &Deadline,
        stats: &RunStats,
        summary: &mut CorrespondenceSummary,
    ) -> Result<(), ArchiveError> {
        let correspondence_id = details.correspondence_id;
        let cid = correspondence_id.to_string();
        for attachment in details.attachments() {
            let attachment_id = attachment.id;
            let key = self.settings.layout.correspondence_attachment(
                resource_id,
                &cid,
                &attachment_id.to_string(),
                attachment.file_name.as_deref(),
            )?;
            let wanted = Wanted {
                key: &key,
                file_name: attachment.file_name.as_deref(),
                content_type: attachment.data_type.as_deref().unwrap_or(OCTET_STREAM),
                checksum: attachment.checksum.as_deref(),
            };
            let fetch = || {
                self.altinn
                    .download_recipient_attachment(correspondence_id, attachment_id)
                    .map(|download| download.map(SenderDownload::Bytes))
                    .boxed()
            };
            let result = self
                .archive_attachment(&wanted, deadline, stats, fetch)
                .await?;
            count(summary, &result);
        }
        Ok(())
    }

    /// One attachment: reuse what is stored when it matches the checksum, else download it
    /// (up to DOWNLOAD_ATTEMPTS when cut short or mismatching) and stream it into `key`.
    async fn archive_attachment<'s, F>(
        &'s self,
        wanted: &Wanted<'_>,
        deadline: &Deadline,
        stats: &RunStats,
        fetch: F,
    ) -> Result<AttachmentResult, ArchiveError>
    where
        F: Fn() -> BoxFuture<'s, Result<SenderDownload, ArchiveError>>,
    {
        let md5 = wanted.checksum.and_then(|hex_md5| {
            let decoded = hex::decode(hex_md5)
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok());
            if decoded.is_none() {
                tracing::warn!(key = %wanted.key, "checksum is not a hex MD5; checking the size only");
            }
            decoded
        });
        let stored = self
            .target
            .stored_object(wanted.key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        if let Some(object) = stored.filter(|s| md5.is_none_or(|m| s.md5 == BASE64.encode(m))) {
            return Ok(AttachmentResult::Stored {
                object,
                downloaded: false,
            });
        }
        let _slot = self
            .transfer_slots
            .acquire()
            .await
            .map_err(|_| ArchiveError::transient(FailureReason::Deadline, "shutting down"))?;
        let mut last_error: Option<ArchiveError> = None;
        for attempt in 1..=self.settings.download_attempts {
            self.pause_before_download(attempt, last_error.as_ref(), stats)
                .await;
            deadline.check("download an attachment")?;
            let download = match fetch().await? {
                SenderDownload::Bytes(download) => download,
                SenderDownload::NoLongerAccessible { detail } => {
                    return Ok(AttachmentResult::NoLongerAccessible { detail });
                }
            };
            let Some(size) = download.content_length else {
                last_error = Some(ArchiveError::transient(
                    FailureReason::AltinnUnexpectedResponse,
                    format!("{}: the download has no Content-Length", wanted.key),
                ));
                continue;
            };
            let upload = ElementUpload {
                key: wanted.key,
                content_type: wanted.content_type,
                filename: wanted.file_name,
                data_type: ATTACHMENT_DATA_TYPE,
                size,
                md5,
                last_changed: None,
            };
            let error = match self.target.upload_element(&upload, download.body).await {
                Ok(object) => {
                    tracing::info!(key = %wanted.key, size = object.size, attempt, "attachment archived");
                    return Ok(AttachmentResult::Stored {
                        object,
                        downloaded: true,
                    });
                }
                Err(error) => upload_failure(error, &format!("attachment {}", wanted.key))?,
            };
            tracing::warn!(key = %wanted.key, attempt, reason = %error.reason, detail = %error.detail, "attachment download failed");
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| {
            ArchiveError::transient(FailureReason::DownloadInterrupted, "no attempt made")
        }))
    }
}

fn count(summary: &mut CorrespondenceSummary, result: &AttachmentResult) {
    match result {
        AttachmentResult::Stored {
            object,
            downloaded: true,
        } => {
            summary.attachments_downloaded += 1;
            summary.bytes_downloaded += object.size;
        }
        AttachmentResult::Stored { .. } => summary.attachments_reused += 1,
        AttachmentResult::NoLongerAccessible { .. } => summary.attachments_not_accessible += 1,
    }
}

fn stored_bytes(object: StoredObject) -> StoredBytes {
    let md5 = BASE64
        .decode(&object.md5)
        .map(hex::encode)
        .unwrap_or_default();
    StoredBytes {
        key: object.key,
        size: object.size,
        sha256: object.sha256,
        md5,
    }
}
