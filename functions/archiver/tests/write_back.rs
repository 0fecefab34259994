//! Writing back through the app's feedback task, against the simulator and moto: the instance
//! waits in `Task_2` (type `feedback`); its `movedTo` event archives the elements, uploads the
//! receipt and moves the process on; the `completed` event that follows archives the final
//! instance, sets the substatus and completes it. Crashes and duplicates in between still end
//! with one receipt, one `process/next`, one manifest and one completion.

mod common;

use std::time::Duration;

use altinn_sim::{
    DataContent, DataSpec, DataTypeSpec, Fault, FaultRule, InstanceSpec, Route, SeededData,
    SeededInstance, TaskSpec,
};
use archiver::{FailureReason, MessageOutcome};
use common::*;
use serde_json::Value;
use uuid::Uuid;

const RECEIPT_TYPE: &str = "archive-receipt";
const FEEDBACK_TASK: &str = "Task_2";
const APP_ID: &str = "ttd/archive-test";

async fn feedback_harness(format: Option<&str>) -> Harness {
    let mut options = Options::default()
        .env("FEEDBACK_TASK", FEEDBACK_TASK)
        .env("RECEIPT_DATA_TYPE", RECEIPT_TYPE)
        .env("ARCHIVED_SUBSTATUS_LABEL", "Mottatt av etaten");
    if let Some(format) = format {
        options = options.env("RECEIPT_FORMAT", format);
    }
    let harness = Harness::start_with(options).await;
    // As an app with a feedback task declares its receipt: changed only in that task, once.
    harness.sim.add_data_type(
        APP_ID,
        DataTypeSpec::binary(RECEIPT_TYPE)
            .for_task(FEEDBACK_TASK)
            .with_max_count(1),
    );
    harness
}

/// An instance of `archive-test` (data task `Task_1`, feedback task `Task_2`) waiting at `task`.
fn seed_at(harness: &Harness, party_id: u64, task: &str, data: Vec<DataSpec>) -> SeededInstance {
    let mut spec = InstanceSpec::new("archive-test", party_id)
        .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback(FEEDBACK_TASK)])
        .at_task(task);
    spec.data = data;
    harness.sim.add_instance(spec)
}

fn moved_to(harness: &Harness, instance: &SeededInstance) -> String {
    harness.event(
        instance,
        &format!("app.instance.process.movedTo.{FEEDBACK_TASK}"),
    )
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

fn count(harness: &Harness, route: Route) -> usize {
    harness.requests_for(route).len()
}

/// Positions of the route's requests in the simulator's log.
fn positions(harness: &Harness, route: Route) -> Vec<usize> {
    harness
        .sim
        .requests()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.route == Some(route))
        .map(|(i, _)| i)
        .collect()
}

fn process_ended(harness: &Harness, instance: &SeededInstance) -> bool {
    let json = harness
        .sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    json["process"]["ended"].is_string() && json["status"]["isArchived"] == true
}

/// Where a run that died left its claim: gone once its lifetime has passed.
async fn expire_claim(harness: &Harness, instance: &SeededInstance) {
    let key = harness
        .store()
        .layout()
        .receipt_claim(&harness.instance_ref(instance))
        .unwrap();
    harness.store().delete(&key).await.unwrap();
}

/// `instance` with our receipt among its elements, as the archive of the final instance
/// must hold it.
fn with_receipt(harness: &Harness, instance: &SeededInstance) -> SeededInstance {
    use base64::Engine;
    use md5::Digest;
    let receipt = &receipts_in(harness, instance)[0];
    let bytes = receipt_bytes(harness, instance, receipt);
    let mut with_receipt = instance.clone();
    with_receipt.data.push(SeededData {
        id: Uuid::parse_str(receipt["id"].as_str().unwrap()).unwrap(),
        data_type: RECEIPT_TYPE.to_owned(),
        content_type: receipt["contentType"].as_str().unwrap().to_owned(),
        filename: receipt["filename"].as_str().map(str::to_owned),
        size: bytes.len() as u64,
        sha256_hex: sha256_hex(&bytes),
        md5_base64: base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&bytes)),
        hard_deleted: false,
    });
    with_receipt
}

