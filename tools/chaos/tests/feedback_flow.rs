//! The write-back through the app's feedback task, end to end: the simulator pushes the app's
//! events to the real webhook over HTTP, the archiver works behind the queue, and each instance
//! goes data task → feedback task (elements archived, receipt uploaded, `process/next`) → end
//! (manifest, substatus, `complete`).
//!
//! One instance runs clean; each of the others meets one failure at one step, either before
//! Altinn acts (the connection drops) or after it (the answer is lost), which is what a crash
//! at that point looks like from outside. Every instance must still end with exactly one
//! receipt, one move out of the feedback task, one manifest and one completion, and no request
//! in the simulator's log may have been refused: nothing was sent that the instance's state at
//! the time did not allow.

use std::time::{Duration, Instant};

use altinn::InstanceRef;
use altinn_sim::{
    DataSpec, DataTypeSpec, Fault, FaultRule, InstanceSpec, Route, SeededInstance, SimConfig,
    Simulator, TaskSpec,
};
use chaos::system::BUCKET;
use chaos::{ChaosSystem, SystemOptions};
use local_runner::demo::instance_ref;
use local_runner::local_aws::queue_depth;
use serde_json::Value;
use tokio::sync::watch;

const APP: &str = "feedback-flow";
const FEEDBACK_TASK: &str = "Task_2";
const RECEIPT_TYPE: &str = "archive-receipt";
const SUBSTATUS: &str = "Mottatt av etaten";

/// Where a step fails: the route, and whether Altinn acted before the failure.
fn failure_cases() -> Vec<(&'static str, Option<(Route, Fault)>)> {
    let lost_answer = Fault::TruncateBody { after_bytes: 0 };
    vec![
        ("no failure", None),
        (
            "element download dropped",
            Some((Route::StorageGetData, Fault::DropConnection)),
        ),
        (
            "receipt upload dropped before it arrived",
            Some((Route::AppUploadData, Fault::DropConnection)),
        ),
        (
            "receipt uploaded, answer lost",
            Some((Route::AppUploadData, lost_answer.clone())),
        ),
        (
            "process/next dropped before it arrived",
            Some((Route::AppProcessNext, Fault::DropConnection)),
        ),
        (
            "process moved on, answer lost",
            Some((Route::AppProcessNext, lost_answer.clone())),
        ),
        (
            "manifest written, substatus dropped",
            Some((Route::AppSubstatus, Fault::DropConnection)),
        ),
        (
            "substatus set, answer lost before complete",
            Some((Route::AppSubstatus, lost_answer.clone())),
        ),
        (
            "completed, answer lost",
            Some((Route::StorageComplete, lost_answer)),
        ),
    ]
}

fn requests_for(
    simulator: &Simulator,
    instance: &SeededInstance,
) -> Vec<altinn_sim::RequestRecord> {
    let guid = instance.instance_guid.to_string();
    simulator
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(&guid))
        .collect()
}

