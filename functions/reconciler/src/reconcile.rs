//! The reconciliation itself: the Storage query "completed, not confirmed by us" for an app,
//! every page of it, and for each instance one of
//!
//! ```text
//! manifest.json in S3? ─ yes ─▶ AlreadyArchived   (the archiver has it; it confirms it)
//!   │ no
//! an Infected element reviewed, not released? ─ yes ─▶ Held   (a person decides, not a rerun)
//!   │ no
//! reconcile-enqueued.json younger than RECONCILE_REENQUEUE_AFTER? ─ yes ─▶ Pending
//!   │ no
//! dry run, or the per-run bound reached? ─ yes ─▶ Missing (reported, not enqueued)
//!   │ no
//! SendMessage(synthetic event) ─▶ put reconcile-enqueued.json ─▶ Enqueued
//! ```
//!
//! **Bounded**: at most `max_enqueue` messages per run, and the run stops before the Lambda
//! deadline. **Resumable**: a run always starts again at the first page; the marker
//! `{prefix}{org}/{app}/{partyId}/{instanceGuid}/reconcile-enqueued.json` makes the instances
//! enqueued by earlier runs (not yet archived because the queue is busy) count as `Pending`
//! instead of taking the bound again, so each run gets further. Once archived and confirmed,
//! an instance drops out of the query altogether. **Idempotent**: a duplicate message (a crash
//! between SendMessage and the marker, or a marker older than the re-enqueue period because
//! the instance keeps failing) costs one archiver run that finds the manifest and ends; the
//! archiver keeps the extra event file and never confirms twice.
//!
//! **The feedback task.** With `FEEDBACK_TASK` set, a second query asks for the app's instances
//! waiting at that task. An instance stays there until we write the receipt and move it on, so a
//! lost `movedTo` event would leave it waiting for ever and its process would never end. Each
//! one gets a synthetic `app.instance.process.movedTo.{FEEDBACK_TASK}` event, with its own marker
//! `reconcile-feedback.json` and the same re-enqueue period; the archiver's feedback step is
//! idempotent, so a duplicate of a live event costs one run that finds the work done.

use std::time::{Duration, Instant, SystemTime};

use altinn::client::InstanceFilter;
use altinn::instance::FileScanResult;
use altinn::{AltinnClient, AltinnEnvironment, ClientError, Instance, InstanceRef};
use archive_model::{ArchiveLayout, KeyError};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::AppId;
use crate::event::{
    ORIGIN_RECONCILER, SyntheticMessage, synthetic_completed_event, synthetic_moved_to_event,
};
pub use crate::report::{AppReport, Finding, InstanceFinding, StopReason};

/// Why reconciling an app failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Storage query failed (after the client's retries).
    #[error("Storage query for {app} failed: {source}")]
    Query {
        /// `org/app`.
        app: String,
        /// The client error (never carries the token).
        source: ClientError,
    },
    /// An S3 call failed.
    #[error("S3 {operation} {key} failed: {message}")]
    Storage {
        /// `HeadObject` or `PutObject`.
        operation: &'static str,
        /// The key.
        key: String,
        /// The SDK's description.
        message: String,
    },
    /// SendMessage failed.
    #[error("SQS SendMessage failed: {0}")]
    Queue(String),
    /// An instance whose ids cannot be part of an archive key.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// How one call of [`Reconciler::reconcile_app`] behaves.
pub struct RunOptions<'a> {
    /// Report only: no message, no marker.
    pub dry_run: bool,
    /// Most messages to send (shared across the apps of one run by the caller).
    pub max_enqueue: usize,
    /// Stop reading pages after this instant.
    pub deadline: Option<Instant>,
    /// Called after every page with the report so far (for progress output).
    pub progress: Option<&'a (dyn Fn(&AppReport) + Sync)>,
}

/// The reconciler's fixed settings.
#[derive(Debug, Clone)]
pub struct ReconcilerSettings {
    /// Storage query page size.
    pub page_size: u32,
    /// After this long a still-unarchived instance is enqueued again.
    pub reenqueue_after: Duration,
    /// `FEEDBACK_TASK`: also look for instances waiting at this task.
    pub feedback_task: Option<String>,
}

/// One of the queries a run makes per app.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sweep {
    /// Completed, not confirmed by us: a lost `process.completed`.
    Completed,
    /// Waiting at our feedback task: a lost `movedTo.{task}`.
    FeedbackTask(String),
}

impl Sweep {
    /// The task the swept instances wait at, if this sweep is for one.
    fn feedback_task(&self) -> Option<&str> {
        match self {
            Sweep::Completed => None,
            Sweep::FeedbackTask(task) => Some(task),
        }
    }
}

/// Queries Altinn, checks the archive, enqueues what is missing.
#[derive(Debug, Clone)]
pub struct Reconciler {
    altinn: AltinnClient,
    s3: aws_sdk_s3::Client,
    bucket: String,
    layout: ArchiveLayout,
    sqs: aws_sdk_sqs::Client,
    queue_url: Option<String>,
    settings: ReconcilerSettings,
}

