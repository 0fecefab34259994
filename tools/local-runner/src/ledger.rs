//! The events a run put into the system, and what became of each: the run is over when every
//! one is settled (archived, kept, or in the dead-letter queue).
//!
//! One event brings another: once the archiver has written back in the feedback task and moved
//! the process on, Altinn publishes the instance's `process.completed` with an id the run cannot
//! know in advance. So a written-back event makes the ledger wait for a follow-up: the next
//! event about the same instance, whatever its id.

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

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSubject {
    /// An app instance.
    Instance(InstanceRef),
    /// A Correspondence resource's correspondence, attachment or notification order (the
    /// event's `resourceinstance`).
    Correspondence {
        /// The resource id, without `urn:altinn:resource:`.
        resource_id: String,
        /// The event's `resourceinstance`.
        resource_instance: String,
    },
}

impl EventSubject {
    /// The instance, for an instance event.
    pub fn instance(&self) -> Option<&InstanceRef> {
        match self {
            EventSubject::Instance(instance) => Some(instance),
            EventSubject::Correspondence { .. } => None,
        }
    }
}

impl std::fmt::Display for EventSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventSubject::Instance(instance) => f.write_str(&instance.instance_id()),
            EventSubject::Correspondence {
                resource_id,
                resource_instance,
            } => write!(f, "{resource_id}/{resource_instance}"),
        }
    }
}

/// One event the run expects to see through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedEvent {
    /// The CloudEvent id.
    pub event_id: String,
    /// What it is about.
    pub subject: EventSubject,
    /// What has become of it.
    pub state: EventState,
}

impl TrackedEvent {
    /// The instance it is about, for an instance event.
    pub fn instance(&self) -> Option<&InstanceRef> {
        self.subject.instance()
    }
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
    /// Instances whose next event the run waits for (see the module docs).
    follow_ups: Vec<InstanceRef>,
    /// Events nobody expected, with the instance they are about: a follow-up may be handled
    /// before the written-back event that announces it is recorded.
    unmatched: Vec<(String, String, EventState)>,
    unexpected: usize,
}

/// `{org}/{app}/{partyId}/{guid}`, as the webhook's `Instance` message attribute names it.
fn instance_key(instance: &InstanceRef) -> String {
    format!("{}/{}", instance.app_id(), instance.instance_id())
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Ledger::default()
    }

    /// Registers an instance event the run has put (or asked Altinn to put) into the system.
    pub fn expect(&self, event_id: &str, instance: InstanceRef) {
        self.expect_about(event_id, EventSubject::Instance(instance));
    }

    /// Registers an event about `subject` the run has put (or asked Altinn to put) into the
    /// system.
    pub fn expect_about(&self, event_id: &str, subject: EventSubject) {
        let mut inner = self.lock();
        if inner.index.contains_key(event_id) {
            return;
        }
        let position = inner.events.len();
        inner.events.push(TrackedEvent {
            event_id: event_id.to_owned(),
            subject,
            state: EventState::Waiting,
        });
        inner.index.insert(event_id.to_owned(), position);
    }

    /// Records what the archiver did with a message carrying `event_id` about `instance`
    /// (`{org}/{app}/{partyId}/{guid}`, the message's `Instance` attribute) on its
    /// `receive_count`th receive. A settled event stays settled: a later duplicate cannot undo
    /// an archive.
    pub fn record(
        &self,
        event_id: Option<&str>,
        instance: Option<&str>,
        receive_count: u32,
        outcome: &MessageOutcome,
    ) {
        let state = state_after(outcome, receive_count);
        let mut inner = self.lock();
        let mut position = event_id.and_then(|id| inner.index.get(id).copied());
        if position.is_none()
            && let (Some(id), Some(instance)) = (event_id, instance)
        {
            position = inner.adopt_follow_up(id, instance);
        }
        let Some(position) = position else {
            inner.unexpected += 1;
            if let (Some(id), Some(instance)) = (event_id, instance) {
                inner
                    .unmatched
                    .push((instance.to_owned(), id.to_owned(), state));
            }
            return;
        };
        let tracked = &mut inner.events[position];
        if tracked.state.is_settled() {
            return;
        }
        tracked.state = state;
        if matches!(outcome, MessageOutcome::WrittenBack(_))
            && let Some(instance) = tracked.instance().cloned()
        {
            inner.await_follow_up(instance);
        }
    }
}

impl Inner {
    /// Tracks `event_id` as the follow-up awaited for `instance`, if one is; its position.
    fn adopt_follow_up(&mut self, event_id: &str, instance: &str) -> Option<usize> {
        let at = self
            .follow_ups
            .iter()
            .position(|i| instance_key(i) == instance)?;
        let instance = self.follow_ups.remove(at);
        let position = self.events.len();
        self.events.push(TrackedEvent {
            event_id: event_id.to_owned(),
            subject: EventSubject::Instance(instance),
            state: EventState::Waiting,
        });
        self.index.insert(event_id.to_owned(), position);
        Some(position)
    }

    /// Waits for the next event about `instance`, or takes one already handled.
    fn await_follow_up(&mut self, instance: InstanceRef) {
        let key = instance_key(&instance);
        if let Some(at) = self.unmatched.iter().position(|(i, _, _)| *i == key) {
            let (_, event_id, state) = self.unmatched.remove(at);
            self.unexpected = self.unexpected.saturating_sub(1);
            self.index.insert(event_id.clone(), self.events.len());
            self.events.push(TrackedEvent {
                event_id,
                subject: EventSubject::Instance(instance),
                state,
            });
        } else {
            self.follow_ups.push(instance);
        }
    }
}

