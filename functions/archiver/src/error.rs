//! Why a message could not be handled, and whether trying again can help.
//!
//! The split the retry decisions rest on:
//!
//! - **Permanent**: something about *this message* that a retry cannot change: a body that is
//!   not a CloudEvent, a source off the allowlist, Altinn's 400/403/404 for the instance, an
//!   instance whose process has not ended, a size or MD5 mismatch that survived every download
//!   attempt. These go to the dead-letter queue at once, with the reason.
//! - **Transient**: timeouts, 408/429/5xx, a body cut short, S3 failures (throttling included),
//!   and problems of *our* set-up that are not the message's fault (a token we cannot get, a 401
//!   after a token refresh, S3 access errors). These come back through SQS with backoff; after
//!   `MAX_RECEIVE_COUNT` receives they are dead-lettered with their reason too, so an outage
//!   or a broken configuration ends up explained in the DLQ rather than looping.

use std::time::Duration;

use altinn::ClientError;

use crate::layout::KeyError;
use crate::store::StoreError;

/// Whether a retry may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    Transient,
    Permanent,
}

/// The reason, a short fixed code used as the DLQ `Reason` attribute and a metrics dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    InvalidMessage,
    InvalidEvent,
    SourceNotAllowed,
    InvalidKey,
    InvalidInput,
    AltinnBadRequest,
    AltinnUnauthorized,
    AltinnForbidden,
    AltinnNotFound,
    AltinnConflict,
    AltinnRejected,
    AltinnTimeout,
    AltinnThrottled,
    AltinnServerError,
    AltinnUnreachable,
    AltinnUnexpectedResponse,
    UrlNotAllowed,
    AuthFailed,
    InstanceNotCompleted,
    InstanceMismatch,
    SizeMismatch,
    ChecksumMismatch,
    DownloadInterrupted,
    StorageThrottled,
    StorageUnavailable,
    Deadline,
    /// Altinn refused the archive receipt: 400 (unknown data type, a content type the data type
    /// does not allow, …) or a 409 other than "Instance Not Active" ("Max Count Exceeded", "No
    /// current task"); Altinn's title is in the detail.
    ReceiptRejected,
    /// Another run is writing back to the instance (receipt, `process/next`) right now; try
    /// again after it.
    ReceiptInProgress,
    /// The event said the instance entered the feedback task, but it is not waiting in a task
    /// of type `feedback` with the id `FEEDBACK_TASK` (and holds no receipt of ours): nothing
    /// was written to Altinn.
    NotInFeedbackTask,
    /// The app refused the receipt with 409 "Instance Not Active": the instance left the
    /// feedback task and its process ended (or it was deleted) before the upload.
    InstanceNotActive,
    /// The app refused `process/next` while the instance still waits in the feedback task:
    /// the task's validation failed (a data type's `minCount`, a file scan still pending).
    ProcessNextRejected,
    /// Altinn answered 404 to a correspondence's details: not ours, purged, or (as recipient)
    /// not yet published to us.
    CorrespondenceNotFound,
    /// A Correspondence event about a resource or recipient we do not archive for
    /// (`CORRESPONDENCE_RESOURCES`, `CORRESPONDENCE_RECIPIENT_ORGNO`).
    CorrespondenceNotOurs,
    /// Altinn's details or attachment answer names another correspondence or attachment than
    /// the one asked for.
    CorrespondenceMismatch,
    /// The correspondence manifest kept missing objects that concurrent runs stored; it is
    /// rebuilt on the retry.
    ManifestUnsettled,
    /// Another run is sending the same follow-up alert right now; try again after it.
    FollowUpInProgress,
    /// The follow-up topic (SNS) did not take the alert; retried like any AWS outage.
    FollowUpUnavailable,
    /// The hand-off bus (EventBridge) did not take an event; retried like any AWS outage,
    /// without archiving again.
    HandOffUnavailable,
    /// Another run is putting the same hand-off event on the bus right now; try again after it.
    HandOffInProgress,
    /// A data element's malware scan is still `Pending`: transient (the message comes back)
    /// until `SCAN_PENDING_MAX_WAIT` has passed since the event, then permanent.
    ScanPending,
    /// A data element is `Infected` and `INFECTED_POLICY=hold`: its bytes are quarantined and
    /// the instance waits for `archive-ops quarantine release` (permanent).
    Infected,
}

