//! The plan of the correspondence chaos run: each correspondence's lifecycle, the events it
//! publishes, their shuffled delivery, and the faults.

use super::*;

/// What a correspondence goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Publishing fails: `ReadyForPublish`, `Failed`, `correspondencepublishfailed`.
    PublishFails,
    /// Published, and never read: `correspondencereceiverneverread`.
    NeverRead,
    /// Published and read (`Fetched`, `Read`).
    Read,
    /// Needs confirmation; read, then `Confirmed`.
    Confirmed,
    /// Needs confirmation; read, never confirmed: `correspondencereceiverneverconfirmed`.
    NeverConfirmed,
}

/// One step of a lifecycle: statuses applied in the simulator, then the events it publishes.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Publish,
    PublishFailed,
    NotificationDelivered { reminder: bool },
    NotificationFailed,
    Read,
    Confirm,
    NeverRead,
    NeverConfirmed,
}

/// A seeded correspondence and everything the test published about it.
pub(crate) struct Tracked {
    pub(crate) seeded: SeededCorrespondence,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) steps: Vec<Step>,
    /// Correspondence-topic events (stored under the correspondence): (id, suffix, time).
    pub(crate) events: Vec<(String, String, String)>,
    /// `attachmentpublished` event per attachment: (attachment id, event id).
    pub(crate) attachment_events: Vec<(Uuid, String)>,
    /// `notificationcreated` events: (order id, event id).
    pub(crate) notification_created: Vec<(Uuid, String)>,
}

impl Tracked {
    pub(crate) fn id(&self) -> Uuid {
        self.seeded.id
    }

    /// The ledger needs an instance for every event; a correspondence's stands in.
    pub(crate) fn ledger_ref(&self) -> InstanceRef {
        InstanceRef {
            org: SENDER_ORG.into(),
            app: "correspondence".into(),
            party_id: 0,
            instance_guid: self.seeded.id,
        }
    }
}

/// The status the archiver must record for an event of this type (our own reading of the
/// Correspondence event types, not the archiver's table).
pub(crate) fn implied_status(suffix: &str) -> Option<&'static str> {
    match suffix {
        "correspondencepublished" => Some("Published"),
        "correspondencepublishfailed" => Some("Failed"),
        "correspondencereceiverread" => Some("Read"),
        "correspondencereceiverconfirmed" => Some("Confirmed"),
        "correspondencereceiverneverread" => Some("ReceiverNeverRead"),
        "correspondencereceiverneverconfirmed" => Some("ReceiverNeverConfirmed"),
        _ => None,
    }
}

pub(crate) fn event_id(event: &Value) -> String {
    event["id"].as_str().expect("event id").to_owned()
}

pub(crate) fn suffix_of(event: &Value) -> String {
    event["type"]
        .as_str()
        .and_then(|t| t.strip_prefix(EVENT_PREFIX))
        .expect("a Correspondence event type")
        .to_owned()
}

pub(crate) fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text} is RFC 3339: {e}"))
}

/// Events waiting to be pushed: delivered in shuffled batches, some twice.
pub(crate) struct Delivery {
    pub(crate) pending: Vec<Value>,
    /// Second copies, pushed with a later batch.
    pub(crate) later: Vec<Value>,
    pub(crate) pushes: usize,
    pub(crate) duplicates: usize,
}

impl Delivery {
    pub(crate) fn new() -> Self {
        Delivery {
            pending: Vec::new(),
            later: Vec::new(),
            pushes: 0,
            duplicates: 0,
        }
    }

    /// Pushes what is pending (and the copies held back before) in random order. A fifth of
    /// the new events get a second copy (the same id): half right behind the original, half
    /// held back for a later batch. With `last`, the held-back copies go too.
    pub(crate) fn flush(&mut self, simulator: &Simulator, rng: &mut fastrand::Rng, last: bool) {
        let mut batch: Vec<(Value, bool)> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|e| (e, false))
            .chain(
                std::mem::take(&mut self.later)
                    .into_iter()
                    .map(|e| (e, true)),
            )
            .collect();
        rng.shuffle(&mut batch);
        for (event, is_copy) in batch {
            simulator.publish_event(event.clone(), SENDER_ORG);
            self.pushes += 1;
            if is_copy || rng.u8(0..5) != 0 {
                continue;
            }
            self.duplicates += 1;
            if rng.bool() {
                simulator.publish_event(event, SENDER_ORG);
                self.pushes += 1;
            } else {
                self.later.push(event);
            }
        }
        if last {
            let mut held = std::mem::take(&mut self.later);
            rng.shuffle(&mut held);
            for event in held {
                simulator.publish_event(event, SENDER_ORG);
                self.pushes += 1;
            }
        }
    }
}

