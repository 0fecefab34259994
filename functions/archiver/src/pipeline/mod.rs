//! The archive pipeline, as plain async functions over an [`AltinnClient`] and an
//! [`ArchiveStore`] (the Lambda handler only feeds it messages):
//!
//! ```text
//! archive_instance
//!   ├─ manifest.json exists? ── yes ─▶ keep the event; GET instance; complete unless we already did
//!   ├─ GET instance (Storage), check it is this instance and its process has ended
//!   ├─ every element not hard-deleted, ELEMENT_CONCURRENCY at a time:
//!   │     already in S3 with our sha256 and the right size/MD5? ─ yes ─▶ reuse
//!   │     else stream Altinn → S3 (checked; up to DOWNLOAD_ATTEMPTS when cut short or mismatching)
//!   ├─ instance.json (raw bytes), events/{eventId}.json: both write-once (first write wins)
//!   ├─ manifest.json with If-None-Match: * ── 412 ─▶ another run claimed it; it calls complete
//!   ├─ RECEIPT_DATA_TYPE set? GET instance again; no receipt of ours in it ─▶ upload one
//!   └─ POST complete
//! store_event: events/{eventId}.json under the instance, the correspondence or `events/`
//! ```
//!
//! Every step can be repeated: a crash anywhere followed by a retry ends in the same archive
//! and one completion.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use altinn::{
    AltinnClient, CloudEvent, CorrespondenceRef, DataElement, Instance, InstanceRef, RawInstance,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;

use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::manifest::{MANIFEST_VERSION, Manifest, ManifestObject, ObjectRole, SkippedDataElement};
use crate::receipt::{Receipt, ReceiptUploader, has_our_receipt};
use crate::store::{ArchiveStore, ConditionalPut, ElementUpload, StoredObject, UploadError};

/// Content type of the stored events and `instance.json`.
const JSON: &str = "application/json";
/// Content type when Altinn gives none.
const OCTET_STREAM: &str = "application/octet-stream";

/// One data element's archive step, boxed so the instance's future stays `Send`.
type ElementFuture<'a> =
    futures_util::future::BoxFuture<'a, (usize, Result<ElementResult, ArchiveError>)>;

/// A CloudEvent together with the exact bytes it arrived as (what the archive stores).
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub event: CloudEvent,
    pub raw: Bytes,
}

impl ReceivedEvent {
    /// Parses a message body with [`CloudEvent::parse`], keeping the bytes.
    pub fn parse(body: impl Into<Bytes>) -> Result<Self, ArchiveError> {
        let raw = body.into();
        let event = CloudEvent::parse(&raw)
            .map_err(|e| ArchiveError::permanent(FailureReason::InvalidEvent, e.to_string()))?;
        Ok(ReceivedEvent { event, raw })
    }
}

/// Where a non-archive event is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventLocation {
    /// Under the instance: `…/{instanceGuid}/events/{eventId}.json`.
    Instance(InstanceRef),
    /// Under the correspondence: `correspondence/{resourceId}/{resourceinstance}/events/…`.
    Correspondence(CorrespondenceRef),
    /// `events/{eventId}.json`.
    Unscoped,
}

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Stored {
        key: String,
    },
    /// The same event id was stored before (a duplicate delivery); nothing was written.
    AlreadyStored {
        key: String,
    },
}

/// What archiving an instance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveOutcome {
    /// We wrote the manifest and called `complete`.
    Archived(ArchiveSummary),
    /// The manifest was already there: nothing was downloaded. `completed_now` is true when
    /// our completion was missing (a crash between manifest and complete) and we sent it.
    AlreadyArchived {
        manifest_key: String,
        completed_now: bool,
    },
    /// A concurrent run wrote the manifest first; it calls `complete`, we do not.
    ClaimedByAnotherRun(ArchiveSummary),
}

/// The numbers of one archive run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub manifest_key: String,
    /// Elements in the archive.
    pub elements: usize,
    /// Of those, downloaded in this run.
    pub elements_downloaded: usize,
    /// Of those, already in S3 and reused.
    pub elements_reused: usize,
    /// Hard-deleted elements skipped.
    pub elements_skipped: usize,
    /// Element bytes downloaded and stored in this run.
    pub bytes_downloaded: u64,
}

/// Counters one message's work adds to (shared by its concurrent element transfers).
#[derive(Debug, Default)]
pub struct RunStats {
    /// Element downloads started again after a body was cut short or did not match.
    pub download_retries: AtomicU64,
}