/// What the archiver's `outcome` (on the `receive_count`th receive) makes of an event.
fn state_after(outcome: &MessageOutcome, receive_count: u32) -> EventState {
    match outcome {
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
        // A Correspondence event: its record is the correspondence's manifest, if it has one.
        MessageOutcome::CorrespondenceArchived(summary) => EventState::Kept {
            key: summary
                .manifest_key
                .clone()
                .unwrap_or_else(|| summary.event_key.clone()),
        },
        // The feedback task's event: its work is in the instance, not under one key.
        MessageOutcome::WrittenBack(_) | MessageOutcome::AlreadyWrittenBack => EventState::Kept {
            key: "(written back: receipt in the instance, process moved on)".into(),
        },
        MessageOutcome::Retry { error, .. } | MessageOutcome::DeadLetterFailed { error, .. } => {
            EventState::Retrying {
                reason: error.reason.as_str().to_owned(),
                receives: receive_count,
            }
        }
        MessageOutcome::DeadLettered { error, .. } => EventState::DeadLettered {
            reason: error.reason.as_str().to_owned(),
            detail: error.detail.clone(),
        },
    }
}

impl Ledger {
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

    /// True when there is at least one event, every one is settled, and no follow-up is
    /// awaited.
    pub fn all_settled(&self) -> bool {
        let inner = self.lock();
        !inner.events.is_empty()
            && inner.follow_ups.is_empty()
            && inner.events.iter().all(|e| e.state.is_settled())
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
            .and_then(|&position| inner.events[position].instance().cloned())
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
    use archiver::{ArchiveError, ArchiveSummary, FailureReason, WriteBackSummary};

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
            archive_latency: None,
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
        ledger.record(Some("e1"), None, 1, &retry);
        assert_eq!(
            ledger.events()[0].state,
            EventState::Retrying {
                reason: "altinn_server_error".into(),
                receives: 1
            }
        );
        ledger.record(Some("e1"), None, 2, &archived());
        ledger.record(Some("e1"), None, 3, &retry);
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
        ledger.record(Some("nobody"), None, 1, &archived());
        ledger.record(None, None, 1, &archived());
        assert_eq!(ledger.unexpected(), 2);
        assert_eq!(ledger.instance_of("e2"), Some(instance()));
    }

    fn written_back() -> MessageOutcome {
        MessageOutcome::WrittenBack(WriteBackSummary {
            elements: 2,
            elements_downloaded: 2,
            elements_reused: 0,
            bytes_downloaded: 10,
            receipt_uploaded: true,
            moved_on: true,
        })
    }

    #[test]
    fn a_written_back_event_waits_for_the_instances_next_event_in_either_order() {
        let key = "ttd/demo-app/50001001/00000000-0000-0000-0000-000000000000";
        // The completed event arrives after the written-back one is recorded.
        let ledger = Ledger::new();
        ledger.expect("moved", instance());
        ledger.record(Some("moved"), Some(key), 1, &written_back());
        assert!(!ledger.all_settled(), "the follow-up is awaited");
        ledger.record(Some("other"), Some("ttd/demo-app/1/x"), 1, &archived());
        assert!(
            !ledger.all_settled(),
            "another instance's event is no follow-up"
        );
        ledger.record(Some("completed"), Some(key), 1, &archived());
        assert!(ledger.all_settled());
        assert_eq!(ledger.events().len(), 2);
        assert_eq!(ledger.instance_of("completed"), Some(instance()));
        assert_eq!(ledger.unexpected(), 1);

        // The completed event is handled before the written-back one is recorded.
        let ledger = Ledger::new();
        ledger.expect("moved", instance());
        ledger.record(Some("completed"), Some(key), 1, &archived());
        assert_eq!(ledger.unexpected(), 1);
        ledger.record(Some("moved"), Some(key), 1, &written_back());
        assert!(ledger.all_settled());
        assert_eq!(ledger.unexpected(), 0);
        assert!(matches!(
            ledger.events()[1].state,
            EventState::Archived { elements: 3, .. }
        ));

        // A duplicate that finds the work done awaits nothing.
        let ledger = Ledger::new();
        ledger.expect("again", instance());
        ledger.record(
            Some("again"),
            Some(key),
            1,
            &MessageOutcome::AlreadyWrittenBack,
        );
        assert!(ledger.all_settled());
    }

    #[test]
    fn correspondence_events_are_tracked_without_an_instance() {
        let ledger = Ledger::new();
        let subject = EventSubject::Correspondence {
            resource_id: "ttd-res".into(),
            resource_instance: "c1".into(),
        };
        assert_eq!(subject.to_string(), "ttd-res/c1");
        ledger.expect_about("e1", subject.clone());
        assert_eq!(ledger.instance_of("e1"), None);
        assert!(!ledger.all_settled());
        let stored = MessageOutcome::EventStored { key: "k".into() };
        ledger.record(Some("e1"), None, 1, &stored);
        assert!(ledger.all_settled());
        assert_eq!(ledger.events()[0].subject, subject);
        assert_eq!(ledger.events()[0].instance(), None);
    }
}
