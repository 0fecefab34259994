//! One follow-up alert per (correspondence, type), whatever duplicates and failures come.

use super::*;

#[tokio::test]
async fn one_follow_up_alert_per_correspondence_and_type() {
    let fixture = Fixture::recipient();
    let id = fixture.id;
    let never_read = |time| {
        event(
            "correspondencereceiverneverread",
            "correspondence",
            id,
            time,
        )
    };
    let first = fixture.summary(&never_read("2026-12-18T08:00:00Z")).await;
    // A redelivery and a second event of the same type: no second message.
    let again = fixture.summary(&never_read("2026-12-18T08:00:00Z")).await;
    let second = fixture.summary(&never_read("2026-12-18T09:00:00Z")).await;
    assert_eq!(
        (first.follow_up, again.follow_up, second.follow_up),
        (Some(true), Some(false), Some(false))
    );
    let confirmed = event(
        "correspondencereceiverneverconfirmed",
        "correspondence",
        id,
        "2026-12-18T08:00:00Z",
    );
    assert_eq!(fixture.summary(&confirmed).await.follow_up, Some(true));
    let sent = fixture.alerts.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].manifest_key.as_deref(),
        Some(fixture.key("manifest.json").as_str())
    );

    // A failed send releases the claim; the retry sends.
    let failing = Fixture::sender();
    let cid = failing.id;
    failing
        .altinn
        .put_details(CorrespondenceRole::Sender, cid, details(cid, &[], &[]));
    failing.alerts.fail_next(1);
    let publish_failed = event(
        "correspondencepublishfailed",
        "correspondence",
        cid,
        "2026-12-04T08:00:00Z",
    );
    assert!(
        failing
            .handle(&publish_failed)
            .await
            .unwrap_err()
            .is_transient()
    );
    assert_eq!(failing.summary(&publish_failed).await.follow_up, Some(true));
    assert_eq!(failing.alerts.sent().len(), 1);

    // A claim held by a live run holds off; one whose run died (older than the TTL) is taken.
    let claim = failing.key("follow-up/correspondencenotificationfailed.json");
    failing.archive.insert(
        &claim,
        br#"{"state":"claimed","eventId":"x","at":"t"}"#.to_vec(),
        true,
    );
    let notification_failed = event(
        "correspondencenotificationfailed",
        "correspondence",
        cid,
        "2026-12-04T08:00:00Z",
    );
    let error = failing.handle(&notification_failed).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::FollowUpInProgress);
    assert!(error.retry_after.is_some());
    failing
        .archive
        .set_modified(&claim, SystemTime::now() - Duration::from_secs(600));
    assert_eq!(
        failing.summary(&notification_failed).await.follow_up,
        Some(true)
    );
    assert_eq!(failing.alerts.sent().len(), 2);
}
