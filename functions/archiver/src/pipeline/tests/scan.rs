//! Malware scan results: `Pending` waits (then gives up), `Infected` is quarantined and either
//! held for a person (`hold`) or archived flagged (`archive`).

use altinn::InstanceRef;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::*;
use crate::quarantine::{QuarantineRelease, QuarantineReview};
use crate::scan::InfectedPolicy;

/// Seeds the completed instance with `elements`, each with its `fileScanResult`.
fn seed_scanned(fixture: &Fixture, elements: &[(&Element, &str)]) {
    let ended = json!({ "ended": "2026-11-01T10:00:00Z", "endEvent": "EndEvent_1" });
    seed_scanned_in(fixture, elements, ended);
}

/// Seeds the instance with `elements` and their scan results, its process at `process`.
fn seed_scanned_in(fixture: &Fixture, elements: &[(&Element, &str)], process: Value) {
    let data: Vec<Value> = elements
        .iter()
        .map(|(element, result)| {
            fixture.altinn.put_data(&element.id, element.bytes.clone());
            let mut json = element_json(element, false);
            json["fileScanResult"] = json!(result);
            json
        })
        .collect();
    fixture.altinn.put_instance(
        &fixture.instance,
        json!({
            "id": fixture.instance.instance_id(),
            "appId": fixture.instance.app_id(),
            "org": ORG,
            "instanceOwner": { "partyId": PARTY.to_string() },
            "status": { "isArchived": process.get("ended").is_some() },
            "process": process,
            "data": data,
        }),
    );
}

/// A `completed` event whose CloudEvent `time` is `ago` before now.
fn completed_event(fixture: &Fixture, ago: Duration) -> String {
    let mut event: Value =
        serde_json::from_str(&fixture.event(altinn::event::PROCESS_COMPLETED)).unwrap();
    let time = OffsetDateTime::now_utc() - ago;
    event["time"] = json!(time.format(&Rfc3339).unwrap());
    event.to_string()
}

async fn handle_counting(
    fixture: &Fixture,
    body: &str,
) -> (Result<MessageOutcome, ArchiveError>, u64) {
    let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
    let stats = RunStats::default();
    let result = fixture
        .pipeline
        .handle(
            Some(body),
            &deadline,
            &stats,
            &mut MessageContext::default(),
        )
        .await;
    (result, stats.quarantined())
}

fn quarantine_key(fixture: &Fixture, element: &Element) -> String {
    fixture.key(&format!("quarantine/{}", element.id))
}

#[tokio::test]
async fn a_pending_scan_downloads_nothing_and_comes_back_until_it_is_clean() {
    let fixture = Fixture::new();
    let (form, scanned) = (element(3, 10), element(5, 20));
    seed_scanned(&fixture, &[(&form, "NotApplicable"), (&scanned, "Pending")]);
    let event = completed_event(&fixture, Duration::from_secs(600));

    let error = fixture.handle(&event).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::ScanPending);
    assert!(error.is_transient());
    let left = error.retry_after.expect("the time left of the wait");
    assert!(
        left <= Duration::from_secs(3000) && left > Duration::from_secs(2900),
        "{left:?}"
    );
    assert_eq!(fixture.downloads(&form) + fixture.downloads(&scanned), 0);
    assert!(
        fixture
            .archive
            .object(&fixture.key("manifest.json"))
            .is_none()
    );
    assert_eq!(fixture.completes(), 0);
    let policy = FailurePolicy::new(5, Duration::from_secs(30));
    assert!(matches!(policy.decide(&error, 1), Verdict::Retry { .. }));

    seed_scanned(&fixture, &[(&form, "NotApplicable"), (&scanned, "Clean")]);
    summary(fixture.handle(&event).await.unwrap());
    assert_eq!(fixture.completes(), 1);
    assert!(fixture.manifest().objects.iter().all(|o| !o.quarantined));
}

#[tokio::test]
async fn a_scan_pending_past_the_wait_is_dead_lettered_as_scan_pending() {
    let fixture = Fixture::new();
    let scanned = element(5, 20);
    seed_scanned(&fixture, &[(&scanned, "Pending")]);
    let event = completed_event(&fixture, Duration::from_secs(3601));

    let error = fixture.handle(&event).await.unwrap_err();
    assert_eq!(error.reason.as_str(), "scan_pending");
    assert!(!error.is_transient(), "{error:?}");
    let policy = FailurePolicy::new(5, Duration::from_secs(30));
    assert_eq!(
        policy.decide(&error, 1),
        Verdict::DeadLetter {
            retries_exhausted: false
        }
    );
    assert_eq!(fixture.downloads(&scanned), 0);
}

