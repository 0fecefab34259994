//! The archive receipt (`RECEIPT_DATA_TYPE`): uploaded once, after the manifest and before
//! `complete`; not uploaded again after a crash between the upload and `complete`; a `maxCount`
//! refusal dead-letters the message without completing; nothing is posted when it is off.

mod common;

use altinn_sim::{DataContent, DataSpec, Fault, FaultRule, Route, SeededInstance};
use archiver::{FailureReason, MessageOutcome};
use common::*;
use serde_json::Value;
use uuid::Uuid;

const RECEIPT_TYPE: &str = "archive-receipt";

async fn receipt_harness(format: Option<&str>) -> Harness {
    let mut options = Options::default().env("RECEIPT_DATA_TYPE", RECEIPT_TYPE);
    if let Some(format) = format {
        options = options.env("RECEIPT_FORMAT", format);
    }
    Harness::start_with(options).await
}

/// The instance's elements of the receipt data type, as Storage lists them now.
fn receipts_in(harness: &Harness, instance: &SeededInstance) -> Vec<Value> {
    let json = harness
        .sim
        .instance_json(instance.party_id, instance.instance_guid)
        .expect("instance");
    json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["dataType"] == RECEIPT_TYPE)
        .cloned()
        .collect()
}

fn receipt_bytes(harness: &Harness, instance: &SeededInstance, element: &Value) -> Vec<u8> {
    let id = Uuid::parse_str(element["id"].as_str().unwrap()).unwrap();
    harness
        .sim
        .data_bytes(instance.instance_guid, id)
        .expect("receipt bytes")
}

/// Indexes of the upload and the `complete` call in the simulator's request log.
fn upload_then_complete_order(harness: &Harness) -> (Vec<usize>, Vec<usize>) {
    let requests = harness.sim.requests();
    let at = |route: Route| {
        requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.route == Some(route))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    (at(Route::AppPostData), at(Route::StorageComplete))
}

#[tokio::test]
async fn the_receipt_is_uploaded_once_between_manifest_and_complete() {
    let harness = receipt_harness(None).await;
    let instance = harness.seed(50_100_001, vec![DataSpec::xml_form(), DataSpec::pdf()]);
    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    let manifest = harness.verify_archive(&instance, &event_id(&event)).await;

    let receipts = receipts_in(&harness, &instance);
    assert_eq!(receipts.len(), 1);
    let receipt = &receipts[0];
    let expected_name = format!("archive-receipt-{}.xml", instance.instance_guid);
    assert_eq!(receipt["filename"], expected_name.as_str());
    assert_eq!(receipt["contentType"], "application/xml");

    // The document names the archive, the manifest's bytes and every archived element.
    let manifest_key = harness.manifest_key(&instance);
    let manifest_bytes = harness
        .store()
        .get_bytes(&manifest_key)
        .await
        .unwrap()
        .expect("manifest");
    let xml = String::from_utf8(receipt_bytes(&harness, &instance, receipt)).unwrap();
    let location = format!(
        "s3://{BUCKET}/{PREFIX}ttd/archive-test/{}/{}/",
        instance.party_id, instance.instance_guid
    );
    assert!(
        xml.contains(&format!("<ArchiveLocation>{location}</ArchiveLocation>")),
        "{xml}"
    );
    assert!(xml.contains(&format!(
        "<ManifestSha256>{}</ManifestSha256>",
        sha256_hex(&manifest_bytes)
    )));
    assert!(xml.contains(&format!(
        "<ArchivedAt>{}</ArchivedAt>",
        manifest.archived_at
    )));
    for data in instance.live_data() {
        assert!(
            xml.contains(&format!("<DataElementId>{}</DataElementId>", data.id)),
            "{xml}"
        );
    }
    // The receipt itself is not part of the archive it describes.
    assert!(
        !manifest
            .objects
            .iter()
            .any(|o| o.data_type.as_deref() == Some(RECEIPT_TYPE))
    );

    // Uploaded before complete, with our token, to the app's API.
    let (uploads, completes) = upload_then_complete_order(&harness);
    assert_eq!(uploads.len(), 1);
    assert_eq!(completes.len(), 1);
    assert!(uploads[0] < completes[0]);
    let upload = &harness.requests_for(Route::AppPostData)[0];
    assert_eq!(upload.query.as_deref(), Some("dataType=archive-receipt"));
    assert!(upload.bearer_token().is_some());
    assert_eq!(upload.status, 201);

    // A duplicate event: archived already, confirmed already, no second receipt.
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::AlreadyArchived {
            completed_now: false,
            ..
        }
    ));
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    assert_eq!(harness.requests_for(Route::AppPostData).len(), 1);
    assert_eq!(harness.completes_of(&instance), 1);
}