/// Builds the lifecycle of correspondence number `n`.
pub(crate) fn plan(n: u64, rng: &mut fastrand::Rng) -> (CorrespondenceSpec, Lifecycle, Vec<Step>) {
    let lifecycle = match n % 6 {
        5 => Lifecycle::PublishFails,
        0 => Lifecycle::Confirmed,
        1 => Lifecycle::NeverRead,
        2 => Lifecycle::NeverConfirmed,
        _ => Lifecycle::Read,
    };
    let mut spec = CorrespondenceSpec::new(RESOURCE, SENDER_ORG, RECIPIENT_ORGNO)
        .with_notifications(if n % 4 == 3 { 2 } else { 1 });
    if n.is_multiple_of(3) {
        let size = if n == 0 {
            1536 * 1024 + 7
        } else {
            rng.u64(1..200 * 1024)
        };
        spec = spec.with_attachment(&format!("vedlegg-{n}.pdf"), size);
    }
    if n % 5 == 4 {
        spec = spec.with_attachment("tom.txt", 0);
    }
    if matches!(lifecycle, Lifecycle::Confirmed | Lifecycle::NeverConfirmed) {
        spec = spec.needing_confirmation();
    }
    let mut steps = Vec::new();
    if lifecycle == Lifecycle::PublishFails {
        steps.push(Step::PublishFailed);
        return (spec, lifecycle, steps);
    }
    steps.push(Step::Publish);
    steps.push(Step::NotificationDelivered { reminder: false });
    if n % 7 == 3 {
        steps.push(Step::NotificationFailed);
    }
    match lifecycle {
        Lifecycle::NeverRead => steps.push(Step::NeverRead),
        Lifecycle::Read => steps.push(Step::Read),
        Lifecycle::Confirmed => {
            steps.push(Step::Read);
            steps.push(Step::Confirm);
        }
        Lifecycle::NeverConfirmed => {
            steps.push(Step::Read);
            steps.push(Step::NeverConfirmed);
        }
        Lifecycle::PublishFails => unreachable!(),
    }
    if spec.notifications > 1 {
        steps.push(Step::NotificationDelivered { reminder: true });
    }
    (spec, lifecycle, steps)
}

/// Applies one step in the simulator and returns the events it publishes, recorded in `c`.
pub(crate) fn apply(simulator: &Simulator, c: &mut Tracked, step: &Step) -> Vec<Value> {
    let id = c.id();
    let status = |name: &str| {
        assert!(
            simulator.add_correspondence_status(id, name),
            "{name} for {id}"
        );
    };
    let mut events = Vec::new();
    let mut event = |suffix: &str| {
        let e = simulator.correspondence_event(id, suffix);
        assert_eq!(suffix_of(&e), suffix);
        events.push(e);
    };
    match step {
        Step::Publish => {
            status("ReadyForPublish");
            status("Published");
            event("correspondencepublished");
        }
        Step::PublishFailed => {
            status("ReadyForPublish");
            status("Failed");
            event("correspondencepublishfailed");
        }
        Step::NotificationDelivered { reminder: false } => {
            event("correspondencenotificationdelivered")
        }
        Step::NotificationDelivered { reminder: true } => {
            event("correspondencenotificationreminderdelivered")
        }
        Step::NotificationFailed => event("correspondencenotificationfailed"),
        Step::Read => {
            status("Fetched");
            status("Read");
            event("correspondencereceiverread");
        }
        Step::Confirm => {
            status("Confirmed");
            event("correspondencereceiverconfirmed");
        }
        Step::NeverRead => event("correspondencereceiverneverread"),
        Step::NeverConfirmed => event("correspondencereceiverneverconfirmed"),
    }
    for e in &events {
        c.events.push((
            event_id(e),
            suffix_of(e),
            e["time"].as_str().expect("time").to_owned(),
        ));
    }
    if let Step::Publish = step {
        // Altinn orders the notifications when it publishes.
        for order in c.seeded.notification_order_ids.clone() {
            let e = simulator.notification_event(id, order);
            c.notification_created.push((order, event_id(&e)));
            events.push(e);
        }
    }
    events
}

pub(crate) fn inject_faults(simulator: &Simulator) {
    let slow = Fault::Latency(REQUEST_TIMEOUT + Duration::from_secs(1));
    let busy = Fault::TooManyRequests {
        retry_after_secs: 1,
    };
    let rules = [
        (Route::MaskinportenToken, Fault::Status(503), 0.05),
        (Route::TokenExchange, Fault::Status(500), 0.05),
        (Route::TokenExchange, Fault::DropConnection, 0.03),
        (Route::CorrespondenceDetails, Fault::Status(503), 0.08),
        (Route::CorrespondenceDetails, Fault::Status(500), 0.04),
        (Route::CorrespondenceDetails, busy.clone(), 0.05),
        (Route::CorrespondenceDetails, Fault::DropConnection, 0.05),
        (
            Route::CorrespondenceDetails,
            Fault::TruncateBody { after_bytes: 120 },
            0.05,
        ),
        (Route::CorrespondenceDetails, slow.clone(), 0.02),
        (
            Route::CorrespondenceAttachmentOverview,
            Fault::Status(502),
            0.1,
        ),
        (Route::CorrespondenceAttachmentOverview, busy.clone(), 0.05),
        (
            Route::CorrespondenceAttachmentOverview,
            Fault::DropConnection,
            0.05,
        ),
        (Route::CorrespondenceSenderDownload, Fault::Status(503), 0.1),
        (Route::CorrespondenceSenderDownload, busy.clone(), 0.05),
        (
            Route::CorrespondenceSenderDownload,
            Fault::DropConnection,
            0.05,
        ),
        (
            Route::CorrespondenceSenderDownload,
            Fault::TruncateBody { after_bytes: 4096 },
            0.1,
        ),
        (Route::StorageGetInstance, Fault::Status(503), 0.05),
        (Route::StorageGetData, Fault::DropConnection, 0.05),
        (Route::StorageComplete, Fault::Status(503), 0.05),
        (Route::StorageComplete, busy, 0.03),
        (Route::StorageComplete, slow, 0.02),
    ];
    for (route, fault, p) in rules {
        simulator.inject(FaultRule::always(route, fault).with_probability(p));
    }
    // Bursts that must be met (checked with `unfired_faults`).
    simulator.inject(FaultRule::times(
        Route::CorrespondenceDetails,
        Fault::Status(503),
        DETAILS_BURST,
    ));
    simulator.inject(FaultRule::times(
        Route::CorrespondenceSenderDownload,
        Fault::TruncateBody { after_bytes: 10 },
        DOWNLOAD_BURST,
    ));
}