impl Reconciler {
    /// A reconciler over ready-made clients. Without `queue_url` only dry runs are possible
    /// (a real run fails at its first send).
    pub fn new(
        altinn: AltinnClient,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        layout: ArchiveLayout,
        sqs: aws_sdk_sqs::Client,
        queue_url: Option<String>,
        settings: ReconcilerSettings,
    ) -> Self {
        Reconciler {
            altinn,
            s3,
            bucket: bucket.into(),
            layout,
            sqs,
            queue_url,
            settings,
        }
    }

    /// The archive layout.
    pub fn layout(&self) -> &ArchiveLayout {
        &self.layout
    }

    fn environment(&self) -> &AltinnEnvironment {
        self.altinn.allowlist().environment()
    }

    /// Reconciles one app: every page of the query (until the bound or the deadline), every
    /// instance classified as in the module docs.
    pub async fn reconcile_app(
        &self,
        app: &AppId,
        options: &RunOptions<'_>,
    ) -> Result<AppReport, ReconcileError> {
        let mut report = AppReport::new(app);
        let mut sweeps = vec![Sweep::Completed];
        if let Some(task) = &self.settings.feedback_task {
            sweeps.push(Sweep::FeedbackTask(task.clone()));
        }
        for sweep in &sweeps {
            if report.stopped.is_some() {
                break;
            }
            self.sweep(app, sweep, options, &mut report).await?;
        }
        tracing::info!(
            app = %report.app,
            pages = report.pages,
            found = report.found,
            already_archived = report.already_archived,
            pending = report.pending,
            held = report.held,
            enqueued = report.enqueued,
            missing = report.missing,
            stopped = ?report.stopped,
            dry_run = options.dry_run,
            "reconciled"
        );
        Ok(report)
    }

    /// Every page of one query (until the bound or the deadline), each instance classified.
    async fn sweep(
        &self,
        app: &AppId,
        sweep: &Sweep,
        options: &RunOptions<'_>,
        report: &mut AppReport,
    ) -> Result<(), ReconcileError> {
        let filter = match sweep {
            Sweep::Completed => InstanceFilter::CompletedNotConfirmed,
            Sweep::FeedbackTask(task) => InstanceFilter::AtTask(task.clone()),
        };
        let mut next: Option<String> = None;
        loop {
            if options.deadline.is_some_and(|d| Instant::now() >= d) {
                report.stopped = Some(StopReason::Deadline);
                return Ok(());
            }
            let page = self
                .altinn
                .query_instances(
                    &app.org,
                    &app.app,
                    &filter,
                    self.settings.page_size,
                    next.as_deref(),
                )
                .await
                .map_err(|source| ReconcileError::Query {
                    app: app.to_string(),
                    source,
                })?;
            report.pages += 1;
            for found in &page.instances {
                let Some(instance) = instance_ref(app, found) else {
                    report.ignored += 1;
                    continue;
                };
                report.found += 1;
                let budget_left =
                    options.dry_run || (report.enqueued as usize) < options.max_enqueue;
                let finding = self
                    .check_instance(&instance, found, sweep, options.dry_run || !budget_left)
                    .await?;
                if finding == Finding::Missing && !options.dry_run && report.stopped.is_none() {
                    report.stopped = Some(StopReason::EnqueueBound);
                }
                report.record(&instance, sweep.feedback_task(), finding);
            }
            if let Some(progress) = options.progress {
                progress(report);
            }
            if report.stopped.is_some() {
                return Ok(());
            }
            match page.next.filter(|n| !n.trim().is_empty()) {
                // The same link twice would loop forever.
                Some(link) if next.as_deref() != Some(link.as_str()) => next = Some(link),
                _ => return Ok(()),
            }
        }
    }

    /// Classifies one instance; sends and marks it unless `report_only`.
    async fn check_instance(
        &self,
        instance: &InstanceRef,
        found: &Instance,
        sweep: &Sweep,
        report_only: bool,
    ) -> Result<Finding, ReconcileError> {
        // An instance at the feedback task has no manifest yet: its process has not ended.
        if *sweep == Sweep::Completed {
            let manifest_key = self.layout.manifest(instance)?;
            if self.last_modified(&manifest_key).await?.is_some() {
                // Still in the query: archived but not (yet) confirmed. The archiver's own retry
                // (or the DLQ) owns that completion.
                tracing::debug!(instance = %instance.instance_id(), "archived, completion pending");
                return Ok(Finding::AlreadyArchived);
            }
            let held = self.held_elements(instance, found).await?;
            if !held.is_empty() {
                return Ok(Finding::Held {
                    data_element_ids: held,
                });
            }
        }
        let marker_key = match sweep {
            Sweep::Completed => self.layout.reconcile_marker(instance)?,
            Sweep::FeedbackTask(_) => self.layout.reconcile_feedback_marker(instance)?,
        };
        if let Some(modified) = self.last_modified(&marker_key).await? {
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or(Duration::ZERO);
            if age < self.settings.reenqueue_after {
                return Ok(Finding::Pending {
                    enqueued_secs_ago: age.as_secs(),
                });
            }
        }
        if report_only {
            return Ok(Finding::Missing);
        }
        let now = OffsetDateTime::now_utc();
        let event = match sweep {
            Sweep::Completed => synthetic_completed_event(self.environment(), instance, now),
            Sweep::FeedbackTask(task) => {
                synthetic_moved_to_event(self.environment(), instance, task, now)
            }
        };
        let message = SyntheticMessage::new(&event, instance);
        self.send(&message).await?;
        self.put_marker(&marker_key, &message).await?;
        tracing::info!(
            instance = %message.instance,
            event_id = %message.event_id,
            event_type = %message.event_type,
            "enqueued a synthetic event"
        );
        Ok(Finding::Enqueued {
            event_id: message.event_id,
        })
    }