impl RunStats {
    fn add_retry(&self) {
        self.download_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Download retries so far.
    pub fn retries(&self) -> u64 {
        self.download_retries.load(Ordering::Relaxed)
    }
}

/// One element's result.
struct ElementResult {
    object: StoredObject,
    downloaded: bool,
}

/// The archive pipeline. Build it once per process; it is cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    altinn: AltinnClient,
    store: ArchiveStore,
    org: String,
    element_concurrency: usize,
    /// Element transfers in flight across every message of the process: with two part buffers
    /// per transfer (one uploading, one filling) this bounds memory at
    /// `2 × ELEMENT_CONCURRENCY × part size`, however many messages run at once.
    transfer_slots: Arc<Semaphore>,
    download_attempts: u32,
    retry_delay: Duration,
    receipts: Option<ReceiptUploader>,
}

/// The pipeline's knobs (from [`crate::config::ArchiverConfig`]).
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Our org code: whose completion we look for in `completeConfirmations`.
    pub org: String,
    pub element_concurrency: usize,
    pub download_attempts: u32,
    /// The first pause before a download is tried again (doubles).
    pub retry_delay: Duration,
    /// Writes the archive receipt (`RECEIPT_DATA_TYPE`); `None`: no receipt.
    pub receipts: Option<ReceiptUploader>,
}

impl Pipeline {
    /// A pipeline over the given clients.
    pub fn new(altinn: AltinnClient, store: ArchiveStore, settings: PipelineSettings) -> Self {
        let element_concurrency = settings.element_concurrency.max(1);
        Pipeline {
            altinn,
            store,
            org: settings.org,
            element_concurrency,
            transfer_slots: Arc::new(Semaphore::new(element_concurrency)),
            download_attempts: settings.download_attempts.max(1),
            retry_delay: settings.retry_delay,
            receipts: settings.receipts,
        }
    }

    /// The archive store.
    pub fn store(&self) -> &ArchiveStore {
        &self.store
    }

    /// The Altinn client.
    pub fn altinn(&self) -> &AltinnClient {
        &self.altinn
    }

