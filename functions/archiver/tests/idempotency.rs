//! At-least-once everywhere: two runs racing on one instance, a crash halfway through the
//! elements, and a crash between the manifest and `complete` all end in the same archive and
//! exactly one completion, without downloading an archived element again.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use altinn_sim::{DataSpec, Fault, FaultRule, Route};
use archiver::{FailureReason, MessageOutcome};
use common::*;

#[tokio::test]
async fn two_runs_racing_on_one_instance_archive_it_once() {
    let harness = Harness::start_with(Options::default().env("ELEMENT_CONCURRENCY", 2)).await;
    // A second Lambda instance: its own clients and caches, the same Altinn and bucket.
    let other = harness.another_archiver().await;
    let instance = harness.seed_standard(50_020_001);
    // Slow downloads keep both runs inside the element phase at the same time.
    harness.sim.inject(
        FaultRule::always(
            Route::StorageGetData,
            Fault::Latency(Duration::from_millis(300)),
        )
        .for_instance(instance.instance_guid),
    );
    let first_event = harness.completed_event(&instance);
    let second_event = harness.completed_event(&instance);

    let (first, second) = tokio::join!(
        run_on(&harness.archiver, vec![harness.message(&first_event, 1)]),
        run_on(&other, vec![harness.message(&second_event, 1)]),
    );
    assert!(first.response.batch_item_failures.is_empty());
    assert!(second.response.batch_item_failures.is_empty());
    let outcomes = [&first.outcomes[0].1, &second.outcomes[0].1];
    let winners: Vec<usize> = (0..2)
        .filter(|i| matches!(outcomes[*i], MessageOutcome::Archived(_)))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one run claims the archive: {outcomes:?}"
    );
    let loser = 1 - winners[0];
    assert!(
        matches!(outcomes[loser], MessageOutcome::ClaimedByAnotherRun(_)),
        "{:?}",
        outcomes[loser]
    );

    let winning_event = if winners[0] == 0 {
        &first_event
    } else {
        &second_event
    };
    let losing_event = if winners[0] == 0 {
        &second_event
    } else {
        &first_event
    };
    let manifest = harness
        .verify_archive(&instance, &event_id(winning_event))
        .await;
    assert_eq!(manifest.event_id, event_id(winning_event));
    let losing_key = harness
        .store()
        .layout()
        .instance_event(&harness.instance_ref(&instance), &event_id(losing_event))
        .unwrap();
    assert!(
        harness.store().exists(&losing_key).await.unwrap(),
        "the other event is kept too"
    );
    assert_eq!(
        harness.completes_of(&instance),
        1,
        "only the run holding the manifest completes"
    );
    assert_eq!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );
}

