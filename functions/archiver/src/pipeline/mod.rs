//! The archive pipeline: one message body in, one [`MessageOutcome`] (or a classified
//! [`ArchiveError`]) out. It reads Altinn through an [`AltinnSource`] and writes the archive
//! through an [`ArchiveTarget`]; the Lambda handler only feeds it messages.
//!
//! ```text
//! handle: parse the CloudEvent, classify it against the allowlist, route it (one match):
//!   app.instance.process.movedTo.{FEEDBACK_TASK} ─▶ write_back (pipeline/feedback.rs)
//!   app instance event of an ARCHIVE_EVENT_TYPES type ─▶ archive_instance
//!   Correspondence event, CORRESPONDENCE_ROLE set ─▶ handle_correspondence
//!     (pipeline/correspondence/: sender or recipient; event, details, attachments,
//!      manifest.json rebuilt from what is stored, one follow-up alert per type)
//!   any other app instance event, Correspondence event without a role, other event ─▶ store_event
//! write_back (only with FEEDBACK_TASK)
//!   ├─ GET instance: waiting in FEEDBACK_TASK, a `feedback` task? ── no, and our receipt is in
//!   │     it ─▶ done (it moved on); no, without it ─▶ dead letter `not_in_feedback_task`
//!   ├─ every element archived (as below; no manifest), the event kept under the instance
//!   ├─ take the write-back claim (If-None-Match: *; a younger one ─▶ retry after it)
//!   ├─ GET instance again: no receipt of ours ─▶ upload one (elements with their SHA-256)
//!   └─ PUT process/next ── 409 ─▶ GET: moved on ─▶ done; still waiting ─▶ retry later
//! archive_instance
//!   ├─ manifest.json exists? ── yes ─▶ keep the event; GET instance; unless we completed it:
//!   │                                   substatus, then complete
//!   ├─ GET instance (Storage), check it is this instance and its process has ended
//!   ├─ GET instance events, process history, app metadata (Storage): history/*.json and
//!   │     {org}/{app}/_app/metadata-{sha256}.json, write-once (first write wins)
//!   ├─ a malware scan Pending? ─▶ retry (dead letter `scan_pending` after SCAN_PENDING_MAX_WAIT)
//!   ├─ every element not hard-deleted, ELEMENT_CONCURRENCY at a time (Infected: to quarantine/):
//!   │     already archived with the right size/MD5/lastChanged? ─ yes ─▶ reuse
//!   │     else stream Altinn → archive (checked; up to DOWNLOAD_ATTEMPTS when cut short or mismatching)
//!   ├─ Infected ones tagged; INFECTED_POLICY=hold and not all released ─▶ event and review
//!   │     records kept, dead letter `infected` (archive-ops quarantine release re-queues it)
//!   ├─ instance.json (raw bytes), events/{eventId}.json: both write-once (first write wins)
//!   ├─ manifest.json with If-None-Match: * ── 412 ─▶ another run claimed it; it calls complete
//!   ├─ ARCHIVED_SUBSTATUS_LABEL set and not shown yet? ─▶ PUT substatus
//!   └─ POST complete
//! store_event: events/{eventId}.json under the instance, the correspondence or `events/`
//! ```
//!
//! Every step can be repeated: a crash anywhere followed by a retry ends in the same archive
//! and one completion.
//!
//! **Adding a new archived kind** takes one match arm in [`Pipeline::handle`], one module
//! under `pipeline/` with its steps (as `pipeline/instance.rs` has the instance's and
//! `pipeline/correspondence/` Correspondence's), and its keys in [`crate::layout`]. It returns a [`MessageOutcome`] or an
//! [`ArchiveError`] like the others, so the handler, the retry policy and the dead-letter queue
//! stay as they are.

mod claim;
mod correspondence;
mod element;
mod feedback;
mod hand_off;
mod instance;
mod quarantine;
mod record;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use altinn::{Allowlist, CloudEvent, EventKind};
use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::config::EventTypeFilter;
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::follow_up::FollowUpSink;
use crate::layout::ArchiveLayout;
use crate::outcome::{MessageOutcome, RunStats};
use crate::receipt::{FeedbackSettings, SubstatusSettings};
use crate::scan::ScanSettings;
use crate::seams::{AltinnApi, AltinnSource, ArchiveTarget};
use crate::store::{ArchiveStore, ConditionalPut};
use altinn::CorrespondenceMode;

