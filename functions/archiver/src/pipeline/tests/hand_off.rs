//! Hand-off events from the instance archive: one `InstanceArchived` per manifest write,
//! whatever duplicates, retries and failed puts come, each valid against its JSON Schema.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sha2::Sha256;

use super::*;
use crate::hand_off::{HandOff, HandOffSink, MemoryHandOff};

const BUCKET: &str = "archive-bucket";

fn with_bus(mut fixture: Fixture) -> (Fixture, MemoryHandOff) {
    let sink = MemoryHandOff::new();
    fixture.pipeline = fixture.pipeline.with_hand_off(HandOffBus {
        sink: Arc::new(sink.clone()),
        bucket: BUCKET.into(),
    });
    (fixture, sink)
}

/// The detail of every event sent, checked against its schema.
fn details(sink: &MemoryHandOff) -> Vec<(&'static str, Value)> {
    sink.sent()
        .iter()
        .map(|event| {
            let detail: Value = serde_json::from_str(&event.detail_json()).unwrap();
            let violations = testkit::hand_off::violations(event.detail_type(), &detail);
            assert!(violations.is_empty(), "{violations:#?}\n{detail:#}");
            (event.detail_type(), detail)
        })
        .collect()
}

#[tokio::test]
async fn one_instance_archived_event_names_the_manifest_after_complete() {
    let (fixture, sink) = with_bus(Fixture::new());
    fixture.seed(&[&element(3, 100)], &[], true);
    fixture.archive().await.unwrap();
    // Duplicates (after the completion) send nothing more.
    fixture.archive().await.unwrap();
    fixture.archive().await.unwrap();

    let sent = details(&sink);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let (detail_type, detail) = &sent[0];
    assert_eq!(*detail_type, "InstanceArchived");
    let manifest_bytes = fixture
        .archive
        .object(&fixture.key("manifest.json"))
        .unwrap()
        .bytes;
    let manifest = fixture.manifest();
    assert_eq!(detail["manifestKey"], fixture.key("manifest.json"));
    assert_eq!(
        detail["manifestSha256"],
        hex::encode(Sha256::digest(&manifest_bytes))
    );
    assert_eq!(detail["eventId"], manifest.event_id.as_str());
    assert_eq!(detail["archivedAt"], manifest.archived_at.as_str());
    assert_eq!(detail["partyId"], PARTY.to_string());
    assert_eq!(
        detail["instanceGuid"],
        fixture.instance.instance_guid.to_string()
    );
    assert_eq!(detail["bucket"], BUCKET);
    assert_eq!(detail["completed"], true);
    assert!(
        fixture
            .archive
            .object(&fixture.key("hand-off.json"))
            .is_some(),
        "the claim records that it was sent"
    );
}

#[tokio::test]
async fn a_failed_put_comes_back_without_archiving_again() {
    let (fixture, sink) = with_bus(Fixture::new());
    let form = element(3, 100);
    fixture.seed(&[&form], &[], true);
    sink.fail_next(2);

    let error = fixture.archive().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::HandOffUnavailable);
    assert!(error.is_transient(), "the message comes back");
    assert!(
        fixture
            .archive
            .object(&fixture.key("hand-off.json"))
            .is_none(),
        "the claim is released"
    );
    // The next delivery finds the archive done: it only sends, and fails once more.
    assert_eq!(
        fixture.archive().await.unwrap_err().reason,
        FailureReason::HandOffUnavailable
    );
    let outcome = fixture.archive().await.unwrap();
    assert!(matches!(outcome, MessageOutcome::AlreadyArchived { .. }));

    assert_eq!((fixture.downloads(&form), fixture.completes()), (1, 1));
    assert_eq!(sink.attempts(), 3);
    let sent = details(&sink);
    assert_eq!(sent.len(), 1);
    // Read back from the bucket by the later run: the same facts the writer had.
    let manifest = fixture.manifest();
    assert_eq!(sent[0].1["eventId"], manifest.event_id.as_str());
    assert_eq!(sent[0].1["archivedAt"], manifest.archived_at.as_str());
    assert_eq!(sent[0].1["completed"], true);
}

