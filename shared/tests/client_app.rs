//! The App API calls that write back, against the simulator: `process/next` (sent once, never
//! retried) and the substatus.

mod support;

use altinn::client::ClientError;
use altinn_sim::{Fault, FaultRule, InstanceSpec, Route, TaskSpec};
use support::*;

fn at_feedback_task() -> InstanceSpec {
    InstanceSpec::default()
        .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")])
        .at_task("Task_2")
}

#[tokio::test]
async fn process_next_moves_on_once_and_a_second_call_is_refused() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(at_feedback_task());
    let client = client(&sim);
    let instance = instance_ref(&seeded);

    let state = client.process_next(&instance).await.unwrap();
    assert!(state.ended.is_some(), "{state:?}");
    assert!(state.current_task.is_none());
    let json = sim
        .instance_json(seeded.party_id, seeded.instance_guid)
        .unwrap();
    assert_eq!(json["status"]["isArchived"], true);

    // "Process is ended.": permanent, and not sent again.
    let error = client.process_next(&instance).await.unwrap_err();
    assert!(
        matches!(error, ClientError::Status { status: 409, .. }),
        "{error}"
    );
    assert!(!error.is_transient());
    assert_eq!(statuses(&sim, Route::AppProcessNext), vec![200, 409]);
}

#[tokio::test]
async fn process_next_is_not_retried_after_a_server_error() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(at_feedback_task());
    sim.inject(FaultRule::times(
        Route::AppProcessNext,
        Fault::Status(503),
        1,
    ));
    // Retries allowed for every other call: this one must still be sent once.
    let client = client(&sim);
    let error = client
        .process_next(&instance_ref(&seeded))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert_eq!(statuses(&sim, Route::AppProcessNext), vec![503]);
    let json = sim
        .instance_json(seeded.party_id, seeded.instance_guid)
        .unwrap();
    assert_eq!(json["process"]["currentTask"]["elementId"], "Task_2");
}

#[tokio::test]
async fn the_substatus_is_set_and_setting_it_again_changes_nothing() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);
    let instance = instance_ref(&seeded);
    for _ in 0..2 {
        let raw = client
            .update_substatus(&instance, "Mottatt", Some("Arkivert hos etaten"))
            .await
            .unwrap();
        let substatus = raw.instance.status.unwrap().substatus.unwrap();
        assert_eq!(substatus.label.as_deref(), Some("Mottatt"));
        assert_eq!(
            substatus.description.as_deref(),
            Some("Arkivert hos etaten")
        );
    }
    assert_eq!(statuses(&sim, Route::AppSubstatus), vec![200, 200]);
    let without = client
        .update_substatus(&instance, "Mottatt", None)
        .await
        .unwrap();
    let substatus = without.instance.status.unwrap().substatus.unwrap();
    assert_eq!(substatus.description, None);
}
