//! The pipeline's two seams: where Altinn content comes from ([`AltinnSource`], with its
//! Correspondence calls in [`CorrespondenceSource`]) and where the archive goes
//! ([`ArchiveTarget`]). In production they are [`AltinnApi`] (the Altinn client and
//! the receipt uploader) and [`ArchiveStore`] (the S3 bucket); [`crate::memory`] has in-memory
//! ones for fast tests of the pipeline's decisions.
//!
//! The traits are used as generic parameters (`Pipeline<A, T>`), not as trait objects: every
//! method promises a `Send` future, so the batch future built on them can be `tokio::spawn`ed.

use std::future::Future;
use std::time::SystemTime;

use altinn::{AltinnClient, ClientError, InstanceRef, RawInstance};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use crate::error::{ArchiveError, FailureReason};
use crate::receipt::{Receipt, ReceiptSettings, ReceiptUploader, SubstatusSettings};
use crate::store::{
    ArchiveStore, ConditionalPut, ElementUpload, StoreError, StoredObject, UploadError,
};
use altinn::correspondence::{
    AttachmentOverview, CorrespondenceDetails, ERROR_ATTACHMENT_NOT_AVAILABLE_TO_SENDER,
};
use altinn::{CorrespondenceRole, RawJson};

/// A data element's bytes on their way from Altinn.
pub struct Download {
    /// `Content-Length` when the source said it.
    pub content_length: Option<u64>,
    /// The body; a body cut short ends with a transient error.
    pub body: BoxStream<'static, Result<Bytes, ArchiveError>>,
}

impl Download {
    fn from_client(download: altinn::DataStream) -> Self {
        Download {
            content_length: download.content_length,
            body: download
                .body
                .map(|chunk| chunk.map_err(|e| ArchiveError::from_altinn(&e)))
                .boxed(),
        }
    }
}

/// What the sender's attachment download gave.
pub enum SenderDownload {
    /// The bytes.
    Bytes(Download),
    /// Altinn's error 2016: a linked correspondence is published, so the sender may no longer
    /// download it (only the recipient can). `detail` is Altinn's answer, for the record.
    NoLongerAccessible { detail: String },
}

/// The Correspondence API calls the pipeline makes, failures classified. There is deliberately
/// no call for a correspondence's `/content`, `markasread` or `confirm`: each would record a
/// status the recipient never caused (`Read`, `Confirmed`).
pub trait CorrespondenceSource: Send + Sync {
    /// `GET …/correspondence/{id}/details` with the token of `role`: the answer as Altinn sent
    /// it. As recipient the call records `Fetched` at the sender, so make it once per
    /// correspondence. A 404 is a permanent [`FailureReason::CorrespondenceNotFound`].
    fn correspondence_details(
        &self,
        role: CorrespondenceRole,
        correspondence_id: Uuid,
    ) -> impl Future<Output = Result<RawJson<CorrespondenceDetails>, ArchiveError>> + Send;

    /// The sender's `GET …/attachment/{id}` (with its `checksum` and `correspondenceIds`).
    fn attachment_overview(
        &self,
        attachment_id: Uuid,
    ) -> impl Future<Output = Result<RawJson<AttachmentOverview>, ArchiveError>> + Send;

    /// The sender's `GET …/attachment/{id}/download`.
    fn download_sender_attachment(
        &self,
        attachment_id: Uuid,
    ) -> impl Future<Output = Result<SenderDownload, ArchiveError>> + Send;

    /// The recipient's `GET …/correspondence/{cid}/attachment/{aid}/download` (records
    /// `AttachmentsDownloaded` at the sender; no event).
    fn download_recipient_attachment(
        &self,
        correspondence_id: Uuid,
        attachment_id: Uuid,
    ) -> impl Future<Output = Result<Download, ArchiveError>> + Send;
}