#[tokio::test]
async fn a_claim_held_by_a_live_run_waits_and_a_stale_one_is_taken_over() {
    let (fixture, sink) = with_bus(Fixture::new());
    fixture.seed(&[&element(3, 100)], &[], true);
    // Another run claimed the event a moment ago and is sending it.
    fixture.archive.insert(
        &fixture.key("hand-off.json"),
        br#"{"state":"claimed","eventId":"other","at":"2026-12-04T10:00:00Z"}"#.to_vec(),
        true,
    );
    let error = fixture.archive().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::HandOffInProgress);
    assert!(error.retry_after.is_some());
    assert!(sink.sent().is_empty());

    // That run died: once its claim is older than the lifetime, the next delivery sends.
    fixture.archive.set_modified(
        &fixture.key("hand-off.json"),
        SystemTime::now() - Duration::from_secs(600),
    );
    fixture.archive().await.unwrap();
    assert_eq!(details(&sink).len(), 1);
}

#[tokio::test]
async fn a_completion_altinn_refuses_is_handed_off_as_not_completed() {
    let (fixture, sink) = with_bus(Fixture::new());
    fixture.seed(&[&element(3, 100)], &[], true);
    fixture.altinn.fail_complete(ArchiveError::permanent(
        FailureReason::AltinnForbidden,
        "complete: HTTP 403",
    ));
    let error = fixture.archive().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::AltinnForbidden);
    let sent = details(&sink);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["completed"], false);
}

#[tokio::test]
async fn nothing_is_handed_off_without_a_manifest() {
    let (fixture, sink) = with_bus(Fixture::new());
    fixture.seed(&[&element(3, 100)], &[], false);
    assert!(fixture.archive().await.is_err());
    assert!(sink.attempts() == 0);
    // Only the run that wrote the manifest hands off; the one that lost the race does not.
    let (other, other_sink) = with_bus(Fixture::new());
    other.seed(&[&element(3, 10)], &[], true);
    other.archive.contest(&other.key("manifest.json"));
    assert!(matches!(
        other.archive().await.unwrap(),
        MessageOutcome::ClaimedByAnotherRun(_)
    ));
    assert_eq!(other_sink.attempts(), 0);
}

#[test]
fn every_detail_type_matches_its_schema() {
    let follow_up = crate::follow_up::FollowUp {
        correspondence_id: Uuid::new_v4().to_string(),
        resource_id: "our-resource".into(),
        event_type: "no.altinn.correspondence.correspondencereceiverneverread".into(),
        event_id: "e1".into(),
        event_time: None,
        manifest_key: Some("archive/correspondence/r/c/manifest.json".into()),
    };
    let failed = crate::hand_off::ArchiveFailed {
        reason: "checksum_mismatch".into(),
        error_class: "permanent".into(),
        detail: "data element x: MD5 mismatch".into(),
        event_id: Some("e2".into()),
        instance: None,
        dead_letter_queue: "https://sqs.eu-north-1.amazonaws.com/1/dlq".into(),
        failed_at: "2026-12-04T10:00:00Z".into(),
        receive_count: 1,
    };
    let archived = crate::hand_off::CorrespondenceArchived {
        role: "sender".into(),
        resource_id: "our-resource".into(),
        correspondence_id: Uuid::new_v4().to_string(),
        bucket: BUCKET.into(),
        manifest_key: "archive/correspondence/r/c/manifest.json".into(),
        manifest_sha256: "0".repeat(64),
        event_id: "e3".into(),
        event_type: "no.altinn.correspondence.correspondencepublished".into(),
        archived_at: "2026-12-04T10:00:00Z".into(),
    };
    for event in [
        HandOff::CorrespondenceNeedsFollowUp(follow_up),
        HandOff::ArchiveFailed(failed),
        HandOff::CorrespondenceArchived(archived),
    ] {
        let detail: Value = serde_json::from_str(&event.detail_json()).unwrap();
        let violations = testkit::hand_off::violations(event.detail_type(), &detail);
        assert!(violations.is_empty(), "{violations:#?}");
    }
    // The schemas do reject: a detail missing a required field.
    let broken = json!({ "org": ORG });
    assert!(!testkit::hand_off::violations("InstanceArchived", &broken).is_empty());
}