pub use claim::UNMARKED;
pub use hand_off::HandOffBus;

/// Content type of the stored events and `instance.json`.
const JSON: &str = "application/json";

/// A CloudEvent together with the exact bytes it arrived as (what the archive stores).
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub event: CloudEvent,
    pub raw: Bytes,
    /// The SQS message it came in, when known: a send-once claim left by an earlier receive of
    /// the same message belongs to a run that is over (see `pipeline/claim.rs`).
    pub message_id: Option<String>,
}

impl ReceivedEvent {
    /// Parses a message body with [`CloudEvent::parse`], keeping the bytes.
    pub fn parse(body: impl Into<Bytes>) -> Result<Self, ArchiveError> {
        let raw = body.into();
        let event = CloudEvent::parse(&raw)
            .map_err(|e| ArchiveError::permanent(FailureReason::InvalidEvent, e.to_string()))?;
        Ok(ReceivedEvent {
            event,
            raw,
            message_id: None,
        })
    }
}

/// What a dead letter says about its message, filled in as the message is understood (so a
/// failure late in the pipeline still names the event and the instance).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MessageContext {
    /// The SQS message id, set by the handler before the pipeline runs.
    pub message_id: Option<String>,
    pub event_id: Option<String>,
    /// `{org}/{app}/{partyId}/{instanceGuid}` for app events; for Correspondence events
    /// `{resource}/{resourceinstance}`.
    pub instance: Option<String>,
}

/// The pipeline's knobs (from [`crate::config::ArchiverConfig`]).
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Our org code: whose completion we look for in `completeConfirmations`.
    pub org: String,
    /// The event sources we accept (pinned to our org).
    pub allowlist: Allowlist,
    /// `ARCHIVE_EVENT_TYPES`: the app events that archive their instance.
    pub archive_event_types: EventTypeFilter,
    /// The keys.
    pub layout: ArchiveLayout,
    pub element_concurrency: usize,
    pub download_attempts: u32,
    /// The backoff between download attempts of one element.
    pub download_backoff: altinn::Backoff,
    /// `FEEDBACK_TASK`, `RECEIPT_DATA_TYPE`, `RECEIPT_FORMAT`; `None`: nothing is uploaded.
    pub feedback: Option<FeedbackSettings>,
    /// `ARCHIVED_SUBSTATUS_LABEL` and its description; `None`: no substatus.
    pub substatus: Option<SubstatusSettings>,
    /// How long a write-back claim holds off other runs ([`crate::receipt::claim_ttl`]).
    pub write_back_claim_ttl: Duration,
    /// `CORRESPONDENCE_ROLE` and its resources or organisation; `None`: Correspondence events
    /// are only stored.
    pub correspondence: Option<CorrespondenceMode>,
    /// How long a send-once claim (a follow-up alert, a hand-off event) holds off other runs
    /// (as the write-back claim's).
    pub send_claim_ttl: Duration,
    /// `SCAN_PENDING_MAX_WAIT` and `INFECTED_POLICY` ([`crate::scan`]).
    pub scan: ScanSettings,
}