    /// Stores a non-archive event at its place, unless that event id is already stored.
    pub async fn store_event(
        &self,
        event: &ReceivedEvent,
        location: &EventLocation,
    ) -> Result<EventOutcome, ArchiveError> {
        let layout = self.store.layout();
        let id = &event.event.id;
        let key = match location {
            EventLocation::Instance(instance) => layout.instance_event(instance, id)?,
            EventLocation::Correspondence(correspondence) => {
                layout.correspondence_event(correspondence, id)?
            }
            EventLocation::Unscoped => layout.unscoped_event(id)?,
        };
        match self
            .store
            .put_small_if_absent(&key, event.raw.clone(), JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
        {
            ConditionalPut::Created(_) => Ok(EventOutcome::Stored { key }),
            ConditionalPut::AlreadyExists => Ok(EventOutcome::AlreadyStored { key }),
        }
    }

    /// Archives the instance the event is about (see the module docs), then completes it.
    pub async fn archive_instance(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<ArchiveOutcome, ArchiveError> {
        let layout = self.store.layout();
        let manifest_key = layout.manifest(instance)?;
        if self
            .store
            .exists(&manifest_key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
        {
            return self.finish_archived(event, instance, manifest_key).await;
        }

        deadline.check("fetch the instance")?;
        let raw = self
            .altinn
            .get_instance(instance)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))?;
        check_instance(&raw, instance)?;

        let archivable: Vec<&DataElement> = raw.instance.archivable_data().collect();
        let skipped: Vec<SkippedDataElement> = raw
            .instance
            .data
            .iter()
            .filter(|d| d.is_hard_deleted())
            .map(|d| SkippedDataElement {
                data_element_id: d.id.clone(),
                data_type: d.data_type.clone(),
                reason: "hardDeleted".into(),
            })
            .collect();
        // The futures are built (and boxed as `dyn Future + Send`) before they go into the
        // stream: a `.map(|element| async move { … })` closure over borrowed items makes rustc
        // unable to prove the caller's future `Send` ("FnOnce is not general enough"), which
        // would stop callers from `tokio::spawn`ing a batch. One small allocation per element.
        // One listing of the instance's `data/` instead of a HEAD per element up front: only
        // elements already there are looked at more closely, so a first archive of many small
        // elements makes one request less per element (HEAD, download, PUT became download, PUT).
        let already_stored: HashSet<String> = if archivable.is_empty() {
            HashSet::new()
        } else {
            let data_prefix = format!("{}data/", layout.instance_prefix(instance)?);
            self.store
                .list_keys(&data_prefix)
                .await
                .map_err(|e| ArchiveError::from_store(&e))?
                .into_iter()
                .collect()
        };
        let already_stored = &already_stored;
        let element_futures: Vec<ElementFuture<'_>> = archivable
            .iter()
            .enumerate()
            .map(|(index, element)| {
                let element: &DataElement = element;
                async move {
                    (
                        index,
                        self.archive_element(instance, element, already_stored, deadline, stats)
                            .await,
                    )
                }
                .boxed()
            })
            .collect();
        let mut results: Vec<(usize, Result<ElementResult, ArchiveError>)> =
            futures_util::stream::iter(element_futures)
                .buffer_unordered(self.element_concurrency)
                .collect()
                .await;
        results.sort_by_key(|(index, _)| *index);
        let mut elements = Vec::with_capacity(results.len());
        let mut failures = Vec::new();
        for ((_, result), element) in results.into_iter().zip(&archivable) {
            match result {
                Ok(stored) => elements.push((stored, *element)),
                Err(error) => {
                    tracing::warn!(data_element_id = %element.id, reason = %error.reason, detail = %error.detail, "data element not archived");
                    failures.push(error);
                }
            }
        }
        if let Some(error) = most_serious(failures) {
            // Never a manifest, never `complete`, with anything missing.
            return Err(error);
        }

        // Write-once, like the event: a run that loses the manifest race may have fetched the
        // instance after the winner's `complete` changed it, and must not replace the
        // `instance.json` the winner's manifest describes.
        let instance_object = self
            .keep_first(&layout.instance_json(instance)?, raw.raw.clone())
            .await?;
        let event_object = self.keep_instance_event(event, instance).await?;

        let summary = ArchiveSummary {
            manifest_key: manifest_key.clone(),
            elements: elements.len(),
            elements_downloaded: elements.iter().filter(|(r, _)| r.downloaded).count(),
            elements_reused: elements.iter().filter(|(r, _)| !r.downloaded).count(),
            elements_skipped: skipped.len(),
            bytes_downloaded: elements
                .iter()
                .filter(|(r, _)| r.downloaded)
                .map(|(r, _)| r.object.size)
                .sum(),
        };
        let mut objects = vec![
            manifest_object(instance_object, ObjectRole::Instance, None),
            manifest_object(event_object, ObjectRole::Event, None),
        ];
        objects.extend(elements.into_iter().map(|(result, element)| {
            manifest_object(result.object, ObjectRole::DataElement, Some(element))
        }));
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            instance_id: instance.instance_id(),
            app_id: instance.app_id(),
            archived_at: now_rfc3339(),
            event_id: event.event.id.clone(),
            event_type: event.event.event_type.clone(),
            objects,
            skipped_data_elements: skipped,
        };
        let stored_manifest = match self
            .store
            .put_manifest(&manifest_key, &manifest)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
        {
            ConditionalPut::Created(stored) => stored,
            ConditionalPut::AlreadyExists => {
                tracing::info!(manifest_key = %manifest_key, "another run wrote the manifest first; it completes the instance");
                return Ok(ArchiveOutcome::ClaimedByAnotherRun(summary));
            }
        };
        if let Some(receipts) = &self.receipts {
            // Fetched again rather than reusing `raw`: a receipt must be judged by what the
            // instance holds now, not before the elements were copied.
            let current = self
                .altinn
                .get_instance(instance)
                .await
                .map_err(|e| ArchiveError::from_altinn(&e))?;
            self.ensure_receipt(
                receipts,
                instance,
                &current.instance,
                &manifest,
                &manifest_key,
                &stored_manifest.sha256,
            )
            .await?;
        }
        self.altinn
            .complete(instance)
            .await
            .map_err(|e| ArchiveError::from_altinn(&e))?;
        Ok(ArchiveOutcome::Archived(summary))
    }

