//! Writing back while the instance waits in the app's feedback task (`FEEDBACK_TASK`): archive
//! its elements, upload the archive receipt, and move the process on with `process/next`. The
//! app refuses uploads once the process has ended, so this is the one moment a receipt can be
//! written; the `process.completed` event that follows archives the final instance.
//!
//! Every step can be repeated, and a run can die between any two:
//!
//! | dies after | the retry |
//! |---|---|
//! | archiving some elements | reuses them, archives the rest |
//! | taking the claim | waits out the claim ([`crate::receipt::claim_ttl`]), takes it over, uploads |
//! | the upload (answer lost or not) | finds our receipt in the instance, only moves the process on |
//! | `process/next` (answer lost or not) | finds the instance moved on with our receipt: done |
//!
//! The claim (`receipt-upload.json` next to the manifest, `If-None-Match: *`) is held from the
//! fresh look at the instance to the answer of `process/next`, so two runs for one instance (a
//! duplicate delivery, e.g. while both subscriptions of a secret rotation deliver) never both
//! upload, and never both call `process/next`: a second `process/next` would end whatever task
//! follows the feedback task, since app-lib only checks that we may `write` in the current one.
//! A failed run releases the claim, and the next holder looks at the instance afresh.

use altinn::{Instance, InstanceRef};
use bytes::Bytes;

use super::element::ElementResult;
use super::instance::{check_identity, now_rfc3339};
use super::{JSON, Pipeline, ReceivedEvent};
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::outcome::{MessageOutcome, RunStats, WriteBackSummary};
use crate::receipt::{FeedbackSettings, Receipt, ReceiptElement, has_our_receipt};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::ConditionalPut;

/// The altinnTaskType of a feedback task (app-lib's `AltinnTaskTypes.Feedback`).
const FEEDBACK_TASK_TYPE: &str = "feedback";

/// Where the instance is, as far as the write-back cares.
enum Whereabouts {
    /// In `FEEDBACK_TASK`, a task of type `feedback`: write back.
    Waiting,
    /// Elsewhere, with our receipt in it: an earlier run (or this one) did the work.
    MovedOn,
    /// Elsewhere, without our receipt: nothing may be written; the text says where it is.
    Elsewhere(String),
}

fn whereabouts(
    current: &Instance,
    feedback: &FeedbackSettings,
    instance: &InstanceRef,
) -> Whereabouts {
    let task = current
        .process
        .as_ref()
        .and_then(|process| process.current_task.as_ref());
    let element_id = task.and_then(|task| task.element_id.as_deref());
    let task_type = task.and_then(|task| task.altinn_task_type.as_deref());
    if element_id == Some(feedback.task.as_str()) && task_type == Some(FEEDBACK_TASK_TYPE) {
        return Whereabouts::Waiting;
    }
    if has_our_receipt(current, &feedback.receipt.data_type, instance) {
        return Whereabouts::MovedOn;
    }
    Whereabouts::Elsewhere(match (element_id, task_type) {
        (Some(id), task_type) => format!(
            "the instance is in task {id} (type {}), not in the feedback task {}",
            task_type.unwrap_or("unknown"),
            feedback.task
        ),
        (None, _) => format!(
            "the instance is in no task (its process has ended or not started), not in the \
             feedback task {}",
            feedback.task
        ),
    })
}