#[tokio::test]
async fn under_archive_an_infected_element_is_quarantined_tagged_flagged_and_completed() {
    let mut fixture = Fixture::new();
    fixture.pipeline.settings.scan.infected_policy = InfectedPolicy::Archive;
    let (form, infected) = (element(3, 10), element(5, 20));
    seed_scanned(&fixture, &[(&form, "Clean"), (&infected, "Infected")]);

    let (result, quarantined) =
        handle_counting(&fixture, &completed_event(&fixture, Duration::ZERO)).await;
    summary(result.unwrap());
    assert_eq!(quarantined, 1, "FilesQuarantined");
    assert_eq!(fixture.completes(), 1);
    let object = fixture
        .archive
        .object(&quarantine_key(&fixture, &infected))
        .expect("the bytes are under quarantine/");
    assert_eq!(object.bytes, infected.bytes);
    assert_eq!(
        object.tags,
        [("altinn-file-scan".to_owned(), "Infected".to_owned())]
    );
    assert!(
        fixture
            .archive
            .object(&fixture.key(&format!("data/{}", infected.id)))
            .is_none()
    );
    let manifest = fixture.manifest();
    let entry = manifest
        .data_elements()
        .find(|o| o.data_element_id.as_deref() == Some(infected.id.as_str()))
        .unwrap();
    assert!(entry.quarantined);
    assert_eq!(entry.key, quarantine_key(&fixture, &infected));
    let clean = manifest
        .data_elements()
        .find(|o| o.data_element_id.as_deref() == Some(form.id.as_str()))
        .unwrap();
    assert!(!clean.quarantined);
    assert!(
        fixture
            .archive
            .keys()
            .iter()
            .all(|key| !key.contains("_quarantine/")),
        "no review record under archive"
    );
}

#[tokio::test]
async fn under_hold_an_infected_instance_waits_for_a_release_then_archives() {
    let fixture = Fixture::new();
    let (form, infected) = (element(3, 10), element(5, 20));
    seed_scanned(&fixture, &[(&form, "Clean"), (&infected, "Infected")]);
    let event = completed_event(&fixture, Duration::ZERO);

    let (result, quarantined) = handle_counting(&fixture, &event).await;
    let error = result.unwrap_err();
    assert_eq!(error.reason.as_str(), "infected");
    assert!(!error.is_transient());
    assert!(error.detail.contains(&infected.id), "{}", error.detail);
    assert_eq!(quarantined, 1);
    assert_eq!(fixture.completes(), 0, "no complete while held");
    assert!(
        fixture
            .archive
            .object(&fixture.key("manifest.json"))
            .is_none()
    );
    let object = fixture
        .archive
        .object(&quarantine_key(&fixture, &infected))
        .unwrap();
    assert_eq!(object.tags.len(), 1);

    let layout = ArchiveLayout::new("archive/").unwrap();
    let review_key = layout
        .quarantine_review(&fixture.instance, &infected.id)
        .unwrap();
    let review: QuarantineReview =
        serde_json::from_slice(&fixture.archive.object(&review_key).unwrap().bytes).unwrap();
    assert_eq!(review.quarantine_key, quarantine_key(&fixture, &infected));
    assert_eq!(review.instance_id(), fixture.instance.instance_id());
    assert_eq!(review.size, 20);
    let stored_event = fixture.archive.object(&review.event_key).unwrap();
    assert_eq!(stored_event.bytes, event.as_bytes(), "kept for the release");

    // Redelivered before any release: held again, nothing downloaded again.
    let (again, quarantined) = handle_counting(&fixture, &event).await;
    assert_eq!(again.unwrap_err().reason, FailureReason::Infected);
    assert_eq!(quarantined, 0, "counted once, when stored");
    assert_eq!(fixture.downloads(&infected), 1);

    release(&fixture, &layout, &fixture.instance, &infected);
    summary(fixture.handle(&event).await.unwrap());
    assert_eq!(fixture.completes(), 1);
    assert_eq!(
        fixture.downloads(&infected),
        1,
        "the quarantined bytes are reused"
    );
    let manifest = fixture.manifest();
    assert!(manifest.data_elements().any(|o| o.quarantined));
}

#[tokio::test]
async fn the_feedback_write_back_waits_for_scans_and_holds_infected_elements_too() {
    let fixture = Fixture::writing_back(None);
    let (form, scanned) = (element(3, 10), element(5, 20));
    let waiting =
        json!({ "currentTask": { "elementId": FEEDBACK_TASK, "altinnTaskType": "feedback" } });
    let moved_to = fixture.event(&altinn::event::process_moved_to(FEEDBACK_TASK));

    seed_scanned_in(
        &fixture,
        &[(&form, "Clean"), (&scanned, "Pending")],
        waiting.clone(),
    );
    let error = fixture.handle(&moved_to).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::ScanPending);
    seed_scanned_in(
        &fixture,
        &[(&form, "Clean"), (&scanned, "Infected")],
        waiting,
    );
    let error = fixture.handle(&moved_to).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::Infected);
    for what in ["receipt", "process_next"] {
        assert_eq!(
            fixture
                .journal
                .count(&format!("{what} {}", fixture.instance.instance_id())),
            0,
            "no {what} while a scan is pending or an element is held"
        );
    }
    assert!(
        fixture
            .archive
            .object(&quarantine_key(&fixture, &scanned))
            .is_some()
    );
}

/// What `archive-ops quarantine release` writes.
fn release(fixture: &Fixture, layout: &ArchiveLayout, instance: &InstanceRef, element: &Element) {
    let marker = QuarantineRelease {
        data_element_id: element.id.clone(),
        released_by: "reviewer".into(),
        released_at: "2026-11-02T08:00:00Z".into(),
        note: None,
    };
    fixture.archive.insert(
        &layout.quarantine_release(instance, &element.id).unwrap(),
        serde_json::to_vec(&marker).unwrap(),
        true,
    );
}