    /// The manifest exists: keep this (possibly new) event, and make sure our completion is in
    /// Altinn, without downloading anything.
    async fn finish_archived(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        manifest_key: String,
    ) -> Result<ArchiveOutcome, ArchiveError> {
        self.keep_instance_event(event, instance).await?;
        let current = match self.altinn.get_instance(instance).await {
            Ok(raw) => Some(raw.instance),
            // Altinn deletes an instance only after the service owner confirmed it complete.
            Err(error) if error.status() == Some(404) => {
                tracing::warn!("instance is gone from Altinn; its archive is complete");
                None
            }
            Err(error) => return Err(ArchiveError::from_altinn(&error)),
        };
        let confirmed = current
            .as_ref()
            .is_none_or(|instance| instance.is_confirmed_by(&self.org));
        if !confirmed {
            // A run that crashed after the manifest may or may not have uploaded the receipt;
            // the instance as fetched just now says which.
            if let (Some(receipts), Some(current)) = (&self.receipts, &current) {
                let (manifest, sha256) = self.stored_manifest(&manifest_key).await?;
                self.ensure_receipt(
                    receipts,
                    instance,
                    current,
                    &manifest,
                    &manifest_key,
                    &sha256,
                )
                .await?;
            }
            self.altinn
                .complete(instance)
                .await
                .map_err(|e| ArchiveError::from_altinn(&e))?;
        }
        Ok(ArchiveOutcome::AlreadyArchived {
            manifest_key,
            completed_now: !confirmed,
        })
    }

    /// Uploads the archive receipt unless `current` (the instance as Storage has it now)
    /// already holds one of ours, under a claim in S3 so that concurrent runs for the same
    /// instance (a duplicate delivery, e.g. during a secret rotation) upload it only once (see
    /// [`crate::receipt`]).
    async fn ensure_receipt(
        &self,
        receipts: &ReceiptUploader,
        instance: &InstanceRef,
        current: &Instance,
        manifest: &Manifest,
        manifest_key: &str,
        manifest_sha256: &str,
    ) -> Result<(), ArchiveError> {
        let data_type = receipts.settings().data_type.as_str();
        if has_our_receipt(current, data_type, instance) {
            tracing::info!(data_type, "the instance already holds our archive receipt");
            return Ok(());
        }
        let claim_key = self.store.layout().receipt_claim(instance)?;
        self.claim_receipt_upload(receipts, &claim_key, instance)
            .await?;
        let location = format!(
            "s3://{}/{}",
            self.store.bucket(),
            self.store.layout().instance_prefix(instance)?
        );
        let receipt = Receipt::for_manifest(manifest, manifest_key, manifest_sha256, location);
        match receipts.upload(instance, &receipt).await {
            Ok(element_id) => {
                // The claim stays: a duplicate run that fetched the instance just before the
                // upload finds it and waits instead of uploading a second receipt.
                tracing::info!(
                    data_type,
                    data_element_id = element_id.as_deref().unwrap_or("unknown"),
                    "archive receipt uploaded"
                );
                Ok(())
            }
            Err(error) => {
                // Released so the retry can look at the instance again at once, instead of
                // waiting out the claim.
                if let Err(release) = self.store.delete(&claim_key).await {
                    tracing::warn!(error = %release, "could not release the receipt claim; the retry waits for it to expire");
                }
                Err(error)
            }
        }
    }

