//! Hand-off events through moto's EventBridge: a bus, a rule on `source: altinn.archive` and an
//! SQS queue as its target, read back as a case system would and checked against
//! `schemas/hand-off/`. One `InstanceArchived` per manifest write, whatever duplicates come; a
//! failed `PutEvents` retries without archiving again; a dead letter is an `ArchiveFailed`;
//! Correspondence events are `CorrespondenceArchived` and `CorrespondenceNeedsFollowUp`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use altinn_sim::{CorrespondenceSpec, InstanceSpec};
use archiver::hand_off::{EventBridgeHandOff, UNANSWERED};
use archiver::{Archiver, FailureReason, MessageOutcome};
use common::*;
use testkit::hand_off::{HandOffBus, HandOffEvent};

const BUS: &str = "altinn-archive-hand-off";
/// How long the case system's queue must stay empty before a test counts what it got.
const QUIET: Duration = Duration::from_millis(1500);

async fn harness_with_bus(options: Options) -> (Harness, HandOffBus) {
    let harness = Harness::start_with(options.env("EVENT_BUS_NAME", BUS)).await;
    let bus = HandOffBus::create(&harness.moto.sdk_config().await, BUS).await;
    (harness, bus)
}

/// An archiver like the harness's whose `PutEvents` can never connect.
async fn archiver_with_a_dead_bus(harness: &Harness) -> Archiver {
    let nowhere = testkit::sdk_config_for("http://127.0.0.1:1").await;
    let client = aws_sdk_eventbridge::Client::new(&nowhere);
    harness
        .another_archiver()
        .await
        .with_hand_off(Arc::new(EventBridgeHandOff::new(client, BUS)))
}

fn of_type<'a>(events: &'a [HandOffEvent], detail_type: &str) -> Vec<&'a HandOffEvent> {
    events
        .iter()
        .filter(|e| e.detail_type == detail_type)
        .collect()
}

#[tokio::test]
async fn one_instance_archived_per_manifest_write() {
    let (harness, bus) = harness_with_bus(Options::default()).await;
    let instance = harness.seed_standard(51_001);
    let event = harness.completed_event(&instance);
    harness.run(vec![harness.message(&event, 1)]).await;
    // A duplicate delivery, and another event type that archives the same instance.
    harness.run(vec![harness.message(&event, 1)]).await;
    harness.run(vec![harness.message(&event, 2)]).await;

    let events = bus.drain(QUIET).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let detail = &events[0].detail;
    assert_eq!(events[0].detail_type, "InstanceArchived");
    let manifest_key = harness.manifest_key(&instance);
    let manifest = harness
        .store()
        .get_bytes(&manifest_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail["manifestKey"], manifest_key.as_str());
    assert_eq!(detail["manifestSha256"], sha256_hex(&manifest).as_str());
    assert_eq!(detail["bucket"], BUCKET);
    assert_eq!(detail["org"], "ttd");
    assert_eq!(detail["app"], "archive-test");
    assert_eq!(detail["partyId"], "51001");
    assert_eq!(detail["instanceGuid"], instance.instance_guid.to_string());
    assert_eq!(detail["eventId"], event_id(&event).as_str());
    assert_eq!(detail["completed"], true);
    harness.assert_completed_once(&instance).await;
}

#[tokio::test]
async fn a_failed_put_events_retries_and_never_archives_twice() {
    let (harness, bus) = harness_with_bus(Options::default()).await;
    let instance = harness.seed_standard(51_002);
    let event = harness.completed_event(&instance);

    let broken = archiver_with_a_dead_bus(&harness).await;
    let report = run_on(&broken, vec![harness.message(&event, 1)]).await;
    let error = first_retry(&report);
    assert_eq!(error.reason, FailureReason::HandOffUnavailable, "{error:?}");
    assert!(bus.drain(QUIET).await.is_empty(), "nothing reached the bus");
    // Archived and completed all the same: the retry only has to hand off.
    harness.assert_completed_once(&instance).await;

    let report = harness.run(vec![harness.message(&event, 2)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::AlreadyArchived { .. }),
        "{:?}",
        report.outcomes
    );
    let events = bus.drain(QUIET).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].detail["eventId"], event_id(&event).as_str());
    for data in instance.live_data() {
        assert_eq!(harness.downloads_of(data.id), 1, "downloaded once");
    }
    harness.assert_completed_once(&instance).await;
}