fn not_in_feedback_task(where_it_is: String) -> ArchiveError {
    ArchiveError::permanent(
        FailureReason::NotInFeedbackTask,
        format!("{where_it_is}; nothing was written to Altinn"),
    )
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Handles `app.instance.process.movedTo.{FEEDBACK_TASK}` (see the module docs).
    pub async fn write_back(
        &self,
        event: &ReceivedEvent,
        instance: &InstanceRef,
        deadline: &Deadline,
        stats: &RunStats,
    ) -> Result<MessageOutcome, ArchiveError> {
        let Some(feedback) = &self.settings.feedback else {
            // Routed here only with FEEDBACK_TASK set.
            return Err(ArchiveError::permanent(
                FailureReason::InvalidInput,
                "a feedback event without FEEDBACK_TASK",
            ));
        };
        deadline.check("fetch the instance")?;
        let raw = match self.altinn.get_instance(instance).await {
            Ok(raw) => raw,
            // Altinn deletes an instance only after we confirmed it complete, which we do
            // only after archiving it: a late duplicate.
            Err(error)
                if error.reason == FailureReason::AltinnNotFound
                    && self.is_archived(instance).await? =>
            {
                return Ok(MessageOutcome::AlreadyWrittenBack);
            }
            Err(error) => return Err(error),
        };
        check_identity(&raw, instance)?;
        match whereabouts(&raw.instance, feedback, instance) {
            Whereabouts::Waiting => {}
            Whereabouts::MovedOn => return Ok(MessageOutcome::AlreadyWrittenBack),
            Whereabouts::Elsewhere(where_it_is) => return Err(not_in_feedback_task(where_it_is)),
        }

        let elements = self
            .archive_elements(event, instance, &raw.instance, deadline, stats)
            .await?;
        self.keep_instance_event(event, instance).await?;
        let receipt_elements: Vec<ReceiptElement> = elements
            .iter()
            .map(|(result, element)| ReceiptElement {
                data_element_id: element.id.clone(),
                sha256: result.object.sha256.clone(),
            })
            .collect();
        let elements: Vec<&ElementResult> = elements.iter().map(|(result, _)| result).collect();
        let mut summary = WriteBackSummary {
            elements: elements.len(),
            elements_downloaded: elements.iter().filter(|r| r.downloaded).count(),
            elements_reused: elements.iter().filter(|r| !r.downloaded).count(),
            bytes_downloaded: elements
                .iter()
                .filter(|r| r.downloaded)
                .map(|r| r.object.size)
                .sum(),
            receipt_uploaded: false,
            moved_on: false,
        };

        deadline.check("write back to the instance")?;
        let claim_key = self.settings.layout.receipt_claim(instance)?;
        self.claim_write_back(&claim_key, instance).await?;
        let written = self
            .write_back_claimed(feedback, instance, receipt_elements, &mut summary)
            .await;
        match written {
            // The claim stays after a success: a duplicate that looked at the instance before
            // the process moved on finds it and waits, then finds the instance moved on.
            Ok(true) => Ok(MessageOutcome::WrittenBack(summary)),
            Ok(false) => Ok(MessageOutcome::AlreadyWrittenBack),
            Err(error) => {
                // Released so the retry can look at the instance again at once, instead of
                // waiting out the claim.
                if let Err(release) = self.target.delete(&claim_key).await {
                    tracing::warn!(error = %release, "could not release the write-back claim; the retry waits for it to expire");
                }
                Err(error)
            }
        }
    }

    /// Under the claim: look at the instance afresh, upload the receipt unless ours is there,
    /// move the process on. False when the instance had already moved on with our receipt.
    async fn write_back_claimed(
        &self,
        feedback: &FeedbackSettings,
        instance: &InstanceRef,
        receipt_elements: Vec<ReceiptElement>,
        summary: &mut WriteBackSummary,
    ) -> Result<bool, ArchiveError> {
        let current = self.altinn.get_instance(instance).await?;
        match whereabouts(&current.instance, feedback, instance) {
            Whereabouts::Waiting => {}
            Whereabouts::MovedOn => return Ok(false),
            Whereabouts::Elsewhere(where_it_is) => return Err(not_in_feedback_task(where_it_is)),
        }
        let receipts = &feedback.receipt;
        if has_our_receipt(&current.instance, &receipts.data_type, instance) {
            tracing::info!(data_type = %receipts.data_type, "the instance already holds our archive receipt");
        } else {
            let receipt = Receipt {
                instance_id: instance.instance_id(),
                archive_location: self
                    .target
                    .location(&self.settings.layout.instance_prefix(instance)?),
                archived_at: now_rfc3339(),
                data_elements: receipt_elements,
            };
            let element_id = self
                .altinn
                .upload_receipt(instance, receipts, &receipt)
                .await?;
            summary.receipt_uploaded = true;
            tracing::info!(
                data_type = %receipts.data_type,
                data_element_id = element_id.as_deref().unwrap_or("unknown"),
                "archive receipt uploaded"
            );
        }
        summary.moved_on = self.move_on(feedback, instance).await?;
        Ok(true)
    }

    /// `process/next`; true when this call moved the process. A 409 means the process is no
    /// longer where we saw it, or the task's validation failed: the instance says which.
    async fn move_on(
        &self,
        feedback: &FeedbackSettings,
        instance: &InstanceRef,
    ) -> Result<bool, ArchiveError> {
        let refused = match self.altinn.process_next(instance).await {
            Ok(()) => return Ok(true),
            Err(error) if error.reason == FailureReason::AltinnConflict => error,
            Err(mut error) => {
                if error.reason == FailureReason::AltinnForbidden {
                    error.detail = format!(
                        "{}: the app's policy must give {} `write` in task {}",
                        error.detail, self.settings.org, feedback.task
                    );
                }
                return Err(error);
            }
        };
        let current = self.altinn.get_instance(instance).await?;
        match whereabouts(&current.instance, feedback, instance) {
            Whereabouts::Waiting => Err(ArchiveError::transient(
                FailureReason::ProcessNextRejected,
                format!(
                    "{}: the instance still waits in the feedback task {}, so the task's \
                     validation failed (a data type's minCount, a file scan still pending)",
                    refused.detail, feedback.task
                ),
            )),
            // Someone else moved it between our look and our call; our receipt is in it.
            Whereabouts::MovedOn | Whereabouts::Elsewhere(_) => {
                tracing::info!(detail = %refused.detail, "the process had already moved on");
                Ok(false)
            }
        }
    }

    /// True when the instance's manifest exists.
    async fn is_archived(&self, instance: &InstanceRef) -> Result<bool, ArchiveError> {
        let key = self.settings.layout.manifest(instance)?;
        self.target
            .exists(&key)
            .await
            .map_err(|e| ArchiveError::from_store(&e))
    }

    /// Takes the write-back claim: creates it (`If-None-Match: *`), or takes over one older than
    /// the claim TTL ([`crate::receipt::claim_ttl`]; its run died). A younger claim means
    /// another run is writing back right now: a transient failure asking to come back after it.
    async fn claim_write_back(
        &self,
        claim_key: &str,
        instance: &InstanceRef,
    ) -> Result<(), ArchiveError> {
        let store_error = |e: crate::store::StoreError| ArchiveError::from_store(&e);
        let claim = serde_json::json!({
            "instanceId": instance.instance_id(),
            "claimedAt": now_rfc3339(),
        });
        let claim = Bytes::from(serde_json::to_vec(&claim).unwrap_or_default());
        if let ConditionalPut::Created(_) = self
            .target
            .put_small_if_absent(claim_key, claim.clone(), JSON)
            .await
            .map_err(store_error)?
        {
            return Ok(());
        }
        self.take_over_claim(
            claim_key,
            claim,
            self.settings.write_back_claim_ttl,
            FailureReason::ReceiptInProgress,
            "the write-back",
        )
        .await
    }
}