impl FailureReason {
    /// The code, e.g. `altinn_not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::InvalidMessage => "invalid_message",
            FailureReason::InvalidEvent => "invalid_event",
            FailureReason::SourceNotAllowed => "source_not_allowed",
            FailureReason::InvalidKey => "invalid_key",
            FailureReason::InvalidInput => "invalid_input",
            FailureReason::AltinnBadRequest => "altinn_bad_request",
            FailureReason::AltinnUnauthorized => "altinn_unauthorized",
            FailureReason::AltinnForbidden => "altinn_forbidden",
            FailureReason::AltinnNotFound => "altinn_not_found",
            FailureReason::AltinnConflict => "altinn_conflict",
            FailureReason::AltinnRejected => "altinn_rejected",
            FailureReason::AltinnTimeout => "altinn_timeout",
            FailureReason::AltinnThrottled => "altinn_throttled",
            FailureReason::AltinnServerError => "altinn_server_error",
            FailureReason::AltinnUnreachable => "altinn_unreachable",
            FailureReason::AltinnUnexpectedResponse => "altinn_unexpected_response",
            FailureReason::UrlNotAllowed => "url_not_allowed",
            FailureReason::AuthFailed => "auth_failed",
            FailureReason::InstanceNotCompleted => "instance_not_completed",
            FailureReason::InstanceMismatch => "instance_mismatch",
            FailureReason::SizeMismatch => "size_mismatch",
            FailureReason::ChecksumMismatch => "checksum_mismatch",
            FailureReason::DownloadInterrupted => "download_interrupted",
            FailureReason::StorageThrottled => "storage_throttled",
            FailureReason::StorageUnavailable => "storage_unavailable",
            FailureReason::Deadline => "deadline",
            FailureReason::ReceiptRejected => "receipt_rejected",
            FailureReason::ReceiptInProgress => "receipt_in_progress",
            FailureReason::NotInFeedbackTask => "not_in_feedback_task",
            FailureReason::InstanceNotActive => "instance_not_active",
            FailureReason::ProcessNextRejected => "process_next_rejected",
            FailureReason::CorrespondenceNotFound => "correspondence_not_found",
            FailureReason::CorrespondenceNotOurs => "correspondence_not_ours",
            FailureReason::CorrespondenceMismatch => "correspondence_mismatch",
            FailureReason::ManifestUnsettled => "manifest_unsettled",
            FailureReason::FollowUpInProgress => "follow_up_in_progress",
            FailureReason::FollowUpUnavailable => "follow_up_unavailable",
            FailureReason::HandOffUnavailable => "hand_off_unavailable",
            FailureReason::HandOffInProgress => "hand_off_in_progress",
            FailureReason::ScanPending => "scan_pending",
            FailureReason::Infected => "infected",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed archive or event store, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({class:?}): {detail}")]
pub struct ArchiveError {
    pub class: FailureClass,
    pub reason: FailureReason,
    /// A human-readable explanation (status codes, keys, sizes; never tokens or bodies).
    pub detail: String,
    /// How long the server asked us to wait (`Retry-After`), for the visibility backoff.
    pub retry_after: Option<Duration>,
}

impl ArchiveError {
    /// A failure a retry may cure.
    pub fn transient(reason: FailureReason, detail: impl Into<String>) -> Self {
        ArchiveError {
            class: FailureClass::Transient,
            reason,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// A failure no retry can cure.
    pub fn permanent(reason: FailureReason, detail: impl Into<String>) -> Self {
        ArchiveError {
            class: FailureClass::Permanent,
            reason,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// True for [`FailureClass::Transient`].
    pub fn is_transient(&self) -> bool {
        self.class == FailureClass::Transient
    }

    /// "No time left in this invocation": the message comes back and continues where it stopped.
    pub fn deadline(step: &str) -> Self {
        Self::transient(
            FailureReason::Deadline,
            format!("too little time left to {step}"),
        )
    }

    /// Classifies an Altinn client error.
    pub fn from_altinn(error: &ClientError) -> Self {
        let detail = error.to_string();
        let mut classified = match error {
            ClientError::Status { status, .. } => match status {
                400 => Self::permanent(FailureReason::AltinnBadRequest, detail),
                // The client has already fetched a fresh token once: our credentials or scopes
                // are wrong, which is not this message's fault.
                401 => Self::transient(FailureReason::AltinnUnauthorized, detail),
                403 => Self::permanent(FailureReason::AltinnForbidden, detail),
                404 | 410 => Self::permanent(FailureReason::AltinnNotFound, detail),
                408 => Self::transient(FailureReason::AltinnTimeout, detail),
                409 => Self::transient(FailureReason::AltinnConflict, detail),
                429 => Self::transient(FailureReason::AltinnThrottled, detail),
                500..=599 => Self::transient(FailureReason::AltinnServerError, detail),
                _ if error.is_transient() => {
                    Self::transient(FailureReason::AltinnServerError, detail)
                }
                _ => Self::permanent(FailureReason::AltinnRejected, detail),
            },
            ClientError::Transport { .. } => {
                Self::transient(FailureReason::AltinnUnreachable, detail)
            }
            ClientError::Decode { .. } => {
                Self::transient(FailureReason::AltinnUnexpectedResponse, detail)
            }
            ClientError::NotAllowed { .. } => Self::permanent(FailureReason::UrlNotAllowed, detail),
            // An id that cannot name an Altinn resource (a data element id that is no GUID).
            ClientError::InvalidInput { .. } => {
                Self::permanent(FailureReason::InvalidInput, detail)
            }
            ClientError::Auth(_) => Self::transient(FailureReason::AuthFailed, detail),
        };
        classified.retry_after = error.retry_after();
        classified
    }

    /// Classifies an S3 error: always transient (see the module docs).
    pub fn from_store(error: &StoreError) -> Self {
        let reason = if error.is_throttling() {
            FailureReason::StorageThrottled
        } else {
            FailureReason::StorageUnavailable
        };
        Self::transient(reason, error.to_string())
    }
}

impl From<KeyError> for ArchiveError {
    fn from(error: KeyError) -> Self {
        ArchiveError::permanent(FailureReason::InvalidKey, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, transient: bool) -> ClientError {
        ClientError::Status {
            operation: "get instance",
            status,
            transient,
            retry_after: None,
            problem: None,
        }
    }

    #[test]
    fn altinn_statuses_are_classified_by_whether_a_retry_can_help() {
        for (code, class, reason) in [
            (400, FailureClass::Permanent, "altinn_bad_request"),
            (403, FailureClass::Permanent, "altinn_forbidden"),
            (404, FailureClass::Permanent, "altinn_not_found"),
            (401, FailureClass::Transient, "altinn_unauthorized"),
            (429, FailureClass::Transient, "altinn_throttled"),
            (500, FailureClass::Transient, "altinn_server_error"),
            (503, FailureClass::Transient, "altinn_server_error"),
            (418, FailureClass::Permanent, "altinn_rejected"),
        ] {
            let error = ArchiveError::from_altinn(&status(code, class == FailureClass::Transient));
            assert_eq!(error.class, class, "{code}");
            assert_eq!(error.reason.as_str(), reason, "{code}");
        }
        let throttled = ClientError::Status {
            operation: "get data",
            status: 429,
            transient: true,
            retry_after: Some(Duration::from_secs(120)),
            problem: None,
        };
        assert_eq!(
            ArchiveError::from_altinn(&throttled).retry_after,
            Some(Duration::from_secs(120))
        );
        let cut = ClientError::Transport {
            operation: "get data",
            reason: "body cut short".into(),
        };
        assert!(ArchiveError::from_altinn(&cut).is_transient());
    }

    #[test]
    fn s3_failures_are_transient_and_throttling_is_named() {
        let slow = StoreError {
            operation: "UploadPart",
            key: "k".into(),
            status: Some(503),
            code: Some("SlowDown".into()),
            message: "slow down".into(),
        };
        let error = ArchiveError::from_store(&slow);
        assert!(error.is_transient());
        assert_eq!(error.reason, FailureReason::StorageThrottled);
    }
}
