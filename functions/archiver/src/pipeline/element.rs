//! One data element: reuse it when it is already archived, else stream it from Altinn into the
//! archive, downloading again (with backoff) when the body is cut short or does not match.

use std::collections::HashSet;

use altinn::{DataElement, InstanceRef};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::Pipeline;
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::outcome::RunStats;
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::{ElementUpload, StoredObject, UploadError};

/// Content type when Altinn gives none.
const OCTET_STREAM: &str = "application/octet-stream";

/// One data element's archive step, boxed so the instance's future stays `Send`.
pub(super) type ElementFuture<'a> =
    futures_util::future::BoxFuture<'a, (usize, Result<ElementResult, ArchiveError>)>;

/// One element's result.
pub(super) struct ElementResult {
    pub(super) object: StoredObject,
    pub(super) downloaded: bool,
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// One element: reuse what is in S3, else download and store it, retrying a body that was
    /// cut short or did not match. A `quarantined` (`Infected`) element goes to the instance's
    /// `quarantine/` instead of `data/`.
    pub(super) async fn archive_element(
        &self,
        instance: &InstanceRef,
        element: &DataElement,
        quarantined: bool,
        already_stored: &HashSet<String>,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<ElementResult, ArchiveError> {
        let layout = &self.settings.layout;
        let key = if quarantined {
            layout.quarantined_element(instance, &element.id)?
        } else {
            layout.data_element(instance, &element.id)?
        };
        let md5 = altinn_md5(element);
        if md5.is_none() && element.content_hash.is_some() {
            tracing::warn!(data_element_id = %element.id, "contentHash is not a base64 MD5; checking the size only");
        }
        let upload = ElementUpload {
            key: &key,
            content_type: element.content_type.as_deref().unwrap_or(OCTET_STREAM),
            filename: element.filename.as_deref(),
            data_type: &element.data_type,
            size: element.size,
            md5,
            last_changed: element.last_changed.as_deref(),
        };
        if already_stored.contains(&key)
            && let Some(object) = self.reusable(&upload).await?
        {
            tracing::debug!(data_element_id = %element.id, "already archived");
            return Ok(ElementResult {
                object,
                downloaded: false,
            });
        }

        // While we waited for a slot, a concurrent run may have archived it; without a wait
        // the check just made still stands (a second HEAD per element for nothing).
        let _slot = match self.transfer_slots.try_acquire() {
            Ok(slot) => slot,
            Err(_) => {
                let slot = self.transfer_slots.acquire().await.map_err(|_| {
                    ArchiveError::transient(FailureReason::Deadline, "shutting down")
                })?;
                if let Some(object) = self.reusable(&upload).await? {
                    return Ok(ElementResult {
                        object,
                        downloaded: false,
                    });
                }
                slot
            }
        };
        let mut last_error: Option<ArchiveError> = None;
        for attempt in 1..=self.settings.download_attempts {
            self.pause_before_download(attempt, last_error.as_ref(), stats)
                .await;
            deadline.check("download a data element")?;
            let download = self.altinn.download_data(instance, &element.id).await?;
            if let Some(length) = download.content_length
                && length != element.size
            {
                last_error = Some(ArchiveError::permanent(
                    FailureReason::SizeMismatch,
                    format!(
                        "data element {}: Content-Length {length}, size {}",
                        element.id, element.size
                    ),
                ));
                continue;
            }
            let error = match self.target.upload_element(&upload, download.body).await {
                Ok(object) => {
                    if quarantined {
                        stats.add_quarantined();
                    }
                    tracing::info!(data_element_id = %element.id, size = object.size, attempt, quarantined, "data element archived");
                    return Ok(ElementResult {
                        object,
                        downloaded: true,
                    });
                }
                Err(error) => upload_failure(error, &format!("data element {}", element.id))?,
            };
            tracing::warn!(data_element_id = %element.id, attempt, reason = %error.reason, detail = %error.detail, "download failed");
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| {
            ArchiveError::transient(FailureReason::DownloadInterrupted, "no attempt made")
        }))
    }

    /// The element's object when it is already archived and matches the element (see
    /// [`ElementUpload::is_matched_by`]), so it need not be downloaded again.
    async fn reusable(
        &self,
        upload: &ElementUpload<'_>,
    ) -> Result<Option<StoredObject>, ArchiveError> {
        let stored = self
            .target
            .stored_object(upload.key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?;
        Ok(stored.filter(|stored| upload.is_matched_by(stored)))
    }

    /// Before a download's second and later attempts: counts the retry and waits the
    /// backoff for this attempt (at least the `Retry-After` of the last failure).
    pub(super) async fn pause_before_download(
        &self,
        attempt: u32,
        last_error: Option<&ArchiveError>,
        stats: &RunStats,
    ) {
        if attempt <= 1 {
            return;
        }
        stats.add_retry();
        let retry_after = last_error.and_then(|e| e.retry_after);
        let pause = self
            .settings
            .download_backoff
            .delay(attempt - 1, retry_after);
        tokio::time::sleep(pause).await;
    }
}

/// Altinn's `contentHash` of `element` as MD5 bytes, when it gave one that is a Base64 MD5.
pub(super) fn altinn_md5(element: &DataElement) -> Option<[u8; 16]> {
    let hash = element.content_hash.as_deref()?;
    BASE64
        .decode(hash)
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
}

/// What a failed streaming upload means for the download loop: `Ok` with the error to retry
/// on (a body cut short, a size or MD5 mismatch; the last one is returned when every attempt
/// fails), `Err` to stop at once (a permanent body error, S3 failing). `what` names the object
/// in the detail.
pub(super) fn upload_failure(
    error: UploadError<ArchiveError>,
    what: &str,
) -> Result<ArchiveError, ArchiveError> {
    Ok(match error {
        UploadError::Body(error) => {
            if !error.is_transient() {
                return Err(error);
            }
            ArchiveError {
                reason: FailureReason::DownloadInterrupted,
                ..error
            }
        }
        error @ (UploadError::TooLong { .. } | UploadError::SizeMismatch { .. }) => {
            ArchiveError::permanent(FailureReason::SizeMismatch, format!("{what}: {error}"))
        }
        error @ UploadError::Md5Mismatch { .. } => {
            ArchiveError::permanent(FailureReason::ChecksumMismatch, format!("{what}: {error}"))
        }
        error @ UploadError::StoredChecksumMismatch { .. } => {
            ArchiveError::transient(FailureReason::ChecksumMismatch, format!("{what}: {error}"))
        }
        UploadError::Store(error) => return Err(ArchiveError::from_store(&error)),
    })
}