    /// The `Infected` elements the archiver holds for review: a review record and no release
    /// marker. Only those elements are looked up, so a clean instance costs no request.
    async fn held_elements(
        &self,
        instance: &InstanceRef,
        found: &Instance,
    ) -> Result<Vec<String>, ReconcileError> {
        let mut held = Vec::new();
        for element in &found.data {
            if element.file_scan_result != Some(FileScanResult::Infected) {
                continue;
            }
            let review = self.layout.quarantine_review(instance, &element.id)?;
            let release = self.layout.quarantine_release(instance, &element.id)?;
            if self.last_modified(&review).await?.is_some()
                && self.last_modified(&release).await?.is_none()
            {
                held.push(element.id.clone());
            }
        }
        Ok(held)
    }

    /// `HeadObject`: the object's last-modified time, `None` when it does not exist.
    async fn last_modified(&self, key: &str) -> Result<Option<SystemTime>, ReconcileError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => {
                let modified = output
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or_else(SystemTime::now);
                Ok(Some(modified))
            }
            Err(error) => {
                let not_found = error.as_service_error().is_some_and(|e| e.is_not_found())
                    || error
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404);
                if not_found {
                    Ok(None)
                } else {
                    Err(ReconcileError::Storage {
                        operation: "HeadObject",
                        key: key.to_owned(),
                        message: aws_sdk_s3::error::DisplayErrorContext(&error).to_string(),
                    })
                }
            }
        }
    }

    async fn put_marker(
        &self,
        key: &str,
        message: &SyntheticMessage,
    ) -> Result<(), ReconcileError> {
        let body = serde_json::json!({
            "origin": ORIGIN_RECONCILER,
            "eventId": message.event_id,
            "instance": message.instance,
            "enqueuedAt": OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        });
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.to_string().into_bytes().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|error| ReconcileError::Storage {
                operation: "PutObject",
                key: key.to_owned(),
                message: aws_sdk_s3::error::DisplayErrorContext(&error).to_string(),
            })
    }

    async fn send(&self, message: &SyntheticMessage) -> Result<(), ReconcileError> {
        let queue_url = self
            .queue_url
            .as_deref()
            .ok_or_else(|| ReconcileError::Queue("no queue URL configured".into()))?;
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| ReconcileError::Queue(format!("message attribute: {e}")))
        };
        let mut request = self
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(&message.body)
            .message_attributes("EventType", attribute(&message.event_type)?)
            .message_attributes("EventId", attribute(&message.event_id)?)
            .message_attributes("Instance", attribute(&message.instance)?)
            .message_attributes("Origin", attribute(ORIGIN_RECONCILER)?);
        if queue_url.ends_with(".fifo") {
            request = request
                .message_group_id(fifo_id(&message.instance))
                .message_deduplication_id(fifo_id(&message.event_id));
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|error| ReconcileError::Queue(DisplayErrorContext(&error).to_string()))
    }
}

/// The instance as an [`InstanceRef`] when it belongs to `app` and has well-formed ids.
fn instance_ref(app: &AppId, instance: &Instance) -> Option<InstanceRef> {
    let belongs = instance.app_id == app.to_string();
    let instance_ref = InstanceRef {
        org: app.org.clone(),
        app: app.app.clone(),
        party_id: instance.party_id()?,
        instance_guid: instance.instance_guid()?,
    };
    if !belongs {
        tracing::warn!(app = %app, "the query returned an instance of another app; ignored");
        return None;
    }
    Some(instance_ref)
}

/// A FIFO group or deduplication id: the value when SQS accepts it (1–128 printable ASCII),
/// else its SHA-256 in hex (stable, so equal values still group together).
fn fifo_id(value: &str) -> String {
    let usable = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation());
    if usable {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_ids_are_kept_or_hashed() {
        assert_eq!(fifo_id("ttd/app/1/abc"), "ttd/app/1/abc");
        assert_eq!(fifo_id(&"a".repeat(200)).len(), 64);
    }
}