#[tokio::test]
async fn a_crash_between_upload_and_complete_does_not_upload_twice() {
    let harness = receipt_harness(Some("json")).await;
    let instance = harness.seed(50_100_002, vec![DataSpec::xml_form()]);
    // `complete` fails on every attempt of the first run (ALTINN_MAX_ATTEMPTS = 3): the run
    // ends after the receipt was uploaded, as if the Lambda had died there.
    harness.sim.inject(
        FaultRule::times(Route::StorageComplete, Fault::Status(503), 3)
            .for_instance(instance.instance_guid),
    );
    let event = harness.completed_event(&instance);
    let first = harness.run(vec![harness.message(&event, 1)]).await;
    let error = first_retry(&first);
    assert_eq!(error.reason, FailureReason::AltinnServerError);
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    assert!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .is_empty()
    );

    // The retry: the manifest is there, the instance (fetched again) already holds our
    // receipt, so only `complete` is sent.
    let second = harness.run(vec![harness.message(&event, 2)]).await;
    assert!(
        matches!(
            second.outcomes[0].1,
            MessageOutcome::AlreadyArchived {
                completed_now: true,
                ..
            }
        ),
        "{:?}",
        second.outcomes
    );
    let receipts = receipts_in(&harness, &instance);
    assert_eq!(receipts.len(), 1, "still one receipt");
    assert_eq!(harness.requests_for(Route::AppPostData).len(), 1);
    assert_eq!(
        harness
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );
    // RECEIPT_FORMAT=json.
    assert_eq!(receipts[0]["contentType"], "application/json");
    let json: Value =
        serde_json::from_slice(&receipt_bytes(&harness, &instance, &receipts[0])).unwrap();
    assert_eq!(json["instanceId"], instance.instance_id().as_str());
    assert_eq!(
        json["dataElementIds"],
        serde_json::json!([instance.data[0].id.to_string()])
    );
}

#[tokio::test]
async fn a_crash_between_manifest_and_upload_uploads_on_the_retry() {
    let harness = receipt_harness(None).await;
    let instance = harness.seed(50_100_005, vec![DataSpec::pdf()]);
    // The upload fails with 503: nothing stored, the message comes back.
    harness.sim.inject(
        FaultRule::times(Route::AppPostData, Fault::Status(503), 1)
            .for_instance(instance.instance_guid),
    );
    let event = harness.completed_event(&instance);
    let first = harness.run(vec![harness.message(&event, 1)]).await;
    let error = first_retry(&first);
    assert_eq!(error.reason, FailureReason::AltinnServerError);
    assert!(receipts_in(&harness, &instance).is_empty());
    assert_eq!(
        harness.completes_of(&instance),
        0,
        "no complete without the receipt"
    );

    let second = harness.run(vec![harness.message(&event, 2)]).await;
    assert!(matches!(
        second.outcomes[0].1,
        MessageOutcome::AlreadyArchived {
            completed_now: true,
            ..
        }
    ));
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    let (uploads, completes) = upload_then_complete_order(&harness);
    assert_eq!((uploads.len(), completes.len()), (2, 1));
    assert!(uploads[1] < completes[0]);
}