/// The archive pipeline over a source `A` and a target `T`. Build it once per process.
pub struct Pipeline<A = AltinnApi, T = ArchiveStore> {
    altinn: A,
    target: T,
    settings: PipelineSettings,
    /// Element transfers in flight across every message of the process: with two part buffers
    /// per transfer (one uploading, one filling) this bounds memory at
    /// `2 × ELEMENT_CONCURRENCY × part size`, however many messages run at once.
    transfer_slots: Arc<Semaphore>,
    /// Where follow-up alerts go (`FOLLOW_UP_TOPIC_ARN`); `None`: only the metric.
    follow_up: Option<Arc<dyn FollowUpSink>>,
    /// Where hand-off events go (`EVENT_BUS_NAME`); `None`: none are sent.
    hand_off: Option<HandOffBus>,
}

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// A pipeline over the given source and target.
    pub fn new(altinn: A, target: T, mut settings: PipelineSettings) -> Self {
        settings.element_concurrency = settings.element_concurrency.max(1);
        settings.download_attempts = settings.download_attempts.max(1);
        Pipeline {
            transfer_slots: Arc::new(Semaphore::new(settings.element_concurrency)),
            altinn,
            target,
            settings,
            follow_up: None,
            hand_off: None,
        }
    }

    /// Sends follow-up alerts to `sink`.
    pub fn with_follow_up(mut self, sink: Arc<dyn FollowUpSink>) -> Self {
        self.follow_up = Some(sink);
        self
    }

    /// Puts hand-off events on `bus`.
    pub fn with_hand_off(mut self, bus: HandOffBus) -> Self {
        self.hand_off = Some(bus);
        self
    }

    /// Where the archive goes.
    pub fn target(&self) -> &T {
        &self.target
    }

    /// Where Altinn content comes from.
    pub fn altinn(&self) -> &A {
        &self.altinn
    }

    /// The key layout.
    pub fn layout(&self) -> &ArchiveLayout {
        &self.settings.layout
    }

    /// Handles one message body: the only place that decides what an event leads to.
    /// `context` is filled in for the dead letter as the event is understood.
    pub async fn handle(
        &self,
        body: Option<&str>,
        deadline: &Deadline,
        stats: &RunStats,
        context: &mut MessageContext,
    ) -> Result<MessageOutcome, ArchiveError> {
        let body = body.ok_or_else(|| {
            ArchiveError::permanent(FailureReason::InvalidMessage, "the message has no body")
        })?;
        let mut event = ReceivedEvent::parse(Bytes::copy_from_slice(body.as_bytes()))?;
        event.message_id = context.message_id.clone();
        let span = tracing::Span::current();
        span.record("event_id", event.event.id.as_str());
        span.record("event_type", event.event.event_type.as_str());
        context.event_id = Some(event.event.id.clone());
        let kind = event
            .event
            .classify(&self.settings.allowlist)
            .map_err(|e| ArchiveError::permanent(FailureReason::SourceNotAllowed, e.to_string()))?;
        let layout = &self.settings.layout;
        let id = &event.event.id;
        match kind {
            EventKind::AppInstance {
                instance,
                event_type,
            } => {
                span.record("instance_id", instance.instance_id().as_str());
                context.instance =
                    Some(format!("{}/{}", instance.app_id(), instance.instance_id()));
                // Before ARCHIVE_EVENT_TYPES: a wildcard there (`app.instance.process.*`) must
                // not turn the feedback task's event into an archive of an unfinished instance.
                if self.is_write_back_event(&event_type) {
                    self.write_back(&event, &instance, deadline, stats).await
                } else if self.settings.archive_event_types.matches(&event_type) {
                    self.archive_instance(&event, &instance, deadline, stats)
                        .await
                } else {
                    let key = layout.instance_event(&instance, id)?;
                    self.store_event(&event, key).await
                }
            }
            EventKind::Correspondence(correspondence) => {
                context.instance = Some(format!(
                    "{}/{}",
                    correspondence.resource, correspondence.resourceinstance
                ));
                self.handle_correspondence(&event, &correspondence, deadline, stats)
                    .await
            }
            EventKind::SubscriptionValidation { .. } | EventKind::Other => {
                let key = layout.unscoped_event(id)?;
                self.store_event(&event, key).await
            }
        }
    }

    /// True for `app.instance.process.movedTo.{FEEDBACK_TASK}` when `FEEDBACK_TASK` is set.
    fn is_write_back_event(&self, event_type: &str) -> bool {
        self.settings.feedback.as_ref().is_some_and(|feedback| {
            event_type
                .strip_prefix(altinn::event::PROCESS_MOVED_TO_PREFIX)
                .is_some_and(|task| task == feedback.task)
        })
    }

    /// Stores a non-archive event at `key`, unless that event id is already stored there.
    async fn store_event(
        &self,
        event: &ReceivedEvent,
        key: String,
    ) -> Result<MessageOutcome, ArchiveError> {
        match self
            .target
            .put_small_if_absent(&key, event.raw.clone(), JSON)
            .await
            .map_err(|e| ArchiveError::from_store(&e))?
        {
            ConditionalPut::Created(_) => Ok(MessageOutcome::EventStored { key }),
            ConditionalPut::AlreadyExists => Ok(MessageOutcome::EventAlreadyStored { key }),
        }
    }
}