    /// Takes the receipt claim: creates it (`If-None-Match: *`), or takes over one older than
    /// [`ReceiptUploader::claim_ttl`] (its run died before uploading). A younger claim means
    /// another run is uploading right now: a transient failure asking to come back after it.
    async fn claim_receipt_upload(
        &self,
        receipts: &ReceiptUploader,
        claim_key: &str,
        instance: &InstanceRef,
    ) -> Result<(), ArchiveError> {
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        let claim = serde_json::json!({
            "instanceId": instance.instance_id(),
            "dataType": receipts.settings().data_type,
            "claimedAt": now_rfc3339(),
        });
        let claim = Bytes::from(serde_json::to_vec(&claim).unwrap_or_default());
        if let ConditionalPut::Created(_) = self
            .store
            .put_small_if_absent(claim_key, claim.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            return Ok(());
        }
        let age = self
            .store
            .head(claim_key)
            .await
            .map_err(store_error)?
            .and_then(|head| head.last_modified().copied())
            .and_then(|modified| SystemTime::try_from(modified).ok())
            .map(|modified| {
                SystemTime::now()
                    .duration_since(modified)
                    .unwrap_or(Duration::ZERO)
            });
        let ttl = receipts.claim_ttl();
        if let Some(age) = age
            && age < ttl
        {
            let mut error = ArchiveError::transient(
                FailureReason::ReceiptInProgress,
                format!(
                    "another run claimed the receipt upload {} s ago",
                    age.as_secs()
                ),
            );
            error.retry_after = Some(ttl - age);
            return Err(error);
        }
        tracing::warn!(
            claim_key,
            "taking over a stale (or just released) receipt claim"
        );
        self.store
            .put_small(claim_key, claim, JSON)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// The stored manifest and the SHA-256 of its bytes as stored.
    async fn stored_manifest(&self, key: &str) -> Result<(Manifest, String), ArchiveError> {
        let bytes = self
            .store
            .get_bytes(key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
            .ok_or_else(|| {
                ArchiveError::transient(
                    FailureReason::StorageUnavailable,
                    format!("{key} disappeared while it was being read"),
                )
            })?;
        let manifest = serde_json::from_slice::<Manifest>(&bytes).map_err(|e| {
            ArchiveError::permanent(
                FailureReason::InvalidInput,
                format!("{key} is not a manifest: {e}"),
            )
        })?;
        let sha256 = crate::store::hex(&Sha256::digest(&bytes));
        Ok((manifest, sha256))
    }

    /// Stores the event under the instance unless that event id is already there, and returns
    /// the stored object either way (for the manifest).
    async fn keep_instance_event(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
    ) -> Result<StoredObject, ArchiveError> {
        let key = self
            .store
            .layout()
            .instance_event(instance, &event.event.id)?;
        self.keep_first(&key, event.raw.clone()).await
    }

    /// Stores a small JSON object unless one of ours is already at `key`; returns what is
    /// stored there now. The first write wins, so a manifest never describes bytes that were
    /// replaced after it was written.
    async fn keep_first(&self, key: &str, bytes: Bytes) -> Result<StoredObject, ArchiveError> {
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        match self
            .store
            .put_small_if_absent(key, bytes.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            ConditionalPut::Created(stored) => Ok(stored),
            ConditionalPut::AlreadyExists => {
                match self.store.stored_object(key).await.map_err(store_error)? {
                    Some(stored) => Ok(stored),
                    // There but not written by us (no sha256 metadata): write ours.
                    None => self
                        .store
                        .put_small(key, bytes, JSON)
                        .await
                        .map_err(store_error),
                }
            }
        }
    }

    /// One element: reuse what is in S3, else download and store it, retrying a body that was
    /// cut short or did not match.
    async fn archive_element(
        &self,
        instance: &InstanceRef,
        element: &DataElement,
        already_stored: &HashSet<String>,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<ElementResult, ArchiveError> {
        let key = self.store.layout().data_element(instance, &element.id)?;
        let md5 = element.content_hash.as_deref().and_then(|hash| {
            let decoded = BASE64.decode(hash).ok().and_then(|b| <[u8; 16]>::try_from(b).ok());
            if decoded.is_none() {
                tracing::warn!(data_element_id = %element.id, "contentHash is not a base64 MD5; checking the size only");
            }
            decoded
        });
        let upload = ElementUpload {
            key: &key,
            content_type: element.content_type.as_deref().unwrap_or(OCTET_STREAM),
            filename: element.filename.as_deref(),
            data_type: &element.data_type,
            size: element.size,
            md5,
        };
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        if already_stored.contains(&key)
            && let Some(object) = self
                .store
                .archived_element(&upload)
                .await
                .map_err(store_error)?
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
                if let Some(object) = self
                    .store
                    .archived_element(&upload)
                    .await
                    .map_err(store_error)?
                {
                    return Ok(ElementResult {
                        object,
                        downloaded: false,
                    });
                }
                slot
            }
        };
        let mut last_error = None;
        for attempt in 1..=self.download_attempts {
            if attempt > 1 {
                stats.add_retry();
                let pause = self.retry_delay.saturating_mul(1 << (attempt - 2).min(6));
                tokio::time::sleep(pause).await;
            }
            deadline.check("download a data element")?;
            let download = self
                .altinn
                .download_data(instance, &element.id)
                .await
                .map_err(|e| ArchiveError::from_altinn(&e))?;
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
            let error = match self.store.upload_element(&upload, download.body).await {
                Ok(object) => {
                    tracing::info!(data_element_id = %element.id, size = object.size, attempt, "data element archived");
                    return Ok(ElementResult {
                        object,
                        downloaded: true,
                    });
                }
                Err(UploadError::Body(error)) => {
                    let classified = ArchiveError::from_altinn(&error);
                    if !classified.is_transient() {
                        return Err(classified);
                    }
                    ArchiveError {
                        reason: FailureReason::DownloadInterrupted,
                        ..classified
                    }
                }
                Err(error @ (UploadError::TooLong { .. } | UploadError::SizeMismatch { .. })) => {
                    ArchiveError::permanent(
                        FailureReason::SizeMismatch,
                        format!("data element {}: {error}", element.id),
                    )
                }
                Err(error @ UploadError::Md5Mismatch { .. }) => ArchiveError::permanent(
                    FailureReason::ChecksumMismatch,
                    format!("data element {}: {error}", element.id),
                ),
                Err(error @ UploadError::StoredChecksumMismatch { .. }) => ArchiveError::transient(
                    FailureReason::ChecksumMismatch,
                    format!("data element {}: {error}", element.id),
                ),
                Err(UploadError::Store(error)) => return Err(ArchiveError::from_store(&error)),
            };
            tracing::warn!(data_element_id = %element.id, attempt, reason = %error.reason, detail = %error.detail, "download failed");
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| {
            ArchiveError::transient(FailureReason::DownloadInterrupted, "no attempt made")
        }))
    }
}