/// Where Altinn content comes from, and what is written back to it: the calls the pipeline
/// makes, with their failures already classified. The Correspondence calls are the
/// supertrait's.
pub trait AltinnSource: CorrespondenceSource + Send + Sync {
    /// The instance as Storage has it now, its bytes kept.
    fn get_instance(
        &self,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<RawInstance, ArchiveError>> + Send;

    /// Storage's instance events for the instance (`{"instanceEvents": […]}`), the bytes as
    /// Storage sent them.
    fn instance_events(
        &self,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<Bytes, ArchiveError>> + Send;

    /// Storage's process history for the instance (`{"processHistory": […]}`), the bytes as
    /// Storage sent them.
    fn process_history(
        &self,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<Bytes, ArchiveError>> + Send;

    /// The metadata of the app `org/app` (Storage's `Application`), the bytes as Storage sent
    /// them.
    fn app_metadata(
        &self,
        org: &str,
        app: &str,
    ) -> impl Future<Output = Result<Bytes, ArchiveError>> + Send;

    /// One data element's bytes, streamed.
    fn download_data(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> impl Future<Output = Result<Download, ArchiveError>> + Send;

    /// Confirms the instance complete for our org (idempotent).
    fn complete(
        &self,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<(), ArchiveError>> + Send;

    /// Moves the process on from the task it waits in (`process/next`). Sent once: when it
    /// fails, the caller looks at the instance before asking again.
    fn process_next(
        &self,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<(), ArchiveError>> + Send;

    /// Sets the instance's substatus (idempotent).
    fn update_substatus(
        &self,
        instance: &InstanceRef,
        substatus: &SubstatusSettings,
    ) -> impl Future<Output = Result<(), ArchiveError>> + Send;

    /// Writes `receipt` into the instance as a data element; the new element's id when known.
    fn upload_receipt(
        &self,
        instance: &InstanceRef,
        settings: &ReceiptSettings,
        receipt: &Receipt,
    ) -> impl Future<Output = Result<Option<String>, ArchiveError>> + Send;
}

/// Where the archive goes: the object operations the pipeline needs.
pub trait ArchiveTarget: Send + Sync {
    /// True when an object exists at `key`.
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every key under `prefix`.
    fn list_keys(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The object at `key` when it is complete (written by us with its digests), else `None`.
    fn stored_object(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send;

    /// Streams `body` into the element's object, checked against `upload.size` and
    /// `upload.md5`; on any error nothing is left that [`ArchiveTarget::stored_object`] returns.
    fn upload_element<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        body: S,
    ) -> impl Future<Output = Result<StoredObject, UploadError<E>>> + Send
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Send;

    /// Stores a small object, replacing any at `key`.
    fn put_small(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<StoredObject, StoreError>> + Send;

    /// Stores a small object only when nothing is at `key` (`If-None-Match: *`): of two
    /// concurrent writers exactly one gets [`ConditionalPut::Created`].
    fn put_small_if_absent(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<ConditionalPut, StoreError>> + Send;

    /// The bytes at `key`, `None` when missing.
    fn get_bytes(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send;

    /// When the object at `key` was last written, `None` when missing (the age of a claim).
    fn last_modified(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<SystemTime>, StoreError>> + Send;

    /// Deletes the object at `key` (missing is fine).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the object tags of `key` to `tags` (replacing any), e.g. a quarantined element's
    /// `altinn-file-scan=Infected`, so bucket policies and lifecycle rules can single it out.
    fn tag_object(
        &self,
        key: &str,
        tags: &[(&str, &str)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A URL naming `prefix` in this archive, for the receipt (`s3://{bucket}/{prefix}`).
    fn location(&self, prefix: &str) -> String;
}

/// The production [`AltinnSource`]: the Altinn client, and the receipt uploader sharing its
/// HTTP client and tokens.
#[derive(Clone)]
pub struct AltinnApi {
    pub client: AltinnClient,
    pub receipts: ReceiptUploader,
}

impl AltinnSource for AltinnApi {
    async fn get_instance(&self, instance: &InstanceRef) -> Result<RawInstance, ArchiveError> {
        self.client
            .get_instance(instance)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn instance_events(&self, instance: &InstanceRef) -> Result<Bytes, ArchiveError> {
        self.client
            .get_instance_events(instance)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn process_history(&self, instance: &InstanceRef) -> Result<Bytes, ArchiveError> {
        self.client
            .get_process_history(instance)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn app_metadata(&self, org: &str, app: &str) -> Result<Bytes, ArchiveError> {
        self.client
            .get_application(org, app)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn download_data(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> Result<Download, ArchiveError> {
        let download = self
            .client
            .download_data(instance, data_id)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))?;
        Ok(Download::from_client(download))
    }

    async fn complete(&self, instance: &InstanceRef) -> Result<(), ArchiveError> {
        self.client
            .complete(instance)
            .await
            .map(|_| ())
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn process_next(&self, instance: &InstanceRef) -> Result<(), ArchiveError> {
        let state = self
            .client
            .process_next(instance)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))?;
        tracing::info!(
            ended = state.ended.is_some(),
            current_task = state
                .current_task
                .as_ref()
                .and_then(|task| task.element_id.as_deref()),
            "process moved on"
        );
        Ok(())
    }

    async fn update_substatus(
        &self,
        instance: &InstanceRef,
        substatus: &SubstatusSettings,
    ) -> Result<(), ArchiveError> {
        self.client
            .update_substatus(instance, &substatus.label, substatus.description.as_deref())
            .await
            .map(|_| ())
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn upload_receipt(
        &self,
        instance: &InstanceRef,
        settings: &ReceiptSettings,
        receipt: &Receipt,
    ) -> Result<Option<String>, ArchiveError> {
        self.receipts.upload(instance, settings, receipt).await
    }
}

impl CorrespondenceSource for AltinnApi {
    async fn correspondence_details(
        &self,
        role: CorrespondenceRole,
        correspondence_id: Uuid,
    ) -> Result<RawJson<CorrespondenceDetails>, ArchiveError> {
        self.client
            .correspondence_details(role, correspondence_id)
            .await
            .map_err(|e| details_error(&e, role, correspondence_id))
    }

    async fn attachment_overview(
        &self,
        attachment_id: Uuid,
    ) -> Result<RawJson<AttachmentOverview>, ArchiveError> {
        self.client
            .attachment_overview(attachment_id)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))
    }

    async fn download_sender_attachment(
        &self,
        attachment_id: Uuid,
    ) -> Result<SenderDownload, ArchiveError> {
        match self.client.download_sender_attachment(attachment_id).await {
            Ok(download) => Ok(SenderDownload::Bytes(Download::from_client(download))),
            Err(error) if error.error_code() == Some(ERROR_ATTACHMENT_NOT_AVAILABLE_TO_SENDER) => {
                Ok(SenderDownload::NoLongerAccessible {
                    detail: error.to_string(),
                })
            }
            Err(error) => Err(ArchiveError::from_altinn(&error)),
        }
    }

    async fn download_recipient_attachment(
        &self,
        correspondence_id: Uuid,
        attachment_id: Uuid,
    ) -> Result<Download, ArchiveError> {
        let download = self
            .client
            .download_recipient_attachment(correspondence_id, attachment_id)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))?;
        Ok(Download::from_client(download))
    }
}

/// A details call's failure; a 404 says what it can mean.
pub fn details_error(
    error: &ClientError,
    role: CorrespondenceRole,
    correspondence_id: Uuid,
) -> ArchiveError {
    let classified = ArchiveError::from_altinn(error);
    if classified.reason != FailureReason::AltinnNotFound {
        return classified;
    }
    ArchiveError::permanent(
        FailureReason::CorrespondenceNotFound,
        format!(
            "{}: correspondence {correspondence_id} is unknown to us as {}: not ours, purged, \
             or not yet published to the recipient",
            classified.detail,
            match role {
                CorrespondenceRole::Sender => "sender",
                CorrespondenceRole::Recipient => "recipient",
            }
        ),
    )
}

impl ArchiveTarget for ArchiveStore {
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ArchiveStore::exists(self, key)
    }

    fn list_keys(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        ArchiveStore::list_keys(self, prefix)
    }

    fn stored_object(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send {
        ArchiveStore::stored_object(self, key)
    }

    fn upload_element<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        body: S,
    ) -> impl Future<Output = Result<StoredObject, UploadError<E>>> + Send
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Send,
    {
        ArchiveStore::upload_element(self, upload, body)
    }

    fn put_small(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<StoredObject, StoreError>> + Send {
        ArchiveStore::put_small(self, key, bytes, content_type)
    }

    fn put_small_if_absent(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<ConditionalPut, StoreError>> + Send {
        ArchiveStore::put_small_if_absent(self, key, bytes, content_type)
    }

    fn get_bytes(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send {
        ArchiveStore::get_bytes(self, key)
    }

    async fn last_modified(&self, key: &str) -> Result<Option<SystemTime>, StoreError> {
        Ok(self
            .head(key)
            .await?
            .and_then(|head| head.last_modified().copied())
            .and_then(|modified| SystemTime::try_from(modified).ok()))
    }

    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        ArchiveStore::delete(self, key)
    }

    fn tag_object(
        &self,
        key: &str,
        tags: &[(&str, &str)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ArchiveStore::tag_object(self, key, tags)
    }

    fn location(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket())
    }
}
