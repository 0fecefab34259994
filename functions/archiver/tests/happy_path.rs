//! The normal path against the Altinn simulator and moto: an instance with an XML form, a PDF
//! receipt and attachments (one big enough for a multipart upload) is archived byte for byte,
//! hard-deleted elements are skipped, and `complete` is called once, after the manifest.

mod common;

use std::time::Duration;

use altinn_sim::{DataSpec, Fault, FaultRule, Route};
use archiver::MessageOutcome;
use common::*;

#[tokio::test]
async fn completed_instance_is_archived_byte_for_byte_and_completed_once_after_the_manifest() {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(50_010_001);
    let event = harness.completed_event(&instance);
    // `complete` is held up in the simulator, so we can look at S3 while it is in flight.
    harness.sim.inject(FaultRule::always(
        Route::StorageComplete,
        Fault::Latency(Duration::from_millis(700)),
    ));

    let manifest_key = harness.manifest_key(&instance);
    let observe_complete = async {
        loop {
            let in_flight = harness.requests_for(Route::StorageComplete);
            if !in_flight.is_empty() {
                // The complete request has arrived: the manifest must already be in S3.
                return harness.store().exists(&manifest_key).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (report, manifest_existed_at_complete) = tokio::join!(
        harness.run(vec![harness.message(&event, 1)]),
        observe_complete
    );
    assert!(
        manifest_existed_at_complete,
        "complete is only called after manifest.json is stored"
    );
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );

    let (_, outcome) = &report.outcomes[0];
    let MessageOutcome::Archived(summary) = outcome else {
        panic!("archived, got {outcome:?}")
    };
    assert_eq!(summary.elements, 4);
    assert_eq!(summary.elements_downloaded, 4);
    assert_eq!(summary.elements_reused, 0);
    assert_eq!(summary.elements_skipped, 1);
    let live_bytes: u64 = instance
        .data
        .iter()
        .filter(|d| !d.hard_deleted)
        .map(|d| d.size)
        .sum();
    assert_eq!(summary.bytes_downloaded, live_bytes);

    let manifest = harness.verify_archive(&instance, &event_id(&event)).await;
    assert_eq!(manifest.event_id, event_id(&event));
    assert_eq!(manifest.event_type, "app.instance.process.completed");

    for data in &instance.data {
        let expected = if data.hard_deleted { 0 } else { 1 };
        assert_eq!(
            harness.downloads_of(data.id),
            expected,
            "downloads of {}",
            data.data_type
        );
    }
    harness.assert_completed_once(&instance).await;
    // SQS is for failures only: an archiver whose messages all archive never builds its client.
    assert!(!harness.archiver.queues().client().is_built());
}

#[tokio::test]
async fn hard_deleted_elements_are_skipped_and_listed_as_skipped() {
    let harness = Harness::start().await;
    let instance = harness.seed(
        50_010_002,
        vec![
            DataSpec::pdf(),
            DataSpec::attachment("fjernet.pdf", 10_000, 1).hard_deleted(),
            DataSpec::attachment("fjernet-2.png", 20_000, 2).hard_deleted(),
        ],
    );
    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(ref s) if s.elements == 1 && s.elements_skipped == 2)
    );

    let manifest = harness.verify_archive(&instance, &event_id(&event)).await;
    assert_eq!(manifest.skipped_data_elements.len(), 2);
    assert!(
        manifest
            .skipped_data_elements
            .iter()
            .all(|s| s.reason == "hardDeleted")
    );
    for data in instance.data.iter().filter(|d| d.hard_deleted) {
        assert_eq!(
            harness.downloads_of(data.id),
            0,
            "a hard-deleted element is never requested"
        );
    }
    assert_eq!(harness.completes_of(&instance), 1);
}

#[tokio::test]
async fn duplicate_events_download_nothing_and_complete_nothing() {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(50_010_003);
    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(matches!(report.outcomes[0].1, MessageOutcome::Archived(_)));
    let manifest_key = harness.manifest_key(&instance);
    let manifest_before = harness
        .store()
        .get_manifest(&manifest_key)
        .await
        .unwrap()
        .unwrap();
    harness.sim.clear_requests();

    // The same event again (SQS or Altinn redelivery), and a second event with a new id for the
    // same instance (e.g. from the reconciler), in one batch and once more after it.
    let second_event = harness.completed_event(&instance);
    let report = harness
        .run(vec![
            harness.message(&event, 1),
            harness.message(&second_event, 1),
        ])
        .await;
    assert!(report.response.batch_item_failures.is_empty());
    for (_, outcome) in &report.outcomes {
        assert!(
            matches!(
                outcome,
                MessageOutcome::AlreadyArchived {
                    completed_now: false,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
    let report = harness.run(vec![harness.message(&event, 2)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::AlreadyArchived {
            completed_now: false,
            ..
        }
    ));

    assert!(
        harness.requests_for(Route::StorageGetData).is_empty(),
        "no downloads for a duplicate"
    );
    assert_eq!(
        harness.completes_of(&instance),
        0,
        "our completion was already there"
    );
    assert_eq!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );
    let manifest_after = harness
        .store()
        .get_manifest(&manifest_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(manifest_after, manifest_before, "the archive is untouched");
    // Nothing Altinn told us is lost: the second event is kept next to the first.
    let second_key = harness
        .store()
        .layout()
        .instance_event(&harness.instance_ref(&instance), &event_id(&second_event))
        .unwrap();
    let stored = harness
        .store()
        .get_bytes(&second_key)
        .await
        .unwrap()
        .expect("second event stored");
    assert_eq!(&stored[..], second_event.as_bytes());
}
