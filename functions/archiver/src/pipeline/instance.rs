//! Archiving an app instance: its history and app metadata (`record.rs`), its elements,
//! `instance.json`, the event, then the manifest (conditionally, written last), the optional
//! substatus, and Altinn's `complete`.

use std::collections::HashSet;
use std::time::SystemTime;

use altinn::instance::FileScanResult;
use altinn::{DataElement, Instance, InstanceRef, RawInstance};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::element::{ElementFuture, ElementResult};
use super::hand_off::WrittenManifest;
use super::record::{element_entry, plain_entry};
use super::{JSON, Pipeline, ReceivedEvent};
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::manifest::{MANIFEST_VERSION, Manifest, ObjectRole, SkippedDataElement};
use crate::metrics::archive_latency;
use crate::outcome::{ArchiveSummary, MessageOutcome, RunStats};
use crate::scan;
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::{ConditionalPut, StoredObject};

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Archives the instance the event is about (see the module docs), then completes it.
    pub async fn archive_instance(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<MessageOutcome, ArchiveError> {
        let layout = &self.settings.layout;
        let manifest_key = layout.manifest(instance)?;
        if self
            .target
            .exists(&manifest_key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
        {
            return self
                .finish_archived(event, instance, manifest_key, deadline)
                .await;
        }

        deadline.check("fetch the instance")?;
        let raw = self.altinn.get_instance(instance).await?;
        check_instance(&raw, instance)?;
        // Fetched with the instance, before any download: a failure here costs no transfer.
        let record = self.keep_record(instance, deadline).await?;

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
        let elements = self
            .archive_elements(event, instance, &raw.instance, deadline, stats)
            .await?;

        // Write-once, like the event: a run that loses the manifest race may have fetched the
        // instance after the winner's `complete` changed it, and must not replace the
        // `instance.json` the winner's manifest describes.
        let instance_object = self
            .keep_first(&layout.instance_json(instance)?, raw.raw.clone())
            .await?;
        let event_object = self.keep_instance_event(event, instance).await?;

        let mut summary = ArchiveSummary {
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
            archive_latency: None,
        };
        let mut objects = vec![
            plain_entry(instance_object, ObjectRole::Instance),
            plain_entry(event_object, ObjectRole::Event),
        ];
        objects.extend(record);
        for (result, element) in elements {
            objects.push(element_entry(result.object, element)?);
        }
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
        let written = match self
            .target
            .put_small_if_absent(&manifest_key, Bytes::from(manifest.to_json()), JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
        {
            ConditionalPut::Created(stored) => {
                summary.archive_latency =
                    archive_latency(event.event.time.as_deref(), SystemTime::now());
                WrittenManifest::new(&stored, &manifest)
            }
            ConditionalPut::AlreadyExists => {
                tracing::info!(manifest_key = %manifest_key, "another run wrote the manifest first; it completes the instance");
                return Ok(MessageOutcome::ClaimedByAnotherRun(summary));
            }
        };
        let completion = self.complete_archived(instance, &raw.instance).await;
        // A transient failure comes back and hands off from `finish_archived`; one Altinn
        // refuses for good is handed off as not completed, then dead-lettered.
        let completed = match &completion {
            Ok(()) => Some(true),
            Err(error) if !error.is_transient() => Some(false),
            Err(_) => None,
        };
        if let Some(completed) = completed {
            self.hand_off_instance(
                instance,
                &manifest_key,
                Some(written),
                completed,
                event,
                deadline,
            )
            .await?;
        }
        completion?;
        Ok(MessageOutcome::Archived(summary))
    }

    /// The substatus when it is not shown yet, then `complete`.
    async fn complete_archived(
        &self,
        instance: &InstanceRef,
        current: &Instance,
    ) -> Result<(), ArchiveError> {
        self.show_archived(instance, current).await?;
        self.altinn.complete(instance).await
    }

    /// Archives every element of `fetched` that is not hard-deleted, ELEMENT_CONCURRENCY at a
    /// time, reusing what is already archived; each stored object with its element, in the
    /// instance's order. Any failure fails the whole (the most serious one is returned).
    /// First of all the scan results decide ([`crate::scan`]): a `Pending` one fails before any
    /// download; `Infected` ones are quarantined, and may hold the instance (`event` is kept
    /// for its release).
    pub(super) async fn archive_elements<'a>(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        fetched: &'a Instance,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<Vec<(ElementResult, &'a DataElement)>, ArchiveError> {
        let layout = &self.settings.layout;
        let archivable: Vec<&DataElement> = fetched.archivable_data().collect();
        scan::pending_scan(
            &archivable,
            event.event.time.as_deref(),
            self.settings.scan.pending_max_wait,
            SystemTime::now(),
        )?;
        let infected: HashSet<&str> = scan::with_result(&archivable, FileScanResult::Infected)
            .iter()
            .map(|element| element.id.as_str())
            .collect();
        // The futures are built (and boxed as `dyn Future + Send`) before they go into the
        // stream: a `.map(|element| async move { … })` closure over borrowed items makes rustc
        // unable to prove the caller's future `Send` ("FnOnce is not general enough"), which
        // would stop callers from `tokio::spawn`ing a batch. One small allocation per element.
        // One listing of the instance's `data/` instead of a HEAD per element up front: only
        // elements already there are looked at more closely, so a first archive of many small
        // elements makes one request less per element (HEAD, download, PUT became download, PUT).
        let mut already_stored: HashSet<String> = HashSet::new();
        let mut folders = Vec::new();
        if !archivable.is_empty() {
            folders.push(layout.data_prefix(instance)?);
        }
        if !infected.is_empty() {
            folders.push(layout.quarantine_prefix(instance)?);
        }
        for folder in folders {
            already_stored.extend(
                self.target
                    .list_keys(&folder)
                    .await
                    .map_err(|e| ArchiveError::from_store(&e))?,
            );
        }
        let already_stored = &already_stored;
        let element_futures: Vec<ElementFuture<'_>> = archivable
            .iter()
            .enumerate()
            .map(|(index, element)| {
                let element: &DataElement = element;
                let quarantined = infected.contains(element.id.as_str());
                async move {
                    (
                        index,
                        self.archive_element(
                            instance,
                            element,
                            quarantined,
                            already_stored,
                            deadline,
                            stats,
                        )
                        .await,
                    )
                }
                .boxed()
            })
            .collect();
        let mut results: Vec<(usize, Result<ElementResult, ArchiveError>)> =
            futures_util::stream::iter(element_futures)
                .buffer_unordered(self.settings.element_concurrency)
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
            // Never a manifest, a receipt or `complete` with anything missing.
            return Err(error);
        }
        let quarantined: Vec<(&ElementResult, &DataElement)> = elements
            .iter()
            .filter(|(_, element)| infected.contains(element.id.as_str()))
            .map(|(result, element)| (result, *element))
            .collect();
        self.settle_infected(event, instance, &quarantined).await?;
        Ok(elements)
    }

    /// The manifest exists: keep this (possibly new) event, and make sure our completion is in
    /// Altinn, without downloading anything.
    async fn finish_archived(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        manifest_key: String,
        deadline: &Deadline,
    ) -> Result<MessageOutcome, ArchiveError> {
        self.keep_instance_event(event, instance).await?;
        let current = match self.altinn.get_instance(instance).await {
            Ok(raw) => Some(raw.instance),
            // Altinn deletes an instance only after the service owner confirmed it complete.
            Err(error) if error.reason == FailureReason::AltinnNotFound => {
                tracing::warn!("instance is gone from Altinn; its archive is complete");
                None
            }
            Err(error) => return Err(error),
        };
        let confirmed = current
            .as_ref()
            .is_none_or(|instance| instance.is_confirmed_by(&self.settings.org));
        if let Some(current) = current.as_ref().filter(|_| !confirmed) {
            // A run that crashed after the manifest may or may not have set the substatus;
            // the instance as fetched just now says which.
            self.complete_archived(instance, current).await?;
        }
        // The run that wrote the manifest may have died (or the bus failed) before its
        // hand-off event; sent at most once whichever run gets here.
        self.hand_off_instance(instance, &manifest_key, None, true, event, deadline)
            .await?;
        Ok(MessageOutcome::AlreadyArchived {
            manifest_key,
            completed_now: !confirmed,
        })
    }

    /// Sets `ARCHIVED_SUBSTATUS_LABEL` on the archived instance unless `current` (the instance
    /// as fetched in this run) already shows it: the sender's inbox then says the agency has
    /// the submission. Before `complete`, so a completed instance always shows it.
    async fn show_archived(
        &self,
        instance: &InstanceRef,
        current: &Instance,
    ) -> Result<(), ArchiveError> {
        let Some(substatus) = &self.settings.substatus else {
            return Ok(());
        };
        if substatus.is_shown_by(current) {
            tracing::debug!("the instance already shows the archived substatus");
            return Ok(());
        }
        self.altinn.update_substatus(instance, substatus).await?;
        tracing::info!(label = %substatus.label, "archived substatus set");
        Ok(())
    }

    /// Stores the event under the instance unless that event id is already there, and returns
    /// the stored object either way (for the manifest).
    pub(super) async fn keep_instance_event(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
    ) -> Result<StoredObject, ArchiveError> {
        let key = self
            .settings
            .layout
            .instance_event(instance, &event.event.id)?;
        self.keep_first(&key, event.raw.clone()).await
    }

    /// Stores a small JSON object unless one of ours is already at `key`; returns what is
    /// stored there now. The first write wins, so a manifest never describes bytes that were
    /// replaced after it was written.
    pub(super) async fn keep_first(
        &self,
        key: &str,
        bytes: Bytes,
    ) -> Result<StoredObject, ArchiveError> {
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        match self
            .target
            .put_small_if_absent(key, bytes.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            ConditionalPut::Created(stored) => Ok(stored),
            ConditionalPut::AlreadyExists => {
                match self.target.stored_object(key).await.map_err(store_error)? {
                    Some(stored) => Ok(stored),
                    // There but not written by us (no sha256 metadata): write ours.
                    None => self
                        .target
                        .put_small(key, bytes, JSON)
                        .await
                        .map_err(store_error),
                }
            }
        }
    }
}

/// The instance Storage returned must be the one the event named, with its process ended.
fn check_instance(raw: &RawInstance, instance: &InstanceRef) -> Result<(), ArchiveError> {
    check_identity(raw, instance)?;
    if !raw.instance.is_process_complete() {
        return Err(ArchiveError::permanent(
            FailureReason::InstanceNotCompleted,
            "the instance's process has not ended",
        ));
    }
    Ok(())
}

/// The instance Storage returned must be the one the event named.
pub(super) fn check_identity(
    raw: &RawInstance,
    instance: &InstanceRef,
) -> Result<(), ArchiveError> {
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

pub(super) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