#[tokio::test]
async fn a_put_without_an_answer_says_the_bus_may_have_the_event() {
    let (harness, _bus) = harness_with_bus(Options::default()).await;
    let instance = harness.seed_standard(51_009);
    let event = harness.completed_event(&instance);

    // No answer at all: the event may have gone out, and the retry may send it twice.
    let broken = archiver_with_a_dead_bus(&harness).await;
    let report = run_on(&broken, vec![harness.message(&event, 1)]).await;
    let error = first_retry(&report);
    assert_eq!(error.reason, FailureReason::HandOffUnavailable, "{error:?}");
    assert!(error.detail.contains(UNANSWERED), "{error:?}");

    // The bus answered with a refusal: known not taken, so the retry is no duplicate.
    let sdk = harness.moto.sdk_config().await;
    let refusing =
        harness
            .another_archiver()
            .await
            .with_hand_off(Arc::new(EventBridgeHandOff::new(
                aws_sdk_eventbridge::Client::new(&sdk),
                "no-such-bus",
            )));
    let report = run_on(&refusing, vec![harness.message(&event, 2)]).await;
    let error = first_retry(&report);
    assert_eq!(error.reason, FailureReason::HandOffUnavailable, "{error:?}");
    assert!(!error.detail.contains(UNANSWERED), "{error:?}");
}

#[tokio::test]
async fn a_dead_letter_is_handed_off_as_archive_failed_first() {
    let (harness, bus) = harness_with_bus(Options::default().env("MAX_RECEIVE_COUNT", 3)).await;
    let running = harness
        .sim
        .add_instance(InstanceSpec::new("archive-test", 51_003).completed(false));
    let event = harness.completed_event(&running);

    // The bus is down: the message comes back instead of being dead-lettered unannounced.
    let broken = archiver_with_a_dead_bus(&harness).await;
    let report = run_on(&broken, vec![harness.message(&event, 1)]).await;
    let error = first_retry(&report);
    assert_eq!(error.reason, FailureReason::HandOffUnavailable);
    assert!(error.detail.contains("instance_not_completed"), "{error:?}");
    assert!(harness.dead_letters().await.is_empty());
    // On its last receive the dead letter goes ahead without the event.
    let report = run_on(&broken, vec![harness.message(&event, 3)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::DeadLettered { .. }
    ));
    assert_eq!(harness.dead_letters().await.len(), 1);

    let report = harness.run(vec![harness.message(&event, 2)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::DeadLettered { .. }
    ));
    let events = bus.drain(QUIET).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let detail = &events[0].detail;
    assert_eq!(events[0].detail_type, "ArchiveFailed");
    assert_eq!(detail["reason"], "instance_not_completed");
    assert_eq!(detail["errorClass"], "permanent");
    assert_eq!(detail["eventId"], event_id(&event).as_str());
    assert_eq!(detail["deadLetterQueue"], harness.dlq_url.as_str());
    assert_eq!(detail["receiveCount"], 2);
}

#[tokio::test]
async fn correspondence_events_are_handed_off_once_each() {
    const RESOURCE_ID: &str = "ttd-correspondence";
    let (harness, bus) = harness_with_bus(
        Options::default()
            .env("CORRESPONDENCE_ROLE", "sender")
            .env("CORRESPONDENCE_RESOURCES", RESOURCE_ID),
    )
    .await;
    let sim = &harness.sim;
    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", "910000001")
            .with_attachment("vedtak.pdf", 1000),
    );
    let run = |event: serde_json::Value| {
        let harness = &harness;
        async move {
            harness
                .run(vec![harness.message(&event.to_string(), 1)])
                .await
        }
    };
    // The attachment is linked to the correspondence, so its event rewrites that manifest.
    run(sim.attachment_event(c.attachments[0].id, "attachmentpublished")).await;
    sim.publish_correspondence(c.id);
    let published = sim.correspondence_event(c.id, "correspondencepublished");
    run(published.clone()).await;
    run(published.clone()).await;
    let never = sim.correspondence_event(c.id, "correspondencereceiverneverread");
    run(never.clone()).await;
    run(never.clone()).await;

    let events = bus.drain(QUIET).await;
    let archived = of_type(&events, "CorrespondenceArchived");
    let types: Vec<&str> = archived
        .iter()
        .map(|e| e.detail["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "no.altinn.correspondence.attachmentpublished",
            "no.altinn.correspondence.correspondencepublished",
            "no.altinn.correspondence.correspondencereceiverneverread",
        ],
        "one per event, duplicates sent nothing"
    );
    let manifest_key = harness
        .store()
        .layout()
        .correspondence_manifest(RESOURCE_ID, &c.id.to_string())
        .unwrap();
    for event in &archived {
        assert_eq!(event.detail["correspondenceId"], c.id.to_string());
        assert_eq!(event.detail["role"], "sender");
        assert_eq!(event.detail["manifestKey"], manifest_key.as_str());
    }
    let follow_ups = of_type(&events, "CorrespondenceNeedsFollowUp");
    assert_eq!(follow_ups.len(), 1, "{events:#?}");
    assert_eq!(
        follow_ups[0].detail["eventType"],
        "no.altinn.correspondence.correspondencereceiverneverread"
    );
    assert_eq!(follow_ups[0].detail["manifestKey"], manifest_key.as_str());
    assert_eq!(events.len(), 4, "{events:#?}");
}
