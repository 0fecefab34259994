//! Altinn's malware scan results, end to end (simulator + moto): a scan that finishes while the
//! message comes back archives once it is clean; one that never finishes is dead-lettered as
//! `scan_pending` after `SCAN_PENDING_MAX_WAIT`; an `Infected` element is quarantined and
//! tagged, and the instance held (`hold`, then released the way `archive-ops` does it) or
//! archived flagged (`archive`).

mod common;

use std::time::Duration;

use altinn_sim::{DataSpec, SeededInstance, SeededScan};
use archiver::quarantine::{QuarantineRelease, QuarantineReview};
use archiver::{FailureReason, MessageOutcome};
use bytes::Bytes;
use common::*;

fn scanned(harness: &Harness, party_id: u64, scan: SeededScan) -> SeededInstance {
    harness.seed(
        party_id,
        vec![
            DataSpec::xml_form(),
            DataSpec::attachment("vedlegg.pdf", 40 * 1024, party_id).with_scan(scan),
        ],
    )
}

fn quarantine_key(harness: &Harness, instance: &SeededInstance) -> String {
    harness
        .store()
        .layout()
        .quarantined_element(
            &harness.instance_ref(instance),
            &instance.data[1].id.to_string(),
        )
        .unwrap()
}

async fn tags(harness: &Harness, key: &str) -> Vec<(String, String)> {
    let tagging = harness
        .s3
        .get_object_tagging()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("the object exists");
    tagging
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_scan_that_finishes_while_the_message_comes_back_is_archived_once_clean() {
    let harness = Harness::start().await;
    let instance = scanned(&harness, 50_070_001, SeededScan::PendingFor { reads: 2 });
    let event = harness.completed_event(&instance);

    // Through the real queue: the retry's visibility is set, within the hour's wait.
    let received = harness.enqueue_and_receive(&event).await;
    let report = harness.run(vec![received]).await;
    let MessageOutcome::Retry { error, visibility } = &report.outcomes[0].1 else {
        panic!("retried, got {:?}", report.outcomes);
    };
    assert_eq!(error.reason, FailureReason::ScanPending);
    let visibility = visibility.expect("visibility set on the source queue");
    assert!(visibility <= Duration::from_secs(3600), "{visibility:?}");

    let second = harness.run(vec![harness.message(&event, 2)]).await;
    assert_eq!(first_retry(&second).reason, FailureReason::ScanPending);
    assert_eq!(
        harness.downloads_of(instance.data[1].id),
        0,
        "nothing is downloaded while the scan is pending"
    );

    let third = harness.run(vec![harness.message(&event, 3)]).await;
    assert!(
        matches!(third.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        third.outcomes
    );
    harness.verify_archive(&instance, &event_id(&event)).await;
    harness.assert_completed_once(&instance).await;
}

#[tokio::test]
async fn a_scan_that_never_finishes_is_dead_lettered_as_scan_pending_after_the_wait() {
    let harness = Harness::start_with(Options::default().env("SCAN_PENDING_MAX_WAIT", "2s")).await;
    let instance = scanned(&harness, 50_070_002, SeededScan::Pending);
    let event = harness.completed_event(&instance);

    let first = harness.run(vec![harness.message(&event, 1)]).await;
    assert_eq!(first_retry(&first).reason, FailureReason::ScanPending);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let report = harness.run(vec![harness.message(&event, 2)]).await;
    let MessageOutcome::DeadLettered {
        error,
        retries_exhausted,
    } = &report.outcomes[0].1
    else {
        panic!("dead-lettered, got {:?}", report.outcomes);
    };
    assert_eq!(error.reason, FailureReason::ScanPending);
    assert!(
        !retries_exhausted,
        "given up after the wait, not out of receives"
    );
    let letters = harness.dead_letters().await;
    assert_eq!(
        attribute(&letters[0], "Reason").as_deref(),
        Some("scan_pending")
    );
    assert_eq!(
        attribute(&letters[0], "ErrorClass").as_deref(),
        Some("permanent")
    );
    assert_eq!(harness.completes_of(&instance), 0);
    assert_eq!(harness.downloads_of(instance.data[1].id), 0);
}

#[tokio::test]
async fn under_hold_an_infected_element_is_quarantined_and_the_instance_waits_for_a_release() {
    let harness = Harness::start().await;
    let instance = scanned(&harness, 50_070_003, SeededScan::Infected);
    let event = harness.completed_event(&instance);

    let report = harness.run(vec![harness.message(&event, 1)]).await;
    let MessageOutcome::DeadLettered { error, .. } = &report.outcomes[0].1 else {
        panic!("dead-lettered, got {:?}", report.outcomes);
    };
    assert_eq!(error.reason, FailureReason::Infected);
    let letters = harness.dead_letters().await;
    assert_eq!(
        attribute(&letters[0], "Reason").as_deref(),
        Some("infected")
    );
    assert_eq!(harness.completes_of(&instance), 0, "no complete while held");
    assert!(
        !harness
            .store()
            .exists(&harness.manifest_key(&instance))
            .await
            .unwrap()
    );
    let key = quarantine_key(&harness, &instance);
    assert_eq!(
        tags(&harness, &key).await,
        [("altinn-file-scan".to_owned(), "Infected".to_owned())]
    );
    assert!(
        !harness
            .store()
            .exists(&harness.data_key(&instance, &instance.data[1]))
            .await
            .unwrap(),
        "not under data/"
    );
    let layout = harness.store().layout().clone();
    let reference = harness.instance_ref(&instance);
    let id = instance.data[1].id.to_string();
    let review_bytes = harness
        .store()
        .get_bytes(&layout.quarantine_review(&reference, &id).unwrap())
        .await
        .unwrap()
        .expect("a review record");
    let review: QuarantineReview = serde_json::from_slice(&review_bytes).unwrap();
    assert_eq!(review.quarantine_key, key);
    assert_eq!(review.sha256, instance.data[1].sha256_hex);

    // A person releases it (as archive-ops does); the re-queued event archives the instance.
    let release = QuarantineRelease {
        data_element_id: id.clone(),
        released_by: "reviewer".into(),
        released_at: "2026-11-02T08:00:00Z".into(),
        note: None,
    };
    harness
        .store()
        .put_small(
            &layout.quarantine_release(&reference, &id).unwrap(),
            Bytes::from(serde_json::to_vec(&release).unwrap()),
            "application/json",
        )
        .await
        .unwrap();
    let requeued = harness
        .store()
        .get_bytes(&review.event_key)
        .await
        .unwrap()
        .unwrap();
    let body = String::from_utf8(requeued.to_vec()).unwrap();
    let report = harness.run(vec![harness.message(&body, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    harness.assert_completed_once(&instance).await;
    assert_eq!(
        harness.downloads_of(instance.data[1].id),
        1,
        "quarantined bytes reused"
    );
    let manifest = harness
        .store()
        .get_manifest(&harness.manifest_key(&instance))
        .await
        .unwrap()
        .unwrap();
    let entry = manifest
        .data_elements()
        .find(|o| o.data_element_id.as_deref() == Some(id.as_str()))
        .unwrap();
    assert!(entry.quarantined);
    assert_eq!(entry.key, key);
    assert_eq!(entry.sha256, instance.data[1].sha256_hex);
}

#[tokio::test]
async fn under_archive_an_infected_element_is_archived_quarantined_and_completed() {
    let harness = Harness::start_with(Options::default().env("INFECTED_POLICY", "archive")).await;
    let instance = scanned(&harness, 50_070_004, SeededScan::Infected);
    let event = harness.completed_event(&instance);

    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    harness.assert_completed_once(&instance).await;
    let key = quarantine_key(&harness, &instance);
    assert_eq!(tags(&harness, &key).await.len(), 1);
    let manifest = harness
        .store()
        .get_manifest(&harness.manifest_key(&instance))
        .await
        .unwrap()
        .unwrap();
    let flagged: Vec<&str> = manifest
        .data_elements()
        .filter(|o| o.quarantined)
        .map(|o| o.key.as_str())
        .collect();
    assert_eq!(flagged, [key.as_str()]);
    assert!(harness.dead_letters().await.is_empty());
}