/// The instance Storage returned must be the one the event named, with its process ended.
fn check_instance(raw: &RawInstance, instance: &InstanceRef) -> Result<(), ArchiveError> {
    let fetched = &raw.instance;
    if fetched.id != instance.instance_id() {
        return Err(ArchiveError::permanent(
            FailureReason::InstanceMismatch,
            format!(
                "Storage returned instance {} for {}",
                fetched.id,
                instance.instance_id()
            ),
        ));
    }
    if !fetched.app_id.is_empty() && fetched.app_id != instance.app_id() {
        return Err(ArchiveError::permanent(
            FailureReason::InstanceMismatch,
            format!(
                "instance belongs to {}, the event names {}",
                fetched.app_id,
                instance.app_id()
            ),
        ));
    }
    if !fetched.is_process_complete() {
        return Err(ArchiveError::permanent(
            FailureReason::InstanceNotCompleted,
            "the instance's process has not ended",
        ));
    }
    Ok(())
}

/// A permanent failure wins (no retry can fix the instance); else the transient one that asks
/// for the longest wait.
fn most_serious(failures: Vec<ArchiveError>) -> Option<ArchiveError> {
    let longest_wait = failures.iter().filter_map(|f| f.retry_after).max();
    let mut chosen = failures
        .iter()
        .find(|f| !f.is_transient())
        .or_else(|| {
            failures
                .iter()
                .find(|f| f.reason != FailureReason::Deadline)
        })
        .or_else(|| failures.first())
        .cloned()?;
    if chosen.is_transient() {
        chosen.retry_after = longest_wait;
    }
    Some(chosen)
}

fn manifest_object(
    stored: StoredObject,
    role: ObjectRole,
    element: Option<&DataElement>,
) -> ManifestObject {
    ManifestObject {
        key: stored.key,
        role,
        size: stored.size,
        sha256: stored.sha256,
        content_type: stored.content_type,
        data_element_id: element.map(|e| e.id.clone()),
        data_type: element.map(|e| e.data_type.clone()),
        filename: element.and_then(|e| e.filename.clone()),
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permanent_failure_outranks_transient_ones() {
        let mut throttled = ArchiveError::transient(FailureReason::AltinnThrottled, "429");
        throttled.retry_after = Some(Duration::from_secs(90));
        let cut = ArchiveError::transient(FailureReason::DownloadInterrupted, "cut");
        let gone = ArchiveError::permanent(FailureReason::AltinnNotFound, "404");
        let chosen = most_serious(vec![cut.clone(), gone.clone(), throttled.clone()]).unwrap();
        assert_eq!(chosen, gone);
        let chosen = most_serious(vec![ArchiveError::deadline("x"), cut, throttled]).unwrap();
        assert_eq!(chosen.reason, FailureReason::DownloadInterrupted);
        assert_eq!(
            chosen.retry_after,
            Some(Duration::from_secs(90)),
            "the longest Retry-After is kept"
        );
        assert!(most_serious(vec![]).is_none());
    }
}
