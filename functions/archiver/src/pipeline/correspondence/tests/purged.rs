//! After a purge Altinn answers 404 to the sender's details call. An event that arrives after
//! it (shuffled order, a retry) still belongs in the record of a correspondence we archived.

use super::*;

#[tokio::test]
async fn an_event_after_the_purge_still_goes_into_the_record() {
    let fixture = Fixture::sender();
    fixture.altinn.put_details(
        CorrespondenceRole::Sender,
        fixture.id,
        details(fixture.id, &[("Published", "2026-12-04T08:00:00Z")], &[]),
    );
    let published = event(
        "correspondencepublished",
        "correspondence",
        fixture.id,
        "2026-12-04T08:00:01Z",
    );
    assert!(fixture.summary(&published).await.details_fetched);

    // The recipient reads it, then purges it; the purge is handled before the read.
    fixture
        .altinn
        .forget_details(CorrespondenceRole::Sender, fixture.id);
    let purged = event(
        "correspondencepurged",
        "correspondence",
        fixture.id,
        "2026-12-04T09:30:00Z",
    );
    fixture.summary(&purged).await;
    let read = event(
        "correspondencereceiverread",
        "correspondence",
        fixture.id,
        "2026-12-04T09:00:00Z",
    );
    let summary = fixture.summary(&read).await;
    assert!(!summary.details_fetched);

    let manifest = fixture.manifest();
    let history: Vec<(String, StatusSource)> = statuses(&manifest);
    assert_eq!(
        history,
        [
            ("Published".to_owned(), StatusSource::Details),
            ("Published".to_owned(), StatusSource::Event),
            ("Read".to_owned(), StatusSource::Event),
            ("Purged".to_owned(), StatusSource::Event),
        ]
    );
    let read_key = fixture.key(&format!("events/{}.json", read["id"].as_str().unwrap()));
    assert!(manifest.objects.iter().any(|o| o.key == read_key));
    assert_eq!(
        fixture.details_keys().len(),
        1,
        "the one answer from before"
    );
}
