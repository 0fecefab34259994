//! Failures through real SQS queues (moto): permanent ones go to the DLQ at once with their
//! reason, transient ones come back with backoff (and `Retry-After`) until they succeed or run
//! out of receives; a body cut short is retried; nothing is ever completed with anything missing.

mod common;

use std::time::{Duration, Instant, SystemTime};

use altinn_sim::{DataSpec, Fault, FaultRule, Route, SeededInstance};
use archiver::{FailureReason, MessageOutcome};
use aws_lambda_events::event::sqs::SqsEvent;
use common::*;

/// Nothing of the instance may be claimed as archived or completed.
async fn assert_not_archived(harness: &Harness, instance: &SeededInstance) {
    assert!(
        !harness
            .store()
            .exists(&harness.manifest_key(instance))
            .await
            .unwrap(),
        "no manifest"
    );
    assert_eq!(
        harness.completes_of(instance),
        0,
        "never complete with anything missing"
    );
    assert!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .is_empty()
    );
}

#[tokio::test]
async fn not_found_and_forbidden_go_to_the_dlq_at_once_with_their_reason() {
    let harness = Harness::start().await;
    let gone = harness.seed_standard(50_030_001);
    let forbidden = harness.seed_standard(50_030_002);
    let missing_data = harness.seed_standard(50_030_003);
    harness.sim.inject(
        FaultRule::always(Route::StorageGetInstance, Fault::Status(404))
            .for_instance(gone.instance_guid),
    );
    harness.sim.inject(
        FaultRule::always(Route::StorageGetInstance, Fault::Status(403))
            .for_instance(forbidden.instance_guid),
    );
    harness.sim.inject(
        FaultRule::always(Route::StorageGetData, Fault::Status(404))
            .for_instance(missing_data.instance_guid),
    );

    let cases = [
        (&gone, "altinn_not_found"),
        (&forbidden, "altinn_forbidden"),
        (&missing_data, "altinn_not_found"),
    ];
    let mut messages = Vec::new();
    for (instance, _) in &cases {
        harness.enqueue(&harness.completed_event(instance)).await;
    }
    while messages.len() < cases.len() {
        messages.extend(harness.receive().await);
    }
    assert!(!harness.archiver.queues().client().is_built());
    let report = harness.run(messages.clone()).await;
    // The SQS client was built at the first dead letter (the letters are checked below).
    assert!(harness.archiver.queues().client().is_built());
    // Dead-lettered by us means done for the source queue: reported as success.
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );
    for (_, outcome) in &report.outcomes {
        assert!(
            matches!(
                outcome,
                MessageOutcome::DeadLettered {
                    retries_exhausted: false,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    let mut letters = Vec::new();
    while letters.len() < cases.len() {
        let received = harness.dead_letters().await;
        assert!(
            !received.is_empty(),
            "expected {} dead letters, got {}",
            cases.len(),
            letters.len()
        );
        letters.extend(received);
    }
    for (instance, reason) in cases {
        let instance_attr = format!("{}/{}", instance.app_id(), instance.instance_id());
        let letter = letters
            .iter()
            .find(|l| attribute(l, "Instance").as_deref() == Some(instance_attr.as_str()))
            .unwrap_or_else(|| panic!("a dead letter for {instance_attr}"));
        assert_eq!(attribute(letter, "Reason").as_deref(), Some(reason));
        assert_eq!(
            attribute(letter, "ErrorClass").as_deref(),
            Some("permanent")
        );
        assert_eq!(attribute(letter, "ReceiveCount").as_deref(), Some("1"));
        assert!(attribute(letter, "FailedAt").is_some_and(|t| t.ends_with('Z')));
        assert!(attribute(letter, "Detail").is_some_and(|d| d.contains("HTTP")));
        let body = letter.body().unwrap();
        assert_eq!(
            attribute(letter, "EventId"),
            Some(event_id(body)),
            "the original body, unchanged"
        );
        let source_message = messages
            .iter()
            .find(|m| m.body.as_deref() == Some(body))
            .unwrap();
        assert_eq!(
            attribute(letter, "SourceMessageId"),
            source_message.message_id
        );
        assert_not_archived(&harness, instance).await;
    }
    // The instance with a missing element was not completed although its other parts exist.
    assert!(harness.requests_for(Route::StorageComplete).is_empty());
}

#[tokio::test]
async fn an_instance_whose_process_has_not_ended_is_dead_lettered() {
    let harness = Harness::start().await;
    let mut spec = altinn_sim::InstanceSpec::new("archive-test", 50_030_010).completed(false);
    spec.data = vec![DataSpec::xml_form()];
    let instance = harness.sim.add_instance(spec);
    let report = harness
        .run(vec![
            harness.message(&harness.completed_event(&instance), 1),
        ])
        .await;
    let MessageOutcome::DeadLettered { error, .. } = &report.outcomes[0].1 else {
        panic!("dead-lettered, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::InstanceNotCompleted);
    assert!(harness.requests_for(Route::StorageGetData).is_empty());
    assert_not_archived(&harness, &instance).await;
    let letters = harness.dead_letters().await;
    assert_eq!(
        attribute(&letters[0], "Reason").as_deref(),
        Some("instance_not_completed")
    );
}

#[tokio::test]
async fn a_persistent_server_error_comes_back_with_backoff_then_is_dead_lettered() {
    let harness = Harness::start_with(Options::default().env("MAX_RECEIVE_COUNT", 3)).await;
    let instance = harness.seed_standard(50_030_020);
    harness.sim.inject(
        FaultRule::always(Route::StorageGetData, Fault::Status(500))
            .for_instance(instance.instance_guid),
    );
    harness.enqueue(&harness.completed_event(&instance)).await;

    // Lambda's event source mapping, by hand: receive, handle, repeat while it comes back.
    let mut receives = 0;
    loop {
        let messages = harness.receive().await;
        assert_eq!(
            messages.len(),
            1,
            "the failed message is visible again (backoff base 0 s in this test)"
        );
        receives += 1;
        let receive_count: u32 = messages[0].attributes["ApproximateReceiveCount"]
            .parse()
            .unwrap();
        assert_eq!(receive_count, receives);
        let report = harness.run(messages).await;
        match &report.outcomes[0].1 {
            MessageOutcome::Retry { error, visibility } => {
                assert!(receives < 3);
                assert_eq!(error.reason, FailureReason::AltinnServerError);
                assert_eq!(
                    *visibility,
                    Some(Duration::ZERO),
                    "visibility was changed on the source queue"
                );
                assert_eq!(report.response.batch_item_failures.len(), 1);
            }
            MessageOutcome::DeadLettered {
                error,
                retries_exhausted,
            } => {
                assert_eq!(receives, 3, "dead-lettered on MAX_RECEIVE_COUNT");
                assert!(*retries_exhausted);
                assert_eq!(error.reason, FailureReason::AltinnServerError);
                assert!(report.response.batch_item_failures.is_empty());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let letters = harness.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        attribute(&letters[0], "Reason").as_deref(),
        Some("altinn_server_error")
    );
    assert_eq!(
        attribute(&letters[0], "ErrorClass").as_deref(),
        Some("retries_exhausted")
    );
    assert_eq!(attribute(&letters[0], "ReceiveCount").as_deref(), Some("3"));
    assert!(
        harness.receive().await.is_empty(),
        "gone from the source queue once acknowledged"
    );
    assert_not_archived(&harness, &instance).await;
    // Each receive tried each element ALTINN_MAX_ATTEMPTS (3) times.
    let live = instance.data.iter().filter(|d| !d.hard_deleted).count();
    assert_eq!(
        harness.requests_for(Route::StorageGetData).len(),
        3 * 3 * live
    );
}

#[tokio::test]
async fn a_body_cut_short_is_detected_and_downloaded_again() {
    let harness = Harness::start().await;
    let small = harness.seed(
        50_030_030,
        vec![DataSpec::attachment("liten.txt", 50_000, 1).with_content_hash()],
    );
    // Cut after the first 5 MiB part was uploaded: the multipart upload must be aborted.
    let large = harness.seed(
        50_030_031,
        vec![DataSpec::attachment("stor.bin", 7 * MIB as u64, 2)],
    );
    harness.sim.inject(
        FaultRule::times(
            Route::StorageGetData,
            Fault::TruncateBody { after_bytes: 1000 },
            1,
        )
        .for_instance(small.instance_guid),
    );
    harness.sim.inject(
        FaultRule::times(
            Route::StorageGetData,
            Fault::TruncateBody {
                after_bytes: 6 * MIB as u64,
            },
            1,
        )
        .for_instance(large.instance_guid),
    );
    let small_event = harness.completed_event(&small);
    let large_event = harness.completed_event(&large);
    let report = harness
        .run(vec![
            harness.message(&small_event, 1),
            harness.message(&large_event, 1),
        ])
        .await;
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );
    for (_, outcome) in &report.outcomes {
        assert!(
            matches!(outcome, MessageOutcome::Archived(_)),
            "{outcome:?}"
        );
    }
    for (instance, event) in [(&small, &small_event), (&large, &large_event)] {
        assert_eq!(
            harness.downloads_of(instance.data[0].id),
            2,
            "cut short once, then complete"
        );
        harness.verify_archive(instance, &event_id(event)).await;
        assert_eq!(harness.completes_of(instance), 1);
    }
    assert_eq!(
        open_multipart_uploads(harness.store()).await,
        0,
        "the cut-short upload was aborted"
    );
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let harness = Harness::start().await;
    // A short Retry-After is waited for in process.
    let patient = harness.seed(50_030_040, vec![DataSpec::pdf()]);
    harness.sim.inject(
        FaultRule::times(
            Route::StorageGetInstance,
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
            1,
        )
        .for_instance(patient.instance_guid),
    );
    let started = Instant::now();
    let report = harness
        .run(vec![harness.message(&harness.completed_event(&patient), 1)])
        .await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the Retry-After second"
    );
    let gets: Vec<_> = harness
        .requests_for(Route::StorageGetInstance)
        .into_iter()
        .filter(|r| r.path.contains(&patient.instance_guid.to_string()))
        .collect();
    assert_eq!(
        gets.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );

    // A long one is handed to SQS: the message stays invisible that long.
    let throttled = harness.seed(50_030_041, vec![DataSpec::pdf()]);
    harness.sim.inject(
        FaultRule::always(
            Route::StorageGetInstance,
            Fault::TooManyRequests {
                retry_after_secs: 120,
            },
        )
        .for_instance(throttled.instance_guid),
    );
    let message = harness
        .enqueue_and_receive(&harness.completed_event(&throttled))
        .await;
    let started = Instant::now();
    let report = harness.run(vec![message.clone()]).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not waited for in process"
    );
    let MessageOutcome::Retry { error, visibility } = &report.outcomes[0].1 else {
        panic!("retry, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::AltinnThrottled);
    assert_eq!(error.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(*visibility, Some(Duration::from_secs(120)));
    assert_eq!(
        report.response.batch_item_failures[0].item_identifier,
        message.message_id.unwrap()
    );
    assert!(
        harness.receive().await.is_empty(),
        "invisible for the Retry-After"
    );
    assert_not_archived(&harness, &throttled).await;
}

#[tokio::test]
async fn no_work_starts_when_the_deadline_is_near() {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(50_030_050);
    let message = harness
        .enqueue_and_receive(&harness.completed_event(&instance))
        .await;
    let mut batch = SqsEvent::default();
    batch.records = vec![message];
    // DEADLINE_MARGIN_SECS is 5 in the harness: 3 s left is too little.
    let report = harness
        .archiver
        .handle_batch_with_report(&batch, SystemTime::now() + Duration::from_secs(3))
        .await;
    let MessageOutcome::Retry { error, visibility } = &report.outcomes[0].1 else {
        panic!("retry, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::Deadline);
    assert_eq!(
        *visibility,
        Some(Duration::ZERO),
        "visible again at once for the next invocation"
    );
    assert_eq!(report.response.batch_item_failures.len(), 1);
    assert!(harness.sim.requests().is_empty(), "nothing was started");
    assert_eq!(
        harness.receive().await.len(),
        1,
        "the message is back on the queue"
    );
}