fn receipts(json: &Value) -> usize {
    json["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .filter(|d| d["dataType"] == RECEIPT_TYPE)
                .count()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feedback_flow_ends_with_one_of_everything_whatever_step_fails() {
    let simulator = Simulator::start(SimConfig {
        retry_time_scale: 0.002,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let options = SystemOptions {
        extra_settings: vec![
            ("FEEDBACK_TASK", FEEDBACK_TASK.to_owned()),
            ("RECEIPT_DATA_TYPE", RECEIPT_TYPE.to_owned()),
            ("ARCHIVED_SUBSTATUS_LABEL", SUBSTATUS.to_owned()),
        ],
        ..SystemOptions::default()
    };
    let system = ChaosSystem::start(&simulator, &options).await;
    // Every event type: the feedback task's `movedTo` as well as `completed`.
    system.subscribe_to(&simulator, "ttd", APP, None).await;
    simulator.add_data_type(
        &format!("ttd/{APP}"),
        DataTypeSpec::binary(RECEIPT_TYPE)
            .for_task(FEEDBACK_TASK)
            .with_max_count(1),
    );

    let cases = failure_cases();
    let instances: Vec<SeededInstance> = (0..cases.len() as u64)
        .map(|n| {
            simulator.add_instance(
                InstanceSpec::new(APP, 70_000_000 + n)
                    .with_data(DataSpec::xml_form())
                    .with_data(DataSpec::attachment("vedlegg.pdf", 64 * 1024, n))
                    .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback(FEEDBACK_TASK)])
                    .at_task("Task_1"),
            )
        })
        .collect();
    let (stop, stopped) = watch::channel(false);
    let driver = async {
        // The instance owners submit their data task; the app publishes `movedTo.Task_2`.
        // Each instance's failure is armed right after, so it meets the archiver, not the user.
        for ((_, failure), instance) in cases.iter().zip(&instances) {
            system
                .altinn
                .process_next(&instance_ref(instance))
                .await
                .expect("the user's process/next");
            if let Some((route, fault)) = failure {
                simulator.inject(
                    FaultRule::times(*route, fault.clone(), 1).for_instance(instance.instance_guid),
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut quiet_checks = 0;
        while Instant::now() < deadline && quiet_checks < 3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let all_completed = instances.iter().all(|i| {
                !simulator
                    .complete_confirmations(i.party_id, i.instance_guid)
                    .is_empty()
            });
            let depth = queue_depth(&system.sqs, &system.queues.queue_url).await;
            quiet_checks = if all_completed && matches!(depth, Ok(0)) {
                quiet_checks + 1
            } else {
                0
            };
        }
        let _ = stop.send(true);
    };
    tokio::join!(driver, system.mapping.run(2, stopped));
    let unfired = simulator.unfired_faults();
    assert!(unfired.is_empty(), "faults never met: {unfired:#?}");

    for ((case, _), instance) in cases.iter().zip(&instances) {
        let reference: InstanceRef = instance_ref(instance);
        let json = simulator
            .instance_json(instance.party_id, instance.instance_guid)
            .expect("instance");
        assert_eq!(receipts(&json), 1, "{case}: one receipt");
        assert_eq!(
            json["status"]["isArchived"], true,
            "{case}: the process ended"
        );
        assert_eq!(
            json["status"]["substatus"]["label"], SUBSTATUS,
            "{case}: substatus"
        );
        assert_eq!(
            simulator
                .complete_confirmations(instance.party_id, instance.instance_guid)
                .len(),
            1,
            "{case}: one completion"
        );

        let requests = requests_for(&simulator, instance);
        let moves = requests
            .iter()
            .filter(|r| r.route == Some(Route::AppProcessNext) && r.status == 200)
            .count();
        assert_eq!(
            moves, 2,
            "{case}: the user's move into the feedback task, and ours out of it"
        );
        let refused: Vec<_> = requests
            .iter()
            .filter(|r| (400..600).contains(&r.status))
            .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
            .collect();
        assert!(refused.is_empty(), "{case}: refused requests {refused:#?}");
        let position = |route: Route| {
            requests
                .iter()
                .rposition(|r| r.route == Some(route) && r.status == 200)
                .unwrap_or_else(|| panic!("{case}: no answered {route:?}"))
        };
        assert!(
            position(Route::AppUploadData) < position(Route::AppProcessNext)
                && position(Route::AppProcessNext) < position(Route::AppSubstatus)
                && position(Route::AppSubstatus) < position(Route::StorageComplete),
            "{case}: upload, move on, substatus, complete, in that order"
        );

        // One manifest, and it holds the receipt with the final instance.
        let manifest_key = system.layout.manifest(&reference).expect("key");
        let manifest = system
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(&manifest_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{case}: no manifest: {e}"))
            .body
            .collect()
            .await
            .expect("manifest body")
            .into_bytes();
        let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
        let receipt_objects = manifest["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .filter(|o| o["dataType"] == RECEIPT_TYPE)
            .count();
        assert_eq!(receipt_objects, 1, "{case}: the receipt is archived");
    }
}
