//! What happened to one message: the one outcome type the pipeline, the handler, the metrics,
//! the logs and the local runner share.
//!
//! The pipeline returns the successful variants (or an [`ArchiveError`]); the handler turns an
//! error into [`MessageOutcome::Retry`], [`MessageOutcome::DeadLettered`] or
//! [`MessageOutcome::DeadLetterFailed`] (see [`crate::queue::FailurePolicy`]), and reports the
//! retrying ones to Lambda as batch item failures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ArchiveError;

/// What happened to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageOutcome {
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
    /// The instance waited in the feedback task: its elements are archived, our receipt is in
    /// it, and its process was moved on (`process/next`).
    WrittenBack(WriteBackSummary),
    /// The instance had already left the feedback task with our receipt in it (a duplicate, or
    /// a retry after a crash once the process had moved on): nothing was written to Altinn.
    AlreadyWrittenBack,
    /// A Correspondence event was archived as the configured role: the event, what it led to
    /// (details, attachments), the rewritten manifest, and the follow-up alert.
    CorrespondenceArchived(CorrespondenceSummary),
    /// A non-archive event was stored.
    EventStored { key: String },
    /// The same event id was stored before (a duplicate delivery); nothing was written.
    EventAlreadyStored { key: String },
    /// Transient failure: the message comes back (`visibility`: what we set, if we could).
    Retry {
        error: ArchiveError,
        visibility: Option<Duration>,
    },
    /// Sent to the DLQ (`retries_exhausted`: a transient failure on the last allowed receive).
    DeadLettered {
        error: ArchiveError,
        retries_exhausted: bool,
    },
    /// Should have gone to the DLQ, but the send failed: reported as a failure.
    DeadLetterFailed {
        error: ArchiveError,
        send_error: String,
    },
}

impl MessageOutcome {
    /// True when Lambda must be told the message failed (so SQS keeps it).
    pub fn is_batch_item_failure(&self) -> bool {
        matches!(
            self,
            MessageOutcome::Retry { .. } | MessageOutcome::DeadLetterFailed { .. }
        )
    }