#[tokio::test]
async fn a_crash_after_some_elements_is_resumed_without_downloading_them_again() {
    let harness = Harness::start_with(Options::default().env("ELEMENT_CONCURRENCY", 1)).await;
    let instance = harness.seed(
        50_020_002,
        vec![
            DataSpec::xml_form(),
            DataSpec::pdf(),
            DataSpec::attachment("a.pdf", 200_000, 1),
            DataSpec::attachment("b.bin", 5 * MIB as u64 + 333, 2).with_content_hash(),
            DataSpec::attachment("c.png", 70_000, 3),
        ],
    );
    harness.sim.inject(
        FaultRule::always(
            Route::StorageGetData,
            Fault::Latency(Duration::from_millis(250)),
        )
        .for_instance(instance.instance_guid),
    );
    let event = harness.completed_event(&instance);
    let message = harness.message(&event, 1);

    // Run until two elements are archived, then drop the run mid-flight: a Lambda killed at an
    // arbitrary line.
    let archived_elements = || async {
        let mut archived = HashSet::new();
        for data in &instance.data {
            if harness
                .store()
                .stored_object(&harness.data_key(&instance, data))
                .await
                .unwrap()
                .is_some()
            {
                archived.insert(data.id);
            }
        }
        archived
    };
    let crash_point = async {
        loop {
            let archived = archived_elements().await;
            if archived.len() >= 2 {
                return archived;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let archived_before_crash = tokio::select! {
        report = harness.run(vec![message.clone()]) => panic!("the run finished before the crash: {:?}", report.outcomes),
        archived = crash_point => archived,
    };
    assert!(archived_before_crash.len() < instance.data.len());
    assert!(
        !harness
            .store()
            .exists(&harness.manifest_key(&instance))
            .await
            .unwrap()
    );
    assert_eq!(
        harness.completes_of(&instance),
        0,
        "no complete with elements missing"
    );

    // The message comes back.
    harness.sim.clear_faults();
    let report = harness.run(vec![message]).await;
    let MessageOutcome::Archived(summary) = &report.outcomes[0].1 else {
        panic!("archived on retry, got {:?}", report.outcomes)
    };
    assert!(
        summary.elements_reused >= archived_before_crash.len(),
        "{summary:?}"
    );
    assert_eq!(summary.elements, instance.data.len());

    for data in &instance.data {
        let downloads = harness.downloads_of(data.id);
        if archived_before_crash.contains(&data.id) {
            assert_eq!(
                downloads, 1,
                "{} was archived before the crash: never downloaded again",
                data.data_type
            );
        } else {
            // At most the request in flight at the crash, plus the one that archived it.
            assert!(
                (1..=2).contains(&downloads),
                "{}: {downloads} downloads",
                data.data_type
            );
        }
    }
    harness.verify_archive(&instance, &event_id(&event)).await;
    assert_eq!(harness.completes_of(&instance), 1);
    // The multipart upload the crash left behind is aborted (from Drop, in the background).
    let mut waited = Duration::ZERO;
    while open_multipart_uploads(harness.store()).await != 0 {
        assert!(
            waited < Duration::from_secs(10),
            "abandoned multipart upload was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

#[tokio::test]
async fn a_crash_between_manifest_and_complete_is_completed_by_the_retry() {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(50_020_003);
    let event = harness.completed_event(&instance);
    harness.sim.inject(FaultRule::always(
        Route::StorageComplete,
        Fault::Status(500),
    ));

    let report = harness.run(vec![harness.message(&event, 1)]).await;
    let error = first_retry(&report);
    assert_eq!(error.reason, FailureReason::AltinnServerError);
    assert_eq!(report.response.batch_item_failures.len(), 1);
    assert!(
        harness
            .store()
            .exists(&harness.manifest_key(&instance))
            .await
            .unwrap()
    );
    assert!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .is_empty()
    );

    harness.sim.clear_faults();
    harness.sim.clear_requests();
    let report = harness.run(vec![harness.message(&event, 2)]).await;
    assert!(
        matches!(
            report.outcomes[0].1,
            MessageOutcome::AlreadyArchived {
                completed_now: true,
                ..
            }
        ),
        "{:?}",
        report.outcomes
    );
    assert!(
        harness.requests_for(Route::StorageGetData).is_empty(),
        "nothing downloaded again"
    );
    assert_eq!(harness.completes_of(&instance), 1);
    assert_eq!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );

    let report = harness.run(vec![harness.message(&event, 3)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::AlreadyArchived {
            completed_now: false,
            ..
        }
    ));
    assert_eq!(harness.completes_of(&instance), 1);
    harness.verify_archive(&instance, &event_id(&event)).await;
}

#[tokio::test]
async fn instance_json_is_written_once_so_the_manifest_always_describes_it() {
    // A run that lost the manifest race can fetch the instance after the winner's `complete`
    // changed it. Here an earlier run's `instance.json` is already in S3 with other bytes than
    // Storage now returns: it is kept, and the manifest describes exactly what is stored.
    let harness = Harness::start().await;
    let instance = harness.seed(50_020_004, vec![DataSpec::pdf()]);
    let mut earlier = harness
        .sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    earlier["lastChanged"] = serde_json::json!("2026-01-01T00:00:00Z");
    let earlier = bytes::Bytes::from(earlier.to_string());
    let key = harness
        .store()
        .layout()
        .instance_json(&harness.instance_ref(&instance))
        .unwrap();
    harness
        .store()
        .put_small(&key, earlier.clone(), "application/json")
        .await
        .unwrap();

    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    assert_eq!(
        harness.store().get_bytes(&key).await.unwrap().unwrap(),
        earlier,
        "first write wins"
    );
    let manifest = harness.verify_archive(&instance, &event_id(&event)).await;
    let entry = manifest.objects.iter().find(|o| o.key == key).unwrap();
    assert_eq!(entry.sha256, sha256_hex(&earlier));
}
