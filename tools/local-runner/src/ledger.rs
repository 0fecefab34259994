//! The events a run put into the system, and what became of each: the run is over when every
//! one is settled (archived, kept, or in the dead-letter queue).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use altinn::InstanceRef;
use archiver::MessageOutcome;

/// Where one event stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventState {
    /// Not seen by the archiver yet.
    Waiting,
    /// Failed transiently; back on the queue.
    Retrying {
        /// The archiver's reason code.
        reason: String,
        /// Receives so far.
        receives: u32,
    },
    /// The instance's archive is complete (manifest written) and `complete` was sent, by this
    /// message or an earlier one.
    Archived {
        /// This message found the archive already there (a duplicate event).
        duplicate: bool,
        /// Data elements in the archive (0 when `duplicate`).
        elements: usize,
        /// Hard-deleted elements left out.
        skipped: usize,
        /// Element bytes downloaded by this message.
        bytes: u64,
    },
    /// Not an archiving event: kept as JSON.
    Kept {
        /// The key it was stored under.
        key: String,
    },
    /// In the dead-letter queue.
    DeadLettered {
        /// The archiver's reason code.
        reason: String,
        /// The archiver's explanation.
        detail: String,
    },
}

impl EventState {
    /// Archived, kept or dead-lettered: nothing more will happen to it.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            EventState::Archived { .. } | EventState::Kept { .. } | EventState::DeadLettered { .. }
        )
    }
}

/// One event the run expects to see through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedEvent {
    /// The CloudEvent id.
    pub event_id: String,
    /// The instance it is about.
    pub instance: InstanceRef,
    /// What has become of it.
    pub state: EventState,
}

/// Every expected event by id, plus a count of messages nobody expected.
#[derive(Debug, Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// In the order they were expected.
    events: Vec<TrackedEvent>,
    index: BTreeMap<String, usize>,
    unexpected: usize,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Ledger::default()
    }

    /// Registers an event the run has put (or asked Altinn to put) into the system.
    pub fn expect(&self, event_id: &str, instance: InstanceRef) {
        let mut inner = self.lock();
        if inner.index.contains_key(event_id) {
            return;
        }
        let position = inner.events.len();
        inner.events.push(TrackedEvent {
            event_id: event_id.to_owned(),
            instance,
            state: EventState::Waiting,
        });
        inner.index.insert(event_id.to_owned(), position);
    }

    /// Records what the archiver did with a message carrying `event_id` on its
    /// `receive_count`th receive. A settled event stays settled: a later duplicate cannot undo
    /// an archive.
    pub fn record(&self, event_id: Option<&str>, receive_count: u32, outcome: &MessageOutcome) {
        let mut inner = self.lock();
        let position = event_id.and_then(|id| inner.index.get(id).copied());
        let Some(position) = position else {
            inner.unexpected += 1;
            return;
        };
        let tracked = &mut inner.events[position];
        if tracked.state.is_settled() {
            return;
        }
        tracked.state = match outcome {
            MessageOutcome::Archived(summary) | MessageOutcome::ClaimedByAnotherRun(summary) => {
                EventState::Archived {
                    duplicate: false,
                    elements: summary.elements,
                    skipped: summary.elements_skipped,
                    bytes: summary.bytes_downloaded,
                }
            }
            MessageOutcome::AlreadyArchived { .. } => EventState::Archived {
                duplicate: true,
                elements: 0,
                skipped: 0,
                bytes: 0,
            },
            MessageOutcome::EventStored { key } | MessageOutcome::EventAlreadyStored { key } => {
                EventState::Kept { key: key.clone() }
            }
            // The feedback task's event: its work is in the instance, not under one key.
            MessageOutcome::WrittenBack(_) | MessageOutcome::AlreadyWrittenBack => {
                EventState::Kept {
                    key: "(written back: receipt in the instance, process moved on)".into(),
                }
            }
            MessageOutcome::Retry { error, .. }
            | MessageOutcome::DeadLetterFailed { error, .. } => EventState::Retrying {
                reason: error.reason.as_str().to_owned(),
                receives: receive_count,
            },
            MessageOutcome::DeadLettered { error, .. } => EventState::DeadLettered {
                reason: error.reason.as_str().to_owned(),
                detail: error.detail.clone(),
            },
        };
    }

    /// Marks an event found in the dead-letter queue (moved there by the redrive policy, with
    /// no reason the archiver could attach).
    pub fn found_in_dead_letter_queue(&self, event_id: &str, reason: &str, detail: &str) {
        let mut inner = self.lock();
        if let Some(position) = inner.index.get(event_id).copied() {
            let tracked = &mut inner.events[position];
            if !tracked.state.is_settled() {
                tracked.state = EventState::DeadLettered {
                    reason: reason.to_owned(),
                    detail: detail.to_owned(),
                };
            }
        }
    }

    /// True when there is at least one event and every one is settled.
    pub fn all_settled(&self) -> bool {
        let inner = self.lock();
        !inner.events.is_empty() && inner.events.iter().all(|e| e.state.is_settled())
    }

    /// Every expected event, in the order expected.
    pub fn events(&self) -> Vec<TrackedEvent> {
        self.lock().events.clone()
    }

    /// The instance an event is about, if expected.
    pub fn instance_of(&self, event_id: &str) -> Option<InstanceRef> {
        let inner = self.lock();
        inner
            .index
            .get(event_id)
            .map(|&position| inner.events[position].instance.clone())
    }

    /// Messages the archiver handled that carried no expected event.
    pub fn unexpected(&self) -> usize {
        self.lock().unexpected
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use archiver::{ArchiveError, ArchiveSummary, FailureReason};

    use super::*;

    fn instance() -> InstanceRef {
        InstanceRef {
            org: "ttd".into(),
            app: "demo-app".into(),
            party_id: 50_001_001,
            instance_guid: uuid::Uuid::nil(),
        }
    }

    fn archived() -> MessageOutcome {
        MessageOutcome::Archived(ArchiveSummary {
            manifest_key: "m".into(),
            elements: 3,
            elements_downloaded: 3,
            elements_reused: 0,
            elements_skipped: 1,
            bytes_downloaded: 42,
        })
    }

    #[test]
    fn events_settle_once_and_stay_settled() {
        let ledger = Ledger::new();
        assert!(!ledger.all_settled(), "an empty ledger is not done");
        ledger.expect("e1", instance());
        ledger.expect("e2", instance());
        let retry = MessageOutcome::Retry {
            error: ArchiveError::transient(FailureReason::AltinnServerError, "HTTP 503"),
            visibility: None,
        };
        ledger.record(Some("e1"), 1, &retry);
        assert_eq!(
            ledger.events()[0].state,
            EventState::Retrying {
                reason: "altinn_server_error".into(),
                receives: 1
            }
        );
        ledger.record(Some("e1"), 2, &archived());
        ledger.record(Some("e1"), 3, &retry);
        assert!(matches!(
            ledger.events()[0].state,
            EventState::Archived {
                duplicate: false,
                elements: 3,
                skipped: 1,
                bytes: 42
            }
        ));
        assert!(!ledger.all_settled());
        ledger.found_in_dead_letter_queue("e2", "redrive", "moved by SQS");
        assert!(ledger.all_settled());
        ledger.record(Some("nobody"), 1, &archived());
        ledger.record(None, 1, &archived());
        assert_eq!(ledger.unexpected(), 2);
        assert_eq!(ledger.instance_of("e2"), Some(instance()));
    }
}