    /// A short label for logs and the metrics `Outcome` dimension.
    pub fn label(&self) -> &'static str {
        match self {
            MessageOutcome::Archived(_) => "archived",
            MessageOutcome::AlreadyArchived { .. } => "already_archived",
            MessageOutcome::ClaimedByAnotherRun(_) => "claimed_by_another_run",
            MessageOutcome::WrittenBack(_) => "written_back",
            MessageOutcome::AlreadyWrittenBack => "already_written_back",
            MessageOutcome::CorrespondenceArchived(_) => "correspondence_archived",
            MessageOutcome::EventStored { .. } => "event_stored",
            MessageOutcome::EventAlreadyStored { .. } => "event_already_stored",
            MessageOutcome::Retry { .. } => "retry",
            MessageOutcome::DeadLettered { .. } => "dead_lettered",
            MessageOutcome::DeadLetterFailed { .. } => "dead_letter_failed",
        }
    }

    /// The failure, for the failing outcomes.
    pub fn error(&self) -> Option<&ArchiveError> {
        match self {
            MessageOutcome::Retry { error, .. }
            | MessageOutcome::DeadLettered { error, .. }
            | MessageOutcome::DeadLetterFailed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Writes the outcome to the log, at the level it deserves.
    pub fn log(&self) {
        let outcome = self.label();
        match self {
            MessageOutcome::Archived(summary) => tracing::info!(
                outcome,
                elements = summary.elements,
                downloaded = summary.elements_downloaded,
                reused = summary.elements_reused,
                skipped = summary.elements_skipped,
                bytes = summary.bytes_downloaded,
                "instance archived and completed"
            ),
            MessageOutcome::AlreadyArchived { completed_now, .. } => tracing::info!(
                outcome,
                completed_now,
                "duplicate: the archive already exists"
            ),
            MessageOutcome::ClaimedByAnotherRun(_) => {
                tracing::info!(outcome, "another run claimed the archive")
            }
            MessageOutcome::WrittenBack(summary) => tracing::info!(
                outcome,
                elements = summary.elements,
                downloaded = summary.elements_downloaded,
                reused = summary.elements_reused,
                bytes = summary.bytes_downloaded,
                receipt_uploaded = summary.receipt_uploaded,
                moved_on = summary.moved_on,
                "elements archived, receipt in the instance, process moved on from the feedback task"
            ),
            MessageOutcome::AlreadyWrittenBack => tracing::info!(
                outcome,
                "the instance already left the feedback task with our receipt"
            ),
            MessageOutcome::CorrespondenceArchived(summary) => tracing::info!(
                outcome,
                event_key = %summary.event_key,
                duplicate = !summary.event_new,
                manifest_key = summary.manifest_key.as_deref(),
                details_fetched = summary.details_fetched,
                attachments_downloaded = summary.attachments_downloaded,
                attachments_reused = summary.attachments_reused,
                attachments_not_accessible = summary.attachments_not_accessible,
                bytes = summary.bytes_downloaded,
                follow_up_sent = summary.follow_up,
                "correspondence event archived"
            ),
            MessageOutcome::EventStored { key } | MessageOutcome::EventAlreadyStored { key } => {
                tracing::info!(outcome, key = %key, "event kept")
            }
            MessageOutcome::Retry { error, visibility } => tracing::warn!(
                outcome,
                reason = %error.reason,
                detail = %error.detail,
                visibility_secs = visibility.map(|v| v.as_secs()),
                "transient failure; the message will come back"
            ),
            MessageOutcome::DeadLettered {
                error,
                retries_exhausted,
            } => tracing::error!(
                outcome,
                reason = %error.reason,
                detail = %error.detail,
                retries_exhausted,
                "sent to the dead-letter queue"
            ),
            MessageOutcome::DeadLetterFailed { error, send_error } => tracing::error!(
                outcome,
                reason = %error.reason,
                detail = %error.detail,
                send_error = %send_error,
                "could not dead-letter; reported as a failure"
            ),
        }
    }
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
    /// From the event's CloudEvent `time` to this run's manifest write (the `ArchiveLatency`
    /// metric); `None` when this run wrote no manifest or the event's time is missing or
    /// unreadable.
    pub archive_latency: Option<Duration>,
}

/// What one Correspondence event led to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrespondenceSummary {
    /// Where the event is stored.
    pub event_key: String,
    /// False when that event id was stored before (a duplicate delivery).
    pub event_new: bool,
    /// The correspondence manifest written, when the event belongs to a correspondence.
    pub manifest_key: Option<String>,
    /// A details answer was fetched (and stored) by this run.
    pub details_fetched: bool,
    /// Attachments downloaded and stored by this run.
    pub attachments_downloaded: usize,
    /// Attachments found already stored and matching their checksum.
    pub attachments_reused: usize,
    /// Attachments the sender may no longer download (Altinn's 2016).
    pub attachments_not_accessible: usize,
    /// Attachment bytes downloaded and stored by this run.
    pub bytes_downloaded: u64,
    /// For an event that needs follow-up: true when this run sent the alert, false when it
    /// was sent before (or no topic is configured); `None` for other events.
    pub follow_up: Option<bool>,
    /// From the event's CloudEvent `time` to this run's manifest write, for the first delivery
    /// of an event only (a duplicate's would measure the redelivery, not the archive); `None`
    /// otherwise or when the event's time is missing or unreadable.
    pub archive_latency: Option<Duration>,
}

/// The numbers of one write-back in the feedback task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBackSummary {
    /// Elements in the archive (the receipt lists them).
    pub elements: usize,
    /// Of those, downloaded in this run.
    pub elements_downloaded: usize,
    /// Of those, already in S3 and reused.
    pub elements_reused: usize,
    /// Element bytes downloaded and stored in this run.
    pub bytes_downloaded: u64,
    /// False when the instance already held our receipt (a retry after the upload).
    pub receipt_uploaded: bool,
    /// False when the process had already left the feedback task when we asked.
    pub moved_on: bool,
}

/// Counters one message's work adds to (shared by its concurrent element transfers).
#[derive(Debug, Default)]
pub struct RunStats {
    /// Element downloads started again after a body was cut short or did not match.
    pub download_retries: AtomicU64,
    /// `Infected` elements stored under `quarantine/` (downloaded, not reused).
    pub quarantined: AtomicU64,
}

impl RunStats {
    pub(crate) fn add_retry(&self) {
        self.download_retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_quarantined(&self) {
        self.quarantined.fetch_add(1, Ordering::Relaxed);
    }

    /// `Infected` elements stored under `quarantine/` so far.
    pub fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }

    /// Download retries so far.
    pub fn retries(&self) -> u64 {
        self.download_retries.load(Ordering::Relaxed)
    }
}