/// The completion that follows the feedback task: archived, substatus, complete.
async fn complete_after_feedback(harness: &Harness, instance: &SeededInstance) {
    let event = harness.completed_event(instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    let archived = with_receipt(harness, instance);
    harness.verify_archive(&archived, &event_id(&event)).await;
    harness.assert_completed_once(instance).await;
    assert_eq!(count(harness, Route::AppSubstatus), 1);
}

#[tokio::test]
async fn data_task_then_feedback_then_end_writes_back_once_and_completes() {
    let harness = feedback_harness(None).await;
    let instance = seed_at(
        &harness,
        50_100_001,
        FEEDBACK_TASK,
        vec![DataSpec::xml_form(), DataSpec::pdf()],
    );
    let feedback = moved_to(&harness, &instance);
    let report = harness.run(vec![harness.message(&feedback, 1)]).await;
    let MessageOutcome::WrittenBack(summary) = &report.outcomes[0].1 else {
        panic!("written back, got {:?}", report.outcomes)
    };
    assert_eq!((summary.elements, summary.elements_downloaded), (2, 2));
    assert!(summary.receipt_uploaded && summary.moved_on);
    assert!(process_ended(&harness, &instance));
    assert!(
        !harness
            .store()
            .exists(&harness.manifest_key(&instance))
            .await
            .unwrap(),
        "the manifest waits for the end"
    );

    // The receipt: app-lib's current route, quoted filename, names every element's digest.
    let upload = &harness.requests_for(Route::AppUploadData)[0];
    assert!(upload.path.ends_with(&format!("/data/type/{RECEIPT_TYPE}")));
    assert_eq!(upload.content_type.as_deref(), Some("application/xml"));
    assert_eq!(upload.status, 200);
    let receipts = receipts_in(&harness, &instance);
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        receipts[0]["filename"],
        format!("archive-receipt-{}.xml", instance.instance_guid).as_str()
    );
    let xml = String::from_utf8(receipt_bytes(&harness, &instance, &receipts[0])).unwrap();
    let location = format!(
        "s3://{BUCKET}/{PREFIX}ttd/archive-test/{}/{}/",
        instance.party_id, instance.instance_guid
    );
    assert!(xml.contains(&format!("<ArchiveLocation>{location}</ArchiveLocation>")));
    for data in instance.live_data() {
        let line = format!(
            "<DataElement id=\"{}\" sha256=\"{}\"/>",
            data.id, data.sha256_hex
        );
        assert!(xml.contains(&line), "{xml}");
    }
    assert_eq!(harness.requests_for(Route::AppProcessNext)[0].status, 200);

    // A duplicate of the feedback event writes nothing.
    let again = harness.run(vec![harness.message(&feedback, 1)]).await;
    assert_eq!(again.outcomes[0].1, MessageOutcome::AlreadyWrittenBack);

    complete_after_feedback(&harness, &instance).await;
    let manifest = harness
        .store()
        .get_manifest(&harness.manifest_key(&instance))
        .await
        .unwrap()
        .unwrap();
    assert!(
        manifest
            .objects
            .iter()
            .any(|o| o.data_type.as_deref() == Some(RECEIPT_TYPE)),
        "the receipt is archived with the final instance"
    );
    let json = harness
        .sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(json["status"]["substatus"]["label"], "Mottatt av etaten");

    // In order, one of each, and every request valid for the instance's state at the time.
    assert_eq!(count(&harness, Route::AppUploadData), 1);
    assert_eq!(count(&harness, Route::AppProcessNext), 1);
    let (upload, next) = (
        positions(&harness, Route::AppUploadData)[0],
        positions(&harness, Route::AppProcessNext)[0],
    );
    let (substatus, complete) = (
        positions(&harness, Route::AppSubstatus)[0],
        positions(&harness, Route::StorageComplete)[0],
    );
    assert!(upload < next && next < substatus && substatus < complete);
    let refused: Vec<_> = harness
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.status >= 400)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn failures_at_each_step_still_end_with_one_receipt_one_move_one_completion() {
    // (the route, the fault, how often)
    let cases = [
        (Route::AppUploadData, Fault::Status(503), 1),
        (Route::AppUploadData, Fault::DropConnection, 1),
        (Route::AppProcessNext, Fault::Status(503), 1),
        // Moved on, but the answer is cut short: the retry finds it moved on.
        (
            Route::AppProcessNext,
            Fault::TruncateBody { after_bytes: 5 },
            1,
        ),
        (Route::StorageComplete, Fault::Status(503), 3),
    ];
    for (index, (route, fault, times)) in cases.into_iter().enumerate() {
        let harness = feedback_harness(Some("json")).await;
        let instance = seed_at(
            &harness,
            50_100_100 + index as u64,
            FEEDBACK_TASK,
            vec![DataSpec::xml_form()],
        );
        let case = format!("{route:?} {fault:?}");
        harness
            .sim
            .inject(FaultRule::times(route, fault, times).for_instance(instance.instance_guid));
        let feedback = moved_to(&harness, &instance);
        let mut settled = false;
        for receive in 1..=3 {
            let report = harness.run(vec![harness.message(&feedback, receive)]).await;
            match &report.outcomes[0].1 {
                MessageOutcome::WrittenBack(_) | MessageOutcome::AlreadyWrittenBack => {
                    settled = true;
                    break;
                }
                MessageOutcome::Retry { error, .. } => assert!(error.is_transient(), "{case}"),
                other => panic!("{case}: {other:?}"),
            }
        }
        assert!(settled, "{case}");
        assert_eq!(receipts_in(&harness, &instance).len(), 1, "{case}");
        assert!(process_ended(&harness, &instance), "{case}");
        let moves = harness
            .requests_for(Route::AppProcessNext)
            .iter()
            .filter(|r| r.status == 200)
            .count();
        assert_eq!(moves, 1, "{case}");

        let event = harness.completed_event(&instance);
        let mut completed = false;
        for receive in 1..=2 {
            let report = harness.run(vec![harness.message(&event, receive)]).await;
            completed |= matches!(
                report.outcomes[0].1,
                MessageOutcome::Archived(_) | MessageOutcome::AlreadyArchived { .. }
            );
            if completed {
                break;
            }
        }
        assert!(completed, "{case}");
        assert_eq!(
            harness
                .sim
                .complete_confirmations(instance.party_id, instance.instance_guid)
                .len(),
            1,
            "{case}"
        );
        assert_eq!(count(&harness, Route::AppSubstatus), 1, "{case}: set once");
        let json: Value = serde_json::from_slice(&receipt_bytes(
            &harness,
            &instance,
            &receipts_in(&harness, &instance)[0],
        ))
        .unwrap();
        assert_eq!(
            json["dataElements"][0]["dataElementId"],
            instance.data[0].id.to_string(),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_run_killed_while_moving_the_process_on_is_finished_by_the_retry() {
    let harness = feedback_harness(None).await;
    let instance = seed_at(&harness, 50_100_010, FEEDBACK_TASK, vec![DataSpec::pdf()]);
    harness.sim.inject(
        FaultRule::times(
            Route::AppProcessNext,
            Fault::Latency(Duration::from_millis(1500)),
            1,
        )
        .for_instance(instance.instance_guid),
    );
    let feedback = moved_to(&harness, &instance);
    let killed = tokio::time::timeout(
        Duration::from_millis(700),
        harness.run(vec![harness.message(&feedback, 1)]),
    )
    .await;
    assert!(
        killed.is_err(),
        "the run was killed waiting for process/next"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receipts_in(&harness, &instance).len(), 1);

    // The dead run's claim holds the retry off until it expires.
    let held = harness.run(vec![harness.message(&feedback, 2)]).await;
    if let MessageOutcome::Retry { error, .. } = &held.outcomes[0].1 {
        assert_eq!(error.reason, FailureReason::ReceiptInProgress);
        expire_claim(&harness, &instance).await;
        let retried = harness.run(vec![harness.message(&feedback, 3)]).await;
        assert!(
            matches!(
                retried.outcomes[0].1,
                MessageOutcome::WrittenBack(_) | MessageOutcome::AlreadyWrittenBack
            ),
            "{:?}",
            retried.outcomes
        );
    } else {
        // The simulator finished the killed request's move after all: nothing left to do.
        assert_eq!(held.outcomes[0].1, MessageOutcome::AlreadyWrittenBack);
    }
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    assert!(process_ended(&harness, &instance));
    let moves = harness
        .requests_for(Route::AppProcessNext)
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert!(moves <= 1, "never moved twice");
    complete_after_feedback(&harness, &instance).await;
}

#[tokio::test]
async fn duplicate_deliveries_at_once_upload_one_receipt_and_move_once() {
    let harness = feedback_harness(None).await;
    let other = harness.another_archiver().await;
    let instance = seed_at(
        &harness,
        50_100_011,
        FEEDBACK_TASK,
        vec![DataSpec::xml_form()],
    );
    harness.sim.inject(
        FaultRule::always(
            Route::AppUploadData,
            Fault::Latency(Duration::from_millis(500)),
        )
        .for_instance(instance.instance_guid),
    );
    let feedback = moved_to(&harness, &instance);
    let (a, b) = tokio::join!(
        run_on(&harness.archiver, vec![harness.message(&feedback, 1)]),
        run_on(&other, vec![harness.message(&feedback, 1)]),
    );
    let outcomes = [&a.outcomes[0].1, &b.outcomes[0].1];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, MessageOutcome::WrittenBack(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    for outcome in outcomes {
        match outcome {
            MessageOutcome::WrittenBack(_) | MessageOutcome::AlreadyWrittenBack => {}
            MessageOutcome::Retry { error, .. } => {
                assert_eq!(error.reason, FailureReason::ReceiptInProgress)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The one that backed off comes back and finds the instance moved on.
    let late = harness.run(vec![harness.message(&feedback, 2)]).await;
    assert_eq!(late.outcomes[0].1, MessageOutcome::AlreadyWrittenBack);
    assert_eq!(receipts_in(&harness, &instance).len(), 1);
    assert_eq!(count(&harness, Route::AppUploadData), 1);
    assert_eq!(count(&harness, Route::AppProcessNext), 1);
}

#[tokio::test]
async fn an_instance_not_in_the_feedback_task_is_dead_lettered_untouched() {
    let harness = feedback_harness(None).await;
    let instance = seed_at(&harness, 50_100_020, "Task_1", vec![DataSpec::xml_form()]);
    let message = harness
        .enqueue_and_receive(&moved_to(&harness, &instance))
        .await;
    let report = harness.run(vec![message]).await;
    let MessageOutcome::DeadLettered { error, .. } = &report.outcomes[0].1 else {
        panic!("dead-lettered, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::NotInFeedbackTask);
    assert!(error.detail.contains("Task_1"), "{error}");
    let letters = harness.dead_letters().await;
    assert_eq!(
        attribute(&letters[0], "Reason").as_deref(),
        Some("not_in_feedback_task")
    );
    for route in [
        Route::AppUploadData,
        Route::AppPostData,
        Route::AppProcessNext,
        Route::AppSubstatus,
        Route::StorageSubstatus,
        Route::StorageComplete,
        Route::AppComplete,
    ] {
        assert_eq!(
            count(&harness, route),
            0,
            "nothing written to Altinn: {route:?}"
        );
    }
}

#[tokio::test]
async fn instance_not_active_is_dead_lettered_and_the_completion_still_completes() {
    let harness = feedback_harness(None).await;
    let instance = seed_at(&harness, 50_100_021, FEEDBACK_TASK, vec![DataSpec::pdf()]);
    // While our upload is on its way, someone else moves the process to its end.
    harness.sim.inject(
        FaultRule::times(
            Route::AppUploadData,
            Fault::Latency(Duration::from_millis(600)),
            1,
        )
        .for_instance(instance.instance_guid),
    );
    let feedback = moved_to(&harness, &instance);
    let message = harness.enqueue_and_receive(&feedback).await;
    let run = harness.run(vec![message]);
    let end = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut spec = InstanceSpec::new("archive-test", instance.party_id).completed(true);
        spec.instance_guid = Some(instance.instance_guid);
        spec.data = vec![DataSpec::pdf()];
        harness.sim.add_instance(spec)
    };
    let (report, ended) = tokio::join!(run, end);
    let MessageOutcome::DeadLettered { error, .. } = &report.outcomes[0].1 else {
        panic!("dead-lettered, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::InstanceNotActive);
    assert!(error.detail.contains("left the feedback task"), "{error}");
    assert_eq!(harness.requests_for(Route::AppUploadData)[0].status, 409);
    assert_eq!(count(&harness, Route::AppProcessNext), 0);

    let event = harness.completed_event(&ended);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(matches!(report.outcomes[0].1, MessageOutcome::Archived(_)));
    harness.assert_completed_once(&ended).await;
    assert!(receipts_in(&harness, &ended).is_empty());
}

#[tokio::test]
async fn max_count_exceeded_is_rejected_with_altinns_title() {
    let harness = feedback_harness(None).await;
    // The app allows one element of the type, and the instance already holds one not ours.
    let instance = seed_at(
        &harness,
        50_100_022,
        FEEDBACK_TASK,
        vec![
            DataSpec::xml_form(),
            DataSpec {
                data_type: RECEIPT_TYPE.to_owned(),
                content_type: "application/xml".to_owned(),
                filename: Some("kvittering.xml".to_owned()),
                content: DataContent::Bytes(b"<Kvittering/>".to_vec()),
                hard_deleted: false,
                with_content_hash: false,
                scan: Default::default(),
            },
        ],
    );
    let report = harness
        .run(vec![harness.message(&moved_to(&harness, &instance), 1)])
        .await;
    let MessageOutcome::DeadLettered { error, .. } = &report.outcomes[0].1 else {
        panic!("dead-lettered, got {:?}", report.outcomes)
    };
    assert_eq!(error.reason, FailureReason::ReceiptRejected);
    assert!(error.detail.contains("Max Count Exceeded"), "{error}");
    assert_eq!(count(&harness, Route::AppProcessNext), 0);
    assert_eq!(receipts_in(&harness, &instance).len(), 1, "only the app's");
}

#[tokio::test]
async fn nothing_is_uploaded_without_feedback_task() {
    let harness = Harness::start().await;
    let instance = harness.seed(50_100_030, vec![DataSpec::xml_form(), DataSpec::pdf()]);
    let event = harness.completed_event(&instance);
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert!(matches!(report.outcomes[0].1, MessageOutcome::Archived(_)));
    assert!(
        harness
            .sim
            .requests()
            .iter()
            .all(|r| r.method != "POST" || !r.path.contains("/data")),
        "no upload of any kind"
    );
    for route in [Route::AppProcessNext, Route::AppSubstatus] {
        assert_eq!(count(&harness, route), 0, "{route:?}");
    }
    assert_eq!(harness.completes_of(&instance), 1);
}