#[tokio::test]
async fn a_max_count_refusal_dead_letters_without_completing() {
    let harness = receipt_harness(None).await;
    // The app allows one element of the data type, and the instance already holds one that is
    // not ours (the app wrote it).
    harness
        .sim
        .set_data_type_max_count("ttd/archive-test", RECEIPT_TYPE, 1);
    let instance = harness.seed(
        50_100_003,
        vec![
            DataSpec::xml_form(),
            DataSpec {
                data_type: RECEIPT_TYPE.to_owned(),
                content_type: "application/xml".to_owned(),
                filename: Some("kvittering.xml".to_owned()),
                content: DataContent::Bytes(b"<Kvittering/>".to_vec()),
                hard_deleted: false,
                with_content_hash: false,
            },
        ],
    );
    let event = harness.completed_event(&instance);
    let message = harness.enqueue_and_receive(&event).await;
    let report = harness.run(vec![message]).await;
    let MessageOutcome::DeadLettered { error, .. } = &report.outcomes[0].1 else {
        panic!("dead-lettered, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::ReceiptRejected);
    assert!(
        error.detail.contains("maximum allowed count (1)"),
        "{error}"
    );
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(harness.completes_of(&instance), 0);
    assert_eq!(receipts_in(&harness, &instance).len(), 1, "only the app's");

    let letters = harness.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        attribute(&letters[0], "Reason").as_deref(),
        Some("receipt_rejected")
    );
    assert!(
        attribute(&letters[0], "Detail").is_some_and(|d| d.contains("maximum allowed count")),
        "{:?}",
        attribute(&letters[0], "Detail")
    );
}

#[tokio::test]
async fn nothing_is_posted_without_receipt_data_type() {
    let harness = Harness::start().await;
    let instance = harness.seed(50_100_004, vec![DataSpec::xml_form(), DataSpec::pdf()]);
    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(matches!(report.outcomes[0].1, MessageOutcome::Archived(_)));
    assert!(harness.requests_for(Route::AppPostData).is_empty());
    // Whatever the route classification: no POST to any `…/data` path.
    assert!(
        harness
            .sim
            .requests()
            .iter()
            .all(|r| r.method != "POST" || !r.path.ends_with("/data"))
    );
    assert_eq!(harness.completes_of(&instance), 1);
    assert!(receipts_in(&harness, &instance).is_empty());
}

#[tokio::test]
async fn duplicate_runs_at_once_upload_one_receipt() {
    let harness = receipt_harness(None).await;
    let other = harness.another_archiver().await;
    let instance = harness.seed(50_100_006, vec![DataSpec::xml_form()]);
    let event = harness.completed_event(&instance);
    // First delivery: archived, but the upload fails, so manifest is there and receipt is not.
    harness.sim.inject(
        FaultRule::times(Route::AppPostData, Fault::Status(503), 1)
            .for_instance(instance.instance_guid),
    );
    let first = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(matches!(first.outcomes[0].1, MessageOutcome::Retry { .. }));

    // The retry and a duplicate from the other subscription, on two Lambda instances at once;
    // the upload is slow, so both are past their look at the instance before it lands.
    harness.sim.inject(
        FaultRule::always(
            Route::AppPostData,
            Fault::Latency(std::time::Duration::from_millis(500)),
        )
        .for_instance(instance.instance_guid),
    );
    let (a, b) = tokio::join!(
        run_on(&harness.archiver, vec![harness.message(&event, 2)]),
        run_on(&other, vec![harness.message(&event, 1)]),
    );
    let outcomes = [&a.outcomes[0].1, &b.outcomes[0].1];
    let completed = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                MessageOutcome::AlreadyArchived {
                    completed_now: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(completed, 1, "{outcomes:?}");
    for outcome in outcomes {
        match outcome {
            MessageOutcome::AlreadyArchived { .. } => {}
            MessageOutcome::Retry { error, .. } => {
                assert_eq!(error.reason, FailureReason::ReceiptInProgress);
                assert!(error.retry_after.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    // The 503 and exactly one upload that worked.
    assert_eq!(harness.requests_for(Route::AppPostData).len(), 2);

    // Whichever came back later finds the instance confirmed.
    let last = harness.run(vec![harness.message(&event, 3)]).await;
    assert!(matches!(
        last.outcomes[0].1,
        MessageOutcome::AlreadyArchived {
            completed_now: false,
            ..
        }
    ));
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    assert_eq!(harness.completes_of(&instance), 1, "completed exactly once");
}

#[tokio::test]
async fn a_fresh_claim_of_a_run_that_died_holds_off_the_upload() {
    let harness = receipt_harness(None).await;
    let instance = harness.seed(50_100_007, vec![DataSpec::pdf()]);
    // A run claimed the upload and died before sending it (the claim is seconds old).
    let claim_key = harness
        .store()
        .layout()
        .receipt_claim(&harness.instance_ref(&instance))
        .unwrap();
    harness
        .store()
        .put_small(
            &claim_key,
            bytes::Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .unwrap();
    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    let error = first_retry(&report);
    assert_eq!(error.reason, FailureReason::ReceiptInProgress);
    let wait = error.retry_after.expect("told when to come back");
    assert!(wait > std::time::Duration::from_secs(60), "{wait:?}");
    assert!(harness.requests_for(Route::AppPostData).is_empty());
    assert_eq!(harness.completes_of(&instance), 0);
    // The archive itself is done; only the receipt and `complete` wait.
    assert!(
        harness
            .store()
            .exists(&harness.manifest_key(&instance))
            .await
            .unwrap()
    );
}