#[tokio::test]
async fn a_claim_is_its_own_message_s_to_send_and_taken_over_at_once_on_its_next_receive() {
    let (fixture, sink) = with_bus(Fixture::new());
    fixture.seed(&[&element(3, 100)], &[], true);
    // The claim's answer was lost on the message's first receive: the claim is there, young.
    fixture.archive.insert(
        &fixture.key("hand-off.json"),
        br#"{"state":"claimed","eventId":"e","messageId":"message-1","at":"2026-12-04T10:00:00Z"}"#
            .to_vec(),
        true,
    );
    let body = fixture.event(altinn::event::PROCESS_COMPLETED);
    let handle_as = |message_id: &str| {
        let mut context = MessageContext {
            message_id: Some(message_id.to_owned()),
            ..MessageContext::default()
        };
        let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
        let body = body.clone();
        let pipeline = &fixture.pipeline;
        async move {
            pipeline
                .handle(Some(&body), &deadline, &RunStats::default(), &mut context)
                .await
        }
    };
    // Another message (a duplicate delivery) leaves it to the claim's owner, whose message
    // comes back until it has sent.
    handle_as("message-2").await.unwrap();
    assert!(sink.sent().is_empty());
    // The same message, received again, is that owner: it sends at once.
    handle_as("message-1").await.unwrap();
    assert_eq!(details(&sink).len(), 1);
}

/// A bus that takes the event, after which S3 goes away for `outage` (paused time).
struct PutThenS3Outage {
    bus: MemoryHandOff,
    archive: MemoryArchive,
    outage: Duration,
}

impl HandOffSink for PutThenS3Outage {
    fn put(&self, event: &HandOff) -> BoxFuture<'_, Result<(), ArchiveError>> {
        let event = event.clone();
        async move {
            self.bus.put(&event).await?;
            self.archive.fail_writes_under("");
            let archive = self.archive.clone();
            let outage = self.outage;
            tokio::spawn(async move {
                tokio::time::sleep(outage).await;
                archive.restore_writes();
            });
            Ok(())
        }
        .boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn the_sent_mark_waits_out_an_s3_outage_until_just_before_the_deadline() {
    for (outage, marked) in [
        (Duration::from_secs(30), true),
        (Duration::from_secs(600), false),
    ] {
        let mut fixture = Fixture::new();
        let bus = MemoryHandOff::new();
        fixture.pipeline = fixture.pipeline.with_hand_off(HandOffBus {
            sink: Arc::new(PutThenS3Outage {
                bus: bus.clone(),
                archive: fixture.archive.clone(),
                outage,
            }),
            bucket: BUCKET.into(),
        });
        fixture.seed(&[&element(3, 100)], &[], true);
        let started = tokio::time::Instant::now();
        // The event went out, so the message is done either way: a retry would send again.
        fixture.archive().await.unwrap();
        assert_eq!(details(&bus).len(), 1);
        let claim = fixture
            .archive
            .object(&fixture.key("hand-off.json"))
            .unwrap();
        let state: Value = serde_json::from_slice(&claim.bytes).unwrap();
        let expected = if marked { "sent" } else { "claimed" };
        assert_eq!(state["state"], expected, "outage of {outage:?}");
        // Given up in time for the run to end as done rather than be cut off at its hard stop
        // (the fixture's deadline is 60 s away).
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_claim_that_used_up_the_margin_is_released_and_sent_by_the_retry() {
    let (fixture, sink) = with_bus(Fixture::new());
    fixture.seed(&[&element(3, 100)], &[], true);
    let claim = fixture.key("hand-off.json");
    fixture
        .archive
        .delay_conditional_writes_under(&claim, Duration::from_secs(10));
    // 20 s left at the start, 10 s after claiming: less than the 15 s margin, so no put
    // starts that the run's end could cut off before its `sent` mark.
    let deadline = Deadline::after(Duration::from_secs(20), Duration::from_secs(15));
    let body = fixture.event(altinn::event::PROCESS_COMPLETED);
    let error = fixture
        .pipeline
        .handle(
            Some(&body),
            &deadline,
            &RunStats::default(),
            &mut MessageContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.reason, FailureReason::Deadline, "{error:?}");
    assert!(sink.sent().is_empty());
    assert!(
        fixture.archive.object(&claim).is_none(),
        "the claim is released"
    );

    fixture.archive().await.unwrap();
    assert_eq!(details(&sink).len(), 1);
}
