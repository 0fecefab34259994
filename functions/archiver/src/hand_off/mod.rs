//! Hand-off events: what the agency's own systems (a case system, a records system) hear
//! from the archive, put on an EventBridge bus (`EVENT_BUS_NAME`).
//!
//! | `detail-type` | when | detail |
//! | --- | --- | --- |
//! | `InstanceArchived` | an instance's manifest was written (once per instance) | [`InstanceArchived`] |
//! | `CorrespondenceArchived` | a Correspondence event rewrote its correspondence's manifest | [`CorrespondenceArchived`] |
//! | `CorrespondenceNeedsFollowUp` | a Correspondence event after which the agency must act | [`crate::follow_up::FollowUp`] |
//! | `ArchiveFailed` | a message was dead-lettered | [`ArchiveFailed`] |
//!
//! Every event has the `source` [`SOURCE`]; the JSON Schema of each detail is in the
//! repository's `schemas/hand-off/`. The pipeline decides when to send, behind an S3 claim
//! per event so duplicates and retries send nothing twice (`pipeline/claim.rs`); this module
//! only says what an event holds and delivers it.

mod eventbridge;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;

pub use eventbridge::{EventBridgeHandOff, UNANSWERED};

use crate::error::{ArchiveError, FailureReason};
use crate::follow_up::FollowUp;
use crate::memory::MemorySink;

/// The `source` of every hand-off event.
pub const SOURCE: &str = "altinn.archive";

/// One hand-off event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOff {
    InstanceArchived(InstanceArchived),
    CorrespondenceArchived(CorrespondenceArchived),
    CorrespondenceNeedsFollowUp(FollowUp),
    ArchiveFailed(ArchiveFailed),
}

impl HandOff {
    /// The event's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            HandOff::InstanceArchived(_) => "InstanceArchived",
            HandOff::CorrespondenceArchived(_) => "CorrespondenceArchived",
            HandOff::CorrespondenceNeedsFollowUp(_) => "CorrespondenceNeedsFollowUp",
            HandOff::ArchiveFailed(_) => "ArchiveFailed",
        }
    }

    /// The event's `detail`, as JSON.
    pub fn detail_json(&self) -> String {
        // Structs of strings, numbers and booleans always serialise.
        match self {
            HandOff::InstanceArchived(detail) => serde_json::to_string(detail),
            HandOff::CorrespondenceArchived(detail) => serde_json::to_string(detail),
            HandOff::CorrespondenceNeedsFollowUp(detail) => serde_json::to_string(detail),
            HandOff::ArchiveFailed(detail) => serde_json::to_string(detail),
        }
        .unwrap_or_default()
    }

    /// What the event is about, for logs and error details.
    pub fn subject(&self) -> String {
        match self {
            HandOff::InstanceArchived(detail) => {
                format!("instance {}/{}", detail.party_id, detail.instance_guid)
            }
            HandOff::CorrespondenceArchived(detail) => {
                format!("correspondence {}", detail.correspondence_id)
            }
            HandOff::CorrespondenceNeedsFollowUp(detail) => {
                format!("correspondence {}", detail.correspondence_id)
            }
            HandOff::ArchiveFailed(detail) => format!(
                "message {}",
                detail.event_id.as_deref().unwrap_or("without an event id")
            ),
        }
    }
}

/// An app instance is in the archive: its manifest is at `manifest_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceArchived {
    pub org: String,
    pub app: String,
    pub party_id: String,
    pub instance_guid: String,
    pub bucket: String,
    pub manifest_key: String,
    /// Lower-case hex SHA-256 of the manifest's bytes.
    pub manifest_sha256: String,
    /// The event that caused the archive (the manifest's `eventId`).
    pub event_id: String,
    /// The manifest's `archivedAt`.
    pub archived_at: String,
    /// True when Altinn has our `complete` (Altinn may then delete its copy); false when
    /// Altinn refused it for good (the message is dead-lettered and an `ArchiveFailed` follows).
    pub completed: bool,
}

/// A Correspondence event is in the archive, and its correspondence's manifest was rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrespondenceArchived {
    /// `sender` or `recipient`: the role we archive as.
    pub role: String,
    /// Without `urn:altinn:resource:`.
    pub resource_id: String,
    pub correspondence_id: String,
    pub bucket: String,
    pub manifest_key: String,
    /// Lower-case hex SHA-256 of the manifest's bytes as this run wrote them.
    pub manifest_sha256: String,
    pub event_id: String,
    /// The full Correspondence event type.
    pub event_type: String,
    /// When the manifest was written (RFC 3339, UTC).
    pub archived_at: String,
}

/// A message was dead-lettered: the archive of what it names did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveFailed {
    /// The failure reason code (`altinn_not_found`, `infected`, …), as on the dead letter.
    pub reason: String,
    /// `permanent`, or `retries_exhausted` for a transient failure on the last allowed receive.
    pub error_class: String,
    /// A human-readable explanation (never tokens or bodies).
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `{org}/{app}/{partyId}/{instanceGuid}` for app events, `{resource}/{resourceinstance}`
    /// for Correspondence events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The dead-letter queue that holds the message.
    pub dead_letter_queue: String,
    /// RFC 3339.
    pub failed_at: String,
    pub receive_count: u32,
}

/// Where hand-off events go. Object-safe, so the pipeline holds an `Arc<dyn HandOffSink>`
/// (EventBridge in AWS, [`MemoryHandOff`] in unit tests).
pub trait HandOffSink: Send + Sync {
    /// Puts one event on the bus; a failure is transient, so the message is retried.
    fn put(&self, event: &HandOff) -> BoxFuture<'_, Result<(), ArchiveError>>;
}

/// An in-memory sink for tests.
pub type MemoryHandOff = MemorySink<HandOff>;

impl HandOffSink for MemorySink<HandOff> {
    fn put(&self, event: &HandOff) -> BoxFuture<'_, Result<(), ArchiveError>> {
        let result = if self.accept(event) {
            Ok(())
        } else {
            Err(unavailable(event, "the test sink was told to fail"))
        };
        futures_util::future::ready(result).boxed()
    }
}

/// The bus did not take `event`: an AWS service of ours failing is not the message's fault,
/// so it is retried.
fn unavailable(event: &HandOff, detail: &str) -> ArchiveError {
    ArchiveError::transient(
        FailureReason::HandOffUnavailable,
        format!(
            "{} event for {}: {detail}",
            event.detail_type(),
            event.subject()
        ),
    )
}
